package dag

import "errors"

// Error is a DAG rejection with a metric label (Reason).
type Error struct {
	reason string
	msg    string
}

func (e *Error) Error() string { return e.msg }

// Reason is the metric label (qbind_dag_batch_rejected_total{reason}, …).
func (e *Error) Reason() string { return e.reason }

func newErr(reason, msg string) *Error { return &Error{reason: reason, msg: "dag: " + msg} }

// Batch receipt rejections (no ack), PROTOCOL.md §7.
var (
	ErrWrongEpoch     = newErr("wrong_epoch", "batch of another epoch")
	ErrUnknownCreator = newErr("unknown_creator", "creator is not a validator")
	ErrEmptyBatch     = newErr("empty", "batch has no transactions")
	ErrTooManyTxs     = newErr("too_many_txs", "batch exceeds the transaction cap")
	ErrBatchTooLarge  = newErr("too_large", "batch exceeds the byte cap")
	ErrSenderCap      = newErr("sender_cap", "batch has more transactions of one sender than the per-sender cap")
	ErrGasCap         = newErr("gas_cap", "batch gas_sum exceeds BLOCK_GAS_LIMIT / 2")
	ErrGasSum         = newErr("gas_sum", "batch gas_sum differs from Σ intrinsic gas")
	ErrTxRoot         = newErr("tx_root", "batch tx_root or tx_count does not match its transactions")
	ErrDuplicateTx    = newErr("duplicate_tx", "batch lists one tx_id twice")
	ErrBadTx          = newErr("bad_tx", "a batch transaction fails stateless validity")
	ErrExpiry         = newErr("expiry", "expiry_height outside (committed_height, committed_height + BATCH_TTL]")
	ErrBadBatchSig    = newErr("bad_batch_sig", "creator signature does not verify")
	ErrEquivocation   = newErr("equivocation", "creator sent two different batches for one seq")
	ErrAckWindow      = newErr("ack_window", "seq is at or below acked_max(creator) − 64")
	ErrPendingQuota   = newErr("pending_quota", "this node already acked MAX_PENDING pending batches of the creator")
	ErrOwnBatch       = newErr("own_batch", "batch claims this node as creator")
	ErrSignerConflict = newErr("signer_conflict", "the double-sign guard refused (ErrConflict)")
	ErrBadAck         = newErr("bad_ack", "ack does not verify or is not for a pending own batch")
	ErrBadCertificate = newErr("bad_certificate", "certificate does not verify")
	ErrFetchMismatch  = newErr("fetch_mismatch", "fetched body does not match the certificate")
	ErrNeedBodies     = newErr("need_bodies", "payload bodies are missing: fetching (warn/off modes hold every body before voting)")
	ErrUnavailable    = newErr("unavailable", "a payload body is missing and will not be fetched (certificate does not verify, expiry outside the fetch window, or fetch cap): no vote in warn/off")
	ErrPayloadInvalid = newErr("payload_invalid", "proposal payload is invalid (V7)")
	ErrUnknownBatch   = newErr("unknown_batch", "no such batch")
)

// Reason returns the label of err ("" for nil, "other" for a foreign error).
func Reason(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.reason
	}
	return "other"
}
