// Package p2p is QBIND's peer-to-peer layer (PROTOCOL.md §11, spec §5): the
// message envelope and its priority classes, per-peer bounded send queues and
// inbound token buckets, and the peer manager (static, bootstrap and
// validator peers; peer exchange of signed NodeRecords; random dial
// selection; jittered exponential backoff; heartbeats with the 0–100
// liveness score; the /24 cap; the /16 diversity warning). Transport
// security lives in p2p/kemtls, the token buckets in p2p/ratelimit.
//
// Shape: policy.go holds every decision (Book: admission, scoring, eviction,
// dial planning, the address book) as pure code driven with explicit time
// and an explicit RNG; host.go is the single manager goroutine that owns the
// Book and its timers (through the Clock interface), plus the accept and dial
// goroutines; peer.go has one reader and one writer goroutine per session.
//
// It never decodes consensus or DAG bodies (they reach Config.Handler as
// opaque bytes), never blocks the manager goroutine on a socket, and keeps
// every map and queue keyed by peer input bounded (≤ 100 discovered peers,
// 4 per /24 and 25 per source; ≤ 1024 remembered evictions; per-class queue
// limits; bounded handshake-limiter tables).
package p2p
