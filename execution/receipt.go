package execution

import (
	"crypto/sha3"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Status is a receipt's outcome (PROTOCOL.md §5).
type Status uint8

const (
	StatusOK                        Status = 0
	StatusFailedInsufficientBalance Status = 1 // executed: fee paid, nonce += 1, no transfer
	StatusSkipped                   Status = 2 // no state change, no gas
)

func (s Status) String() string {
	switch s {
	case StatusOK:
		return "ok"
	case StatusFailedInsufficientBalance:
		return "failed_insufficient_balance"
	case StatusSkipped:
		return "skipped"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// SkipReason is why a tx was skipped (types.SkipReason: the mempool reads
// the same codes). The names below keep execution's code readable.
type SkipReason = types.SkipReason

const (
	SkipNone                   = types.SkipNone
	SkipMalformed              = types.SkipMalformed
	SkipV0Forbidden            = types.SkipV0Forbidden
	SkipGasLimitBelowIntrinsic = types.SkipGasLimitBelowIntrinsic
	SkipFeeBelowMinimum        = types.SkipFeeBelowMinimum
	SkipBlockGasLimit          = types.SkipBlockGasLimit
	SkipNonceTooLow            = types.SkipNonceTooLow
	SkipNonceTooHigh           = types.SkipNonceTooHigh
	SkipInsufficientBalance    = types.SkipInsufficientBalance
	maxSkipReason              = types.MaxSkipReason
)

// Receipt is the outcome of one entry of the canonical list.
type Receipt struct {
	TxID       types.TxID
	Status     Status
	SkipReason SkipReason
	GasUsed    uint64
	Fee        u128.U128
	Burned     u128.U128
}

// ReceiptSize is the encoded size: tx_id[32] ‖ status u8 ‖ skip_reason u8 ‖
// gas_used u64 ‖ fee u128 ‖ burned u128, integers little-endian (§3).
const ReceiptSize = 32 + 1 + 1 + 8 + 16 + 16

// ErrBadReceipt is wrapped by every DecodeReceipt rejection.
var ErrBadReceipt = errors.New("execution: invalid receipt encoding")

// Encode returns the canonical encoding.
func (r *Receipt) Encode() []byte {
	b := r.encode()
	return b[:]
}

func (r *Receipt) encode() [ReceiptSize]byte {
	var b [ReceiptSize]byte
	copy(b[0:32], r.TxID[:])
	b[32] = byte(r.Status)
	b[33] = byte(r.SkipReason)
	binary.LittleEndian.PutUint64(b[34:42], r.GasUsed)
	r.Fee.PutLE(b[42:58])
	r.Burned.PutLE(b[58:74])
	return b
}

// Hash is H(receipt encoding).
func (r *Receipt) Hash() crypto.Hash {
	b := r.encode()
	return crypto.Hash(sha3.Sum256(b[:]))
}

// DecodeReceipt parses a stored receipt strictly: exactly ReceiptSize bytes, a
// known status, a skip reason in 1..8 iff the status is skipped, a skipped
// receipt with zero gas, fee and burn, and burned ≤ fee. Every receipt
// execution produces passes; anything else is corruption.
func DecodeReceipt(b []byte) (Receipt, error) {
	if len(b) != ReceiptSize {
		return Receipt{}, fmt.Errorf("%w: %d bytes, want %d", ErrBadReceipt, len(b), ReceiptSize)
	}
	r := Receipt{
		Status:     Status(b[32]),
		SkipReason: SkipReason(b[33]),
		GasUsed:    binary.LittleEndian.Uint64(b[34:42]),
		Fee:        u128.FromLE(b[42:58]),
		Burned:     u128.FromLE(b[58:74]),
	}
	copy(r.TxID[:], b[0:32])
	if err := r.Validate(); err != nil {
		return Receipt{}, err
	}
	return r, nil
}

// Validate checks the consistency rules DecodeReceipt enforces.
func (r *Receipt) Validate() error {
	switch r.Status {
	case StatusOK, StatusFailedInsufficientBalance:
		if r.SkipReason != SkipNone {
			return fmt.Errorf("%w: status %s with skip reason %d", ErrBadReceipt, r.Status, r.SkipReason)
		}
	case StatusSkipped:
		if r.SkipReason == SkipNone || r.SkipReason > maxSkipReason {
			return fmt.Errorf("%w: skipped with skip reason %d", ErrBadReceipt, r.SkipReason)
		}
		if r.GasUsed != 0 || !r.Fee.IsZero() || !r.Burned.IsZero() {
			return fmt.Errorf("%w: a skipped tx uses no gas and pays no fee", ErrBadReceipt)
		}
	default:
		return fmt.Errorf("%w: unknown status %d", ErrBadReceipt, r.Status)
	}
	if r.Fee.Less(r.Burned) {
		return fmt.Errorf("%w: burned %s > fee %s", ErrBadReceipt, r.Burned, r.Fee)
	}
	return nil
}

// ReceiptsRoot is H(count u32 ‖ H(receipt)…) (PROTOCOL.md §5).
func ReceiptsRoot(rs []Receipt) crypto.Hash {
	h := sha3.New256()
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(rs)))
	h.Write(n[:])
	for i := range rs {
		d := rs[i].Hash()
		h.Write(d[:])
	}
	var out crypto.Hash
	h.Sum(out[:0])
	return out
}
