package simulate

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"strings"

	"github.com/qbind/qbind/monetary"
	"github.com/qbind/qbind/u128"
)

// EpochsPerMonth is a twelfth of a year of epochs (4,380).
const EpochsPerMonth = monetary.EpochsPerYear / 12

// MaxYears bounds a run (100 years is about 5.3 million epochs).
const MaxYears = 100

// ErrConfig is wrapped by every configuration error.
var ErrConfig = errors.New("simulate: invalid configuration")

// Config describes one run.
type Config struct {
	Years        int       // whole years to simulate, 1..MaxYears
	FeesPerEpoch float64   // fees in epoch 0, in base units
	FeeGrowth    float64   // yearly growth of the fees (0.1 = +10 %/year), > −1
	Staked       u128.U128 // stake at genesis
	Supply       u128.U128 // genesis supply
	BurnBps      uint64    // share of fees burned, 0..10,000
	Restake      bool      // add the validators' share of issuance to the stake
	Params       monetary.Params
}

// DefaultConfig is 10 years of the default policy with MainNet's 50 % burn.
func DefaultConfig() Config {
	return Config{Years: 10, BurnBps: 5000, Params: monetary.DefaultParams()}
}

// Validate checks the configuration.
func (c *Config) Validate() error {
	switch {
	case c.Years < 1 || c.Years > MaxYears:
		return fmt.Errorf("%w: years %d outside [1, %d]", ErrConfig, c.Years, MaxYears)
	case math.IsNaN(c.FeesPerEpoch) || math.IsInf(c.FeesPerEpoch, 0) || c.FeesPerEpoch < 0:
		return fmt.Errorf("%w: fees per epoch %v must be a finite number ≥ 0", ErrConfig, c.FeesPerEpoch)
	case math.IsNaN(c.FeeGrowth) || math.IsInf(c.FeeGrowth, 0) || c.FeeGrowth <= -1:
		return fmt.Errorf("%w: fee growth %v must be a finite fraction > −1", ErrConfig, c.FeeGrowth)
	case c.BurnBps > monetary.BpsDenominator:
		return fmt.Errorf("%w: burn share %d bps above 10,000", ErrConfig, c.BurnBps)
	}
	if err := c.Params.Validate(); err != nil {
		return fmt.Errorf("%w: %w", ErrConfig, err)
	}
	return nil
}

// Month is the state at the end of one month of epochs.
type Month struct {
	Month    int    `json:"month"`     // 1-based
	EndEpoch uint64 `json:"end_epoch"` // last epoch of the month
	// Phase governs the epoch after EndEpoch (the state's phase).
	Phase          string    `json:"phase"`
	RInfBps        uint32    `json:"r_inf_bps"`        // rate of EndEpoch
	Issuance       u128.U128 `json:"issuance"`         // issued during the month
	FeeCoverageBps uint64    `json:"fee_coverage_bps"` // of EndEpoch
	StakeRatioBps  uint32    `json:"stake_ratio_bps"`  // of EndEpoch
	Staked         u128.U128 `json:"staked"`
	Circulating    string    `json:"circulating"` // decimal; may exceed u128
	FeesLastEpoch  u128.U128 `json:"fees_last_epoch"`
	// MaxRStepBps is the largest |r(e) − r(e − 1)| over the month's epochs
	// (epoch 0 has no predecessor): what the per-epoch Δ-limit bounds.
	MaxRStepBps uint32 `json:"max_r_step_bps"`
}

// Transition is a phase change: the gates passed at Epoch, and To governs
// Epoch + 1 onwards.
type Transition struct {
	Epoch         uint64 `json:"epoch"`
	EffectiveFrom uint64 `json:"effective_from"`
	From          string `json:"from"`
	To            string `json:"to"`
}

// Epoch is what an observer sees after each epoch.
type Epoch struct {
	Epoch       uint64
	Prev, State monetary.EpochState // before and after
	Outcome     monetary.Outcome
}

// Sample is the rate and governing phase of one epoch, kept once a day for
// plots.
type Sample struct {
	Epoch   uint64
	RInfBps uint32
	Phase   monetary.Phase // phase that governed Epoch
}

// SampleEvery is the sampling interval of Result.Samples (one day).
const SampleEvery = 144

// Result is a whole run.
type Result struct {
	Years         int             `json:"years"`
	Epochs        uint64          `json:"epochs"`
	FeesPerEpoch  float64         `json:"fees_per_epoch"`
	FeeGrowth     float64         `json:"fee_growth"`
	StakedStart   u128.U128       `json:"staked_start"`
	Supply        u128.U128       `json:"supply"`
	BurnBps       uint64          `json:"burn_bps"`
	Restake       bool            `json:"restake"`
	TotalIssuance u128.U128       `json:"total_issuance"`
	Transitions   []Transition    `json:"transitions"`
	Months        []Month         `json:"months"`
	Samples       []Sample        `json:"-"`
	Params        monetary.Params `json:"params"`
}

// Run simulates cfg. observe, if not nil, is called after every epoch (tests
// use it to check every step); the *Epoch it gets is reused, valid only
// during the call.
func Run(cfg Config, observe func(*Epoch)) (*Result, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	eng, err := monetary.New(cfg.Params, monetary.ModeActive)
	if err != nil {
		return nil, err
	}
	epochs := uint64(cfg.Years) * monetary.EpochsPerYear
	res := &Result{
		Years: cfg.Years, Epochs: epochs, FeesPerEpoch: cfg.FeesPerEpoch, FeeGrowth: cfg.FeeGrowth,
		StakedStart: cfg.Staked, Supply: cfg.Supply, BurnBps: cfg.BurnBps, Restake: cfg.Restake,
		Transitions: []Transition{}, Months: make([]Month, 0, cfg.Years*12),
		Samples: make([]Sample, 0, epochs/SampleEvery+1), Params: cfg.Params,
	}
	growth := math.Log1p(cfg.FeeGrowth) / monetary.EpochsPerYear
	stakes := []u128.U128{cfg.Staked}
	in := monetary.Inputs{Staked: cfg.Staked, GenesisSupply: cfg.Supply, ValidatorStakes: stakes}
	s := monetary.GenesisState()
	var monthIss u128.U128
	var monthStep uint32
	var ok bool
	var ev Epoch
	for e := uint64(0); e < epochs; e++ {
		in.Epoch = e
		if in.Fees, err = toU128(cfg.FeesPerEpoch * math.Exp(growth*float64(e))); err != nil {
			return nil, fmt.Errorf("fees of epoch %d: %w", e, err)
		}
		// Fees executed during epoch e are burned before the boundary.
		burn := mulDivBps(in.Fees, cfg.BurnBps)
		if in.TotalBurned, ok = in.TotalBurned.Add(burn); !ok {
			return nil, fmt.Errorf("%w: total burned exceeds u128 at epoch %d", ErrConfig, e)
		}
		next, out, err := eng.Next(s, in)
		if err != nil {
			return nil, fmt.Errorf("epoch %d: %w", e, err)
		}
		if observe != nil {
			ev = Epoch{Epoch: e, Prev: s, State: next, Outcome: out}
			observe(&ev)
		}
		if e%SampleEvery == 0 {
			res.Samples = append(res.Samples, Sample{Epoch: e, RInfBps: next.RInfBps, Phase: out.Phase})
		}
		if out.NextPhase != out.Phase {
			res.Transitions = append(res.Transitions, Transition{Epoch: e, EffectiveFrom: e + 1,
				From: out.Phase.String(), To: out.NextPhase.String()})
		}
		iss := out.Split.Issuance
		if in.Minted, ok = in.Minted.Add(iss); !ok {
			return nil, fmt.Errorf("%w: minted supply exceeds u128 at epoch %d", ErrConfig, e)
		}
		if res.TotalIssuance, ok = res.TotalIssuance.Add(iss); !ok {
			return nil, fmt.Errorf("%w: total issuance exceeds u128 at epoch %d", ErrConfig, e)
		}
		monthIss, _ = monthIss.Add(iss) // ≤ TotalIssuance
		if s.Started {
			monthStep = max(monthStep, max(next.RInfBps, s.RInfBps)-min(next.RInfBps, s.RInfBps))
		}
		if cfg.Restake {
			if in.Staked, ok = in.Staked.Add(out.Split.Validators); !ok {
				return nil, fmt.Errorf("%w: stake exceeds u128 at epoch %d", ErrConfig, e)
			}
			stakes[0] = in.Staked
		}
		if (e+1)%EpochsPerMonth == 0 {
			circ := in.GenesisSupply.Big()
			circ.Add(circ, in.Minted.Big())
			circ.Sub(circ, in.TotalBurned.Big())
			res.Months = append(res.Months, Month{
				Month: int((e + 1) / EpochsPerMonth), EndEpoch: e, Phase: next.Phase.String(),
				RInfBps: next.RInfBps, Issuance: monthIss, FeeCoverageBps: next.FeeCoverageBps,
				StakeRatioBps: next.StakeRatioBps, Staked: in.Staked, Circulating: circ.String(),
				FeesLastEpoch: in.Fees, MaxRStepBps: monthStep,
			})
			monthIss, monthStep = u128.Zero, 0
		}
		s = next
	}
	return res, nil
}

// mulDivBps is floor(a × bps / 10⁴) for bps ≤ 10⁴ (the result ≤ a fits).
func mulDivBps(a u128.U128, bps uint64) u128.U128 {
	if p, ok := a.Mul64(bps); ok {
		q, _ := p.Div64(monetary.BpsDenominator)
		return q
	}
	x := a.Big()
	x.Mul(x, new(big.Int).SetUint64(bps))
	v, _ := u128.FromBig(x.Quo(x, big.NewInt(monetary.BpsDenominator)))
	return v
}

var two64 = math.Ldexp(1, 64)

// toU128 truncates a finite, non-negative float to an integer amount.
func toU128(f float64) (u128.U128, error) {
	switch {
	case math.IsNaN(f) || f < 0:
		return u128.Zero, fmt.Errorf("%w: amount %v is not a non-negative number", ErrConfig, f)
	case f < two64:
		return u128.From64(uint64(f)), nil
	case f >= math.Ldexp(1, 128):
		return u128.Zero, fmt.Errorf("%w: amount %g exceeds u128", ErrConfig, f)
	}
	i, _ := big.NewFloat(f).Int(nil)
	v, _ := u128.FromBig(i)
	return v, nil
}

// ParseAmount reads an amount in base units: a decimal integer
// ("350000000000000000000000000", underscores allowed) or, for convenience,
// scientific notation with an integral value ("3.5e26").
func ParseAmount(s string) (u128.U128, error) {
	t := strings.ReplaceAll(strings.TrimSpace(s), "_", "")
	if v, err := u128.Parse(t); err == nil {
		return v, nil
	} else if errors.Is(err, u128.ErrRange) {
		return u128.Zero, fmt.Errorf("%w: amount %q exceeds 2^128 − 1", ErrConfig, s)
	}
	f, _, err := big.ParseFloat(t, 10, 256, big.ToNearestEven)
	if err != nil || f.Sign() < 0 || !f.IsInt() {
		return u128.Zero, fmt.Errorf("%w: amount %q is not a non-negative integer (e.g. 1000000 or 3.5e26)", ErrConfig, s)
	}
	i, _ := f.Int(nil)
	v, ok := u128.FromBig(i)
	if !ok {
		return u128.Zero, fmt.Errorf("%w: amount %q exceeds 2^128 − 1", ErrConfig, s)
	}
	return v, nil
}
