package sim

import (
	"strings"
	"testing"

	"github.com/qbind/qbind/consensus"
	"github.com/qbind/qbind/consensus/safety"
	"github.com/qbind/qbind/types"
)

// run builds and runs a directed scenario, failing with the replay line.
func run(t *testing.T, cfg Config) (*Sim, error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	err = s.Run()
	t.Logf("%s: heights heal=%d end=%d, %d events, evidence %d", cfg.Describe(), s.Stats.HeightAtHeal, s.Stats.HeightAtEnd, s.Stats.Events, s.Check.Evidence())
	return s, err
}

func mustRun(t *testing.T, cfg Config) *Sim {
	t.Helper()
	s, err := run(t, cfg)
	if err != nil {
		t.Fatalf("%v\n  replay: go test ./internal/sim -run '^%s$' -v (seed %d)", err, t.Name(), cfg.Seed)
	}
	return s
}

func minHonestHeight(s *Sim) uint64 {
	m := ^uint64(0)
	for _, nd := range s.Nodes {
		if nd.Honest && nd.Up {
			m = min(m, nd.CommittedHeight())
		}
	}
	return m
}

func TestCrashedValidators(t *testing.T) {
	for _, tc := range []struct {
		n       int
		crashed []int
	}{{4, []int{3}}, {7, nil}, {7, []int{0, 3}}} {
		s := mustRun(t, Config{Seed: 11, N: tc.n, Crashed: tc.crashed, DurationMs: 8000, DropRate: 0.01})
		if h := minHonestHeight(s); h < 8 {
			t.Errorf("n=%d crashed=%v: committed height %d < 8", tc.n, tc.crashed, h)
		}
	}
}

// carriesTC reports whether a message carries a TC.
func carriesTC(msg consensus.Message) bool {
	switch m := msg.(type) {
	case *types.Proposal:
		return m.LastTC != nil || m.Sync.HighTC != nil
	case *types.Timeout:
		return m.LastTC != nil
	case *types.Vote:
		return m.Sync.HighTC != nil
	case *types.SyncInfo:
		return m.HighTC != nil
	}
	return false
}

func TestByzantineLeaderTCToOneNode(t *testing.T) {
	// Validator 0 proposes only to validator 1 and sends any TC it holds
	// only to validator 1: honest nodes must converge through their own
	// timeouts and SyncInfo, and commit.
	cfg := Config{Seed: 5, N: 4, DurationMs: 10000, Byzantine: map[int]Filter{
		0: func(s *Sim, from *Node, to uint16, msg consensus.Message) (consensus.Message, bool) {
			_, isProp := msg.(*types.Proposal)
			if to != 1 && (isProp || carriesTC(msg)) {
				return nil, false
			}
			return msg, true
		}}}
	s := mustRun(t, cfg)
	tcs := uint64(0)
	for _, nd := range s.Nodes {
		tcs += nd.Core.Counters.TCsFormed
		if nd.Honest && nd.CommittedHeight() < 15 {
			t.Errorf("honest validator %d committed only %d", nd.Val, nd.CommittedHeight())
		}
	}
	if tcs == 0 {
		t.Error("scenario formed no TC")
	}
}

func TestPartitionAcrossViewChangeThenHeal(t *testing.T) {
	cfg := Config{Seed: 3, N: 4, Liveness: true}.withDefaults()
	cfg.Script = []Step{
		{At: 1000, Do: func(s *Sim) { s.Partition([]int{0, 1}, []int{2, 3}) }},
		{At: 4000, Do: func(s *Sim) { s.Heal() }},
	}
	cfg.LastHealMs = 4000
	cfg.DurationMs = 4000 + 10*cfg.BaseTimeoutMs + 2*cfg.MaxTimeoutMs
	var atCut uint64
	cfg.Script = append(cfg.Script, Step{At: 1300, Do: func(s *Sim) { atCut = s.Check.maxHonestHeight() }})
	s := mustRun(t, cfg)
	if s.Stats.HeightAtHeal > atCut+1 {
		t.Errorf("commits during a partition without a quorum side: %d → %d", atCut, s.Stats.HeightAtHeal)
	}
	tcs := uint64(0)
	for _, nd := range s.Nodes {
		tcs += nd.Core.Counters.ViewsByTC
	}
	if tcs == 0 {
		t.Error("no view change by TC")
	}
}

func TestLeaderRestartMidViewDoesNotReproposeInView(t *testing.T) {
	cfg := Config{Seed: 9, N: 4, DurationMs: 5000}
	var victim = -1
	var view uint64
	cfg.Script = []Step{{At: 1500, Do: func(s *Sim) {
		for _, nd := range s.Nodes {
			v := nd.Core.View()
			if sp := nd.Rules.StoredProposal(); sp != nil && sp.View == v && s.vs.Leader(v) == nd.Val {
				victim, view = nd.Inst, v
				s.Crash(nd.Inst)
				s.Restart(nd.Inst, false)
				return
			}
		}
	}}}
	s := mustRun(t, cfg)
	if victim < 0 {
		t.Fatal("no leader found mid-view at t=1500")
	}
	nd := s.Nodes[victim]
	// the restarted core retried and was refused (S4 / V0), and the checker saw no second proposal
	refused := nd.Rules.Counters.RefusedProposals + nd.Rules.Counters.RefusedV0
	t.Logf("victim %d in view %d: rules counters %+v", victim, view, nd.Rules.Counters)
	if sp := nd.Rules.StoredProposal(); sp == nil || sp.View < view {
		t.Fatal("stored proposal lost across restart")
	}
	_ = refused
}

// equivocator makes instance inst, leader of some views, send a second
// proposal (timestamp + 1) to the instances in half B, and both to one
// instance of half A, so evidence is produced.
func equivocator(halfB map[uint16]bool, alsoBoth uint16) Filter {
	forged := map[uint64]*types.Proposal{}
	return func(s *Sim, from *Node, to uint16, msg consensus.Message) (consensus.Message, bool) {
		p, ok := msg.(*types.Proposal)
		if !ok || p.Header.Proposer != from.Val {
			return msg, true
		}
		f := forged[p.Header.View]
		if f == nil {
			h := p.Header
			h.TimestampMs++
			f = s.ForgeProposal(int(from.Val), h, p.Justify, p.LastTC, p.Sync)
			f.Payload = p.Payload
			forged[p.Header.View] = f
		}
		if to == alsoBoth {
			for _, peer := range s.byVal[to] {
				s.Inject(from.Inst, peer.Inst, f)
			}
		}
		if halfB[to] {
			return f, true
		}
		return msg, true
	}
}

func TestLeaderEquivocatesToTwoHalves(t *testing.T) {
	for _, n := range []int{4, 7} {
		halfB := map[uint16]bool{}
		for i := n/2 + 1; i < n; i++ {
			halfB[uint16(i)] = true
		}
		cfg := Config{Seed: 21, N: n, DurationMs: 6000, Byzantine: map[int]Filter{1: equivocator(halfB, 0)}}
		s := mustRun(t, cfg)
		if s.Check.Evidence() == 0 {
			t.Errorf("n=%d: no equivocation evidence", n)
		}
		if h := minHonestHeight(s); h < 10 {
			t.Errorf("n=%d: committed height %d", n, h)
		}
		ev := s.Nodes[0].Core.Evidence()
		if len(ev) == 0 || ev[0].Kind != consensus.EvidenceProposal || ev[0].Validator != 1 {
			t.Errorf("n=%d: evidence kept by validator 0: %+v", n, ev)
		}
	}
}

// ---- the simulator catches injected bugs --------------------------------------

// lockScenario: n = 4. Views 1–3 certify B1 ← B2 ← B3; the votes of view 3
// reach only validator 0 (leader of view 4), which forms QC(B3), commits B1
// and is then cut off. The others, locked on B1, time out views 3 and 4; Byzantine validator 1, leader of view 5, proposes B1' on G with
// QC(G) and TC(4) (whose max high QC is QC(B2)) and votes for it. Correct
// replicas refuse it (V4's TC clause / S2's lock); with the lock check
// skipped they certify B1' and commit it at height 1: conflicting commits.
func lockScenario(faults consensus.Faults) Config {
	var forged *types.Proposal
	return Config{Seed: 1, N: 4, DurationMs: 6000, CoreFaults: faults, MinDelayMs: 5, MaxDelayMs: 5, JitterMs: 0,
		Drop: func(s *Sim, from, to int, msg any) bool {
			if v, ok := msg.(*types.Vote); ok && v.View == 3 && to != 0 {
				return true // only validator 0 learns QC(B3)
			}
			return (from == 0 || to == 0) && s.Nodes[0].Core.View() >= 4
		},
		Byzantine: map[int]Filter{1: func(s *Sim, from *Node, to uint16, msg consensus.Message) (consensus.Message, bool) {
			switch m := msg.(type) {
			case *types.Proposal:
				if m.Header.View == 5 && m.Header.Proposer == 1 {
					if forged == nil {
						g := s.Genesis()
						h := types.BlockHeader{Version: types.BlockVersion, ChainID: g.ChainID, View: 5, Height: 1, ParentID: g.ID(),
							Proposer: 1, TimestampMs: m.Header.TimestampMs, BatchCommitment: types.BatchCommitment(simNetwork, nil),
							ExecDigest: g.ExecDigest}
						forged = s.ForgeProposal(1, h, types.GenesisQC(g.ID()), m.LastTC, m.Sync)
					}
					return forged, true
				}
			case *types.Vote:
				if m.View == 5 && m.Voter == 1 && forged != nil {
					return s.ForgeVote(1, 5, forged.Header.ID(), m.Sync), true
				}
			}
			return msg, true
		}},
	}
}

func TestBugSkipLockCheckIsCaught(t *testing.T) {
	if _, err := run(t, lockScenario(consensus.Faults{})); err != nil {
		t.Fatalf("correct core violates safety in the lock scenario: %v", err)
	}
	_, err := run(t, lockScenario(consensus.Faults{SkipLockCheck: true}))
	if err == nil || !strings.Contains(err.Error(), "safety violation") {
		t.Fatalf("skipping the lock check was not caught: %v", err)
	}
	t.Logf("caught: %v", err)
}

func TestBugCommitNonConsecutiveIsCaught(t *testing.T) {
	// validator 3 crashed: every fourth view times out, so 3-chains with a
	// view gap appear; a core that commits on them breaks the commit-proof
	// invariant (a commit not covered by B1 ← B2 ← B3 with consecutive views).
	cfg := Config{Seed: 11, N: 4, Crashed: []int{3}, DurationMs: 6000}
	if _, err := run(t, cfg); err != nil {
		t.Fatalf("correct core: %v", err)
	}
	cfg.CoreFaults = consensus.Faults{CommitNonConsecutive: true}
	_, err := run(t, cfg)
	if err == nil || !strings.Contains(err.Error(), "safety violation") {
		t.Fatalf("non-consecutive commit was not caught: %v", err)
	}
	t.Logf("caught: %v", err)
}

// forgetScenario: n = 4; Byzantine validator 1, leader of view 5, sends its
// proposal P to validator 2 only; validator 2 votes, crashes and restarts;
// then validator 1 sends a conflicting P' to validator 2. A correct safety
// record refuses (last_voted_view, V0); a record that forgot the last voted
// view signs a second vote in view 5.
func forgetScenario(f safety.Faults) Config {
	sent := false
	return Config{Seed: 2, N: 4, DurationMs: 4000, SafetyFaults: f, MinDelayMs: 5, MaxDelayMs: 5,
		Byzantine: map[int]Filter{1: func(s *Sim, from *Node, to uint16, msg consensus.Message) (consensus.Message, bool) {
			p, ok := msg.(*types.Proposal)
			if !ok || p.Header.View != 5 || p.Header.Proposer != 1 {
				return msg, true
			}
			if to != 2 {
				return nil, false
			}
			if !sent {
				sent = true
				h := p.Header
				h.TimestampMs++
				p2 := s.ForgeProposal(1, h, p.Justify, p.LastTC, p.Sync)
				p2.Payload = p.Payload
				s.At(s.Now()+30, func(s *Sim) { s.Crash(2); s.Restart(2, false); s.Inject(from.Inst, 2, p2) })
			}
			return msg, true
		}},
	}
}

func TestBugForgetLastVotedIsCaught(t *testing.T) {
	if _, err := run(t, forgetScenario(safety.Faults{})); err != nil {
		t.Fatalf("correct safety rules: %v", err)
	}
	_, err := run(t, forgetScenario(safety.Faults{ForgetLastVoted: true}))
	if err == nil || !strings.Contains(err.Error(), "signed two votes") {
		t.Fatalf("forgetting the last voted view was not caught: %v", err)
	}
	t.Logf("caught: %v", err)
}
