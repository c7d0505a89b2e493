package types

import "fmt"

// SkipReason is why execution skipped a transaction (PROTOCOL.md §5). The
// codes are the check order: the first failing check is the reason. It lives
// here because two cores read it — execution writes it into receipts, the
// mempool decides a transaction's pool outcome by it (§7).
type SkipReason uint8

const (
	SkipNone                   SkipReason = 0
	SkipMalformed              SkipReason = 1
	SkipV0Forbidden            SkipReason = 2
	SkipGasLimitBelowIntrinsic SkipReason = 3
	SkipFeeBelowMinimum        SkipReason = 4
	SkipBlockGasLimit          SkipReason = 5
	SkipNonceTooLow            SkipReason = 6
	SkipNonceTooHigh           SkipReason = 7
	SkipInsufficientBalance    SkipReason = 8
	// MaxSkipReason is the highest defined code.
	MaxSkipReason = SkipInsufficientBalance
)

var skipNames = [...]string{"none", "malformed", "v0_forbidden", "gas_limit_below_intrinsic", "fee_below_minimum",
	"block_gas_limit", "nonce_too_low", "nonce_too_high", "insufficient_balance"}

func (r SkipReason) String() string {
	if int(r) < len(skipNames) {
		return skipNames[r]
	}
	return fmt.Sprintf("skip_reason(%d)", uint8(r))
}

// Static reports whether the reason is decided without reading state (codes
// 1–5).
func (r SkipReason) Static() bool { return r >= SkipMalformed && r <= SkipBlockGasLimit }

// StaysInPool reports the pool outcome of a skip (§7): a tx skipped
// nonce_too_high or block_gas_limit stays and becomes batchable again; every
// other skip removes it.
func (r SkipReason) StaysInPool() bool { return r == SkipNonceTooHigh || r == SkipBlockGasLimit }
