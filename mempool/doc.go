// Package mempool is the transaction pool core (PROTOCOL.md §4, §7; spec
// §3.3, §4.4).
//
// It owns admission and ordering of transactions received over RPC:
// size cap → stateless validity (types.Checker: decode, sender through the
// key cache, tx_id, payload rules, signature once) → state checks against an
// AccountView (duplicate, contiguous nonces from the account nonce, per-sender
// count and byte caps, cumulative balance Σ pending (gas_limit × max_fee +
// amount) ≤ balance, replace-by-fee with a ≥ 10 % max-fee bump while the tx
// is not in a batch) → room (evicting the lowest-priority evictable txs of
// other senders, strictly below the newcomer, within the eviction rate limit
// in mode off|warn|enforce). Priority is (max_fee_per_gas, −intrinsic_gas,
// arrival); the FIFO discipline of the dev profiles (arrival only, no
// replacement, no eviction) is the same type behind the same Mempool
// interface. The batch builder (package dag) reads txs through Iterate in
// priority order respecting nonce order and the per-sender run rule, and
// reports MarkBatched / Unbatch; OnBlock applies the §7 pool outcome of
// every execution result and re-checks the touched senders.
//
// It must never: start goroutines, read the clock (time arrives as nowMs),
// use math/rand, the network or storage other than the AccountView it is
// given. It is single-threaded: a driver serialises calls, and may run
// types.Checker in a worker pool before AddChecked (package mempool/bench
// does). Every rejection is an exported sentinel *Error (or a types
// stateless-validity sentinel) whose metric label is Reason(err).
package mempool
