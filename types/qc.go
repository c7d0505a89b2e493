package types

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
)

// Certificate and vote errors.
var (
	ErrBadQC         = errors.New("quorum certificate does not verify")
	ErrBadTC         = errors.New("timeout certificate does not verify")
	ErrBadVoteSig    = errors.New("vote signature does not verify")
	ErrBadTimeoutSig = errors.New("timeout signature does not verify")
	ErrTCMaxQC       = errors.New("timeout certificate's carried QC is not the one with the maximum high_qc view")
	ErrGenesisQC     = errors.New("a view-0 QC is valid only as QC(G): genesis block id and no signers")
)

// VoteSigningBytes is "QBIND:<S>:VOTE:v1" ‖ view u64 ‖ block_id.
func VoteSigningBytes(n crypto.Network, view uint64, id BlockID) []byte {
	w := codec.NewWriter(48 + 40)
	w.Fixed(n.Tag(crypto.KindVote))
	w.U64(view)
	w.Fixed(id[:])
	return w.Bytes()
}

// TimeoutSigningBytes is "QBIND:<S>:TIMEOUT:v1" ‖ chain_id u64 ‖ view u64 ‖ high_qc_view u64.
func TimeoutSigningBytes(n crypto.Network, view, highQCView uint64) []byte {
	w := codec.NewWriter(48 + 24)
	w.Fixed(n.Tag(crypto.KindTimeout))
	w.U64(n.ChainID())
	w.U64(view)
	w.U64(highQCView)
	return w.Bytes()
}

// QC is a quorum certificate: votes of more than 2/3 of the power for one
// block in one view, signatures in validator-index order.
type QC struct {
	View       uint64
	BlockID    BlockID
	Signers    Bitmap
	Signatures [][]byte
}

func (q *QC) encodeTo(w *codec.Writer) {
	w.U64(q.View)
	w.Fixed(q.BlockID[:])
	encodeBitmap(w, q.Signers)
	encodeSigs(w, q.Signatures)
}

func decodeQC(r *codec.Reader) QC {
	q := QC{View: r.U64()}
	r.FixedInto(q.BlockID[:])
	q.Signers = decodeBitmap(r)
	q.Signatures = decodeSigs(r, q.Signers.Count())
	return q
}

// Encode returns the canonical bytes.
func (q *QC) Encode() []byte {
	w := codec.NewWriter(48 + len(q.Signatures)*crypto.MLDSA44SignatureSize)
	q.encodeTo(w)
	return w.Bytes()
}

// DecodeQC parses a QC.
func DecodeQC(b []byte) (QC, error) {
	r := codec.NewReader(b)
	q := decodeQC(r)
	if err := r.Done(); err != nil {
		return QC{}, fmt.Errorf("qc: %w", err)
	}
	return q, nil
}

// Verifier checks certificates and signed messages for one network, validator
// set and genesis. It holds no mutable state and is safe for concurrent use.
type Verifier struct {
	Network    crypto.Network
	Validators *ValidatorSet
	GenesisID  BlockID
}

// VerifyQC checks a QC: QC(G) by definition; otherwise bitmap, quorum and
// every vote signature. The bitmap makes duplicate signers unrepresentable.
func (v *Verifier) VerifyQC(q *QC) error {
	if q.View == 0 {
		if q.BlockID != v.GenesisID || len(q.Signers) != 0 || len(q.Signatures) != 0 {
			return ErrGenesisQC
		}
		return nil
	}
	power, err := v.Validators.SignerPower(q.Signers)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadQC, err)
	}
	if !v.Validators.IsQuorum(power) {
		return fmt.Errorf("%w: %w", ErrBadQC, ErrNoQuorum)
	}
	if len(q.Signatures) != q.Signers.Count() {
		return fmt.Errorf("%w: %w", ErrBadQC, ErrSigCount)
	}
	msg := VoteSigningBytes(v.Network, q.View, q.BlockID)
	for k, i := range q.Signers.Indices() {
		if !v.Validators.Get(i).ConsensusKey.Verify(msg, q.Signatures[k]) {
			return fmt.Errorf("%w: vote of validator %d", ErrBadQC, i)
		}
	}
	return nil
}

// TC is a timeout certificate for View: timeouts of more than 2/3 of the
// power, each signer's high_qc view and signature in index order, and the
// highest of their QCs in full.
type TC struct {
	View        uint64
	Signers     Bitmap
	HighQCViews []uint64
	Signatures  [][]byte
	HighQC      QC
}

func (t *TC) encodeTo(w *codec.Writer) {
	w.U64(t.View)
	encodeBitmap(w, t.Signers)
	w.Count(len(t.HighQCViews))
	for _, v := range t.HighQCViews {
		w.U64(v)
	}
	encodeSigs(w, t.Signatures)
	t.HighQC.encodeTo(w)
}

func decodeTC(r *codec.Reader) TC {
	t := TC{View: r.U64(), Signers: decodeBitmap(r)}
	n := r.Count(MaxValidators, 8)
	if r.Err() == nil && n != t.Signers.Count() {
		r.Fail(fmt.Errorf("%w: %d high_qc views for %d signers", ErrSigCount, n, t.Signers.Count()))
	}
	if r.Err() == nil {
		t.HighQCViews = make([]uint64, n)
		for i := range t.HighQCViews {
			t.HighQCViews[i] = r.U64()
		}
	}
	t.Signatures = decodeSigs(r, t.Signers.Count())
	t.HighQC = decodeQC(r)
	return t
}

// Encode returns the canonical bytes.
func (t *TC) Encode() []byte {
	w := codec.NewWriter(64 + 2*len(t.Signatures)*crypto.MLDSA44SignatureSize)
	t.encodeTo(w)
	return w.Bytes()
}

// DecodeTC parses a TC.
func DecodeTC(b []byte) (TC, error) {
	r := codec.NewReader(b)
	t := decodeTC(r)
	if err := r.Done(); err != nil {
		return TC{}, fmt.Errorf("tc: %w", err)
	}
	return t, nil
}

// MaxHighQCView is the largest high_qc view among the signers.
func (t *TC) MaxHighQCView() uint64 {
	var m uint64
	for _, v := range t.HighQCViews {
		m = max(m, v)
	}
	return m
}

// VerifyTC checks bitmap, quorum, every timeout signature over its signer's
// high_qc view, and that the carried QC verifies and has the maximum view.
func (v *Verifier) VerifyTC(t *TC) error {
	power, err := v.Validators.SignerPower(t.Signers)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadTC, err)
	}
	if !v.Validators.IsQuorum(power) {
		return fmt.Errorf("%w: %w", ErrBadTC, ErrNoQuorum)
	}
	if len(t.Signatures) != t.Signers.Count() || len(t.HighQCViews) != len(t.Signatures) {
		return fmt.Errorf("%w: %w", ErrBadTC, ErrSigCount)
	}
	for k, i := range t.Signers.Indices() {
		if t.HighQCViews[k] >= t.View {
			return fmt.Errorf("%w: validator %d claims a high QC of view %d ≥ %d", ErrBadTC, i, t.HighQCViews[k], t.View)
		}
		msg := TimeoutSigningBytes(v.Network, t.View, t.HighQCViews[k])
		if !v.Validators.Get(i).ConsensusKey.Verify(msg, t.Signatures[k]) {
			return fmt.Errorf("%w: timeout of validator %d", ErrBadTC, i)
		}
	}
	if t.HighQC.View != t.MaxHighQCView() {
		return fmt.Errorf("%w: carried view %d, max %d", ErrTCMaxQC, t.HighQC.View, t.MaxHighQCView())
	}
	if err := v.VerifyQC(&t.HighQC); err != nil {
		return fmt.Errorf("%w: carried QC: %w", ErrBadTC, err)
	}
	return nil
}

// SyncInfo is a replica's highest QC and highest TC; it rides on every
// proposal and vote so laggards catch up.
type SyncInfo struct {
	HighQC QC
	HighTC *TC
}

func (s *SyncInfo) encodeTo(w *codec.Writer) {
	s.HighQC.encodeTo(w)
	encodeOptTC(w, s.HighTC)
}

func decodeSyncInfo(r *codec.Reader) SyncInfo {
	return SyncInfo{HighQC: decodeQC(r), HighTC: decodeOptTC(r)}
}

// Encode returns the canonical bytes.
func (s *SyncInfo) Encode() []byte {
	w := codec.NewWriter(256)
	s.encodeTo(w)
	return w.Bytes()
}

// DecodeSyncInfo parses a SyncInfo.
func DecodeSyncInfo(b []byte) (SyncInfo, error) {
	r := codec.NewReader(b)
	s := decodeSyncInfo(r)
	if err := r.Done(); err != nil {
		return SyncInfo{}, fmt.Errorf("sync info: %w", err)
	}
	return s, nil
}

// VerifySyncInfo checks both certificates.
func (v *Verifier) VerifySyncInfo(s *SyncInfo) error {
	if err := v.VerifyQC(&s.HighQC); err != nil {
		return err
	}
	if s.HighTC != nil {
		return v.VerifyTC(s.HighTC)
	}
	return nil
}

func encodeOptTC(w *codec.Writer, t *TC) {
	w.Bool(t != nil)
	if t != nil {
		t.encodeTo(w)
	}
}

func decodeOptTC(r *codec.Reader) *TC {
	if !r.Option() {
		return nil
	}
	t := decodeTC(r)
	return &t
}
