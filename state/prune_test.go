package state

import (
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/types"
)

// TestPruneKeepsBatchesOfRetainedBlocks is a regression test: batches used
// to be keyed (and pruned) by their receipt stamp, so a batch received well
// before the block that commits it was deleted while that block was still
// retained (PROTOCOL.md §7: bodies are kept until expired, or committed and
// older than retain_blocks).
func TestPruneKeepsBatchesOfRetainedBlocks(t *testing.T) {
	const n, R = 16, 4
	s, w, hs := prunedStore(t, n, R, 2) // explicit Prune below
	mk := func(seq, expiry uint64) *types.Batch {
		bt := bigBatch(seq, 1, 100)
		bt.Header.ExpiryHeight = expiry
		return bt
	}
	put := func(bt *types.Batch) types.BatchID {
		id, err := s.PutBatch(bt)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	// All received before height 1 is committed (stamp 1).
	valid := mk(1, n)     // committed at n−1 < expiry: a valid payload
	expired := mk(2, n-4) // committed at n−1 ≥ expiry (a `warn`-mode payload), still stored then
	early := mk(3, 6)     // committed at 2: pruned with its block
	pending := mk(4, n+5) // never committed, not expired: kept
	stale := mk(5, 5)     // never committed, expired: pruned
	late := mk(6, n)      // received after its block was committed
	ids := map[string]types.BatchID{"valid": put(valid), "expired": put(expired), "early": put(early),
		"pending": put(pending), "stale": put(stale)}
	payload := map[int][]*types.Batch{2: {early}, n - 1: {valid, expired, late}}
	for h := 1; h <= n; h++ {
		p := proposal(hs, h)
		for _, bt := range payload[h] {
			p.Payload = append(p.Payload, &types.BatchCertificate{Header: bt.Header, Signers: types.NewBitmap(4)})
		}
		if err := s.PutBlock(p); err != nil {
			t.Fatal(err)
		}
		if _, err := s.CommitBlocks(proofFor(hs, h)); err != nil {
			t.Fatal(err)
		}
		w.run(t, s, h)
		if h == n-1 {
			ids["late"] = put(late)
		}
		// Prune after every block, as the background pass would.
		if h > R {
			if _, err := s.Prune(context.Background(), uint64(h-R+1)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if pb := s.PrunedBelow(); pb != n-R+1 {
		t.Fatal(pb)
	}
	for name, keep := range map[string]bool{"valid": true, "expired": true, "late": true, "pending": true,
		"early": false, "stale": false} {
		bt, err := s.Batch(ids[name])
		switch {
		case keep && err != nil:
			t.Errorf("batch %s of a retained block or pending: %v", name, err)
		case keep && bt.Header.ID(s.network) != ids[name]:
			t.Errorf("batch %s: wrong body", name)
		case !keep && !errors.Is(err, ErrNotFound):
			t.Errorf("batch %s should be pruned: %v", name, err)
		}
	}
	// The committed batches of every retained block are readable.
	for h := n - R + 1; h <= n; h++ {
		p, err := s.CommittedBlock(uint64(h))
		if err != nil {
			t.Fatal(err)
		}
		for _, id := range p.BatchIDs(s.network) {
			if _, err := s.Batch(id); err != nil {
				t.Errorf("height %d: batch %s: %v", h, id, err)
			}
		}
	}
}

// TestPruneKeepsRewrittenTxIndex is a regression test: Prune used to decide
// to delete a tx index entry from its scan and commit the delete later, so an
// entry CommitExecution rewrote in between (the same tx id included again,
// e.g. skipped as nonce_too_low) was deleted. The hook commits such a block
// between the scan and the prune's commit.
func TestPruneKeepsRewrittenTxIndex(t *testing.T) {
	const n = 8
	w := newWorkload(t, rand.Uint64(), n+1, 5)
	s := mustOpen(t, memOptions())
	defer s.Close()
	if _, err := s.InitGenesis(Genesis{Accounts: w.genesis}); err != nil {
		t.Fatal(err)
	}
	w.run(t, s, n)
	old, err := s.Receipts(1)
	if err != nil || len(old) == 0 {
		t.Fatal(len(old), err)
	}
	txID := old[0].TxID
	s.testPruneScanned = func() {
		res, err := execution.Execute(&w.env, s, &w.blocks[n])
		if err != nil {
			t.Fatal(err)
		}
		res.Receipts[0].TxID = txID // included again at n+1
		if err := s.CommitExecution(n+1, res); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Prune(context.Background(), n); err != nil {
		t.Fatal(err)
	}
	h, i, rc, err := s.TxLocation(txID)
	if err != nil || h != n+1 || i != 0 || rc.TxID != txID {
		t.Fatalf("tx index entry rewritten at %d lost: %d %d %v", n+1, h, i, err)
	}
}

// TestPrunedBelowMonotonic: a prune that finishes after a deeper one (an
// explicit Prune racing the background pass) never moves pruned_below back.
func TestPrunedBelowMonotonic(t *testing.T) {
	const n = 8
	w := newWorkload(t, rand.Uint64(), n, 2)
	s := mustOpen(t, memOptions())
	if _, err := s.InitGenesis(Genesis{Accounts: w.genesis}); err != nil {
		t.Fatal(err)
	}
	w.run(t, s, n)
	if _, err := s.Prune(context.Background(), 6); err != nil {
		t.Fatal(err)
	}
	// What a prune that read pruned_below = 0 before the one above finished
	// would commit.
	b := s.db.NewBatch()
	err := s.pruneCommit(b, 3, nil, func() error { return nil }, new(uint64))
	b.Close()
	if err != nil {
		t.Fatal(err)
	}
	if pb := s.PrunedBelow(); pb != 6 {
		t.Fatalf("pruned_below %d, want 6", pb)
	}
	v, ok, err := s.get(s.db, metaKey(metaPrunedBelow))
	if err != nil || !ok || mustU64(t, v) != 6 {
		t.Fatalf("stored pruned_below %x %v", v, err)
	}
	s.Close()
}

func mustU64(t *testing.T, v []byte) uint64 {
	x, err := decU64(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

// TestPruneCorruptTxIndex: a tx index value that is not 12 bytes is
// ErrCorrupt, not silently deleted.
func TestPruneCorruptTxIndex(t *testing.T) {
	w := newWorkload(t, rand.Uint64(), 4, 3)
	s := mustOpen(t, memOptions())
	defer s.Close()
	if _, err := s.InitGenesis(Genesis{Accounts: w.genesis}); err != nil {
		t.Fatal(err)
	}
	w.run(t, s, 4)
	rs, err := s.Receipts(1)
	if err != nil || len(rs) == 0 {
		t.Fatal(len(rs), err)
	}
	k := idKey(pTxIndex, rs[0].TxID)
	if err := s.db.Set(k, []byte{1, 2, 3}, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Prune(context.Background(), 3); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("prune over a corrupt tx index entry: %v", err)
	}
	if v, ok, _ := s.get(s.db, k); !ok || len(v) != 3 {
		t.Fatal("corrupt entry deleted")
	}
	if s.PrunedBelow() != 0 {
		t.Fatal(s.PrunedBelow())
	}
}
