package stageb

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/types"
)

// Config is node configuration (never genesis): Stage B on or off and the
// size of its worker pool. Results do not depend on either.
type Config struct {
	Enabled bool
	// Workers bounds the goroutines that execute one level and update the
	// digest; 0 means runtime.GOMAXPROCS(0), 1 runs everything on the caller.
	Workers int
}

// ErrConfig is returned by Validate.
var ErrConfig = errors.New("stageb: invalid config")

// MaxWorkers bounds Config.Workers.
const MaxWorkers = 256

// Validate checks 0 ≤ Workers ≤ MaxWorkers.
func (c Config) Validate() error {
	if c.Workers < 0 || c.Workers > MaxWorkers {
		return fmt.Errorf("%w: workers %d not in [0, %d]", ErrConfig, c.Workers, MaxWorkers)
	}
	return nil
}

// EffectiveWorkers is the worker count Workers stands for.
func (c Config) EffectiveWorkers() int { return c.workers() }

func (c Config) workers() int {
	if c.Workers <= 0 {
		return runtime.GOMAXPROCS(0)
	}
	return min(c.Workers, MaxWorkers)
}

// Tuning. A level smaller than minParallelLevel runs on the caller: starting
// goroutines costs more than ~1 µs txs. A block whose graph averages fewer
// than minAvgWidth txs per level is chain-shaped and runs sequentially.
const (
	minParallelLevel = 32
	minChunk         = 16
	minAvgWidth      = 4
)

// Stats describes one executed block, for metrics.
type Stats struct {
	Txs       int   // entries of the canonical list
	Scheduled int   // txs that reached the state-dependent step (not statically skipped)
	Accounts  int   // distinct accounts they touch
	Levels    int   // levels of the conflict graph (0 when nothing was scheduled)
	LevelTxs  []int // txs per level, LevelTxs[0] = level 1; valid during the callback only
	// Sequential is true when the block ran in order on the caller: Stage B
	// disabled, one worker, or a chain-shaped graph.
	Sequential bool
	// Durations, measured with Metrics.Now (zero when it is nil): the static
	// pass and conflict graph, the state-dependent execution, Finish
	// (block-end deltas, receipts root) and the digest update.
	Schedule, Exec, Finish, Digest time.Duration
}

// Metrics are optional hooks; nil fields are skipped. They run on the
// caller's goroutine after the block.
type Metrics struct {
	// Now is the clock for Stats durations (inject time.Now; nil: no timing —
	// the core never reads a clock itself).
	Now func() time.Time
	// Block is called once per executed block.
	Block func(Stats)
}

// Executor runs blocks with Stage B. It reuses its buffers from block to
// block, so it runs one block at a time (not safe for concurrent use).
type Executor struct {
	cfg     Config
	metrics Metrics
	// Tuning (the constants above; tests lower them to force the parallel
	// path on small blocks).
	minParallelLevel, minChunk, minAvgWidth int

	// Per-block account handles: the conflict graph and the state cache are
	// slices indexed by handle, so a tx costs two map lookups, once.
	handle map[types.AccountID]int32
	ids    []types.AccountID
	old    []types.Account
	cur    []types.Account
	last   []int32 // level of the last scheduled tx touching the account

	hs, hr   []int32 // per item: sender and recipient handles (−1 if not scheduled)
	level    []int32 // per item: level (0 if not scheduled)
	width    []int   // txs per level
	start    []int32 // per level: offset into byLevel
	byLevel  []int32 // scheduled item indices grouped by level, position order inside
	chunkErr []chunkErr
}

type chunkErr struct {
	pos int
	err error
}

// New returns an executor; cfg must pass Validate.
func New(cfg Config, m Metrics) (*Executor, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	return &Executor{cfg: cfg, metrics: m, handle: make(map[types.AccountID]int32),
		minParallelLevel: minParallelLevel, minChunk: minChunk, minAvgWidth: minAvgWidth}, nil
}

// Config returns the configuration.
func (x *Executor) Config() Config { return x.cfg }

// Execute runs b and seals the result: the same BlockResult as
// execution.Execute, byte for byte. With Stage B enabled the digest update
// also uses the worker pool.
func (x *Executor) Execute(env *execution.Env, view execution.StateView, b *execution.Block) (*execution.BlockResult, error) {
	var st Stats
	res, err := x.run(env, view, b, &st)
	if err != nil {
		return nil, err
	}
	prev, err := view.StateHash()
	if err != nil {
		return nil, fmt.Errorf("%w: state hash: %w", execution.ErrStateRead, err)
	}
	t := x.now()
	w := 1
	if x.cfg.Enabled {
		w = x.cfg.workers()
	}
	res.Seal(prev, w)
	st.Digest = x.since(t)
	if x.metrics.Block != nil {
		x.metrics.Block(st)
	}
	return res, nil
}

// Run is Execute without Seal (no digests), for measuring execution alone.
func (x *Executor) Run(env *execution.Env, view execution.StateView, b *execution.Block) (*execution.BlockResult, error) {
	var st Stats
	res, err := x.run(env, view, b, &st)
	if err == nil && x.metrics.Block != nil {
		x.metrics.Block(st)
	}
	return res, err
}

func (x *Executor) now() time.Time {
	if x.metrics.Now == nil {
		return time.Time{}
	}
	return x.metrics.Now()
}

func (x *Executor) since(t time.Time) time.Duration {
	if x.metrics.Now == nil {
		return 0
	}
	return x.metrics.Now().Sub(t)
}

func (x *Executor) run(env *execution.Env, view execution.StateView, b *execution.Block, st *Stats) (*execution.BlockResult, error) {
	if !x.cfg.Enabled {
		t := x.now()
		res, err := execution.Run(env, view, b)
		st.Exec = x.since(t)
		st.Txs, st.Sequential = len(b.Entries), true
		return res, err
	}
	p := &env.Params
	if p.Engine != types.EngineNonceOnly && p.Engine != types.EngineVMv0 {
		return nil, fmt.Errorf("%w: %d", execution.ErrBadEngine, p.Engine)
	}
	t := x.now()
	items := execution.Prepare(p, b.Entries)
	receipts := make([]execution.Receipt, len(items))
	if err := x.schedule(view, items, receipts, st); err != nil {
		return nil, err
	}
	st.Schedule = x.since(t)

	t = x.now()
	workers := x.cfg.workers()
	var err error
	if workers <= 1 || st.Levels*x.minAvgWidth > st.Scheduled {
		st.Sequential = true
		err = x.runSequential(p, items, receipts)
	} else {
		err = x.runLevels(p, items, receipts, workers)
	}
	st.Exec = x.since(t)
	if err != nil {
		return nil, err
	}

	t = x.now()
	touched := make([]execution.Touched, len(x.ids))
	for h := range x.ids {
		touched[h] = execution.Touched{ID: x.ids[h], Old: x.old[h], New: x.cur[h]}
	}
	res, err := execution.Finish(env, view, b, receipts, touched, func(id types.AccountID) int {
		if h, ok := x.handle[id]; ok {
			return int(h)
		}
		return -1
	})
	st.Finish = x.since(t)
	return res, err
}

// schedule fills the static receipts, loads every account the scheduled txs
// touch (in position order, from the caller's goroutine) and levels the
// conflict graph: level(tx) = 1 + max(level of the last earlier tx touching
// its sender, of the last touching its recipient).
func (x *Executor) schedule(view execution.StateView, items []execution.Item, receipts []execution.Receipt, st *Stats) error {
	clear(x.handle)
	x.ids, x.old, x.cur, x.last = x.ids[:0], x.old[:0], x.cur[:0], x.last[:0]
	n := len(items)
	x.hs, x.hr, x.level = resize(x.hs, n), resize(x.hr, n), resize(x.level, n)
	x.width = x.width[:0]
	st.Txs = n
	for i := range items {
		it := &items[i]
		if it.Skip != execution.SkipNone {
			receipts[i] = it.StaticReceipt()
			x.hs[i], x.hr[i], x.level[i] = -1, -1, 0
			continue
		}
		s, err := x.handleOf(view, it.Entry.Sender)
		if err != nil {
			return err
		}
		r, err := x.handleOf(view, it.Transfer.Recipient)
		if err != nil {
			return err
		}
		l := 1 + max(x.last[s], x.last[r])
		x.last[s], x.last[r] = l, l
		x.hs[i], x.hr[i], x.level[i] = s, r, l
		if int(l) > len(x.width) {
			x.width = append(x.width, 0)
		}
		x.width[l-1]++
		st.Scheduled++
	}
	st.Accounts = len(x.ids)
	st.Levels = len(x.width)
	st.LevelTxs = x.width
	return nil
}

func (x *Executor) handleOf(view execution.StateView, id types.AccountID) (int32, error) {
	if h, ok := x.handle[id]; ok {
		return h, nil
	}
	a, err := view.Account(id)
	if err != nil {
		return 0, fmt.Errorf("%w: account %s: %w", execution.ErrStateRead, id, err)
	}
	h := int32(len(x.ids))
	x.handle[id] = h
	x.ids = append(x.ids, id)
	x.old = append(x.old, a)
	x.cur = append(x.cur, a)
	x.last = append(x.last, 0)
	return h, nil
}

func resize(s []int32, n int) []int32 {
	if cap(s) < n {
		return make([]int32, n)
	}
	return s[:n]
}

// runSequential is the fallback: block order on the caller, over the same
// state cache.
func (x *Executor) runSequential(p *types.ExecParams, items []execution.Item, receipts []execution.Receipt) error {
	for i := range items {
		if x.level[i] == 0 {
			continue
		}
		var err error
		if receipts[i], err = execution.ApplyTx(p, &items[i], &x.cur[x.hs[i]], &x.cur[x.hr[i]]); err != nil {
			return err
		}
	}
	return nil
}

// runLevels executes level after level; inside a level no two txs share an
// account, so they run concurrently on at most `workers` goroutines (the
// caller is one of them), each writing only its txs' receipts and accounts.
// Receipts are indexed by position, accounts by handle: the merge is the
// identity and does not depend on the schedule.
func (x *Executor) runLevels(p *types.ExecParams, items []execution.Item, receipts []execution.Receipt, workers int) error {
	// Counting sort of the scheduled items by level, stable in position.
	nl := len(x.width)
	x.start = resize(x.start, nl+1)
	x.start[0] = 0
	for l := range nl {
		x.start[l+1] = x.start[l] + int32(x.width[l])
	}
	x.byLevel = resize(x.byLevel, int(x.start[nl]))
	fill := resize(nil, nl)
	copy(fill, x.start[:nl])
	for i, l := range x.level {
		if l > 0 {
			x.byLevel[fill[l-1]] = int32(i)
			fill[l-1]++
		}
	}
	if cap(x.chunkErr) < workers {
		x.chunkErr = make([]chunkErr, workers)
	}
	errs := x.chunkErr[:workers]

	apply := func(idx []int32) chunkErr {
		for _, i := range idx {
			r, err := execution.ApplyTx(p, &items[i], &x.cur[x.hs[i]], &x.cur[x.hr[i]])
			if err != nil {
				return chunkErr{pos: int(i), err: err}
			}
			receipts[i] = r
		}
		return chunkErr{pos: -1}
	}
	for l := range nl {
		level := x.byLevel[x.start[l]:x.start[l+1]]
		k := min(workers, len(level)/x.minChunk)
		if len(level) < x.minParallelLevel || k <= 1 {
			if e := apply(level); e.err != nil {
				return e.err
			}
			continue
		}
		var wg sync.WaitGroup
		for c := 1; c < k; c++ {
			part := level[c*len(level)/k : (c+1)*len(level)/k]
			wg.Go(func() { errs[c] = apply(part) })
		}
		errs[0] = apply(level[:len(level)/k])
		wg.Wait()
		// The error of the lowest position wins; later levels never run.
		first := chunkErr{pos: -1}
		for _, e := range errs[:k] {
			if e.err != nil && (first.err == nil || cmp.Less(e.pos, first.pos)) {
				first = e
			}
		}
		if first.err != nil {
			return first.err
		}
	}
	return nil
}
