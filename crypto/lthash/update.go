package lthash

import "sync"

// Change is one account's move across a block: its stored state before (Old)
// and after (New). An all-zero state means the account does not exist on that
// side (§4), so creation has Old all zero and deletion has New all zero.
type Change struct {
	Account [AccountSize]byte
	Old     [StateSize]byte
	New     [StateSize]byte
}

// Update moves h across a block: for every change it subtracts the element of
// the old state (if the account existed) and adds the element of the new
// state (if it exists). A change whose Old equals New costs nothing.
//
// Each account should appear once, with Old its state before the block; the
// result is the sum of all the deltas, so it is the same in any order.
//
// The elements are computed by at most workers goroutines (workers < 1 means
// 1; never more goroutines than changes). Worker w takes the contiguous slice
// changes[w·n/workers : (w+1)·n/workers] and accumulates it into its own
// partial sum; the partial sums are added into h after all have finished.
// Lane addition mod 2^16 is commutative and associative, so the result does
// not depend on workers or scheduling. With one worker nothing is started and
// h is updated in place.
func (h *Hash) Update(changes []Change, workers int) {
	n := len(changes)
	workers = min(max(workers, 1), n)
	if workers <= 1 {
		x := getHasher()
		for i := range changes {
			x.apply(h, &changes[i])
		}
		putHasher(x)
		return
	}
	xs := make([]*hasher, workers)
	var wg sync.WaitGroup
	for w := range xs {
		part := changes[w*n/workers : (w+1)*n/workers] // balanced, never empty (workers ≤ n)
		x := getHasher()
		x.acc = Hash{}
		xs[w] = x
		wg.Go(func() {
			for i := range part {
				x.apply(&x.acc, &part[i])
			}
		})
	}
	wg.Wait()
	for _, x := range xs {
		h.Add(&x.acc)
		putHasher(x)
	}
}

// apply adds the delta of one change to acc.
func (x *hasher) apply(acc *Hash, c *Change) {
	if c.Old == c.New {
		return
	}
	if Exists(c.Old) {
		acc.subBytes(x.element(&c.Account, &c.Old))
	}
	if Exists(c.New) {
		acc.addBytes(x.element(&c.Account, &c.New))
	}
}
