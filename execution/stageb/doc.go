// Package stageb is Stage B parallel execution (PROTOCOL.md §6): it runs a
// block with the same rules as package execution (Prepare, ApplyTx, Finish)
// on a parallel schedule and produces exactly the sequential result —
// every receipt, every account, total_burned and the state digest.
//
// Algorithm. The static part of a block (canonical list, dedup, per-sender
// reordering, S_i and skip reasons 1–5) is decided first by
// execution.Prepare; only the state-dependent part is scheduled. Each
// scheduled tx reads and writes exactly {sender, recipient} (fee credit and
// burn are block-end deltas, so they conflict with nothing). Every account
// gets a handle on first sight (one map lookup per account per tx; its state
// is loaded from the view then, on the caller's goroutine); the conflict
// graph is levelled in one pass with a per-handle "last level" array:
// level(tx) = 1 + max(last[sender], last[recipient]). Txs of one level touch
// pairwise distinct accounts, and every account's txs sit in increasing
// levels in block order, so running the levels one after another — each on a
// bounded pool of goroutines — is equivalent to block order. Receipts are
// written at their position and accounts at their handle, so the merge is
// deterministic by construction. Chain-shaped graphs (fewer than 4 txs per
// level on average) and small levels run on the caller. The LtHash update of
// the changed accounts, which dominates the cost, uses the same worker count.
//
// What it owns: the conflict graph, level scheduling, the worker pool, the
// sequential fallback and metrics hooks. What it must never do: change a
// rule of execution (it only calls execution's functions), read a clock
// (Metrics.Now is injected) or let results depend on scheduling. It is the
// one place in the execution core that starts goroutines; none outlives a
// call.
package stageb
