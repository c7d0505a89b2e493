package mempool

import (
	"errors"

	"github.com/qbind/qbind/types"
)

// Error is a mempool rejection. Every rejection a client or peer can cause is
// one of the exported sentinel values below, possibly wrapped with detail
// (errors.Is works); Reason is its metric label.
type Error struct {
	reason string
	msg    string
}

func (e *Error) Error() string { return e.msg }

// Reason is the metric label of the rejection (qbind_mempool_rejected_total{reason}).
func (e *Error) Reason() string { return e.reason }

func newErr(reason, msg string) *Error { return &Error{reason: reason, msg: "mempool: " + msg} }

// Admission rejections, in the order admission checks them. Stateless
// validity failures are the types package's sentinels (types.ErrTxDecode,
// types.ErrMalformedPayload, types.ErrV0Forbidden, types.ErrGasLimitBelowIntrinsic,
// types.ErrFeeBelowMinimum, types.ErrBadTxSignature); Reason maps them too.
var (
	ErrTooLarge              = newErr("too_large", "transaction exceeds the maximum transaction size")
	ErrDuplicate             = newErr("duplicate", "transaction is already in the pool")
	ErrNonceTooLow           = newErr("nonce_too_low", "nonce is below the account nonce")
	ErrNonceGap              = newErr("nonce_gap", "nonce leaves a gap after the sender's pending nonces")
	ErrInsufficientBalance   = newErr("insufficient_balance", "balance does not cover Σ pending (gas_limit × max_fee_per_gas + amount)")
	ErrSenderCountCap        = newErr("sender_count_cap", "sender has the maximum number of pending transactions")
	ErrSenderBytesCap        = newErr("sender_bytes_cap", "sender's pending transactions would exceed the per-sender byte cap")
	ErrReplaceUnderpriced    = newErr("replacement_underpriced", "replacement must raise max_fee_per_gas by at least the bump percentage")
	ErrReplaceBatched        = newErr("replacement_batched", "the transaction with this nonce is already in a batch and cannot be replaced")
	ErrNonceTaken            = newErr("nonce_taken", "FIFO pool: a transaction with this nonce is already pending (no replace-by-fee)")
	ErrPoolFull              = newErr("pool_full", "pool is full and the transaction does not outrank the lowest-priority evictable one")
	ErrEvictionRateLimited   = newErr("eviction_rate_limited", "pool is full and the eviction rate limit is reached")
	ErrState                 = newErr("state_error", "reading the account state failed")
	errUnknownStatelessLabel = "stateless_other"
)

var statelessLabels = []struct {
	err   error
	label string
}{
	{types.ErrTxDecode, "decode"},
	{types.ErrMalformedPayload, "malformed_payload"},
	{types.ErrV0Forbidden, "v0_forbidden"},
	{types.ErrGasLimitBelowIntrinsic, "gas_limit_below_intrinsic"},
	{types.ErrFeeBelowMinimum, "fee_below_minimum"},
	{types.ErrBadTxSignature, "bad_signature"},
}

// Reason returns the metric label of any admission error: the *Error's
// reason, the label of a types stateless-validity sentinel, or
// "stateless_other" for anything else ("" for nil).
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.reason
	}
	for _, s := range statelessLabels {
		if errors.Is(err, s.err) {
			return s.label
		}
	}
	return errUnknownStatelessLabel
}

// Reasons lists every label Reason can return (for metric pre-registration).
func Reasons() []string {
	out := []string{}
	for _, e := range []*Error{ErrTooLarge, ErrDuplicate, ErrNonceTooLow, ErrNonceGap, ErrInsufficientBalance,
		ErrSenderCountCap, ErrSenderBytesCap, ErrReplaceUnderpriced, ErrReplaceBatched, ErrNonceTaken, ErrPoolFull,
		ErrEvictionRateLimited, ErrState} {
		out = append(out, e.reason)
	}
	for _, s := range statelessLabels {
		out = append(out, s.label)
	}
	return append(out, errUnknownStatelessLabel)
}
