package state

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/types"
)

// CommitProof is PROTOCOL.md §8.5's commit proof for height h: the
// hash-linked headers B1 ← B2 ← B3 with consecutive views, plus QC(B3); it
// commits B1 (height h) and every ancestor of B1. It has the shape of
// consensus.CommitProof, so a direct conversion works.
//
// Encoding (§3): header B1 ‖ header B2 ‖ header B3 (types.BlockHeader
// encodings, fixed size) ‖ QC(B3) (types.QC encoding).
type CommitProof struct {
	Headers [3]types.BlockHeader
	QC      types.QC
}

// ErrBadCommitProof wraps every DecodeCommitProof and Check rejection.
var ErrBadCommitProof = errors.New("state: invalid commit proof")

// MaxCommitProofBytes caps a commit proof encoding (three headers and a QC
// with at most types.MaxValidators signatures).
const MaxCommitProofBytes = 3*types.BlockHeaderSize + 1<<20

// Encode returns the canonical encoding.
func (p *CommitProof) Encode() []byte {
	q := p.QC.Encode()
	w := codec.NewWriter(3*types.BlockHeaderSize + len(q))
	for i := range p.Headers {
		w.Fixed(p.Headers[i].Encode())
	}
	w.Fixed(q)
	return w.Bytes()
}

// DecodeCommitProof parses a commit proof strictly (exact sizes, the QC's own
// strict decoder, no trailing bytes) and checks its structure (Check). It
// never verifies signatures: that needs the validator set.
func DecodeCommitProof(b []byte) (*CommitProof, error) {
	if len(b) > MaxCommitProofBytes {
		return nil, fmt.Errorf("%w: %d bytes", ErrBadCommitProof, len(b))
	}
	if len(b) < 3*types.BlockHeaderSize {
		return nil, fmt.Errorf("%w: %d bytes, shorter than three headers", ErrBadCommitProof, len(b))
	}
	p := &CommitProof{}
	for i := range p.Headers {
		h, err := types.DecodeBlockHeader(b[i*types.BlockHeaderSize : (i+1)*types.BlockHeaderSize])
		if err != nil {
			return nil, fmt.Errorf("%w: header %d: %w", ErrBadCommitProof, i, err)
		}
		p.Headers[i] = h
	}
	q, err := types.DecodeQC(b[3*types.BlockHeaderSize:])
	if err != nil {
		return nil, fmt.Errorf("%w: qc: %w", ErrBadCommitProof, err)
	}
	p.QC = q
	if err := p.Check(); err != nil {
		return nil, err
	}
	return p, nil
}

// Check verifies the structure of §8.5: B2.parent = B1, B3.parent = B2,
// consecutive heights, views view(B3) = view(B2)+1 = view(B1)+2, one chain
// id, and the QC certifies B3 in B3's view. Signatures are the caller's
// (types.Verifier.VerifyQC on p.QC).
func (p *CommitProof) Check() error {
	b1, b2, b3 := &p.Headers[0], &p.Headers[1], &p.Headers[2]
	switch {
	case b2.ParentID != b1.ID() || b3.ParentID != b2.ID():
		return fmt.Errorf("%w: headers are not hash-linked", ErrBadCommitProof)
	case b2.Height != b1.Height+1 || b3.Height != b2.Height+1 || b1.Height == ^uint64(0)-1:
		return fmt.Errorf("%w: heights %d, %d, %d are not consecutive", ErrBadCommitProof, b1.Height, b2.Height, b3.Height)
	case b2.View != b1.View+1 || b3.View != b2.View+1 || b1.View > ^uint64(0)-2:
		return fmt.Errorf("%w: views %d, %d, %d are not consecutive", ErrBadCommitProof, b1.View, b2.View, b3.View)
	case b2.ChainID != b1.ChainID || b3.ChainID != b1.ChainID:
		return fmt.Errorf("%w: mixed chain ids", ErrBadCommitProof)
	case p.QC.BlockID != b3.ID() || p.QC.View != b3.View:
		return fmt.Errorf("%w: QC does not certify B3", ErrBadCommitProof)
	}
	return nil
}

// Height is the committed height: B1's.
func (p *CommitProof) Height() uint64 { return p.Headers[0].Height }
