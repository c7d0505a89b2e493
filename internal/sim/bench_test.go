package sim

import (
	"testing"
	"time"
)

// TestNumbers prints the simulator's figures for the notes: simulated events
// per second, and the commit latency (proposal broadcast → first honest
// commit) in mean one-way message delays, fault-free and with one crash.
func TestNumbers(t *testing.T) {
	for _, c := range []Config{
		{Seed: 1, N: 4, DurationMs: 20000, MinDelayMs: 10, MaxDelayMs: 10, App: &SimpleApp{IntervalMs: 1}, Name: "n=4 fixed 10ms, busy"},
		{Seed: 1, N: 4, DurationMs: 20000, MinDelayMs: 10, MaxDelayMs: 10, JitterMs: 0, Name: "n=4 fixed 10ms"},
		{Seed: 1, N: 7, DurationMs: 20000, MinDelayMs: 10, MaxDelayMs: 10, JitterMs: 0, Name: "n=7 fixed 10ms"},
		{Seed: 1, N: 7, DurationMs: 20000, Name: "n=7 2–20ms+jitter"},
		{Seed: 1, N: 4, DurationMs: 20000, Crashed: []int{3}, Name: "n=4, validator 3 crashed"},
	} {
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		if err := s.Run(); err != nil {
			t.Fatalf("%s: %v", c.Name, err)
		}
		el := time.Since(start)
		lat := float64(s.Stats.CommitLatencySum) / float64(max(1, s.Stats.CommitLatencyN))
		t.Logf("%-26s %6d events in %6.1fms (%7.0f events/s), height %d, commit latency %.1f ms = %.1f message delays (mean delay %.1f ms)",
			c.Name, s.Stats.Events, float64(el.Microseconds())/1000, float64(s.Stats.Events)/el.Seconds(),
			s.Stats.HeightAtEnd, lat, lat/s.Stats.MeanDelayMs, s.Stats.MeanDelayMs)
		if s.Stats.HeightAtEnd < 10 {
			t.Errorf("%s: height %d", c.Name, s.Stats.HeightAtEnd)
		}
	}
}

func BenchmarkRandomSeed(b *testing.B) {
	var events uint64
	for i := 0; b.Loop(); i++ {
		s, err := New(RandomConfig(uint64(i%50) + 1))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Run(); err != nil {
			b.Fatal(err)
		}
		events += s.Stats.Events
	}
	b.ReportMetric(float64(events)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(b.N)/b.Elapsed().Minutes(), "seeds/min")
}
