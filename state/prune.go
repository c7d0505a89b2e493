package state

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// PruneReport describes one pruning pass.
type PruneReport struct {
	Below    uint64 // heights < Below were pruned
	Keys     uint64 // keys removed
	Duration time.Duration
	// LiveBefore and LiveAfter are the bytes of the live sstables (Pebble's
	// EstimateDiskUsage over the whole keyspace) before pruning and after
	// the compaction. Files the compaction made obsolete are deleted by
	// Pebble in the background, so Store.DiskUsage may lag behind.
	LiveBefore uint64
	LiveAfter  uint64
}

// Prune deletes the blocks (and their id index), QCs, committed index
// entries, commit proofs, batches whose retain height is below the cut (see
// PutBatch: max(expiry, receipt stamp), raised to the commit height by
// CommitBlocks), receipts, tx index entries pointing below, and exec digests
// of heights < below, in one synced batch of range deletes (point deletes
// only for the id indexes), then compacts those ranges so the disk space is
// returned. below is clamped to last_executed (its exec digest and metadata
// are always kept). Accounts are never pruned.
//
// Safe to run concurrently with commits and with other prunes (prunes are
// serialized; pruned_below never moves backwards). The receipts are scanned
// without locks; the block and batch ranges are scanned, the tx index
// entries rechecked and the batch committed while holding the consensus and
// commit mutexes, so a concurrent PutBlock, CommitBlocks or CommitExecution
// (which may rewrite a tx index entry) cannot be undone by the prune.
func (s *Store) Prune(ctx context.Context, below uint64) (*PruneReport, error) {
	start := time.Now()
	s.pruneMu.Lock()
	defer s.pruneMu.Unlock()
	s.rw.RLock()
	below = min(below, s.lastExecuted)
	prev := s.prunedBelow
	s.rw.RUnlock()
	rep := &PruneReport{Below: below, LiveBefore: s.LiveBytes()}
	if below <= prev {
		rep.Below, rep.LiveAfter = prev, rep.LiveBefore
		return rep, nil
	}
	b := s.db.NewBatch()
	defer b.Close()
	type span struct{ lo, hi []byte }
	var spans []span
	rangeDel := func(p byte, idIndex byte, each func(k, v []byte) error) error {
		lo, hi := heightKey(p, 0), heightKey(p, below)
		err := iterate(s.db, lo, hi, func(k, v []byte) error {
			rep.Keys++
			if idIndex != 0 {
				if len(k) != 41 {
					return corrupt(k, "key of %d bytes", len(k))
				}
				b.Delete(append([]byte{idIndex}, k[9:]...), nil)
				rep.Keys++
			}
			if each != nil {
				return each(k, v)
			}
			return nil
		})
		if err != nil {
			return err
		}
		b.DeleteRange(lo, hi, nil)
		spans = append(spans, span{lo, hi})
		return ctx.Err()
	}
	// Candidate tx index entries: those of the tx ids of receipts below the
	// cut. They are checked (and deleted) under commitMu below.
	txKeys := map[string]struct{}{}
	txIndex := func(k, v []byte) error {
		if len(v) < 32 {
			return corrupt(k, "receipt of %d bytes", len(v))
		}
		txKeys[string(append([]byte{pTxIndex}, v[:32]...))] = struct{}{}
		return nil
	}
	// Nothing writes these ranges below the cut (heights ≤ last_executed ≤
	// last_committed are final), except late QCs of old blocks, which are
	// harmless to drop.
	steps := []func() error{
		func() error { return rangeDel(pQC, 0, nil) },
		func() error { return rangeDel(pCommitted, 0, nil) },
		func() error { return rangeDel(pProof, 0, nil) },
		func() error { return rangeDel(pReceipt, 0, txIndex) },
		func() error { return rangeDel(pExecDigest, 0, nil) },
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return nil, fmt.Errorf("state: prune below %d: %w", below, err)
		}
	}
	if s.testPruneScanned != nil {
		s.testPruneScanned()
	}
	if err := s.pruneCommit(b, below, txKeys, func() error {
		// PutBlock accepts old heights and CommitBlocks re-keys batches: scan
		// the ranges with id indexes under consMu.
		if err := rangeDel(pBlock, pBlockID, nil); err != nil {
			return err
		}
		return rangeDel(pBatch, pBatchID, nil)
	}, &rep.Keys); err != nil {
		return nil, fmt.Errorf("state: prune below %d: %w", below, err)
	}
	// Compact the pruned ranges (and the tx index, which holds point
	// deletes) so the space is returned.
	spans = append(spans, span{[]byte{pTxIndex}, []byte{pTxIndex + 1}}, span{[]byte{pBlockID}, []byte{pBlockID + 1}},
		span{[]byte{pBatchID}, []byte{pBatchID + 1}})
	for _, sp := range spans {
		if err := s.db.Compact(ctx, sp.lo, sp.hi, true); err != nil {
			return nil, fmt.Errorf("state: compact after pruning: %w", err)
		}
	}
	rep.LiveAfter = s.LiveBytes()
	s.DiskUsage()
	rep.Duration = time.Since(start)
	s.metrics.PruneRuns.Inc()
	s.metrics.PrunedKeys.Add(float64(rep.Keys))
	s.metrics.PruneSeconds.Observe(rep.Duration.Seconds())
	return rep, nil
}

// pruneCommit finishes a prune under consMu and commitMu: it runs scan (the
// ranges with id indexes), deletes the candidate tx index entries that still
// point below the cut (CommitExecution may have rewritten one since: the
// same tx id included again), records pruned_below and commits b.
func (s *Store) pruneCommit(b *pebble.Batch, below uint64, txKeys map[string]struct{}, scan func() error, keys *uint64) error {
	s.consMu.Lock()
	defer s.consMu.Unlock()
	if err := scan(); err != nil {
		return err
	}
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	for _, tk := range slices.Sorted(maps.Keys(txKeys)) {
		k := []byte(tk)
		tv, ok, err := s.get(s.db, k)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		h, _, err := decTxLoc(k, tv)
		if err != nil {
			return err
		}
		if h >= below {
			continue // the tx has a newer receipt
		}
		b.Delete(k, nil)
		*keys++
	}
	s.rw.RLock()
	prev := s.prunedBelow
	s.rw.RUnlock()
	below = max(below, prev)
	b.Set(metaKey(metaPrunedBelow), encU64(below), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	s.rw.Lock()
	s.prunedBelow = max(s.prunedBelow, below)
	s.rw.Unlock()
	return nil
}

// LiveBytes is the size of the live sstables (excluding the WAL and files
// awaiting deletion).
func (s *Store) LiveBytes() uint64 {
	n, err := s.db.EstimateDiskUsage([]byte{0}, []byte{0xFF, 0xFF})
	if err != nil {
		return 0
	}
	return n
}

// PrunedBelow is the height below which history was pruned (0 = none).
func (s *Store) PrunedBelow() uint64 {
	s.rw.RLock()
	defer s.rw.RUnlock()
	return s.prunedBelow
}

// afterCommit starts the background work a commit of height h triggers: a
// snapshot export (the Pebble snapshot is taken here, synchronously, so it
// holds exactly height h) and a pruning pass. Neither is waited for.
func (s *Store) afterCommit(h uint64) {
	sc := s.opts.Snapshots
	if sc.Interval > 0 && sc.Dir != "" && h%sc.Interval == 0 {
		s.startExport(h)
	}
	pc := s.opts.Pruning
	if pc.Mode == Pruned && pc.Interval > 0 && h%pc.Interval == 0 && h > pc.RetainBlocks {
		below := h - pc.RetainBlocks + 1
		if s.startBG(&s.pruning) {
			go func() {
				defer s.endBG(&s.pruning)
				if _, err := s.Prune(s.ctx, below); err != nil && s.ctx.Err() == nil {
					s.metrics.PruneFailed.Inc() // the next pass retries
				}
			}()
		}
	}
}

// startBG marks one background job of a kind as running (false if one is
// running already or the store is closing).
func (s *Store) startBG(flag *bool) bool {
	s.bgMu.Lock()
	defer s.bgMu.Unlock()
	if s.closed || *flag {
		return false
	}
	*flag = true
	s.bg.Add(1)
	return true
}

func (s *Store) endBG(flag *bool) {
	s.bgMu.Lock()
	*flag = false
	s.bgMu.Unlock()
	s.bg.Done()
}
