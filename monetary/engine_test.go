package monetary

import (
	"errors"
	"math/big"
	"reflect"
	"testing"

	"github.com/qbind/qbind/u128"
)

func amt(v uint64) u128.U128 { return u128.From64(v) }

func newEngine(t testing.TB, p Params, m Mode) *Engine {
	t.Helper()
	e, err := New(p, m)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return e
}

// example1 is the worked example used by several tests: 10⁹ staked out of a
// circulating supply of 2·10⁹, two validators holding 60 % / 40 %.
func example1(epoch uint64, fees uint64) Inputs {
	return Inputs{
		Epoch:           epoch,
		Fees:            amt(fees),
		Staked:          amt(1_000_000_000),
		GenesisSupply:   amt(2_000_000_000),
		ValidatorStakes: []u128.U128{amt(600_000_000), amt(400_000_000)},
	}
}

func TestFirstEpochHandComputed(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeActive)
	s, out, err := e.Next(GenesisState(), example1(0, 1000))
	if err != nil {
		t.Fatal(err)
	}
	// First epoch: ema = fees = 1000 (no smoothing).
	// annual         = 1000 × 52,560                         = 52,560,000
	// fee_offset     = 52,560,000 × 10⁴ / 10⁹ = 525.6        → 525
	// r_target_eff   = 500 × 155 / 100                      = 775
	// raw            = 775 − 525                             = 250; clamp [0, 1200] → 250; no Δ-limit
	// coverage       = 52,560,000 × 10⁸ / (10⁹ × 500) = 5.256·10¹⁵ / 5·10¹¹ = 10,512
	// stake_ratio    = 10⁹ × 10⁴ / (2·10⁹)                   = 5,000
	// issuance       = 10⁹ × 250 / 525,600,000 = 475.64…     → 475
	// insurance      = 475 × 400 / 10⁴ = 19                  → 19
	// community      = 475 × 200 / 10⁴ = 9.5                 → 9
	// validators     = 475 × 8,200 / 10⁴ = 389.5             → 389
	// treasury       = 475 − 19 − 9 − 389                    = 58
	// validator 0    = 389 × 6·10⁸ / 10⁹ = 233.4             → 233
	// validator 1    = 389 − 233 (remainder)                 = 156
	want := EpochState{
		Started: true, Epoch: 0, Phase: PhaseBootstrap, EMAFees: amt(1000), RInfBps: 250,
		FeeCoverageBps: 10_512, StakeRatioBps: 5_000, Issuance: amt(475),
	}
	if s != want {
		t.Fatalf("state = %+v\nwant    %+v", s, want)
	}
	if out.SmoothedAnnualFees.Int64() != 52_560_000 || out.FeeOffsetBps != 525 || out.TargetEffBps != 775 ||
		out.RawRateBps != 250 || out.BoundedRateBps != 250 || out.RateBps != 250 || out.DeltaLimited {
		t.Fatalf("outcome = %+v", out)
	}
	wantSplit := Split{
		Issuance: amt(475), Validators: amt(389), Treasury: amt(58), Insurance: amt(19), Community: amt(9),
		PerValidator: []u128.U128{amt(233), amt(156)},
	}
	if !reflect.DeepEqual(out.Split, wantSplit) {
		t.Fatalf("split = %+v\nwant    %+v", out.Split, wantSplit)
	}
	wantCredits := []Credit{
		{Kind: RecipientValidator, Validator: 0, Amount: amt(233)},
		{Kind: RecipientValidator, Validator: 1, Amount: amt(156)},
		{Kind: RecipientTreasury, Amount: amt(58)},
		{Kind: RecipientInsurance, Amount: amt(19)},
		{Kind: RecipientCommunity, Amount: amt(9)},
	}
	if !reflect.DeepEqual(out.Credits, wantCredits) {
		t.Fatalf("credits = %+v\nwant      %+v", out.Credits, wantCredits)
	}
}

func TestSecondEpochEMAAndDeltaLimitUp(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeShadow)
	s, _, err := e.Next(GenesisState(), example1(0, 1000))
	if err != nil {
		t.Fatal(err)
	}
	s, out, err := e.Next(s, example1(1, 0))
	if err != nil {
		t.Fatal(err)
	}
	// ema        = (700 × 0 + 9,300 × 1000) / 10⁴ = 930
	// annual     = 930 × 52,560 = 48,880,800
	// fee_offset = 48,880,800 × 10⁴ / 10⁹ = 488.8 → 488
	// raw        = 775 − 488 = 287; clamp [0, 1200] → 287
	// Δ-limit    = clamp(287, 250 − 25, 250 + 25) = 275
	// coverage   = 48,880,800 × 10⁸ / (10⁹ × 500) = 9,776.16 → 9,776
	// issuance   = 10⁹ × 275 / 525,600,000 = 523.2 → 523
	want := EpochState{
		Started: true, Epoch: 1, Phase: PhaseBootstrap, EMAFees: amt(930), RInfBps: 275,
		FeeCoverageBps: 9_776, StakeRatioBps: 5_000, Issuance: amt(523),
	}
	if s != want {
		t.Fatalf("state = %+v\nwant    %+v", s, want)
	}
	if out.FeeOffsetBps != 488 || out.RawRateBps != 287 || out.BoundedRateBps != 287 || !out.DeltaLimited {
		t.Fatalf("outcome = %+v", out)
	}
	if out.Credits != nil {
		t.Fatalf("shadow mode returned credits %+v", out.Credits)
	}
	if out.Split.Issuance != amt(523) {
		t.Fatalf("shadow split not computed: %+v", out.Split)
	}
}

func TestEMAFloorsWithEachPhaseLambda(t *testing.T) {
	// ema = (λ·fees + (10⁴ − λ)·ema_prev) / 10⁴ with the λ of the phase that
	// governs the epoch (700 / 300 / 150), floored. Every case divides
	// inexactly: rounding up would give one more, and in Transition and
	// Mature Bootstrap's λ would give a different value.
	// Bootstrap:  (700 × 1,234 + 9,300 × 1,001) / 10⁴ = (863,800 + 9,309,300) / 10⁴ = 10,173,100 / 10⁴ = 1,017.31 → 1,017
	//             (rounded up: 1,018)
	// Transition: (300 × 0 + 9,700 × 1,001) / 10⁴ = 9,709,700 / 10⁴ = 970.97 → 970
	//             (Bootstrap λ: 9,300 × 1,001 / 10⁴ = 930.93 → 930; rounded up: 971)
	// Mature:     (150 × 7 + 9,850 × 1,001) / 10⁴ = (1,050 + 9,859,850) / 10⁴ = 9,860,900 / 10⁴ = 986.09 → 986
	//             (Bootstrap λ: (4,900 + 9,309,300) / 10⁴ = 931.42 → 931; rounded up: 987)
	// smoothed annual fees = ema × 52,560: 1,017 × 52,560 = 53,453,520; 970 × 52,560 = 50,983,200;
	// 986 × 52,560 = 51,824,160.
	cases := []struct {
		name       string
		epoch      uint64
		phase      Phase
		fees       uint64
		wantEMA    uint64
		wantAnnual int64
	}{
		{"bootstrap λ 700", 100, PhaseBootstrap, 1234, 1017, 53_453_520},
		{"transition λ 300", 200_000, PhaseTransition, 0, 970, 50_983_200},
		{"mature λ 150", 400_000, PhaseMature, 7, 986, 51_824_160},
	}
	e := newEngine(t, DefaultParams(), ModeShadow)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			prev := EpochState{Started: true, Epoch: c.epoch, Phase: c.phase, EMAFees: amt(1001), RInfBps: 300}
			s, out, err := e.Next(prev, example1(c.epoch+1, c.fees))
			if err != nil {
				t.Fatal(err)
			}
			if out.Phase != c.phase || s.EMAFees != amt(c.wantEMA) || out.SmoothedAnnualFees.Int64() != c.wantAnnual {
				t.Fatalf("phase %s: ema = %s, annual = %s; want %d, %d", out.Phase, s.EMAFees, out.SmoothedAnnualFees, c.wantEMA, c.wantAnnual)
			}
		})
	}
}

func TestDeltaLimitDown(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeShadow)
	prev := EpochState{Started: true, Epoch: 9, Phase: PhaseBootstrap, EMAFees: amt(0), RInfBps: 775}
	in := example1(10, 20_000)
	s, out, err := e.Next(prev, in)
	if err != nil {
		t.Fatal(err)
	}
	// ema        = (700 × 20,000 + 9,300 × 0) / 10⁴ = 1,400
	// fee_offset = 1,400 × 52,560 × 10⁴ / 10⁹ = 735.84 → 735
	// raw        = 775 − 735 = 40 → Δ-limit clamp(40, 750, 800) = 750
	if s.EMAFees != amt(1400) || out.FeeOffsetBps != 735 || out.RawRateBps != 40 || s.RInfBps != 750 || !out.DeltaLimited {
		t.Fatalf("state %+v outcome %+v", s, out)
	}
}

func TestDeltaLimitSaturatesAtZero(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeShadow)
	// r_prev = 10 < Δ = 25: the window is [0, 35], not a wrapped uint.
	prev := EpochState{Started: true, Epoch: 9, Phase: PhaseBootstrap, EMAFees: amt(1_000_000), RInfBps: 10}
	s, _, err := e.Next(prev, example1(10, 1_000_000))
	if err != nil {
		t.Fatal(err)
	}
	// ema = 10⁶; fee_offset = 10⁶ × 52,560 × 10⁴ / 10⁹ = 525,600 ≥ 775 → raw 0 → r = 0
	if s.RInfBps != 0 {
		t.Fatalf("r = %d, want 0", s.RInfBps)
	}
}

func TestFloorAndCap(t *testing.T) {
	t.Run("mature floor", func(t *testing.T) {
		e := newEngine(t, DefaultParams(), ModeShadow)
		prev := EpochState{Started: true, Epoch: 400_000, Phase: PhaseMature, EMAFees: amt(1_000_000), RInfBps: 100}
		s, out, err := e.Next(prev, example1(400_001, 1_000_000))
		if err != nil {
			t.Fatal(err)
		}
		// ema = 10⁶ (fees = ema_prev); fee_offset = 525,600 bps ≥ 465 = 300 × 155 / 100 → raw 0;
		// clamp(0, floor 100, cap 800) = 100; Δ window [95, 105] keeps 100.
		if out.TargetEffBps != 465 || out.RawRateBps != 0 || out.BoundedRateBps != 100 || s.RInfBps != 100 {
			t.Fatalf("state %+v outcome %+v", s, out)
		}
	})
	t.Run("cap below target binds", func(t *testing.T) {
		p := DefaultParams()
		p.Phases[PhaseBootstrap].CapBps = 760
		e := newEngine(t, p, ModeShadow)
		s, out, err := e.Next(GenesisState(), example1(0, 0))
		if err != nil {
			t.Fatal(err)
		}
		// fees 0 → fee_offset 0 → raw 775 → clamp(775, 0, 760) = 760 (first epoch: no Δ)
		if out.RawRateBps != 775 || out.BoundedRateBps != 760 || s.RInfBps != 760 {
			t.Fatalf("state %+v outcome %+v", s, out)
		}
	})
	t.Run("negative raw rate goes to the floor", func(t *testing.T) {
		e := newEngine(t, DefaultParams(), ModeShadow)
		// first epoch, fees 10⁴: fee_offset = 10⁴ × 52,560 × 10⁴ / 10⁹ = 5,256 > 775 → raw 0 → floor 0.
		s, out, err := e.Next(GenesisState(), example1(0, 10_000))
		if err != nil {
			t.Fatal(err)
		}
		if out.FeeOffsetBps != 5256 || out.RawRateBps != 0 || s.RInfBps != 0 || s.Issuance != amt(0) {
			t.Fatalf("state %+v outcome %+v", s, out)
		}
	})
}

func TestZeroDenominators(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeActive)
	in := Inputs{Epoch: 0, Fees: amt(5), ValidatorStakes: []u128.U128{amt(1)}}
	s, out, err := e.Next(GenesisState(), in)
	if err != nil {
		t.Fatal(err)
	}
	// staked = 0 → fee_offset 0, coverage 0, issuance 0 × r = 0; circulating = 0 → stake ratio 0.
	if out.FeeOffsetBps != 0 || s.FeeCoverageBps != 0 || s.StakeRatioBps != 0 || s.RInfBps != 775 || !s.Issuance.IsZero() {
		t.Fatalf("state %+v outcome %+v", s, out)
	}
	if len(out.Credits) != 0 {
		t.Fatalf("credits for zero issuance: %+v", out.Credits)
	}
}

func TestStakeRatioCappedAt100Percent(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeShadow)
	in := example1(0, 0)
	in.GenesisSupply = amt(500_000_000) // staked 10⁹ > circulating 5·10⁸
	s, _, err := e.Next(GenesisState(), in)
	if err != nil {
		t.Fatal(err)
	}
	// 10⁹ × 10⁴ / 5·10⁸ = 20,000 → min(10⁴, 20,000) = 10,000
	if s.StakeRatioBps != 10_000 {
		t.Fatalf("stake ratio %d", s.StakeRatioBps)
	}
	// circulating = genesis + minted − burned = 5·10⁸ + 1.5·10⁹ − 0 = 2·10⁹ → 10¹³ / 2·10⁹ = 5,000
	in.Minted = amt(1_500_000_000)
	s, _, _ = e.Next(GenesisState(), in)
	if s.StakeRatioBps != 5_000 {
		t.Fatalf("stake ratio with minted supply %d", s.StakeRatioBps)
	}
	in.TotalBurned = amt(1_000_000_000) // circulating 5·10⁸ + 1.5·10⁹ − 10⁹ = 10⁹ → 10,000
	s, _, _ = e.Next(GenesisState(), in)
	if s.StakeRatioBps != 10_000 {
		t.Fatalf("stake ratio with burns %d", s.StakeRatioBps)
	}
}

func TestSaturatingCoverage(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeShadow)
	in := Inputs{Epoch: 0, Fees: u128.Max, Staked: amt(1), GenesisSupply: amt(1), ValidatorStakes: []u128.U128{amt(1)}}
	s, out, err := e.Next(GenesisState(), in)
	if err != nil {
		t.Fatal(err)
	}
	if out.FeeOffsetBps != ^uint64(0) || s.FeeCoverageBps != ^uint64(0) || s.RInfBps != 0 || s.EMAFees != u128.Max {
		t.Fatalf("state %+v outcome %+v", s, out)
	}
}

// gateState is a started state whose EMA equals gateFees, so feeding gateFees
// keeps ema = (λ·F + (10⁴−λ)·F)/10⁴ = F exactly, whatever λ.
const gateFees = 1000

func gateState(epoch uint64, p Phase) EpochState {
	return EpochState{Started: true, Epoch: epoch, Phase: p, EMAFees: amt(gateFees), RInfBps: 700, StakeRatioBps: 1}
}

func gateInputs(epoch, staked, circulating uint64) Inputs {
	return Inputs{Epoch: epoch, Fees: amt(gateFees), Staked: amt(staked), GenesisSupply: amt(circulating),
		ValidatorStakes: []u128.U128{amt(staked)}}
}

func TestTransitionGate(t *testing.T) {
	// annual = 1000 × 52,560 = 52,560,000.
	// staked 5,256,000,000: coverage = 52,560,000 × 10⁸ / (5,256,000,000 × 500) = 5.256·10¹⁵ / 2.628·10¹² = 2,000
	// staked 5,258,629,314: coverage = 5.256·10¹⁵ / 2,629,314,657,000 ≈ 1,999.00000025 → 1,999
	// circulating 17,520,000,000: stake ratio = 5,256,000,000 × 10⁴ / 17,520,000,000 = 3,000
	// circulating 17,525,841,947: stake ratio = 5.256·10¹³ / 17,525,841,947 ≈ 2,999.000000054 → 2,999
	//   (with staked 5,258,629,314 and circulating 17,520,000,000: 5.258629314·10¹³ / 1.752·10¹⁰ = 3,001.50075 → 3,001)
	cases := []struct {
		name         string
		epoch        uint64
		staked, circ uint64
		wantCov      uint64
		wantSR       uint32
		want         Phase
	}{
		{"all gates exactly met", TransitionGateEpoch, 5_256_000_000, 17_520_000_000, 2000, 3000, PhaseTransition},
		{"one epoch before the time gate", TransitionGateEpoch - 1, 5_256_000_000, 17_520_000_000, 2000, 3000, PhaseBootstrap},
		{"coverage one bps short", TransitionGateEpoch, 5_258_629_314, 17_520_000_000, 1999, 3001, PhaseBootstrap},
		{"stake ratio one bps short", TransitionGateEpoch, 5_256_000_000, 17_525_841_947, 2000, 2999, PhaseBootstrap},
		{"long after the time gate", 500_000, 5_256_000_000, 17_520_000_000, 2000, 3000, PhaseTransition},
	}
	e := newEngine(t, DefaultParams(), ModeShadow)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, out, err := e.Next(gateState(c.epoch-1, PhaseBootstrap), gateInputs(c.epoch, c.staked, c.circ))
			if err != nil {
				t.Fatal(err)
			}
			if s.FeeCoverageBps != c.wantCov || s.StakeRatioBps != c.wantSR {
				t.Fatalf("coverage %d stake ratio %d, want %d %d", s.FeeCoverageBps, s.StakeRatioBps, c.wantCov, c.wantSR)
			}
			// The gate's epoch is still computed under Bootstrap; the new phase is recorded in the state.
			if out.Phase != PhaseBootstrap || s.Phase != c.want || out.NextPhase != c.want {
				t.Fatalf("phase used %s, next %s / %s, want next %s", out.Phase, out.NextPhase, s.Phase, c.want)
			}
		})
	}
}

func TestMatureGate(t *testing.T) {
	// Coverage uses the Transition base target 400:
	// staked 2,628,000,000: coverage = 5.256·10¹⁵ / (2,628,000,000 × 400) = 5.256·10¹⁵ / 1.0512·10¹² = 5,000
	// staked 2,628,000,001: 5.256·10¹⁵ / 1,051,200,000,400 ≈ 4,999.999998 → 4,999
	// circulating 6,570,000,000: stake ratio = 2.628·10¹³ / 6.57·10⁹ = 4,000
	// circulating 6,570,000,001: 3,999.9999994 → 3,999
	cases := []struct {
		name         string
		epoch        uint64
		staked, circ uint64
		want         Phase
	}{
		{"all gates exactly met", MatureGateEpoch, 2_628_000_000, 6_570_000_000, PhaseMature},
		{"one epoch before the time gate", MatureGateEpoch - 1, 2_628_000_000, 6_570_000_000, PhaseTransition},
		{"coverage one bps short", MatureGateEpoch, 2_628_000_001, 6_570_000_000, PhaseTransition},
		{"stake ratio one bps short", MatureGateEpoch, 2_628_000_000, 6_570_000_001, PhaseTransition},
	}
	e := newEngine(t, DefaultParams(), ModeShadow)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, out, err := e.Next(gateState(c.epoch-1, PhaseTransition), gateInputs(c.epoch, c.staked, c.circ))
			if err != nil {
				t.Fatal(err)
			}
			if out.Phase != PhaseTransition || s.Phase != c.want {
				t.Fatalf("phase used %s, next %s, want %s (coverage %d, stake ratio %d)",
					out.Phase, s.Phase, c.want, s.FeeCoverageBps, s.StakeRatioBps)
			}
		})
	}
}

func TestPhasesNeverSkipNorGoBack(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeShadow)
	// Bootstrap at epoch 400,000 with values that satisfy both gates:
	// Bootstrap coverage = 5.256·10¹⁵ / (2,628,000,000 × 500) = 4,000 ≥ 2,000, stake ratio 4,000 ≥ 3,000.
	s, out, err := e.Next(gateState(399_999, PhaseBootstrap), gateInputs(400_000, 2_628_000_000, 6_570_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if s.Phase != PhaseTransition || out.NextPhase != PhaseTransition {
		t.Fatalf("skipped or stuck: %s", s.Phase)
	}
	// Next epoch runs under Transition (coverage with 400 = 5,000) and reaches Mature.
	s, out, err = e.Next(s, gateInputs(400_001, 2_628_000_000, 6_570_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if out.Phase != PhaseTransition || s.Phase != PhaseMature {
		t.Fatalf("phase used %s, next %s", out.Phase, s.Phase)
	}
	// Mature is terminal and nothing goes back, even with no fees and no stake.
	for _, p := range []Phase{PhaseTransition, PhaseMature} {
		st := gateState(400_001, p)
		next, _, err := e.Next(st, Inputs{Epoch: 400_002, ValidatorStakes: []u128.U128{amt(1)}})
		if err != nil {
			t.Fatal(err)
		}
		if next.Phase != p {
			t.Fatalf("%s went to %s", p, next.Phase)
		}
	}
}

func TestTransitionParametersApplyFromNextEpoch(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeShadow)
	prev := gateState(TransitionGateEpoch-1, PhaseBootstrap)
	prev.RInfBps = 700
	s, out, err := e.Next(prev, gateInputs(TransitionGateEpoch, 5_256_000_000, 17_520_000_000))
	if err != nil {
		t.Fatal(err)
	}
	// Epoch 157,680 runs under Bootstrap: fee_offset = 52,560,000 × 10⁴ / 5,256,000,000 = 100,
	// raw = 775 − 100 = 675, Δ 25 → clamp(675, 675, 725) = 675.
	if out.TargetEffBps != 775 || s.RInfBps != 675 || s.Phase != PhaseTransition {
		t.Fatalf("gate epoch: state %+v outcome %+v", s, out)
	}
	// Epoch 157,681 runs under Transition: raw = 620 − 100 = 520, Δ 10 → clamp(520, 665, 685) = 665.
	s, out, err = e.Next(s, gateInputs(TransitionGateEpoch+1, 5_256_000_000, 17_520_000_000))
	if err != nil {
		t.Fatal(err)
	}
	if out.Phase != PhaseTransition || out.TargetEffBps != 620 || out.RawRateBps != 520 || s.RInfBps != 665 {
		t.Fatalf("first transition epoch: state %+v outcome %+v", s, out)
	}
}

func TestMatureFloorRaisedGraduallyAfterTransition(t *testing.T) {
	// Transition may end at r = 0 (fees cover everything); Mature's floor is 100
	// bps. The Δ-limit runs after floor/cap (PROTOCOL.md §10), so r climbs by
	// 5 bps per epoch: 5, 10, …, 100 after 20 epochs, then stays at the floor.
	e := newEngine(t, DefaultParams(), ModeShadow)
	s := EpochState{Started: true, Epoch: 400_000, Phase: PhaseMature, EMAFees: amt(1_000_000), RInfBps: 0}
	for i := uint64(1); i <= 25; i++ {
		var err error
		s, _, err = e.Next(s, example1(400_000+i, 1_000_000))
		if err != nil {
			t.Fatal(err)
		}
		want := uint32(min(5*i, 100))
		if s.RInfBps != want {
			t.Fatalf("after %d Mature epochs r = %d, want %d", i, s.RInfBps, want)
		}
	}
}

func TestModes(t *testing.T) {
	t.Run("off computes nothing", func(t *testing.T) {
		e := newEngine(t, DefaultParams(), ModeOff)
		in := Inputs{Epoch: 42} // would be rejected in any other mode
		s, out, err := e.Next(GenesisState(), in)
		if err != nil || s != GenesisState() || out.Computed || out.Mode != ModeOff || out.Credits != nil {
			t.Fatalf("off: %+v %+v %v", s, out, err)
		}
		s, ao, err := e.Advance(GenesisState(), 100, in)
		if err != nil || s != GenesisState() || ao.Steps != 0 {
			t.Fatalf("off advance: %+v %+v %v", s, ao, err)
		}
	})
	t.Run("shadow and active agree on state and split", func(t *testing.T) {
		sh := newEngine(t, DefaultParams(), ModeShadow)
		ac := newEngine(t, DefaultParams(), ModeActive)
		s1, o1, err1 := sh.Next(GenesisState(), example1(0, 1000))
		s2, o2, err2 := ac.Next(GenesisState(), example1(0, 1000))
		if err1 != nil || err2 != nil || s1 != s2 || !reflect.DeepEqual(o1.Split, o2.Split) {
			t.Fatalf("shadow %+v %v / active %+v %v", s1, err1, s2, err2)
		}
		if o1.Credits != nil || len(o2.Credits) != 5 || !o1.Computed || o1.Mode != ModeShadow || o2.Mode != ModeActive {
			t.Fatalf("credits shadow %v active %v", o1.Credits, o2.Credits)
		}
	})
	t.Run("active omits zero credits", func(t *testing.T) {
		e := newEngine(t, DefaultParams(), ModeActive)
		in := example1(0, 0)
		in.ValidatorStakes = []u128.U128{amt(0), amt(5), amt(0)}
		_, out, err := e.Next(GenesisState(), in)
		if err != nil {
			t.Fatal(err)
		}
		// fees 0 → r = 775; issuance = 10⁹ × 775 / 525,600,000 = 1,474.5 → 1,474
		// validators = 1,474 × 8,200 / 10⁴ = 1,208.68 → 1,208: v0 = 0, v1 = 1,208 × 5 / 5 = 1,208, v2 (last) = remainder 0
		// insurance = 58.96 → 58, community = 29.48 → 29, treasury = 1,474 − 58 − 29 − 1,208 = 179
		want := []Credit{
			{Kind: RecipientValidator, Validator: 1, Amount: amt(1208)},
			{Kind: RecipientTreasury, Amount: amt(179)},
			{Kind: RecipientInsurance, Amount: amt(58)},
			{Kind: RecipientCommunity, Amount: amt(29)},
		}
		if !reflect.DeepEqual(out.Credits, want) {
			t.Fatalf("credits %+v\nwant    %+v", out.Credits, want)
		}
	})
}

func TestSplitRemainderToLastValidatorWithZeroStake(t *testing.T) {
	// PROTOCOL.md §10: "validator i gets floor(validators × stake_i / Σ stake),
	// the last validator the remainder" — whatever the last validator's stake.
	e := newEngine(t, DefaultParams(), ModeActive)
	in := example1(0, 0)
	in.ValidatorStakes = []u128.U128{amt(2), amt(1), amt(0)}
	_, out, err := e.Next(GenesisState(), in)
	if err != nil {
		t.Fatal(err)
	}
	// As in "active omits zero credits": issuance 1,474, validators 1,208, treasury 179, insurance 58, community 29.
	// Σ stake = 2 + 1 + 0 = 3
	// v0 = 1,208 × 2 / 3 = 805.33 → 805
	// v1 = 1,208 × 1 / 3 = 402.67 → 402
	// v2 (last, stake 0) = 1,208 − 805 − 402 = 1
	wantSplit := Split{
		Issuance: amt(1474), Validators: amt(1208), Treasury: amt(179), Insurance: amt(58), Community: amt(29),
		PerValidator: []u128.U128{amt(805), amt(402), amt(1)},
	}
	if !reflect.DeepEqual(out.Split, wantSplit) {
		t.Fatalf("split = %+v\nwant    %+v", out.Split, wantSplit)
	}
	// The remainder is non-zero, so active mode credits it.
	want := []Credit{
		{Kind: RecipientValidator, Validator: 0, Amount: amt(805)},
		{Kind: RecipientValidator, Validator: 1, Amount: amt(402)},
		{Kind: RecipientValidator, Validator: 2, Amount: amt(1)},
		{Kind: RecipientTreasury, Amount: amt(179)},
		{Kind: RecipientInsurance, Amount: amt(58)},
		{Kind: RecipientCommunity, Amount: amt(29)},
	}
	if !reflect.DeepEqual(out.Credits, want) {
		t.Fatalf("credits %+v\nwant    %+v", out.Credits, want)
	}
}

func TestParseMode(t *testing.T) {
	for s, want := range map[string]Mode{"off": ModeOff, "shadow": ModeShadow, "Active": ModeActive} {
		m, err := ParseMode(s)
		if err != nil || m != want {
			t.Fatalf("ParseMode(%q) = %v, %v", s, m, err)
		}
		if back, err := ParseMode(m.String()); err != nil || back != m {
			t.Fatalf("ParseMode(%v.String()) = %v, %v", m, back, err)
		}
	}
	if _, err := ParseMode("on"); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("ParseMode(on) = %v", err)
	}
	if _, err := New(DefaultParams(), Mode(3)); !errors.Is(err, ErrInvalidParams) {
		t.Fatalf("New with mode 3: %v", err)
	}
}

func TestRejections(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeShadow)
	started := EpochState{Started: true, Epoch: 5, Phase: PhaseBootstrap, RInfBps: 300}
	tooMany := example1(6, 0)
	tooMany.ValidatorStakes = make([]u128.U128, MaxValidators+1)
	tooMany.ValidatorStakes[0] = amt(1)
	cases := []struct {
		name string
		s    EpochState
		in   Inputs
		want error
	}{
		{"genesis must start at epoch 0", GenesisState(), example1(1, 0), ErrEpochOutOfOrder},
		{"gap", started, example1(7, 0), ErrEpochOutOfOrder},
		{"replay", started, example1(5, 0), ErrEpochOutOfOrder},
		{"no validators", started, Inputs{Epoch: 6, Staked: amt(1)}, ErrInvalidInputs},
		{"all stakes zero", started, Inputs{Epoch: 6, ValidatorStakes: []u128.U128{amt(0), amt(0)}}, ErrInvalidInputs},
		{"too many validators", started, tooMany, ErrInvalidInputs},
		{"burned more than exists", started, Inputs{Epoch: 6, GenesisSupply: amt(10), Minted: amt(5), TotalBurned: amt(16),
			ValidatorStakes: []u128.U128{amt(1)}}, ErrInvalidInputs},
		{"unknown phase", EpochState{Started: true, Epoch: 5, Phase: 3}, example1(6, 0), ErrInvalidState},
		{"rate above the largest cap", EpochState{Started: true, Epoch: 5, RInfBps: maxCapBps + 1}, example1(6, 0), ErrInvalidState},
		{"stake ratio above 100 %", EpochState{Started: true, Epoch: 5, StakeRatioBps: 10_001}, example1(6, 0), ErrInvalidState},
		{"transition before its gate", EpochState{Started: true, Epoch: TransitionGateEpoch - 1, Phase: PhaseTransition},
			example1(TransitionGateEpoch, 0), ErrInvalidState},
		{"mature before its gate", EpochState{Started: true, Epoch: MatureGateEpoch - 1, Phase: PhaseMature},
			example1(MatureGateEpoch, 0), ErrInvalidState},
		{"not started but not zero", EpochState{RInfBps: 1}, example1(0, 0), ErrInvalidState},
		{"epoch counter exhausted", EpochState{Started: true, Epoch: ^uint64(0)}, example1(0, 0), ErrInvalidState},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, _, err := e.Next(c.s, c.in)
			if !errors.Is(err, c.want) {
				t.Fatalf("err = %v, want %v", err, c.want)
			}
			if s != c.s {
				t.Fatalf("state changed on error")
			}
		})
	}
	// burned = genesis + minted exactly is fine (circulating 0).
	if _, _, err := e.Next(started, Inputs{Epoch: 6, GenesisSupply: amt(10), Minted: amt(5), TotalBurned: amt(15),
		ValidatorStakes: []u128.U128{amt(1)}}); err != nil {
		t.Fatalf("burn of everything: %v", err)
	}
}

func TestAdvanceBoundsAndOverflow(t *testing.T) {
	e := newEngine(t, DefaultParams(), ModeActive)
	s := EpochState{Started: true, Epoch: 99, Phase: PhaseBootstrap, RInfBps: 775}
	in := example1(100, 0)
	if _, _, err := e.Advance(s, 99, in); !errors.Is(err, ErrEpochOutOfOrder) {
		t.Fatalf("through before next epoch: %v", err)
	}
	if _, _, err := e.Advance(s, 100+MaxAdvanceEpochs, in); !errors.Is(err, ErrInvalidInputs) {
		t.Fatalf("too many epochs: %v", err)
	}
	in101 := example1(101, 0)
	if _, _, err := e.Advance(s, 200, in101); !errors.Is(err, ErrEpochOutOfOrder) {
		t.Fatalf("inputs for the wrong epoch: %v", err)
	}
	// Three empty epochs at r = 775 on 10⁹ staked: 3 × floor(10⁹ × 775 / 525,600,000) = 3 × 1,474.
	got, ao, err := e.Advance(s, 102, in)
	if err != nil || got.Epoch != 102 || ao.Steps != 3 || ao.TotalIssuance != amt(3*1474) || ao.Last.Credits != nil {
		t.Fatalf("advance: %+v %+v %v", got, ao, err)
	}
	// Minting past 2^128 − 1 in the second epoch is refused and leaves the
	// state untouched: the first epoch issues i1 = floor(Max × 775 / 525,600,000)
	// and Minted starts at Max − i1, so the first epoch fills it exactly.
	i1 := mustU128(new(big.Int).Quo(new(big.Int).Mul(u128.Max.Big(), big.NewInt(775)), big.NewInt(EpochsPerYear*BpsDenominator)))
	minted, _ := u128.Max.Sub(i1)
	huge := Inputs{Epoch: 100, Staked: u128.Max, GenesisSupply: u128.Max, Minted: minted,
		ValidatorStakes: []u128.U128{amt(1)}}
	if _, ao, err := e.Advance(s, 100, huge); err != nil || ao.TotalIssuance != i1 {
		t.Fatalf("one epoch up to the limit: %+v %v", ao, err)
	}
	got, _, err = e.Advance(s, 105, huge)
	if !errors.Is(err, ErrOverflow) || got != s {
		t.Fatalf("overflow: %+v %v", got, err)
	}
}
