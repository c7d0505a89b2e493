package simulate

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"image/png"
	"math"
	"strconv"
	"strings"
	"testing"

	"github.com/qbind/qbind/monetary"
	"github.com/qbind/qbind/u128"
)

func mustAmount(t *testing.T, s string) u128.U128 {
	t.Helper()
	v, err := ParseAmount(s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// earlyGates is a fee path that meets both economic gates from the start:
// staked 6·10²⁶ of 10²⁷, fees 3.5·10²⁰ per epoch, so smoothed annual fees =
// 3.5·10²⁰ × 52,560 = 1.8396·10²⁵, i.e. 3.066 % of the stake:
//   - bootstrap coverage = 1.8396·10²⁵ × 10⁸ / (6·10²⁶ × 500) = 6,132 bps ≥ 2,000;
//   - transition coverage (base 400) = 7,665 bps ≥ 5,000;
//   - stake ratio ≈ 6/10.0x ≈ 59 % → 55 % over ten years, ≥ 30 % and ≥ 40 %.
func earlyGates(t *testing.T) Config {
	cfg := DefaultConfig()
	cfg.FeesPerEpoch = 3.5e20
	cfg.Staked = mustAmount(t, "6e26")
	cfg.Supply = mustAmount(t, "1e27")
	return cfg
}

// checker verifies every epoch against the policy in force: the rate within
// the governing phase's [floor, cap] and within its Δ of the previous epoch.
// It reports the first violation and lets the run finish, so a test can
// also check the run's output.
type checker struct {
	t       *testing.T
	p       monetary.Params
	epochs  uint64
	changes []uint64
	failed  bool
}

func (c *checker) fail(format string, args ...any) {
	if !c.failed {
		c.failed = true
		c.t.Errorf(format, args...)
	}
}

func (c *checker) observe(ev *Epoch) {
	c.epochs++
	pp := c.p.Phases[ev.Outcome.Phase]
	r := uint64(ev.State.RInfBps)
	if r > pp.CapBps || r < pp.FloorBps {
		c.fail("epoch %d (%s): r = %d outside [%d, %d]", ev.Epoch, ev.Outcome.Phase, r, pp.FloorBps, pp.CapBps)
	}
	if ev.Prev.Started {
		prev := uint64(ev.Prev.RInfBps)
		if max(r, prev)-min(r, prev) > pp.MaxDeltaBps {
			c.fail("epoch %d (%s): r %d → %d exceeds Δ %d", ev.Epoch, ev.Outcome.Phase, prev, r, pp.MaxDeltaBps)
		}
	}
	if ev.Outcome.Phase != ev.Prev.Phase {
		c.fail("epoch %d ran under %s but the state said %s", ev.Epoch, ev.Outcome.Phase, ev.Prev.Phase)
	}
	if ev.State.Phase != ev.Prev.Phase {
		c.changes = append(c.changes, ev.Epoch)
	}
}

func TestTenYearsGatesMetEarly(t *testing.T) {
	cfg := earlyGates(t)
	c := &checker{t: t, p: cfg.Params}
	res, err := Run(cfg, c.observe)
	if err != nil {
		t.Fatal(err)
	}
	if c.epochs != 525_600 || res.Epochs != 525_600 || len(res.Months) != 120 {
		t.Fatalf("ran %d epochs, %d months", c.epochs, len(res.Months))
	}
	// "At epoch": the gates pass at the end of epoch 157,680 (the first epoch
	// ≥ the time gate), whose state records transition; 157,681 is the first
	// epoch computed with transition parameters. Likewise 367,920 / 367,921.
	want := []Transition{
		{Epoch: 157_680, EffectiveFrom: 157_681, From: "bootstrap", To: "transition"},
		{Epoch: 367_920, EffectiveFrom: 367_921, From: "transition", To: "mature"},
	}
	if len(res.Transitions) != 2 || res.Transitions[0] != want[0] || res.Transitions[1] != want[1] {
		t.Fatalf("transitions %+v, want %+v", res.Transitions, want)
	}
	if len(c.changes) != 2 || c.changes[0] != 157_680 || c.changes[1] != 367_920 {
		t.Fatalf("observed phase changes at %v", c.changes)
	}

	// The same facts from the CSV output: month 36 ends at epoch 157,679
	// (still bootstrap), month 37 is the first transition month; months 84 /
	// 85 around 367,920. Every row's rate is within its phase's cap and
	// floor, and its max_r_step_bps (the largest per-epoch |Δr| of the month)
	// within the Δ of the phases that governed the month's epochs.
	//
	// Fees are constant, so ema = fees and
	// fee_offset = 3.5·10²⁰ × 52,560 × 10⁴ / 6·10²⁶ = 1.8396·10²⁹ / 6·10²⁶ = 306.6 → 306:
	//   - bootstrap: r = 775 − 306 = 469 from epoch 0 on, every step 0;
	//   - month 37 (epochs 157,680–162,059): from 157,681 transition's raw rate
	//     620 − 306 = 314 is reached under Δ 10: 469 → 459 → … → 319 → 314,
	//     largest step 10;
	//   - month 85 (epochs 367,920–372,299): from 367,921 mature's raw rate
	//     465 − 306 = 159 (≥ floor 100) is reached under Δ 5: 314 → 309 → … → 159,
	//     largest step 5;
	//   - every other month: step 0.
	var buf bytes.Buffer
	if err := WriteCSV(&buf, res); err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(&buf).ReadAll()
	if err != nil || len(rows) != 121 || strings.Join(rows[0], ",") != strings.Join(CSVHeader, ",") {
		t.Fatalf("csv: %d rows, %v", len(rows), err)
	}
	phaseOf := map[string]monetary.Phase{"bootstrap": monetary.PhaseBootstrap, "transition": monetary.PhaseTransition, "mature": monetary.PhaseMature}
	prevPhase := monetary.PhaseBootstrap // governs epoch 0
	for _, row := range rows[1:] {
		month, _ := strconv.Atoi(row[0])
		end, _ := strconv.ParseUint(row[1], 10, 64)
		r, _ := strconv.Atoi(row[3])
		ph, ok := phaseOf[row[2]]
		if !ok || end != uint64(month)*EpochsPerMonth-1 {
			t.Fatalf("row %v", row)
		}
		wantPhase := monetary.PhaseBootstrap
		if end >= 367_920 {
			wantPhase = monetary.PhaseMature
		} else if end >= 157_680 {
			wantPhase = monetary.PhaseTransition
		}
		if ph != wantPhase {
			t.Fatalf("month %d (end epoch %d): phase %s, want %s", month, end, ph, wantPhase)
		}
		// The row's rate was computed under the phase that governed its end epoch,
		// which is the row's phase unless the gate passed exactly there (never
		// at a month end here).
		pp := cfg.Params.Phases[ph]
		if uint64(r) > pp.CapBps || uint64(r) < pp.FloorBps {
			t.Fatalf("month %d: r %d outside [%d, %d]", month, r, pp.FloorBps, pp.CapBps)
		}
		// The month's epochs ran under the phases from the previous row's
		// (in force after its end epoch) to this row's; allow the largest Δ.
		step, err := strconv.ParseUint(row[10], 10, 32)
		if err != nil {
			t.Fatalf("month %d: max_r_step_bps %q: %v", month, row[10], err)
		}
		var allowed uint64
		for p := prevPhase; p <= ph; p++ {
			allowed = max(allowed, cfg.Params.Phases[p].MaxDeltaBps)
		}
		if step > allowed {
			t.Fatalf("month %d (%s → %s): r moved %d bps in one epoch, Δ %d", month, prevPhase, ph, step, allowed)
		}
		wantStep := uint64(0)
		switch month {
		case 37:
			wantStep = 10
		case 85:
			wantStep = 5
		}
		if step != wantStep {
			t.Fatalf("month %d: max_r_step_bps %d, want %d", month, step, wantStep)
		}
		prevPhase = ph
	}
}

func TestTenYearsGatesNeverMet(t *testing.T) {
	cfg := earlyGates(t)
	cfg.FeesPerEpoch = 0 // coverage 0 < 2,000 forever
	c := &checker{t: t, p: cfg.Params}
	res, err := Run(cfg, c.observe)
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Transitions) != 0 || len(c.changes) != 0 {
		t.Fatalf("transitions %+v", res.Transitions)
	}
	for _, m := range res.Months {
		// No fees: r = the PQC-adjusted bootstrap target 775 every epoch.
		if m.Phase != "bootstrap" || m.RInfBps != 775 || m.FeeCoverageBps != 0 {
			t.Fatalf("month %+v", m)
		}
	}
}

func TestEconomicGateHoldsBackTransition(t *testing.T) {
	// Fees start at 10¹⁹ and grow 60 %/year: bootstrap coverage reaches
	// 2,000 bps only after the time gate.
	cfg := earlyGates(t)
	cfg.Years = 6
	cfg.FeesPerEpoch = 1e19
	cfg.FeeGrowth = 0.6
	var atGate monetary.EpochState
	c := &checker{t: t, p: cfg.Params}
	res, err := Run(cfg, func(ev *Epoch) {
		c.observe(ev)
		if ev.State.Phase != ev.Prev.Phase {
			atGate = ev.State
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Transitions) != 1 || res.Transitions[0].Epoch <= monetary.TransitionGateEpoch {
		t.Fatalf("transitions %+v", res.Transitions)
	}
	if atGate.FeeCoverageBps < monetary.TransitionGateCoverageBps || atGate.StakeRatioBps < monetary.TransitionGateStakeBps {
		t.Fatalf("moved with coverage %d, stake ratio %d", atGate.FeeCoverageBps, atGate.StakeRatioBps)
	}
}

func TestRestakeGrowsStake(t *testing.T) {
	cfg := earlyGates(t)
	cfg.Years = 1
	cfg.Restake = true
	res, err := Run(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	// Constant fees, r = 775 − floor(1.8396·10²⁵ × 10⁴ / 6·10²⁶) = 775 − 306 = 469 bps
	// in the first epoch; the stake then grows by 82 % of each epoch's issuance.
	first, last := res.Months[0].Staked, res.Months[11].Staked
	if first.Cmp(cfg.Staked) <= 0 || last.Cmp(first) <= 0 {
		t.Fatalf("stake did not grow: %s → %s → %s", cfg.Staked, first, last)
	}
	grown, _ := last.Sub(cfg.Staked)
	// Minted is all issuance, of which the validators got 82 %: grown ≤ total issuance.
	if grown.Cmp(res.TotalIssuance) >= 0 {
		t.Fatalf("stake grew by %s, more than the issuance %s", grown, res.TotalIssuance)
	}
}

func TestOutputs(t *testing.T) {
	cfg := earlyGates(t)
	cfg.Years = 1
	res, err := Run(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tbl, js, img bytes.Buffer
	if err := WriteTable(&tbl, res); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(tbl.String(), "no phase transition") || strings.Count(tbl.String(), "bootstrap") != 12 {
		t.Fatalf("table:\n%s", tbl.String())
	}
	if err := WriteJSON(&js, res); err != nil {
		t.Fatal(err)
	}
	var back struct {
		Months []Month `json:"months"`
	}
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Months) != 12 || back.Months[11] != res.Months[11] {
		t.Fatalf("json round trip: %v", err)
	}
	if err := WritePNG(&img, res, 300, 100); err != nil {
		t.Fatal(err)
	}
	pic, err := png.Decode(&img)
	if err != nil || pic.Bounds().Dx() != 300 || pic.Bounds().Dy() != 100 {
		t.Fatalf("png: %v", err)
	}
	if pct(775) != "7.75%" || pct(5) != "0.05%" || pct(10_000) != "100.00%" {
		t.Fatal("pct")
	}
}

func TestParseAmount(t *testing.T) {
	for in, want := range map[string]string{
		"0":         "0",
		"1_000_000": "1000000",
		"3.5e26":    "350000000000000000000000000",
		"1e27":      "1000000000000000000000000000",
		"340282366920938463463374607431768211455": "340282366920938463463374607431768211455",
	} {
		v, err := ParseAmount(in)
		if err != nil || v.String() != want {
			t.Fatalf("ParseAmount(%q) = %s, %v", in, v, err)
		}
	}
	for _, in := range []string{"", "-1", "1.5", "abc", "1e39", "340282366920938463463374607431768211456"} {
		if _, err := ParseAmount(in); !errors.Is(err, ErrConfig) {
			t.Fatalf("ParseAmount(%q) accepted or wrong error: %v", in, err)
		}
	}
}

func TestConfigRejections(t *testing.T) {
	for name, mut := range map[string]func(*Config){
		"zero years":      func(c *Config) { c.Years = 0 },
		"101 years":       func(c *Config) { c.Years = 101 },
		"negative fees":   func(c *Config) { c.FeesPerEpoch = -1 },
		"growth −100 %":   func(c *Config) { c.FeeGrowth = -1 },
		"burn above 100%": func(c *Config) { c.BurnBps = 10_001 },
		"bad params":      func(c *Config) { c.Params.ValidatorsShareBps = 9500 },
	} {
		cfg := earlyGates(t)
		mut(&cfg)
		if _, err := Run(cfg, nil); !errors.Is(err, ErrConfig) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	// Burning more than exists is refused by the engine, with the epoch named.
	cfg := earlyGates(t)
	cfg.Supply = u128.From64(1)
	cfg.Staked = u128.Zero
	cfg.FeesPerEpoch = 1e6
	if _, err := Run(cfg, nil); !errors.Is(err, monetary.ErrInvalidInputs) || !strings.Contains(err.Error(), "epoch 0") {
		t.Fatalf("over-burn: %v", err)
	}
}

func TestToU128(t *testing.T) {
	// 2^90 is exact in a float64; 3.5e26 is not (it becomes 349999999999999990906748928).
	if v, err := toU128(math.Ldexp(1, 90)); err != nil || v.String() != "1237940039285380274899124224" {
		t.Fatalf("2^90 → %s %v", v, err)
	}
	if v, err := toU128(12.9); err != nil || v != u128.From64(12) {
		t.Fatalf("12.9 → %s %v", v, err)
	}
	if _, err := toU128(4e38); err == nil {
		t.Fatal("4e38 accepted")
	}
}
