package state

import (
	"bytes"
	"context"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// chain builds n+1 hash-linked headers (index = height, 0 = genesis) with
// consecutive views; fork makes a different chain from height 1 on.
func chain(n int, fork byte) []types.BlockHeader {
	hs := []types.BlockHeader{types.GenesisBlock(testNet, 1_700_000_000_000, crypto.Hash{})}
	for h := 1; h <= n; h++ {
		p := hs[h-1]
		hs = append(hs, types.BlockHeader{Version: types.BlockVersion, ChainID: testNet.ChainID(), View: uint64(h),
			Height: uint64(h), ParentID: p.ID(), TimestampMs: p.TimestampMs + 1, JustifyView: p.View,
			BatchCommitment: crypto.Hash{fork}})
	}
	return hs
}

func proposal(hs []types.BlockHeader, h int) *types.Proposal {
	return &types.Proposal{Header: hs[h], Justify: types.QC{View: hs[h-1].View, BlockID: hs[h-1].ID(), Signers: types.Bitmap{}},
		Signature: make([]byte, crypto.MLDSA44SignatureSize)}
}

func proofFor(hs []types.BlockHeader, h int) *CommitProof {
	return &CommitProof{Headers: [3]types.BlockHeader{hs[h], hs[h+1], hs[h+2]},
		QC: types.QC{View: hs[h+2].View, BlockID: hs[h+2].ID(), Signers: types.NewBitmap(4), Signatures: [][]byte{}}}
}

func bigBatch(seq uint64, n, size int) *types.Batch {
	b := &types.Batch{Header: types.BatchHeader{Seq: seq, TxCount: uint32(n)}, Signature: make([]byte, crypto.MLDSA44SignatureSize)}
	for i := range n {
		tx := make([]byte, size) // incompressible
		r := rand.New(rand.NewPCG(seq, uint64(i)))
		for j := range tx {
			tx[j] = byte(r.Uint32())
		}
		b.Txs = append(b.Txs, tx)
	}
	return b
}

func TestConsensusStore(t *testing.T) {
	hs := chain(12, 0)
	s := mustOpen(t, memOptions())
	defer s.Close()
	if _, err := s.InitGenesis(Genesis{Accounts: map[types.AccountID]types.Account{{1}: {Nonce: 1}}, BlockID: hs[0].ID()}); err != nil {
		t.Fatal(err)
	}
	if lc, le := s.Heights(); lc != 0 || le != 0 {
		t.Fatal(lc, le)
	}
	for h := 1; h <= 8; h++ {
		if err := s.PutBlock(proposal(hs, h)); err != nil {
			t.Fatal(err)
		}
		if err := s.PutBlock(proposal(hs, h)); err != nil { // idempotent
			t.Fatal(err)
		}
		if err := s.PutQC(proposal(hs, h).Justify); h > 1 && err != nil {
			t.Fatal(err)
		}
	}
	// A QC for an unknown block is refused.
	if err := s.PutQC(types.QC{View: 99, BlockID: types.BlockID{9}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("QC for unknown block: %v", err)
	}
	if hq, ok, err := s.HighQC(); err != nil || !ok || hq.BlockID != hs[7].ID() {
		t.Fatalf("high qc %v %v", ok, err)
	}
	// A fork block at height 3.
	fk := chain(3, 1)
	fk[3].ParentID = hs[2].ID()
	if err := s.PutBlock(proposal(fk, 3)); err != nil {
		t.Fatal(err)
	}
	if ids, _ := s.BlocksAtHeight(3); len(ids) != 2 {
		t.Fatalf("%d blocks at height 3", len(ids))
	}
	got, err := s.Block(hs[5].ID())
	if err != nil || got.Header != hs[5] {
		t.Fatalf("block 5: %v", err)
	}
	// Commit B1 = 4 (B2 = 5, B3 = 6): heights 1..4 become committed.
	ids, err := s.CommitBlocks(proofFor(hs, 4))
	if err != nil || len(ids) != 4 || ids[0] != hs[1].ID() || ids[3] != hs[4].ID() {
		t.Fatalf("commit: %v %v", ids, err)
	}
	if lc := s.LastCommitted(); lc != 4 {
		t.Fatalf("last committed %d", lc)
	}
	for h := uint64(1); h <= 4; h++ {
		p, err := s.CommittedBlock(h)
		if err != nil || p.Header != hs[h] {
			t.Fatalf("committed %d: %v", h, err)
		}
		pr, err := s.CommitProof(h)
		if err != nil || pr.Height() != 4 {
			t.Fatalf("proof of %d: %v", h, err)
		}
	}
	// Committing again is a no-op; a conflicting proof is ErrConflict.
	if ids, err := s.CommitBlocks(proofFor(hs, 3)); err != nil || ids != nil {
		t.Fatalf("recommit: %v %v", ids, err)
	}
	fk2 := chain(8, 2)
	if _, err := s.CommitBlocks(proofFor(fk2, 2)); !errors.Is(err, ErrConflict) {
		t.Fatalf("conflict: %v", err)
	}
	// A missing ancestor is refused (block 9 was never stored).
	if _, err := s.CommitBlocks(proofFor(hs, 9)); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing block: %v", err)
	}
	// Batches by id.
	bt := bigBatch(1, 3, 10)
	id, err := s.PutBatch(bt)
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.Batch(id); err != nil || !bytes.Equal(got.Encode(), bt.Encode()) {
		t.Fatalf("batch: %v", err)
	}
	if _, err := s.Batch(types.BatchID{1}); !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	// Reopen: the heights are reported.
}

func TestCommitProofCodec(t *testing.T) {
	hs := chain(5, 0)
	p := proofFor(hs, 1)
	enc := p.Encode()
	q, err := DecodeCommitProof(enc)
	if err != nil || !bytes.Equal(q.Encode(), enc) {
		t.Fatalf("round trip: %v", err)
	}
	if _, err := DecodeCommitProof(append(enc, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	bad := *p
	bad.Headers[1].View++
	if _, err := DecodeCommitProof(bad.Encode()); !errors.Is(err, ErrBadCommitProof) {
		t.Fatal("non-consecutive views accepted")
	}
	bad = *p
	bad.QC.BlockID = hs[2].ID()
	if _, err := DecodeCommitProof(bad.Encode()); !errors.Is(err, ErrBadCommitProof) {
		t.Fatal("QC of another block accepted")
	}
	bad = *p
	bad.Headers[2].ParentID = types.BlockID{1}
	if _, err := DecodeCommitProof(bad.Encode()); !errors.Is(err, ErrBadCommitProof) {
		t.Fatal("unlinked headers accepted")
	}
}

// TestPruning: with retain_blocks = R, blocks, batches, receipts, tx index
// entries, proofs and exec digests below the cut are gone, recent ones
// readable, and disk usage falls after the compaction.
func TestPruning(t *testing.T) {
	const n, R = 16, 4
	s, w, hs := prunedStore(t, n, R, 20) // explicit Prune below
	batchIDs := map[int]types.BatchID{}
	for h := 1; h <= n; h++ {
		if err := s.PutBlock(proposal(hs, h)); err != nil {
			t.Fatal(err)
		}
		id, err := s.PutBatch(bigBatch(uint64(h), 100, 2000))
		if err != nil {
			t.Fatal(err)
		}
		batchIDs[h] = id
		if _, err := s.CommitBlocks(proofFor(hs, h)); err != nil {
			t.Fatal(err)
		}
		w.run(t, s, h)
	}
	if err := s.db.Flush(); err != nil {
		t.Fatal(err)
	}
	oldRcpt, _ := s.Receipts(2)
	rep, err := s.Prune(context.Background(), n-R+1)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("pruned %d keys below %d, live sstables %d → %d bytes in %v", rep.Keys, rep.Below, rep.LiveBefore, rep.LiveAfter, rep.Duration)
	if rep.LiveAfter >= rep.LiveBefore/2 {
		t.Fatalf("disk usage did not fall: %d → %d", rep.LiveBefore, rep.LiveAfter)
	}
	if metricValue(s.metrics.PrunedKeys) != float64(rep.Keys) || rep.Keys == 0 {
		t.Fatal("pruned keys metric")
	}
	for h := 1; h <= n; h++ {
		_, errB := s.Block(hs[h].ID())
		_, errC := s.CommittedBlock(uint64(h))
		_, errE := s.ExecDigest(uint64(h))
		_, errP := s.CommitProof(uint64(h))
		_, errT := s.Batch(batchIDs[h])
		rs, errR := s.Receipts(uint64(h))
		if h <= n-R {
			if !errors.Is(errB, ErrNotFound) || !errors.Is(errC, ErrPruned) || !errors.Is(errE, ErrPruned) ||
				!errors.Is(errP, ErrPruned) || !errors.Is(errT, ErrNotFound) || len(rs) != 0 {
				t.Fatalf("height %d not pruned: %v %v %v %v %v %d", h, errB, errC, errE, errP, errT, len(rs))
			}
		} else if errB != nil || errC != nil || errE != nil || errP != nil || errT != nil || errR != nil || len(rs) != 20 {
			t.Fatalf("height %d unreadable: %v %v %v %v %v %v", h, errB, errC, errE, errP, errT, errR)
		}
	}
	for _, rc := range oldRcpt {
		if hh, _, _, err := s.TxLocation(rc.TxID); err == nil && hh <= n-R {
			t.Fatalf("tx index entry of pruned height %d survived", hh)
		}
	}
	if _, err := s.VerifyDigest(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Automatic pruning in the background: interval 4 with retain 4.
	if s.PrunedBelow() != n-R+1 {
		t.Fatal(s.PrunedBelow())
	}
}
