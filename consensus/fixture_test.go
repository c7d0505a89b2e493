package consensus

import (
	"encoding/binary"
	"errors"
	"testing"

	"github.com/qbind/qbind/consensus/safety"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

var net = crypto.DevNet

var testKeys = func() []*crypto.PrivateKey {
	ks := make([]*crypto.PrivateKey, 7)
	for i := range ks {
		seed := make([]byte, 32)
		binary.LittleEndian.PutUint32(seed, uint32(i+1))
		k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
}()

// fixture: n validators with real keys (real signatures, so certificates
// built by the core can be checked with types.Verifier), one core under test.
type fixture struct {
	t     *testing.T
	n     int
	vs    *types.ValidatorSet
	g     types.BlockHeader
	gid   types.BlockID
	gqc   types.QC
	self  uint16
	c     *Core
	rules *safety.Rules
	store *safety.MemStore
	now   uint64
	acts  []Action
	ver   *types.Verifier
}

type keySigner struct{ k *crypto.PrivateKey }

func (s keySigner) Sign(m []byte) ([]byte, error) { return s.k.SignDeterministic(m) }

type badPayload struct{}

func (badPayload) ValidatePayload(*types.Proposal, *types.Proposal, Ancestry) error {
	return errors.New("bad payload")
}

func newFixture(t *testing.T, n int, self uint16, mod func(*Config)) *fixture {
	t.Helper()
	return newFixtureStore(t, n, self, mod, func(gqc types.QC) (*safety.MemStore, bool) {
		return safety.NewMemStore(safety.NewRecord(gqc)), false
	})
}

// newFixtureStore is newFixture with the safety store (and the recovery
// flag) built by store from QC(G).
func newFixtureStore(t *testing.T, n int, self uint16, mod func(*Config), store func(gqc types.QC) (*safety.MemStore, bool)) *fixture {
	t.Helper()
	vals := make([]types.Validator, n)
	for i := range vals {
		vals[i] = types.Validator{ConsensusKey: testKeys[i].Public(), Power: 1}
	}
	vs, err := types.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{t: t, n: n, vs: vs, self: self, now: 10_000}
	f.g = types.GenesisBlock(net, 1_000, crypto.Sum([]byte("EXEC0")))
	f.gid = f.g.ID()
	f.gqc = types.GenesisQC(f.gid)
	f.ver = &types.Verifier{Network: net, Validators: vs, GenesisID: f.gid}
	var recover bool
	f.store, recover = store(f.gqc)
	f.rules, err = safety.New(safety.Config{Network: net, Store: f.store, Signer: keySigner{testKeys[self]}, GenesisQC: f.gqc, Recover: recover})
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Network: net, Validators: vs, Self: self, Genesis: f.g, Safety: f.rules}
	if mod != nil {
		mod(&cfg)
	}
	f.c, err = New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	f.step(Start{NowMs: f.now})
	return f
}

func (f *fixture) step(ev Event) []Action {
	f.acts = f.c.Step(ev)
	return f.acts
}

// block builds a proposal by leader(view) extending parent with justify.
func (f *fixture) block(parent *types.BlockHeader, view uint64, justify types.QC, tc *types.TC) *types.Proposal {
	h := types.BlockHeader{Version: types.BlockVersion, ChainID: net.ChainID(), View: view, Height: parent.Height + 1,
		ParentID: parent.ID(), Proposer: f.vs.Leader(view), TimestampMs: parent.TimestampMs + 1,
		BatchCommitment: types.BatchCommitment(net, nil), JustifyView: justify.View, ExecDigest: f.g.ExecDigest}
	return f.sign(&types.Proposal{Header: h, Justify: justify, LastTC: tc, Sync: types.SyncInfo{HighQC: justify}})
}

func (f *fixture) sign(p *types.Proposal) *types.Proposal {
	sig, _ := testKeys[p.Header.Proposer].SignDeterministic(types.ProposalSigningBytes(net, p.Header.ID()))
	p.Signature = sig
	return p
}

func (f *fixture) vote(voter int, view uint64, id types.BlockID) *types.Vote {
	sig, _ := testKeys[voter].SignDeterministic(types.VoteSigningBytes(net, view, id))
	return &types.Vote{View: view, BlockID: id, Voter: uint16(voter), Signature: sig, Sync: types.SyncInfo{HighQC: f.gqc}}
}

// qc certifies id in view by every validator.
func (f *fixture) qc(view uint64, id types.BlockID) types.QC {
	var vs []*types.Vote
	for i := range f.n {
		vs = append(vs, f.vote(i, view, id))
	}
	return types.NewQC(view, id, f.n, vs)
}

func (f *fixture) timeout(voter int, view uint64, high types.QC) *types.Timeout {
	t := &types.Timeout{View: view, HighQC: high, Voter: uint16(voter)}
	t.Signature, _ = testKeys[voter].SignDeterministic(t.SigningBytes(net))
	return t
}

// tc for view from every validator with the given high QC.
func (f *fixture) tc(view uint64, high types.QC) *types.TC {
	var ts []*types.Timeout
	for i := range f.n {
		ts = append(ts, f.timeout(i, view, high))
	}
	return types.NewTC(view, f.n, ts)
}

func (f *fixture) sentVote() *types.Vote {
	for _, a := range f.acts {
		switch a := a.(type) {
		case Send:
			if v, ok := a.Msg.(*types.Vote); ok {
				return v
			}
		case Broadcast:
			if v, ok := a.Msg.(*types.Vote); ok {
				return v
			}
		}
	}
	return nil
}

func find[T Action](acts []Action) (T, bool) {
	for _, a := range acts {
		if x, ok := a.(T); ok {
			return x, true
		}
	}
	var zero T
	return zero, false
}

func broadcastOf[M any](acts []Action) (M, bool) {
	for _, a := range acts {
		if b, ok := a.(Broadcast); ok {
			if m, ok := b.Msg.(M); ok {
				return m, true
			}
		}
	}
	var zero M
	return zero, false
}
