package crypto

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
)

// SuiteID identifies an algorithm on the wire (u16). Signature, KEM and AEAD
// suites are separate namespaces (PROTOCOL.md §1).
type SuiteID uint16

const (
	// SuiteMLDSA44 is ML-DSA-44 (FIPS 204), pure, empty context.
	SuiteMLDSA44 SuiteID = 100
	// SuiteMLKEM768 is ML-KEM-768 (FIPS 203).
	SuiteMLKEM768 SuiteID = 100
	// SuiteChaCha20Poly1305 is the AEAD suite.
	SuiteChaCha20Poly1305 SuiteID = 101
)

// ML-DSA-44 sizes.
const (
	MLDSA44PublicKeySize = mldsa44.PublicKeySize // 1312
	MLDSA44SignatureSize = mldsa44.SignatureSize // 2420
	SeedSize             = mldsa44.SeedSize      // 32
)

// Signature errors.
var (
	ErrUnknownSuite    = errors.New("unknown or unsupported suite id")
	ErrPublicKeySize   = errors.New("public key has the wrong size for its suite")
	ErrSignatureSize   = errors.New("signature has the wrong size for its suite")
	ErrInvalidKey      = errors.New("public key does not decode")
	ErrBadSignature    = errors.New("signature does not verify")
	ErrSeedSize        = errors.New("private key seed must be 32 bytes")
	ErrSigningFailed   = errors.New("signing failed")
	ErrPublicKeyMismat = errors.New("public key does not match the private key")
)

// SignatureScheme describes one signature suite of the registry.
type SignatureScheme struct {
	ID            SuiteID
	Name          string
	PublicKeySize int
	SignatureSize int
}

var signatureSchemes = map[SuiteID]SignatureScheme{
	SuiteMLDSA44: {ID: SuiteMLDSA44, Name: "ML-DSA-44", PublicKeySize: MLDSA44PublicKeySize, SignatureSize: MLDSA44SignatureSize},
}

// LookupSignatureScheme returns the scheme of a suite id, or ErrUnknownSuite.
func LookupSignatureScheme(id SuiteID) (SignatureScheme, error) {
	s, ok := signatureSchemes[id]
	if !ok {
		return SignatureScheme{}, fmt.Errorf("signature suite %d: %w", id, ErrUnknownSuite)
	}
	return s, nil
}

// PublicKey is a parsed signature public key with its wire bytes and the
// account id they define. It is immutable and safe to share.
type PublicKey struct {
	suite  SuiteID
	raw    []byte
	parsed *mldsa44.PublicKey
	id     Hash
}

// ParsePublicKey parses raw (copied) for suite. Parsing an ML-DSA key expands
// its matrix (~70 µs): go through a KeyCache on hot paths.
func ParsePublicKey(suite SuiteID, raw []byte) (*PublicKey, error) {
	s, err := LookupSignatureScheme(suite)
	if err != nil {
		return nil, err
	}
	if len(raw) != s.PublicKeySize {
		return nil, fmt.Errorf("%s key of %d bytes, want %d: %w", s.Name, len(raw), s.PublicKeySize, ErrPublicKeySize)
	}
	pk := new(mldsa44.PublicKey)
	if err := pk.UnmarshalBinary(raw); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidKey, err)
	}
	cp := append([]byte(nil), raw...)
	return &PublicKey{suite: suite, raw: cp, parsed: pk, id: AccountID(suite, cp)}, nil
}

// AccountID is H("QBIND:ACCT:v1" ‖ suite u16 LE ‖ public_key) (PROTOCOL.md §4).
func AccountID(suite SuiteID, pub []byte) Hash {
	var s [2]byte
	binary.LittleEndian.PutUint16(s[:], uint16(suite))
	return Sum(TagAccount, s[:], pub)
}

// NodeID is H("QBIND:nodeid:v1" ‖ network_pk) (PROTOCOL.md §11).
func NodeID(networkPub []byte) Hash { return Sum(TagNodeID, networkPub) }

// Suite is the key's signature suite.
func (k *PublicKey) Suite() SuiteID { return k.suite }

// Bytes returns the wire encoding (do not modify).
func (k *PublicKey) Bytes() []byte { return k.raw }

// AccountID is the account this key controls (computed once at parse time).
func (k *PublicKey) AccountID() Hash { return k.id }

// Verify checks sig over msg (pure ML-DSA, empty context).
func (k *PublicKey) Verify(msg, sig []byte) bool {
	if len(sig) != MLDSA44SignatureSize {
		return false
	}
	return mldsa44.Verify(k.parsed, msg, nil, sig)
}

// VerifyParts checks sig over the concatenation of parts. Signed messages are
// short (tag ‖ preimage), so one copy is cheaper than a streaming interface.
func (k *PublicKey) VerifyParts(sig []byte, parts ...[]byte) bool {
	return k.Verify(concat(parts), sig)
}

func concat(parts [][]byte) []byte {
	n := 0
	for _, p := range parts {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// PrivateKey is a signing key held in memory. On disk only its 32-byte seed is
// kept (PROTOCOL.md §1, §12).
type PrivateKey struct {
	suite SuiteID
	seed  [SeedSize]byte
	sk    *mldsa44.PrivateKey
	pub   *PublicKey
}

// NewPrivateKeyFromSeed derives the key pair of suite from a 32-byte seed
// (FIPS 204 ML-DSA.KeyGen_internal).
func NewPrivateKeyFromSeed(suite SuiteID, seed []byte) (*PrivateKey, error) {
	if _, err := LookupSignatureScheme(suite); err != nil {
		return nil, err
	}
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("%d bytes: %w", len(seed), ErrSeedSize)
	}
	var s [SeedSize]byte
	copy(s[:], seed)
	pk, sk := mldsa44.NewKeyFromSeed(&s)
	raw, _ := pk.MarshalBinary()
	pub := &PublicKey{suite: suite, raw: raw, parsed: pk, id: AccountID(suite, raw)}
	return &PrivateKey{suite: suite, seed: s, sk: sk, pub: pub}, nil
}

// Public returns the public key.
func (k *PrivateKey) Public() *PublicKey { return k.pub }

// Seed returns a copy of the 32-byte seed (for the keystore only).
func (k *PrivateKey) Seed() []byte { s := k.seed; return s[:] }

// Sign produces a hedged signature (fresh randomness mixed in, FIPS 204 §3.4):
// the production mode.
func (k *PrivateKey) Sign(msg []byte) ([]byte, error) { return k.sign(msg, true) }

// SignDeterministic signs with rnd = 0 (FIPS 204 deterministic variant). Allowed
// in tests and known-answer vectors; the same key and message always give the
// same signature.
func (k *PrivateKey) SignDeterministic(msg []byte) ([]byte, error) { return k.sign(msg, false) }

func (k *PrivateKey) sign(msg []byte, hedged bool) ([]byte, error) {
	sig := make([]byte, MLDSA44SignatureSize)
	if err := mldsa44.SignTo(k.sk, msg, nil, hedged, sig); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrSigningFailed, err)
	}
	return sig, nil
}
