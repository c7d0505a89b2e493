package safety

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// Errors. ErrConflict is the only refusal a peer can provoke; it is counted
// by the caller and never fatal.
var (
	// ErrConflict: signing would break S2/S3/S4 or the V0 start-up rule.
	ErrConflict = errors.New("safety: signature refused (conflict with the safety record)")
	// ErrNoRecord: the record of an existing key is missing and recovery was not requested.
	ErrNoRecord = errors.New("safety: record missing; start with --recover-safety-record")
	// ErrStore: the record could not be persisted; no signature was released.
	ErrStore = errors.New("safety: persisting the record failed")
	// ErrSign: the signer failed (transport, HSM or key error: fatal under exit-on-failure).
	ErrSign = errors.New("safety: signer failed")
)

// SafetyStore persists the record next to the signing key. Save must be
// durable (fsync) when it returns nil. Load reports ok=false when no record
// exists.
type SafetyStore interface {
	Load() (rec *Record, ok bool, err error)
	Save(rec *Record) error
}

// Signer produces a signature over msg with the consensus key (the loopback,
// keystore, remote or HSM signer of §12). It is synchronous.
type Signer interface {
	Sign(msg []byte) ([]byte, error)
}

// Faults are TEST-ONLY fault injections used by the simulator to prove that
// it catches the corresponding bugs. Production code must leave them zero.
type Faults struct {
	// ForgetLastVoted zeroes last_voted_view (and the stored vote) when the
	// record is loaded: bug (c), "forgetting the last voted view across a restart".
	ForgetLastVoted bool
}

// Config configures Rules.
type Config struct {
	Network crypto.Network
	Store   SafetyStore
	Signer  Signer
	// Recover allows starting without a record (--recover-safety-record).
	Recover bool
	// Genesis is QC(G), the initial lock when a record is created.
	GenesisQC types.QC
	Faults    Faults
}

// Counters are the package's refusal counters.
type Counters struct {
	RefusedVotes, RefusedTimeouts, RefusedProposals uint64
	RefusedV0                                       uint64 // refused because the V0 rule is not yet satisfied
	RecoveryRepeatTimeouts                          uint64 // §8.4: repeated timeout of one view by a recovering key
	Persists                                        uint64
}

// Rules enforces S1–S5 and V0 for one key. Not safe for concurrent use: the
// consensus core owns it.
type Rules struct {
	cfg        Config
	rec        *Record
	recovering bool
	v0         uint64 // max(last_voted, last_timeout) at start, raised by Observe until armed
	armed      bool   // entered a view > V0 through a valid QC or TC
	observing  bool   // recovery: observing, arming disabled (§8.4)
	Counters   Counters
}

// New loads the record (creating an empty one in recovery) and applies the
// start-up part of the V0 rule. It never signs.
func New(cfg Config) (*Rules, error) {
	rec, ok, err := cfg.Store.Load()
	if err != nil {
		return nil, fmt.Errorf("%w: load: %w", ErrStore, err)
	}
	r := &Rules{cfg: cfg}
	if !ok {
		if !cfg.Recover {
			return nil, ErrNoRecord
		}
		rec = &Record{LockedQC: cfg.GenesisQC, Recovering: true}
		if err := cfg.Store.Save(rec.Clone()); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrStore, err)
		}
	} else {
		rec = rec.Clone()
	}
	if rec.Recovering {
		// a recovery that has not finished observing (possibly across
		// restarts) continues: the flag is persisted until EndObservation.
		r.recovering, r.observing = true, true
	}
	if cfg.Faults.ForgetLastVoted {
		rec.LastVotedView, rec.Vote = 0, nil
	}
	r.rec = rec
	r.v0 = max(rec.LastVotedView, rec.LastTimeoutView)
	return r, nil
}

// NewRecord is the empty record key generation creates next to a new key.
func NewRecord(genesisQC types.QC) *Record { return &Record{LockedQC: genesisQC} }

// Record returns a copy of the current record.
func (r *Rules) Record() *Record { return r.rec.Clone() }

// Recovering reports that this run started without a record.
func (r *Rules) Recovering() bool { return r.recovering }

// LockedQC is the current lock (S1).
func (r *Rules) LockedQC() types.QC { return r.rec.LockedQC }

// LastVotedView is last_voted_view.
func (r *Rules) LastVotedView() uint64 { return r.rec.LastVotedView }

// V0 is the current start-up threshold; Armed reports that it was passed.
func (r *Rules) V0() uint64 { return r.v0 }

// Armed reports that the key may sign votes and proposals (V0 passed).
func (r *Rules) Armed() bool { return r.armed }

// UpdateLock applies the lock half of S1 with the justify QC of a newly
// certified block (the locked block is the parent of the newest QC'd block).
// The raised lock is persisted with the next signature, before it leaves.
func (r *Rules) UpdateLock(blockJustify types.QC) {
	if blockJustify.View > r.rec.LockedQC.View {
		r.rec.LockedQC = blockJustify
	}
}

// Observe raises w* (§8.4) with a view w proven live: the core calls it with
// q.view+1 for a valid QC or TC of view q, and with w for messages of view w
// from more than f power. Ignored once armed.
func (r *Rules) Observe(w uint64) {
	if !r.armed {
		r.v0 = max(r.v0, w)
	}
}

// EnterView tells the rules that the core entered view v; viaCert reports
// that it did so through a valid QC or TC. The core calls EnterView before
// Observe for the certificate that made it enter.
func (r *Rules) EnterView(v uint64, viaCert bool) {
	if !r.armed && !r.observing && viaCert && v > r.v0 {
		r.armed = true
	}
}

// EndObservation ends the recovery observation period (one maximum view
// timeout after start, measured by the core's clock). Until then a
// recovering key signs nothing and every observed view raises V0.
//
// Ending it sets V0 := w* + 1 (one view of margin: the lost record may hold a
// signature in the view after the highest one observed) and persists that
// floor as last_voted_view and last_proposed_view, clearing the Recovering
// flag, so a crash after this point restarts with the floor intact.
func (r *Rules) EndObservation() error {
	if !r.observing {
		return nil
	}
	v0 := r.v0 + 1 // applied only once persisted: a failed save can be retried
	next := r.rec.Clone()
	next.LastVotedView = max(next.LastVotedView, v0)
	next.LastProposedView = max(next.LastProposedView, v0)
	next.Recovering = false
	if err := r.cfg.Store.Save(next.Clone()); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	r.Counters.Persists++
	r.v0 = v0
	r.rec = next
	r.observing = false
	return nil
}

// Observing reports that the recovery observation period is running.
func (r *Rules) Observing() bool { return r.observing }

// SignVote applies S2, S3, S4, S5 and V0 to a vote for b in currentView.
// extendsLocked reports whether b extends the locked block (the core owns the
// block tree).
func (r *Rules) SignVote(b *types.BlockHeader, id types.BlockID, currentView uint64, extendsLocked bool) ([]byte, error) {
	if v := r.rec.Vote; v != nil && v.View == b.View && v.BlockID == id {
		return v.Signature, nil // S4: identical content, same bytes
	}
	if !r.armed {
		r.Counters.RefusedV0++
		return nil, fmt.Errorf("%w: V0 rule (view %d, V0 %d)", ErrConflict, b.View, r.v0)
	}
	lockOK := extendsLocked || b.JustifyView > r.rec.LockedQC.View
	if b.View != currentView || b.View <= r.rec.LastVotedView || !lockOK {
		r.Counters.RefusedVotes++
		return nil, fmt.Errorf("%w: vote view %d (current %d, last voted %d, lock %d, extends %v)",
			ErrConflict, b.View, currentView, r.rec.LastVotedView, r.rec.LockedQC.View, extendsLocked)
	}
	next := r.rec.Clone()
	next.LastVotedView = b.View
	msg := types.VoteSigningBytes(r.cfg.Network, b.View, id)
	return r.persistAndSign(next, msg, func(rec *Record, sig []byte) {
		rec.Vote = &SignedVote{View: b.View, BlockID: id, Signature: sig}
	})
}

// SignTimeout applies S3, S4, S5 to Timeout(view) naming highQC (kept whole
// in the record so the timeout can be resent after any crash).
func (r *Rules) SignTimeout(view uint64, highQC types.QC) ([]byte, error) {
	if r.observing {
		r.Counters.RefusedTimeouts++
		return nil, fmt.Errorf("%w: recovery observation period", ErrConflict)
	}
	if t := r.rec.Timeout; t != nil && t.View == view && t.HighQC.View == highQC.View {
		return t.Signature, nil
	}
	if view <= r.rec.LastTimeoutView {
		r.Counters.RefusedTimeouts++
		return nil, fmt.Errorf("%w: timeout view %d ≤ last timeout view %d", ErrConflict, view, r.rec.LastTimeoutView)
	}
	next := r.rec.Clone()
	next.LastTimeoutView = view
	next.LastVotedView = max(next.LastVotedView, view) // S3
	msg := types.TimeoutSigningBytes(r.cfg.Network, view, highQC.View)
	return r.persistAndSign(next, msg, func(rec *Record, sig []byte) {
		rec.Timeout = &SignedTimeout{View: view, HighQC: cloneQC(highQC), Signature: sig}
	})
}

// SignProposal applies S4, S5 and V0 to a proposal of b.
func (r *Rules) SignProposal(b *types.BlockHeader, id types.BlockID) ([]byte, error) {
	if p := r.rec.Proposal; p != nil && p.View == b.View && p.BlockID == id {
		return p.Signature, nil
	}
	if !r.armed {
		r.Counters.RefusedV0++
		return nil, fmt.Errorf("%w: V0 rule (view %d, V0 %d)", ErrConflict, b.View, r.v0)
	}
	if b.View <= r.rec.LastProposedView {
		r.Counters.RefusedProposals++
		return nil, fmt.Errorf("%w: proposal view %d ≤ last proposed view %d", ErrConflict, b.View, r.rec.LastProposedView)
	}
	next := r.rec.Clone()
	next.LastProposedView = b.View
	msg := types.ProposalSigningBytes(r.cfg.Network, id)
	return r.persistAndSign(next, msg, func(rec *Record, sig []byte) {
		rec.Proposal = &SignedProposal{View: b.View, BlockID: id, Signature: sig}
	})
}

// StoredVote is the last signed vote (for retransmission), or nil.
func (r *Rules) StoredVote() *SignedVote { return r.rec.Vote }

// StoredTimeout is the last signed timeout, or nil.
func (r *Rules) StoredTimeout() *SignedTimeout { return r.rec.Timeout }

// StoredProposal is the last signed proposal, or nil.
func (r *Rules) StoredProposal() *SignedProposal { return r.rec.Proposal }

// UpdateDAG persists a change of the DAG double-sign record made by fn
// before the DAG layer releases its BATCH or BATCH_ACK signature.
func (r *Rules) UpdateDAG(fn func(*DAGRecord) error) error {
	next := r.rec.Clone()
	if err := fn(&next.DAG); err != nil {
		return err
	}
	if err := r.cfg.Store.Save(next.Clone()); err != nil {
		return fmt.Errorf("%w: %w", ErrStore, err)
	}
	r.Counters.Persists++
	r.rec = next
	return nil
}

// persistAndSign signs msg, records the signature in next, persists next and
// only then returns the signature (S5). On any error the in-memory record is
// unchanged and no signature is released.
func (r *Rules) persistAndSign(next *Record, msg []byte, keep func(*Record, []byte)) ([]byte, error) {
	sig, err := r.cfg.Signer.Sign(msg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrSign, err)
	}
	keep(next, sig)
	if err := r.cfg.Store.Save(next.Clone()); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrStore, err)
	}
	r.Counters.Persists++
	r.rec = next
	return sig, nil
}

// MemStore is an in-memory SafetyStore for tests and the simulator; it
// survives a simulated crash because the simulator keeps it outside the node.
type MemStore struct {
	rec   *Record
	Saves int
	Fail  error // when set, Save returns it (tests)
}

// NewMemStore returns a store holding rec (nil: no record).
func NewMemStore(rec *Record) *MemStore { return &MemStore{rec: rec} }

// Load implements SafetyStore.
func (m *MemStore) Load() (*Record, bool, error) {
	if m.rec == nil {
		return nil, false, nil
	}
	return m.rec.Clone(), true, nil
}

// Save implements SafetyStore.
func (m *MemStore) Save(rec *Record) error {
	if m.Fail != nil {
		return m.Fail
	}
	m.rec = rec.Clone()
	m.Saves++
	return nil
}

// Wipe deletes the record (a lost record, §8.4).
func (m *MemStore) Wipe() { m.rec = nil }
