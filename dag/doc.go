// Package dag is the DAG availability core (PROTOCOL.md §7, spec §4): it
// turns pooled transactions into batches, batches into certificates, and
// certificates into proposal payloads, and checks all three when they come
// from peers.
//
// It owns: the batch builder (from the mempool by priority; §7 caps; cut at
// gas_sum ≥ BLOCK_GAS_LIMIT/4, when full, or after MaxWaitMs; the per-sender
// run rule through the pool; expiry_height = committed + BATCH_TTL −
// BATCH_EXPIRY_SLACK; the MAX_PENDING quota; re-sending uncertified pending
// batches every 2 s to non-ackers; seq resumption), batch validation on
// receipt (header, caps, expiry window, 64-seq ack window, pending quota per
// creator, creator signature, every tx's stateless validity, gas_sum,
// tx_root), "store durably, then ack" (a Store action, the ack only on
// StoreDone), at most one ack per (creator, seq) (the Signer's double-sign
// guard, mirrored by the core), ack collection into certificates,
// certificate verification cached by the recomputed batch_id,
// fetch-on-miss planning (signers holding > f power first, a deadline, then
// the rest; a body is accepted only if its header hashes to the certified
// id, tx_root matches and every signature verifies), the eligible set and
// the leader's payload selection with its batch_commitment, V7 in the
// coupling modes enforce|warn|off, the post-commit block check, the
// canonical tx list of a committed block, and garbage collection by expiry
// and retention. A bounded index batch_id → height over the last BATCH_TTL
// committed heights plus a walk of the uncommitted ancestry decide "already
// in the ancestry".
//
// Shape: Step(Event) []Action, etcd/raft style; BuildPayload and
// ValidatePayload are synchronous calls for consensus's PayloadSource and
// PayloadValidator hooks (fetches they start are collected with
// TakeActions). It must never: start goroutines, read the clock, use
// math/rand, the network or storage. Signatures are produced through the
// Signer interface (the signer persists its guard before returning) and
// checked through the Verifier interface; both are deterministic.
package dag
