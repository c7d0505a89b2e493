package state

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

func TestExecutionMatchesMemState(t *testing.T) {
	w := newWorkload(t, rand.Uint64(), 6, 30)
	digests, execs, ref := w.reference(t)
	s := mustOpen(t, memOptions())
	defer s.Close()
	exec0, err := s.InitGenesis(Genesis{Accounts: w.genesis})
	if err != nil {
		t.Fatal(err)
	}
	if exec0 != execs[0] {
		t.Fatalf("EXEC0 %s, reference %s", exec0, execs[0])
	}
	w.run(t, s, 6)
	if s.StateDigest() != digests[6] || s.LastExecDigest() != execs[6] {
		t.Fatal("digest differs from MemState")
	}
	for id, a := range ref.Accounts() {
		got, err := s.Account(id)
		if err != nil || got != a {
			t.Fatalf("account %s: %v %v, want %v", id, got, err, a)
		}
	}
	if rep, err := s.VerifyDigest(context.Background()); err != nil || rep.Accounts != uint64(ref.Len()) {
		t.Fatalf("verify: %v %+v", err, rep)
	}
	for h := range uint64(7) {
		if e, err := s.ExecDigest(h); err != nil || e != execs[h] {
			t.Fatalf("exec digest %d: %v", h, err)
		}
	}
	// Receipts and the tx index.
	rs, err := s.Receipts(3)
	if err != nil || len(rs) != 30 {
		t.Fatalf("receipts of 3: %d %v", len(rs), err)
	}
	if execution.ReceiptsRoot(rs) == (crypto.Hash{}) {
		t.Fatal("empty root")
	}
	h, i, rc, err := s.TxLocation(rs[5].TxID)
	if err != nil || rc != rs[5] || h < 3 || (h == 3 && i != 5) {
		t.Fatalf("tx location: %d %d %v", h, i, err)
	}
}

func TestCommitRefusals(t *testing.T) {
	w := newWorkload(t, rand.Uint64(), 3, 10)
	s := mustOpen(t, memOptions())
	defer s.Close()
	if err := s.CommitExecution(1, &execution.BlockResult{Height: 1}); !errors.Is(err, ErrNoGenesis) {
		t.Fatalf("before genesis: %v", err)
	}
	if _, err := s.InitGenesis(Genesis{Accounts: w.genesis}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InitGenesis(Genesis{Accounts: w.genesis}); !errors.Is(err, ErrNotEmpty) {
		t.Fatalf("second genesis: %v", err)
	}
	res1, err := execution.Execute(&w.env, s, &w.blocks[0])
	if err != nil {
		t.Fatal(err)
	}
	before := s.StateDigest()
	var he *HeightError
	if err := s.CommitExecution(2, res1); !errors.As(err, &he) || !errors.Is(err, ErrHeight) {
		t.Fatalf("wrong height: %v", err)
	}
	res1.Height = 2
	if err := s.CommitExecution(2, res1); !errors.Is(err, ErrHeight) {
		t.Fatalf("height 2 after 0: %v", err)
	}
	res1.Height = 1
	// A stale change: Old is not the stored state.
	bad := *res1
	bad.Changes = append([]execution.AccountChange(nil), res1.Changes...)
	bad.Changes[0].Old.Nonce += 7
	var se *StaleError
	if err := s.CommitExecution(1, &bad); !errors.As(err, &se) || !errors.Is(err, ErrStale) {
		t.Fatalf("stale: %v", err)
	}
	if s.StateDigest() != before {
		t.Fatal("a refused result changed the state")
	}
	if _, last := s.Heights(); last != 0 {
		t.Fatalf("last executed %d", last)
	}
	if err := s.CommitExecution(1, res1); err != nil {
		t.Fatal(err)
	}
	// The same result again is stale by height.
	if err := s.CommitExecution(1, res1); !errors.Is(err, ErrHeight) {
		t.Fatalf("replay: %v", err)
	}
	// A result computed on the state before height 1 is stale at height 2.
	res2old := *res1
	res2old.Height = 2
	if err := s.CommitExecution(2, &res2old); !errors.Is(err, ErrStale) {
		t.Fatalf("result on an old state: %v", err)
	}
}

// TestDeletionAndUnsealed commits hand-built results: a deletion ((0, 0)
// New), a creation, an unsealed result sealed by the store.
func TestDeletionAndUnsealed(t *testing.T) {
	a, b, c := types.AccountID{1}, types.AccountID{2}, types.AccountID{3}
	g := map[types.AccountID]types.Account{a: {Nonce: 1, Balance: u128.From64(10)}, b: {Balance: u128.From64(5)}}
	s := mustOpen(t, memOptions())
	defer s.Close()
	if _, err := s.InitGenesis(Genesis{Accounts: g}); err != nil {
		t.Fatal(err)
	}
	ref := execution.NewMemState(g)
	res := &execution.BlockResult{Height: 1, TotalBurned: u128.From64(3), ReceiptsRoot: execution.ReceiptsRoot(nil), Changes: []execution.AccountChange{
		{ID: b, Old: g[b], New: types.Account{}},
		{ID: c, New: types.Account{Balance: u128.From64(2)}},
	}}
	if err := ref.Apply(res); err != nil {
		t.Fatal(err)
	}
	if err := s.CommitExecution(1, res); err != nil {
		t.Fatal(err)
	}
	if s.StateDigest() != ref.Digest() {
		t.Fatal("digest differs after deletion")
	}
	if got, _ := s.Account(b); got.Exists() {
		t.Fatal("deleted account still exists")
	}
	if v, ok, _ := s.get(s.db, accountKey(b)); ok {
		t.Fatalf("deleted account stored as %x", v)
	}
	if burned, _ := s.TotalBurned(); burned != u128.From64(3) {
		t.Fatalf("total burned %s", burned)
	}
	if _, err := s.VerifyDigest(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptionIsReported writes bad values under the store's keys: reads
// return ErrCorrupt naming the key, never a zero value.
func TestCorruptionIsReported(t *testing.T) {
	mem := memOptions()
	mem.InMemory = false
	mem.FS = newMemFS()
	s := mustOpen(t, mem)
	g := map[types.AccountID]types.Account{{1}: {Nonce: 1}, {2}: {Nonce: 2}}
	if _, err := s.InitGenesis(Genesis{Accounts: g}); err != nil {
		t.Fatal(err)
	}
	var ce *CorruptError
	for _, v := range [][]byte{{1, 2, 3}, make([]byte, 24), make([]byte, 25)} {
		if err := s.db.Set(accountKey(types.AccountID{9}), v, pebble.Sync); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Account(types.AccountID{9}); !errors.As(err, &ce) || !bytes.Equal(ce.Key, accountKey(types.AccountID{9})) {
			t.Fatalf("value %x: %v", v, err)
		}
		if _, err := s.RecomputeDigest(context.Background()); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("recompute over %x: %v", v, err)
		}
	}
	s.db.Delete(accountKey(types.AccountID{9}), pebble.Sync)
	// An account changed behind the store's back: verify reports a mismatch.
	v3 := types.Account{Nonce: 3}.Encode()
	s.db.Set(accountKey(types.AccountID{2}), v3[:], pebble.Sync)
	if _, err := s.VerifyDigest(context.Background()); !errors.Is(err, ErrDigest) {
		t.Fatalf("verify after tampering: %v", err)
	}
	// Corrupt metadata is refused on open.
	for _, name := range []string{metaTotalBurned, metaLtHash, metaStateDigest, metaLastExecuted, metaReceiptsRoot} {
		old, _, _ := s.get(s.db, metaKey(name))
		s.db.Set(metaKey(name), old[:len(old)-1], pebble.Sync)
		s.Close()
		if _, err := Open(mem); !errors.Is(err, ErrCorrupt) {
			t.Fatalf("meta %s truncated: %v", name, err)
		}
		s = mustOpen(t, withoutExec(mem))
		s.db.Set(metaKey(name), old, pebble.Sync)
	}
	s.Close()
	s = mustOpen(t, mem)
	// A state digest that is not H(lthash).
	s.db.Set(metaKey(metaStateDigest), make([]byte, 32), pebble.Sync)
	s.Close()
	if _, err := Open(mem); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("digest ≠ H(lthash): %v", err)
	}
	// Another chain is refused.
	other := mem
	other.Network = crypto.DevNet
	if _, err := Open(other); !errors.Is(err, ErrChainID) {
		t.Fatalf("other chain: %v", err)
	}
}

func TestAccountCacheBounded(t *testing.T) {
	o := memOptions()
	o.AccountCacheSize = 4
	s := mustOpen(t, o)
	defer s.Close()
	g := map[types.AccountID]types.Account{}
	for i := range 10 {
		g[types.AccountID{byte(i + 1)}] = types.Account{Nonce: uint64(i + 1)}
	}
	if _, err := s.InitGenesis(Genesis{Accounts: g}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		for id, a := range g {
			if got, err := s.Account(id); err != nil || got != a {
				t.Fatal(got, err)
			}
		}
	}
	if n := s.cache.len(); n != 4 {
		t.Fatalf("cache holds %d", n)
	}
	if metricValue(s.metrics.CacheEvictions) == 0 || metricValue(s.metrics.CacheMisses) < 10 {
		t.Fatal("cache metrics not counted")
	}
	s.Account(types.AccountID{1})
	hits := metricValue(s.metrics.CacheHits)
	s.Account(types.AccountID{1})
	if metricValue(s.metrics.CacheHits) != hits+1 {
		t.Fatal("no hit on a cached account")
	}
}
