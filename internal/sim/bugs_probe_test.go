package sim

import (
	"testing"

	"github.com/qbind/qbind/consensus"
	"github.com/qbind/qbind/consensus/safety"
)

func TestProbeBugs(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"lock":   func(c *Config) { c.SafetyFaults = safety.Faults{SkipLockCheck: true} },
		"commit": func(c *Config) { c.CoreFaults = consensus.Faults{CommitNonConsecutive: true} },
		"forget": func(c *Config) { c.SafetyFaults = safety.Faults{ForgetLastVoted: true} },
	} {
		found := 0
		for seed := uint64(1); seed <= 200; seed++ {
			c := RandomConfig(seed)
			mod(&c)
			s, _ := New(c)
			if err := s.Run(); err != nil {
				found++
				if found <= 2 {
					t.Logf("%s seed %d: %v", name, seed, err)
				}
			}
		}
		t.Logf("%s: %d/200", name, found)
	}
}
