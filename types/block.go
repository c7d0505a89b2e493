package types

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
)

// BlockVersion is the header version of QBIND v0.
const BlockVersion = 1

// BlockHeaderSize is the encoded header size.
const BlockHeaderSize = 1 + 8 + 8 + 8 + 8 + 32 + 2 + 8 + 32 + 8 + 8 + 32

// Block errors.
var (
	ErrBlockDecode    = errors.New("block header does not decode")
	ErrBadProposalSig = errors.New("proposal signature does not verify")
)

// BlockID is H("QBIND:BLOCK:v1" ‖ header). The header carries the chain id,
// which binds votes and proposals (signed over the id) to one network.
type BlockID [32]byte

func (id BlockID) String() string { return crypto.Hash(id).String() }

// MarshalText encodes the id as lowercase hex.
func (id BlockID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// BlockHeader is the consensus block header (PROTOCOL.md §8.2). The body
// (the payload of batch certificates) travels in the Proposal and is bound by
// BatchCommitment.
type BlockHeader struct {
	Version         uint8
	ChainID         uint64
	Epoch           uint64
	View            uint64
	Height          uint64
	ParentID        BlockID
	Proposer        uint16
	TimestampMs     uint64
	BatchCommitment crypto.Hash
	JustifyView     uint64
	ExecHeight      uint64
	ExecDigest      crypto.Hash
}

func (h *BlockHeader) encodeTo(w *codec.Writer) {
	w.U8(h.Version)
	w.U64(h.ChainID)
	w.U64(h.Epoch)
	w.U64(h.View)
	w.U64(h.Height)
	w.Fixed(h.ParentID[:])
	w.U16(h.Proposer)
	w.U64(h.TimestampMs)
	w.Fixed(h.BatchCommitment[:])
	w.U64(h.JustifyView)
	w.U64(h.ExecHeight)
	w.Fixed(h.ExecDigest[:])
}

func decodeBlockHeader(r *codec.Reader) BlockHeader {
	h := BlockHeader{Version: r.U8(), ChainID: r.U64(), Epoch: r.U64(), View: r.U64(), Height: r.U64()}
	r.FixedInto(h.ParentID[:])
	h.Proposer = r.U16()
	h.TimestampMs = r.U64()
	r.FixedInto(h.BatchCommitment[:])
	h.JustifyView = r.U64()
	h.ExecHeight = r.U64()
	r.FixedInto(h.ExecDigest[:])
	return h
}

// Encode returns the canonical header bytes.
func (h BlockHeader) Encode() []byte {
	w := codec.NewWriter(BlockHeaderSize)
	h.encodeTo(w)
	return w.Bytes()
}

// DecodeBlockHeader parses a header.
func DecodeBlockHeader(b []byte) (BlockHeader, error) {
	r := codec.NewReader(b)
	h := decodeBlockHeader(r)
	if err := r.Done(); err != nil {
		return BlockHeader{}, fmt.Errorf("%w: %w", ErrBlockDecode, err)
	}
	return h, nil
}

// ID is H("QBIND:BLOCK:v1" ‖ header).
func (h BlockHeader) ID() BlockID { return BlockID(crypto.Sum(crypto.TagBlock, h.Encode())) }

// BatchCommitment is H("QBIND:<S>:BATCHES:v1" ‖ count u32 ‖ batch_ids…).
func BatchCommitment(n crypto.Network, ids []BatchID) crypto.Hash {
	w := codec.NewWriter(len(n.Tag(crypto.KindBatches)) + 4 + 32*len(ids))
	w.Fixed(n.Tag(crypto.KindBatches))
	w.Count(len(ids))
	for _, id := range ids {
		w.Fixed(id[:])
	}
	return crypto.Sum(w.Bytes())
}

// GenesisBlock is G (PROTOCOL.md §8.2): view 0, height 0, zero parent,
// proposer 0, the genesis time, an empty batch commitment and the genesis
// state's exec digest EXEC0.
func GenesisBlock(n crypto.Network, genesisTimeMs uint64, exec0 crypto.Hash) BlockHeader {
	return BlockHeader{
		Version:         BlockVersion,
		ChainID:         n.ChainID(),
		TimestampMs:     genesisTimeMs,
		BatchCommitment: BatchCommitment(n, nil),
		ExecDigest:      exec0,
	}
}

// GenesisQC is QC(G): view 0, G's id, no signers. It is valid by definition,
// for G only.
func GenesisQC(genesisID BlockID) QC { return QC{View: 0, BlockID: genesisID, Signers: Bitmap{}} }
