package types

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/u128"
)

// Transaction sizes and caps.
const (
	TransferV1Size = 72 // recipient ‖ amount ‖ gas_limit ‖ max_fee_per_gas
	TransferV0Size = 48 // recipient ‖ amount
	// MaxPayloadSize caps the payload a decoder accepts. Payloads of other
	// lengths than 72 or 48 still decode (they are "malformed" for execution,
	// which keeps them in place in a block's canonical list); the cap only
	// bounds allocation.
	MaxPayloadSize = 1024
	// MaxTxSize is the largest encoded transaction the decoder accepts.
	MaxTxSize = 2 + crypto.MLDSA44PublicKeySize + 8 + 4 + MaxPayloadSize + crypto.MLDSA44SignatureSize
	// TxV1Size is the wire size of a v1 transfer (3818 bytes).
	TxV1Size = 2 + crypto.MLDSA44PublicKeySize + 8 + 4 + TransferV1Size + crypto.MLDSA44SignatureSize
)

// Transaction rejections. Stateless-validity failures (stateless.go) add theirs.
var (
	ErrTxDecode         = errors.New("transaction does not decode")
	ErrMalformedPayload = errors.New("payload is neither a 72-byte v1 nor a 48-byte v0 transfer")
)

// TxID is H(signing preimage): the signature is excluded, so re-signing does
// not change the id (PROTOCOL.md §4).
type TxID [32]byte

func (id TxID) String() string { return crypto.Hash(id).String() }

// MarshalText encodes the id as lowercase hex.
func (id TxID) MarshalText() ([]byte, error) { return []byte(id.String()), nil }

// Transaction is the wire transaction:
// suite u16 ‖ public_key[pk size] ‖ nonce u64 ‖ payload bytes ‖ signature[sig size].
// The sender is derived from the key and never sent.
type Transaction struct {
	Suite     crypto.SuiteID
	PublicKey []byte
	Nonce     uint64
	Payload   []byte
	Signature []byte
}

// Encode returns the wire encoding.
func (tx *Transaction) Encode() []byte {
	w := codec.NewWriter(2 + len(tx.PublicKey) + 12 + len(tx.Payload) + len(tx.Signature))
	tx.encodeTo(w)
	return w.Bytes()
}

func (tx *Transaction) encodeTo(w *codec.Writer) {
	w.U16(uint16(tx.Suite))
	w.Fixed(tx.PublicKey)
	w.U64(tx.Nonce)
	w.VarBytes(tx.Payload)
	w.Fixed(tx.Signature)
}

// DecodeTransaction parses a wire transaction. The returned slices alias b.
// An unknown suite is a decode error because the key and signature sizes
// depend on it.
func DecodeTransaction(b []byte) (*Transaction, error) {
	if len(b) > MaxTxSize {
		return nil, fmt.Errorf("%w: %d bytes > %d", ErrTxDecode, len(b), MaxTxSize)
	}
	r := codec.NewReader(b)
	tx := &Transaction{Suite: crypto.SuiteID(r.U16())}
	if r.Err() == nil {
		s, err := crypto.LookupSignatureScheme(tx.Suite)
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrTxDecode, err)
		}
		tx.PublicKey = r.Fixed(s.PublicKeySize)
		tx.Nonce = r.U64()
		tx.Payload = r.VarBytes(MaxPayloadSize)
		tx.Signature = r.Fixed(s.SignatureSize)
	}
	if err := r.Done(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTxDecode, err)
	}
	return tx, nil
}

// Sender derives the sender account from the public key (~5 µs: hashes 1.3 KB).
// Hot paths use a crypto.KeyCache, whose parsed keys carry their account id.
func (tx *Transaction) Sender() AccountID { return AccountID(crypto.AccountID(tx.Suite, tx.PublicKey)) }

// PreimageSize is the signing preimage length for this network and payload.
func preimageSize(n crypto.Network, payloadLen int) int {
	return len(n.Tag(crypto.KindTx)) + 32 + 8 + 4 + payloadLen + 2
}

// SigningPreimage is "QBIND:<S>:TX:v1" ‖ sender[32] ‖ nonce u64 ‖ payload_len u32 ‖
// payload ‖ suite u16 (PROTOCOL.md §4). The tag is part of it: the signature
// is over exactly these bytes and the tx id is their hash.
func (tx *Transaction) SigningPreimage(n crypto.Network, sender AccountID) []byte {
	w := codec.NewWriter(preimageSize(n, len(tx.Payload)))
	w.Fixed(n.Tag(crypto.KindTx))
	w.Fixed(sender[:])
	w.U64(tx.Nonce)
	w.VarBytes(tx.Payload)
	w.U16(uint16(tx.Suite))
	return w.Bytes()
}

// ID returns the tx id for network n given the (derived) sender.
func (tx *Transaction) ID(n crypto.Network, sender AccountID) TxID {
	return TxID(crypto.Sum(tx.SigningPreimage(n, sender)))
}

// Sign fills Signature with a hedged ML-DSA signature of key over the preimage.
// The key must be the one whose public key the transaction carries.
func (tx *Transaction) Sign(n crypto.Network, key *crypto.PrivateKey) error {
	return tx.sign(n, key, key.Sign)
}

// SignDeterministic is Sign with FIPS 204 deterministic signing (tests, vectors).
func (tx *Transaction) SignDeterministic(n crypto.Network, key *crypto.PrivateKey) error {
	return tx.sign(n, key, key.SignDeterministic)
}

func (tx *Transaction) sign(n crypto.Network, key *crypto.PrivateKey, sign func([]byte) ([]byte, error)) error {
	pub := key.Public()
	if tx.Suite != pub.Suite() || string(tx.PublicKey) != string(pub.Bytes()) {
		return crypto.ErrPublicKeyMismat
	}
	sig, err := sign(tx.SigningPreimage(n, AccountID(pub.AccountID())))
	if err != nil {
		return err
	}
	tx.Signature = sig
	return nil
}

// PayloadVersion distinguishes transfer payload formats.
type PayloadVersion uint8

const (
	PayloadV0 PayloadVersion = 0 // 48 bytes: no gas fields (devnet, testnet-alpha)
	PayloadV1 PayloadVersion = 1 // 72 bytes
)

// Transfer is a decoded transfer payload. All fields are big-endian on the
// wire. A v0 payload has GasLimit = 0 and MaxFeePerGas = 0.
type Transfer struct {
	Version      PayloadVersion
	Recipient    AccountID
	Amount       u128.U128
	GasLimit     uint64
	MaxFeePerGas u128.U128
}

// ParseTransfer selects the payload format by length: 72 bytes v1, 48 bytes
// v0, anything else ErrMalformedPayload.
func ParseTransfer(p []byte) (Transfer, error) {
	var t Transfer
	switch len(p) {
	case TransferV1Size:
		t.Version = PayloadV1
		t.GasLimit = binary.BigEndian.Uint64(p[48:56])
		t.MaxFeePerGas = u128.FromBE(p[56:72])
	case TransferV0Size:
		t.Version = PayloadV0
	default:
		return Transfer{}, fmt.Errorf("%w (got %d bytes)", ErrMalformedPayload, len(p))
	}
	copy(t.Recipient[:], p[0:32])
	t.Amount = u128.FromBE(p[32:48])
	return t, nil
}

// Encode returns the payload bytes of t's version.
func (t Transfer) Encode() []byte {
	w := codec.NewWriter(TransferV1Size)
	w.Fixed(t.Recipient[:])
	var b [16]byte
	t.Amount.PutBE(b[:])
	w.Fixed(b[:])
	if t.Version == PayloadV1 {
		w.U64BE(t.GasLimit)
		t.MaxFeePerGas.PutBE(b[:])
		w.Fixed(b[:])
	}
	return w.Bytes()
}

// MaxCost is gas_limit × max_fee_per_gas, the balance a sender must hold for
// the fee; ok is false when the product overflows u128 (such a tx is skipped
// as insufficient_balance, PROTOCOL.md §5).
func (t Transfer) MaxCost() (u128.U128, bool) { return t.MaxFeePerGas.Mul64(t.GasLimit) }
