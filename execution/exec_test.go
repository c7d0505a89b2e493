package execution_test

import (
	"errors"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/execution/exectest"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

var (
	alice = exectest.Account(1)
	bob   = exectest.Account(2)
	carol = exectest.Account(3)
	rwd   = exectest.RawID(9) // the proposer's reward account
)

const v1Gas = 37_352 // intrinsic gas of a v1 transfer between two accounts (§5)

func u(v uint64) u128.U128 { return u128.From64(v) }

func env(mod func(*types.ExecParams)) *execution.Env {
	p := exectest.Params()
	if mod != nil {
		mod(&p)
	}
	return &execution.Env{Params: p, Validators: exectest.Validators([]types.AccountID{rwd})}
}

func state(accts map[types.AccountID]types.Account) *execution.MemState {
	return execution.NewMemState(accts)
}

func funded() *execution.MemState {
	return state(map[types.AccountID]types.Account{
		alice: {Balance: u(10_000_000)}, bob: {Balance: u(1_000_000)}, carol: {Nonce: 4, Balance: u(500_000)},
	})
}

func run(t *testing.T, e *execution.Env, st *execution.MemState, raws ...[]byte) *execution.BlockResult {
	t.Helper()
	res, err := execution.Execute(e, st, &execution.Block{Height: 7, Entries: exectest.Entries(raws)})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(res); err != nil {
		t.Fatal(err)
	}
	return res
}

func tx(key int, nonce uint64, to types.AccountID, amount, gasLimit, fee uint64) []byte {
	return exectest.Raw(key, nonce, exectest.V1(to, u(amount), gasLimit, u(fee)), 0)
}

func acct(st *execution.MemState, id types.AccountID) types.Account { a, _ := st.Account(id); return a }

func TestTransferFeeAndSplit(t *testing.T) {
	st := funded()
	res := run(t, env(nil), st, tx(1, 0, bob, 1000, 50_000, 2))
	r := res.Receipts[0]
	fee := uint64(v1Gas * 2)
	if r.Status != execution.StatusOK || r.GasUsed != v1Gas || r.Fee != u(fee) || r.Burned != u(fee/2) {
		t.Fatalf("receipt %+v", r)
	}
	if a := acct(st, alice); a.Nonce != 1 || a.Balance != u(10_000_000-1000-fee) {
		t.Fatalf("alice %+v", a)
	}
	if b := acct(st, bob); b.Balance != u(1_001_000) {
		t.Fatalf("bob %+v", b)
	}
	if a := acct(st, rwd); a.Balance != u(fee-fee/2) {
		t.Fatalf("reward %+v", a)
	}
	if res.Burned != u(fee/2) || res.TotalBurned != u(fee/2) || res.ProposerReward != u(fee/2) || res.GasUsed != v1Gas {
		t.Fatalf("block %+v", res)
	}
	if len(res.Changes) != 3 {
		t.Fatalf("%d changes", len(res.Changes))
	}
}

func TestBurnShare(t *testing.T) {
	for _, c := range []struct {
		fee  u128.U128
		bps  uint16
		want u128.U128
	}{
		{u(7), 5000, u(3)}, {u(74_704), 5000, u(37_352)}, {u(7), 10000, u(7)}, {u(7), 0, u(0)},
		{u128.Max, 5000, u128.U128{Hi: 1<<63 - 1, Lo: ^uint64(0)}}, {u128.Max, 10000, u128.Max},
		{u(9999), 1, u(0)}, {u(10000), 1, u(1)}, {u(12345), 3333, u(4114)},
	} {
		if got := execution.BurnShare(c.fee, c.bps); got != c.want {
			t.Errorf("BurnShare(%s, %d) = %s, want %s", c.fee, c.bps, got, c.want)
		}
	}
}

func TestBurnOnlySplit(t *testing.T) {
	st := funded()
	res := run(t, env(func(p *types.ExecParams) { p.BurnBps, p.ProposerBps = 10000, 0 }), st, tx(1, 0, bob, 1, 50_000, 3))
	if res.Burned != u(3*v1Gas) || !res.ProposerReward.IsZero() || acct(st, rwd).Exists() {
		t.Fatalf("burn-only: %+v", res)
	}
}

func TestSelfTransferAndFailedTransfer(t *testing.T) {
	st := funded()
	e := env(nil)
	selfGas := e.Params.IntrinsicGas(true, types.TransferV1Size)
	res := run(t, e, st,
		tx(3, 4, carol, 400_000, 50_000, 1),    // self: balance covers amount
		tx(3, 5, carol, 10_000_000, 50_000, 1), // self: does not: fee paid, failed
		tx(2, 0, alice, 5_000_000, 50_000, 1),  // bob cannot pay 5M: fee paid, failed
	)
	want := []execution.Status{execution.StatusOK, execution.StatusFailedInsufficientBalance, execution.StatusFailedInsufficientBalance}
	for i, r := range res.Receipts {
		if r.Status != want[i] {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	if selfGas != 21000+2600+5000+16*72 {
		t.Fatalf("self gas %d", selfGas)
	}
	if c := acct(st, carol); c.Nonce != 6 || c.Balance != u(500_000-2*selfGas) {
		t.Fatalf("carol %+v", c)
	}
	if b := acct(st, bob); b.Nonce != 1 || b.Balance != u(1_000_000-v1Gas) {
		t.Fatalf("bob %+v", b)
	}
}

// TestSkipOrder checks each skip reason and that the first failing check in
// §5's order is the one reported.
func TestSkipOrder(t *testing.T) {
	e := env(func(p *types.ExecParams) { p.MinGasPrice = u(2); p.BlockGasLimit = 5 * v1Gas })
	st := funded()
	v0 := exectest.Raw(1, 0, exectest.V0(bob, u(1)), 0)
	huge := exectest.Raw(1, 0, exectest.V1(bob, u(1), 1<<40, u128.U128{Hi: 1 << 40}), 0) // max cost overflows
	res := run(t, e, st,
		[]byte{1, 2, 3},                  // 1 malformed (undecodable)
		exectest.Raw(2, 0, []byte{9}, 0), // 1 malformed (payload length)
		v0,                               // 2 v0_forbidden (before gas checks)
		tx(1, 0, bob, 1, 37_351, 1),      // 3 below intrinsic and below min price: 3 wins
		tx(1, 0, bob, 1, 50_000, 1),      // 4 fee_below_minimum
		tx(1, 9, bob, 1, 50_000, 2),      // moved last (nonce 9): 5 block_gas_limit
		huge,                             // 8 insufficient_balance (gas_limit × max_fee overflows)
		tx(1, 0, bob, 1, 50_000, 2),      // executes: S = 36,968 (v0 counts) + 4 × 37,352 ≤ limit
		exectest.Raw(3, 3, []byte{}, 0),  // 1 malformed, also after the limit
	)
	// Alice's txs occupy positions 2–7 and are sorted by (nonce, position):
	// her nonce-9 tx moves to position 7, where S exceeds 5 × 37,352.
	want := []execution.SkipReason{1, 1, 2, 3, 4, 8, 0, 5, 1}
	if len(res.Receipts) != len(want) {
		t.Fatalf("%d receipts", len(res.Receipts))
	}
	for i, r := range res.Receipts {
		if r.SkipReason != want[i] || (r.Status == execution.StatusSkipped) != (want[i] != 0) {
			t.Errorf("receipt %d: %v (%+v), want %v", i, r.SkipReason, r, want[i])
		}
	}
	if res.GasUsed != v1Gas || len(res.Changes) != 3 || acct(st, alice).Nonce != 1 {
		t.Fatalf("only one tx executes: gas %d, %d changes", res.GasUsed, len(res.Changes))
	}
}

func TestNonceChecks(t *testing.T) {
	st := funded()
	res := run(t, env(nil), st, tx(3, 3, bob, 1, 50_000, 1), tx(3, 4, bob, 1, 50_000, 1), tx(3, 6, bob, 1, 50_000, 1))
	want := []execution.SkipReason{execution.SkipNonceTooLow, execution.SkipNone, execution.SkipNonceTooHigh}
	for i, r := range res.Receipts {
		if r.SkipReason != want[i] {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
}

// TestCanonicalList: dedup keeps the first occurrence (also when the copy
// carries other signature bytes), malformed entries keep their position and
// are never deduplicated, and a sender's txs are sorted by (nonce, position)
// over the positions it occupies.
func TestCanonicalList(t *testing.T) {
	a2 := tx(1, 2, bob, 1, 50_000, 1)
	a0 := tx(1, 0, bob, 1, 50_000, 1)
	a1 := tx(1, 1, bob, 1, 50_000, 1)
	a1b := tx(1, 1, carol, 1, 50_000, 1) // same nonce, other payload: stays (nonce_too_low after a1)
	a0resigned := exectest.Raw(1, 0, exectest.V1(bob, u(1), 50_000, u(1)), 7)
	b0 := tx(2, 0, alice, 1, 50_000, 1)
	bad := []byte{0xFF}
	entries := exectest.Entries([][]byte{a2, bad, b0, a1b, a0, bad, a0resigned, a1, a0})
	items := execution.Prepare(&env(nil).Params, entries)
	got := make([]types.TxID, len(items))
	for i := range items {
		got[i] = items[i].Entry.ID
	}
	id := func(i int) types.TxID { return entries[i].ID }
	// Kept: a2(0) bad(1) b0(2) a1b(3) a0(4) bad(5) a1(7); alice occupies
	// kept positions 0, 3, 4, 6 and gets them sorted by (nonce, position):
	// a0, a1b, a1, a2.
	want := []types.TxID{id(4), id(1), id(2), id(3), id(7), id(5), id(0)}
	if len(got) != len(want) {
		t.Fatalf("%d items, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("position %d: got %s, want %s", i, got[i], want[i])
		}
	}
	if entries[6].ID != entries[4].ID {
		t.Fatal("re-signed tx must keep its id")
	}
	st := funded()
	res := run(t, env(nil), st, a2, bad, b0, a1b, a0, bad, a0resigned, a1, a0)
	statuses := []execution.SkipReason{0, 1, 0, 0, execution.SkipNonceTooLow, 1, 0}
	for i, r := range res.Receipts {
		if r.SkipReason != statuses[i] {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	if acct(st, alice).Nonce != 3 {
		t.Fatalf("alice nonce %d", acct(st, alice).Nonce)
	}
}

// TestBlockGasLimitIsStatic: S_i counts every well-formed entry (also the
// ones that will be skipped for nonce or balance), never the outcome.
func TestBlockGasLimitIsStatic(t *testing.T) {
	e := env(func(p *types.ExecParams) { p.BlockGasLimit = 2 * v1Gas })
	st := funded()
	res := run(t, e, st, tx(2, 5, alice, 1, 50_000, 1), tx(1, 0, bob, 1, 50_000, 1), tx(3, 4, bob, 1, 50_000, 1))
	want := []execution.SkipReason{execution.SkipNonceTooHigh, execution.SkipNone, execution.SkipBlockGasLimit}
	for i, r := range res.Receipts {
		if r.SkipReason != want[i] {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	if res.GasUsed != v1Gas {
		t.Fatalf("gas used %d", res.GasUsed)
	}
}

// TestV0 follows docs/decisions.md: a v0 payload skips checks 3 and 4, pays
// fee 0 and still uses its intrinsic gas.
func TestV0(t *testing.T) {
	e := env(func(p *types.ExecParams) { p.AllowV0Payload = true; p.MinGasPrice = u(5) })
	st := funded()
	res := run(t, e, st, exectest.Raw(1, 0, exectest.V0(bob, u(10)), 0))
	r := res.Receipts[0]
	g := e.Params.IntrinsicGas(false, types.TransferV0Size)
	if r.Status != execution.StatusOK || r.GasUsed != g || !r.Fee.IsZero() || res.GasUsed != g {
		t.Fatalf("v0 receipt %+v", r)
	}
	if a := acct(st, alice); a.Balance != u(10_000_000-10) || a.Nonce != 1 {
		t.Fatalf("alice %+v", a)
	}
}

func TestNonceOnly(t *testing.T) {
	e := env(func(p *types.ExecParams) {
		*p, _ = types.DefaultExecParams(types.ProfileDevNet)
	})
	st := state(nil)
	res := run(t, e, st, tx(1, 0, bob, 1000, 0, 0), tx(1, 0, bob, 5, 0, 0), tx(1, 2, bob, 5, 0, 0),
		exectest.Raw(1, 1, exectest.V0(bob, u(1)), 0))
	// Sorted by nonce: 0, 0, 1 (v0), 2 → ok, too low, ok, ok.
	want := []execution.SkipReason{0, execution.SkipNonceTooLow, 0, 0}
	for i, r := range res.Receipts {
		if r.SkipReason != want[i] || r.GasUsed != 0 || !r.Fee.IsZero() {
			t.Fatalf("receipt %d: %+v", i, r)
		}
	}
	if a := acct(st, alice); a.Nonce != 3 || !a.Balance.IsZero() {
		t.Fatalf("alice %+v", a)
	}
	if acct(st, bob).Exists() {
		t.Fatal("nonce_only moved a balance")
	}
}

func TestCreditOverflowIsInvariant(t *testing.T) {
	top := u128.U128{Hi: ^uint64(0), Lo: ^uint64(0) - 5}
	st := state(map[types.AccountID]types.Account{alice: {Balance: u(1 << 40)}, bob: {Balance: top}})
	_, err := execution.Execute(env(nil), st, &execution.Block{Entries: exectest.Entries([][]byte{tx(1, 0, bob, 10, 50_000, 1)})})
	if !errors.Is(err, execution.ErrInvariant) {
		t.Fatalf("err = %v, want ErrInvariant", err)
	}
}

func TestBadProposer(t *testing.T) {
	_, err := execution.Execute(env(nil), funded(), &execution.Block{Proposer: 3})
	if !errors.Is(err, execution.ErrBadProposer) {
		t.Fatalf("err = %v", err)
	}
}

type failingView struct{ *execution.MemState }

var errDisk = errors.New("disk on fire")

func (failingView) Account(types.AccountID) (types.Account, error) { return types.Account{}, errDisk }

func TestStateErrorAborts(t *testing.T) {
	_, err := execution.Execute(env(nil), failingView{funded()}, &execution.Block{Entries: exectest.Entries([][]byte{tx(1, 0, bob, 1, 50_000, 1)})})
	if !errors.Is(err, execution.ErrStateRead) || !errors.Is(err, errDisk) {
		t.Fatalf("err = %v", err)
	}
}

// TestExecDigest pins the §8.2 layout against an independent assembly.
func TestExecDigest(t *testing.T) {
	var sd, rr crypto.Hash
	sd[0], rr[31] = 1, 2
	b := append([]byte("QBIND:EXEC:v1"), 7, 0, 0, 0, 0, 0, 0, 0)
	b = append(b, sd[:]...)
	b = append(b, rr[:]...)
	b = append(b, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1)
	b = append(b, execution.EmptyMonetaryHash[:]...)
	want := crypto.Sum(b)
	if got := execution.ExecDigest(7, sd, rr, u128.U128{Hi: 1 << 56, Lo: 3}, execution.EmptyMonetaryHash); got != want {
		t.Fatalf("exec digest %s, want %s", got, want)
	}
	if execution.EmptyMonetaryHash.String() != "a7ffc6f8bf1ed76651c14756a061d662f580ff4de43b49fa82d80a4b80f8434a" {
		t.Fatal("H(empty) is not SHA3-256 of nothing")
	}
	st := funded()
	res := run(t, env(nil), st, tx(1, 0, bob, 1, 50_000, 1))
	if res.ExecDigest != execution.ExecDigest(7, res.StateDigest, res.ReceiptsRoot, res.TotalBurned, execution.EmptyMonetaryHash) {
		t.Fatal("result exec digest")
	}
	if res.StateDigest != st.Digest() || res.StateDigest != execution.NewMemState(st.Accounts()).Digest() {
		t.Fatal("state digest")
	}
}

func TestApplyRejectsStaleChanges(t *testing.T) {
	st := funded()
	res, err := execution.Execute(env(nil), st, &execution.Block{Entries: exectest.Entries([][]byte{tx(1, 0, bob, 1, 50_000, 1)})})
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(res); err != nil {
		t.Fatal(err)
	}
	if err := st.Apply(res); !errors.Is(err, execution.ErrStaleChange) {
		t.Fatalf("second apply: %v", err)
	}
}
