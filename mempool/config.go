package mempool

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/types"
)

// Ordering selects the pool discipline.
type Ordering uint8

const (
	// FeePriority orders by (max_fee_per_gas desc, intrinsic_gas asc,
	// arrival asc), with replace-by-fee and eviction (TestNet Beta, MainNet).
	FeePriority Ordering = iota
	// FIFO orders by arrival only, never replaces or evicts (dev profiles).
	FIFO
)

// EvictionMode selects how the eviction rate limit applies.
type EvictionMode uint8

const (
	// EvictionOff: no rate limit.
	EvictionOff EvictionMode = iota
	// EvictionWarn: evictions beyond the limit happen but are counted.
	EvictionWarn
	// EvictionEnforce: beyond the limit an admission that needs an eviction
	// is rejected with ErrEvictionRateLimited.
	EvictionEnforce
)

// ParseEvictionMode parses "off", "warn" or "enforce".
func ParseEvictionMode(s string) (EvictionMode, error) {
	switch s {
	case "off":
		return EvictionOff, nil
	case "warn":
		return EvictionWarn, nil
	case "enforce":
		return EvictionEnforce, nil
	}
	return 0, fmt.Errorf("%w: eviction mode %q (want off, warn or enforce)", ErrConfig, s)
}

func (m EvictionMode) String() string {
	switch m {
	case EvictionOff:
		return "off"
	case EvictionWarn:
		return "warn"
	case EvictionEnforce:
		return "enforce"
	}
	return fmt.Sprintf("eviction_mode(%d)", uint8(m))
}

// ErrConfig reports an invalid Config.
var ErrConfig = errors.New("mempool: invalid config")

// Defaults (PROTOCOL.md §7, MainNet).
const (
	DefaultMaxTxs                  = 100_000
	DefaultMaxBytes                = 512 << 20 // 100k × ~3.8 KB ≈ 382 MB fits
	DefaultMaxTxsPerSender         = 1000
	DefaultMaxBytesPerSender       = 8 << 20
	DefaultReplaceBumpPercent      = 10
	DefaultMaxEvictionsPerInterval = 1000
	DefaultEvictionIntervalMs      = 1000
)

// Config configures a Pool. Params are the genesis execution parameters
// (gas on/off decides whether fee fields count).
type Config struct {
	Ordering          Ordering
	MaxTxs            int   // pool-wide transaction bound
	MaxBytes          int64 // pool-wide bound on Σ len(raw)
	MaxTxsPerSender   int
	MaxBytesPerSender int64
	// ReplaceBumpPercent is the minimum max_fee_per_gas increase of a
	// replacement (10 → new ≥ 1.1 × old).
	ReplaceBumpPercent uint64
	EvictionMode       EvictionMode
	// At most MaxEvictionsPerInterval evictions in any window of
	// EvictionIntervalMs (fixed windows, started by the first eviction
	// after the previous window ended).
	MaxEvictionsPerInterval int
	EvictionIntervalMs      uint64
	// CheckBalance enables the cumulative balance check (off for the
	// nonce_only engine, which has no balances).
	CheckBalance bool
}

// DefaultConfig returns the MainNet configuration of ordering o (FIFO
// disables balance checks only when the engine is nonce_only: the caller
// sets CheckBalance from its genesis).
func DefaultConfig(o Ordering) Config {
	return Config{
		Ordering:                o,
		MaxTxs:                  DefaultMaxTxs,
		MaxBytes:                DefaultMaxBytes,
		MaxTxsPerSender:         DefaultMaxTxsPerSender,
		MaxBytesPerSender:       DefaultMaxBytesPerSender,
		ReplaceBumpPercent:      DefaultReplaceBumpPercent,
		EvictionMode:            EvictionEnforce,
		MaxEvictionsPerInterval: DefaultMaxEvictionsPerInterval,
		EvictionIntervalMs:      DefaultEvictionIntervalMs,
		CheckBalance:            true,
	}
}

// ConfigFor returns DefaultConfig for the genesis parameters: the
// nonce_only engine has no balances to check.
func ConfigFor(o Ordering, p types.ExecParams) Config {
	c := DefaultConfig(o)
	c.CheckBalance = p.Engine == types.EngineVMv0
	return c
}

// Validate checks the bounds.
func (c *Config) Validate() error {
	switch {
	case c.Ordering != FeePriority && c.Ordering != FIFO:
		return fmt.Errorf("%w: ordering %d", ErrConfig, c.Ordering)
	case c.MaxTxs <= 0 || c.MaxBytes <= 0:
		return fmt.Errorf("%w: pool bounds must be > 0", ErrConfig)
	case c.MaxTxsPerSender <= 0 || c.MaxBytesPerSender <= 0:
		return fmt.Errorf("%w: per-sender caps must be > 0", ErrConfig)
	case c.EvictionMode > EvictionEnforce:
		return fmt.Errorf("%w: eviction mode %d", ErrConfig, c.EvictionMode)
	case c.EvictionMode != EvictionOff && (c.MaxEvictionsPerInterval < 0 || c.EvictionIntervalMs == 0):
		return fmt.Errorf("%w: eviction rate limit needs max ≥ 0 and interval > 0", ErrConfig)
	}
	return nil
}
