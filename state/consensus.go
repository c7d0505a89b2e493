package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qbind/qbind/types"
)

// ErrConflict is a commit that contradicts an already committed block: a
// safety violation the node must halt on.
var ErrConflict = errors.New("state: commit conflicts with the committed chain")

// PutBlock stores a proposal (header, justify QC, payload, signature) on
// receipt, synced before the node votes on it (PROTOCOL.md §9). Storing the
// same block again is a no-op. Validity is the caller's.
func (s *Store) PutBlock(p *types.Proposal) error {
	if p.Header.ChainID != s.network.ChainID() {
		return fmt.Errorf("%w: block of chain %#x", ErrChainID, p.Header.ChainID)
	}
	id := p.Header.ID()
	s.consMu.Lock()
	defer s.consMu.Unlock()
	if _, ok, err := s.get(s.db, idKey(pBlockID, id)); err != nil || ok {
		return err
	}
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(heightIDKey(pBlock, p.Header.Height, id), p.Encode(), nil)
	b.Set(idKey(pBlockID, id), binary.BigEndian.AppendUint64(nil, p.Header.Height), nil)
	return b.Commit(pebble.Sync)
}

// BlockHeight returns the height of a stored block.
func (s *Store) BlockHeight(id types.BlockID) (uint64, error) {
	k := idKey(pBlockID, id)
	v, ok, err := s.get(s.db, k)
	if err != nil {
		return 0, err
	}
	if !ok {
		return 0, fmt.Errorf("%w: block %s", ErrNotFound, id)
	}
	return decHeightBE(k, v)
}

// Block returns a stored block by id.
func (s *Store) Block(id types.BlockID) (*types.Proposal, error) {
	h, err := s.BlockHeight(id)
	if err != nil {
		return nil, err
	}
	k := heightIDKey(pBlock, h, id)
	v, ok, err := s.get(s.db, k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, corrupt(k, "block body missing for indexed block %s", id)
	}
	p, err := types.DecodeProposal(v)
	if err != nil {
		return nil, corrupt(k, "%v", err)
	}
	if p.Header.ID() != id || p.Header.Height != h {
		return nil, corrupt(k, "stored block is not %s at height %d", id, h)
	}
	return p, nil
}

// BlocksAtHeight lists the ids of every stored block of height h (forks
// included), in id order.
func (s *Store) BlocksAtHeight(h uint64) ([]types.BlockID, error) {
	var ids []types.BlockID
	lo := heightKey(pBlock, h)
	err := iterate(s.db, lo, prefixEnd(lo), func(k, _ []byte) error {
		if len(k) != 41 {
			return corrupt(k, "block key of %d bytes", len(k))
		}
		ids = append(ids, types.BlockID(k[9:]))
		return nil
	})
	return ids, err
}

// CommittedBlockID returns the id of the committed block at height h.
func (s *Store) CommittedBlockID(h uint64) (types.BlockID, error) {
	k := heightKey(pCommitted, h)
	v, ok, err := s.get(s.db, k)
	if err != nil {
		return types.BlockID{}, err
	}
	if !ok {
		return types.BlockID{}, s.missing(h, "committed block")
	}
	if len(v) != 32 {
		return types.BlockID{}, corrupt(k, "%d bytes, want 32", len(v))
	}
	return types.BlockID(v), nil
}

// CommittedBlock returns the committed block at height h.
func (s *Store) CommittedBlock(h uint64) (*types.Proposal, error) {
	id, err := s.CommittedBlockID(h)
	if err != nil {
		return nil, err
	}
	return s.Block(id)
}

// PutQC stores a QC (synced) under the block it certifies, which must be
// stored already, and raises the stored high QC if the QC is newer.
func (s *Store) PutQC(q types.QC) error {
	h, err := s.BlockHeight(q.BlockID)
	if err != nil {
		return fmt.Errorf("state: QC for an unknown block: %w", err)
	}
	s.consMu.Lock()
	defer s.consMu.Unlock()
	b := s.db.NewBatch()
	defer b.Close()
	enc := q.Encode()
	b.Set(heightIDKey(pQC, h, q.BlockID), enc, nil)
	high, ok, err := s.HighQC()
	if err != nil {
		return err
	}
	if !ok || q.View > high.View {
		b.Set(metaKey(metaHighQC), enc, nil)
	}
	return b.Commit(pebble.Sync)
}

// QC returns the stored QC certifying block id.
func (s *Store) QC(id types.BlockID) (types.QC, error) {
	h, err := s.BlockHeight(id)
	if err != nil {
		return types.QC{}, err
	}
	k := heightIDKey(pQC, h, id)
	v, ok, err := s.get(s.db, k)
	if err != nil {
		return types.QC{}, err
	}
	if !ok {
		return types.QC{}, fmt.Errorf("%w: QC for block %s", ErrNotFound, id)
	}
	q, err := types.DecodeQC(v)
	if err != nil {
		return q, corrupt(k, "%v", err)
	}
	if q.BlockID != id {
		return q, corrupt(k, "QC certifies %s", q.BlockID)
	}
	return q, nil
}

// HighQC returns the highest QC stored with PutQC (ok false if none).
func (s *Store) HighQC() (types.QC, bool, error) {
	k := metaKey(metaHighQC)
	v, ok, err := s.get(s.db, k)
	if err != nil || !ok {
		return types.QC{}, false, err
	}
	q, err := types.DecodeQC(v)
	if err != nil {
		return q, false, corrupt(k, "%v", err)
	}
	return q, true, nil
}

// PutBatch stores a batch by id on receipt (synced). Storing it again is a
// no-op. The batch is keyed by its retain height, max(expiry_height,
// last_committed + 1 at receipt): an uncommitted batch is kept until it has
// expired (PROTOCOL.md §7), and a committed one at least as long as the block
// that commits it (a valid block's height is below the expiry; CommitBlocks
// raises the key to the commit height otherwise). Validity is the caller's.
func (s *Store) PutBatch(bt *types.Batch) (types.BatchID, error) {
	id := bt.Header.ID(s.network)
	s.consMu.Lock()
	defer s.consMu.Unlock()
	if _, ok, err := s.get(s.db, idKey(pBatchID, id)); err != nil || ok {
		return id, err
	}
	s.rw.RLock()
	// last_committed + 1 is above any concurrent prune's cut (≤
	// last_executed), so a prune cannot miss the new key.
	rh := max(bt.Header.ExpiryHeight, s.lastCommitted+1)
	s.rw.RUnlock()
	b := s.db.NewBatch()
	defer b.Close()
	b.Set(heightIDKey(pBatch, rh, id), bt.Encode(), nil)
	b.Set(idKey(pBatchID, id), binary.BigEndian.AppendUint64(nil, rh), nil)
	return id, b.Commit(pebble.Sync)
}

// Batch returns a stored batch by id.
func (s *Store) Batch(id types.BatchID) (*types.Batch, error) {
	ik := idKey(pBatchID, id)
	v, ok, err := s.get(s.db, ik)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("%w: batch %s", ErrNotFound, id)
	}
	rh, err := decHeightBE(ik, v)
	if err != nil {
		return nil, err
	}
	k := heightIDKey(pBatch, rh, id)
	v, ok, err = s.get(s.db, k)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, corrupt(k, "batch body missing for indexed batch %s", id)
	}
	bt, err := types.DecodeBatch(v)
	if err != nil {
		return nil, corrupt(k, "%v", err)
	}
	if bt.Header.ID(s.network) != id {
		return nil, corrupt(k, "stored batch is not %s", id)
	}
	return bt, nil
}

// CommitBlocks records a commit (PROTOCOL.md §8.5): B1 = proof.Headers[0]
// and every uncommitted ancestor of B1 become committed, in one synced batch
// with the proof (stored at B1's height) and last_committed = height(B1).
// Every block from last_committed+1 to B1 must be stored (PutBlock); it
// returns their ids in height order (those the executor must run). A proof
// for a height already committed is checked against the committed chain and
// returns nothing; a contradiction is ErrConflict. The proof's structure is
// checked (Check); its QC signatures are the caller's.
func (s *Store) CommitBlocks(proof *CommitProof) ([]types.BlockID, error) {
	if err := proof.Check(); err != nil {
		return nil, err
	}
	if proof.Headers[0].ChainID != s.network.ChainID() {
		return nil, fmt.Errorf("%w: proof of chain %#x", ErrChainID, proof.Headers[0].ChainID)
	}
	s.consMu.Lock()
	defer s.consMu.Unlock()
	s.rw.RLock()
	lc := s.lastCommitted
	s.rw.RUnlock()
	b1 := proof.Headers[0]
	id := b1.ID()
	if b1.Height <= lc {
		got, err := s.CommittedBlockID(b1.Height)
		if errors.Is(err, ErrNotFound) || errors.Is(err, ErrPruned) {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		if got != id {
			return nil, fmt.Errorf("%w: height %d committed as %s, proof commits %s", ErrConflict, b1.Height, got, id)
		}
		return nil, nil
	}
	var ids []types.BlockID
	var payloads [][]types.BatchID // of ids[i], before the reverse
	h := b1.Height
	for cur := id; h > lc; h-- {
		p, err := s.Block(cur)
		if err != nil {
			return nil, fmt.Errorf("state: committing height %d: %w", h, err)
		}
		if p.Header.Height != h {
			return nil, corrupt(idKey(pBlockID, cur), "block at height %d, expected %d", p.Header.Height, h)
		}
		ids = append(ids, cur)
		payloads = append(payloads, p.BatchIDs(s.network))
		cur = p.Header.ParentID
		if h == lc+1 {
			if prev, err := s.CommittedBlockID(lc); err == nil && prev != cur {
				return nil, fmt.Errorf("%w: block %d's parent %s is not the committed %s", ErrConflict, h, cur, prev)
			} else if err != nil && !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrPruned) {
				return nil, err
			}
		}
	}
	slices.Reverse(ids)
	slices.Reverse(payloads)
	b := s.db.NewBatch()
	defer b.Close()
	committedAt := map[types.BatchID]uint64{} // the highest, should one repeat
	for i, bid := range ids {
		h := lc + 1 + uint64(i)
		b.Set(heightKey(pCommitted, h), bid[:], nil)
		for _, btID := range payloads[i] {
			committedAt[btID] = h
		}
	}
	for btID, h := range committedAt {
		if err := s.retainBatch(b, btID, h); err != nil {
			return nil, err
		}
	}
	b.Set(heightKey(pProof, b1.Height), proof.Encode(), nil)
	b.Set(metaKey(metaLastCommitted), encU64(b1.Height), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, err
	}
	s.rw.Lock()
	s.lastCommitted = b1.Height
	s.rw.Unlock()
	s.metrics.LastCommitted.Set(float64(b1.Height))
	return ids, nil
}

// retainBatch makes sure a stored batch committed at height h is kept at
// least as long as that block: if its retain height (the key) is below h it
// is moved to h in b. A batch not stored yet is left alone (PutBatch will
// stamp it above h). Called under consMu, which Prune also holds while it
// scans and deletes the batch range.
func (s *Store) retainBatch(b *pebble.Batch, id types.BatchID, h uint64) error {
	ik := idKey(pBatchID, id)
	v, ok, err := s.get(s.db, ik)
	if err != nil || !ok {
		return err
	}
	rh, err := decHeightBE(ik, v)
	if err != nil || rh >= h {
		return err
	}
	k := heightIDKey(pBatch, rh, id)
	body, ok, err := s.get(s.db, k)
	if err != nil {
		return err
	}
	if !ok {
		return corrupt(k, "batch body missing for indexed batch %s", id)
	}
	b.Delete(k, nil)
	b.Set(heightIDKey(pBatch, h, id), body, nil)
	b.Set(ik, binary.BigEndian.AppendUint64(nil, h), nil)
	return nil
}

// CommitProof returns the proof that committed height h: the stored proof of
// the lowest B1 height ≥ h (a proof commits B1 and its uncommitted ancestors).
func (s *Store) CommitProof(h uint64) (*CommitProof, error) {
	s.rw.RLock()
	lc, pb := s.lastCommitted, s.prunedBelow
	s.rw.RUnlock()
	if h < pb {
		return nil, fmt.Errorf("%w: commit proof of height %d (pruned below %d)", ErrPruned, h, pb)
	}
	if h > lc {
		return nil, fmt.Errorf("%w: height %d is not committed (last %d)", ErrNotFound, h, lc)
	}
	var out *CommitProof
	lo := heightKey(pProof, h)
	err := func() error {
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{pProof + 1}})
		if err != nil {
			return err
		}
		defer it.Close()
		if !it.First() {
			return it.Error()
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		p, err := DecodeCommitProof(v)
		if err != nil {
			return corrupt(it.Key(), "%v", err)
		}
		if len(it.Key()) != 9 || binary.BigEndian.Uint64(it.Key()[1:]) != p.Height() {
			return corrupt(it.Key(), "proof stored under another height")
		}
		out = p
		return nil
	}()
	if err != nil {
		return nil, err
	}
	if out == nil {
		return nil, s.missing(h, "commit proof")
	}
	return out, nil
}

// LastCommitted is the last committed height.
func (s *Store) LastCommitted() uint64 {
	s.rw.RLock()
	defer s.rw.RUnlock()
	return s.lastCommitted
}
