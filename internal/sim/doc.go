// Package sim is a deterministic discrete-event simulator for the consensus
// core (PROTOCOL.md §8; ARCHITECTURE.md "Testing pyramid").
//
// One goroutine, a virtual clock, an event queue ordered by (time, sequence)
// and one seeded PCG generator: the same Config (seed included) replays the
// same run event for event. Real consensus.Core instances run inside; the
// simulator plays the node driver for each of them: it verifies inputs
// (a fast stand-in signature H(key id ‖ msg) by default, real ML-DSA-44 with
// a wire encode/decode round trip when Config.RealCrypto is set), delivers
// Ticks, performs actions, keeps a per-node "disk" (blocks and QCs, synced at
// each commit, the unsynced tail lost on a crash) and a safety store that
// survives crashes.
//
// Network: per-link base delay plus jitter (reordering), drop, duplication,
// partitions that heal (messages crossing a partition are dropped at send and
// at delivery). Faults: crash and restart, restart with a lost safety record
// (recovery mode), Twins (two instances sharing one key, each with its own
// safety record), and scripted Byzantine outbound filters (Config.Outbound).
//
// Invariants checked after every event (Checker): no two honest nodes commit
// different blocks at one height; every committed chain is hash-linked (so
// committed chains are prefixes of each other); no honest key signs two
// different votes or proposals for one view, nor two different timeouts unless
// the key went through recovery; no honest node halts. Liveness is checked at
// the end: committed height grows by ≥ 5 after the last heal when the run
// lasts ≥ 10·base + 2·cap after it and at most f validators are faulty.
//
// The App interface is the node-level hook for the DAG layer: payload source,
// payload validation (V7), payload-available events and executed-digest events.
//
// Never run with -race: the simulator is single-threaded by design.
package sim
