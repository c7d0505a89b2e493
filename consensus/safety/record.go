package safety

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// RecordVersion is the encoding version of Record. Version 2 keeps the whole
// high QC of the stored timeout (version 1, never released, kept only its
// view, so a restarted replica that had lost that QC could not resend it).
const RecordVersion = 2

// ErrRecordDecode reports a safety record that does not decode.
var ErrRecordDecode = errors.New("safety record does not decode")

// SignedVote is the last vote this key signed, kept so retransmissions resend
// the same bytes (S4).
type SignedVote struct {
	View      uint64
	BlockID   types.BlockID
	Signature []byte
}

// SignedTimeout is the last timeout this key signed, with the whole high QC it
// named: a Timeout is only valid with that QC attached, and after a crash the
// consensus store may no longer hold it (nor may any peer), so without it a
// replica whose S3 floor is above the network's view could never resend it.
type SignedTimeout struct {
	View      uint64
	HighQC    types.QC
	Signature []byte
}

// SignedProposal is the last proposal this key signed.
type SignedProposal struct {
	View      uint64
	BlockID   types.BlockID
	Signature []byte
}

// BatchSeq is the highest BATCH seq this key signed in one epoch, with its id
// (re-signing identical content is allowed, §12).
type BatchSeq struct {
	Epoch   uint64
	Seq     uint64
	BatchID types.BatchID
}

// AckWindow remembers which of the last 64 seqs of one creator this key
// acked: bit i set ⇔ seq MaxSeq−i acked (§7, §12).
type AckWindow struct {
	Creator uint16
	MaxSeq  uint64
	Bits    uint64
}

// DAGRecord is §12's double-sign record for the DAG layer: one BATCH per
// (epoch, seq), one BATCH_ACK per (creator, seq). Rules persists it with the
// consensus fields; the DAG package owns its rules (it updates the record via
// Rules.UpdateDAG, which persists before returning).
type DAGRecord struct {
	BatchSeqs  []BatchSeq
	AckWindows []AckWindow
}

// Record is the persisted safety record (S5). It lives next to the signing
// key, never in the data dir or a snapshot.
type Record struct {
	LastVotedView    uint64
	LastTimeoutView  uint64
	LastProposedView uint64
	LockedQC         types.QC
	Vote             *SignedVote
	Timeout          *SignedTimeout
	Proposal         *SignedProposal
	DAG              DAGRecord
	// Recovering is set while a key that lost its record is still in the
	// observation period of §8.4 (it survives restarts until it ends).
	Recovering bool
}

// Clone returns a deep copy (stores must not alias the live record).
func (r *Record) Clone() *Record {
	c := *r
	c.LockedQC = cloneQC(r.LockedQC)
	if r.Vote != nil {
		v := *r.Vote
		v.Signature = append([]byte(nil), v.Signature...)
		c.Vote = &v
	}
	if r.Timeout != nil {
		t := *r.Timeout
		t.HighQC = cloneQC(t.HighQC)
		t.Signature = append([]byte(nil), t.Signature...)
		c.Timeout = &t
	}
	if r.Proposal != nil {
		p := *r.Proposal
		p.Signature = append([]byte(nil), p.Signature...)
		c.Proposal = &p
	}
	c.DAG.BatchSeqs = append([]BatchSeq(nil), r.DAG.BatchSeqs...)
	c.DAG.AckWindows = append([]AckWindow(nil), r.DAG.AckWindows...)
	return &c
}

func cloneQC(q types.QC) types.QC {
	c := q
	c.Signers = append(types.Bitmap{}, q.Signers...)
	c.Signatures = make([][]byte, len(q.Signatures))
	for i, s := range q.Signatures {
		c.Signatures[i] = append([]byte(nil), s...)
	}
	return c
}

// maxSigBytes bounds one stored signature.
const maxSigBytes = 8192

// Encode returns the canonical bytes of the record (version u8 first).
func (r *Record) Encode() []byte {
	w := codec.NewWriter(512)
	w.U8(RecordVersion)
	w.U64(r.LastVotedView)
	w.U64(r.LastTimeoutView)
	w.U64(r.LastProposedView)
	w.VarBytes(r.LockedQC.Encode())
	w.Bool(r.Vote != nil)
	if r.Vote != nil {
		w.U64(r.Vote.View)
		w.Fixed(r.Vote.BlockID[:])
		w.VarBytes(r.Vote.Signature)
	}
	w.Bool(r.Timeout != nil)
	if r.Timeout != nil {
		w.U64(r.Timeout.View)
		w.VarBytes(r.Timeout.HighQC.Encode())
		w.VarBytes(r.Timeout.Signature)
	}
	w.Bool(r.Proposal != nil)
	if r.Proposal != nil {
		w.U64(r.Proposal.View)
		w.Fixed(r.Proposal.BlockID[:])
		w.VarBytes(r.Proposal.Signature)
	}
	w.Count(len(r.DAG.BatchSeqs))
	for _, b := range r.DAG.BatchSeqs {
		w.U64(b.Epoch)
		w.U64(b.Seq)
		w.Fixed(b.BatchID[:])
	}
	w.Count(len(r.DAG.AckWindows))
	for _, a := range r.DAG.AckWindows {
		w.U16(a.Creator)
		w.U64(a.MaxSeq)
		w.U64(a.Bits)
	}
	w.Bool(r.Recovering)
	return w.Bytes()
}

// DecodeRecord parses a record strictly.
func DecodeRecord(b []byte) (*Record, error) {
	rd := codec.NewReader(b)
	if v := rd.U8(); rd.Err() == nil && v != RecordVersion {
		return nil, fmt.Errorf("%w: version %d", ErrRecordDecode, v)
	}
	r := &Record{LastVotedView: rd.U64(), LastTimeoutView: rd.U64(), LastProposedView: rd.U64()}
	var err error
	if r.LockedQC, err = decodeQCField(rd); err != nil {
		return nil, fmt.Errorf("%w: locked QC: %w", ErrRecordDecode, err)
	}
	if rd.Bool() {
		v := &SignedVote{View: rd.U64()}
		rd.FixedInto(v.BlockID[:])
		v.Signature = rd.VarBytes(maxSigBytes)
		r.Vote = v
	}
	if rd.Bool() {
		t := &SignedTimeout{View: rd.U64()}
		if t.HighQC, err = decodeQCField(rd); err != nil {
			return nil, fmt.Errorf("%w: timeout's high QC: %w", ErrRecordDecode, err)
		}
		t.Signature = rd.VarBytes(maxSigBytes)
		r.Timeout = t
	}
	if rd.Bool() {
		p := &SignedProposal{View: rd.U64()}
		rd.FixedInto(p.BlockID[:])
		p.Signature = rd.VarBytes(maxSigBytes)
		r.Proposal = p
	}
	n := rd.Count(1<<16, 48)
	for i := 0; i < n && rd.Err() == nil; i++ {
		b := BatchSeq{Epoch: rd.U64(), Seq: rd.U64()}
		rd.FixedInto(b.BatchID[:])
		r.DAG.BatchSeqs = append(r.DAG.BatchSeqs, b)
	}
	n = rd.Count(types.MaxValidators, 18)
	for i := 0; i < n && rd.Err() == nil; i++ {
		r.DAG.AckWindows = append(r.DAG.AckWindows, AckWindow{Creator: rd.U16(), MaxSeq: rd.U64(), Bits: rd.U64()})
	}
	r.Recovering = rd.Bool()
	if err := rd.Done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrRecordDecode, err)
	}
	return r, nil
}

// decodeQCField reads one length-prefixed QC; a reader already in error
// yields a zero QC (the caller's Done reports it).
func decodeQCField(rd *codec.Reader) (types.QC, error) {
	qb := rd.VarBytes(64 + types.MaxValidators*(crypto.MLDSA44SignatureSize+8))
	if rd.Err() != nil {
		return types.QC{}, nil
	}
	return types.DecodeQC(qb)
}
