package types

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
)

// MaxProposalBytes caps a decoded proposal. A proposal travels in one P2P
// frame (§11: at most 8 MiB of ciphertext), which also carries the AEAD tag
// and the message envelope; 4 KiB below the frame cap leaves room for both
// (p2p checks that its proposal body cap equals this and fits a frame). The
// payload itself is bounded by the genesis MAX_PAYLOAD_BYTES at validation.
const MaxProposalBytes = 8<<20 - 4<<10

// MaxPayloadCerts bounds the certificates of one proposal: at most 4n (§7).
const MaxPayloadCerts = 4 * MaxValidators

// Largest decodable encodings of a proposal's certificates: every signer
// list holds MaxValidators signers (the decoders' cap).
const (
	// maxQCSize: view ‖ block_id ‖ bitmap ‖ signatures.
	maxQCSize = 8 + 32 + (4 + MaxBitmapBytes) + (4 + MaxValidators*crypto.MLDSA44SignatureSize)
	// maxTCSize: view ‖ bitmap ‖ high_qc views ‖ signatures ‖ carried QC.
	maxTCSize = 8 + (4 + MaxBitmapBytes) + (4 + 8*MaxValidators) + (4 + MaxValidators*crypto.MLDSA44SignatureSize) + maxQCSize
	// maxOptTCSize: an optional TC that is present.
	maxOptTCSize = 1 + maxTCSize
)

// MaxProposalOverhead is the largest encoded size of everything in a
// proposal except its payload: header, justify QC, last TC, SyncInfo
// {QC, TC} and the proposer's signature, all at MaxValidators signers.
const MaxProposalOverhead = BlockHeaderSize + maxQCSize + maxOptTCSize + (maxQCSize + maxOptTCSize) + crypto.MLDSA44SignatureSize

// MaxPayloadBytesLimit is the largest MAX_PAYLOAD_BYTES a genesis may set:
// the payload as §7 sizes it (count ‖ certificates) plus MaxProposalOverhead
// must fit in MaxProposalBytes, or a leader could build a proposal no replica
// decodes.
const MaxPayloadBytesLimit = MaxProposalBytes - MaxProposalOverhead

// Consensus message errors.
var (
	ErrMessageDecode = errors.New("consensus message does not decode")
	ErrTimeoutLastTC = errors.New("timeout's last_tc is not the TC of the view before the timeout's")
)

// Proposal is a block proposal: header, the QC it extends, the TC of view−1
// when the view was entered by timeout, the payload of batch certificates,
// the proposer's SyncInfo, and the proposer's signature over
// "QBIND:<S>:PROPOSAL:v1" ‖ block_id.
type Proposal struct {
	Header    BlockHeader
	Justify   QC
	LastTC    *TC
	Payload   []*BatchCertificate
	Sync      SyncInfo
	Signature []byte
}

// ProposalSigningBytes is "QBIND:<S>:PROPOSAL:v1" ‖ block_id.
func ProposalSigningBytes(n crypto.Network, id BlockID) []byte {
	return append(append([]byte(nil), n.Tag(crypto.KindProposal)...), id[:]...)
}

// Encode returns the canonical bytes.
func (p *Proposal) Encode() []byte {
	w := codec.NewWriter(BlockHeaderSize + 4096)
	p.Header.encodeTo(w)
	p.Justify.encodeTo(w)
	encodeOptTC(w, p.LastTC)
	w.Count(len(p.Payload))
	for _, c := range p.Payload {
		c.encodeTo(w)
	}
	p.Sync.encodeTo(w)
	w.Fixed(p.Signature)
	return w.Bytes()
}

// DecodeProposal parses a proposal (structure only).
func DecodeProposal(b []byte) (*Proposal, error) {
	if len(b) > MaxProposalBytes {
		return nil, fmt.Errorf("%w: proposal of %d bytes > %d", ErrMessageDecode, len(b), MaxProposalBytes)
	}
	r := codec.NewReader(b)
	p := &Proposal{Header: decodeBlockHeader(r), Justify: decodeQC(r), LastTC: decodeOptTC(r)}
	n := r.Count(MaxPayloadCerts, BatchHeaderSize+8)
	if r.Err() == nil {
		p.Payload = make([]*BatchCertificate, n)
		for i := range p.Payload {
			p.Payload[i] = decodeBatchCertificate(r)
		}
	}
	p.Sync = decodeSyncInfo(r)
	p.Signature = r.Fixed(crypto.MLDSA44SignatureSize)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: proposal: %w", ErrMessageDecode, err)
	}
	return p, nil
}

// BatchIDs lists the payload's batch ids in order.
func (p *Proposal) BatchIDs(n crypto.Network) []BatchID {
	ids := make([]BatchID, len(p.Payload))
	for i, c := range p.Payload {
		ids[i] = c.BatchID(n)
	}
	return ids
}

// Sign sets the proposer's signature (hedged; validators go through the
// signer and its double-sign guard).
func (p *Proposal) Sign(n crypto.Network, key *crypto.PrivateKey) error {
	sig, err := key.Sign(ProposalSigningBytes(n, p.Header.ID()))
	if err != nil {
		return err
	}
	p.Signature = sig
	return nil
}

// VerifyProposal checks the proposer's signature and every certificate the
// proposal carries (justify QC, last TC, SyncInfo). Payload certificates are
// checked by the DAG coupling (V7), which caches them.
func (v *Verifier) VerifyProposal(p *Proposal) error {
	if int(p.Header.Proposer) >= v.Validators.Len() {
		return fmt.Errorf("%w: proposer %d", ErrUnknownIndex, p.Header.Proposer)
	}
	if p.Header.ChainID != v.Network.ChainID() {
		return fmt.Errorf("%w: chain id %#x", ErrBadProposalSig, p.Header.ChainID)
	}
	msg := ProposalSigningBytes(v.Network, p.Header.ID())
	if !v.Validators.Get(int(p.Header.Proposer)).ConsensusKey.Verify(msg, p.Signature) {
		return ErrBadProposalSig
	}
	if err := v.VerifyQC(&p.Justify); err != nil {
		return err
	}
	if p.LastTC != nil {
		if err := v.VerifyTC(p.LastTC); err != nil {
			return err
		}
	}
	return v.VerifySyncInfo(&p.Sync)
}

// Vote is a validator's vote for a block, sent to leader(view+1) with the
// voter's SyncInfo. Signed over "QBIND:<S>:VOTE:v1" ‖ view ‖ block_id.
type Vote struct {
	View      uint64
	BlockID   BlockID
	Voter     uint16
	Signature []byte
	Sync      SyncInfo
}

// Encode returns the canonical bytes.
func (vt *Vote) Encode() []byte {
	w := codec.NewWriter(64 + crypto.MLDSA44SignatureSize + 256)
	w.U64(vt.View)
	w.Fixed(vt.BlockID[:])
	w.U16(vt.Voter)
	w.Fixed(vt.Signature)
	vt.Sync.encodeTo(w)
	return w.Bytes()
}

// DecodeVote parses a vote.
func DecodeVote(b []byte) (*Vote, error) {
	if len(b) > MaxProposalBytes {
		return nil, fmt.Errorf("%w: vote of %d bytes", ErrMessageDecode, len(b))
	}
	r := codec.NewReader(b)
	vt := &Vote{View: r.U64()}
	r.FixedInto(vt.BlockID[:])
	vt.Voter = r.U16()
	vt.Signature = r.Fixed(crypto.MLDSA44SignatureSize)
	vt.Sync = decodeSyncInfo(r)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: vote: %w", ErrMessageDecode, err)
	}
	return vt, nil
}

// Sign sets the vote signature (hedged).
func (vt *Vote) Sign(n crypto.Network, key *crypto.PrivateKey) error {
	sig, err := key.Sign(VoteSigningBytes(n, vt.View, vt.BlockID))
	if err != nil {
		return err
	}
	vt.Signature = sig
	return nil
}

// VerifyVote checks the vote's signature and its SyncInfo.
func (v *Verifier) VerifyVote(vt *Vote) error {
	if err := v.verifyVoteSig(vt); err != nil {
		return err
	}
	return v.VerifySyncInfo(&vt.Sync)
}

func (v *Verifier) verifyVoteSig(vt *Vote) error {
	if int(vt.Voter) >= v.Validators.Len() {
		return fmt.Errorf("%w: voter %d", ErrUnknownIndex, vt.Voter)
	}
	if !v.Validators.Get(int(vt.Voter)).ConsensusKey.Verify(VoteSigningBytes(v.Network, vt.View, vt.BlockID), vt.Signature) {
		return ErrBadVoteSig
	}
	return nil
}

// Timeout is a validator's statement that view View timed out, with its
// highest QC and, when it entered View through a TC, that TC. Its SyncInfo is
// {HighQC, LastTC}: each certificate is encoded once. Signed over
// "QBIND:<S>:TIMEOUT:v1" ‖ chain_id ‖ view ‖ high_qc.view.
type Timeout struct {
	View      uint64
	HighQC    QC
	LastTC    *TC
	Voter     uint16
	Signature []byte
}

// Encode returns the canonical bytes.
func (t *Timeout) Encode() []byte {
	w := codec.NewWriter(64 + 2*crypto.MLDSA44SignatureSize)
	w.U64(t.View)
	t.HighQC.encodeTo(w)
	encodeOptTC(w, t.LastTC)
	w.U16(t.Voter)
	w.Fixed(t.Signature)
	return w.Bytes()
}

// DecodeTimeout parses a timeout.
func DecodeTimeout(b []byte) (*Timeout, error) {
	if len(b) > MaxProposalBytes {
		return nil, fmt.Errorf("%w: timeout of %d bytes", ErrMessageDecode, len(b))
	}
	r := codec.NewReader(b)
	t := &Timeout{View: r.U64(), HighQC: decodeQC(r), LastTC: decodeOptTC(r), Voter: r.U16()}
	t.Signature = r.Fixed(crypto.MLDSA44SignatureSize)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: timeout: %w", ErrMessageDecode, err)
	}
	return t, nil
}

// SigningBytes is the timeout's preimage.
func (t *Timeout) SigningBytes(n crypto.Network) []byte {
	return TimeoutSigningBytes(n, t.View, t.HighQC.View)
}

// Sign sets the timeout signature (hedged).
func (t *Timeout) Sign(n crypto.Network, key *crypto.PrivateKey) error {
	sig, err := key.Sign(t.SigningBytes(n))
	if err != nil {
		return err
	}
	t.Signature = sig
	return nil
}

// VerifyTimeout checks the signature and the carried certificates. A
// carried last_tc must be TC(view−1) (§8.2: the TC the sender entered view
// by).
func (v *Verifier) VerifyTimeout(t *Timeout) error {
	if int(t.Voter) >= v.Validators.Len() {
		return fmt.Errorf("%w: voter %d", ErrUnknownIndex, t.Voter)
	}
	if t.HighQC.View >= t.View {
		return fmt.Errorf("%w: high QC view %d ≥ timeout view %d", ErrBadTimeoutSig, t.HighQC.View, t.View)
	}
	if t.LastTC != nil && t.LastTC.View+1 != t.View {
		return fmt.Errorf("%w: last_tc of view %d in a timeout of view %d", ErrTimeoutLastTC, t.LastTC.View, t.View)
	}
	if !v.Validators.Get(int(t.Voter)).ConsensusKey.Verify(t.SigningBytes(v.Network), t.Signature) {
		return ErrBadTimeoutSig
	}
	if err := v.VerifyQC(&t.HighQC); err != nil {
		return err
	}
	if t.LastTC != nil {
		return v.VerifyTC(t.LastTC)
	}
	return nil
}

// NewTC assembles TC(view) from verified timeouts of distinct signers (any
// order); it carries the QC with the maximum view. It does not check the quorum.
func NewTC(view uint64, n int, timeouts []*Timeout) *TC {
	bm := NewBitmap(n)
	by := make(map[uint16]*Timeout, len(timeouts))
	for _, t := range timeouts {
		if int(t.Voter) < n && t.View == view {
			bm.Set(int(t.Voter))
			by[t.Voter] = t
		}
	}
	tc := &TC{View: view, Signers: bm}
	var best *QC
	for _, i := range bm.Indices() {
		t := by[uint16(i)]
		tc.HighQCViews = append(tc.HighQCViews, t.HighQC.View)
		tc.Signatures = append(tc.Signatures, t.Signature)
		if best == nil || t.HighQC.View > best.View {
			best = &t.HighQC
		}
	}
	if best != nil {
		tc.HighQC = *best
	}
	return tc
}

// NewQC assembles a QC from verified votes for one (view, block) of distinct
// voters. It does not check the quorum.
func NewQC(view uint64, id BlockID, n int, votes []*Vote) QC {
	bm := NewBitmap(n)
	by := make(map[uint16][]byte, len(votes))
	for _, vt := range votes {
		if int(vt.Voter) < n && vt.View == view && vt.BlockID == id {
			bm.Set(int(vt.Voter))
			by[vt.Voter] = vt.Signature
		}
	}
	q := QC{View: view, BlockID: id, Signers: bm}
	for _, i := range bm.Indices() {
		q.Signatures = append(q.Signatures, by[uint16(i)])
	}
	return q
}
