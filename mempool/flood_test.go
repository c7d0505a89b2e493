package mempool

import (
	"flag"
	"testing"

	"github.com/qbind/qbind/types"
)

var floodCap = flag.Int("flood.cap", 20, "per-sender cap of the flood test (≥ 4: honest senders hold 4)")

// TestFlood: one sender submits 100× its per-sender cap at ever higher fees
// into a full pool. It cannot hold more than its cap, cannot evict more of
// the other senders' txs than the eviction rate limit allows, cannot delay
// them by more than its cap in the batching order, and Σ len(raw) of the
// pooled txs (recomputed here) never exceeds the byte bound.
//
// The rate limit is set below what the flood evicts without it (its cap
// minus the pool's slack, within the first fraction of a second), so the
// eviction assertion fails with EvictionOff.
func TestFlood(t *testing.T) {
	perSender := *floodCap
	const (
		honest      = 50
		perHonest   = 4
		intervalMs  = 60_000 // one window: longer than the 20 s flood
		floodSender = honest
	)
	maxEvict := max(1, perSender/8)
	v := newView()
	fund(v, honest+1, 1e18)
	c := DefaultConfig(FeePriority)
	c.MaxTxsPerSender = perSender
	c.MaxTxs = honest*perHonest + perSender/2 // the flooder's cap does not fit in the slack
	// Without a rate limit the flooder evicts perSender − slack honest txs.
	if unlimited := perSender - perSender/2; maxEvict >= unlimited {
		t.Fatalf("test parameters: a budget of %d evictions does not bind (the flood evicts %d without it)", maxEvict, unlimited)
	}
	c.MaxBytes = int64(c.MaxTxs) * types.TxV1Size
	c.EvictionMode = EvictionEnforce
	c.MaxEvictionsPerInterval = maxEvict
	c.EvictionIntervalMs = intervalMs
	p := mustNew(t, c, v)
	var honestIDs []types.TxID
	for s := range honest {
		for n := range perHonest {
			e := add(t, p, fakeTx{sender: s, nonce: uint64(n), fee: 10}, nil)
			honestIDs = append(honestIDs, e.Tx.ID)
		}
	}
	all := map[types.TxID]*types.CheckedTx{}
	now := uint64(0)
	attempts := 100 * perSender
	for i := range attempts {
		now += 10 // 100 attempts per second
		// Fees rise so every attempt outranks the honest txs and is a valid
		// replacement of the flooder's previous tx of that nonce.
		ct := fakeTx{sender: floodSender, nonce: uint64(i % (perSender + 1)), fee: 100 + uint64(i)*20, salt: uint64(i)}.checked()
		all[ct.ID] = ct
		if _, err := p.AddChecked(ct, now); err != nil {
			switch Reason(err) {
			case "sender_count_cap", "eviction_rate_limited", "nonce_gap", "insufficient_balance", "replacement_underpriced":
			default:
				t.Fatalf("attempt %d: unexpected rejection %v", i, err)
			}
		}
		if got := p.SenderLen(sender(floodSender)); got > perSender {
			t.Fatalf("flooder holds %d > cap %d", got, perSender)
		}
		var sum int64
		for id := range p.byID {
			sum += int64(len(p.byID[id].Tx.Raw))
		}
		if sum != p.Bytes() || sum > c.MaxBytes {
			t.Fatalf("Σ len(raw) = %d, pool says %d, bound %d", sum, p.Bytes(), c.MaxBytes)
		}
	}
	windows := now/intervalMs + 1
	lost := 0
	for _, id := range honestIDs {
		if p.Get(id) == nil {
			lost++
		}
	}
	if uint64(lost) > windows*uint64(maxEvict) {
		t.Fatalf("flooder evicted %d honest txs, rate limit allows %d", lost, windows*uint64(maxEvict))
	}
	if p.Metrics.Rejected["eviction_rate_limited"] == 0 {
		t.Fatal("the eviction rate limit never refused the flooder")
	}
	if lost > perSender {
		t.Fatalf("flooder evicted %d honest txs with a cap of %d", lost, perSender)
	}
	// Delay: in the batching order the flooder's txs come first (higher
	// fees) but at most its cap of them; every surviving honest tx follows.
	order := p.Ordered(0)
	for i, e := range order {
		if e.Tx.Sender == sender(floodSender) && i >= perSender {
			t.Fatalf("flooder tx at position %d ≥ cap %d", i, perSender)
		}
	}
	if len(order) != len(honestIDs)-lost+p.SenderLen(sender(floodSender)) {
		t.Fatalf("order has %d txs", len(order))
	}
	t.Logf("cap %d: %d attempts, honest lost %d (limit %d), flooder holds %d, rejections %v",
		perSender, attempts, lost, windows*uint64(maxEvict), p.SenderLen(sender(floodSender)), p.Metrics.Rejected)
}
