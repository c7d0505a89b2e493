package mempool

import (
	"container/heap"
	"slices"

	"github.com/qbind/qbind/types"
)

// Verdict is what an Iterate visitor decides about a transaction.
type Verdict uint8

const (
	// Take: the visitor keeps the tx; the sender's next nonce becomes visible.
	Take Verdict = iota
	// SkipSender: not this tx, nor any later tx of its sender, in this pass.
	SkipSender
	// Stop ends the iteration.
	Stop
)

// Iterate visits batchable transactions in priority order while respecting
// nonce order: a sender's nonce n+1 is offered only after the visitor took
// nonce n. A sender is batchable only if its lowest pooled nonce is not in a
// pending batch of this node (§7 per-sender run rule: nonce n+1 is never
// batched while this node's batch holding nonce n is pending, unless both go
// into one batch — which is what taking consecutive txs in one pass does).
func (p *Pool) Iterate(visit func(*Entry) Verdict) {
	h := &headHeap{p: p}
	for _, q := range p.senders {
		if len(q.txs) > 0 && !q.txs[0].batched {
			h.es = append(h.es, q.txs[0])
		}
	}
	heap.Init(h)
	next := map[*senderQueue]int{}
	for h.Len() > 0 {
		e := heap.Pop(h).(*Entry)
		switch visit(e) {
		case Stop:
			return
		case SkipSender:
			continue
		}
		i := next[e.q] + 1
		next[e.q] = i
		if i < len(e.q.txs) && !e.q.txs[i].batched {
			heap.Push(h, e.q.txs[i])
		}
	}
}

// Ordered returns up to limit batchable entries in Iterate order (all if
// limit ≤ 0).
func (p *Pool) Ordered(limit int) []*Entry {
	var out []*Entry
	p.Iterate(func(e *Entry) Verdict {
		out = append(out, e)
		if limit > 0 && len(out) >= limit {
			return Stop
		}
		return Take
	})
	return out
}

// MarkBatched records that the txs with these ids went into a batch of this
// node: they can no longer be replaced or evicted, and the sender's later
// nonces wait until that batch is committed or expires. Unknown ids are
// ignored.
func (p *Pool) MarkBatched(ids []types.TxID) {
	for _, id := range ids {
		if e := p.byID[id]; e != nil && !e.batched {
			e.batched = true
			p.tails.remove(e)
		}
	}
}

// Unbatch makes the txs batchable again: their batch expired uncommitted
// (§7). The re-check after the next block still applies to them.
func (p *Pool) Unbatch(ids []types.TxID) {
	for _, id := range ids {
		if e := p.byID[id]; e != nil && e.batched {
			e.batched = false
			p.Metrics.Requeued++
			p.fixTail(e.q)
		}
	}
}

// TxOutcome is what execution did with one entry of a committed block.
// Sender may be the zero id when the entry did not decode.
type TxOutcome struct {
	ID       types.TxID
	Sender   types.AccountID
	Executed bool // executed (ok or failed_insufficient_balance)
	Skip     types.SkipReason
}

// OnBlock applies a committed block's outcomes (§7): executed txs and txs
// skipped for any reason except nonce_too_high and block_gas_limit leave the
// pool; those two become batchable again. Then every sender named in the
// block, or whose tx the block touched, is re-checked against the account
// view (stale nonces, contiguity, cumulative balance). An error is a state
// read failure: the pool is consistent but the re-check is incomplete.
func (p *Pool) OnBlock(outcomes []TxOutcome) error {
	touched := map[types.AccountID]struct{}{}
	for _, o := range outcomes {
		if o.Sender != (types.AccountID{}) {
			touched[o.Sender] = struct{}{}
		}
		e := p.byID[o.ID]
		if e == nil {
			continue
		}
		touched[e.q.id] = struct{}{}
		if !o.Executed && o.Skip.StaysInPool() {
			if e.batched {
				e.batched = false
				p.Metrics.Requeued++
			}
			continue
		}
		if o.Executed {
			p.Metrics.RemovedExecuted++
		} else {
			p.Metrics.RemovedSkipped++
		}
		p.removeEntry(e)
	}
	ids := make([]types.AccountID, 0, len(touched))
	for id := range touched {
		ids = append(ids, id)
	}
	return p.Recheck(ids)
}

// Recheck re-applies the state checks to the given senders' queues.
func (p *Pool) Recheck(senders []types.AccountID) error {
	slices.SortFunc(senders, func(a, b types.AccountID) int { return compareIDs(a, b) })
	for _, id := range senders {
		q := p.senders[id]
		if q == nil {
			continue
		}
		acct, err := p.view.Account(id)
		if err != nil {
			return err
		}
		p.recheckQueue(q, acct)
	}
	return nil
}

// RecheckAll re-checks every sender.
func (p *Pool) RecheckAll() error {
	ids := make([]types.AccountID, 0, len(p.senders))
	for id := range p.senders {
		ids = append(ids, id)
	}
	return p.Recheck(ids)
}

func compareIDs(a, b types.AccountID) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// removeEntry takes e out of its queue (anywhere) and the pool; the queue
// may have a gap afterwards until recheckQueue runs.
func (p *Pool) removeEntry(e *Entry) {
	q := e.q
	p.tails.remove(e)
	if i := slices.Index(q.txs, e); i >= 0 {
		q.txs = slices.Delete(q.txs, i, i+1)
	}
	p.dropAccounting(e)
	p.fixTail(q)
	if len(q.txs) == 0 {
		delete(p.senders, q.id)
	}
}

// recheckQueue keeps the longest prefix of q that starts at the account
// nonce, has contiguous nonces and (with CheckBalance) a cumulative cost
// within the balance; everything else is dropped. Txs below the account
// nonce were executed through another copy or superseded.
func (p *Pool) recheckQueue(q *senderQueue, acct types.Account) {
	keep := 0
	want := acct.Nonce
	var cost = acct.Balance
	dropStale := 0
	for _, e := range q.txs {
		if e.Nonce() < acct.Nonce {
			dropStale++
			continue
		}
		if e.Nonce() != want {
			break
		}
		if p.cfg.CheckBalance {
			rest, ok := cost.Sub(e.Cost)
			if !ok || e.Cost.Hi == ^uint64(0) && e.Cost.Lo == ^uint64(0) {
				break
			}
			cost = rest
		}
		want++
		keep++
	}
	kept := q.txs[dropStale : dropStale+keep]
	var drop []*Entry
	drop = append(drop, q.txs[:dropStale]...)
	drop = append(drop, q.txs[dropStale+keep:]...)
	for _, e := range drop {
		p.tails.remove(e)
		p.dropAccounting(e)
		p.Metrics.RecheckDropped++
	}
	p.tails.remove(q.tail())
	q.txs = append([]*Entry(nil), kept...)
	q.base = acct.Nonce
	p.fixTail(q)
	if len(q.txs) == 0 {
		delete(p.senders, q.id)
	}
}
