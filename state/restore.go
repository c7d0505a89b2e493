package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"
)

// RestoreReport describes a restore.
type RestoreReport struct {
	Height   uint64
	Accounts uint64
	Digest   string
	Duration time.Duration
}

// Restore imports the snapshot in dir into a new, empty store described by
// opts and returns it open. It checks meta.json (strict, canonical), the
// chain id against opts.Network, the format, the SHA3-256 of every file and
// that state.bin agrees with meta.json and with the exec digest formula
// before importing anything; it then imports the accounts (behind the
// "incomplete" marker), recomputes the state digest over the imported
// keyspace and refuses a mismatch with meta.json. On any failure the data it
// wrote is removed.
//
// This proves the snapshot's integrity, not its authenticity: whoever wrote
// the snapshot can write a consistent one for any state. Replaying committed
// blocks until an exec digest certified by a QC matches (PROTOCOL.md §9, fast
// sync) is the node's job.
func Restore(ctx context.Context, dir string, opts Options) (_ *Store, _ *RestoreReport, err error) {
	start := time.Now()
	_, st, err := InspectSnapshot(dir)
	if err != nil {
		return nil, nil, err
	}
	if st.ChainID != opts.Network.ChainID() {
		return nil, nil, fmt.Errorf("%w: snapshot of chain %#x, node is %#x", ErrChainID, st.ChainID, opts.Network.ChainID())
	}
	osDir := opts.FS == nil && !opts.InMemory
	if osDir {
		entries, err := os.ReadDir(opts.Dir)
		if err == nil && len(entries) > 0 {
			return nil, nil, fmt.Errorf("%w: data dir %s", ErrNotEmpty, opts.Dir)
		}
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			return nil, nil, err
		}
	}
	s, err := open(opts, true)
	if err != nil {
		return nil, nil, err
	}
	defer func() {
		if err != nil {
			s.Close()
			if osDir {
				os.RemoveAll(opts.Dir)
			}
		}
	}()
	if err := s.requireNew(); err != nil {
		return nil, nil, err
	}
	if err := s.db.Set(metaKey(metaIncomplete), []byte("restore"), pebble.Sync); err != nil {
		return nil, nil, err
	}
	f, err := os.Open(filepath.Join(dir, AccountsFile))
	if err != nil {
		return nil, nil, err
	}
	defer f.Close()
	ar, err := newAccountsReader(f)
	if err != nil {
		return nil, nil, err
	}
	b := s.db.NewBatch()
	for n := 0; ; n++ {
		id, state, ok, err := ar.next()
		if err != nil {
			b.Close()
			return nil, nil, err
		}
		if !ok {
			break
		}
		b.Set(accountKey(id), state[:], nil)
		if n%genesisChunk == genesisChunk-1 {
			if err := commitClose(b, pebble.NoSync); err != nil {
				return nil, nil, err
			}
			if err := ctx.Err(); err != nil {
				return nil, nil, err
			}
			b = s.db.NewBatch()
		}
	}
	if err := commitClose(b, pebble.NoSync); err != nil {
		return nil, nil, err
	}
	if ar.n != st.Accounts {
		return nil, nil, fmt.Errorf("%w: %d account records, state.bin says %d", ErrSnapshot, ar.n, st.Accounts)
	}
	hash, n, err := recompute(ctx, s.db, workers())
	if err != nil {
		return nil, nil, err
	}
	if n != st.Accounts || hash.Digest() != st.StateDigest {
		return nil, nil, fmt.Errorf("%w: %w: %d accounts hash to %s, meta.json says %s", ErrSnapshot, ErrDigest,
			n, hash.Digest(), st.StateDigest)
	}
	b = s.db.NewBatch()
	defer b.Close()
	writeExecMeta(b, st.Height, st.TotalBurned, &hash, st.ReceiptsRoot, st.MonetaryHash, st.ExecDigest)
	if st.BlockID != ([32]byte{}) {
		b.Set(heightKey(pCommitted, st.Height), st.BlockID[:], nil)
	}
	b.Set(metaKey(metaLastCommitted), encU64(st.Height), nil)
	b.Set(metaKey(metaPrunedBelow), encU64(st.Height), nil)
	b.Delete(metaKey(metaIncomplete), nil)
	if err := b.Commit(pebble.Sync); err != nil {
		return nil, nil, err
	}
	s.rw.Lock()
	err = s.loadExec(s.db)
	s.rw.Unlock()
	if err != nil {
		return nil, nil, err
	}
	return s, &RestoreReport{Height: st.Height, Accounts: n, Digest: st.StateDigest.String(), Duration: time.Since(start)}, nil
}

// requireNew checks that the store holds nothing but its format and chain id.
func (s *Store) requireNew() error {
	allowed := map[string]bool{string(metaKey(metaFormat)): true, string(metaKey(metaChainID)): true}
	return iterate(s.db, nil, nil, func(k, _ []byte) error {
		if !allowed[string(k)] {
			return fmt.Errorf("%w: key %x present", ErrNotEmpty, k)
		}
		return nil
	})
}
