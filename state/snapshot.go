package state

import (
	"bufio"
	"context"
	"crypto/sha3"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qbind/qbind/crypto"
)

// startExport takes a Pebble snapshot of height h now (between two
// execution commits: the caller holds commitMu) and exports it in the
// background. If an export is still running the height is skipped (counted):
// the commit path never waits.
func (s *Store) startExport(h uint64) {
	if !s.startBG(&s.exporting) {
		s.metrics.SnapshotsSkipped.Inc()
		return
	}
	snap := s.db.NewSnapshot()
	go func() {
		defer s.bg.Done()
		start := time.Now()
		if f := s.opts.Hooks.BeforeExport; f != nil {
			f(h)
		}
		s.exportMu.Lock()
		dir, err := s.export(s.ctx, snap, h)
		s.exportMu.Unlock()
		snap.Close()
		if err != nil {
			s.metrics.SnapshotsFailed.Inc()
		} else {
			s.metrics.SnapshotsExported.Inc()
			s.metrics.SnapshotSeconds.Observe(time.Since(start).Seconds())
			s.metrics.SnapshotLastHeight.Set(float64(h))
		}
		// The exporter is free before AfterExport reports the export done:
		// a caller that commits the next snapshot height as soon as it hears
		// of this one must not find it still busy (the height would be
		// skipped). Close still waits for the hook (bg.Done is deferred).
		s.bgMu.Lock()
		s.exporting = false
		s.bgMu.Unlock()
		if f := s.opts.Hooks.AfterExport; f != nil {
			f(h, dir, err)
		}
	}()
}

// ExportSnapshot exports the current state (last executed height)
// synchronously into the snapshot directory, as the background export does.
// Exports (this one and the background one) run one at a time; Close stops
// and waits for it (ErrClosed once the store is closing).
func (s *Store) ExportSnapshot(ctx context.Context) (string, error) {
	if s.opts.Snapshots.Dir == "" {
		return "", errors.New("state: no snapshot directory configured")
	}
	s.bgMu.Lock()
	if s.closed {
		s.bgMu.Unlock()
		return "", ErrClosed
	}
	s.bg.Add(1)
	s.bgMu.Unlock()
	defer s.bg.Done()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)() // Close cancels it
	s.commitMu.Lock()
	snap := s.db.NewSnapshot()
	s.rw.RLock()
	h := s.lastExecuted
	s.rw.RUnlock()
	s.commitMu.Unlock()
	defer snap.Close()
	s.exportMu.Lock()
	defer s.exportMu.Unlock()
	return s.export(ctx, snap, h)
}

// export writes snapshot h into a temporary directory of the snapshot dir,
// syncs it and renames it to <height>; on any failure the temporary
// directory is removed, so nothing half-written is left. Then it removes the
// oldest snapshots beyond Max.
func (s *Store) export(ctx context.Context, snap *pebble.Snapshot, h uint64) (_ string, err error) {
	root := s.opts.Snapshots.Dir
	m, err := readExecMeta(s, snap)
	if err != nil {
		return "", err
	}
	if !m.genesis || m.lastExecuted != h {
		return "", fmt.Errorf("state: snapshot holds height %d, not %d", m.lastExecuted, h)
	}
	final := filepath.Join(root, strconv.FormatUint(h, 10))
	if _, err := os.Stat(final); err == nil {
		return final, nil // exported before a restart: keep it
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(root, fmt.Sprintf(".tmp-%d-", h))
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(tmp)
		}
	}()
	files := map[string]crypto.Hash{}
	var count uint64
	files[AccountsFile], err = writeFileHashed(filepath.Join(tmp, AccountsFile), func(w io.Writer) error {
		if _, err := io.WriteString(w, accountsMagic); err != nil {
			return err
		}
		rec := make([]byte, 0, AccountRecord)
		return iterate(snap, []byte{pAccount}, []byte{pAccount + 1}, func(k, v []byte) error {
			if len(k) != 33 {
				return corrupt(k, "account key of %d bytes", len(k))
			}
			if _, err := decAccount(k, v); err != nil {
				return err
			}
			count++
			if count%65536 == 0 {
				if err := ctx.Err(); err != nil {
					return err
				}
			}
			_, err := w.Write(append(append(rec[:0], k[1:]...), v...))
			return err
		})
	})
	if err != nil {
		return "", err
	}
	st := &SnapshotState{
		ChainID: s.network.ChainID(), Height: h, StateDigest: m.stateDigest, ExecDigest: m.execDigest,
		ReceiptsRoot: m.receiptsRoot, TotalBurned: m.totalBurned, MonetaryHash: m.monetaryHash,
		CreatedAtUnixMs: uint64(s.opts.Clock().UnixMilli()), Accounts: count,
	}
	if m.haveBlockID {
		st.BlockID = m.blockID
	}
	if err := st.check(); err != nil {
		return "", fmt.Errorf("state: stored metadata of height %d is inconsistent: %w", h, err)
	}
	files[StateFile], err = writeFileHashed(filepath.Join(tmp, StateFile), func(w io.Writer) error {
		_, err := w.Write(st.Encode())
		return err
	})
	if err != nil {
		return "", err
	}
	meta := NewSnapshotMeta(st, files).Marshal()
	if _, err = writeFileHashed(filepath.Join(tmp, MetaFile), func(w io.Writer) error {
		_, err := w.Write(meta)
		return err
	}); err != nil {
		return "", err
	}
	if err = syncDir(tmp); err != nil {
		return "", err
	}
	if err = ctx.Err(); err != nil {
		return "", err
	}
	if err = os.Rename(tmp, final); err != nil {
		return "", err
	}
	if err := syncDir(root); err != nil {
		return final, err
	}
	s.removeOldSnapshots(root)
	return final, nil
}

// writeFileHashed creates path, lets fill write it through a buffer, syncs
// and closes it, and returns the SHA3-256 of what was written.
func writeFileHashed(path string, fill func(io.Writer) error) (crypto.Hash, error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
	if err != nil {
		return crypto.Hash{}, err
	}
	h := sha3.New256()
	bw := bufio.NewWriterSize(io.MultiWriter(f, h), 1<<20)
	err = fill(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	var out crypto.Hash
	h.Sum(out[:0])
	return out, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}

// removeOldSnapshots keeps the newest Max snapshots of root (and removes
// temporary directories no running export owns: the caller holds exportMu,
// so only one export runs at a time, and it has renamed its own by now).
func (s *Store) removeOldSnapshots(root string) {
	keep := max(s.opts.Snapshots.Max, 1)
	entries, err := os.ReadDir(root)
	if err != nil {
		return
	}
	var heights []uint64
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".tmp-") {
			os.RemoveAll(filepath.Join(root, e.Name()))
			continue
		}
		if h, ok := parseHeightDir(e); ok {
			heights = append(heights, h)
		}
	}
	slices.Sort(heights)
	for len(heights) > keep {
		os.RemoveAll(filepath.Join(root, strconv.FormatUint(heights[0], 10)))
		heights = heights[1:]
	}
}

func parseHeightDir(e os.DirEntry) (uint64, bool) {
	if !e.IsDir() {
		return 0, false
	}
	h, err := strconv.ParseUint(e.Name(), 10, 64)
	if err != nil || strconv.FormatUint(h, 10) != e.Name() {
		return 0, false
	}
	return h, true
}

// SnapshotInfo is one entry of ListSnapshots.
type SnapshotInfo struct {
	Height uint64
	Dir    string
	Meta   *SnapshotMeta // nil when meta.json did not parse
	Err    error         // why meta.json did not parse
}

// ListSnapshots lists the snapshots of a snapshot directory, newest first
// (meta.json is parsed, file hashes are not checked: see InspectSnapshot).
func ListSnapshots(root string) ([]SnapshotInfo, error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []SnapshotInfo
	for _, e := range entries {
		h, ok := parseHeightDir(e)
		if !ok {
			continue
		}
		info := SnapshotInfo{Height: h, Dir: filepath.Join(root, e.Name())}
		b, err := readCapped(filepath.Join(info.Dir, MetaFile), maxMetaJSON)
		if err == nil {
			info.Meta, _, _, err = ParseSnapshotMeta(b)
		}
		if err == nil && info.Meta.Height != h {
			err = fmt.Errorf("%w: directory %d holds height %d", ErrSnapshot, h, info.Meta.Height)
		}
		info.Err = err
		out = append(out, info)
	}
	slices.SortFunc(out, func(a, b SnapshotInfo) int { return -cmpU64(a.Height, b.Height) })
	return out, nil
}

func cmpU64(a, b uint64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func readCapped(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err == nil && int64(len(b)) > limit {
		err = fmt.Errorf("%w: %s is over %d bytes", ErrSnapshot, path, limit)
	}
	return b, err
}

// InspectSnapshot checks a snapshot directory without importing it:
// meta.json parses, the directory holds exactly meta.json and the listed
// files, every file's SHA3-256 matches, state.bin equals meta.json and
// accounts.bin holds the announced number of records. It does not recompute
// the state digest (Restore does).
func InspectSnapshot(dir string) (*SnapshotMeta, *SnapshotState, error) {
	b, err := readCapped(filepath.Join(dir, MetaFile), maxMetaJSON)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	meta, st, files, err := ParseSnapshotMeta(b)
	if err != nil {
		return nil, nil, err
	}
	if base := filepath.Base(filepath.Clean(dir)); base != strconv.FormatUint(st.Height, 10) {
		return nil, nil, fmt.Errorf("%w: directory %q holds height %d", ErrSnapshot, base, st.Height)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	for _, e := range entries {
		if _, ok := files[e.Name()]; !ok && e.Name() != MetaFile {
			return nil, nil, fmt.Errorf("%w: unlisted file %s", ErrSnapshot, e.Name())
		}
	}
	for _, name := range slices.Sorted(maps.Keys(files)) {
		got, err := hashFile(filepath.Join(dir, name))
		if err != nil {
			return nil, nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
		}
		if got != files[name] {
			return nil, nil, fmt.Errorf("%w: %s has SHA3-256 %s, meta.json says %s", ErrSnapshot, name, got, files[name])
		}
	}
	sb, err := readCapped(filepath.Join(dir, StateFile), SnapshotStateLen)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %w", ErrSnapshot, err)
	}
	st2, err := DecodeSnapshotState(sb)
	if err != nil {
		return nil, nil, err
	}
	if *st2 != *st {
		return nil, nil, fmt.Errorf("%w: %s and %s disagree", ErrSnapshot, MetaFile, StateFile)
	}
	fi, err := os.Stat(filepath.Join(dir, AccountsFile))
	if err != nil {
		return nil, nil, err
	}
	if want := int64(len(accountsMagic)) + int64(st.Accounts)*AccountRecord; st.Accounts > 1<<40 || fi.Size() != want {
		return nil, nil, fmt.Errorf("%w: %s is %d bytes, %d accounts need %d", ErrSnapshot, AccountsFile, fi.Size(), st.Accounts, want)
	}
	return meta, st, nil
}

func hashFile(path string) (crypto.Hash, error) {
	f, err := os.Open(path)
	if err != nil {
		return crypto.Hash{}, err
	}
	defer f.Close()
	h := sha3.New256()
	if _, err := io.Copy(h, bufio.NewReaderSize(f, 1<<20)); err != nil {
		return crypto.Hash{}, err
	}
	var out crypto.Hash
	h.Sum(out[:0])
	return out, nil
}
