package state

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/crypto/lthash"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Defaults (../shared/MEASURED.md: a 64 MB memtable halves bulk commit time,
// a ~256 MB block cache brings point reads from 25 µs to 6–7.5 µs).
const (
	DefaultMemTableBytes    = 64 << 20
	DefaultBlockCacheBytes  = 256 << 20
	DefaultAccountCacheSize = 1 << 18
)

// PruneMode is archival or pruned (PROTOCOL.md §9).
type PruneMode string

const (
	Archival PruneMode = "archival"
	Pruned   PruneMode = "pruned"
)

// PruneConfig configures pruning. In Pruned mode, every Interval executed
// heights a background pass deletes blocks, QCs, commit proofs, committed
// index entries, batches, receipts, tx index entries and exec digests of
// heights below last_executed − RetainBlocks + 1, then compacts the ranges.
type PruneConfig struct {
	Mode         PruneMode
	RetainBlocks uint64 // ≥ 2 × snapshot interval on a real node (checked by the node's config)
	Interval     uint64 // 0 = only explicit Prune calls
}

// SnapshotConfig configures snapshots (PROTOCOL.md §9). Interval 0 disables them.
type SnapshotConfig struct {
	Dir      string
	Interval uint64
	Max      int // newest snapshots kept; < 1 means 1
}

// Hooks are test seams; nil members are skipped.
type Hooks struct {
	// BeforeExport runs in the export goroutine after the Pebble snapshot
	// was taken, before anything is written.
	BeforeExport func(height uint64)
	// AfterExport runs in the export goroutine when the export finished
	// (dir is the final directory, empty on failure).
	AfterExport func(height uint64, dir string, err error)
}

// Options configure Open.
type Options struct {
	// Dir is the data directory (ignored with InMemory or FS set: then it
	// names the directory inside FS, default "db").
	Dir      string
	InMemory bool           // Pebble on vfs.NewMem(): the dev profile and tests
	FS       vfs.FS         // overrides the filesystem (tests: vfs.NewCrashableMem)
	Network  crypto.Network // zero with ReadOnly: the stored chain's

	AccountCacheSize int    // LRU entries (default DefaultAccountCacheSize; < 0 disables)
	BlockCacheBytes  int64  // Pebble block cache (default DefaultBlockCacheBytes)
	MemTableBytes    uint64 // Pebble memtable (default DefaultMemTableBytes)

	DisableAutomaticCompactions bool // crash tests
	ReadOnly                    bool // qbind state verify
	// VerifyResults makes CommitExecution recompute the set hash of a sealed
	// result from the stored one (2 element evaluations per change) and
	// refuse a mismatch.
	VerifyResults bool

	Pruning   PruneConfig
	Snapshots SnapshotConfig
	Clock     func() time.Time // snapshot created_at; default time.Now
	// Registerer, if set, registers the store's metrics.
	Registerer prometheus.Registerer
	Metrics    *Metrics // use these metrics instead of new ones
	Hooks      Hooks

	testSkipLoad bool // tests: open without reading the execution metadata
}

// Store is a node's state database: accounts and their set hash, execution
// metadata, receipts and the tx index, exec digests, and the consensus store
// (blocks, QCs, commit proofs, batches). Its methods are safe for concurrent
// use; the StateView reads see the state between two execution commits.
type Store struct {
	db      *pebble.DB
	fs      vfs.FS
	dir     string
	opts    Options
	network crypto.Network
	metrics *Metrics
	cache   *accountCache

	// rw guards the in-memory copy of the execution metadata and orders
	// cache fills against commits (a miss reads Pebble and fills the cache
	// under RLock; a commit writes and updates the cache under Lock).
	rw            sync.RWMutex
	genesis       bool // last_executed exists
	lastExecuted  uint64
	lastCommitted uint64
	totalBurned   u128.U128
	hash          lthash.Hash
	receiptsRoot  crypto.Hash
	monetaryHash  crypto.Hash
	execDigest    crypto.Hash
	prunedBelow   uint64

	commitMu sync.Mutex // serializes CommitExecution / InitGenesis
	consMu   sync.Mutex // serializes consensus-store read-modify-writes
	pruneMu  sync.Mutex // serializes Prune (lock order: pruneMu, consMu, commitMu)
	exportMu sync.Mutex // serializes snapshot exports (background and ExportSnapshot)

	testPruneScanned func() // tests: runs between Prune's unlocked scan and its commit

	bgMu      sync.Mutex
	bg        sync.WaitGroup
	exporting bool
	pruning   bool
	ctx       context.Context
	cancel    context.CancelFunc
	closed    bool
}

func (o *Options) pebbleOptions(fs vfs.FS) (*pebble.Options, *pebble.Cache) {
	po := &pebble.Options{FS: fs}
	po.MemTableSize = o.MemTableBytes
	if po.MemTableSize == 0 {
		po.MemTableSize = DefaultMemTableBytes
	}
	cacheBytes := o.BlockCacheBytes
	if cacheBytes == 0 {
		cacheBytes = DefaultBlockCacheBytes
	}
	c := pebble.NewCache(cacheBytes)
	po.Cache = c
	for i := range po.Levels {
		po.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
	po.DisableAutomaticCompactions = o.DisableAutomaticCompactions
	po.ReadOnly = o.ReadOnly
	po.Logger = quietLogger{}
	po.EnsureDefaults()
	return po, c
}

// quietLogger drops Pebble's informational messages; errors still reach the
// caller through return values.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any)  {}
func (quietLogger) Errorf(string, ...any) {}
func (quietLogger) Fatalf(format string, args ...any) {
	panic(fmt.Sprintf("pebble: "+format, args...))
}

func (o *Options) fsAndDir() (vfs.FS, string, error) {
	switch {
	case o.FS != nil:
		dir := o.Dir
		if dir == "" {
			dir = "db"
		}
		return o.FS, dir, nil
	case o.InMemory:
		return vfs.NewMem(), "db", nil
	case o.Dir == "":
		return nil, "", errors.New("state: Options.Dir is empty")
	}
	return vfs.Default, o.Dir, nil
}

// Open opens (or creates) the store. A new store is empty until InitGenesis
// or Restore; a store whose genesis or restore was interrupted is refused
// with ErrIncomplete (delete the data dir and start again).
func Open(opts Options) (*Store, error) {
	return open(opts, false)
}

func open(opts Options, allowIncomplete bool) (*Store, error) {
	if !opts.Network.Valid() && !(opts.ReadOnly && opts.Network == 0) {
		return nil, fmt.Errorf("state: invalid network %d", opts.Network)
	}
	fs, dir, err := opts.fsAndDir()
	if err != nil {
		return nil, err
	}
	po, c := opts.pebbleOptions(fs)
	db, err := pebble.Open(dir, po)
	c.Unref()
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	m := opts.Metrics
	if m == nil {
		m = NewMetrics()
	}
	if opts.Registerer != nil {
		if err := m.Register(opts.Registerer); err != nil {
			db.Close()
			return nil, fmt.Errorf("state: register metrics: %w", err)
		}
	}
	if opts.Clock == nil {
		opts.Clock = time.Now
	}
	cacheSize := opts.AccountCacheSize
	if cacheSize == 0 {
		cacheSize = DefaultAccountCacheSize
	}
	s := &Store{db: db, fs: fs, dir: dir, opts: opts, network: opts.Network, metrics: m, cache: newAccountCache(cacheSize, m)}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	if err := s.load(allowIncomplete); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// get reads key; found is false for an absent key.
func (s *Store) get(r pebble.Reader, key []byte) ([]byte, bool, error) {
	v, closer, err := r.Get(key)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("state: read %x: %w", key, err)
	}
	out := append([]byte(nil), v...)
	closer.Close()
	return out, true, nil
}

// load reads the format, chain id and execution metadata.
func (s *Store) load(allowIncomplete bool) error {
	fk := metaKey(metaFormat)
	fv, ok, err := s.get(s.db, fk)
	if err != nil {
		return err
	}
	if !ok {
		// A new store: stamp format and chain id.
		if s.opts.ReadOnly {
			return fmt.Errorf("%w: %s holds no QBIND store", ErrNoGenesis, s.dir)
		}
		b := s.db.NewBatch()
		b.Set(fk, encU32(StoreFormat), nil)
		b.Set(metaKey(metaChainID), encU64(s.network.ChainID()), nil)
		if err := b.Commit(pebble.Sync); err != nil {
			return fmt.Errorf("state: write format: %w", err)
		}
		return nil
	}
	f, err := decU32(fk, fv)
	if err != nil {
		return err
	}
	if f != StoreFormat {
		return fmt.Errorf("%w: format %d, this build reads %d", ErrCorrupt, f, StoreFormat)
	}
	ck := metaKey(metaChainID)
	cv, ok, err := s.get(s.db, ck)
	if err != nil {
		return err
	}
	if !ok {
		return corrupt(ck, "missing")
	}
	cid, err := decU64(ck, cv)
	if err != nil {
		return err
	}
	if s.network == 0 { // read-only open of an existing store: adopt its chain
		if s.network, err = crypto.NetworkByChainID(cid); err != nil {
			return corrupt(ck, "%v", err)
		}
	}
	if cid != s.network.ChainID() {
		return fmt.Errorf("%w: store is %#x, node is %#x", ErrChainID, cid, s.network.ChainID())
	}
	if _, inc, err := s.get(s.db, metaKey(metaIncomplete)); err != nil {
		return err
	} else if inc && !allowIncomplete {
		return ErrIncomplete
	}
	if s.opts.testSkipLoad {
		return nil
	}
	return s.loadExec(s.db)
}

// loadExec reads the execution metadata into s (absent last_executed = no
// genesis yet).
func (s *Store) loadExec(r pebble.Reader) error {
	m, err := readExecMeta(s, r)
	if err != nil {
		return err
	}
	s.genesis = m.genesis
	s.lastExecuted, s.lastCommitted, s.totalBurned = m.lastExecuted, m.lastCommitted, m.totalBurned
	s.hash, s.receiptsRoot, s.monetaryHash, s.execDigest, s.prunedBelow = m.hash, m.receiptsRoot, m.monetaryHash, m.execDigest, m.prunedBelow
	s.metrics.LastExecuted.Set(float64(m.lastExecuted))
	s.metrics.LastCommitted.Set(float64(m.lastCommitted))
	return nil
}

type execMeta struct {
	genesis       bool
	lastExecuted  uint64
	lastCommitted uint64
	totalBurned   u128.U128
	hash          lthash.Hash
	stateDigest   crypto.Hash
	receiptsRoot  crypto.Hash
	monetaryHash  crypto.Hash
	execDigest    crypto.Hash
	prunedBelow   uint64
	blockID       types.BlockID
	haveBlockID   bool
}

// readExecMeta reads and cross-checks the execution metadata from r (the DB
// or a snapshot). Every record a genesis store must have is required.
func readExecMeta(s *Store, r pebble.Reader) (*execMeta, error) {
	m := &execMeta{}
	u64 := func(name string, required bool, dst *uint64) (bool, error) {
		k := metaKey(name)
		v, ok, err := s.get(r, k)
		if err != nil || !ok {
			if err == nil && required {
				err = corrupt(k, "missing")
			}
			return ok, err
		}
		*dst, err = decU64(k, v)
		return true, err
	}
	ok, err := u64(metaLastExecuted, false, &m.lastExecuted)
	if err != nil {
		return nil, err
	}
	if _, err := u64(metaLastCommitted, false, &m.lastCommitted); err != nil {
		return nil, err
	}
	if _, err := u64(metaPrunedBelow, false, &m.prunedBelow); err != nil {
		return nil, err
	}
	if !ok {
		return m, nil
	}
	m.genesis = true
	fixed := func(name string, fn func(k, v []byte) error) error {
		k := metaKey(name)
		v, ok, err := s.get(r, k)
		if err != nil {
			return err
		}
		if !ok {
			return corrupt(k, "missing")
		}
		return fn(k, v)
	}
	err = errors.Join(
		fixed(metaTotalBurned, func(k, v []byte) (err error) { m.totalBurned, err = decU128(k, v); return }),
		fixed(metaLtHash, func(k, v []byte) (err error) { m.hash, err = decLtHash(k, v); return }),
		fixed(metaStateDigest, func(k, v []byte) (err error) { m.stateDigest, err = decHash(k, v); return }),
		fixed(metaReceiptsRoot, func(k, v []byte) (err error) { m.receiptsRoot, err = decHash(k, v); return }),
		fixed(metaMonetaryHash, func(k, v []byte) (err error) { m.monetaryHash, err = decHash(k, v); return }),
	)
	if err != nil {
		return nil, err
	}
	if m.hash.Digest() != m.stateDigest {
		return nil, corrupt(metaKey(metaStateDigest), "state digest is not H(lthash)")
	}
	ek := heightKey(pExecDigest, m.lastExecuted)
	v, ok, err := s.get(r, ek)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, corrupt(ek, "exec digest of last_executed %d missing", m.lastExecuted)
	}
	if m.execDigest, err = decHash(ek, v); err != nil {
		return nil, err
	}
	ck := heightKey(pCommitted, m.lastExecuted)
	if v, ok, err = s.get(r, ck); err != nil {
		return nil, err
	} else if ok {
		if len(v) != 32 {
			return nil, corrupt(ck, "%d bytes, want 32", len(v))
		}
		copy(m.blockID[:], v)
		m.haveBlockID = true
	}
	return m, nil
}

// Close waits for background exports and pruning (asking them to stop) and
// closes the database.
func (s *Store) Close() error {
	s.bgMu.Lock()
	if s.closed {
		s.bgMu.Unlock()
		return ErrClosed
	}
	s.closed = true
	s.bgMu.Unlock()
	s.cancel()
	s.bg.Wait()
	return s.db.Close()
}

// Heights reports the last committed height (consensus store) and the last
// executed height (execution commits). After a crash the node re-executes
// committed blocks from lastExecuted+1.
func (s *Store) Heights() (lastCommitted, lastExecuted uint64) {
	s.rw.RLock()
	defer s.rw.RUnlock()
	return s.lastCommitted, s.lastExecuted
}

// HasGenesis reports whether the store holds an executed state.
func (s *Store) HasGenesis() bool {
	s.rw.RLock()
	defer s.rw.RUnlock()
	return s.genesis
}

// Network is the store's network.
func (s *Store) Network() crypto.Network { return s.network }

// Metrics returns the store's metrics.
func (s *Store) Metrics() *Metrics { return s.metrics }

// Account implements execution.StateView: the state of id after the last
// executed height (the zero Account if absent). A stored value that does not
// decode, or a stored (0, 0), is ErrCorrupt.
func (s *Store) Account(id types.AccountID) (types.Account, error) {
	if a, ok := s.cache.get(id); ok {
		return a, nil
	}
	s.rw.RLock()
	defer s.rw.RUnlock()
	if !s.genesis {
		return types.Account{}, ErrNoGenesis
	}
	a, err := s.readAccount(s.db, id)
	if err != nil {
		return a, err
	}
	s.cache.put(id, a)
	return a, nil
}

func (s *Store) readAccount(r pebble.Reader, id types.AccountID) (types.Account, error) {
	k := accountKey(id)
	v, closer, err := r.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return types.Account{}, nil
	}
	if err != nil {
		return types.Account{}, fmt.Errorf("state: read account %s: %w", id, err)
	}
	defer closer.Close()
	return decAccount(k, v)
}

// TotalBurned implements execution.StateView.
func (s *Store) TotalBurned() (u128.U128, error) {
	s.rw.RLock()
	defer s.rw.RUnlock()
	if !s.genesis {
		return u128.U128{}, ErrNoGenesis
	}
	return s.totalBurned, nil
}

// StateHash implements execution.StateView.
func (s *Store) StateHash() (lthash.Hash, error) {
	s.rw.RLock()
	defer s.rw.RUnlock()
	if !s.genesis {
		return lthash.Hash{}, ErrNoGenesis
	}
	return s.hash, nil
}

// StateDigest is H(lanes) of the stored set hash.
func (s *Store) StateDigest() crypto.Hash {
	s.rw.RLock()
	defer s.rw.RUnlock()
	return s.hash.Digest()
}

// LastExecDigest is the exec digest of the last executed height.
func (s *Store) LastExecDigest() crypto.Hash {
	s.rw.RLock()
	defer s.rw.RUnlock()
	return s.execDigest
}

// DiskUsage is Pebble's disk space usage in bytes (also set as a metric).
func (s *Store) DiskUsage() uint64 {
	u := s.db.Metrics().DiskSpaceUsage()
	s.metrics.DiskBytes.Set(float64(u))
	return u
}

// iterate calls fn for every key in [lo, hi) of r; fn's slices are valid
// only during the call.
func iterate(r pebble.Reader, lo, hi []byte, fn func(k, v []byte) error) error {
	it, err := r.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		v, err := it.ValueAndErr()
		if err != nil {
			it.Close()
			return err
		}
		if err := fn(it.Key(), v); err != nil {
			it.Close()
			return err
		}
	}
	return errors.Join(it.Error(), it.Close())
}

var _ io.Closer = (*Store)(nil)
