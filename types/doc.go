// Package types holds QBIND's wire and storage objects (PROTOCOL.md §4, §7,
// §8.2, §11): transactions and their transfer payloads, accounts, the genesis
// execution parameters, batches, acks and availability certificates, block
// headers, proposals, votes, quorum and timeout certificates, SyncInfo, and
// the validator set with its quorum arithmetic.
//
// Every object has a canonical encoding (package codec) with a strict decoder
// that never panics, a signing preimage that starts with the network-scoped
// domain tag, and Sign/Verify functions that take the network, so a signature
// made for one network never verifies on another.
//
// Decoders check structure only (sizes, caps, counts, enum values). Semantic
// checks that need context — quorum, signatures, validity windows — live in
// the Verify functions, which callers run in a worker pool before an object
// reaches a pure core.
package types
