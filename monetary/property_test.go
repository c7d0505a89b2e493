package monetary

import (
	"math/big"
	"reflect"
	"testing"

	"github.com/qbind/qbind/u128"
	"pgregory.net/rapid"
)

// genAmount draws a u128 of at most maxBits bits, with every bit length
// equally likely (so small, medium and huge values all show up).
func genAmount(maxBits int) *rapid.Generator[u128.U128] {
	return rapid.Custom(func(t *rapid.T) u128.U128 {
		n := rapid.IntRange(0, maxBits).Draw(t, "bits")
		v := u128.U128{Hi: rapid.Uint64().Draw(t, "hi"), Lo: rapid.Uint64().Draw(t, "lo")}
		switch {
		case n == 0:
			return u128.Zero
		case n <= 64:
			v.Hi = 0
			if n < 64 {
				v.Lo &= 1<<n - 1
			}
		case n < 128:
			v.Hi &= 1<<(n-64) - 1
		}
		return v
	})
}

// genParams draws valid parameters anywhere in the governance ranges.
func genParams() *rapid.Generator[Params] {
	return rapid.Custom(func(t *rapid.T) Params {
		var p Params
		prevCeiling := uint64(0)
		for i := range p.Phases {
			pp := &p.Phases[i]
			pp.PQCMultiplierPct = rapid.Uint64Range(minPQCMultiplierPct, maxPQCMultiplierPct).Draw(t, "mul")
			if i == int(PhaseBootstrap) {
				// eff = rt·mul/100 ∈ [750, 900] ⇔ 75,000 ≤ rt·mul ≤ 90,099.
				lo := (75_000 + pp.PQCMultiplierPct - 1) / pp.PQCMultiplierPct
				pp.RTargetBps = rapid.Uint64Range(lo, 90_000/pp.PQCMultiplierPct).Draw(t, "rt")
			} else {
				pp.RTargetBps = rapid.Uint64Range(1, maxRTargetBps).Draw(t, "rt")
			}
			pp.CapBps = rapid.Uint64Range(prevCeiling, maxCapBps).Draw(t, "cap")
			if i != int(PhaseBootstrap) {
				pp.FloorBps = rapid.Uint64Range(0, pp.CapBps).Draw(t, "floor")
			}
			pp.EMALambdaBps = rapid.Uint64Range(lambdaRange[i][0], lambdaRange[i][1]).Draw(t, "lambda")
			pp.MaxDeltaBps = rapid.Uint64Range(minDeltaBps, maxDeltaBps).Draw(t, "delta")
			prevCeiling = pp.CeilingBps()
		}
		p.ValidatorsShareBps = rapid.Uint64Range(minValidatorsShareBps, maxValidatorsShareBps).Draw(t, "vshare")
		if err := p.Validate(); err != nil {
			t.Fatalf("generator produced invalid params: %v", err)
		}
		return p
	})
}

// genState draws a valid state, with epochs concentrated around the gates.
func genState() *rapid.Generator[EpochState] {
	return rapid.Custom(func(t *rapid.T) EpochState {
		if rapid.IntRange(0, 9).Draw(t, "genesis") == 0 {
			return GenesisState()
		}
		centre := rapid.SampledFrom([]uint64{10, TransitionGateEpoch, MatureGateEpoch, 1 << 40}).Draw(t, "centre")
		epoch := centre - 10 + rapid.Uint64Range(0, 20).Draw(t, "offset")
		maxPhase := PhaseBootstrap
		if epoch >= MatureGateEpoch {
			maxPhase = PhaseMature
		} else if epoch >= TransitionGateEpoch {
			maxPhase = PhaseTransition
		}
		return EpochState{
			Started:        true,
			Epoch:          epoch,
			Phase:          Phase(rapid.Uint8Range(0, uint8(maxPhase)).Draw(t, "phase")),
			EMAFees:        genAmount(128).Draw(t, "ema"),
			RInfBps:        rapid.Uint32Range(0, maxCapBps).Draw(t, "r"),
			FeeCoverageBps: rapid.Uint64().Draw(t, "cov"),
			StakeRatioBps:  rapid.Uint32Range(0, BpsDenominator).Draw(t, "sr"),
			Issuance:       genAmount(128).Draw(t, "iss"),
		}
	})
}

// genInputs draws valid inputs for the epoch after s, amounts of at most
// maxBits bits.
func genInputs(t *rapid.T, s EpochState, maxBits int) Inputs {
	in := Inputs{
		Epoch:         s.NextEpoch(),
		Fees:          genAmount(maxBits).Draw(t, "fees"),
		Staked:        genAmount(maxBits).Draw(t, "staked"),
		GenesisSupply: genAmount(maxBits).Draw(t, "genesis"),
		Minted:        genAmount(maxBits).Draw(t, "minted"),
	}
	// total_burned ≤ genesis + minted.
	burned := genAmount(maxBits).Draw(t, "burned").Big()
	bound := new(big.Int).Add(in.GenesisSupply.Big(), in.Minted.Big())
	in.TotalBurned = mustU128(burned.Mod(burned, bound.Add(bound, big.NewInt(1))))
	in.ValidatorStakes = rapid.SliceOfN(genAmount(maxBits), 1, 8).Draw(t, "stakes")
	if i := rapid.IntRange(0, len(in.ValidatorStakes)-1).Draw(t, "positive"); in.ValidatorStakes[i].IsZero() {
		in.ValidatorStakes[i] = u128.From64(1)
	}
	return in
}

// dist is how far r lies outside [lo, hi].
func dist(r, lo, hi uint64) uint64 {
	switch {
	case r < lo:
		return lo - r
	case r > hi:
		return r - hi
	}
	return 0
}

func sumBig(xs ...u128.U128) *big.Int {
	s := new(big.Int)
	for _, x := range xs {
		s.Add(s, x.Big())
	}
	return s
}

// checkStep asserts every per-epoch property of one step s → next.
func checkStep(t *rapid.T, p Params, mode Mode, s EpochState, in Inputs, next EpochState, out Outcome) {
	pp := p.Phases[s.Phase]
	r, prev := uint64(next.RInfBps), uint64(s.RInfBps)

	// Rate bounds: inside [floor, cap] from the first epoch on; after it,
	// within Δ of the previous rate, and if the previous rate was outside the
	// bounds (a phase change raised the floor) Δ closer to them.
	if !s.Started {
		if r < pp.FloorBps || r > pp.CapBps {
			t.Fatalf("first epoch r = %d outside [%d, %d]", r, pp.FloorBps, pp.CapBps)
		}
	} else {
		if max(r, prev)-min(r, prev) > pp.MaxDeltaBps {
			t.Fatalf("r moved %d → %d, more than Δ = %d", prev, r, pp.MaxDeltaBps)
		}
		d0, d1 := dist(prev, pp.FloorBps, pp.CapBps), dist(r, pp.FloorBps, pp.CapBps)
		if d1 != d0-min(d0, pp.MaxDeltaBps) {
			t.Fatalf("r %d → %d: distance to [%d, %d] went %d → %d with Δ %d", prev, r, pp.FloorBps, pp.CapBps, d0, d1, pp.MaxDeltaBps)
		}
	}
	if next.RInfBps > maxCapBps || next.StakeRatioBps > BpsDenominator {
		t.Fatalf("rate above the largest cap or stake ratio above 100 %%: %+v", next)
	}

	// Phases: forward by at most one, Mature terminal, and exactly when the
	// governing phase's gates hold on this epoch's values.
	if next.Phase < s.Phase || next.Phase > s.Phase+1 || (s.Phase == PhaseMature && next.Phase != PhaseMature) {
		t.Fatalf("phase %s → %s", s.Phase, next.Phase)
	}
	cov, sr := next.FeeCoverageBps, uint64(next.StakeRatioBps)
	var gate bool
	switch s.Phase {
	case PhaseBootstrap:
		gate = in.Epoch >= TransitionGateEpoch && cov >= TransitionGateCoverageBps && sr >= TransitionGateStakeBps
	case PhaseTransition:
		gate = in.Epoch >= MatureGateEpoch && cov >= MatureGateCoverageBps && sr >= MatureGateStakeBps
	}
	if gate != (next.Phase != s.Phase) || out.Phase != s.Phase || out.NextPhase != next.Phase {
		t.Fatalf("gate %v but phase %s → %s (epoch %d, coverage %d, stake ratio %d)", gate, s.Phase, next.Phase, in.Epoch, cov, sr)
	}

	// Issuance and split: exact sums, every share floored.
	iss := new(big.Int).Mul(in.Staked.Big(), big.NewInt(int64(r)))
	iss.Quo(iss, big.NewInt(EpochsPerYear*BpsDenominator))
	sp := out.Split
	if sp.Issuance.Big().Cmp(iss) != 0 || next.Issuance != sp.Issuance {
		t.Fatalf("issuance %s, want %s", sp.Issuance, iss)
	}
	if sumBig(sp.Validators, sp.Treasury, sp.Insurance, sp.Community).Cmp(iss) != 0 {
		t.Fatalf("split %+v does not sum to %s", sp, iss)
	}
	if sumBig(sp.PerValidator...).Cmp(sp.Validators.Big()) != 0 || len(sp.PerValidator) != len(in.ValidatorStakes) {
		t.Fatalf("per-validator %v does not sum to %s", sp.PerValidator, sp.Validators)
	}
	floorShare := func(bps uint64) *big.Int {
		v := new(big.Int).Mul(iss, new(big.Int).SetUint64(bps))
		return v.Quo(v, big.NewInt(BpsDenominator))
	}
	if sp.Insurance.Big().Cmp(floorShare(InsuranceShareBps)) != 0 || sp.Community.Big().Cmp(floorShare(CommunityShareBps)) != 0 ||
		sp.Validators.Big().Cmp(floorShare(p.ValidatorsShareBps)) != 0 {
		t.Fatalf("shares not floored: %+v", sp)
	}

	// Credits: only in active mode, summing to the issuance.
	switch mode {
	case ModeActive:
		var cs []u128.U128
		for _, c := range out.Credits {
			if c.Amount.IsZero() {
				t.Fatalf("zero credit %+v", c)
			}
			cs = append(cs, c.Amount)
		}
		if sumBig(cs...).Cmp(iss) != 0 {
			t.Fatalf("credits %+v do not sum to %s", out.Credits, iss)
		}
	case ModeShadow:
		if out.Credits != nil {
			t.Fatalf("shadow credits %+v", out.Credits)
		}
	}

	// The new state is valid and survives the codec.
	back, err := DecodeEpochState(next.Encode())
	if err != nil || back != next {
		t.Fatalf("codec round trip of %+v: %+v, %v", next, back, err)
	}
}

func TestPropertyStep(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genParams().Draw(t, "params")
		mode := rapid.SampledFrom([]Mode{ModeShadow, ModeActive}).Draw(t, "mode")
		e, err := New(p, mode)
		if err != nil {
			t.Fatal(err)
		}
		s := genState().Draw(t, "state")
		in := genInputs(t, s, 128)
		next, out, err := e.Next(s, in)
		if err != nil {
			t.Fatalf("Next(%+v, %+v): %v", s, in, err)
		}
		checkStep(t, p, mode, s, in, next, out)

		// Same inputs, same outputs.
		next2, out2, err2 := e.Next(s, in)
		if err2 != nil || next2 != next || !reflect.DeepEqual(out2, out) {
			t.Fatalf("second call differs: %+v %+v %v", next2, out2, err2)
		}
	})
}

// TestPropertyRunFromGenesis runs many consecutive epochs with supplies up to
// 2^127: no error, no panic, and every step keeps every property (so the rate
// stays inside [floor, cap] throughout, as it starts inside).
func TestPropertyRunFromGenesis(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genParams().Draw(t, "params")
		mode := rapid.SampledFrom([]Mode{ModeShadow, ModeActive}).Draw(t, "mode")
		e, _ := New(p, mode)
		s := GenesisState()
		steps := rapid.IntRange(1, 40).Draw(t, "steps")
		for i := 0; i < steps; i++ {
			in := genInputs(t, s, 127)
			next, out, err := e.Next(s, in)
			if err != nil {
				t.Fatalf("epoch %d: %v", in.Epoch, err)
			}
			checkStep(t, p, mode, s, in, next, out)
			pp := p.Phases[s.Phase]
			if next.RInfBps < uint32(pp.FloorBps) || uint64(next.RInfBps) > pp.CapBps {
				t.Fatalf("epoch %d: r = %d outside [%d, %d]", in.Epoch, next.RInfBps, pp.FloorBps, pp.CapBps)
			}
			s = next
		}
	})
}

// TestPropertyAdvanceEqualsNext: Advance over k epochs is k calls of Next,
// the first with the fees, the rest with none, Minted growing by the issuance
// in active mode; its totals are the sums of the steps.
func TestPropertyAdvanceEqualsNext(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		p := genParams().Draw(t, "params")
		mode := rapid.SampledFrom([]Mode{ModeShadow, ModeActive}).Draw(t, "mode")
		e, _ := New(p, mode)
		s0 := genState().Draw(t, "state")
		in := genInputs(t, s0, 120)
		k := rapid.Uint64Range(1, 30).Draw(t, "k")
		through := in.Epoch + k - 1

		got, ao, err := e.Advance(s0, through, in)
		if err != nil {
			t.Fatalf("Advance: %v", err)
		}
		s, step := s0, in
		total := new(big.Int)
		credits := map[[2]int]*big.Int{}
		var changes []PhaseChange
		var last Outcome
		for ep := in.Epoch; ep <= through; ep++ {
			step.Epoch = ep
			next, out, err := e.Next(s, step)
			if err != nil {
				t.Fatalf("Next at %d: %v", ep, err)
			}
			checkStep(t, p, mode, s, step, next, out)
			total.Add(total, out.Split.Issuance.Big())
			for _, c := range out.Credits {
				key := [2]int{int(c.Kind), c.Validator}
				if credits[key] == nil {
					credits[key] = new(big.Int)
				}
				credits[key].Add(credits[key], c.Amount.Big())
			}
			if out.NextPhase != out.Phase {
				changes = append(changes, PhaseChange{Epoch: ep, From: out.Phase, To: out.NextPhase})
			}
			if mode == ModeActive {
				step.Minted, _ = step.Minted.Add(out.Split.Issuance)
			}
			step.Fees = u128.Zero
			s, last = next, out
		}
		last.Credits = nil // Advance reports credits only in the aggregate
		if got != s || ao.Steps != k || ao.TotalIssuance.Big().Cmp(total) != 0 ||
			!reflect.DeepEqual(ao.Last, last) || !reflect.DeepEqual(ao.PhaseChanges, changes) {
			t.Fatalf("Advance = %+v %+v\nNext loop = %+v steps %d total %s changes %v", got, ao, s, k, total, changes)
		}
		if mode == ModeActive {
			if len(ao.Credits) != len(credits) {
				t.Fatalf("aggregated credits %+v, want %d recipients", ao.Credits, len(credits))
			}
			for _, c := range ao.Credits {
				if w := credits[[2]int{int(c.Kind), c.Validator}]; w == nil || w.Cmp(c.Amount.Big()) != 0 {
					t.Fatalf("credit %+v, want %v", c, w)
				}
			}
		} else if ao.Credits != nil {
			t.Fatalf("shadow credits %+v", ao.Credits)
		}
	})
}
