package sim

import "testing"

func TestSmoke(t *testing.T) {
	s, err := New(Config{Seed: 1, N: 4, DurationMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run()
	t.Logf("stats %+v", s.Stats)
	for _, nd := range s.Nodes {
		t.Logf("inst %d view %d committed %d counters %+v", nd.Inst, nd.Core.View(), nd.CommittedHeight(), nd.Core.Counters)
	}
	if err != nil {
		t.Fatal(err)
	}
}
