package stageb_test

import (
	"errors"
	"testing"
	"time"

	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/execution/bench"
	"github.com/qbind/qbind/execution/stageb"
)

func TestConfigValidate(t *testing.T) {
	for _, w := range []int{-1, stageb.MaxWorkers + 1} {
		if _, err := stageb.New(stageb.Config{Enabled: true, Workers: w}, stageb.Metrics{}); !errors.Is(err, stageb.ErrConfig) {
			t.Errorf("workers %d: err = %v", w, err)
		}
	}
	if (stageb.Config{}).EffectiveWorkers() < 1 {
		t.Fatal("0 workers must mean GOMAXPROCS")
	}
}

// TestProductionTuning runs full-size blocks with the default tuning: the
// low-conflict workload must take the parallel path, the high-conflict one
// (a chain through one hot account) must fall back, and both must equal
// sequential execution. Under -race this is the check that levels never
// share an account.
func TestProductionTuning(t *testing.T) {
	for _, c := range []struct {
		conflict   string
		sequential bool
	}{{bench.ConflictLow, false}, {bench.ConflictMedium, false}, {bench.ConflictHigh, true}} {
		w, err := bench.Generate(bench.Config{Txs: 3 * bench.BlockSize, Accounts: 5000, Conflict: c.conflict})
		if err != nil {
			t.Fatal(err)
		}
		var stats []stageb.Stats
		ticks := 0
		x, err := stageb.New(stageb.Config{Enabled: true, Workers: 3}, stageb.Metrics{
			Now:   func() time.Time { ticks++; return time.Unix(0, int64(ticks)) },
			Block: func(s stageb.Stats) { s.LevelTxs = append([]int(nil), s.LevelTxs...); stats = append(stats, s) },
		})
		if err != nil {
			t.Fatal(err)
		}
		seq, par := w.Genesis.Clone(), w.Genesis.Clone()
		for i := range w.Blocks {
			want, err := execution.Execute(&w.Env, seq, &w.Blocks[i])
			if err != nil {
				t.Fatal(err)
			}
			got, err := x.Execute(&w.Env, par, &w.Blocks[i])
			if err != nil {
				t.Fatal(err)
			}
			if d := execution.Diff(want, got); d != "" {
				t.Fatalf("%s block %d: %s", c.conflict, i, d)
			}
			if err := seq.Apply(want); err != nil {
				t.Fatal(err)
			}
			if err := par.Apply(got); err != nil {
				t.Fatal(err)
			}
		}
		for i, s := range stats {
			sum := 0
			for _, n := range s.LevelTxs {
				sum += n
			}
			if s.Sequential != c.sequential || s.Scheduled != bench.BlockSize || sum != s.Scheduled || s.Levels != len(s.LevelTxs) || s.Digest <= 0 {
				t.Fatalf("%s block %d: stats %+v", c.conflict, i, s)
			}
		}
	}
}

func TestDisabledIsSequential(t *testing.T) {
	w, err := bench.Generate(bench.Config{Txs: bench.BlockSize, Accounts: 1000, Conflict: bench.ConflictLow})
	if err != nil {
		t.Fatal(err)
	}
	var st stageb.Stats
	x, _ := stageb.New(stageb.Config{Enabled: false, Workers: 4}, stageb.Metrics{Block: func(s stageb.Stats) { st = s }})
	want, _ := execution.Execute(&w.Env, w.Genesis, &w.Blocks[0])
	got, err := x.Execute(&w.Env, w.Genesis, &w.Blocks[0])
	if err != nil || execution.Diff(want, got) != "" || !st.Sequential {
		t.Fatalf("disabled: %v, stats %+v", err, st)
	}
}
