package types

import (
	"errors"
	"fmt"
	"hash/maphash"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/qbind/qbind/crypto"
)

// Stateless-validity rejections (PROTOCOL.md §4), in check order after
// ErrTxDecode and ErrMalformedPayload.
var (
	ErrV0Forbidden            = errors.New("v0 transfer payloads are not accepted on this network (use a 72-byte v1 payload)")
	ErrGasLimitBelowIntrinsic = errors.New("gas_limit is below max(intrinsic gas, MINIMUM_GAS_LIMIT)")
	ErrFeeBelowMinimum        = errors.New("max_fee_per_gas is below MIN_GAS_PRICE")
	ErrBadTxSignature         = errors.New("transaction signature does not verify for this network")
)

// CheckedTx is a transaction that passed stateless validity, with every field
// derived from it computed once.
type CheckedTx struct {
	Tx           *Transaction
	Raw          []byte // wire bytes (aliases the checked input)
	Sender       AccountID
	ID           TxID
	Transfer     Transfer
	IntrinsicGas uint64
}

// Checker runs stateless validity for one network and parameter set. It is
// safe for concurrent use (the caches are).
type Checker struct {
	Network  crypto.Network
	Params   ExecParams
	Keys     *crypto.KeyCache
	Verified *VerifiedCache
}

// NewChecker returns a checker with default-sized caches.
func NewChecker(n crypto.Network, p ExecParams) *Checker {
	return &Checker{Network: n, Params: p, Keys: crypto.NewKeyCache(0), Verified: NewVerifiedCache(0)}
}

// Check decodes raw and applies stateless validity: suite known, payload
// allowed, gas_limit ≥ max(intrinsic, MINIMUM_GAS_LIMIT), max_fee_per_gas ≥
// MIN_GAS_PRICE, and a signature that verifies for c.Network. A transaction
// whose id and exact signature bytes were verified before is not verified
// again. The gas and fee rules apply to v1 payloads only: a v0 payload has no
// gas fields and pays no fee (docs/decisions.md).
func (c *Checker) Check(raw []byte) (*CheckedTx, error) {
	tx, err := DecodeTransaction(raw)
	if err != nil {
		return nil, err
	}
	pk, err := c.Keys.Get(tx.Suite, tx.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTxDecode, err)
	}
	ct := &CheckedTx{Tx: tx, Raw: raw, Sender: AccountID(pk.AccountID())}
	if ct.Transfer, err = ParseTransfer(tx.Payload); err != nil {
		return nil, err
	}
	ct.IntrinsicGas = c.Params.IntrinsicGas(ct.Transfer.Recipient == ct.Sender, len(tx.Payload))
	if err := c.checkPayloadRules(ct); err != nil {
		return nil, err
	}
	pre := tx.SigningPreimage(c.Network, ct.Sender)
	ct.ID = TxID(crypto.Sum(pre))
	if c.Verified.Seen(ct.ID, tx.Signature) {
		return ct, nil
	}
	if !pk.Verify(pre, tx.Signature) {
		return nil, ErrBadTxSignature
	}
	c.Verified.Add(ct.ID, tx.Signature)
	return ct, nil
}

func (c *Checker) checkPayloadRules(ct *CheckedTx) error {
	t := ct.Transfer
	if t.Version == PayloadV0 {
		if !c.Params.AllowV0Payload {
			return ErrV0Forbidden
		}
		return nil
	}
	if !c.Params.GasEnabled {
		return nil
	}
	if min := max(ct.IntrinsicGas, c.Params.MinimumGasLimit); t.GasLimit < min {
		return fmt.Errorf("%w: %d < %d", ErrGasLimitBelowIntrinsic, t.GasLimit, min)
	}
	if t.MaxFeePerGas.Less(c.Params.MinGasPrice) {
		return fmt.Errorf("%w: %s < %s", ErrFeeBelowMinimum, t.MaxFeePerGas, c.Params.MinGasPrice)
	}
	return nil
}

// DefaultVerifiedCacheSize bounds the verified-transaction cache (~60 bytes
// an entry).
const DefaultVerifiedCacheSize = 1 << 18

// VerifiedCache remembers transactions whose signature verified, by tx id
// together with a 128-bit digest of the signature bytes: the tx id excludes
// the signature, so a hit must also prove the signature bytes are the
// verified ones (PROTOCOL.md §4).
//
// The digest is two hash/maphash sums under independent per-process random
// seeds. A peer that does not know the seeds cannot aim for a collision (each
// try costs it a full ML-DSA verification at our node and succeeds with
// probability 2^-128), and the worst a collision could do is let one node
// relay a transaction whose signature bytes others reject. Hashing 2420 bytes
// this way costs ~0.3 µs where BLAKE2b cost ~3 µs, which was 60 % of the
// admission overhead over a bare verification (docs/decisions.md).
type VerifiedCache struct {
	seeds [2]maphash.Seed
	c     *lru.Cache[TxID, sigDigest]
}

type sigDigest [2]uint64

// NewVerifiedCache holds at most size entries (DefaultVerifiedCacheSize if ≤ 0).
func NewVerifiedCache(size int) *VerifiedCache {
	if size <= 0 {
		size = DefaultVerifiedCacheSize
	}
	c, _ := lru.New[TxID, sigDigest](size)
	return &VerifiedCache{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, c: c}
}

func (v *VerifiedCache) digest(sig []byte) sigDigest {
	return sigDigest{maphash.Bytes(v.seeds[0], sig), maphash.Bytes(v.seeds[1], sig)}
}

// Seen reports whether id was verified with exactly these signature bytes.
func (v *VerifiedCache) Seen(id TxID, sig []byte) bool {
	d, ok := v.c.Get(id)
	return ok && d == v.digest(sig)
}

// Add records a verified (id, signature) pair.
func (v *VerifiedCache) Add(id TxID, sig []byte) { v.c.Add(id, v.digest(sig)) }

// Len is the number of entries.
func (v *VerifiedCache) Len() int { return v.c.Len() }
