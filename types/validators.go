package types

import (
	"errors"
	"fmt"
	"math/bits"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/crypto"
)

// MaxValidators is v0's bound on the validator set: QCs and certificates
// carry one 2420-byte signature per signer (PROTOCOL.md §7).
const MaxValidators = 32

// MaxTotalPower is genesis's bound on Σ power (2^62), which keeps 3·Σ in a u64.
const MaxTotalPower = 1 << 62

// Validator-set and signer-set errors.
var (
	ErrValidatorSet = errors.New("invalid validator set")
	ErrBitmap       = errors.New("signer bitmap does not match the validator set")
	ErrNoQuorum     = errors.New("signers do not hold more than 2/3 of the voting power")
	ErrSigCount     = errors.New("number of signatures differs from the number of signers")
	ErrUnknownIndex = errors.New("validator index out of range")
)

// Validator is one member of the genesis validator set (index = position).
type Validator struct {
	ConsensusKey  *crypto.PublicKey // signs proposals, votes, timeouts, batches, acks
	NetworkKey    []byte            // P2P identity (ML-DSA-44 public key); node_id = H(nodeid tag ‖ key)
	Power         uint64
	RewardAccount AccountID // receives the proposer's fee share
}

// NodeID is the validator's P2P node id.
func (v *Validator) NodeID() crypto.Hash { return crypto.NodeID(v.NetworkKey) }

// ValidatorSet is the ordered validator set with its quorum arithmetic.
type ValidatorSet struct {
	vals  []Validator
	total uint64
}

// NewValidatorSet checks 1 ≤ n ≤ MaxValidators, power > 0 and Σ power ≤ 2^62.
func NewValidatorSet(vals []Validator) (*ValidatorSet, error) {
	if len(vals) == 0 || len(vals) > MaxValidators {
		return nil, fmt.Errorf("%w: %d validators (want 1..%d)", ErrValidatorSet, len(vals), MaxValidators)
	}
	var total uint64
	for i, v := range vals {
		if v.ConsensusKey == nil {
			return nil, fmt.Errorf("%w: validator %d has no consensus key", ErrValidatorSet, i)
		}
		if v.Power == 0 {
			return nil, fmt.Errorf("%w: validator %d has zero power", ErrValidatorSet, i)
		}
		if v.Power > MaxTotalPower || total+v.Power > MaxTotalPower {
			return nil, fmt.Errorf("%w: total power exceeds 2^62", ErrValidatorSet)
		}
		total += v.Power
	}
	return &ValidatorSet{vals: append([]Validator(nil), vals...), total: total}, nil
}

// Len is n.
func (s *ValidatorSet) Len() int { return len(s.vals) }

// Get returns validator i (i < Len()).
func (s *ValidatorSet) Get(i int) *Validator { return &s.vals[i] }

// TotalPower is Σ power.
func (s *ValidatorSet) TotalPower() uint64 { return s.total }

// Leader is the proposer of a view: validators[view mod n].
func (s *ValidatorSet) Leader(view uint64) uint16 { return uint16(view % uint64(len(s.vals))) }

// IsQuorum reports 3·power > 2·total, computed in 128 bits.
func (s *ValidatorSet) IsQuorum(power uint64) bool { return gt128(3, power, 2, s.total) }

// ExceedsOneThird reports 3·power > total ("more than f", "> 1/3 of power").
func (s *ValidatorSet) ExceedsOneThird(power uint64) bool { return gt128(3, power, 1, s.total) }

// F is the largest power strictly below total/3.
func (s *ValidatorSet) F() uint64 { return (s.total - 1) / 3 }

// gt128 reports a·x > b·y with 128-bit products.
func gt128(a, x, b, y uint64) bool {
	h1, l1 := bits.Mul64(a, x)
	h2, l2 := bits.Mul64(b, y)
	return h1 > h2 || (h1 == h2 && l1 > l2)
}

// Bitmap is a signer set: bit i of byte i/8 (LSB first) is validator i. A
// valid bitmap for n validators has exactly ceil(n/8) bytes and no bit ≥ n.
type Bitmap []byte

// MaxBitmapBytes bounds a decoded bitmap.
const MaxBitmapBytes = (MaxValidators + 7) / 8

// NewBitmap returns an empty bitmap for n validators.
func NewBitmap(n int) Bitmap { return make(Bitmap, (n+7)/8) }

// Set marks validator i.
func (b Bitmap) Set(i int) { b[i/8] |= 1 << (i % 8) }

// Has reports whether validator i is marked.
func (b Bitmap) Has(i int) bool { return i/8 < len(b) && b[i/8]&(1<<(i%8)) != 0 }

// Count is the number of marked validators.
func (b Bitmap) Count() int {
	c := 0
	for _, x := range b {
		c += bits.OnesCount8(x)
	}
	return c
}

// Indices lists the marked validators in ascending order.
func (b Bitmap) Indices() []int {
	out := make([]int, 0, b.Count())
	for i := range len(b) * 8 {
		if b.Has(i) {
			out = append(out, i)
		}
	}
	return out
}

// SignerPower checks that b fits the set and returns the signers' power.
func (s *ValidatorSet) SignerPower(b Bitmap) (uint64, error) {
	n := len(s.vals)
	if len(b) != (n+7)/8 {
		return 0, fmt.Errorf("%w: %d bytes for %d validators", ErrBitmap, len(b), n)
	}
	if n%8 != 0 && len(b) > 0 && b[len(b)-1]>>(n%8) != 0 {
		return 0, fmt.Errorf("%w: bit set beyond validator %d", ErrBitmap, n-1)
	}
	var p uint64
	for _, i := range b.Indices() {
		p += s.vals[i].Power
	}
	return p, nil
}

func encodeBitmap(w *codec.Writer, b Bitmap) { w.VarBytes(b) }

func decodeBitmap(r *codec.Reader) Bitmap {
	b := r.VarBytes(MaxBitmapBytes)
	if b == nil {
		return Bitmap{}
	}
	return append(Bitmap{}, b...)
}

// encodeSigs writes a signature list (count ‖ fixed-size signatures).
func encodeSigs(w *codec.Writer, sigs [][]byte) {
	w.Count(len(sigs))
	for _, s := range sigs {
		w.Fixed(s)
	}
}

// decodeSigs reads a signature list whose count must equal the bitmap's
// signer count: a certificate cannot carry a signature without a signer or
// a signer without a signature.
func decodeSigs(r *codec.Reader, signers int) [][]byte {
	n := r.Count(MaxValidators, crypto.MLDSA44SignatureSize)
	if r.Err() != nil {
		return nil
	}
	if n != signers {
		r.Fail(fmt.Errorf("%w: %d signatures for %d signers", ErrSigCount, n, signers))
		return nil
	}
	sigs := make([][]byte, n)
	for i := range sigs {
		sigs[i] = r.Fixed(crypto.MLDSA44SignatureSize)
	}
	return sigs
}
