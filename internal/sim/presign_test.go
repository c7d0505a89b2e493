package sim

import (
	"bytes"
	"sync"
	"testing"

	"github.com/qbind/qbind/types"
)

// The DAG app pre-signs its client transactions on several goroutines and
// caches them per process; CI runs this test with -race. Concurrent callers
// get one identical set of valid, distinct transactions.
func TestPresignedTxsConcurrent(t *testing.T) {
	const senders, count = 3, 4 // a shape no scenario uses, so the cache starts cold
	var got [2][][][]byte
	var wg sync.WaitGroup
	for i := range got {
		wg.Go(func() { got[i] = dagTxs(senders, count) })
	}
	wg.Wait()
	params, err := types.DefaultExecParams(types.ProfileDevNet)
	if err != nil {
		t.Fatal(err)
	}
	checker := types.NewChecker(simNetwork, params)
	seen := map[string]bool{}
	for s := range senders {
		for n := range count {
			a, b := got[0][s][n], got[1][s][n]
			if !bytes.Equal(a, b) {
				t.Fatalf("sender %d nonce %d: concurrent callers got different transactions", s, n)
			}
			if _, err := checker.Check(a); err != nil {
				t.Fatalf("sender %d nonce %d: %v", s, n, err)
			}
			if seen[string(a)] {
				t.Fatalf("sender %d nonce %d: duplicate transaction", s, n)
			}
			seen[string(a)] = true
		}
	}
}
