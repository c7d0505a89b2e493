package state

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/crypto/lthash"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Genesis is the executed state at height 0.
type Genesis struct {
	Accounts     map[types.AccountID]types.Account // zero states are dropped
	TotalBurned  u128.U128
	MonetaryHash crypto.Hash   // zero = execution.EmptyMonetaryHash
	BlockID      types.BlockID // block_id(G), recorded as committed height 0 if non-zero
}

// genesisChunk is how many accounts one unsynced genesis/restore batch holds.
const genesisChunk = 1 << 16

// InitGenesis writes the genesis state into an empty store and returns
// EXEC0, the exec digest of height 0 (receipts root of the empty list). The
// accounts go in unsynced chunks behind an "incomplete" marker; the final
// synced batch writes the metadata and removes the marker, so a crash in
// between leaves a store Open refuses (ErrIncomplete), never a partial one.
func (s *Store) InitGenesis(g Genesis) (crypto.Hash, error) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.rw.RLock()
	has := s.genesis
	s.rw.RUnlock()
	if has {
		return crypto.Hash{}, fmt.Errorf("%w: genesis already written", ErrNotEmpty)
	}
	if err := s.requireEmptyAccounts(); err != nil {
		return crypto.Hash{}, err
	}
	if err := s.db.Set(metaKey(metaIncomplete), []byte("genesis"), pebble.Sync); err != nil {
		return crypto.Hash{}, err
	}
	ids := slices.SortedFunc(maps.Keys(g.Accounts), func(a, b types.AccountID) int { return bytes.Compare(a[:], b[:]) })
	var hash lthash.Hash
	changes := make([]lthash.Change, 0, min(len(ids), genesisChunk))
	b := s.db.NewBatch()
	defer func() { b.Close() }() // the last batch; chunks are closed as they commit
	for _, id := range ids {
		a := g.Accounts[id]
		if !a.Exists() {
			continue
		}
		v := a.Encode()
		b.Set(accountKey(id), v[:], nil)
		changes = append(changes, lthash.Change{Account: id, New: v})
		if len(changes) == genesisChunk {
			hash.Update(changes, workers())
			changes = changes[:0]
			err := b.Commit(pebble.NoSync)
			b.Close()
			b = s.db.NewBatch()
			if err != nil {
				return crypto.Hash{}, err
			}
		}
	}
	hash.Update(changes, workers())
	mon := g.MonetaryHash
	if mon == (crypto.Hash{}) {
		mon = execution.EmptyMonetaryHash
	}
	rr := execution.ReceiptsRoot(nil)
	exec0 := execution.ExecDigest(0, hash.Digest(), rr, g.TotalBurned, mon)
	writeExecMeta(b, 0, g.TotalBurned, &hash, rr, mon, exec0)
	if g.BlockID != (types.BlockID{}) {
		b.Set(heightKey(pCommitted, 0), g.BlockID[:], nil)
		b.Set(metaKey(metaLastCommitted), encU64(0), nil)
	}
	b.Delete(metaKey(metaIncomplete), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return crypto.Hash{}, err
	}
	s.rw.Lock()
	err := s.loadExec(s.db)
	s.rw.Unlock()
	return exec0, err
}

func (s *Store) requireEmptyAccounts() error {
	it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: []byte{pAccount}, UpperBound: []byte{pAccount + 1}})
	if err != nil {
		return err
	}
	nonEmpty := it.First()
	if err := it.Close(); err != nil {
		return err
	}
	if nonEmpty {
		return fmt.Errorf("%w: accounts present", ErrNotEmpty)
	}
	return nil
}

// commitClose commits b and closes it whatever the outcome.
func commitClose(b *pebble.Batch, o *pebble.WriteOptions) error {
	defer b.Close()
	return b.Commit(o)
}

// writeExecMeta adds the execution metadata of height h to b.
func writeExecMeta(b *pebble.Batch, h uint64, burned u128.U128, hash *lthash.Hash, receiptsRoot, monetary, exec crypto.Hash) {
	d := hash.Digest()
	b.Set(metaKey(metaTotalBurned), encU128(burned), nil)
	b.Set(metaKey(metaLtHash), hash.Bytes(), nil)
	b.Set(metaKey(metaStateDigest), d[:], nil)
	b.Set(metaKey(metaReceiptsRoot), receiptsRoot[:], nil)
	b.Set(metaKey(metaMonetaryHash), monetary[:], nil)
	b.Set(heightKey(pExecDigest, h), exec[:], nil)
	b.Set(metaKey(metaLastExecuted), encU64(h), nil)
}

// CommitExecution writes the result of executing height h in ONE synced
// Pebble batch (PROTOCOL.md §9): the account changes (New == zero deletes),
// the receipts by (height, index), the tx index, total_burned, the set hash
// and state digest, the receipts root and monetary hash, the exec digest of h
// and last_executed = h. After a crash the store is at h or h−1, never in
// between. The account cache is updated after the batch is durable.
//
// A failure of the synced batch commit itself is ErrCommitFailed: Pebble may
// already have applied the batch, so whether height h is stored is unknown.
// The caller must treat it as fatal: stop, Close and reopen the store (Open
// reloads the metadata; the node re-executes from last_executed + 1).
//
// It refuses (nothing written) a result whose Height is not h or h is not
// last_executed+1 (*HeightError, ErrHeight) and a result with a change whose
// Old is not the stored state (*StaleError, ErrStale). An unsealed result is
// sealed here from the stored set hash (r is modified). When h is a multiple
// of the snapshot interval, a Pebble snapshot is taken before returning and
// exported in the background.
func (s *Store) CommitExecution(h uint64, r *execution.BlockResult) error {
	start := time.Now()
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	s.rw.RLock()
	genesis, last, prev := s.genesis, s.lastExecuted, s.hash
	s.rw.RUnlock()
	if !genesis {
		return ErrNoGenesis
	}
	if r.Height != h || h != last+1 {
		s.metrics.StaleRejections.Inc()
		return &HeightError{LastExecuted: last, Got: r.Height}
	}
	for i := range r.Changes {
		c := &r.Changes[i]
		if i > 0 && bytes.Compare(r.Changes[i-1].ID[:], c.ID[:]) >= 0 {
			return fmt.Errorf("state: result changes not sorted by id / duplicated at %s", c.ID)
		}
		cur, err := s.Account(c.ID)
		if err != nil {
			return err
		}
		if cur != c.Old {
			s.metrics.StaleRejections.Inc()
			return &StaleError{ID: c.ID, Stored: cur, Old: c.Old}
		}
	}
	if !r.Sealed() {
		r.Seal(prev, workers())
	} else if s.opts.VerifyResults {
		want := prev
		want.Update(execution.LtHashChanges(r.Changes), workers())
		if want != r.StateHash {
			return fmt.Errorf("%w: result's state hash does not follow from the stored one at height %d", ErrStale, h)
		}
	}
	if r.StateHash.Digest() != r.StateDigest {
		return fmt.Errorf("state: result's state digest is not H(state hash) at height %d", h)
	}
	if len(r.Receipts) > 1<<32-1 {
		return fmt.Errorf("state: %d receipts", len(r.Receipts))
	}
	mon := r.MonetaryHash
	if mon == (crypto.Hash{}) {
		mon = execution.EmptyMonetaryHash
	}

	b := s.db.NewBatch()
	defer b.Close()
	for i := range r.Changes {
		c := &r.Changes[i]
		if c.New.Exists() {
			v := c.New.Encode()
			b.Set(accountKey(c.ID), v[:], nil)
		} else {
			b.Delete(accountKey(c.ID), nil)
		}
	}
	for i := range r.Receipts {
		rc := &r.Receipts[i]
		b.Set(receiptKey(h, uint32(i)), rc.Encode(), nil)
		b.Set(idKey(pTxIndex, rc.TxID), encTxLoc(h, uint32(i)), nil)
	}
	writeExecMeta(b, h, r.TotalBurned, &r.StateHash, r.ReceiptsRoot, mon, r.ExecDigest)
	if err := b.Commit(pebble.Sync); err != nil {
		// Pebble may have applied the batch (e.g. the WAL sync failed after
		// the write): the store's in-memory metadata and cache no longer
		// reliably match the database.
		return fmt.Errorf("%w: height %d: %w", ErrCommitFailed, h, err)
	}

	s.rw.Lock()
	for i := range r.Changes {
		s.cache.put(r.Changes[i].ID, r.Changes[i].New)
	}
	s.lastExecuted, s.totalBurned, s.hash = h, r.TotalBurned, r.StateHash
	s.receiptsRoot, s.monetaryHash, s.execDigest = r.ReceiptsRoot, mon, r.ExecDigest
	s.rw.Unlock()

	s.metrics.Commits.Inc()
	s.metrics.CommitChanges.Add(float64(len(r.Changes)))
	s.metrics.LastExecuted.Set(float64(h))
	s.afterCommit(h)
	s.metrics.CommitSeconds.Observe(time.Since(start).Seconds())
	return nil
}

// ExecDigest returns the stored exec digest of height h (kept for
// retain_blocks when pruning).
func (s *Store) ExecDigest(h uint64) (crypto.Hash, error) {
	k := heightKey(pExecDigest, h)
	v, ok, err := s.get(s.db, k)
	if err != nil {
		return crypto.Hash{}, err
	}
	if !ok {
		return crypto.Hash{}, s.missing(h, "exec digest")
	}
	return decHash(k, v)
}

func (s *Store) missing(h uint64, what string) error {
	s.rw.RLock()
	pb := s.prunedBelow
	s.rw.RUnlock()
	if h < pb {
		return fmt.Errorf("%w: %s of height %d (pruned below %d)", ErrPruned, what, h, pb)
	}
	return fmt.Errorf("%w: %s of height %d", ErrNotFound, what, h)
}

// Receipts returns the receipts of height h in list order (empty when the
// block had no entries or was pruned; see ExecDigest for the difference).
func (s *Store) Receipts(h uint64) ([]execution.Receipt, error) {
	var out []execution.Receipt
	lo := heightKey(pReceipt, h)
	err := iterate(s.db, lo, prefixEnd(lo), func(k, v []byte) error {
		if len(k) != 13 {
			return corrupt(k, "receipt key of %d bytes", len(k))
		}
		rc, err := execution.DecodeReceipt(v)
		if err != nil {
			return corrupt(k, "%v", err)
		}
		out = append(out, rc)
		return nil
	})
	return out, err
}

// Receipt returns receipt i of height h.
func (s *Store) Receipt(h uint64, i uint32) (execution.Receipt, error) {
	k := receiptKey(h, i)
	v, ok, err := s.get(s.db, k)
	if err != nil {
		return execution.Receipt{}, err
	}
	if !ok {
		return execution.Receipt{}, s.missing(h, fmt.Sprintf("receipt %d", i))
	}
	rc, err := execution.DecodeReceipt(v)
	if err != nil {
		return rc, corrupt(k, "%v", err)
	}
	return rc, nil
}

// TxLocation finds the newest receipt of a tx id: its height and index.
func (s *Store) TxLocation(id types.TxID) (height uint64, index uint32, rc execution.Receipt, err error) {
	k := idKey(pTxIndex, id)
	v, ok, err := s.get(s.db, k)
	if err != nil {
		return 0, 0, rc, err
	}
	if !ok {
		return 0, 0, rc, fmt.Errorf("%w: tx %s", ErrNotFound, id)
	}
	if height, index, err = decTxLoc(k, v); err != nil {
		return 0, 0, rc, err
	}
	rc, err = s.Receipt(height, index)
	if err == nil && rc.TxID != id {
		err = corrupt(k, "tx index points at the receipt of %s", rc.TxID)
	}
	return height, index, rc, err
}

// workers is the goroutine count for lthash updates over many accounts.
func workers() int { return max(1, numCPU()) }
