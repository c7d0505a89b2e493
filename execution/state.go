package execution

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/crypto/lthash"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// StateView is the committed state execution reads: the state after the
// previous executed height. It is read-only — execution returns what changes
// as a BlockResult and the state store writes it (PROTOCOL.md §9: changes,
// receipts, total_burned, digests and last_executed in one synced batch).
//
// Errors are storage failures: they abort the block (the caller retries or
// halts), they never turn into a skip. Execution, including Stage B, calls a
// view from one goroutine at a time.
type StateView interface {
	// Account returns the state of id; an absent account is the zero Account
	// (nonce 0, balance 0), never an error.
	Account(id types.AccountID) (types.Account, error)
	// TotalBurned is the state counter total_burned.
	TotalBurned() (u128.U128, error)
	// StateHash is the LtHash16 set hash of every existing account (§9); the
	// store persists its 2048-byte encoding (lthash.Hash.Bytes) next to the
	// accounts so the next block can move it.
	StateHash() (lthash.Hash, error)
}

// AccountChange is one account's move across a block. Old is its state before
// the block, New after; the zero Account means absent, so New.Exists() ==
// false is a deletion (§4).
type AccountChange struct {
	ID  types.AccountID
	Old types.Account
	New types.Account
}

// BlockResult is everything executing one committed block produced. The state
// store writes Changes, Receipts, TotalBurned, StateHash/StateDigest and
// ExecDigest atomically.
type BlockResult struct {
	Height uint64
	// Receipts has one receipt per entry of the canonical list, in that
	// order (duplicates removed by dedup have none).
	Receipts     []Receipt
	ReceiptsRoot crypto.Hash
	// Changes lists every account whose state differs after the block
	// (including the proposer's reward account), sorted by id ascending
	// (bytewise); entries with Old == New are never listed.
	Changes        []AccountChange
	Burned         u128.U128 // burned by this block
	TotalBurned    u128.U128 // total_burned after this block
	ProposerReward u128.U128 // credited to the proposer's reward account
	GasUsed        uint64    // Σ gas_used of the receipts
	// StateHash is the set hash after the block, StateDigest = H(lanes) and
	// ExecDigest the §8.2 exec digest; all three are filled by Seal (Run
	// leaves them zero).
	StateHash   lthash.Hash
	StateDigest crypto.Hash
	ExecDigest  crypto.Hash
	// MonetaryHash is H(monetary epoch state) the exec digest covers.
	MonetaryHash crypto.Hash
	sealed       bool
}

// Sealed reports whether Seal filled the digests.
func (r *BlockResult) Sealed() bool { return r.sealed }

// Seal moves prev (the set hash before the block) across r.Changes and fills
// StateHash, StateDigest and ExecDigest. workers > 1 lets the lthash update
// use that many goroutines (only Stage B passes more than 1: the sequential
// core starts none); the digest does not depend on it.
func (r *BlockResult) Seal(prev lthash.Hash, workers int) {
	h := prev
	h.Update(LtHashChanges(r.Changes), workers)
	r.StateHash = h
	r.StateDigest = h.Digest()
	r.ExecDigest = ExecDigest(r.Height, r.StateDigest, r.ReceiptsRoot, r.TotalBurned, r.MonetaryHash)
	r.sealed = true
}

// LtHashChanges converts account changes to the lthash update input (stored
// 24-byte encodings; the zero Account encodes as all zero = absent).
func LtHashChanges(cs []AccountChange) []lthash.Change {
	out := make([]lthash.Change, len(cs))
	for i := range cs {
		out[i] = lthash.Change{Account: cs[i].ID, Old: cs[i].Old.Encode(), New: cs[i].New.Encode()}
	}
	return out
}

// EmptyMonetaryHash is H(empty), the monetary hash of the exec digest until
// the monetary engine is wired (PROTOCOL.md §8.2).
var EmptyMonetaryHash = crypto.Sum()

// ExecDigest is H("QBIND:EXEC:v1" ‖ exec_height u64 ‖ state_digest ‖
// receipts_root ‖ total_burned u128 ‖ H(monetary epoch state)) with integers
// little-endian (PROTOCOL.md §8.2, §3).
func ExecDigest(height uint64, stateDigest, receiptsRoot crypto.Hash, totalBurned u128.U128, monetary crypto.Hash) crypto.Hash {
	var b [8 + 32 + 32 + 16 + 32]byte
	putU64LE(b[0:8], height)
	copy(b[8:40], stateDigest[:])
	copy(b[40:72], receiptsRoot[:])
	totalBurned.PutLE(b[72:88])
	copy(b[88:120], monetary[:])
	return crypto.Sum(crypto.TagExec, b[:])
}

func putU64LE(b []byte, v uint64) {
	for i := range 8 {
		b[i] = byte(v >> (8 * i))
	}
}

// ErrStaleChange is returned by MemState.Apply when a change's Old state is
// not the stored state: the result was computed on another state.
var ErrStaleChange = errors.New("execution: account change does not start from the stored state")

// MemState is an in-memory StateView for tests, benchmarks and the devnet
// profile. It is not safe for concurrent mutation.
type MemState struct {
	accounts    map[types.AccountID]types.Account
	totalBurned u128.U128
	hash        lthash.Hash
	height      uint64
}

// NewMemState returns a state holding the given accounts (absent ones, the
// zero Account, are dropped) with total_burned 0 and its set hash computed.
func NewMemState(accounts map[types.AccountID]types.Account) *MemState {
	m := &MemState{accounts: make(map[types.AccountID]types.Account, len(accounts))}
	cs := make([]lthash.Change, 0, len(accounts))
	for id, a := range accounts {
		if a.Exists() {
			m.accounts[id] = a
			cs = append(cs, lthash.Change{Account: id, New: a.Encode()})
		}
	}
	m.hash.Update(cs, 1)
	return m
}

// Account implements StateView.
func (m *MemState) Account(id types.AccountID) (types.Account, error) { return m.accounts[id], nil }

// TotalBurned implements StateView.
func (m *MemState) TotalBurned() (u128.U128, error) { return m.totalBurned, nil }

// StateHash implements StateView.
func (m *MemState) StateHash() (lthash.Hash, error) { return m.hash, nil }

// Height is the height of the last applied result (0 initially).
func (m *MemState) Height() uint64 { return m.height }

// Digest is H(lanes) of the current set hash.
func (m *MemState) Digest() crypto.Hash { return m.hash.Digest() }

// Len is the number of existing accounts.
func (m *MemState) Len() int { return len(m.accounts) }

// Accounts returns a copy of every existing account.
func (m *MemState) Accounts() map[types.AccountID]types.Account { return maps.Clone(m.accounts) }

// IDs returns the existing account ids in ascending order.
func (m *MemState) IDs() []types.AccountID {
	ids := slices.Collect(maps.Keys(m.accounts))
	slices.SortFunc(ids, func(a, b types.AccountID) int { return bytes.Compare(a[:], b[:]) })
	return ids
}

// Clone returns an independent copy.
func (m *MemState) Clone() *MemState {
	c := *m
	c.accounts = maps.Clone(m.accounts)
	return &c
}

// Apply writes a block result the way the state store does: every change
// (checking it starts from the stored state), total_burned, the set hash and
// the height. Nothing is written when it fails. For an unsealed result (Run
// without Seal) Apply moves the set hash across the changes itself.
func (m *MemState) Apply(r *BlockResult) error {
	for _, c := range r.Changes {
		if cur := m.accounts[c.ID]; cur != c.Old {
			return fmt.Errorf("%w: %s is (%d, %s), change starts at (%d, %s)",
				ErrStaleChange, c.ID, cur.Nonce, cur.Balance, c.Old.Nonce, c.Old.Balance)
		}
	}
	if r.sealed {
		m.hash = r.StateHash
	} else {
		m.hash.Update(LtHashChanges(r.Changes), 1)
	}
	for _, c := range r.Changes {
		if c.New.Exists() {
			m.accounts[c.ID] = c.New
		} else {
			delete(m.accounts, c.ID)
		}
	}
	m.totalBurned = r.TotalBurned
	m.height = r.Height
	return nil
}

// Diff compares two results field by field and describes the first
// difference (empty when equal). Tests and benchmarks use it to compare
// Stage B with sequential execution.
func Diff(a, b *BlockResult) string {
	switch {
	case a.Height != b.Height:
		return fmt.Sprintf("height %d vs %d", a.Height, b.Height)
	case len(a.Receipts) != len(b.Receipts):
		return fmt.Sprintf("%d vs %d receipts", len(a.Receipts), len(b.Receipts))
	}
	for i := range a.Receipts {
		if a.Receipts[i] != b.Receipts[i] {
			return fmt.Sprintf("receipt %d: %+v vs %+v", i, a.Receipts[i], b.Receipts[i])
		}
	}
	if !slices.Equal(a.Changes, b.Changes) {
		return fmt.Sprintf("changes differ:\n%+v\n%+v", a.Changes, b.Changes)
	}
	switch {
	case a.ReceiptsRoot != b.ReceiptsRoot:
		return "receipts root"
	case a.Burned != b.Burned, a.TotalBurned != b.TotalBurned:
		return fmt.Sprintf("burned %s/%s vs %s/%s", a.Burned, a.TotalBurned, b.Burned, b.TotalBurned)
	case a.ProposerReward != b.ProposerReward:
		return fmt.Sprintf("proposer reward %s vs %s", a.ProposerReward, b.ProposerReward)
	case a.GasUsed != b.GasUsed:
		return fmt.Sprintf("gas used %d vs %d", a.GasUsed, b.GasUsed)
	case a.StateHash != b.StateHash, a.StateDigest != b.StateDigest:
		return "state digest"
	case a.ExecDigest != b.ExecDigest:
		return "exec digest"
	}
	return ""
}
