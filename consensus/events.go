package consensus

import (
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// Event is an input of Step. All messages and certificates are verified.
type Event interface{ isEvent() }

// Start is the first event after New: it sets the clock, arms the timer of
// view 1 and lets the leader of view 1 propose.
type Start struct{ NowMs uint64 }

// Tick carries the local clock (ms). The driver delivers one at or after
// every SetTimer time, and may deliver more (e.g. before each message).
type Tick struct{ NowMs uint64 }

// RecvProposal is a verified proposal delivered by peer From.
type RecvProposal struct {
	From     uint16
	Proposal *types.Proposal
}

// RecvVote is a verified vote delivered by peer From.
type RecvVote struct {
	From uint16
	Vote *types.Vote
}

// RecvTimeout is a verified timeout delivered by peer From.
type RecvTimeout struct {
	From    uint16
	Timeout *types.Timeout
}

// RecvSync is a verified SyncInfo sent alone by peer From.
type RecvSync struct {
	From uint16
	Sync types.SyncInfo
}

// PayloadAvailable says the DAG has something new for payloads: an eligible
// certificate (§7 "When to propose") or a fetched batch body, which lets a
// vote held back by ErrPayloadPending be decided.
type PayloadAvailable struct{}

// Executed says the execution pipeline executed height Height with exec
// digest Digest (§8.2), needed by V6 and by the leader's header.
type Executed struct {
	Height uint64
	Digest crypto.Hash
}

// BlocksFetched returns blocks a FetchBlocks asked for (any order; each
// proposal verified like a received one).
type BlocksFetched struct {
	From   uint16
	Blocks []*types.Proposal
}

func (Start) isEvent()            {}
func (Tick) isEvent()             {}
func (RecvProposal) isEvent()     {}
func (RecvVote) isEvent()         {}
func (RecvTimeout) isEvent()      {}
func (RecvSync) isEvent()         {}
func (PayloadAvailable) isEvent() {}
func (Executed) isEvent()         {}
func (BlocksFetched) isEvent()    {}

// Message is what Send and Broadcast carry: *types.Proposal, *types.Vote,
// *types.Timeout or *types.SyncInfo. Receivers must treat it as immutable.
type Message any

// Action is an output of Step; the driver performs actions in order.
type Action interface{ isAction() }

// Send sends Msg to validator To.
type Send struct {
	To  uint16
	Msg Message
}

// Broadcast sends Msg to every other validator.
type Broadcast struct{ Msg Message }

// PersistBlock stores a block (with its justify QC) in the block store.
type PersistBlock struct{ Proposal *types.Proposal }

// PersistQC stores the new high QC.
type PersistQC struct{ QC types.QC }

// CommitProof is §8.5's proof: hash-linked headers B1 ← B2 ← B3 with
// consecutive views, and QC(B3).
type CommitProof struct {
	Headers [3]types.BlockHeader
	QC      types.QC
}

// Commit hands blocks to execution in height order (B1 last), with the proof
// that commits them. After a restart heights may repeat: skip those ≤ the
// executed height.
type Commit struct {
	Blocks []*types.Proposal
	Proof  CommitProof
}

// SetTimer asks for a Tick at or after AtMs (replaces any earlier request).
type SetTimer struct{ AtMs uint64 }

// FetchBlocks asks peer From (a hint; any peer will do) for block ID and its
// ancestors down to a block this replica holds.
type FetchBlocks struct {
	ID   types.BlockID
	From uint16
}

// Halt stops the node: a broken invariant (e.g. "state divergence at height h").
type Halt struct{ Reason string }

// Equivocation reports new evidence (also kept in Core.Evidence).
type Equivocation struct{ Evidence Evidence }

func (Send) isAction()         {}
func (Broadcast) isAction()    {}
func (PersistBlock) isAction() {}
func (PersistQC) isAction()    {}
func (Commit) isAction()       {}
func (SetTimer) isAction()     {}
func (FetchBlocks) isAction()  {}
func (Halt) isAction()         {}
func (Equivocation) isAction() {}

// EvidenceKind names what was signed twice.
type EvidenceKind uint8

// Evidence kinds.
const (
	EvidenceProposal EvidenceKind = iota + 1
	EvidenceVote
	EvidenceTimeout
)

// Evidence is two signed messages of one kind, view and key with different
// content (§8.5). A and B are the two messages (*types.Proposal, *types.Vote
// or *types.Timeout).
type Evidence struct {
	Kind      EvidenceKind
	View      uint64
	Validator uint16
	A, B      Message
}
