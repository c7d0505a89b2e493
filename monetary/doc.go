// Package monetary is QBIND's monetary policy engine (PROTOCOL.md §10, spec
// §3.6): a pure, deterministic, integer-only function from the epoch state and
// what the node observed during an epoch to the next epoch state, the epoch's
// issuance and how it is split.
//
// # What it owns
//
//   - The policy parameters per phase (Params, PhaseParams) and their
//     governance ranges (Params.Validate).
//   - The epoch state (EpochState) and its canonical encoding
//     (EpochState.Encode, DecodeEpochState); the node hashes that encoding
//     into the exec digest.
//   - One epoch step (Engine.Next) and the catch-up over elapsed epochs
//     (Engine.Advance): EMA of fees, PQC-adjusted target, floor/cap, Δ-limit,
//     fee coverage, stake ratio, phase gates, issuance, split and, in active
//     mode, the credits the node must apply.
//
// # What it must never do
//
// No floating point, no clock (time.Now), no randomness, no goroutines, no
// I/O, no logging, no dependency on other QBIND packages except the two
// stdlib-only leaves u128 (the amount type) and codec (the canonical
// encoding). The same inputs always give the same outputs on every platform;
// this is what lets every validator agree on the state hash. The engine trusts
// its caller for the meaning of the inputs (fees, stakes, supply come from the
// node's committed state) and rejects only what is impossible.
//
// # Arithmetic and rounding
//
// Amounts are u128 (u128.U128). Every product is formed in math/big, so no
// intermediate can overflow (the largest, smoothed_annual_fees × 10⁸, is below
// 2^172 for u128 inputs); every result that is stored or returned as an amount
// is proven ≤ an input amount and converted back to u128. Every division
// floors (operands are never negative):
//
//	ema            = (λ·fees + (10⁴−λ)·ema_prev) / 10⁴      floor; first epoch: fees
//	annual         = ema × 52,560                            exact
//	fee_offset_bps = annual × 10⁴ / staked                   floor; 0 if staked = 0
//	r_target_eff   = r_target_bps × 155 / 100                floor
//	r              = clamp(max(0, r_target_eff − fee_offset), floor, cap)
//	r              = clamp(r, r_prev − Δ, r_prev + Δ)        not in the first epoch
//	coverage_bps   = annual × 10⁸ / (staked × r_target_bps)  floor; 0 if staked = 0
//	stake_ratio    = min(10⁴, staked × 10⁴ / circulating)    floor; 0 if circulating = 0
//	issuance       = staked × r / (52,560 × 10⁴)             floor
//	insurance      = issuance × 400 / 10⁴                    floor
//	community      = issuance × 200 / 10⁴                    floor
//	validators     = issuance × share_bps / 10⁴              floor
//	treasury       = issuance − insurance − community − validators
//	validator i    = validators × stake_i / Σ stake          floor; the last one: the remainder
//
// fee_offset and coverage saturate at 2^64 − 1 (only reachable with absurd
// fees against a tiny stake; the rate is then simply the floor).
//
// # Gate timing
//
// The gates of the governing phase are evaluated after the rate of epoch e is
// computed, on e, e's coverage and e's stake ratio; when they hold the next
// phase governs e + 1 onwards. The state after e records that next phase, so
// with the default gates and fees that meet the economic conditions early,
// the state of epoch 157,680 is the first whose Phase is Transition and epoch
// 157,681 is the first computed with Transition parameters (367,920 / 367,921
// for Mature). One step per epoch at most, never back, Mature terminal.
//
// # Modes
//
// Off: nothing is computed, the state does not move. Shadow: the state, the
// rate and the split are computed (state hash, metrics) but no credit is
// returned. Active: Outcome.Credits lists what to add to which balance.
package monetary
