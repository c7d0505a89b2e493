package mempool

import (
	"errors"
	"testing"

	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

func mustNew(t *testing.T, c Config, v AccountView) *Pool {
	t.Helper()
	p, err := New(c, v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func add(t *testing.T, p *Pool, f fakeTx, want error) *Entry {
	t.Helper()
	e, err := p.AddChecked(f.checked(), 0)
	if !errors.Is(err, want) {
		t.Fatalf("add %+v: err %v, want %v", f, err, want)
	}
	return e
}

func TestAdmissionNonceRules(t *testing.T) {
	v := newView()
	fund(v, 2, 1e18)
	v.accts[sender(0)] = types.Account{Nonce: 5, Balance: u128.From64(1e18)}
	p := mustNew(t, testConfig(), v)
	add(t, p, fakeTx{sender: 0, nonce: 4, fee: 1}, ErrNonceTooLow)
	add(t, p, fakeTx{sender: 0, nonce: 6, fee: 1}, ErrNonceGap)
	add(t, p, fakeTx{sender: 0, nonce: 5, fee: 1}, nil)
	add(t, p, fakeTx{sender: 0, nonce: 5, fee: 1}, ErrDuplicate)
	add(t, p, fakeTx{sender: 0, nonce: 7, fee: 1}, ErrNonceGap)
	add(t, p, fakeTx{sender: 0, nonce: 6, fee: 1}, nil)
	if p.Len() != 2 || p.Bytes() != 2*types.TxV1Size {
		t.Fatalf("len %d bytes %d", p.Len(), p.Bytes())
	}
	if got := p.Metrics.Rejected["nonce_gap"]; got != 2 {
		t.Fatalf("nonce_gap count %d", got)
	}
	v.fail = true
	add(t, p, fakeTx{sender: 1, nonce: 0, fee: 1}, ErrState)
}

func TestCumulativeBalance(t *testing.T) {
	v := newView()
	// Each tx costs 37352 × 10 + 100 = 373620.
	v.accts[sender(0)] = types.Account{Balance: u128.From64(2*373620 + 1)}
	p := mustNew(t, testConfig(), v)
	add(t, p, fakeTx{sender: 0, nonce: 0, fee: 10, amount: 100}, nil)
	add(t, p, fakeTx{sender: 0, nonce: 1, fee: 10, amount: 100}, nil)
	add(t, p, fakeTx{sender: 0, nonce: 2, fee: 10, amount: 100}, ErrInsufficientBalance)
	// A replacement is checked against the total without the replaced tx:
	// +10 % fee costs 37352 more, which the balance does not cover.
	add(t, p, fakeTx{sender: 0, nonce: 1, fee: 11, amount: 100}, ErrInsufficientBalance)
	// Overflowing gas_limit × max_fee never passes.
	v.accts[sender(1)] = types.Account{Balance: u128.Max}
	ct := fakeTx{sender: 1, nonce: 0}.checked()
	ct.Transfer.MaxFeePerGas = u128.Max
	if _, err := p.AddChecked(ct, 0); !errors.Is(err, ErrInsufficientBalance) {
		t.Fatalf("overflow: %v", err)
	}
}

func TestReplaceByFee(t *testing.T) {
	v := newView()
	fund(v, 1, 1e18)
	p := mustNew(t, testConfig(), v)
	add(t, p, fakeTx{sender: 0, nonce: 0, fee: 100}, nil)
	add(t, p, fakeTx{sender: 0, nonce: 0, fee: 109, salt: 1}, ErrReplaceUnderpriced)
	e := add(t, p, fakeTx{sender: 0, nonce: 0, fee: 110, salt: 2}, nil)
	if p.Len() != 1 || p.Metrics.Replaced != 1 || p.Get(e.Tx.ID) != e {
		t.Fatalf("replace: len %d replaced %d", p.Len(), p.Metrics.Replaced)
	}
	p.MarkBatched([]types.TxID{e.Tx.ID})
	add(t, p, fakeTx{sender: 0, nonce: 0, fee: 1000, salt: 3}, ErrReplaceBatched)
	p.Unbatch([]types.TxID{e.Tx.ID})
	add(t, p, fakeTx{sender: 0, nonce: 0, fee: 1000, salt: 3}, nil)
}

func TestSenderCaps(t *testing.T) {
	v := newView()
	fund(v, 1, 1e18)
	c := testConfig()
	c.MaxTxsPerSender = 3
	c.MaxBytesPerSender = 3*types.TxV1Size + 10
	p := mustNew(t, c, v)
	for n := range 3 {
		add(t, p, fakeTx{sender: 0, nonce: uint64(n), fee: 1}, nil)
	}
	add(t, p, fakeTx{sender: 0, nonce: 3, fee: 1}, ErrSenderCountCap)
	c.MaxTxsPerSender = 10
	p = mustNew(t, c, v)
	for n := range 3 {
		add(t, p, fakeTx{sender: 0, nonce: uint64(n), fee: 1}, nil)
	}
	add(t, p, fakeTx{sender: 0, nonce: 3, fee: 1, size: 100}, ErrSenderBytesCap)
	add(t, p, fakeTx{sender: 0, nonce: 3, fee: 1, size: 10}, nil)
}

func TestEvictionLowestPriority(t *testing.T) {
	v := newView()
	fund(v, 10, 1e18)
	c := testConfig()
	c.MaxTxs = 3
	p := mustNew(t, c, v)
	add(t, p, fakeTx{sender: 0, nonce: 0, fee: 5}, nil)
	add(t, p, fakeTx{sender: 0, nonce: 1, fee: 1}, nil) // tail of 0, lowest
	add(t, p, fakeTx{sender: 1, nonce: 0, fee: 3}, nil)
	// Equal priority does not evict (arrival breaks the tie for the old tx).
	add(t, p, fakeTx{sender: 2, nonce: 0, fee: 1}, ErrPoolFull)
	low := fakeTx{sender: 0, nonce: 1, fee: 1}.checked().ID
	add(t, p, fakeTx{sender: 2, nonce: 0, fee: 2}, nil)
	if p.Get(low) != nil || p.Len() != 3 || p.Metrics.Evicted != 1 {
		t.Fatalf("evicted wrong tx: len %d evicted %d", p.Len(), p.Metrics.Evicted)
	}
	// Equal fee, lower intrinsic gas outranks.
	add(t, p, fakeTx{sender: 3, nonce: 0, fee: 2, gas: 30000}, nil)
	if p.SenderLen(sender(2)) != 0 {
		t.Fatal("higher-gas tx of equal fee should have been evicted")
	}
	// A sender never evicts its own txs; batched txs are never evicted.
	p.MarkBatched([]types.TxID{fakeTx{sender: 1, nonce: 0, fee: 3}.checked().ID})
	// Candidates: 0/0 (fee 5, outranks), 3/0 (own sender), 1/0 (fee 3 but
	// batched): nothing can go.
	add(t, p, fakeTx{sender: 3, nonce: 1, fee: 4, gas: 30000}, ErrPoolFull)
	p.Unbatch([]types.TxID{fakeTx{sender: 1, nonce: 0, fee: 3}.checked().ID})
	add(t, p, fakeTx{sender: 3, nonce: 1, fee: 4, gas: 30000}, nil)
	if p.SenderLen(sender(1)) != 0 {
		t.Fatal("unbatched lowest tx not evicted")
	}
}

func TestEvictionRateLimit(t *testing.T) {
	for _, mode := range []EvictionMode{EvictionOff, EvictionWarn, EvictionEnforce} {
		t.Run(mode.String(), func(t *testing.T) {
			v := newView()
			fund(v, 20, 1e18)
			c := testConfig()
			c.MaxTxs = 5
			c.EvictionMode = mode
			c.MaxEvictionsPerInterval = 2
			c.EvictionIntervalMs = 1000
			p := mustNew(t, c, v)
			for i := range 5 {
				add(t, p, fakeTx{sender: i, nonce: 0, fee: 1}, nil)
			}
			var rejected int
			for i := 5; i < 10; i++ {
				_, err := p.AddChecked(fakeTx{sender: i, nonce: 0, fee: 10}.checked(), 500)
				if errors.Is(err, ErrEvictionRateLimited) {
					rejected++
				} else if err != nil {
					t.Fatal(err)
				}
			}
			switch mode {
			case EvictionEnforce:
				if rejected != 3 || p.Metrics.Evicted != 2 {
					t.Fatalf("enforce: rejected %d evicted %d", rejected, p.Metrics.Evicted)
				}
				// A new window allows more.
				add(t, p, fakeTx{sender: 15, nonce: 0, fee: 10}, ErrEvictionRateLimited)
				if _, err := p.AddChecked(fakeTx{sender: 16, nonce: 0, fee: 10}.checked(), 1500); err != nil {
					t.Fatal(err)
				}
			case EvictionWarn:
				if rejected != 0 || p.Metrics.Evicted != 5 || p.Metrics.EvictionsOverLimit != 3 {
					t.Fatalf("warn: rejected %d evicted %d over %d", rejected, p.Metrics.Evicted, p.Metrics.EvictionsOverLimit)
				}
			case EvictionOff:
				if rejected != 0 || p.Metrics.Evicted != 5 || p.Metrics.EvictionsOverLimit != 0 {
					t.Fatalf("off: rejected %d evicted %d", rejected, p.Metrics.Evicted)
				}
			}
		})
	}
}

func TestPoolByteBound(t *testing.T) {
	v := newView()
	fund(v, 10, 1e18)
	c := testConfig()
	c.MaxBytes = 3 * types.TxV1Size
	p := mustNew(t, c, v)
	for i := range 3 {
		add(t, p, fakeTx{sender: i, nonce: 0, fee: 1}, nil)
	}
	// A bigger tx needs two evictions to fit the byte bound.
	add(t, p, fakeTx{sender: 5, nonce: 0, fee: 9, size: types.TxV1Size + 100}, nil)
	if p.Bytes() > c.MaxBytes || p.Metrics.Evicted != 2 {
		t.Fatalf("bytes %d > %d or evicted %d", p.Bytes(), c.MaxBytes, p.Metrics.Evicted)
	}
	// A failed plan evicts nothing: fee 1 < everything left.
	before := p.Len()
	add(t, p, fakeTx{sender: 6, nonce: 0, fee: 1}, ErrPoolFull)
	if p.Len() != before {
		t.Fatal("failed admission changed the pool")
	}
}

func TestFIFO(t *testing.T) {
	v := newView()
	fund(v, 3, 1e18)
	c := testConfig()
	c.MaxTxs = 3
	p, err := NewFIFO(c, v)
	if err != nil {
		t.Fatal(err)
	}
	add(t, p, fakeTx{sender: 0, nonce: 0, fee: 1}, nil)
	add(t, p, fakeTx{sender: 1, nonce: 0, fee: 100}, nil)
	add(t, p, fakeTx{sender: 0, nonce: 1, fee: 50}, nil)
	add(t, p, fakeTx{sender: 0, nonce: 1, fee: 500, salt: 1}, ErrNonceTaken)
	add(t, p, fakeTx{sender: 2, nonce: 0, fee: 1000}, ErrPoolFull)
	got := p.Ordered(0)
	if len(got) != 3 || got[0].Tx.Sender != sender(0) || got[1].Tx.Sender != sender(1) || got[2].Nonce() != 1 {
		t.Fatalf("FIFO order wrong")
	}
}

// TestSkipOutcomes is the pool outcome table of §7 for every skip reason.
func TestSkipOutcomes(t *testing.T) {
	for r := types.SkipMalformed; r <= types.SkipInsufficientBalance; r++ {
		v := newView()
		fund(v, 1, 1e18)
		p := mustNew(t, testConfig(), v)
		e := add(t, p, fakeTx{sender: 0, nonce: 0, fee: 1}, nil)
		p.MarkBatched([]types.TxID{e.Tx.ID})
		if err := p.OnBlock([]TxOutcome{{ID: e.Tx.ID, Sender: e.Tx.Sender, Skip: r}}); err != nil {
			t.Fatal(err)
		}
		stays := r == types.SkipNonceTooHigh || r == types.SkipBlockGasLimit
		if got := p.Get(e.Tx.ID) != nil; got != stays {
			t.Fatalf("%v: in pool %v, want %v", r, got, stays)
		}
		if stays && (e.Batched() || len(p.Ordered(0)) != 1) {
			t.Fatalf("%v: not batchable again", r)
		}
	}
	// Executed: leaves; the next nonce becomes batchable after the re-check.
	v := newView()
	fund(v, 1, 1e18)
	p := mustNew(t, testConfig(), v)
	e0 := add(t, p, fakeTx{sender: 0, nonce: 0, fee: 1}, nil)
	e1 := add(t, p, fakeTx{sender: 0, nonce: 1, fee: 1}, nil)
	p.MarkBatched([]types.TxID{e0.Tx.ID})
	if len(p.Ordered(0)) != 0 {
		t.Fatal("nonce 1 batchable while nonce 0 is in a pending batch")
	}
	v.accts[sender(0)] = types.Account{Nonce: 1, Balance: u128.From64(1e18)}
	if err := p.OnBlock([]TxOutcome{{ID: e0.Tx.ID, Sender: e0.Tx.Sender, Executed: true}}); err != nil {
		t.Fatal(err)
	}
	if got := p.Ordered(0); len(got) != 1 || got[0] != e1 {
		t.Fatal("nonce 1 not batchable after nonce 0 executed")
	}
	// Expired batch: batchable again.
	p.MarkBatched([]types.TxID{e1.Tx.ID})
	p.Unbatch([]types.TxID{e1.Tx.ID})
	if len(p.Ordered(0)) != 1 {
		t.Fatal("tx of an expired batch is not batchable again")
	}
}

func TestRecheck(t *testing.T) {
	v := newView()
	v.accts[sender(0)] = types.Account{Balance: u128.From64(1e18)}
	p := mustNew(t, testConfig(), v)
	for n := range 4 {
		add(t, p, fakeTx{sender: 0, nonce: uint64(n), fee: 1}, nil)
	}
	// Another node's copy of nonces 0 and 1 executed; the balance now covers
	// one more tx only.
	v.accts[sender(0)] = types.Account{Nonce: 2, Balance: u128.From64(37352 + 1)}
	if err := p.OnBlock([]TxOutcome{{ID: types.TxID{1}, Sender: sender(0), Executed: true}}); err != nil {
		t.Fatal(err)
	}
	if p.Len() != 1 || p.Ordered(0)[0].Nonce() != 2 || p.Metrics.RecheckDropped != 3 {
		t.Fatalf("recheck: len %d dropped %d", p.Len(), p.Metrics.RecheckDropped)
	}
	// A removed middle nonce drops everything after the gap.
	v.accts[sender(1)] = types.Account{Balance: u128.From64(1e18)}
	var ids []types.TxID
	for n := range 3 {
		ids = append(ids, add(t, p, fakeTx{sender: 1, nonce: uint64(n), fee: 1}, nil).Tx.ID)
	}
	if err := p.OnBlock([]TxOutcome{{ID: ids[1], Skip: types.SkipInsufficientBalance}}); err != nil {
		t.Fatal(err)
	}
	if p.SenderLen(sender(1)) != 1 {
		t.Fatalf("gap not dropped: %d", p.SenderLen(sender(1)))
	}
}

func TestReasonLabels(t *testing.T) {
	seen := map[string]bool{}
	for _, r := range Reasons() {
		if seen[r] {
			t.Fatalf("duplicate label %s", r)
		}
		seen[r] = true
	}
	if Reason(types.ErrBadTxSignature) != "bad_signature" || Reason(ErrPoolFull) != "pool_full" {
		t.Fatal("labels")
	}
}
