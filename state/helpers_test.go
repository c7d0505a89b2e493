package state

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/execution/exectest"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

const testNet = crypto.TestNet

// workload is a genesis and a chain of blocks of random transfers among the
// exectest key pool and a few key-less recipients, executed for real.
type workload struct {
	env     execution.Env
	genesis map[types.AccountID]types.Account
	blocks  []execution.Block
}

func newWorkload(t testing.TB, seed uint64, nblocks, txs int) *workload {
	t.Logf("workload seed %d (%d blocks × %d txs)", seed, nblocks, txs)
	rng := rand.New(rand.NewPCG(seed, seed^0x9E3779B97F4A7C15))
	w := &workload{genesis: map[types.AccountID]types.Account{}}
	w.env.Params = exectest.Params()
	w.env.Validators = exectest.Validators([]types.AccountID{exectest.RawID(7), exectest.Account(1)})
	for i := range exectest.PoolSize {
		w.genesis[exectest.Account(i)] = types.Account{Balance: u128.From64(1e12 + rng.Uint64N(1e9))}
	}
	for i := range 3 {
		w.genesis[exectest.RawID(i)] = types.Account{Balance: u128.From64(rng.Uint64N(1000) + 1)}
	}
	nonce := make([]uint64, exectest.PoolSize)
	for h := 1; h <= nblocks; h++ {
		var raws [][]byte
		for range txs {
			s := rng.IntN(exectest.PoolSize)
			var to types.AccountID
			if rng.IntN(4) == 0 {
				to = exectest.RawID(rng.IntN(6)) // some new accounts
			} else {
				to = exectest.Account(rng.IntN(exectest.PoolSize))
			}
			n := nonce[s]
			if rng.IntN(10) == 0 {
				n += 2 // a skipped tx (nonce too high)
			} else {
				nonce[s]++
			}
			raws = append(raws, exectest.Raw(s, n, exectest.V1(to, u128.From64(rng.Uint64N(1e6)), 50_000, u128.From64(2)), byte(rng.IntN(256))))
		}
		w.blocks = append(w.blocks, execution.Block{Height: uint64(h), Proposer: uint16(rng.IntN(2)), Entries: exectest.Entries(raws)})
	}
	return w
}

// run executes blocks from the store's last_executed+1 up to upto and
// commits them; it returns the exec digest of each executed height.
func (w *workload) run(t testing.TB, s *Store, upto int) {
	t.Helper()
	_, last := s.Heights()
	for h := int(last) + 1; h <= upto; h++ {
		res, err := execution.Execute(&w.env, s, &w.blocks[h-1])
		if err != nil {
			t.Fatalf("execute %d: %v", h, err)
		}
		if err := s.CommitExecution(uint64(h), res); err != nil {
			t.Fatalf("commit %d: %v", h, err)
		}
	}
}

// reference executes the workload on MemState and returns the state digest
// and exec digest after each height (index 0 = genesis).
func (w *workload) reference(t testing.TB) (digests, execs []crypto.Hash, final *execution.MemState) {
	m := execution.NewMemState(w.genesis)
	hash, _ := m.StateHash()
	digests = append(digests, hash.Digest())
	execs = append(execs, execution.ExecDigest(0, hash.Digest(), execution.ReceiptsRoot(nil), u128.Zero, execution.EmptyMonetaryHash))
	for i := range w.blocks {
		res, err := execution.Execute(&w.env, m, &w.blocks[i])
		if err != nil {
			t.Fatal(err)
		}
		if err := m.Apply(res); err != nil {
			t.Fatal(err)
		}
		digests = append(digests, res.StateDigest)
		execs = append(execs, res.ExecDigest)
	}
	return digests, execs, m
}

func memOptions() Options {
	return Options{InMemory: true, Network: testNet, MemTableBytes: 1 << 20, BlockCacheBytes: 8 << 20, VerifyResults: true}
}

func mustOpen(t testing.TB, o Options) *Store {
	t.Helper()
	s, err := Open(o)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func newMemFS() *vfs.MemFS { return vfs.NewMem() }

// withoutExec opens a store whose execution metadata may be corrupt (to
// repair it in a test): it skips nothing but lets the test reach s.db.
func withoutExec(o Options) Options { o.testSkipLoad = true; return o }

func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	case d.Histogram != nil:
		return float64(d.Histogram.GetSampleCount())
	}
	return 0
}

func execDigestOf(st *SnapshotState) crypto.Hash {
	return execution.ExecDigest(st.Height, st.StateDigest, st.ReceiptsRoot, st.TotalBurned, st.MonetaryHash)
}

// prunedStore opens an in-memory store with pruning mode Pruned and
// RetainBlocks R (pruning is triggered explicitly by the test), holding the
// genesis of a workload of n blocks of txs transactions and a header chain of
// n+2 blocks whose genesis id it records.
func prunedStore(t *testing.T, n int, R uint64, txs int) (*Store, *workload, []types.BlockHeader) {
	t.Helper()
	w := newWorkload(t, rand.Uint64(), n, txs)
	hs := chain(n+2, 0)
	o := memOptions()
	o.Pruning = PruneConfig{Mode: Pruned, RetainBlocks: R}
	s := mustOpen(t, o)
	t.Cleanup(func() { s.Close() })
	if _, err := s.InitGenesis(Genesis{Accounts: w.genesis, BlockID: hs[0].ID()}); err != nil {
		t.Fatal(err)
	}
	return s, w, hs
}
