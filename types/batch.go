package types

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
)

// Batch caps (PROTOCOL.md §7, MainNet values; the DAG enforces the
// gas and per-sender caps with the genesis parameters).
const (
	MaxBatchBytes     = 2 << 20
	MaxBatchTxs       = 500
	MaxBatchTxsSender = 64
	BatchHeaderSize   = 8 + 2 + 8 + 8 + 4 + 8 + 32
)

// Batch errors.
var (
	ErrBatchDecode      = errors.New("batch does not decode")
	ErrBatchTxCount     = errors.New("batch tx_count does not match its transactions")
	ErrBatchTxRoot      = errors.New("batch tx_root does not match its transactions")
	ErrBadBatchSig      = errors.New("batch creator signature does not verify")
	ErrBadAckSig        = errors.New("batch ack signature does not verify")
	ErrBadCertificate   = errors.New("batch certificate does not verify")
	ErrCertificateEmpty = errors.New("batch certificate has no signers")
)

// BatchID identifies a batch: H("QBIND:<S>:BATCH:v1" ‖ header).
type BatchID [32]byte

func (id BatchID) String() string { return crypto.Hash(id).String() }

// MarshalText encodes the id as lowercase hex.
func (id BatchID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// BatchHeader is everything about a batch except its transactions.
type BatchHeader struct {
	Epoch        uint64
	Creator      uint16 // validator index
	Seq          uint64
	ExpiryHeight uint64
	TxCount      uint32
	GasSum       uint64 // Σ intrinsic gas of the txs
	TxRoot       crypto.Hash
}

func (h *BatchHeader) encodeTo(w *codec.Writer) {
	w.U64(h.Epoch)
	w.U16(h.Creator)
	w.U64(h.Seq)
	w.U64(h.ExpiryHeight)
	w.U32(h.TxCount)
	w.U64(h.GasSum)
	w.Fixed(h.TxRoot[:])
}

func decodeBatchHeader(r *codec.Reader) BatchHeader {
	h := BatchHeader{Epoch: r.U64(), Creator: r.U16(), Seq: r.U64(), ExpiryHeight: r.U64(), TxCount: r.U32(), GasSum: r.U64()}
	r.FixedInto(h.TxRoot[:])
	return h
}

// Encode returns the header's canonical bytes.
func (h *BatchHeader) Encode() []byte {
	w := codec.NewWriter(BatchHeaderSize)
	h.encodeTo(w)
	return w.Bytes()
}

// ID is H("QBIND:<S>:BATCH:v1" ‖ header).
func (h *BatchHeader) ID(n crypto.Network) BatchID {
	return BatchID(crypto.Sum(n.Tag(crypto.KindBatch), h.Encode()))
}

// TxRoot is H(count u32 ‖ tx_id…) over a batch's transactions in order.
func TxRoot(ids []TxID) crypto.Hash {
	w := codec.NewWriter(4 + 32*len(ids))
	w.Count(len(ids))
	for _, id := range ids {
		w.Fixed(id[:])
	}
	return crypto.Sum(w.Bytes())
}

// EntryID is the id a batch entry contributes to tx_root: its tx id if it
// decodes, else H(raw) (docs/decisions.md) so that a root is defined for any
// list, including the malformed entries a "no certificates" DevNet block may
// carry.
func EntryID(n crypto.Network, raw []byte) TxID {
	tx, err := DecodeTransaction(raw)
	if err != nil {
		return TxID(crypto.Sum(raw))
	}
	return tx.ID(n, tx.Sender())
}

// Batch is a creator-signed list of raw transactions. Entries are kept raw:
// execution must be able to represent an entry that does not decode.
type Batch struct {
	Header    BatchHeader
	Signature []byte // creator's signature over BATCH tag ‖ batch_id
	Txs       [][]byte
}

// SigningBytes is "QBIND:<S>:BATCH:v1" ‖ batch_id.
func (h *BatchHeader) SigningBytes(n crypto.Network) []byte {
	id := h.ID(n)
	return append(append([]byte(nil), n.Tag(crypto.KindBatch)...), id[:]...)
}

// Encode returns header ‖ signature ‖ list(bytes tx).
func (b *Batch) Encode() []byte {
	size := BatchHeaderSize + len(b.Signature) + 4
	for _, tx := range b.Txs {
		size += 4 + len(tx)
	}
	w := codec.NewWriter(size)
	b.Header.encodeTo(w)
	w.Fixed(b.Signature)
	w.Count(len(b.Txs))
	for _, tx := range b.Txs {
		w.VarBytes(tx)
	}
	return w.Bytes()
}

// DecodeBatch parses a batch (structure only: tx_count must equal the list
// length; the root, signatures and caps that need parameters are checked by
// Verify and the DAG). Transaction slices alias in.
func DecodeBatch(in []byte) (*Batch, error) {
	if len(in) > MaxBatchBytes {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrBatchDecode, len(in), MaxBatchBytes)
	}
	r := codec.NewReader(in)
	b := &Batch{Header: decodeBatchHeader(r)}
	b.Signature = r.Fixed(crypto.MLDSA44SignatureSize)
	n := r.Count(MaxBatchTxs, 4)
	if r.Err() == nil && uint32(n) != b.Header.TxCount {
		r.Fail(fmt.Errorf("%w: header says %d, list has %d", ErrBatchTxCount, b.Header.TxCount, n))
	}
	if r.Err() == nil {
		b.Txs = make([][]byte, n)
		for i := range b.Txs {
			b.Txs[i] = r.VarBytes(MaxTxSize)
		}
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBatchDecode, err)
	}
	return b, nil
}

// Sign sets the creator signature (hedged). Tests and tools use it; validators
// sign through the signer, which applies the double-sign guard.
func (b *Batch) Sign(n crypto.Network, key *crypto.PrivateKey) error {
	sig, err := key.Sign(b.Header.SigningBytes(n))
	if err != nil {
		return err
	}
	b.Signature = sig
	return nil
}

// VerifySignature checks the creator's signature with the validator set.
func (b *Batch) VerifySignature(n crypto.Network, vs *ValidatorSet) error {
	if int(b.Header.Creator) >= vs.Len() {
		return fmt.Errorf("%w: creator %d", ErrUnknownIndex, b.Header.Creator)
	}
	if !vs.Get(int(b.Header.Creator)).ConsensusKey.Verify(b.Header.SigningBytes(n), b.Signature) {
		return ErrBadBatchSig
	}
	return nil
}

// CheckRoot recomputes tx_count and tx_root from the entries. ids, if not
// nil, are the entries' ids in order (saves re-deriving them when the caller
// already checked every tx).
func (b *Batch) CheckRoot(n crypto.Network, ids []TxID) error {
	if int(b.Header.TxCount) != len(b.Txs) {
		return ErrBatchTxCount
	}
	if ids == nil {
		ids = make([]TxID, len(b.Txs))
		for i, raw := range b.Txs {
			ids[i] = EntryID(n, raw)
		}
	}
	if TxRoot(ids) != b.Header.TxRoot {
		return ErrBatchTxRoot
	}
	return nil
}

// BatchAck is a validator's statement that it stored a batch durably and
// checked it (PROTOCOL.md §7). Signed over "QBIND:<S>:BATCH_ACK:v1" ‖ batch_id.
type BatchAck struct {
	BatchID   BatchID
	Signer    uint16
	Signature []byte
}

// BatchAckSize is the encoded size of an ack.
const BatchAckSize = 32 + 2 + crypto.MLDSA44SignatureSize

// AckSigningBytes is "QBIND:<S>:BATCH_ACK:v1" ‖ batch_id.
func AckSigningBytes(n crypto.Network, id BatchID) []byte {
	return append(append([]byte(nil), n.Tag(crypto.KindBatchAck)...), id[:]...)
}

// Encode returns batch_id ‖ signer u16 ‖ signature.
func (a *BatchAck) Encode() []byte {
	w := codec.NewWriter(BatchAckSize)
	w.Fixed(a.BatchID[:])
	w.U16(a.Signer)
	w.Fixed(a.Signature)
	return w.Bytes()
}

// DecodeBatchAck parses an ack.
func DecodeBatchAck(in []byte) (*BatchAck, error) {
	r := codec.NewReader(in)
	a := &BatchAck{}
	r.FixedInto(a.BatchID[:])
	a.Signer = r.U16()
	a.Signature = r.Fixed(crypto.MLDSA44SignatureSize)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("batch ack: %w", err)
	}
	return a, nil
}

// Sign sets the ack signature (hedged).
func (a *BatchAck) Sign(n crypto.Network, key *crypto.PrivateKey) error {
	sig, err := key.Sign(AckSigningBytes(n, a.BatchID))
	if err != nil {
		return err
	}
	a.Signature = sig
	return nil
}

// Verify checks the ack's signature against validator Signer's key.
func (a *BatchAck) Verify(n crypto.Network, vs *ValidatorSet) error {
	if int(a.Signer) >= vs.Len() {
		return fmt.Errorf("%w: signer %d", ErrUnknownIndex, a.Signer)
	}
	if !vs.Get(int(a.Signer)).ConsensusKey.Verify(AckSigningBytes(n, a.BatchID), a.Signature) {
		return ErrBadAckSig
	}
	return nil
}

// BatchCertificate proves availability: a batch header with BATCH_ACK
// signatures of validators holding more than 2/3 of the power, in index order.
type BatchCertificate struct {
	Header     BatchHeader
	Signers    Bitmap
	Signatures [][]byte
}

// NewBatchCertificate assembles a certificate from acks (any order, one per
// signer; the caller has verified them). It does not check the quorum.
func NewBatchCertificate(h BatchHeader, n int, acks []*BatchAck) *BatchCertificate {
	bm := NewBitmap(n)
	bySigner := make(map[uint16][]byte, len(acks))
	for _, a := range acks {
		if int(a.Signer) < n {
			bm.Set(int(a.Signer))
			bySigner[a.Signer] = a.Signature
		}
	}
	c := &BatchCertificate{Header: h, Signers: bm}
	for _, i := range bm.Indices() {
		c.Signatures = append(c.Signatures, bySigner[uint16(i)])
	}
	return c
}

// Encode returns header ‖ bitmap ‖ signatures.
func (c *BatchCertificate) Encode() []byte {
	w := codec.NewWriter(c.EncodedSize())
	c.encodeTo(w)
	return w.Bytes()
}

// EncodedSize is len(c.Encode()) without encoding.
func (c *BatchCertificate) EncodedSize() int {
	return BatchHeaderSize + 4 + len(c.Signers) + 4 + len(c.Signatures)*crypto.MLDSA44SignatureSize
}

func (c *BatchCertificate) encodeTo(w *codec.Writer) {
	c.Header.encodeTo(w)
	encodeBitmap(w, c.Signers)
	encodeSigs(w, c.Signatures)
}

func decodeBatchCertificate(r *codec.Reader) *BatchCertificate {
	c := &BatchCertificate{Header: decodeBatchHeader(r), Signers: decodeBitmap(r)}
	c.Signatures = decodeSigs(r, c.Signers.Count())
	return c
}

// DecodeBatchCertificate parses a certificate.
func DecodeBatchCertificate(in []byte) (*BatchCertificate, error) {
	r := codec.NewReader(in)
	c := decodeBatchCertificate(r)
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("batch certificate: %w", err)
	}
	return c, nil
}

// BatchID recomputes the certified batch's id from the header.
func (c *BatchCertificate) BatchID(n crypto.Network) BatchID { return c.Header.ID(n) }

// Verify checks the bitmap against the set, the quorum and every signature.
func (c *BatchCertificate) Verify(n crypto.Network, vs *ValidatorSet) error {
	power, err := vs.SignerPower(c.Signers)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrBadCertificate, err)
	}
	if !vs.IsQuorum(power) {
		return fmt.Errorf("%w: %w", ErrBadCertificate, ErrNoQuorum)
	}
	return c.verifySigs(n, vs)
}

// VerifyCreatorOnly accepts a certificate signed by at least its creator,
// without a quorum: the coupling mode "off" of the DevNet phase (§7).
func (c *BatchCertificate) VerifyCreatorOnly(n crypto.Network, vs *ValidatorSet) error {
	if _, err := vs.SignerPower(c.Signers); err != nil {
		return fmt.Errorf("%w: %w", ErrBadCertificate, err)
	}
	if !c.Signers.Has(int(c.Header.Creator)) {
		return fmt.Errorf("%w: creator %d did not sign", ErrBadCertificate, c.Header.Creator)
	}
	return c.verifySigs(n, vs)
}

func (c *BatchCertificate) verifySigs(n crypto.Network, vs *ValidatorSet) error {
	if len(c.Signatures) != c.Signers.Count() {
		return fmt.Errorf("%w: %w", ErrBadCertificate, ErrSigCount)
	}
	if len(c.Signatures) == 0 {
		return ErrCertificateEmpty
	}
	msg := AckSigningBytes(n, c.Header.ID(n))
	for k, i := range c.Signers.Indices() {
		if !vs.Get(i).ConsensusKey.Verify(msg, c.Signatures[k]) {
			return fmt.Errorf("%w: signature of validator %d", ErrBadCertificate, i)
		}
	}
	return nil
}
