package dag

import (
	"fmt"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// CouplingMode is the DAG–consensus coupling (PROTOCOL.md §7).
type CouplingMode uint8

const (
	// CouplingEnforce rejects an invalid payload (no vote). MainNet.
	CouplingEnforce CouplingMode = iota
	// CouplingWarn counts invalid payloads and votes; the voter holds every
	// body first.
	CouplingWarn
	// CouplingOff accepts creator-only certificates (DevNet "no
	// certificates"); the voter holds every body first.
	CouplingOff
)

func (m CouplingMode) String() string {
	switch m {
	case CouplingEnforce:
		return "enforce"
	case CouplingWarn:
		return "warn"
	case CouplingOff:
		return "off"
	}
	return fmt.Sprintf("coupling(%d)", uint8(m))
}

// ParseCouplingMode parses off|warn|enforce.
func ParseCouplingMode(s string) (CouplingMode, error) {
	switch s {
	case "enforce":
		return CouplingEnforce, nil
	case "warn":
		return CouplingWarn, nil
	case "off":
		return CouplingOff, nil
	}
	return 0, fmt.Errorf("dag: coupling mode %q (want off, warn or enforce)", s)
}

// Defaults.
const (
	DefaultMaxWaitMs      = 200  // a lone tx still ships
	DefaultResendMs       = 2000 // §7: re-send uncertified pending batches every 2 s
	DefaultFetchTimeoutMs = 1000
	DefaultRetainBlocks   = 64
)

// Verifier checks what the DAG receives. RealVerifier is the production
// one; the simulator may substitute a fast deterministic scheme. It must be
// deterministic.
type Verifier interface {
	// CheckTx is stateless validity (§4), signature included.
	CheckTx(raw []byte) (*types.CheckedTx, error)
	VerifyBatchSig(b *types.Batch) error
	VerifyAck(a *types.BatchAck) error
	// VerifyCert checks a certificate: quorum and every signature, or
	// with creatorOnly the creator's signature without a quorum.
	VerifyCert(c *types.BatchCertificate, creatorOnly bool) error
}

// RealVerifier verifies with ML-DSA through the types package.
type RealVerifier struct {
	Network    crypto.Network
	Validators *types.ValidatorSet
	Checker    *types.Checker
}

// CheckTx implements Verifier.
func (v *RealVerifier) CheckTx(raw []byte) (*types.CheckedTx, error) { return v.Checker.Check(raw) }

// VerifyBatchSig implements Verifier.
func (v *RealVerifier) VerifyBatchSig(b *types.Batch) error {
	return b.VerifySignature(v.Network, v.Validators)
}

// VerifyAck implements Verifier.
func (v *RealVerifier) VerifyAck(a *types.BatchAck) error { return a.Verify(v.Network, v.Validators) }

// VerifyCert implements Verifier.
func (v *RealVerifier) VerifyCert(c *types.BatchCertificate, creatorOnly bool) error {
	if creatorOnly {
		return c.VerifyCreatorOnly(v.Network, v.Validators)
	}
	return c.Verify(v.Network, v.Validators)
}

// Config configures a Core.
type Config struct {
	Network    crypto.Network
	Validators *types.ValidatorSet
	Self       uint16
	Epoch      uint64
	Params     types.ExecParams // BATCH_TTL, slack, MAX_PENDING, gas limit, payload bytes
	Coupling   CouplingMode

	Signer   Signer
	Verifier Verifier

	MaxBatchTxs       int // 500
	MaxBatchBytes     int // 2 MiB (encoded)
	MaxBatchTxsSender int // 64
	MaxWaitMs         uint64
	ResendMs          uint64
	FetchTimeoutMs    uint64
	RetainBlocks      uint64 // committed bodies kept this many heights
	// Creator disables the batch builder when false (a node that only acks).
	Creator bool
}

// WithDefaults fills zero fields.
func (c Config) WithDefaults() Config {
	if c.MaxBatchTxs == 0 {
		c.MaxBatchTxs = types.MaxBatchTxs
	}
	if c.MaxBatchBytes == 0 {
		c.MaxBatchBytes = types.MaxBatchBytes
	}
	if c.MaxBatchTxsSender == 0 {
		c.MaxBatchTxsSender = types.MaxBatchTxsSender
	}
	if c.MaxWaitMs == 0 {
		c.MaxWaitMs = DefaultMaxWaitMs
	}
	if c.ResendMs == 0 {
		c.ResendMs = DefaultResendMs
	}
	if c.FetchTimeoutMs == 0 {
		c.FetchTimeoutMs = DefaultFetchTimeoutMs
	}
	if c.RetainBlocks == 0 {
		c.RetainBlocks = DefaultRetainBlocks
	}
	return c
}

func (c *Config) validate() error {
	switch {
	case c.Validators == nil || int(c.Self) >= c.Validators.Len():
		return fmt.Errorf("dag: self %d not in the validator set", c.Self)
	case c.Signer == nil || c.Verifier == nil:
		return fmt.Errorf("dag: signer and verifier are required")
	case c.Params.BatchTTL == 0 || c.Params.BatchExpirySlack >= c.Params.BatchTTL || c.Params.MaxPending == 0:
		return fmt.Errorf("dag: BATCH_TTL, BATCH_EXPIRY_SLACK, MAX_PENDING invalid")
	case c.Coupling > CouplingOff:
		return fmt.Errorf("dag: coupling mode %d", c.Coupling)
	}
	return nil
}
