package monetary

import (
	"fmt"
	"math"
	"math/big"

	"github.com/qbind/qbind/u128"
)

// Engine applies one monetary policy in one mode. It holds no state between
// calls: Next and Advance are pure functions of their arguments, safe to call
// from any goroutine.
type Engine struct {
	params Params
	mode   Mode
}

// New validates the parameters and the mode.
func New(p Params, mode Mode) (*Engine, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if !mode.Valid() {
		return nil, fmt.Errorf("%w: unknown monetary mode %d", ErrInvalidParams, uint8(mode))
	}
	return &Engine{params: p, mode: mode}, nil
}

// Params returns the policy parameters.
func (e *Engine) Params() Params { return e.params }

// Mode returns the mode.
func (e *Engine) Mode() Mode { return e.mode }

// RecipientKind says who receives a credit.
type RecipientKind uint8

const (
	RecipientValidator RecipientKind = iota
	RecipientTreasury
	RecipientInsurance
	RecipientCommunity
)

func (k RecipientKind) String() string {
	switch k {
	case RecipientValidator:
		return "validator"
	case RecipientTreasury:
		return "treasury"
	case RecipientInsurance:
		return "insurance"
	case RecipientCommunity:
		return "community"
	}
	return fmt.Sprintf("recipient(%d)", uint8(k))
}

// Credit is an amount the node must add to a balance (active mode only).
type Credit struct {
	Kind RecipientKind
	// Validator is the index into Inputs.ValidatorStakes (only for
	// RecipientValidator).
	Validator int
	Amount    u128.U128
}

// Split is an epoch's issuance divided among its recipients. Validators +
// Treasury + Insurance + Community = Issuance and Σ PerValidator = Validators,
// exactly.
type Split struct {
	Issuance   u128.U128
	Validators u128.U128
	Treasury   u128.U128
	Insurance  u128.U128
	Community  u128.U128
	// PerValidator[i] is validator i's part of Validators.
	PerValidator []u128.U128
}

// Outcome is what one processed epoch produced besides the new state: the
// intermediate values worth exporting as metrics, the split and, in active
// mode, the credits.
type Outcome struct {
	Mode Mode
	// Computed is false in off mode (nothing else is set).
	Computed bool
	Epoch    uint64
	// Phase governed Epoch; NextPhase (= the new state's Phase) governs the
	// next one. They differ exactly when a gate passed at Epoch.
	Phase     Phase
	NextPhase Phase
	// SmoothedAnnualFees = EMA × 52,560 (may exceed u128, so a big.Int).
	SmoothedAnnualFees *big.Int
	// FeeOffsetBps = smoothed annual fees × 10⁴ / staked, saturating.
	FeeOffsetBps uint64
	// TargetEffBps is the phase's PQC-adjusted target.
	TargetEffBps uint64
	// RawRateBps = max(0, TargetEffBps − FeeOffsetBps).
	RawRateBps uint64
	// BoundedRateBps is RawRateBps clamped to [floor, cap].
	BoundedRateBps uint64
	// RateBps is the final rate (after the Δ-limit); DeltaLimited says the
	// Δ-limit changed it.
	RateBps      uint32
	DeltaLimited bool
	Split        Split
	// Credits is nil unless Mode is active; zero amounts are omitted.
	Credits []Credit
}

var (
	bigBps          = big.NewInt(BpsDenominator)
	bigEpochsYear   = big.NewInt(EpochsPerYear)
	bigBps2         = big.NewInt(BpsDenominator * BpsDenominator)
	bigIssuanceDen  = big.NewInt(EpochsPerYear * BpsDenominator)
	bigMaxUint64    = new(big.Int).SetUint64(math.MaxUint64)
	bigInsuranceBps = big.NewInt(InsuranceShareBps)
	bigCommunityBps = big.NewInt(CommunityShareBps)
)

// Next processes epoch in.Epoch, which must be s.NextEpoch(), and returns the
// new state and the outcome. In off mode it returns s unchanged and does not
// look at the inputs.
func (e *Engine) Next(s EpochState, in Inputs) (EpochState, Outcome, error) {
	if e.mode == ModeOff {
		return s, Outcome{Mode: ModeOff}, nil
	}
	if err := s.Validate(); err != nil {
		return s, Outcome{}, err
	}
	if want := s.NextEpoch(); in.Epoch != want {
		return s, Outcome{}, fmt.Errorf("%w: inputs are for epoch %d, the next epoch to process is %d",
			ErrEpochOutOfOrder, in.Epoch, want)
	}
	if err := in.validate(); err != nil {
		return s, Outcome{}, err
	}
	return e.step(s, &in)
}

// step is Next without the checks. Every division floors (big.Int.Quo on
// non-negative operands).
func (e *Engine) step(s EpochState, in *Inputs) (EpochState, Outcome, error) {
	phase := s.Phase
	pp := e.params.Phases[phase]
	out := Outcome{Mode: e.mode, Computed: true, Epoch: in.Epoch, Phase: phase}

	// EMA: ema = (λ·fees + (10⁴ − λ)·ema_prev) / 10⁴; first epoch ema = fees.
	// A floored convex combination of two u128 values fits in u128.
	fees := in.Fees.Big()
	ema := fees
	if s.Started {
		ema = new(big.Int).Mul(fees, new(big.Int).SetUint64(pp.EMALambdaBps))
		prev := s.EMAFees.Big()
		prev.Mul(prev, new(big.Int).SetUint64(BpsDenominator-pp.EMALambdaBps))
		ema.Add(ema, prev)
		ema.Quo(ema, bigBps)
	}
	emaU := mustU128(ema)

	// smoothed_annual_fees = ema × 52560; fee_offset = annual × 10⁴ / staked.
	annual := new(big.Int).Mul(ema, bigEpochsYear)
	out.SmoothedAnnualFees = annual
	staked := in.Staked.Big()
	if staked.Sign() != 0 {
		off := new(big.Int).Mul(annual, bigBps)
		out.FeeOffsetBps = saturate64(off.Quo(off, staked))
	}

	// r = clamp(r_target_eff − fee_offset, floor, cap), negative → floor.
	out.TargetEffBps = pp.RTargetEffBps()
	if out.FeeOffsetBps < out.TargetEffBps {
		out.RawRateBps = out.TargetEffBps - out.FeeOffsetBps
	}
	out.BoundedRateBps = clamp(out.RawRateBps, pp.FloorBps, pp.CapBps)
	r := out.BoundedRateBps
	// Δ-limit around the previous rate, except in the first epoch.
	if s.Started {
		prev := uint64(s.RInfBps)
		lo := uint64(0)
		if prev > pp.MaxDeltaBps {
			lo = prev - pp.MaxDeltaBps
		}
		r = clamp(r, lo, prev+pp.MaxDeltaBps)
		out.DeltaLimited = r != out.BoundedRateBps
	}
	// r ≤ max(cap, r_prev) ≤ maxCapBps (Params.Validate and
	// EpochState.Validate bound both), so it fits.
	out.RateBps = uint32(r)

	// fee_coverage = annual × 10⁸ / (staked × r_target_bps); 0 if the
	// denominator is 0.
	var coverage uint64
	if staked.Sign() != 0 {
		den := new(big.Int).Mul(staked, new(big.Int).SetUint64(pp.RTargetBps))
		num := new(big.Int).Mul(annual, bigBps2)
		coverage = saturate64(num.Quo(num, den))
	}

	// stake_ratio = min(10⁴, staked × 10⁴ / circulating); 0 if circulating is
	// 0. Inputs.validate guarantees circulating ≥ 0.
	circ := in.GenesisSupply.Big()
	circ.Add(circ, in.Minted.Big())
	circ.Sub(circ, in.TotalBurned.Big())
	var stakeRatio uint64
	if circ.Sign() > 0 {
		sr := new(big.Int).Mul(staked, bigBps)
		stakeRatio = min(saturate64(sr.Quo(sr, circ)), BpsDenominator)
	}

	// issuance = staked × r / (52560 × 10⁴) < staked, so it fits in u128.
	iss := new(big.Int).Mul(staked, new(big.Int).SetUint64(r))
	iss.Quo(iss, bigIssuanceDen)
	out.Split = e.split(iss, in.ValidatorStakes)

	// Gates, evaluated after r, effective from the next epoch.
	out.NextPhase = nextPhase(phase, in.Epoch, coverage, stakeRatio)

	if e.mode == ModeActive {
		out.Credits = out.Split.credits()
	}
	next := EpochState{
		Started:        true,
		Epoch:          in.Epoch,
		Phase:          out.NextPhase,
		EMAFees:        emaU,
		RInfBps:        uint32(r),
		FeeCoverageBps: coverage,
		StakeRatioBps:  uint32(stakeRatio),
		Issuance:       out.Split.Issuance,
	}
	return next, out, nil
}

// nextPhase applies the gates of phase p to epoch e's values: at most one
// step forward, never back; Mature has no gate.
func nextPhase(p Phase, epoch, coverageBps, stakeRatioBps uint64) Phase {
	switch p {
	case PhaseBootstrap:
		if epoch >= TransitionGateEpoch && coverageBps >= TransitionGateCoverageBps && stakeRatioBps >= TransitionGateStakeBps {
			return PhaseTransition
		}
	case PhaseTransition:
		if epoch >= MatureGateEpoch && coverageBps >= MatureGateCoverageBps && stakeRatioBps >= MatureGateStakeBps {
			return PhaseMature
		}
	}
	return p
}

// split divides issuance: insurance, community and validators each get
// floor(issuance × share / 10⁴), the treasury the remainder; validator i gets
// floor(validators × stake_i / Σ stake), the last validator the remainder.
// All results are ≤ issuance, which fits in u128.
func (e *Engine) split(iss *big.Int, stakes []u128.U128) Split {
	share := func(bps *big.Int) *big.Int {
		v := new(big.Int).Mul(iss, bps)
		return v.Quo(v, bigBps)
	}
	ins := share(bigInsuranceBps)
	com := share(bigCommunityBps)
	val := share(new(big.Int).SetUint64(e.params.ValidatorsShareBps))
	tre := new(big.Int).Sub(iss, ins)
	tre.Sub(tre, com)
	tre.Sub(tre, val)

	sp := Split{
		Issuance:     mustU128(iss),
		Validators:   mustU128(val),
		Treasury:     mustU128(tre),
		Insurance:    mustU128(ins),
		Community:    mustU128(com),
		PerValidator: make([]u128.U128, len(stakes)),
	}
	total := new(big.Int)
	for _, st := range stakes {
		total.Add(total, st.Big())
	}
	rest := new(big.Int).Set(val)
	last := len(stakes) - 1
	part := new(big.Int)
	for i := 0; i < last; i++ {
		part.Mul(val, stakes[i].Big())
		part.Quo(part, total)
		rest.Sub(rest, part)
		sp.PerValidator[i] = mustU128(part)
	}
	// Σ_{i<last} floor(V·s_i/T) ≤ V·(T − s_last)/T ≤ V, so rest ≥ 0.
	sp.PerValidator[last] = mustU128(rest)
	return sp
}

// credits lists the split's non-zero amounts: validators in index order,
// then treasury, insurance, community.
func (sp *Split) credits() []Credit {
	cs := make([]Credit, 0, len(sp.PerValidator)+3)
	for i, a := range sp.PerValidator {
		if !a.IsZero() {
			cs = append(cs, Credit{Kind: RecipientValidator, Validator: i, Amount: a})
		}
	}
	for _, c := range [...]Credit{
		{Kind: RecipientTreasury, Amount: sp.Treasury},
		{Kind: RecipientInsurance, Amount: sp.Insurance},
		{Kind: RecipientCommunity, Amount: sp.Community},
	} {
		if !c.Amount.IsZero() {
			cs = append(cs, c)
		}
	}
	return cs
}

func clamp(v, lo, hi uint64) uint64 {
	if v < lo {
		return lo
	}
	if v > hi {
		return hi
	}
	return v
}

func saturate64(x *big.Int) uint64 {
	if x.Cmp(bigMaxUint64) > 0 {
		return math.MaxUint64
	}
	return x.Uint64()
}

// mustU128 converts a value the arithmetic proves to be in [0, 2^128); a
// failure is a bug in this package, not bad input, so it panics (the node's
// driver turns a core panic into a clean halt).
func mustU128(x *big.Int) u128.U128 {
	v, ok := u128.FromBig(x)
	if !ok {
		panic(fmt.Sprintf("monetary: internal invariant broken: %s does not fit in u128", x))
	}
	return v
}
