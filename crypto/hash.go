package crypto

import (
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/sha3"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
)

// HashSize is the SHA3-256 output size.
const HashSize = 32

// Hash is a SHA3-256 digest.
type Hash [HashSize]byte

// ErrBadHex is returned by ParseHash for input that is not 64 hex digits.
var ErrBadHex = errors.New("want 64 hexadecimal digits")

// Sum concatenates parts and hashes them with SHA3-256, without copying them
// into one buffer.
func Sum(parts ...[]byte) Hash {
	h := sha3.New256()
	for _, p := range parts {
		h.Write(p)
	}
	var out Hash
	h.Sum(out[:0])
	return out
}

// String is the lowercase hex form.
func (h Hash) String() string { return hex.EncodeToString(h[:]) }

// IsZero reports whether h is all zero bytes.
func (h Hash) IsZero() bool { return h == Hash{} }

// MarshalText encodes h as lowercase hex (for JSON).
func (h Hash) MarshalText() ([]byte, error) { return []byte(h.String()), nil }

// UnmarshalText parses 64 hex digits.
func (h *Hash) UnmarshalText(b []byte) error {
	p, err := ParseHash(string(b))
	if err != nil {
		return err
	}
	*h = p
	return nil
}

// ParseHash parses 64 hex digits (an optional 0x prefix is accepted).
func ParseHash(s string) (Hash, error) {
	if len(s) >= 2 && (s[:2] == "0x" || s[:2] == "0X") {
		s = s[2:]
	}
	var h Hash
	if len(s) != 2*HashSize {
		return h, fmt.Errorf("%d characters: %w", len(s), ErrBadHex)
	}
	if _, err := hex.Decode(h[:], []byte(s)); err != nil {
		return h, fmt.Errorf("%v: %w", err, ErrBadHex)
	}
	return h, nil
}

func newSHA3() hash.Hash { return sha3.New256() }

// HKDFExtract is HKDF-Extract over SHA3-256.
func HKDFExtract(salt, ikm []byte) []byte {
	prk, err := hkdf.Extract(newSHA3, ikm, salt)
	if err != nil {
		panic("crypto: hkdf extract: " + err.Error()) // only fails for FIPS-only mode restrictions
	}
	return prk
}

// HKDFExpand is HKDF-Expand over SHA3-256 with a byte-string info.
// The info is binary (labels ‖ transcript hashes), so it goes through the
// string parameter unchanged.
func HKDFExpand(prk, info []byte, length int) []byte {
	out, err := hkdf.Expand(newSHA3, prk, string(info), length)
	if err != nil {
		panic("crypto: hkdf expand: " + err.Error()) // length is a constant ≤ 255·32 at every call site
	}
	return out
}

// HMAC is HMAC-SHA3-256.
func HMAC(key []byte, parts ...[]byte) []byte {
	m := hmac.New(newSHA3, key)
	for _, p := range parts {
		m.Write(p)
	}
	return m.Sum(nil)
}

// HMACEqual compares two MACs in constant time.
func HMACEqual(a, b []byte) bool { return hmac.Equal(a, b) }
