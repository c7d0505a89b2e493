package lthash

import (
	"crypto/sha3"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/qbind/qbind/crypto"
	"github.com/zeebo/blake3"
)

const (
	// Lanes is the number of uint16 lanes of a set hash.
	Lanes = 1024
	// Size is the encoded size of a set hash and of an element: Lanes
	// little-endian uint16 values.
	Size = 2 * Lanes
	// AccountSize is the size of an account id.
	AccountSize = 32
	// StateSize is the size of a stored account state (§4: nonce u64 BE ‖
	// balance u128 BE).
	StateSize = 24
	// XOFName names the extendable-output function that expands elements:
	// BLAKE3 in XOF mode, the option PROTOCOL.md §9 allows when it measures
	// ≥ 2× faster than SHAKE256 (it did: 2.5–2.7×; recorded in
	// docs/decisions.md). `qbind bench execution` prints it.
	XOFName = "blake3"

	// tag is crypto.TagLtHash as a constant, so the XOF input has a fixed size
	// (a test pins the two together).
	tag       = "QBIND:LTHASH:v1"
	inputSize = len(tag) + AccountSize + StateSize // 71
)

// ErrSize is returned by FromBytes for an encoding that is not Size bytes.
var ErrSize = errors.New("lthash: encoding must be 2048 bytes")

// Hash is an LtHash16 set hash: 1024 uint16 lanes, added and subtracted lane
// by lane mod 2^16. The zero value is the hash of the empty set. Hash values
// are comparable with ==.
//
// Internally lanes 4j..4j+3 live in word j, lane 4j+k in bits 16k..16k+15, so
// one word is exactly the little-endian reading of its 8 encoded bytes and
// four lanes are added at once (SWAR) without carries crossing lanes.
type Hash struct {
	w [words]uint64
}

const (
	words = Lanes / 4
	// high is the top bit of every lane; SWAR arithmetic adds the low 15 bits
	// of each lane (which cannot carry out of the lane) and fixes the top bit
	// with XOR.
	high = 0x8000_8000_8000_8000
)

// add4 and sub4 are lane-wise addition and subtraction mod 2^16 of four
// lanes packed in a word.
func add4(a, b uint64) uint64 { return ((a &^ high) + (b &^ high)) ^ ((a ^ b) & high) }
func sub4(a, b uint64) uint64 { return ((a | high) - (b &^ high)) ^ ((a ^ ^b) & high) }

// Lane returns lane i (0 ≤ i < Lanes).
func (h *Hash) Lane(i int) uint16 { return uint16(h.w[i/4] >> (16 * (i % 4))) }

// Exists reports whether an account with this stored state exists: a state
// of all zero bytes (nonce 0, balance 0) means the account is absent (§4).
func Exists(state [StateSize]byte) bool { return state != [StateSize]byte{} }

// Element returns the element of one account as a set hash of its own:
// BLAKE3(tag ‖ account ‖ state) in XOF mode, read to 2048 bytes. It does not check
// existence (the element of an all-zero state is well defined, it is just
// never part of a state digest); use AddAccount or Update to maintain a digest.
func Element(account [AccountSize]byte, state [StateSize]byte) Hash {
	x := getHasher()
	defer putHasher(x)
	var e Hash
	e.addBytes(x.element(&account, &state))
	return e
}

// Add adds the set hash o to h lane-wise (multiset union of disjoint sets).
func (h *Hash) Add(o *Hash) {
	for j := range h.w {
		h.w[j] = add4(h.w[j], o.w[j])
	}
}

// Sub subtracts the set hash o from h lane-wise.
func (h *Hash) Sub(o *Hash) {
	for j := range h.w {
		h.w[j] = sub4(h.w[j], o.w[j])
	}
}

// AddAccount adds the element of (account, state) to h; an all-zero state is
// an absent account and leaves h unchanged.
func (h *Hash) AddAccount(account [AccountSize]byte, state [StateSize]byte) {
	if !Exists(state) {
		return
	}
	x := getHasher()
	h.addBytes(x.element(&account, &state))
	putHasher(x)
}

// SubAccount subtracts the element of (account, state) from h; an all-zero
// state is an absent account and leaves h unchanged.
func (h *Hash) SubAccount(account [AccountSize]byte, state [StateSize]byte) {
	if !Exists(state) {
		return
	}
	x := getHasher()
	h.subBytes(x.element(&account, &state))
	putHasher(x)
}

// IsZero reports whether every lane is zero, as for the empty set.
func (h *Hash) IsZero() bool { return *h == Hash{} }

// Digest is the state digest: SHA3-256 of the lanes as 2048 little-endian
// bytes.
func (h *Hash) Digest() crypto.Hash {
	var b [Size]byte
	h.put(&b)
	return crypto.Hash(sha3.Sum256(b[:]))
}

// Bytes returns the 2048-byte encoding (lanes little-endian), for persistence.
func (h *Hash) Bytes() []byte {
	b := new([Size]byte)
	h.put(b)
	return b[:]
}

// AppendBytes appends the 2048-byte encoding to dst.
func (h *Hash) AppendBytes(dst []byte) []byte {
	for _, w := range h.w {
		dst = binary.LittleEndian.AppendUint64(dst, w)
	}
	return dst
}

// FromBytes decodes the 2048-byte encoding written by Bytes. Every lane value
// is valid, so the only error is a wrong length (ErrSize).
func FromBytes(b []byte) (Hash, error) {
	var h Hash
	if len(b) != Size {
		return h, fmt.Errorf("%d bytes: %w", len(b), ErrSize)
	}
	h.addBytes((*[Size]byte)(b))
	return h, nil
}

// String is the hex of the digest (a set hash is too long to print).
func (h *Hash) String() string { return "lthash:" + h.Digest().String() }

func (h *Hash) put(b *[Size]byte) {
	for j, w := range h.w {
		binary.LittleEndian.PutUint64(b[8*j:], w)
	}
}

func (h *Hash) addBytes(b *[Size]byte) {
	for j := range h.w {
		h.w[j] = add4(h.w[j], binary.LittleEndian.Uint64(b[8*j:]))
	}
}

func (h *Hash) subBytes(b *[Size]byte) {
	for j := range h.w {
		h.w[j] = sub4(h.w[j], binary.LittleEndian.Uint64(b[8*j:]))
	}
}

// hasher holds one goroutine's reusable state: the BLAKE3 hasher (reset per
// element; it carries an 8 KiB input buffer, so it is worth reusing), the
// 71-byte input (tag prefilled), the 2048-byte output and, inside Update, the
// worker's partial sum. Nothing in the per-element path allocates.
type hasher struct {
	xof *blake3.Hasher
	in  [inputSize]byte
	out [Size]byte
	acc Hash
}

var hashers = sync.Pool{New: func() any {
	x := &hasher{xof: blake3.New()}
	copy(x.in[:], tag)
	return x
}}

func getHasher() *hasher  { return hashers.Get().(*hasher) }
func putHasher(x *hasher) { hashers.Put(x) }

// element expands (account, state) into x.out and returns it; the result is
// valid until the next call on x.
//
// blake3.Hasher.Digest returns a pointer to a fresh Digest (the XOF reader);
// it is inlined and the Digest does not escape, so it lives on the stack and
// reading the output does not allocate (TestUpdateDoesNotAllocateWithOneWorker
// and TestElementDoesNotAllocate pin this). Read fills 64 bytes per BLAKE3
// compression: 32 compressions per element.
func (x *hasher) element(account *[AccountSize]byte, state *[StateSize]byte) *[Size]byte {
	copy(x.in[len(tag):], account[:])
	copy(x.in[len(tag)+AccountSize:], state[:])
	x.xof.Reset()
	x.xof.Write(x.in[:])
	x.xof.Digest().Read(x.out[:])
	return &x.out
}
