package u128

import (
	"encoding/binary"
	"errors"
	"math/big"
	"math/bits"
)

// U128 is an unsigned 128-bit integer: Hi·2^64 + Lo. The zero value is 0.
type U128 struct {
	Hi, Lo uint64
}

// Zero is 0; Max is 2^128 − 1.
var (
	Zero = U128{}
	Max  = U128{Hi: ^uint64(0), Lo: ^uint64(0)}
)

// ErrRange is returned when a decimal string does not fit in 128 bits.
var ErrRange = errors.New("u128: value out of range (must be 0 ≤ v < 2^128)")

// ErrSyntax is returned for a string that is not a plain decimal integer.
var ErrSyntax = errors.New("u128: not a decimal integer")

// From64 widens a uint64.
func From64(v uint64) U128 { return U128{Lo: v} }

// IsZero reports v == 0.
func (v U128) IsZero() bool { return v.Hi == 0 && v.Lo == 0 }

// Cmp returns −1, 0 or +1.
func (v U128) Cmp(w U128) int {
	switch {
	case v.Hi < w.Hi:
		return -1
	case v.Hi > w.Hi:
		return 1
	case v.Lo < w.Lo:
		return -1
	case v.Lo > w.Lo:
		return 1
	}
	return 0
}

// Less reports v < w.
func (v U128) Less(w U128) bool { return v.Cmp(w) < 0 }

// Add returns v + w and whether it did not overflow.
func (v U128) Add(w U128) (U128, bool) {
	lo, c := bits.Add64(v.Lo, w.Lo, 0)
	hi, c := bits.Add64(v.Hi, w.Hi, c)
	return U128{Hi: hi, Lo: lo}, c == 0
}

// Sub returns v − w and whether it did not underflow.
func (v U128) Sub(w U128) (U128, bool) {
	lo, b := bits.Sub64(v.Lo, w.Lo, 0)
	hi, b := bits.Sub64(v.Hi, w.Hi, b)
	return U128{Hi: hi, Lo: lo}, b == 0
}

// Mul returns v · w and whether the product fits in 128 bits.
func (v U128) Mul(w U128) (U128, bool) {
	if v.Hi != 0 && w.Hi != 0 {
		return U128{}, false
	}
	hi, lo := bits.Mul64(v.Lo, w.Lo)
	h1, l1 := bits.Mul64(v.Hi, w.Lo)
	h2, l2 := bits.Mul64(v.Lo, w.Hi)
	if h1 != 0 || h2 != 0 {
		return U128{}, false
	}
	hi, c := bits.Add64(hi, l1, 0)
	if c != 0 {
		return U128{}, false
	}
	hi, c = bits.Add64(hi, l2, 0)
	if c != 0 {
		return U128{}, false
	}
	return U128{Hi: hi, Lo: lo}, true
}

// Mul64 returns v · w for a uint64 w and whether it fits.
func (v U128) Mul64(w uint64) (U128, bool) { return v.Mul(From64(w)) }

// Div64 returns floor(v / d) and v mod d. It panics if d == 0, like integer
// division.
func (v U128) Div64(d uint64) (U128, uint64) {
	qhi, r := bits.Div64(0, v.Hi, d)
	qlo, r := bits.Div64(r, v.Lo, d)
	return U128{Hi: qhi, Lo: qlo}, r
}

// Big returns v as a new big.Int.
func (v U128) Big() *big.Int {
	b := new(big.Int).SetUint64(v.Hi)
	b.Lsh(b, 64)
	return b.Or(b, new(big.Int).SetUint64(v.Lo))
}

// FromBig converts b; ok is false when b is negative or ≥ 2^128.
func FromBig(b *big.Int) (U128, bool) {
	if b.Sign() < 0 || b.BitLen() > 128 {
		return U128{}, false
	}
	lo := new(big.Int).And(b, new(big.Int).SetUint64(^uint64(0))).Uint64()
	hi := new(big.Int).Rsh(b, 64).Uint64()
	return U128{Hi: hi, Lo: lo}, true
}

// String formats v in decimal.
func (v U128) String() string {
	if v.Hi == 0 {
		return big.NewInt(0).SetUint64(v.Lo).String()
	}
	return v.Big().String()
}

// Parse reads a decimal string (no sign, no separators).
func Parse(s string) (U128, error) {
	if s == "" {
		return U128{}, ErrSyntax
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return U128{}, ErrSyntax
		}
	}
	b, ok := new(big.Int).SetString(s, 10)
	if !ok {
		return U128{}, ErrSyntax
	}
	v, ok := FromBig(b)
	if !ok {
		return U128{}, ErrRange
	}
	return v, nil
}

// MarshalText encodes v as a decimal string: JSON numbers lose precision above
// 2^53 in most clients, so amounts travel as strings.
func (v U128) MarshalText() ([]byte, error) { return []byte(v.String()), nil }

// UnmarshalText parses a decimal string.
func (v *U128) UnmarshalText(b []byte) error {
	p, err := Parse(string(b))
	if err != nil {
		return err
	}
	*v = p
	return nil
}

// PutBE writes v as 16 big-endian bytes into b[:16].
func (v U128) PutBE(b []byte) {
	binary.BigEndian.PutUint64(b[0:8], v.Hi)
	binary.BigEndian.PutUint64(b[8:16], v.Lo)
}

// PutLE writes v as 16 little-endian bytes into b[:16].
func (v U128) PutLE(b []byte) {
	binary.LittleEndian.PutUint64(b[0:8], v.Lo)
	binary.LittleEndian.PutUint64(b[8:16], v.Hi)
}

// FromBE reads 16 big-endian bytes.
func FromBE(b []byte) U128 {
	return U128{Hi: binary.BigEndian.Uint64(b[0:8]), Lo: binary.BigEndian.Uint64(b[8:16])}
}

// FromLE reads 16 little-endian bytes.
func FromLE(b []byte) U128 {
	return U128{Lo: binary.LittleEndian.Uint64(b[0:8]), Hi: binary.LittleEndian.Uint64(b[8:16])}
}
