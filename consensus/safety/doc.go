// Package safety holds the consensus safety rules S1–S5 of PROTOCOL.md §8.4
// and the persisted safety record that backs them.
//
// Invariant protected: an honest key never releases two conflicting
// consensus signatures — at most one proposal, one vote and one timeout per
// view (S4), never a vote for a view at or below one it already voted or
// timed out in (S2, S3), and never a vote that abandons its lock unless the
// block's justify QC is newer than the lock (S2). Every change to the record
// is written through the SafetyStore (which must be durable: fsync) before the
// signature leaves Rules ("persist, then release the signature", S5).
//
// On every start Rules applies the V0 rule of §8.4: it signs no vote or
// proposal until the core has entered a view greater than
// V0 = max(last_voted_view, last_timeout_view, w*) through a valid QC or TC.
// A missing record refuses to start unless recovery is requested; a recovering
// key observes first, may sign timeouts (a repeated timeout of one view is
// counted, not refused) and reports Recovering() so the DAG layer withholds
// BATCH_ACKs (§8.4, §12).
//
// A refused signature is ErrConflict: counted by the caller, never fatal.
//
// The package does no I/O of its own: the SafetyStore and the Signer are
// injected, and both are synchronous. It must never import p2p, node or any
// storage engine, and never read a clock.
package safety
