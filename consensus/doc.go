// Package consensus is QBIND's chained-HotStuff core with 3-chain commit
// (PROTOCOL.md §8): leader rotation, block validity V1–V7, vote and timeout
// aggregation, the pacemaker (timer, timeout-vote rule, TCs, joining a higher
// view), commit with commit proofs, block-sync requests and bounded memory.
//
// Shape: a single-threaded, deterministic state machine (etcd/raft style).
//
//	c, err := consensus.New(cfg)
//	actions := c.Step(event)
//
// The driver feeds events in order and performs the returned actions in
// order: Persist* before the Send/Broadcast that follows it, Commit to the
// execution pipeline, SetTimer by delivering a Tick at or after the time.
//
// The core TRUSTS ITS INPUTS: every signature and certificate in an event has
// been verified by the driver (in a worker pool) before Step. The core checks
// everything else: structure, V1–V7, S1–S5 (through consensus/safety), views,
// bounds.
//
// The core never starts goroutines, reads a clock, touches the network or
// the disk, or uses math/rand. Time enters only through Tick and Start. The
// two injected synchronous dependencies are the safety rules (SafetyStore +
// Signer, which persist and sign) and the node's hooks (PayloadSource,
// PayloadValidator). Same inputs, same outputs: this is what makes
// internal/sim possible.
package consensus
