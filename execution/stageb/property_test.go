package stageb_test

import (
	"flag"
	"os"
	"testing"

	"pgregory.net/rapid"

	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/execution/exectest"
	"github.com/qbind/qbind/execution/stageb"
)

var long = flag.Bool("long", false, "run 10,000 cases per property instead of 500")

func TestMain(m *testing.M) {
	flag.Parse()
	exectest.MinChecks(*long)
	os.Exit(m.Run())
}

// TestG6StageBEqualsSequential is G6 of PROTOCOL.md §5: on every generated
// block sequence, Stage B with 1–4 workers (forced onto the parallel path
// and with the production tuning) gives exactly the sequential result:
// every receipt, every account change, total_burned, the state digest and
// the exec digest, and the same final state.
func TestG6StageBEqualsSequential(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := exectest.GenCase(t)
		workers := rapid.IntRange(1, 4).Draw(t, "workers")
		force := rapid.Bool().Draw(t, "force_parallel")
		x, err := stageb.New(stageb.Config{Enabled: true, Workers: workers}, stageb.Metrics{})
		if err != nil {
			t.Fatal(err)
		}
		if force {
			stageb.ForceParallel(x)
		}
		seq := execution.NewMemState(c.Genesis)
		par := seq.Clone()
		for _, b := range c.Blocks {
			want, err := execution.Execute(&c.Env, seq, &b)
			if err != nil {
				t.Fatalf("sequential, height %d: %v", b.Height, err)
			}
			got, err := x.Execute(&c.Env, par, &b)
			if err != nil {
				t.Fatalf("stage B, height %d: %v", b.Height, err)
			}
			if d := exectest.Diff(want, got); d != "" {
				t.Fatalf("G6: height %d: %s", b.Height, d)
			}
			if err := seq.Apply(want); err != nil {
				t.Fatal(err)
			}
			if err := par.Apply(got); err != nil {
				t.Fatal(err)
			}
		}
		if seq.Digest() != par.Digest() || len(seq.IDs()) != len(par.IDs()) {
			t.Fatalf("G6: final states differ")
		}
		for _, id := range seq.IDs() {
			a, _ := seq.Account(id)
			b, _ := par.Account(id)
			if a != b {
				t.Fatalf("G6: account %s differs", id)
			}
		}
	})
}
