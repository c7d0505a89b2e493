package sim

import (
	"fmt"
	"math/rand/v2"
)

// RandomConfig derives a random fault schedule from a seed: n ∈ {4, 7},
// per-link delays, loss and duplication, random partitions that heal,
// crashes with restarts (some losing the safety record, which restart in
// recovery), and in some runs Twins for one validator (two for n = 7). After
// the chaos period everything heals and every crashed instance restarts; the
// run then lasts 10·base + 2·cap (+ slack) so liveness is checked with at most
// f faulty validators (the Twins).
func RandomConfig(seed uint64) Config {
	r := rand.New(rand.NewPCG(seed, 0x51424e44))
	n := []int{4, 7}[r.IntN(2)]
	f := (n - 1) / 3
	c := Config{Seed: seed, N: n, Liveness: true}
	if r.IntN(3) > 0 {
		c.DropRate = r.Float64() * 0.08
	}
	if r.IntN(2) == 0 {
		c.DupRate = r.Float64() * 0.05
	}
	c.MaxDelayMs = 5 + r.Uint64N(30)
	c.JitterMs = r.Uint64N(20)
	if r.IntN(10) < 3 {
		k := 1 + r.IntN(f)
		for len(c.Twins) < k {
			v := r.IntN(n)
			dup := false
			for _, t := range c.Twins {
				dup = dup || t == v
			}
			if !dup {
				c.Twins = append(c.Twins, v)
			}
		}
	}
	insts := n + len(c.Twins)
	c = c.withDefaults()
	chaos := 2000 + r.Uint64N(4000)
	var kinds []string
	for t := uint64(100 + r.Uint64N(400)); t < chaos; t += 200 + r.Uint64N(1200) {
		switch r.IntN(3) {
		case 0: // partition into two random groups
			var a, b []int
			for i := range insts {
				if r.IntN(2) == 0 {
					a = append(a, i)
				} else {
					b = append(b, i)
				}
			}
			heal := t + 300 + r.Uint64N(2000)
			c.Script = append(c.Script, Step{At: t, Do: func(s *Sim) { s.Partition(a, b) }},
				Step{At: min(heal, chaos), Do: func(s *Sim) { s.Heal() }})
			kinds = append(kinds, fmt.Sprintf("part@%d", t))
		case 1: // crash, restart later (20 %: with a lost safety record)
			inst := r.IntN(insts)
			back := t + 200 + r.Uint64N(3000)
			wipe := r.IntN(5) == 0
			c.Script = append(c.Script, Step{At: t, Do: func(s *Sim) { s.Crash(inst) }},
				Step{At: min(back, chaos), Do: func(s *Sim) { s.Restart(inst, wipe) }})
			kinds = append(kinds, fmt.Sprintf("crash%d@%d(wipe=%v)", inst, t, wipe))
		case 2: // a burst of loss on top of the base rate is modelled by a short full partition of one node
			inst := r.IntN(insts)
			var rest []int
			for i := range insts {
				if i != inst {
					rest = append(rest, i)
				}
			}
			c.Script = append(c.Script, Step{At: t, Do: func(s *Sim) { s.Partition(rest) }},
				Step{At: min(t+100+r.Uint64N(800), chaos), Do: func(s *Sim) { s.Heal() }})
			kinds = append(kinds, fmt.Sprintf("isolate%d@%d", inst, t))
		}
	}
	c.Script = append(c.Script, Step{At: chaos, Do: func(s *Sim) {
		s.Heal()
		for i := range s.Nodes {
			s.Restart(i, false)
		}
	}})
	c.LastHealMs = chaos
	c.DurationMs = chaos + 10*c.BaseTimeoutMs + 2*c.MaxTimeoutMs + 200
	c.Name = fmt.Sprint(kinds)
	return c
}
