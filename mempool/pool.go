package mempool

import (
	"container/heap"
	"fmt"
	"math/big"
	"slices"

	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// AccountView reads committed account state (the state after the last
// executed height). execution.StateView satisfies it. Errors are storage
// failures.
type AccountView interface {
	Account(id types.AccountID) (types.Account, error)
}

// Entry is one pooled transaction. Fields are read-only for callers.
type Entry struct {
	Tx      *types.CheckedTx
	Cost    u128.U128 // gas_limit × max_fee_per_gas + amount (saturated at 2^128−1)
	arrival uint64
	batched bool
	q       *senderQueue
	heapIdx int // index in the tails heap, −1 if absent
}

// Nonce is the transaction's nonce.
func (e *Entry) Nonce() uint64 { return e.Tx.Tx.Nonce }

// Size is len(raw).
func (e *Entry) Size() int { return len(e.Tx.Raw) }

// Batched reports whether the entry sits in one of this node's pending batches.
func (e *Entry) Batched() bool { return e.batched }

// Arrival is the admission sequence number (the third priority key).
func (e *Entry) Arrival() uint64 { return e.arrival }

// senderQueue holds one sender's txs with contiguous nonces base, base+1, …
// Batched entries always form a prefix (the per-sender run rule).
type senderQueue struct {
	id    types.AccountID
	base  uint64 // account nonce when last checked
	txs   []*Entry
	bytes int64
	cost  u128.U128 // Σ Cost, saturated
}

func (q *senderQueue) tail() *Entry {
	if len(q.txs) == 0 {
		return nil
	}
	return q.txs[len(q.txs)-1]
}

// Pool is the transaction pool core: single-threaded, no I/O except reads
// through the AccountView it is given, no clock (time comes in as nowMs).
// Both disciplines (fee priority and FIFO) are this type; Ordering selects.
type Pool struct {
	cfg     Config
	view    AccountView
	senders map[types.AccountID]*senderQueue
	byID    map[types.TxID]*Entry
	count   int
	bytes   int64
	arrival uint64
	tails   tailHeap // evictable entries: each sender's last tx if unbatched

	winStart uint64
	winCount int
	winOpen  bool

	Metrics Metrics
}

// New returns an empty pool reading account state through view.
func New(cfg Config, view AccountView) (*Pool, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	p := &Pool{cfg: cfg, view: view, senders: map[types.AccountID]*senderQueue{}, byID: map[types.TxID]*Entry{}}
	p.tails.p = p
	p.Metrics.init()
	return p, nil
}

// Config returns the pool's configuration.
func (p *Pool) Config() Config { return p.cfg }

// Len is the number of pooled transactions.
func (p *Pool) Len() int { return p.count }

// Bytes is Σ len(raw) over pooled transactions.
func (p *Pool) Bytes() int64 { return p.bytes }

// Get returns the pooled entry with id, or nil.
func (p *Pool) Get(id types.TxID) *Entry { return p.byID[id] }

// SenderLen is the number of pooled transactions of sender.
func (p *Pool) SenderLen(sender types.AccountID) int {
	if q := p.senders[sender]; q != nil {
		return len(q.txs)
	}
	return 0
}

// Add admits a raw transaction: size cap, then stateless validity through
// checker (decode, sender via the key cache, tx_id, payload rules, signature
// once), then AddChecked. Drivers that verify in a worker pool call
// checker.Check themselves and feed AddChecked in order.
func (p *Pool) Add(checker *types.Checker, raw []byte, nowMs uint64) (*Entry, error) {
	if len(raw) > types.MaxTxSize {
		p.Metrics.reject(ErrTooLarge)
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTooLarge, len(raw), types.MaxTxSize)
	}
	ct, err := checker.Check(raw)
	if err != nil {
		p.Metrics.reject(err)
		return nil, err
	}
	return p.AddChecked(ct, nowMs)
}

// RecordRejection counts a rejection that happened before AddChecked (size
// cap or stateless validity in a driver's worker pool).
func (p *Pool) RecordRejection(err error) { p.Metrics.reject(err) }

// AddChecked runs the state checks on a transaction that passed stateless
// validity and pools it: duplicates, contiguous nonces from the account
// nonce, per-sender caps, the cumulative balance check, replace-by-fee, then
// room (evicting lower-priority txs of other senders within the rate limit).
func (p *Pool) AddChecked(ct *types.CheckedTx, nowMs uint64) (*Entry, error) {
	e, err := p.addChecked(ct, nowMs)
	if err != nil {
		p.Metrics.reject(err)
		return nil, err
	}
	p.Metrics.Admitted++
	return e, nil
}

func (p *Pool) addChecked(ct *types.CheckedTx, nowMs uint64) (*Entry, error) {
	if len(ct.Raw) > types.MaxTxSize {
		return nil, ErrTooLarge
	}
	if _, ok := p.byID[ct.ID]; ok {
		return nil, ErrDuplicate
	}
	acct, err := p.view.Account(ct.Sender)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrState, err)
	}
	q := p.senders[ct.Sender]
	if q != nil && q.base != acct.Nonce {
		p.recheckQueue(q, acct)
		q = p.senders[ct.Sender]
	}
	nonce := ct.Tx.Nonce
	if nonce < acct.Nonce {
		return nil, fmt.Errorf("%w: %d < %d", ErrNonceTooLow, nonce, acct.Nonce)
	}
	n := 0
	if q != nil {
		n = len(q.txs)
	}
	idx := nonce - acct.Nonce
	if idx > uint64(n) {
		return nil, fmt.Errorf("%w: nonce %d, next expected %d", ErrNonceGap, nonce, acct.Nonce+uint64(n))
	}
	e := &Entry{Tx: ct, Cost: txCost(ct), heapIdx: -1}
	var old *Entry
	if idx < uint64(n) {
		old = q.txs[idx]
		if p.cfg.Ordering == FIFO {
			return nil, ErrNonceTaken
		}
		if old.batched {
			return nil, ErrReplaceBatched
		}
		if !p.bumpOK(old.Tx.Transfer.MaxFeePerGas, ct.Transfer.MaxFeePerGas) {
			return nil, fmt.Errorf("%w: %s → %s (+%d%% needed)", ErrReplaceUnderpriced,
				old.Tx.Transfer.MaxFeePerGas, ct.Transfer.MaxFeePerGas, p.cfg.ReplaceBumpPercent)
		}
	}
	// Per-sender caps and the cumulative balance check.
	senderBytes, senderCost, senderCount := int64(0), u128.Zero, 0
	if q != nil {
		senderBytes, senderCost, senderCount = q.bytes, q.cost, len(q.txs)
	}
	if old != nil {
		senderBytes -= int64(old.Size())
		senderCost = satSub(senderCost, old.Cost)
		senderCount--
	}
	if senderCount+1 > p.cfg.MaxTxsPerSender {
		return nil, fmt.Errorf("%w (%d)", ErrSenderCountCap, p.cfg.MaxTxsPerSender)
	}
	if senderBytes+int64(e.Size()) > p.cfg.MaxBytesPerSender {
		return nil, fmt.Errorf("%w (%d bytes)", ErrSenderBytesCap, p.cfg.MaxBytesPerSender)
	}
	if p.cfg.CheckBalance {
		total, ok := senderCost.Add(e.Cost)
		if !ok || e.Cost == u128.Max || acct.Balance.Less(total) {
			return nil, fmt.Errorf("%w: balance %s", ErrInsufficientBalance, acct.Balance)
		}
	}
	// Room in the pool.
	freeCount, freeBytes := 0, int64(0)
	if old != nil {
		freeCount, freeBytes = 1, int64(old.Size())
	}
	needCount := p.count + 1 - freeCount - p.cfg.MaxTxs
	needBytes := p.bytes + int64(e.Size()) - freeBytes - p.cfg.MaxBytes
	e.arrival = p.arrival // provisional: the priority of the candidate
	if needCount > 0 || needBytes > 0 {
		if err := p.evictFor(e, ct.Sender, needCount, needBytes, nowMs); err != nil {
			return nil, err
		}
	}
	// Commit.
	p.arrival++
	if q == nil {
		q = &senderQueue{id: ct.Sender, base: acct.Nonce}
		p.senders[ct.Sender] = q
	}
	e.q = q
	if old != nil {
		p.tails.remove(old)
		delete(p.byID, old.Tx.ID)
		q.txs[idx] = e
		q.bytes -= int64(old.Size())
		q.cost = satSub(q.cost, old.Cost)
		p.count--
		p.bytes -= int64(old.Size())
		p.Metrics.Replaced++
	} else {
		p.tails.remove(q.tail())
		q.txs = append(q.txs, e)
	}
	q.bytes += int64(e.Size())
	q.cost = satAdd(q.cost, e.Cost)
	p.byID[ct.ID] = e
	p.count++
	p.bytes += int64(e.Size())
	p.fixTail(q)
	return e, nil
}

// bumpOK reports new ≥ old × (100 + bump) / 100, exactly.
func (p *Pool) bumpOK(old, repl u128.U128) bool {
	l := repl.Big()
	l.Mul(l, big.NewInt(100))
	r := old.Big()
	r.Mul(r, new(big.Int).SetUint64(100+p.cfg.ReplaceBumpPercent))
	return l.Cmp(r) >= 0
}

func txCost(ct *types.CheckedTx) u128.U128 {
	fee, ok := ct.Transfer.MaxCost()
	if !ok {
		return u128.Max
	}
	return satAdd(fee, ct.Transfer.Amount)
}

func satAdd(a, b u128.U128) u128.U128 {
	s, ok := a.Add(b)
	if !ok {
		return u128.Max
	}
	return s
}

func satSub(a, b u128.U128) u128.U128 {
	if a == u128.Max {
		return a // saturated sums stay saturated until the queue is rebuilt
	}
	s, ok := a.Sub(b)
	if !ok {
		return u128.Zero
	}
	return s
}

// higher reports whether a has strictly higher priority than b.
func (p *Pool) higher(a, b *Entry) bool {
	if p.cfg.Ordering == FeePriority {
		if c := a.Tx.Transfer.MaxFeePerGas.Cmp(b.Tx.Transfer.MaxFeePerGas); c != 0 {
			return c > 0
		}
		if a.Tx.IntrinsicGas != b.Tx.IntrinsicGas {
			return a.Tx.IntrinsicGas < b.Tx.IntrinsicGas
		}
	}
	return a.arrival < b.arrival
}

// Higher reports whether a has strictly higher priority than b
// ((max_fee_per_gas, −intrinsic_gas, arrival), or arrival for FIFO).
func (p *Pool) Higher(a, b *Entry) bool { return p.higher(a, b) }

// fixTail puts q's last tx in the tails heap if it is unbatched.
func (p *Pool) fixTail(q *senderQueue) {
	if t := q.tail(); t != nil && !t.batched && t.heapIdx < 0 {
		heap.Push(&p.tails, t)
	}
}

// evictFor makes room for e (from sender) by evicting the lowest-priority
// evictable txs of other senders, all of strictly lower priority than e,
// within the rate limit. It changes nothing when it fails.
func (p *Pool) evictFor(e *Entry, sender types.AccountID, needCount int, needBytes int64, nowMs uint64) error {
	if p.cfg.Ordering == FIFO {
		return ErrPoolFull
	}
	type step struct {
		victim  *Entry
		pushed  *Entry // predecessor made a candidate
		skipped bool   // e's own sender: set aside, not evicted
	}
	var plan []step
	undo := func() {
		for i := len(plan) - 1; i >= 0; i-- {
			s := plan[i]
			if s.pushed != nil {
				p.tails.remove(s.pushed)
			}
			heap.Push(&p.tails, s.victim)
		}
	}
	evictions := 0
	for needCount > 0 || needBytes > 0 {
		if p.tails.Len() == 0 {
			undo()
			return ErrPoolFull
		}
		v := heap.Pop(&p.tails).(*Entry)
		if v.q.id == sender {
			plan = append(plan, step{victim: v, skipped: true})
			continue
		}
		if !p.higher(e, v) {
			heap.Push(&p.tails, v)
			undo()
			return ErrPoolFull
		}
		s := step{victim: v}
		// v is the tail of its queue as planned so far: its predecessor
		// becomes the sender's evictable tail.
		if i := slices.Index(v.q.txs, v) - 1; i >= 0 && !v.q.txs[i].batched {
			s.pushed = v.q.txs[i]
			heap.Push(&p.tails, s.pushed)
		}
		plan = append(plan, s)
		evictions++
		needCount--
		needBytes -= int64(v.Size())
	}
	// Rate limit.
	if p.cfg.EvictionMode != EvictionOff {
		if !p.winOpen || nowMs >= p.winStart+p.cfg.EvictionIntervalMs {
			p.winOpen, p.winStart, p.winCount = true, nowMs, 0
		}
		if p.winCount+evictions > p.cfg.MaxEvictionsPerInterval {
			if p.cfg.EvictionMode == EvictionEnforce {
				undo()
				return ErrEvictionRateLimited
			}
			p.Metrics.EvictionsOverLimit += uint64(p.winCount + evictions - max(p.cfg.MaxEvictionsPerInterval, p.winCount))
		}
		p.winCount += evictions
	}
	for _, s := range plan {
		if s.skipped {
			heap.Push(&p.tails, s.victim)
			continue
		}
		// The victim is its sender's last tx (victims of one sender come
		// tail first); its predecessor (if any) is already in the heap.
		q := s.victim.q
		if q.tail() != s.victim {
			panic("mempool: eviction plan out of tail order")
		}
		q.txs = q.txs[:len(q.txs)-1]
		p.dropAccounting(s.victim)
		if len(q.txs) == 0 {
			delete(p.senders, q.id)
		}
		p.Metrics.Evicted++
	}
	return nil
}

// dropAccounting removes e from the id index and the pool/sender totals (not
// from its queue slice, nor from the heap).
func (p *Pool) dropAccounting(e *Entry) {
	delete(p.byID, e.Tx.ID)
	e.q.bytes -= int64(e.Size())
	e.q.cost = satSub(e.q.cost, e.Cost)
	p.count--
	p.bytes -= int64(e.Size())
}

// Mempool is the interface the node and the batch builder use; *Pool
// implements it in both orderings (NewFIFO gives the dev profiles' pool).
type Mempool interface {
	Add(checker *types.Checker, raw []byte, nowMs uint64) (*Entry, error)
	AddChecked(ct *types.CheckedTx, nowMs uint64) (*Entry, error)
	RecordRejection(err error)
	Get(id types.TxID) *Entry
	Len() int
	Bytes() int64
	Iterate(visit func(*Entry) Verdict)
	MarkBatched(ids []types.TxID)
	Unbatch(ids []types.TxID)
	OnBlock(outcomes []TxOutcome) error
	Recheck(senders []types.AccountID) error
}

var _ Mempool = (*Pool)(nil)

// NewFIFO returns a pool with FIFO ordering (dev profiles only): arrival
// order, no replace-by-fee, no eviction.
func NewFIFO(cfg Config, view AccountView) (*Pool, error) {
	cfg.Ordering = FIFO
	return New(cfg, view)
}
