// Package execution is QBIND's VM v0 (PROTOCOL.md §5): it turns a committed
// block's ordered entries into receipts, account changes, the block-end fee
// deltas and the state and exec digests.
//
// The pipeline of one block:
//
//   - Prepare builds the canonical list (dedup by tx_id, malformed entries in
//     place, per-sender (nonce, position) reordering) and makes every static
//     decision: intrinsic gas, the running S_i and skip reasons 1–5;
//   - ApplyTx decides skip reasons 6–8 and executes a tx against its sender
//     and recipient only (fee = intrinsic_gas × max_fee_per_gas, nonce += 1,
//     transfer or failed_insufficient_balance);
//   - Finish applies the block-end deltas once (burn to total_burned, the
//     proposer share to the proposer's reward account), computes
//     receipts_root and lists the changed accounts sorted by id;
//   - BlockResult.Seal moves the LtHash16 set hash across the changes and
//     computes state_digest and exec_digest (§8.2, §9).
//
// Run is the sequential reference; Execute is Run + Seal. Package stageb
// runs the same Prepare/ApplyTx/Finish with a parallel schedule and must give
// byte-identical results.
//
// What it owns: the execution rules, receipts and their encoding, the
// StateView contract the state store implements, and MemState (an in-memory
// StateView for tests, benchmarks and devnet).
//
// What it must never do: verify signatures (stateless validity ran once per
// node before a tx reached a block), write storage (it returns changes),
// start goroutines, read clocks or randomness, or panic on any input. A
// broken invariant (a credit overflow that genesis's supply bound rules out)
// is returned as ErrInvariant and the node halts.
package execution
