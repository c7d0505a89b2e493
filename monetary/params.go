package monetary

import (
	"fmt"
	"strings"
)

// Protocol constants (PROTOCOL.md §10). They are not tunable: changing any of
// them changes consensus for every node.
const (
	// EpochDurationMs is the length of an epoch in BFT time:
	// epoch = (timestamp_ms − genesis_time_ms) / EpochDurationMs.
	EpochDurationMs = 600_000
	// EpochsPerYear is 365 × 24 × 6 ten-minute epochs.
	EpochsPerYear = 52_560
	// BpsDenominator: 10,000 basis points = 100 %.
	BpsDenominator = 10_000
	// PQCMultiplierDenominator is the denominator of PhaseParams.PQCMultiplierPct.
	PQCMultiplierDenominator = 100

	// InsuranceShareBps and CommunityShareBps are fixed shares of each epoch's
	// issuance; the treasury gets what the validators, insurance and community
	// floors leave (12 % nominal with the default validators' share of 82 %).
	InsuranceShareBps = 400
	CommunityShareBps = 200

	// Phase gates (spec §3.6). A gate is evaluated after the rate of epoch e
	// is computed, on e itself and on e's fee coverage and stake ratio; when
	// it holds, the next phase governs epoch e + 1 onwards.
	TransitionGateEpoch       = 157_680 // 3 × EpochsPerYear
	TransitionGateCoverageBps = 2_000
	TransitionGateStakeBps    = 3_000
	MatureGateEpoch           = 367_920 // 7 × EpochsPerYear
	MatureGateCoverageBps     = 5_000
	MatureGateStakeBps        = 4_000

	// MaxValidators bounds the validator list of one epoch (validator
	// indices are u16 on the wire, PROTOCOL.md §8).
	MaxValidators = 1 << 16
	// MaxAdvanceEpochs bounds one Advance call (100 years of epochs): a
	// larger gap means a corrupt timestamp, not a halted chain.
	MaxAdvanceEpochs = 100 * EpochsPerYear
)

// Phase is the monetary phase. Phases only move forward, one step at a time,
// and Mature is terminal.
type Phase uint8

const (
	PhaseBootstrap  Phase = 0
	PhaseTransition Phase = 1
	PhaseMature     Phase = 2

	numPhases = 3
)

// Valid reports whether p is one of the three phases.
func (p Phase) Valid() bool { return p < numPhases }

func (p Phase) String() string {
	switch p {
	case PhaseBootstrap:
		return "bootstrap"
	case PhaseTransition:
		return "transition"
	case PhaseMature:
		return "mature"
	}
	return fmt.Sprintf("phase(%d)", uint8(p))
}

// Mode says what the engine does at an epoch boundary.
type Mode uint8

const (
	// ModeOff computes nothing; the state does not advance. Refused on
	// MainNet by the node's invariants.
	ModeOff Mode = 0
	// ModeShadow computes the state, the rate and the split (for the state
	// hash and metrics) but returns no credits: balances never change.
	// MainNet default.
	ModeShadow Mode = 1
	// ModeActive also returns the credits the node must apply.
	ModeActive Mode = 2
)

// Valid reports whether m is a known mode.
func (m Mode) Valid() bool { return m <= ModeActive }

func (m Mode) String() string {
	switch m {
	case ModeOff:
		return "off"
	case ModeShadow:
		return "shadow"
	case ModeActive:
		return "active"
	}
	return fmt.Sprintf("mode(%d)", uint8(m))
}

// ParseMode reads "off", "shadow" or "active".
func ParseMode(s string) (Mode, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "off":
		return ModeOff, nil
	case "shadow":
		return ModeShadow, nil
	case "active":
		return ModeActive, nil
	}
	return 0, fmt.Errorf("%w: monetary mode %q (want off, shadow or active)", ErrInvalidParams, s)
}

// PhaseParams are the parameters of one phase. All rates are annual, in bps.
type PhaseParams struct {
	// RTargetBps is the base annual target (500/400/300). Fee coverage is
	// measured against it.
	RTargetBps uint64
	// PQCMultiplierPct scales the target for the cost of post-quantum
	// signatures: r_target_eff = RTargetBps × PQCMultiplierPct / 100 (155).
	PQCMultiplierPct uint64
	// FloorBps and CapBps bound the rate before the Δ-limit.
	FloorBps uint64
	CapBps   uint64
	// EMALambdaBps is the weight of the new epoch's fees in the EMA.
	EMALambdaBps uint64
	// MaxDeltaBps is the most the rate may move from one epoch to the next.
	MaxDeltaBps uint64
}

// RTargetEffBps is RTargetBps × PQCMultiplierPct / 100, rounded down.
func (pp PhaseParams) RTargetEffBps() uint64 {
	return pp.RTargetBps * pp.PQCMultiplierPct / PQCMultiplierDenominator
}

// CeilingBps is the highest rate the phase can produce from a rate at or
// below it: clamp(r_target_eff, floor, cap), since the raw rate never exceeds
// r_target_eff.
func (pp PhaseParams) CeilingBps() uint64 {
	return clamp(pp.RTargetEffBps(), pp.FloorBps, pp.CapBps)
}

// Params is the whole monetary policy: a genesis parameter (covered by the
// genesis hash), never node configuration.
type Params struct {
	// Phases is indexed by Phase.
	Phases [numPhases]PhaseParams
	// ValidatorsShareBps is the validators' share of each epoch's issuance.
	ValidatorsShareBps uint64
}

// DefaultParams returns the PROTOCOL.md §10 values.
func DefaultParams() Params {
	return Params{
		Phases: [numPhases]PhaseParams{
			PhaseBootstrap:  {RTargetBps: 500, PQCMultiplierPct: 155, FloorBps: 0, CapBps: 1200, EMALambdaBps: 700, MaxDeltaBps: 25},
			PhaseTransition: {RTargetBps: 400, PQCMultiplierPct: 155, FloorBps: 0, CapBps: 1000, EMALambdaBps: 300, MaxDeltaBps: 10},
			PhaseMature:     {RTargetBps: 300, PQCMultiplierPct: 155, FloorBps: 100, CapBps: 800, EMALambdaBps: 150, MaxDeltaBps: 5},
		},
		ValidatorsShareBps: 8200,
	}
}

// Governance ranges. λ and the validators' share come from spec §3.6; the
// others are this implementation's bounds (docs/monetary.md explains each).
var (
	lambdaRange = [numPhases][2]uint64{{50, 1500}, {20, 500}, {10, 200}}
)

const (
	minValidatorsShareBps = 7500
	maxValidatorsShareBps = 9000
	minPQCMultiplierPct   = 100 // never below the classical target
	maxPQCMultiplierPct   = 200
	maxRTargetBps         = 2000 // 20 % annual base target
	maxCapBps             = 2000 // 20 % annual: no phase may inflate faster
	minDeltaBps           = 1    // 0 would freeze the rate at its first value forever
	maxDeltaBps           = 100  // 1 %/epoch: a full swing still takes ≥ 20 epochs
	bootstrapEffMinBps    = 750  // seed: Bootstrap target 7.5–9 % PQC-adjusted
	bootstrapEffMaxBps    = 900
)

// Validate checks every parameter against its governance range and the
// cross-parameter rules:
//   - λ within [50,1500] / [20,500] / [10,200] bps per phase;
//   - validators' share within [7500, 9000] bps (insurance 400 and community
//     200 are fixed, so the treasury keeps ≥ 400 bps);
//   - PQC multiplier within [100, 200] %;
//   - base target within [1, 2000] bps; Bootstrap's PQC-adjusted target
//     within [750, 900] bps (seed: 7.5–9 %);
//   - Bootstrap floor 0 (hard-coded in the spec); floor ≤ cap ≤ 2000 bps in
//     every phase (a cap below the PQC-adjusted target is allowed: it binds);
//   - the highest rate a phase can settle at (CeilingBps) ≤ the cap of the
//     next phase, so a phase change never leaves the rate above the new cap
//     (the Δ-limit is applied after the cap and would otherwise hold it
//     there for a while). The next phase only: phases never skip, and the
//     time gates keep Transition for ≥ 210,240 epochs, far more than the
//     ≤ 2,000 epochs the rate needs to fall below the Transition ceiling.
//     A raised floor is different: see docs/monetary.md;
//   - max Δr within [1, 100] bps per epoch.
func (p Params) Validate() error {
	for i, pp := range p.Phases {
		ph := Phase(i)
		lo, hi := lambdaRange[i][0], lambdaRange[i][1]
		if pp.EMALambdaBps < lo || pp.EMALambdaBps > hi {
			return fmt.Errorf("%w: %s EMA λ %d bps outside [%d, %d]", ErrInvalidParams, ph, pp.EMALambdaBps, lo, hi)
		}
		if pp.PQCMultiplierPct < minPQCMultiplierPct || pp.PQCMultiplierPct > maxPQCMultiplierPct {
			return fmt.Errorf("%w: %s PQC multiplier %d/100 outside [%d, %d]/100",
				ErrInvalidParams, ph, pp.PQCMultiplierPct, minPQCMultiplierPct, maxPQCMultiplierPct)
		}
		if pp.RTargetBps < 1 || pp.RTargetBps > maxRTargetBps {
			return fmt.Errorf("%w: %s r_target %d bps outside [1, %d]", ErrInvalidParams, ph, pp.RTargetBps, maxRTargetBps)
		}
		eff := pp.RTargetEffBps()
		if ph == PhaseBootstrap && (eff < bootstrapEffMinBps || eff > bootstrapEffMaxBps) {
			return fmt.Errorf("%w: bootstrap PQC-adjusted target %d bps outside [%d, %d] (spec: 7.5–9 %%)",
				ErrInvalidParams, eff, bootstrapEffMinBps, bootstrapEffMaxBps)
		}
		if ph == PhaseBootstrap && pp.FloorBps != 0 {
			return fmt.Errorf("%w: bootstrap floor must be 0, got %d bps", ErrInvalidParams, pp.FloorBps)
		}
		if pp.CapBps > maxCapBps {
			return fmt.Errorf("%w: %s cap %d bps above %d", ErrInvalidParams, ph, pp.CapBps, maxCapBps)
		}
		if pp.FloorBps > pp.CapBps {
			return fmt.Errorf("%w: %s floor %d bps above its cap %d bps", ErrInvalidParams, ph, pp.FloorBps, pp.CapBps)
		}
		if i+1 < numPhases {
			if c, next := pp.CeilingBps(), p.Phases[i+1].CapBps; c > next {
				return fmt.Errorf("%w: %s can settle at %d bps, above the %s cap %d bps",
					ErrInvalidParams, ph, c, Phase(i+1), next)
			}
		}
		if pp.MaxDeltaBps < minDeltaBps || pp.MaxDeltaBps > maxDeltaBps {
			return fmt.Errorf("%w: %s max Δr %d bps/epoch outside [%d, %d]",
				ErrInvalidParams, ph, pp.MaxDeltaBps, minDeltaBps, maxDeltaBps)
		}
	}
	if p.ValidatorsShareBps < minValidatorsShareBps || p.ValidatorsShareBps > maxValidatorsShareBps {
		return fmt.Errorf("%w: validators' share %d bps outside [%d, %d]",
			ErrInvalidParams, p.ValidatorsShareBps, minValidatorsShareBps, maxValidatorsShareBps)
	}
	return nil
}
