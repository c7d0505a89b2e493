package bench

import (
	"testing"
	"time"

	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/execution/stageb"
)

// TestRunEqual runs the command's measurement on a small workload of each
// conflict level and requires Stage B to agree with sequential execution.
func TestRunEqual(t *testing.T) {
	for _, c := range []string{ConflictLow, ConflictMedium, ConflictHigh} {
		r, err := Run(Config{Txs: 2000, Accounts: 500, Conflict: c, Workers: 2}, time.Now)
		if err != nil {
			t.Fatal(err)
		}
		if !r.Equal || r.Blocks != 3 || r.SequentialTPS <= 0 {
			t.Fatalf("%s: %+v", c, r)
		}
	}
	if _, err := Run(Config{Txs: 10, Accounts: 10, Conflict: "extreme"}, time.Now); err == nil {
		t.Fatal("unknown conflict level accepted")
	}
}

func benchBlocks(b *testing.B, conflict string, run func(w *Workload, st *execution.MemState, blk *execution.Block) (*execution.BlockResult, error)) {
	w, err := Generate(Config{Txs: 8 * BlockSize, Accounts: 100_000, Conflict: conflict})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		// Every block starts from genesis: the nonces of later blocks would
		// be too high, so only block 0's shape is reused across iterations.
		blk := &w.Blocks[i%len(w.Blocks)]
		if _, err := run(w, w.Genesis, &execution.Block{Height: 1, Entries: blk.Entries[:]}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*BlockSize)/b.Elapsed().Seconds(), "tx/s")
}

func BenchmarkRunSequential(b *testing.B) {
	benchBlocks(b, ConflictLow, func(w *Workload, st *execution.MemState, blk *execution.Block) (*execution.BlockResult, error) {
		return execution.Run(&w.Env, st, blk)
	})
}

func BenchmarkExecuteSequential(b *testing.B) {
	benchBlocks(b, ConflictLow, func(w *Workload, st *execution.MemState, blk *execution.Block) (*execution.BlockResult, error) {
		return execution.Execute(&w.Env, st, blk)
	})
}

func BenchmarkExecuteStageB(b *testing.B) {
	x, _ := stageb.New(stageb.Config{Enabled: true, Workers: 2}, stageb.Metrics{})
	benchBlocks(b, ConflictLow, func(w *Workload, st *execution.MemState, blk *execution.Block) (*execution.BlockResult, error) {
		return x.Execute(&w.Env, st, blk)
	})
}

func BenchmarkRunStageB(b *testing.B) {
	x, _ := stageb.New(stageb.Config{Enabled: true, Workers: 2}, stageb.Metrics{})
	benchBlocks(b, ConflictLow, func(w *Workload, st *execution.MemState, blk *execution.Block) (*execution.BlockResult, error) {
		return x.Run(&w.Env, st, blk)
	})
}
