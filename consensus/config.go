package consensus

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/consensus/safety"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// Defaults (PROTOCOL.md §7, §8.5).
const (
	DefaultBaseTimeoutMs      = 1000
	DefaultMaxTimeoutMs       = 30000
	DefaultMaxBlockIntervalMs = 500
	DefaultMaxFutureViews     = 100
	DefaultMaxClockSkewMs     = 2000
	DefaultMaxPendingBlocks   = 256
	DefaultRetainBlocks       = 64
	DefaultMaxEvidence        = 1024
	DefaultFetchRetryMs       = 1000
)

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("consensus: invalid config")

// PayloadSource is the DAG's side of proposal building (§7).
type PayloadSource interface {
	// Ready reports whether at least one eligible certificate exists.
	Ready() bool
	// Build returns the payload of a block of the given height and view
	// extending parent (round-robin from leader(view)+1, caps of §7).
	Build(parent *types.BlockHeader, height, view uint64) []*types.BatchCertificate
}

// Ancestry gives V7 read access to a block's uncommitted ancestry.
type Ancestry interface {
	// Block returns the stored block id, or nil.
	Block(id types.BlockID) *types.Proposal
	// CommittedHeight is the replica's committed height.
	CommittedHeight() uint64
}

// PayloadValidator is V7: the payload is valid per §7 against the block's
// ancestry (parent is in store). A non-nil error means "don't vote".
type PayloadValidator interface {
	ValidatePayload(p *types.Proposal, parent *types.Proposal, anc Ancestry) error
}

// Faults are TEST-ONLY fault injections (bug (b) of the simulator's
// acceptance tests). Production code must leave them zero.
type Faults struct {
	// SkipLockCheck disables the safe-node predicate: S2's lock clause
	// ("extends the locked block or justify_view > locked view") and its
	// twin in V4 ("justify_view ≥ the TC's maximum high_qc view"). Bug (a).
	// Only the two together are observable: with V4 intact the lock clause
	// alone is redundant (see docs/consensus.md).
	SkipLockCheck bool
	// CommitNonConsecutive commits B1 without checking that the 3-chain has
	// consecutive views.
	CommitNonConsecutive bool
}

// Config configures a Core.
type Config struct {
	Network    crypto.Network
	Validators *types.ValidatorSet
	Self       uint16
	// Genesis is G (types.GenesisBlock). Height 0 is committed and executed
	// with digest Genesis.ExecDigest.
	Genesis types.BlockHeader

	BaseTimeoutMs      uint64
	MaxTimeoutMs       uint64
	MaxBlockIntervalMs uint64
	MaxClockSkewMs     uint64 // V5 upper bound: local + 2000
	MaxFutureViews     uint64 // uncertified messages beyond current+this are dropped
	MaxPendingBlocks   int    // blocks waiting for their parent
	RetainBlocks       uint64 // committed blocks kept in memory below the tip (≥ 3)
	MaxEvidence        int
	FetchRetryMs       uint64

	Payload   PayloadSource    // nil: always empty payloads
	Validator PayloadValidator // nil: V7 accepts everything

	// Safety is the signer with S1–S5 (consensus/safety.Rules).
	Safety SafetyRules

	Faults Faults
}

// SafetyRules is what the core needs from consensus/safety.Rules.
type SafetyRules interface {
	UpdateLock(blockJustify types.QC)
	LockedQC() types.QC
	Observe(w uint64)
	EnterView(v uint64, viaCert bool)
	SignVote(b *types.BlockHeader, id types.BlockID, currentView uint64, extendsLocked bool) ([]byte, error)
	SignTimeout(view uint64, highQC types.QC) ([]byte, error)
	SignProposal(b *types.BlockHeader, id types.BlockID) ([]byte, error)
	Recovering() bool
	EndObservation() error
	StoredVote() *safety.SignedVote
	StoredTimeout() *safety.SignedTimeout
}

var _ SafetyRules = (*safety.Rules)(nil)

// WithDefaults fills zero fields with the defaults.
func (c Config) WithDefaults() Config {
	def := func(p *uint64, v uint64) {
		if *p == 0 {
			*p = v
		}
	}
	def(&c.BaseTimeoutMs, DefaultBaseTimeoutMs)
	def(&c.MaxTimeoutMs, DefaultMaxTimeoutMs)
	def(&c.MaxBlockIntervalMs, DefaultMaxBlockIntervalMs)
	def(&c.MaxClockSkewMs, DefaultMaxClockSkewMs)
	def(&c.MaxFutureViews, DefaultMaxFutureViews)
	def(&c.RetainBlocks, DefaultRetainBlocks)
	def(&c.FetchRetryMs, DefaultFetchRetryMs)
	if c.MaxPendingBlocks == 0 {
		c.MaxPendingBlocks = DefaultMaxPendingBlocks
	}
	if c.MaxEvidence == 0 {
		c.MaxEvidence = DefaultMaxEvidence
	}
	return c
}

// Validate checks the config.
func (c *Config) Validate() error {
	switch {
	case !c.Network.Valid():
		return fmt.Errorf("%w: network", ErrConfig)
	case c.Validators == nil || int(c.Self) >= c.Validators.Len():
		return fmt.Errorf("%w: self %d not in the validator set", ErrConfig, c.Self)
	case c.Safety == nil:
		return fmt.Errorf("%w: no safety rules", ErrConfig)
	case c.BaseTimeoutMs == 0 || c.MaxTimeoutMs < c.BaseTimeoutMs:
		return fmt.Errorf("%w: timeouts base %d cap %d", ErrConfig, c.BaseTimeoutMs, c.MaxTimeoutMs)
	case c.MaxBlockIntervalMs >= c.BaseTimeoutMs:
		return fmt.Errorf("%w: max_block_interval %d must be below the base timeout %d", ErrConfig, c.MaxBlockIntervalMs, c.BaseTimeoutMs)
	case c.RetainBlocks < 3:
		// C(x) of a child of the committed tip reads the tip's parent,
		// grandparent and great-grandparent.
		return fmt.Errorf("%w: retain_blocks %d must be at least 3", ErrConfig, c.RetainBlocks)
	case c.Genesis.Height != 0 || c.Genesis.View != 0:
		return fmt.Errorf("%w: genesis must have view 0 and height 0", ErrConfig)
	}
	return nil
}

// Counters count every drop, bound hit and rejection (exported to
// Prometheus by the node as qbind_consensus_<snake_case name>).
type Counters struct {
	// Inputs.
	Proposals, Votes, Timeouts, Syncs, Fetched uint64
	// Drops and bounds.
	DropFutureVote, DropFutureTimeout, DropFutureProposal uint64 // beyond current + MaxFutureViews
	DropStaleVote, DropStaleTimeout, DropStaleProposal    uint64
	DropEpoch                                             uint64
	DropDuplicateVote, DropDuplicateTimeout               uint64
	DropDuplicateProposal                                 uint64 // a block already parked waiting for its parent
	DropBeforeStart                                       uint64 // events before Start
	PendingBlocksFull                                     uint64 // pending-block cap hit
	DropBlocksPerView                                     uint64 // > 4 uncertified blocks of one view
	PendingBlocks                                         uint64 // blocks parked waiting for a parent
	EvidenceFull                                          uint64
	FetchesSent                                           uint64
	SyncAnswers, SyncAnswersSuppressed                    uint64
	// Rejections (V1–V7, structure).
	RejectV1, RejectV2, RejectV3, RejectV4, RejectV5, RejectV6, RejectV7 uint64
	RejectBelowCommitted                                                 uint64
	StateDigestMismatch                                                  uint64 // qbind_state_digest_mismatch_total
	VoteWaitExec, VoteWaitLock, VoteWaitPayload, HeldVotesCast           uint64
	// Safety.
	SafetyRefused uint64 // ErrConflict from the safety rules
	SafetyErrors  uint64 // store or signer errors
	// Equivocation.
	EquivocationProposal, EquivocationVote, EquivocationTimeout uint64
	// Progress.
	VotesSent, TimeoutsSent, Retransmissions, ProposalsMade uint64
	QCsFormed, TCsFormed, ViewsByQC, ViewsByTC, ViewsByJoin uint64
	TCsSentToLeader                                         uint64 // TCs we formed, handed to the next leader
	BlocksCommitted                                         uint64
}
