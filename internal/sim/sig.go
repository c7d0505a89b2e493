package sim

import (
	"encoding/binary"
	"sync"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// scheme signs and verifies for the simulator.
type scheme interface {
	signer(val int) func(msg []byte) ([]byte, error)
	verifier(vs *types.ValidatorSet, gid types.BlockID) msgVerifier
}

type msgVerifier interface {
	VerifyProposal(*types.Proposal) error
	VerifyVote(*types.Vote) error
	VerifyTimeout(*types.Timeout) error
	VerifySyncInfo(*types.SyncInfo) error
}

var (
	keysMu   sync.Mutex
	keyCache = map[int]*crypto.PrivateKey{}
)

// simKey returns validator i's deterministic ML-DSA-44 key (seed = "sim" ‖ i).
func simKey(i int) *crypto.PrivateKey {
	keysMu.Lock()
	defer keysMu.Unlock()
	if k, ok := keyCache[i]; ok {
		return k
	}
	seed := make([]byte, 32)
	copy(seed, "qbind-sim-validator-key")
	binary.LittleEndian.PutUint32(seed[28:], uint32(i))
	k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
	if err != nil {
		panic(err)
	}
	keyCache[i] = k
	return k
}

// validatorSet builds n validators of power 1 with the sim keys.
func validatorSet(n int) *types.ValidatorSet {
	vals := make([]types.Validator, n)
	for i := range vals {
		vals[i] = types.Validator{ConsensusKey: simKey(i).Public(), Power: 1}
	}
	vs, err := types.NewValidatorSet(vals)
	if err != nil {
		panic(err)
	}
	return vs
}

// ---- fast stand-in: sig = H(key id ‖ msg) ------------------------------------

type fakeScheme struct{}

func fakeSig(val int, msg []byte) []byte {
	var id [2]byte
	binary.LittleEndian.PutUint16(id[:], uint16(val))
	h := crypto.Sum([]byte("qbind-sim-sig"), id[:], msg)
	return h[:]
}

func (fakeScheme) signer(val int) func([]byte) ([]byte, error) {
	return func(msg []byte) ([]byte, error) { return fakeSig(val, msg), nil }
}

func (fakeScheme) verifier(vs *types.ValidatorSet, gid types.BlockID) msgVerifier {
	return &fakeVerifier{net: simNetwork, vs: vs, gid: gid, ok: map[string]bool{},
		sig: func(val int, msg, sig []byte) bool { return string(fakeSig(val, msg)) == string(sig) }}
}

// fakeVerifier mirrors types.Verifier with the stand-in signature. It caches
// verified certificates (the node verifies only certificates newer than its own).
type fakeVerifier struct {
	net crypto.Network
	vs  *types.ValidatorSet
	gid types.BlockID
	ok  map[string]bool
	sig func(val int, msg, sig []byte) bool
	tv  *types.Verifier // real runs: certificates go through types.Verifier (cached)
}

func (f *fakeVerifier) sigOK(val int, msg, sig []byte) bool {
	return val < f.vs.Len() && f.sig(val, msg, sig)
}

// qcKey and tcKey name a verified certificate in the cache (binary, not
// fmt: the simulator verifies a certificate per message and fmt showed up as
// ~10 % of its CPU).
func qcKey(q *types.QC) string {
	b := make([]byte, 0, 1+8+len(q.BlockID)+len(q.Signers))
	b = append(b, 'q')
	b = binary.BigEndian.AppendUint64(b, q.View)
	b = append(b, q.BlockID[:]...)
	return string(append(b, q.Signers...))
}

func tcKey(t *types.TC) string {
	b := make([]byte, 0, 1+8+2+len(t.Signers)+8*len(t.HighQCViews)+len(t.HighQC.BlockID))
	b = append(b, 't')
	b = binary.BigEndian.AppendUint64(b, t.View)
	b = binary.BigEndian.AppendUint16(b, uint16(len(t.Signers)))
	b = append(b, t.Signers...)
	for _, v := range t.HighQCViews {
		b = binary.BigEndian.AppendUint64(b, v)
	}
	return string(append(b, t.HighQC.BlockID[:]...))
}

func (f *fakeVerifier) verifyQC(q *types.QC) error {
	if f.tv != nil {
		key := qcKey(q)
		if f.ok[key] {
			return nil
		}
		if err := f.tv.VerifyQC(q); err != nil {
			return err
		}
		f.ok[key] = true
		return nil
	}
	if q.View == 0 {
		if q.BlockID != f.gid || len(q.Signers) != 0 || len(q.Signatures) != 0 {
			return types.ErrGenesisQC
		}
		return nil
	}
	key := qcKey(q)
	if f.ok[key] {
		return nil
	}
	p, err := f.vs.SignerPower(q.Signers)
	if err != nil || !f.vs.IsQuorum(p) || len(q.Signatures) != q.Signers.Count() {
		return types.ErrBadQC
	}
	msg := types.VoteSigningBytes(f.net, q.View, q.BlockID)
	for k, i := range q.Signers.Indices() {
		if !f.sigOK(i, msg, q.Signatures[k]) {
			return types.ErrBadQC
		}
	}
	f.ok[key] = true
	return nil
}

func (f *fakeVerifier) verifyTC(t *types.TC) error {
	key := tcKey(t)
	if f.ok[key] {
		return nil
	}
	if f.tv != nil {
		if err := f.tv.VerifyTC(t); err != nil {
			return err
		}
		f.ok[key] = true
		return nil
	}
	p, err := f.vs.SignerPower(t.Signers)
	if err != nil || !f.vs.IsQuorum(p) || len(t.Signatures) != t.Signers.Count() || len(t.HighQCViews) != len(t.Signatures) {
		return types.ErrBadTC
	}
	for k, i := range t.Signers.Indices() {
		if t.HighQCViews[k] >= t.View || !f.sigOK(i, types.TimeoutSigningBytes(f.net, t.View, t.HighQCViews[k]), t.Signatures[k]) {
			return types.ErrBadTC
		}
	}
	if t.HighQC.View != t.MaxHighQCView() {
		return types.ErrTCMaxQC
	}
	if err := f.verifyQC(&t.HighQC); err != nil {
		return err
	}
	f.ok[key] = true
	return nil
}

func (f *fakeVerifier) VerifySyncInfo(s *types.SyncInfo) error {
	if err := f.verifyQC(&s.HighQC); err != nil {
		return err
	}
	if s.HighTC != nil {
		return f.verifyTC(s.HighTC)
	}
	return nil
}

func (f *fakeVerifier) VerifyProposal(p *types.Proposal) error {
	if int(p.Header.Proposer) >= f.vs.Len() || p.Header.ChainID != f.net.ChainID() {
		return types.ErrBadProposalSig
	}
	if !f.sigOK(int(p.Header.Proposer), types.ProposalSigningBytes(f.net, p.Header.ID()), p.Signature) {
		return types.ErrBadProposalSig
	}
	if err := f.verifyQC(&p.Justify); err != nil {
		return err
	}
	if p.LastTC != nil {
		if err := f.verifyTC(p.LastTC); err != nil {
			return err
		}
	}
	return f.VerifySyncInfo(&p.Sync)
}

func (f *fakeVerifier) VerifyVote(v *types.Vote) error {
	if !f.sigOK(int(v.Voter), types.VoteSigningBytes(f.net, v.View, v.BlockID), v.Signature) {
		return types.ErrBadVoteSig
	}
	return f.VerifySyncInfo(&v.Sync)
}

func (f *fakeVerifier) VerifyTimeout(t *types.Timeout) error {
	if t.HighQC.View >= t.View || !f.sigOK(int(t.Voter), t.SigningBytes(f.net), t.Signature) {
		return types.ErrBadTimeoutSig
	}
	if t.LastTC != nil && t.LastTC.View+1 != t.View {
		return types.ErrTimeoutLastTC
	}
	if err := f.verifyQC(&t.HighQC); err != nil {
		return err
	}
	if t.LastTC != nil {
		return f.verifyTC(t.LastTC)
	}
	return nil
}

// ---- real ML-DSA-44 ---------------------------------------------------------------

type realScheme struct{}

func (realScheme) signer(val int) func([]byte) ([]byte, error) {
	k := simKey(val)
	return func(msg []byte) ([]byte, error) { return k.SignDeterministic(msg) }
}

func (realScheme) verifier(vs *types.ValidatorSet, gid types.BlockID) msgVerifier {
	return &fakeVerifier{net: simNetwork, vs: vs, gid: gid, ok: map[string]bool{},
		tv:  &types.Verifier{Network: simNetwork, Validators: vs, GenesisID: gid},
		sig: func(val int, msg, sig []byte) bool { return vs.Get(val).ConsensusKey.Verify(msg, sig) }}
}

// signerFunc adapts a function to safety.Signer.
type signerFunc func([]byte) ([]byte, error)

func (f signerFunc) Sign(msg []byte) ([]byte, error) { return f(msg) }
