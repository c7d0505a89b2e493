package monetary

import (
	"errors"
	"testing"
)

func TestDefaultParamsMatchProtocol(t *testing.T) {
	p := DefaultParams()
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	// PROTOCOL.md §10: r_target 5/4/3 % × 1.55 = 7.75 / 6.2 / 4.65 %.
	for ph, want := range map[Phase]uint64{PhaseBootstrap: 775, PhaseTransition: 620, PhaseMature: 465} {
		if got := p.Phases[ph].RTargetEffBps(); got != want {
			t.Fatalf("%s r_target_eff = %d, want %d", ph, got, want)
		}
	}
	want := [3]PhaseParams{
		{500, 155, 0, 1200, 700, 25},
		{400, 155, 0, 1000, 300, 10},
		{300, 155, 100, 800, 150, 5},
	}
	if p.Phases != want || p.ValidatorsShareBps != 8200 {
		t.Fatalf("defaults %+v", p)
	}
	// Treasury nominal 12 % = 100 − 82 − 4 − 2.
	if BpsDenominator-p.ValidatorsShareBps-InsuranceShareBps-CommunityShareBps != 1200 {
		t.Fatal("treasury share is not 12 %")
	}
}

func TestValidateBounds(t *testing.T) {
	type mut func(*Params)
	ph := func(i Phase, f func(*PhaseParams)) mut { return func(p *Params) { f(&p.Phases[i]) } }
	cases := []struct {
		name string
		m    mut
		ok   bool
	}{
		{"bootstrap λ 50", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.EMALambdaBps = 50 }), true},
		{"bootstrap λ 49", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.EMALambdaBps = 49 }), false},
		{"bootstrap λ 1500", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.EMALambdaBps = 1500 }), true},
		{"bootstrap λ 1501", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.EMALambdaBps = 1501 }), false},
		{"transition λ 20", ph(PhaseTransition, func(pp *PhaseParams) { pp.EMALambdaBps = 20 }), true},
		{"transition λ 19", ph(PhaseTransition, func(pp *PhaseParams) { pp.EMALambdaBps = 19 }), false},
		{"transition λ 500", ph(PhaseTransition, func(pp *PhaseParams) { pp.EMALambdaBps = 500 }), true},
		{"transition λ 501", ph(PhaseTransition, func(pp *PhaseParams) { pp.EMALambdaBps = 501 }), false},
		{"mature λ 10", ph(PhaseMature, func(pp *PhaseParams) { pp.EMALambdaBps = 10 }), true},
		{"mature λ 9", ph(PhaseMature, func(pp *PhaseParams) { pp.EMALambdaBps = 9 }), false},
		{"mature λ 200", ph(PhaseMature, func(pp *PhaseParams) { pp.EMALambdaBps = 200 }), true},
		{"mature λ 201", ph(PhaseMature, func(pp *PhaseParams) { pp.EMALambdaBps = 201 }), false},
		{"validators 75 %", func(p *Params) { p.ValidatorsShareBps = 7500 }, true},
		{"validators 74.99 %", func(p *Params) { p.ValidatorsShareBps = 7499 }, false},
		{"validators 90 %", func(p *Params) { p.ValidatorsShareBps = 9000 }, true},
		{"validators 90.01 %", func(p *Params) { p.ValidatorsShareBps = 9001 }, false},
		{"PQC multiplier 99", ph(PhaseMature, func(pp *PhaseParams) { pp.PQCMultiplierPct = 99 }), false},
		{"PQC multiplier 201", ph(PhaseMature, func(pp *PhaseParams) { pp.PQCMultiplierPct = 201 }), false},
		// Bootstrap PQC-adjusted target within [750, 900]: 484 × 155 / 100 = 750.2 → 750; 483 → 748.65 → 748.
		{"bootstrap target 7.50 %", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.RTargetBps = 484 }), true},
		{"bootstrap target 7.48 %", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.RTargetBps = 483 }), false},
		// 580 × 155 / 100 = 899; 581 → 900.55 → 900; 582 → 902.1 → 902.
		{"bootstrap target 9.00 %", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.RTargetBps = 581 }), true},
		{"bootstrap target 9.02 %", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.RTargetBps = 582 }), false},
		{"target 0", ph(PhaseMature, func(pp *PhaseParams) { pp.RTargetBps = 0 }), false},
		{"target 2001", ph(PhaseMature, func(pp *PhaseParams) { pp.RTargetBps = 2001 }), false},
		{"bootstrap floor 1", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.FloorBps = 1 }), false},
		{"mature floor = cap", ph(PhaseMature, func(pp *PhaseParams) { pp.FloorBps = 800 }), true},
		{"mature floor above cap", ph(PhaseMature, func(pp *PhaseParams) { pp.FloorBps = 801 }), false},
		{"cap 2000", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.CapBps = 2000 }), true},
		{"cap 2001", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.CapBps = 2001 }), false},
		// Bootstrap settles at 775: the Transition cap must be ≥ 775 …
		{"transition cap 775", ph(PhaseTransition, func(pp *PhaseParams) { pp.CapBps = 775 }), true},
		{"transition cap 774", ph(PhaseTransition, func(pp *PhaseParams) { pp.CapBps = 774 }), false},
		// … and Transition settles at 620: the Mature cap must be ≥ 620.
		{"mature cap 620", ph(PhaseMature, func(pp *PhaseParams) { pp.CapBps = 620 }), true},
		{"mature cap 619", ph(PhaseMature, func(pp *PhaseParams) { pp.CapBps = 619 }), false},
		// A Bootstrap cap of 600 lowers its ceiling to 600 < the Transition target: fine.
		{"bootstrap cap below target", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.CapBps = 600 }), true},
		{"Δ 1", ph(PhaseMature, func(pp *PhaseParams) { pp.MaxDeltaBps = 1 }), true},
		{"Δ 0", ph(PhaseMature, func(pp *PhaseParams) { pp.MaxDeltaBps = 0 }), false},
		{"Δ 100", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.MaxDeltaBps = 100 }), true},
		{"Δ 101", ph(PhaseBootstrap, func(pp *PhaseParams) { pp.MaxDeltaBps = 101 }), false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := DefaultParams()
			c.m(&p)
			err := p.Validate()
			if c.ok && err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if !c.ok && !errors.Is(err, ErrInvalidParams) {
				t.Fatalf("accepted or wrong error: %v", err)
			}
			if _, nerr := New(p, ModeShadow); (nerr == nil) != c.ok {
				t.Fatalf("New disagrees with Validate: %v", nerr)
			}
		})
	}
}

func TestEnumStrings(t *testing.T) {
	if PhaseBootstrap.String() != "bootstrap" || PhaseTransition.String() != "transition" || PhaseMature.String() != "mature" ||
		Phase(7).String() != "phase(7)" || Phase(3).Valid() {
		t.Fatal("phase strings")
	}
	if ModeActive.String() != "active" || Mode(9).String() != "mode(9)" || Mode(3).Valid() {
		t.Fatal("mode strings")
	}
	if RecipientCommunity.String() != "community" || RecipientKind(9).String() != "recipient(9)" {
		t.Fatal("recipient strings")
	}
}
