package execution

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Errors. None of them is caused by a transaction: a transaction is skipped
// or fails, it never makes execution return an error.
var (
	// ErrInvariant is a broken invariant (a credit or counter overflow that
	// genesis's supply bound rules out). The node halts on it.
	ErrInvariant = errors.New("execution: broken invariant")
	// ErrStateRead wraps a StateView error: a storage failure aborts the block.
	ErrStateRead = errors.New("execution: state read failed")
	// ErrBadProposer is returned when the block's proposer index is not in the
	// validator set (or there is no validator set).
	ErrBadProposer = errors.New("execution: proposer is not in the validator set")
	// ErrBadEngine is returned for an engine other than nonce_only or vm_v0.
	ErrBadEngine = errors.New("execution: unknown engine")
)

// Item is one entry of the canonical list with its static decision.
type Item struct {
	Entry    *Entry
	Transfer types.Transfer // zero when malformed
	Gas      uint64         // intrinsic gas (0 when malformed or gas is off)
	// Skip is the static skip reason (1–5), decided without state; SkipNone
	// means the tx reads its sender and recipient (ApplyTx decides).
	Skip SkipReason
}

// Self reports a self-transfer (sender = recipient).
func (it *Item) Self() bool { return it.Transfer.Recipient == it.Entry.Sender }

// Prepare builds a block's canonical list (§5) and makes every static
// decision:
//
//  1. dedup: a well-formed entry whose tx_id occurred earlier (among
//     well-formed entries) is removed — no receipt, no gas;
//  2. malformed entries keep their position and are never moved or
//     deduplicated;
//  3. each sender's txs are reordered among the positions that sender
//     occupies by (nonce, original position) ascending;
//  4. S_i = Σ intrinsic gas of entries 0..i; checks 1–5 (malformed,
//     v0_forbidden, gas_limit_below_intrinsic, fee_below_minimum,
//     block_gas_limit) in that order.
//
// It reads no state. Items point into entries.
func Prepare(p *types.ExecParams, entries []Entry) []Item {
	// 1+2: dedup; malformed entries are kept as they are.
	kept := make([]*Entry, 0, len(entries))
	seen := make(map[types.TxID]struct{}, len(entries))
	for i := range entries {
		e := &entries[i]
		if !e.Malformed() {
			if _, dup := seen[e.ID]; dup {
				continue
			}
			seen[e.ID] = struct{}{}
		}
		kept = append(kept, e)
	}
	// 3: group the well-formed entries by sender (a counting sort keeps
	// each group's positions ascending), sort each group by (nonce,
	// position) and write it back over its positions.
	groupOf := make(map[types.AccountID]int32, len(kept))
	gid := make([]int32, len(kept)) // −1: malformed
	var size []int32                // entries per group
	for i, e := range kept {
		if e.Malformed() {
			gid[i] = -1
			continue
		}
		g, ok := groupOf[e.Sender]
		if !ok {
			g = int32(len(size))
			groupOf[e.Sender] = g
			size = append(size, 0)
		}
		gid[i] = g
		size[g]++
	}
	start := make([]int32, len(size)+1)
	for g, n := range size {
		start[g+1] = start[g] + n
	}
	pos := make([]int32, start[len(size)]) // positions in kept, grouped
	fill := slices.Clone(start[:len(size)])
	for i, g := range gid {
		if g >= 0 {
			pos[fill[g]] = int32(i)
			fill[g]++
		}
	}
	order := slices.Clone(kept)
	var buf []*Entry
	for g := range size {
		ps := pos[start[g]:start[g+1]]
		sorted := true
		for k := 1; k < len(ps); k++ {
			if kept[ps[k]].Tx.Nonce < kept[ps[k-1]].Tx.Nonce {
				sorted = false
				break
			}
		}
		if sorted {
			continue
		}
		buf = buf[:0]
		for _, q := range ps {
			buf = append(buf, kept[q])
		}
		// Stable: equal nonces keep their original (position) order.
		slices.SortStableFunc(buf, func(a, b *Entry) int { return cmp.Compare(a.Tx.Nonce, b.Tx.Nonce) })
		for k, q := range ps {
			order[q] = buf[k]
		}
	}
	// 4: static checks with the running S_i.
	items := make([]Item, len(order))
	var s uint64 // S_i, saturating
	nonceOnly := p.Engine == types.EngineNonceOnly
	for i, e := range order {
		it := &items[i]
		it.Entry = e
		if e.Malformed() {
			it.Skip = SkipMalformed
			continue
		}
		t, err := types.ParseTransfer(e.Tx.Payload)
		if err != nil { // unreachable: Malformed checked the length
			it.Skip = SkipMalformed
			continue
		}
		it.Transfer = t
		if !nonceOnly {
			it.Gas = p.IntrinsicGas(t.Recipient == e.Sender, len(e.Tx.Payload))
		}
		s = satAdd(s, it.Gas)
		switch {
		case t.Version == types.PayloadV0 && !p.AllowV0Payload:
			it.Skip = SkipV0Forbidden
		case nonceOnly || !p.GasEnabled || t.Version == types.PayloadV0:
			// No gas fields (v0) or no gas: checks 3 and 4 do not apply.
		case t.GasLimit < max(it.Gas, p.MinimumGasLimit):
			it.Skip = SkipGasLimitBelowIntrinsic
		case t.MaxFeePerGas.Less(p.MinGasPrice):
			it.Skip = SkipFeeBelowMinimum
		}
		if it.Skip == SkipNone && !nonceOnly && p.GasEnabled && s > p.BlockGasLimit {
			it.Skip = SkipBlockGasLimit
		}
	}
	return items
}

func satAdd(a, b uint64) uint64 {
	if a > math.MaxUint64-b {
		return math.MaxUint64
	}
	return a + b
}

// StaticReceipt is the receipt of an item Prepare already skipped.
func (it *Item) StaticReceipt() Receipt {
	return Receipt{TxID: it.Entry.ID, Status: StatusSkipped, SkipReason: it.Skip}
}

// ApplyTx runs the state-dependent part of §5 for an item Prepare did not
// skip: checks 6–8, then the fee, the nonce and the transfer. sender and
// recipient are the accounts' current states and are updated in place; for
// a self-transfer they must be the same pointer. It reads and writes nothing
// else, which is what makes Stage B's schedule equivalent to sequential order.
// The fee split is returned in the receipt (Fee, Burned); crediting the
// proposer share and total_burned happens once per block (Finish).
func ApplyTx(p *types.ExecParams, it *Item, sender, recipient *types.Account) (Receipt, error) {
	r := Receipt{TxID: it.Entry.ID}
	nonce := it.Entry.Tx.Nonce
	switch {
	case nonce < sender.Nonce:
		r.Status, r.SkipReason = StatusSkipped, SkipNonceTooLow
		return r, nil
	case nonce > sender.Nonce:
		r.Status, r.SkipReason = StatusSkipped, SkipNonceTooHigh
		return r, nil
	case sender.Nonce == math.MaxUint64:
		return r, fmt.Errorf("%w: nonce of %s would overflow", ErrInvariant, it.Entry.Sender)
	}
	if p.Engine == types.EngineNonceOnly {
		sender.Nonce++
		return r, nil
	}
	t := &it.Transfer
	maxCost, ok := t.MaxCost()
	if !ok || sender.Balance.Less(maxCost) {
		r.Status, r.SkipReason = StatusSkipped, SkipInsufficientBalance
		return r, nil
	}
	fee, ok := t.MaxFeePerGas.Mul64(it.Gas) // v0: 0 × 0; v1: ≤ maxCost (gas ≤ gas_limit)
	if !ok {
		return r, fmt.Errorf("%w: fee of %s overflows", ErrInvariant, it.Entry.ID)
	}
	bal, ok := sender.Balance.Sub(fee)
	if !ok {
		return r, fmt.Errorf("%w: fee of %s exceeds the checked balance", ErrInvariant, it.Entry.ID)
	}
	sender.Balance = bal
	sender.Nonce++
	r.GasUsed = it.Gas
	r.Fee = fee
	r.Burned = BurnShare(fee, p.BurnBps)
	if sender.Balance.Less(t.Amount) {
		r.Status = StatusFailedInsufficientBalance
		return r, nil
	}
	r.Status = StatusOK
	if sender == recipient {
		return r, nil // self-transfer: debit and credit cancel
	}
	sender.Balance, _ = sender.Balance.Sub(t.Amount)
	nb, ok := recipient.Balance.Add(t.Amount)
	if !ok {
		return r, fmt.Errorf("%w: credit to %s overflows u128", ErrInvariant, t.Recipient)
	}
	recipient.Balance = nb
	return r, nil
}

// BurnShare is floor(fee × burnBps / 10000), exact for every u128 fee
// (fee = 10000·q + r, so the share is q·burnBps + r·burnBps/10000 with no
// intermediate overflow). With 5000 it is floor(fee / 2), §5's split.
func BurnShare(fee u128.U128, burnBps uint16) u128.U128 {
	bps := min(uint64(burnBps), 10000)
	q, r := fee.Div64(10000)
	b, _ := q.Mul64(bps) // q·bps ≤ fee
	b, _ = b.Add(u128.From64(r * bps / 10000))
	return b
}

// Touched is one account that the txs of a block read, with its state before
// the block (Old) and after the last tx (New), before the block-end deltas.
type Touched = AccountChange

// Finish applies the block-end deltas and assembles the (unsealed) result:
// Σ burned to total_burned, Σ (fee − burned) to the reward account of the
// proposer, gas used, receipts root, and the sorted list of accounts that
// changed. touched must hold each account the txs touched once (any order);
// find returns the index of an account in touched or −1 (the caller's index,
// so Finish needs no map of its own). Finish may modify touched. The reward
// account is read from the view when it is not among them.
func Finish(env *Env, view StateView, b *Block, receipts []Receipt, touched []Touched, find func(types.AccountID) int) (*BlockResult, error) {
	if env.Validators != nil && int(b.Proposer) >= env.Validators.Len() {
		return nil, fmt.Errorf("%w: index %d of %d", ErrBadProposer, b.Proposer, env.Validators.Len())
	}
	res := &BlockResult{Height: b.Height, Receipts: receipts, MonetaryHash: b.MonetaryHash}
	if res.MonetaryHash.IsZero() {
		res.MonetaryHash = EmptyMonetaryHash
	}
	var ok bool
	for i := range receipts {
		r := &receipts[i]
		res.GasUsed = satAdd(res.GasUsed, r.GasUsed)
		if res.Burned, ok = res.Burned.Add(r.Burned); !ok {
			return nil, fmt.Errorf("%w: block burn overflows u128", ErrInvariant)
		}
		share, _ := r.Fee.Sub(r.Burned)
		if res.ProposerReward, ok = res.ProposerReward.Add(share); !ok {
			return nil, fmt.Errorf("%w: proposer reward overflows u128", ErrInvariant)
		}
	}
	tb, err := view.TotalBurned()
	if err != nil {
		return nil, fmt.Errorf("%w: total_burned: %w", ErrStateRead, err)
	}
	if res.TotalBurned, ok = tb.Add(res.Burned); !ok {
		return nil, fmt.Errorf("%w: total_burned overflows u128", ErrInvariant)
	}
	var extra *AccountChange
	if !res.ProposerReward.IsZero() {
		if env.Validators == nil {
			return nil, fmt.Errorf("%w: no validator set to credit a reward of %s", ErrBadProposer, res.ProposerReward)
		}
		ra := env.Validators.Get(int(b.Proposer)).RewardAccount
		var acct *types.Account
		if i := find(ra); i >= 0 {
			acct = &touched[i].New
		} else {
			cur, err := view.Account(ra)
			if err != nil {
				return nil, fmt.Errorf("%w: reward account %s: %w", ErrStateRead, ra, err)
			}
			extra = &AccountChange{ID: ra, Old: cur, New: cur}
			acct = &extra.New
		}
		if acct.Balance, ok = acct.Balance.Add(res.ProposerReward); !ok {
			return nil, fmt.Errorf("%w: reward credit to %s overflows u128", ErrInvariant, ra)
		}
	}
	changes := make([]AccountChange, 0, len(touched)+1)
	for _, c := range touched {
		if c.Old != c.New {
			changes = append(changes, c)
		}
	}
	if extra != nil {
		changes = append(changes, *extra)
	}
	SortChanges(changes)
	res.Changes = changes
	res.ReceiptsRoot = ReceiptsRoot(receipts)
	return res, nil
}

// SortChanges sorts by account id, bytewise ascending.
func SortChanges(cs []AccountChange) {
	slices.SortFunc(cs, func(a, b AccountChange) int {
		// The first 8 bytes decide almost always (ids are hashes).
		if x, y := binary.BigEndian.Uint64(a.ID[:8]), binary.BigEndian.Uint64(b.ID[:8]); x != y {
			return cmp.Compare(x, y)
		}
		return bytes.Compare(a.ID[8:], b.ID[8:])
	})
}

// Run executes a block sequentially and returns its unsealed result (no
// digests: Seal adds them). It is the reference semantics Stage B must
// reproduce exactly.
func Run(env *Env, view StateView, b *Block) (*BlockResult, error) {
	p := &env.Params
	if p.Engine != types.EngineNonceOnly && p.Engine != types.EngineVMv0 {
		return nil, fmt.Errorf("%w: %d", ErrBadEngine, p.Engine)
	}
	items := Prepare(p, b.Entries)
	receipts := make([]Receipt, len(items))
	slot := make(map[types.AccountID]int32, 2*len(items))
	touched := make([]Touched, 0, 2*len(items))
	load := func(id types.AccountID) (int32, error) {
		if i, ok := slot[id]; ok {
			return i, nil
		}
		a, err := view.Account(id)
		if err != nil {
			return 0, fmt.Errorf("%w: account %s: %w", ErrStateRead, id, err)
		}
		i := int32(len(touched))
		slot[id] = i
		touched = append(touched, Touched{ID: id, Old: a, New: a})
		return i, nil
	}
	for i := range items {
		it := &items[i]
		if it.Skip != SkipNone {
			receipts[i] = it.StaticReceipt()
			continue
		}
		s, err := load(it.Entry.Sender)
		if err != nil {
			return nil, err
		}
		r, err := load(it.Transfer.Recipient)
		if err != nil {
			return nil, err
		}
		// Pointers only after both loads: append may move touched.
		if receipts[i], err = ApplyTx(p, it, &touched[s].New, &touched[r].New); err != nil {
			return nil, err
		}
	}
	return Finish(env, view, b, receipts, touched, func(id types.AccountID) int {
		if i, ok := slot[id]; ok {
			return int(i)
		}
		return -1
	})
}

// Execute runs a block sequentially and seals it with the view's set hash:
// the complete result the state store commits.
func Execute(env *Env, view StateView, b *Block) (*BlockResult, error) {
	res, err := Run(env, view, b)
	if err != nil {
		return nil, err
	}
	prev, err := view.StateHash()
	if err != nil {
		return nil, fmt.Errorf("%w: state hash: %w", ErrStateRead, err)
	}
	res.Seal(prev, 1)
	return res, nil
}
