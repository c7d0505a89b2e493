package state

import (
	"sync"
	"testing"

	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// TestCacheConcurrentGetPut is a regression test for get returning e.a after
// releasing the lock: with a one-entry cache every put of the other account
// recycles the entry, so a reader could observe another account's state (and
// -race reports the data race). Every hit must be the requested account's.
func TestCacheConcurrentGetPut(t *testing.T) {
	c := newAccountCache(1, NewMetrics())
	ids := [2]types.AccountID{{1}, {2}}
	// Account i always has Nonce ≡ i (mod 2) and Balance = i, so a value of
	// the wrong account is detectable whatever version it is.
	val := func(i int, v uint64) types.Account {
		return types.Account{Nonce: 2*v + uint64(i), Balance: u128.From64(uint64(i))}
	}
	const iters = 20000
	var wg sync.WaitGroup
	stop := make(chan struct{})
	errs := make(chan string, 16)
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				i := (r + n) % 2
				a, ok := c.get(ids[i])
				if ok && (a.Nonce%2 != uint64(i) || a.Balance != u128.From64(uint64(i))) {
					select {
					case errs <- "wrong account":
					default:
					}
					return
				}
			}
		}()
	}
	for v := range uint64(iters) {
		i := int(v % 2)
		c.put(ids[i], val(i, v))
	}
	close(stop)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Fatalf("get returned another account's state: %s", e)
	}
}
