package execution_test

import (
	"bytes"
	"flag"
	"math/big"
	"os"
	"slices"
	"testing"

	"pgregory.net/rapid"

	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/execution/exectest"
	"github.com/qbind/qbind/types"
)

var long = flag.Bool("long", false, "run 10,000 cases per property instead of 500")

func TestMain(m *testing.M) {
	flag.Parse()
	exectest.MinChecks(*long)
	os.Exit(m.Run())
}

func supply(m *execution.MemState) *big.Int {
	s := new(big.Int)
	for _, a := range m.Accounts() {
		s.Add(s, a.Balance.Big())
	}
	tb, _ := m.TotalBurned()
	return s.Add(s, tb.Big())
}

// TestProperties checks G1–G5 of PROTOCOL.md §5 on random block sequences
// executed sequentially (G6 lives in stageb): G1 no panic and no error (the
// generator keeps total supply below 2^127, so nothing may overflow); G2 Σ
// balances + total_burned is constant (nothing is minted here); G3 each
// sender's nonce grows by its number of executed txs; G4 skipped txs change
// nothing (only executed txs' senders and recipients and the reward account
// change, and skipped receipts carry no gas or fee); G5 gas used ≤
// BLOCK_GAS_LIMIT. It also checks the incremental digest against a digest
// recomputed from scratch, the receipt encoding, and sorted changes.
func TestProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := exectest.GenCase(t)
		st := execution.NewMemState(c.Genesis)
		want := supply(st)
		p := &c.Env.Params
		for _, b := range c.Blocks {
			before := st.Clone()
			res, err := execution.Execute(&c.Env, st, &b) // G1
			if err != nil {
				t.Fatalf("height %d: %v", b.Height, err)
			}
			items := execution.Prepare(p, b.Entries)
			if len(items) != len(res.Receipts) {
				t.Fatalf("%d items, %d receipts", len(items), len(res.Receipts))
			}
			executed := map[types.AccountID]uint64{}
			may := map[types.AccountID]bool{}
			var gas uint64
			for i, r := range res.Receipts {
				if r.TxID != items[i].Entry.ID {
					t.Fatalf("receipt %d is for another tx", i)
				}
				if err := r.Validate(); err != nil { // G4: skipped ⇒ no gas, no fee
					t.Fatalf("receipt %d: %v", i, err)
				}
				if d, err := execution.DecodeReceipt(r.Encode()); err != nil || d != r {
					t.Fatalf("receipt %d round trip: %v", i, err)
				}
				if r.Status == execution.StatusSkipped {
					continue
				}
				executed[items[i].Entry.Sender]++
				may[items[i].Entry.Sender] = true
				may[items[i].Transfer.Recipient] = true
				gas += r.GasUsed
			}
			if !res.ProposerReward.IsZero() {
				may[c.Env.Validators.Get(int(b.Proposer)).RewardAccount] = true
			}
			if gas != res.GasUsed {
				t.Fatalf("gas used %d, receipts sum to %d", res.GasUsed, gas)
			}
			if p.GasEnabled && res.GasUsed > p.BlockGasLimit { // G5
				t.Fatalf("G5: gas used %d > limit %d", res.GasUsed, p.BlockGasLimit)
			}
			if !slices.IsSortedFunc(res.Changes, func(a, b execution.AccountChange) int { return bytes.Compare(a.ID[:], b.ID[:]) }) {
				t.Fatalf("changes not sorted")
			}
			for _, ch := range res.Changes {
				if !may[ch.ID] { // G4
					t.Fatalf("G4: %s changed without an executed tx", ch.ID)
				}
				if ch.Old == ch.New {
					t.Fatalf("no-op change listed")
				}
			}
			if err := st.Apply(res); err != nil {
				t.Fatal(err)
			}
			for id, n := range executed { // G3
				a, _ := st.Account(id)
				o, _ := before.Account(id)
				if a.Nonce-o.Nonce != n {
					t.Fatalf("G3: %s nonce %d → %d with %d executed txs", id, o.Nonce, a.Nonce, n)
				}
			}
			for _, id := range before.IDs() {
				if executed[id] == 0 {
					a, _ := st.Account(id)
					o, _ := before.Account(id)
					if a.Nonce != o.Nonce {
						t.Fatalf("G3: %s nonce moved without an executed tx", id)
					}
				}
			}
			if got := supply(st); got.Cmp(want) != 0 { // G2
				t.Fatalf("G2: supply %s, want %s", got, want)
			}
			if fresh := execution.NewMemState(st.Accounts()); fresh.Digest() != res.StateDigest {
				t.Fatalf("incremental digest differs from the digest recomputed from scratch")
			}
		}
	})
}

// modelPrepare is §5's canonical list and static checks written as plainly
// as possible (quadratic, no maps), to compare Prepare against.
func modelPrepare(p *types.ExecParams, entries []execution.Entry) ([]*execution.Entry, []execution.SkipReason) {
	var kept []*execution.Entry
	for i := range entries {
		e := &entries[i]
		dup := false
		for _, k := range kept {
			if !e.Malformed() && !k.Malformed() && k.ID == e.ID {
				dup = true
			}
		}
		if !dup {
			kept = append(kept, e)
		}
	}
	out := slices.Clone(kept)
	done := map[types.AccountID]bool{}
	for _, e := range kept {
		if e.Malformed() || done[e.Sender] {
			continue
		}
		done[e.Sender] = true
		var pos []int
		for j, k := range kept {
			if !k.Malformed() && k.Sender == e.Sender {
				pos = append(pos, j)
			}
		}
		sorted := slices.Clone(pos)
		slices.SortFunc(sorted, func(a, b int) int { // (nonce, position)
			if kept[a].Tx.Nonce != kept[b].Tx.Nonce {
				if kept[a].Tx.Nonce < kept[b].Tx.Nonce {
					return -1
				}
				return 1
			}
			return a - b
		})
		for j, q := range pos {
			out[q] = kept[sorted[j]]
		}
	}
	reasons := make([]execution.SkipReason, len(out))
	var s uint64
	for i, e := range out {
		if e.Malformed() {
			reasons[i] = execution.SkipMalformed
			continue
		}
		t, _ := types.ParseTransfer(e.Tx.Payload)
		gas := uint64(0)
		if p.Engine == types.EngineVMv0 {
			gas = p.IntrinsicGas(t.Recipient == e.Sender, len(e.Tx.Payload))
		}
		s += gas
		gasRules := p.Engine == types.EngineVMv0 && p.GasEnabled
		switch {
		case t.Version == types.PayloadV0 && !p.AllowV0Payload:
			reasons[i] = execution.SkipV0Forbidden
		case gasRules && t.Version == types.PayloadV1 && t.GasLimit < max(gas, p.MinimumGasLimit):
			reasons[i] = execution.SkipGasLimitBelowIntrinsic
		case gasRules && t.Version == types.PayloadV1 && t.MaxFeePerGas.Less(p.MinGasPrice):
			reasons[i] = execution.SkipFeeBelowMinimum
		case gasRules && s > p.BlockGasLimit:
			reasons[i] = execution.SkipBlockGasLimit
		}
	}
	return out, reasons
}

// TestPrepareMatchesModel compares the canonical list and the static skip
// reasons with modelPrepare.
func TestPrepareMatchesModel(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		c := exectest.GenCase(t)
		for _, b := range c.Blocks {
			items := execution.Prepare(&c.Env.Params, b.Entries)
			order, reasons := modelPrepare(&c.Env.Params, b.Entries)
			if len(items) != len(order) {
				t.Fatalf("%d items, model %d", len(items), len(order))
			}
			for i := range items {
				if items[i].Entry != order[i] || items[i].Skip != reasons[i] {
					t.Fatalf("position %d: %s/%v, model %s/%v", i, items[i].Entry.ID, items[i].Skip, order[i].ID, reasons[i])
				}
			}
		}
	})
}
