package mempool

import (
	"errors"
	"fmt"
	"testing"

	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
	"pgregory.net/rapid"
)

// model is a naive reference pool: plain slices, linear scans, admission
// rules written out directly from PROTOCOL.md §7.
type model struct {
	maxTxs   int
	maxBytes int
	nonce    map[int]uint64
	balance  map[int]uint64
	txs      []*mtx // pooled, any order
	arrival  uint64
}

type mtx struct {
	f       fakeTx
	id      types.TxID
	arrival uint64
	batched bool
}

func (m *model) cost(f fakeTx) uint64 { return f.gas*f.fee + f.amount }

// mhigher is the priority order written independently of Pool.higher.
func mhigher(a, b *mtx) bool {
	if a.f.fee != b.f.fee {
		return a.f.fee > b.f.fee
	}
	if a.f.gas != b.f.gas {
		return a.f.gas < b.f.gas
	}
	return a.arrival < b.arrival
}

func (m *model) senderTxs(s int) []*mtx {
	var out []*mtx
	for n := m.nonce[s]; ; n++ {
		found := false
		for _, t := range m.txs {
			if t.f.sender == s && t.f.nonce == n {
				out = append(out, t)
				found = true
			}
		}
		if !found {
			return out
		}
	}
}

func (m *model) add(f fakeTx) error {
	id := f.checked().ID
	for _, t := range m.txs {
		if t.id == id {
			return ErrDuplicate
		}
	}
	if f.nonce < m.nonce[f.sender] {
		return ErrNonceTooLow
	}
	q := m.senderTxs(f.sender)
	idx := int(f.nonce - m.nonce[f.sender])
	if idx > len(q) {
		return ErrNonceGap
	}
	var old *mtx
	total := uint64(0)
	for _, t := range q {
		total += m.cost(t.f)
	}
	if idx < len(q) {
		old = q[idx]
		if old.batched {
			return ErrReplaceBatched
		}
		if f.fee*100 < old.f.fee*110 {
			return ErrReplaceUnderpriced
		}
		total -= m.cost(old.f)
	}
	if total+m.cost(f) > m.balance[f.sender] {
		return ErrInsufficientBalance
	}
	nt := &mtx{f: f, id: id, arrival: m.arrival}
	n := len(m.txs)
	bytes := 0
	for _, t := range m.txs {
		bytes += t.f.size
	}
	if old != nil {
		n--
		bytes -= old.f.size
	}
	// Evict: repeatedly the lowest-priority unbatched last tx of another
	// sender, which must be strictly below the new tx, until both bounds hold.
	var evicted []*mtx
	for n+1 > m.maxTxs || bytes+f.size > m.maxBytes {
		var low *mtx
		for s := range m.nonce {
			if s == f.sender {
				continue
			}
			st := m.senderTxs(s)
			st = removeAll(st, evicted)
			if len(st) == 0 || st[len(st)-1].batched {
				continue
			}
			if t := st[len(st)-1]; low == nil || mhigher(low, t) {
				low = t
			}
		}
		if low == nil || !mhigher(nt, low) {
			return ErrPoolFull
		}
		evicted = append(evicted, low)
		n--
		bytes -= low.f.size
	}
	m.txs = removeAll(m.txs, evicted)
	if old != nil {
		m.txs = removeAll(m.txs, []*mtx{old})
	}
	m.txs = append(m.txs, nt)
	m.arrival++
	return nil
}

func removeAll(ts, drop []*mtx) []*mtx {
	var out []*mtx
outer:
	for _, t := range ts {
		for _, d := range drop {
			if t == d {
				continue outer
			}
		}
		out = append(out, t)
	}
	return out
}

// ordered: repeatedly the highest-priority tx among each batchable sender's
// next untaken nonce.
func (m *model) ordered() []types.TxID {
	next := map[int]int{}
	var out []types.TxID
	for {
		var best *mtx
		for s := range m.nonce {
			st := m.senderTxs(s)
			if len(st) == 0 || st[0].batched {
				continue
			}
			i := next[s]
			if i >= len(st) || st[i].batched {
				continue
			}
			if best == nil || mhigher(st[i], best) {
				best = st[i]
			}
		}
		if best == nil {
			return out
		}
		next[best.f.sender]++
		out = append(out, best.id)
	}
}

// TestOrderingAgainstModel drives the pool and the naive model with the same
// random admissions, batch markings and executions, and requires the same
// admission decisions and the same batching order (priority order
// respecting nonce order).
func TestOrderingAgainstModel(t *testing.T) {
	rapid.Check(t, func(rt *rapid.T) {
		senders := rapid.IntRange(1, 5).Draw(rt, "senders")
		maxTxs := rapid.IntRange(2, 25).Draw(rt, "maxTxs")
		v := newView()
		maxBytes := rapid.IntRange(1000, 30000).Draw(rt, "maxBytes")
		m := &model{maxTxs: maxTxs, maxBytes: maxBytes, nonce: map[int]uint64{}, balance: map[int]uint64{}}
		for s := range senders {
			bal := rapid.Uint64Range(0, 5_000_000).Draw(rt, fmt.Sprintf("bal%d", s))
			m.nonce[s], m.balance[s] = 0, bal
			v.accts[sender(s)] = types.Account{Balance: u128.From64(bal)}
		}
		c := testConfig()
		c.MaxTxs = maxTxs
		c.MaxBytes = int64(maxBytes)
		p, err := New(c, v)
		if err != nil {
			rt.Fatal(err)
		}
		steps := rapid.IntRange(1, 60).Draw(rt, "steps")
		for i := range steps {
			switch op := rapid.IntRange(0, 9).Draw(rt, "op"); {
			case op < 7: // admit
				f := fakeTx{
					sender: rapid.IntRange(0, senders-1).Draw(rt, "s"),
					nonce:  rapid.Uint64Range(0, 6).Draw(rt, "n"),
					fee:    rapid.Uint64Range(1, 12).Draw(rt, "fee"),
					gas:    rapid.SampledFrom([]uint64{21000, 30000, 37352}).Draw(rt, "gas"),
					amount: rapid.Uint64Range(0, 1000).Draw(rt, "amt"),
					salt:   rapid.Uint64Range(0, 2).Draw(rt, "salt"),
					size:   rapid.IntRange(100, 4000).Draw(rt, "size"),
				}
				_, got := p.AddChecked(f.checked(), uint64(i))
				want := m.add(f)
				if !errors.Is(got, want) && !(want == nil && got == nil) {
					rt.Fatalf("step %d add %+v: pool %v, model %v", i, f, got, want)
				}
			case op < 9: // batch the first k of the order
				order := m.ordered()
				k := rapid.IntRange(0, len(order)).Draw(rt, "k")
				p.MarkBatched(order[:k])
				for _, id := range order[:k] {
					for _, t := range m.txs {
						if t.id == id {
							t.batched = true
						}
					}
				}
			default: // execute each sender's first tx if batched, expire the rest
				var outs []TxOutcome
				var expired []types.TxID
				for s := range senders {
					st := m.senderTxs(s)
					if len(st) == 0 || !st[0].batched {
						continue
					}
					outs = append(outs, TxOutcome{ID: st[0].id, Sender: sender(s), Executed: true})
					m.nonce[s]++
					c := m.cost(st[0].f)
					m.balance[s] -= c
					m.txs = removeAll(m.txs, st[:1])
					v.accts[sender(s)] = types.Account{Nonce: m.nonce[s], Balance: u128.From64(m.balance[s])}
					for _, t := range st[1:] {
						if t.batched {
							t.batched = false
							expired = append(expired, t.id)
						}
					}
				}
				p.Unbatch(expired)
				if err := p.OnBlock(outs); err != nil {
					rt.Fatal(err)
				}
			}
			got := ids(p.Ordered(0))
			want := m.ordered()
			if fmt.Sprint(got) != fmt.Sprint(want) {
				rt.Fatalf("step %d: order\n pool  %v\n model %v", i, got, want)
			}
			if p.Len() != len(m.txs) {
				rt.Fatalf("step %d: len %d, model %d", i, p.Len(), len(m.txs))
			}
			if p.Bytes() > int64(maxBytes) {
				rt.Fatalf("step %d: %d bytes > bound %d", i, p.Bytes(), maxBytes)
			}
		}
	})
}

func ids(es []*Entry) []types.TxID {
	out := make([]types.TxID, len(es))
	for i, e := range es {
		out[i] = e.Tx.ID
	}
	return out
}
