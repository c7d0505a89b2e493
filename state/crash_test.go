package state

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/cockroachdb/pebble/v2/vfs/errorfs"
)

type crashPoint struct {
	fs        *vfs.MemFS
	done      int  // execution commits returned when the crash happened
	genesis   bool // genesis was complete
	unsynced  bool // the clone kept some unsynced data
	syncIndex int
}

// TestCrashAtEverySyncPoint crashes the store (Pebble's crashable in-memory
// filesystem) just before every sync Pebble issues while it writes genesis
// and several execution commits, once keeping exactly the synced data and
// once keeping a random half of the unsynced data. Every crashed copy must
// reopen at executed height h or h−1 (h = the commit in progress), with the
// recomputed digest equal to the stored one and to the reference digest of
// that height; executing the remaining blocks must reach the uncrashed final
// digest.
func TestCrashAtEverySyncPoint(t *testing.T) {
	const blocks = 10
	seed := rand.Uint64()
	w := newWorkload(t, seed, blocks, 40)
	digests, execs, _ := w.reference(t)

	mem := vfs.NewCrashableMem()
	var (
		mu        sync.Mutex
		points    []crashPoint
		recording atomic.Bool
		done      atomic.Int64
		genesis   atomic.Bool
	)
	rng := rand.New(rand.NewPCG(seed, 1))
	fs := errorfs.Wrap(mem, errorfs.InjectorFunc(func(op errorfs.Op) error {
		switch op.Kind {
		case errorfs.OpFileSync, errorfs.OpFileSyncData, errorfs.OpFileSyncTo:
		default:
			return nil
		}
		if !recording.Load() {
			return nil
		}
		mu.Lock()
		defer mu.Unlock()
		d, g := int(done.Load()), genesis.Load()
		points = append(points, crashPoint{fs: mem.CrashClone(vfs.CrashCloneCfg{}), done: d, genesis: g, syncIndex: len(points)})
		points = append(points, crashPoint{fs: mem.CrashClone(vfs.CrashCloneCfg{UnsyncedDataPercent: 50, RNG: rng}),
			done: d, genesis: g, unsynced: true, syncIndex: len(points)})
		return nil
	}))
	opts := Options{FS: fs, Dir: "db", Network: testNet, MemTableBytes: 64 << 10, BlockCacheBytes: 4 << 20,
		DisableAutomaticCompactions: true, VerifyResults: true}
	s := mustOpen(t, opts)
	recording.Store(true)
	if _, err := s.InitGenesis(Genesis{Accounts: w.genesis}); err != nil {
		t.Fatal(err)
	}
	genesis.Store(true)
	for h := 1; h <= blocks; h++ {
		w.run(t, s, h)
		done.Store(int64(h))
	}
	if got := s.StateDigest(); got != digests[blocks] {
		t.Fatalf("uncrashed final digest %s, reference %s", got, digests[blocks])
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	recording.Store(false)
	mu.Lock()
	defer mu.Unlock()
	if len(points) < 2*(blocks+1) {
		t.Fatalf("only %d crash points: the sync hook does not see the commits", len(points))
	}
	t.Logf("%d crash points", len(points))

	seen := map[int]int{}
	for _, p := range points {
		o := opts
		o.FS = p.fs
		s, err := Open(o)
		if !p.genesis {
			// Crashed while writing genesis: refused as incomplete, empty,
			// or complete — never a partial genesis.
			if errors.Is(err, ErrIncomplete) {
				continue
			}
			if err != nil {
				t.Fatalf("crash point %d (genesis): reopen: %v", p.syncIndex, err)
			}
			if !s.HasGenesis() {
				s.Close()
				continue
			}
		} else if err != nil {
			t.Fatalf("crash point %d (after %d commits, unsynced %v): reopen: %v", p.syncIndex, p.done, p.unsynced, err)
		}
		_, h := s.Heights()
		if int(h) != p.done && int(h) != p.done+1 {
			t.Fatalf("crash point %d (after %d commits): reopened at executed height %d", p.syncIndex, p.done, h)
		}
		seen[int(h)-p.done]++
		rep, err := s.VerifyDigest(context.Background())
		if err != nil {
			t.Fatalf("crash point %d: %v", p.syncIndex, err)
		}
		if rep.Stored != digests[h] {
			t.Fatalf("crash point %d: digest at height %d is %s, reference %s", p.syncIndex, h, rep.Stored, digests[h])
		}
		if e, err := s.ExecDigest(h); err != nil || e != execs[h] {
			t.Fatalf("crash point %d: exec digest at %d: %v %v", p.syncIndex, h, e, err)
		}
		w.run(t, s, blocks)
		if got := s.StateDigest(); got != digests[blocks] {
			t.Fatalf("crash point %d: final digest after re-execution %s, want %s", p.syncIndex, got, digests[blocks])
		}
		if got := s.LastExecDigest(); got != execs[blocks] {
			t.Fatalf("crash point %d: final exec digest differs", p.syncIndex)
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("reopened at h−1: %d, at h: %d", seen[0], seen[1])
	if seen[0] == 0 {
		t.Fatal("no crash point reopened at the previous height: the test does not crash mid-commit")
	}
}
