package types

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/u128"
)

// Engine selects the execution engine (a genesis parameter).
type Engine uint8

const (
	// EngineNonceOnly is the DevNet-phase engine: nonces only, no balances,
	// gas or fees.
	EngineNonceOnly Engine = 1
	// EngineVMv0 is the transfer VM with gas and fees.
	EngineVMv0 Engine = 2
)

func (e Engine) String() string {
	switch e {
	case EngineNonceOnly:
		return "nonce_only"
	case EngineVMv0:
		return "vm_v0"
	}
	return fmt.Sprintf("engine(%d)", uint8(e))
}

// ErrInvalidParams is wrapped by every ExecParams.Validate failure.
var ErrInvalidParams = errors.New("invalid execution parameters")

// ExecParams are the genesis parameters that change execution or block
// validity (PROTOCOL.md §5). They are covered by the genesis hash and are
// never node configuration: a node whose flags contradict them refuses to
// start. Monetary parameters belong to the monetary package and are carried
// next to these in the genesis file.
type ExecParams struct {
	Engine             Engine
	GasEnabled         bool
	GasBaseTx          uint64
	GasPerAccountRead  uint64
	GasPerAccountWrite uint64
	GasPerBytePayload  uint64
	MinimumGasLimit    uint64
	BlockGasLimit      uint64
	MinGasPrice        u128.U128
	AllowV0Payload     bool
	BurnBps            uint16 // share of each fee burned, in basis points
	ProposerBps        uint16 // share credited to the proposer; BurnBps + ProposerBps = 10000
	BatchTTL           uint64 // heights a batch stays eligible (§7)
	BatchExpirySlack   uint64
	MaxPending         uint32 // pending batches per creator
	MaxPayloadBytes    uint32 // encoded proposal payload cap
	PowerUnit          u128.U128
}

// Profile names the four node profiles (PROTOCOL.md §13).
type Profile string

const (
	ProfileDevNet       Profile = "devnet"
	ProfileTestNetAlpha Profile = "testnet-alpha"
	ProfileTestNetBeta  Profile = "testnet-beta"
	ProfileMainNet      Profile = "mainnet"
)

// ErrUnknownProfile is returned for a profile name that is not one of the four.
var ErrUnknownProfile = errors.New("unknown profile (want devnet, testnet-alpha, testnet-beta or mainnet)")

// DefaultExecParams returns the genesis execution parameters a profile
// generates (PROTOCOL.md §5, docs/decisions.md for MIN_GAS_PRICE and
// POWER_UNIT).
func DefaultExecParams(p Profile) (ExecParams, error) {
	base := ExecParams{
		Engine:             EngineVMv0,
		GasEnabled:         true,
		GasBaseTx:          21000,
		GasPerAccountRead:  2600,
		GasPerAccountWrite: 5000,
		GasPerBytePayload:  16,
		MinimumGasLimit:    21000,
		BlockGasLimit:      30_000_000,
		MinGasPrice:        u128.From64(1),
		BurnBps:            5000,
		ProposerBps:        5000,
		BatchTTL:           300,
		BatchExpirySlack:   32,
		MaxPending:         16,
		MaxPayloadBytes:    4 << 20,
		PowerUnit:          u128.From64(1),
	}
	switch p {
	case ProfileDevNet:
		base.Engine = EngineNonceOnly
		base.GasEnabled = false
		base.MinGasPrice = u128.Zero
		base.AllowV0Payload = true
		base.BurnBps, base.ProposerBps = 10000, 0
	case ProfileTestNetAlpha:
		base.AllowV0Payload = true
		base.BurnBps, base.ProposerBps = 10000, 0
	case ProfileTestNetBeta, ProfileMainNet:
	default:
		return ExecParams{}, fmt.Errorf("%q: %w", p, ErrUnknownProfile)
	}
	return base, nil
}

// Validate checks the parameters' internal consistency.
func (p *ExecParams) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrInvalidParams}, a...)...)
	}
	switch p.Engine {
	case EngineNonceOnly, EngineVMv0:
	default:
		return bad("engine %d is neither nonce_only nor vm_v0", p.Engine)
	}
	if p.Engine == EngineVMv0 && !p.GasEnabled {
		return bad("vm_v0 requires gas (gas off exists only with the nonce_only engine)")
	}
	if p.BurnBps+p.ProposerBps != 10000 || p.BurnBps > 10000 {
		return bad("burn_bps %d + proposer_bps %d must equal 10000", p.BurnBps, p.ProposerBps)
	}
	if p.GasEnabled {
		if p.MinimumGasLimit == 0 || p.BlockGasLimit < p.MinimumGasLimit {
			return bad("block gas limit %d must be ≥ minimum gas limit %d > 0", p.BlockGasLimit, p.MinimumGasLimit)
		}
		if p.GasBaseTx == 0 {
			return bad("GAS_BASE_TX must be > 0")
		}
	}
	if p.BatchTTL == 0 || p.BatchExpirySlack >= p.BatchTTL {
		return bad("BATCH_EXPIRY_SLACK %d must be < BATCH_TTL %d", p.BatchExpirySlack, p.BatchTTL)
	}
	if p.MaxPending == 0 || p.MaxPending > 64 {
		return bad("MAX_PENDING %d must be in [1, 64] (the ack window is 64 seqs)", p.MaxPending)
	}
	if p.MaxPayloadBytes < 1<<16 || p.MaxPayloadBytes > MaxPayloadBytesLimit {
		return bad("MAX_PAYLOAD_BYTES %d must be in [65536, %d] (a proposal with a larger payload and full certificates exceeds the %d-byte proposal cap)",
			p.MaxPayloadBytes, MaxPayloadBytesLimit, MaxProposalBytes)
	}
	if p.PowerUnit.IsZero() {
		return bad("POWER_UNIT must be > 0")
	}
	return nil
}

// CheckProfile enforces the per-profile rules on top of Validate (PROTOCOL.md
// §4, §5, spec §1.3's phase table):
//   - devnet: anything Validate accepts (NonceOnly with gas off is its default);
//   - testnet-alpha: the vm_v0 engine (hence gas on) and MIN_GAS_PRICE > 0
//     (§4: > 0 on TestNet); v0 payloads and any fee split stay allowed;
//   - testnet-beta and mainnet: vm_v0, MIN_GAS_PRICE > 0, no v0 payloads and
//     the 50/50 burn/proposer split.
func (p *ExecParams) CheckProfile(prof Profile) error {
	if err := p.Validate(); err != nil {
		return err
	}
	switch prof {
	case ProfileDevNet:
		return nil
	case ProfileTestNetAlpha, ProfileTestNetBeta, ProfileMainNet:
		switch {
		case p.Engine != EngineVMv0:
			return fmt.Errorf("%w: %s requires the vm_v0 engine", ErrInvalidParams, prof)
		case p.MinGasPrice.IsZero():
			return fmt.Errorf("%w: %s requires MIN_GAS_PRICE > 0", ErrInvalidParams, prof)
		case prof == ProfileTestNetAlpha:
			return nil
		case p.AllowV0Payload:
			return fmt.Errorf("%w: %s rejects v0 payloads", ErrInvalidParams, prof)
		case p.BurnBps != 5000:
			return fmt.Errorf("%w: %s uses the 50/50 burn/proposer split", ErrInvalidParams, prof)
		}
		return nil
	}
	return fmt.Errorf("%q: %w", prof, ErrUnknownProfile)
}

// IntrinsicGas is the stateless gas of a transfer (PROTOCOL.md §5): base +
// read·r + write·w + byte·len(payload), r = w = 2, or 1 for a self-transfer.
// With gas off it is 0.
func (p *ExecParams) IntrinsicGas(self bool, payloadLen int) uint64 {
	if !p.GasEnabled {
		return 0
	}
	rw := uint64(2)
	if self {
		rw = 1
	}
	return p.GasBaseTx + p.GasPerAccountRead*rw + p.GasPerAccountWrite*rw + p.GasPerBytePayload*uint64(payloadLen)
}

// Encode is the canonical encoding (covered by the genesis hash).
func (p *ExecParams) Encode() []byte {
	w := codec.NewWriter(128)
	w.U8(uint8(p.Engine))
	w.Bool(p.GasEnabled)
	w.U64(p.GasBaseTx)
	w.U64(p.GasPerAccountRead)
	w.U64(p.GasPerAccountWrite)
	w.U64(p.GasPerBytePayload)
	w.U64(p.MinimumGasLimit)
	w.U64(p.BlockGasLimit)
	putU128(w, p.MinGasPrice)
	w.Bool(p.AllowV0Payload)
	w.U16(p.BurnBps)
	w.U16(p.ProposerBps)
	w.U64(p.BatchTTL)
	w.U64(p.BatchExpirySlack)
	w.U32(p.MaxPending)
	w.U32(p.MaxPayloadBytes)
	putU128(w, p.PowerUnit)
	return w.Bytes()
}

// DecodeExecParams parses Encode's output and validates it.
func DecodeExecParams(b []byte) (ExecParams, error) {
	r := codec.NewReader(b)
	p := ExecParams{
		Engine: Engine(r.U8()), GasEnabled: r.Bool(),
		GasBaseTx: r.U64(), GasPerAccountRead: r.U64(), GasPerAccountWrite: r.U64(), GasPerBytePayload: r.U64(),
		MinimumGasLimit: r.U64(), BlockGasLimit: r.U64(), MinGasPrice: getU128(r), AllowV0Payload: r.Bool(),
		BurnBps: r.U16(), ProposerBps: r.U16(), BatchTTL: r.U64(), BatchExpirySlack: r.U64(),
		MaxPending: r.U32(), MaxPayloadBytes: r.U32(), PowerUnit: getU128(r),
	}
	if err := r.Done(); err != nil {
		return ExecParams{}, fmt.Errorf("exec params: %w", err)
	}
	if err := p.Validate(); err != nil {
		return ExecParams{}, err
	}
	return p, nil
}

// putU128 and getU128 write amounts as 16 bytes LE (the codec's integer
// order); transfer payloads and account values use BE explicitly instead.
func putU128(w *codec.Writer, v u128.U128) {
	var b [16]byte
	v.PutLE(b[:])
	w.Fixed(b[:])
}

func getU128(r *codec.Reader) u128.U128 {
	if b := r.Fixed(16); b != nil {
		return u128.FromLE(b)
	}
	return u128.Zero
}
