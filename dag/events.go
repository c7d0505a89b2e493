package dag

import "github.com/qbind/qbind/types"

// Event is an input of Core.Step. Messages arrive decoded but unverified:
// the core verifies what §7 asks for (through Config.Verifier, with caches).
type Event interface{ isEvent() }

// Tick carries the local clock (ms); the builder runs only on a Tick.
// Driver contract: deliver a Tick at or after every SetTimer time (more are
// harmless), and right after every change the driver itself makes to the
// pool that can make txs batchable, since the core cannot see those:
// admitting transactions, and applying a committed block's outcomes
// (mempool OnBlock) unless that happens in the same turn as Committed (see
// Committed).
type Tick struct{ NowMs uint64 }

// RecvBatch is a batch pushed by its creator (broadcast or re-send).
type RecvBatch struct {
	From  uint16
	Batch *types.Batch
}

// StoreDone says the body of a Store action is durable.
type StoreDone struct{ ID types.BatchID }

// RecvAck is an ack for one of this node's batches, from the network: it
// is verified, and dropped if it claims this node as signer (the own ack
// is added internally when the own body is stored).
type RecvAck struct {
	From uint16
	Ack  *types.BatchAck
}

// RecvCert is a certificate broadcast by a creator.
type RecvCert struct {
	From uint16
	Cert *types.BatchCertificate
}

// RecvFetchRequest asks this node for a body.
type RecvFetchRequest struct {
	From uint16
	Req  *FetchRequest
}

// RecvFetchResponse is a body answering a fetch.
type RecvFetchResponse struct {
	From uint16
	Resp *FetchResponse
}

// Committed is a committed block, delivered in height order (after the
// consensus Commit action). The core records its batches, runs the
// post-commit block check, expires and garbage-collects. When an own batch
// leaves the pending set (committed, or expired: its txs are put back in
// the pool) and the pool is not empty, the core asks for a Tick at once
// (SetTimer at its last clock): the builder looks again. A driver that
// applies the block's outcomes to the pool before delivering that Tick (in
// the same turn) needs nothing more; one that applies them later (e.g.
// execution waited for fetched bodies) ticks after applying them.
type Committed struct{ Block *types.Proposal }

func (Tick) isEvent()              {}
func (RecvBatch) isEvent()         {}
func (StoreDone) isEvent()         {}
func (RecvAck) isEvent()           {}
func (RecvCert) isEvent()          {}
func (RecvFetchRequest) isEvent()  {}
func (RecvFetchResponse) isEvent() {}
func (Committed) isEvent()         {}

// FetchRequest asks a peer for the body of batch ID (fetch-on-miss).
type FetchRequest struct{ ID types.BatchID }

// FetchResponse carries a body.
type FetchResponse struct{ Batch *types.Batch }

// Message is what Send and Broadcast carry: *types.Batch, *types.BatchAck,
// *types.BatchCertificate, *FetchRequest or *FetchResponse. Immutable.
type Message any

// Action is an output of the core; the driver performs actions in order.
type Action interface{ isAction() }

// Store asks the driver to persist a body durably and then deliver
// StoreDone{ID} ("store durably, then ack").
type Store struct {
	ID    types.BatchID
	Batch *types.Batch
}

// Delete removes a stored body (expired, or committed and older than
// RetainBlocks).
type Delete struct{ ID types.BatchID }

// Send sends Msg to validator To.
type Send struct {
	To  uint16
	Msg Message
}

// Broadcast sends Msg to every other validator.
type Broadcast struct{ Msg Message }

// PayloadAvailable tells consensus an eligible certificate exists, or a
// fetched body arrived that a held-back vote may be waiting for.
type PayloadAvailable struct{}

// SetTimer asks for a Tick at or after AtMs (AtMs may be in the past: tick
// at once). The core emits one only when it needs a Tick earlier than the
// outstanding request or none is outstanding, so a driver may keep a single
// timer and replace it on each SetTimer, or schedule every one.
type SetTimer struct{ AtMs uint64 }

// Equivocation reports a creator that signed two batches for one seq.
type Equivocation struct {
	Creator uint16
	Seq     uint64
	A, B    types.BatchID
}

func (Store) isAction()            {}
func (Delete) isAction()           {}
func (Send) isAction()             {}
func (Broadcast) isAction()        {}
func (PayloadAvailable) isAction() {}
func (SetTimer) isAction()         {}
func (Equivocation) isAction()     {}
