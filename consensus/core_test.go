package consensus

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/qbind/qbind/consensus/safety"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

func TestGenesisStart(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	if f.c.View() != 1 || f.c.HighQC().View != 0 || f.c.HighQC().BlockID != f.gid || f.c.CommittedHeight() != 0 {
		t.Fatalf("start state: view %d high %d", f.c.View(), f.c.HighQC().View)
	}
	if err := f.ver.VerifyQC(&f.gqc); err != nil {
		t.Fatal("QC(G) must verify:", err)
	}
	if st, ok := find[SetTimer](f.acts); !ok || st.AtMs != f.now+DefaultBaseTimeoutMs {
		t.Fatalf("timer of view 1: %+v", f.acts)
	}
	for v, want := range map[uint64]uint16{1: 1, 4: 0, 7: 3} {
		if f.vs.Leader(v) != want {
			t.Errorf("leader(%d) = %d", v, f.vs.Leader(v))
		}
	}
}

// validProposal is B1: view 1, leader 1, extends G with QC(G).
func (f *fixture) validProposal() *types.Proposal { return f.block(&f.g, 1, f.gqc, nil) }

func TestValidProposalGetsVote(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	p := f.validProposal()
	f.step(RecvProposal{From: 1, Proposal: p})
	v := f.sentVote()
	if v == nil || v.View != 1 || v.BlockID != p.Header.ID() {
		t.Fatalf("no vote: %+v", f.acts)
	}
	if s, _ := find[Send](f.acts); s.To != 2 {
		t.Fatalf("vote must go to leader(view+1) = 2, went to %d", s.To)
	}
	if _, ok := find[PersistBlock](f.acts); !ok {
		t.Fatal("block not persisted")
	}
	if err := f.ver.VerifyVote(v); err != nil {
		t.Fatal(err)
	}
}

func TestBlockValidityRejects(t *testing.T) {
	type tc struct {
		name    string
		mut     func(f *fixture, p *types.Proposal) *types.Proposal
		counter func(c *Counters) uint64
		cfg     func(*Config)
	}
	resign := func(f *fixture, p *types.Proposal) *types.Proposal { return f.sign(p) }
	cases := []tc{
		{"V1 parent is not the justify QC's block", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.ParentID = types.BlockID{7}
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV1 }, nil},
		{"V1 justify_view differs from the QC's view", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Justify = f.qc(0, f.gid) // same block, but header claims view 0 … make the header lie instead
			p.Header.JustifyView = 1
			p.Header.View = 5
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV1 + c.RejectV3 + c.DropFutureProposal }, nil},
		{"V2 height", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.Height = 2
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV2 }, nil},
		{"V2 chain id", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.ChainID = crypto.MainNet.ChainID()
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV2 }, nil},
		{"V2 version", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.Version = 9
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV2 }, nil},
		{"V3 proposer is not the leader", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.Proposer = 2
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV3 }, nil},
		{"V5 timestamp not after the parent's", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.TimestampMs = f.g.TimestampMs
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV5 }, nil},
		{"V5 timestamp beyond local + 2000", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.TimestampMs = f.now + 2001
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV5 }, nil},
		{"V6 exec digest", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.ExecDigest = crypto.Hash{9}
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.StateDigestMismatch }, nil},
		{"V6 exec height", func(f *fixture, p *types.Proposal) *types.Proposal {
			p.Header.ExecHeight = 1
			return resign(f, p)
		}, func(c *Counters) uint64 { return c.RejectV6 }, nil},
		{"V7 payload", func(f *fixture, p *types.Proposal) *types.Proposal { return p },
			func(c *Counters) uint64 { return c.RejectV7 }, func(c *Config) { c.Validator = badPayload{} }},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t, 4, 3, c.cfg)
			p := c.mut(f, f.validProposal())
			f.step(RecvProposal{From: 1, Proposal: p})
			if v := f.sentVote(); v != nil {
				t.Fatalf("voted for an invalid block")
			}
			if c.counter(&f.c.Counters) == 0 {
				t.Fatalf("rejection not counted: %+v", f.c.Counters)
			}
		})
	}
}

func TestV4(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	b1 := f.validProposal()
	f.step(RecvProposal{From: 1, Proposal: b1})
	q1 := f.qc(1, b1.Header.ID())
	// TC(2) whose signers' max high QC is QC(B1); the core enters view 3
	f.step(RecvSync{From: 0, Sync: types.SyncInfo{HighQC: q1, HighTC: f.tc(2, q1)}})
	if f.c.View() != 3 {
		t.Fatalf("view %d", f.c.View())
	}
	// view 3 = justify_view + 2 without a TC
	p := f.block(&f.g, 3, f.gqc, nil)
	f.step(RecvProposal{From: 3, Proposal: p})
	if f.sentVote() != nil || f.c.Counters.RejectV4 != 1 {
		t.Fatal("V4 without TC")
	}
	// with TC(2) but justify_view 0 < the TC's max high QC view 1
	p = f.block(&f.g, 3, f.gqc, f.tc(2, q1))
	p.Header.TimestampMs++
	f.sign(p)
	f.step(RecvProposal{From: 3, Proposal: p})
	if f.sentVote() != nil || f.c.Counters.RejectV4 != 2 {
		t.Fatal("V4 with a TC covering a higher QC")
	}
	// with TC(2) and justify = QC(B1): valid
	p = f.block(&b1.Header, 3, q1, f.tc(2, q1))
	f.step(RecvProposal{From: 3, Proposal: p})
	if f.sentVote() == nil {
		t.Fatalf("valid TC proposal not voted: %+v", f.c.Counters)
	}
}

func TestV6MismatchThenQCHalts(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	p := f.validProposal()
	p.Header.ExecDigest = crypto.Hash{9}
	f.sign(p)
	f.step(RecvProposal{From: 1, Proposal: p})
	f.step(RecvSync{From: 2, Sync: types.SyncInfo{HighQC: f.qc(1, p.Header.ID())}})
	h, ok := find[Halt](f.acts)
	if !ok || !strings.Contains(h.Reason, "state divergence at height 0") {
		t.Fatalf("no halt: %+v", f.acts)
	}
	if f.step(Tick{NowMs: f.now + 5000}) != nil {
		t.Fatal("a halted core acts")
	}
}

func TestVoteWaitsForExecution(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	// chain B1(1) ← B2(2) ← B3(3): C(B3) = 0, B4 extends B3 with exec height C(B3)... build to height 4
	b1 := f.validProposal()
	b2 := f.block(&b1.Header, 2, f.qc(1, b1.Header.ID()), nil)
	b3 := f.block(&b2.Header, 3, f.qc(2, b2.Header.ID()), nil)
	b4 := f.block(&b3.Header, 4, f.qc(3, b3.Header.ID()), nil)
	for _, p := range []*types.Proposal{b1, b2, b3, b4} {
		f.step(RecvProposal{From: p.Header.Proposer, Proposal: p})
	}
	if eh, _ := f.c.ExecHeightFor(b4.Header.ID()); eh != 1 {
		t.Fatalf("exec_height(child of B4) = C(B4) = %d, want 1", eh)
	}
	d := crypto.Hash{0xd1}
	b5 := f.block(&b4.Header, 5, f.qc(4, b4.Header.ID()), nil)
	b5.Header.ExecHeight, b5.Header.ExecDigest = 1, d
	f.sign(b5)
	f.step(RecvProposal{From: 1, Proposal: b5})
	if f.sentVote() != nil || f.c.Counters.VoteWaitExec == 0 {
		t.Fatal("voted before executing height 1")
	}
	f.step(Executed{Height: 1, Digest: d})
	if v := f.sentVote(); v == nil || v.View != 5 {
		t.Fatalf("no vote after execution: %+v", f.acts)
	}
}

func TestExecHeightIsC(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	b1 := f.validProposal()                                                                 // h1 v1
	b2 := f.block(&b1.Header, 2, f.qc(1, b1.Header.ID()), nil)                              // h2 v2
	b3 := f.block(&b2.Header, 4, f.qc(2, b2.Header.ID()), f.tc(3, f.qc(2, b2.Header.ID()))) // h3 v4 (gap)
	b4 := f.block(&b3.Header, 5, f.qc(4, b3.Header.ID()), nil)                              // h4 v5
	for _, p := range []*types.Proposal{b1, b2, b3, b4} {
		f.step(RecvProposal{From: p.Header.Proposer, Proposal: p})
	}
	want := map[*types.Proposal]uint64{b1: 0, b2: 0, b3: 0, b4: 0}
	// C(B4) = max(C(B3), 4−3) only if B3, B2, B1 have consecutive views: 4, 2, 1 → no
	for p, w := range want {
		if got, _ := f.c.ExecHeightFor(p.Header.ID()); got != w {
			t.Errorf("C(h%d) = %d, want %d", p.Header.Height, got, w)
		}
	}
}

func TestCommitConsecutive(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	b1 := f.validProposal()
	b2 := f.block(&b1.Header, 2, f.qc(1, b1.Header.ID()), nil)
	b3 := f.block(&b2.Header, 3, f.qc(2, b2.Header.ID()), nil)
	for _, p := range []*types.Proposal{b1, b2, b3} {
		f.step(RecvProposal{From: p.Header.Proposer, Proposal: p})
		if _, ok := find[Commit](f.acts); ok {
			t.Fatal("committed before QC(B3)")
		}
	}
	q3 := f.qc(3, b3.Header.ID())
	f.step(RecvSync{From: 0, Sync: types.SyncInfo{HighQC: q3}})
	c, ok := find[Commit](f.acts)
	if !ok || len(c.Blocks) != 1 || c.Blocks[0] != b1 {
		t.Fatalf("commit of B1: %+v", f.acts)
	}
	if c.Proof.Headers[0].ID() != b1.Header.ID() || c.Proof.Headers[2].ID() != b3.Header.ID() || c.Proof.QC.BlockID != b3.Header.ID() {
		t.Fatal("commit proof")
	}
	if err := f.ver.VerifyQC(&c.Proof.QC); err != nil {
		t.Fatal(err)
	}
	if f.c.CommittedHeight() != 1 || f.rules.LockedQC().View != 2 {
		t.Fatalf("committed %d lock %d", f.c.CommittedHeight(), f.rules.LockedQC().View)
	}
}

func TestNoCommitWithoutConsecutiveViews(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	b1 := f.validProposal()
	q1 := f.qc(1, b1.Header.ID())
	b2 := f.block(&b1.Header, 3, q1, f.tc(2, q1)) // view gap 1 → 3
	b3 := f.block(&b2.Header, 4, f.qc(3, b2.Header.ID()), nil)
	for _, p := range []*types.Proposal{b1, b2, b3} {
		f.step(RecvProposal{From: p.Header.Proposer, Proposal: p})
	}
	f.step(RecvSync{From: 0, Sync: types.SyncInfo{HighQC: f.qc(4, b3.Header.ID())}})
	if _, ok := find[Commit](f.acts); ok {
		t.Fatal("committed B1 on a 3-chain with a view gap")
	}
	b4 := f.block(&b3.Header, 5, f.qc(4, b3.Header.ID()), nil)
	f.step(RecvProposal{From: 1, Proposal: b4})
	f.step(RecvSync{From: 0, Sync: types.SyncInfo{HighQC: f.qc(5, b4.Header.ID())}})
	c, ok := find[Commit](f.acts)
	if !ok || len(c.Blocks) != 2 || c.Blocks[0] != b1 || c.Blocks[1] != b2 {
		t.Fatalf("B2 (consecutive 3, 4, 5) must commit with its ancestor B1 in height order: %+v", f.acts)
	}
}

func TestTCFormationAndValidation(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	b1 := f.validProposal()
	f.step(RecvProposal{From: 1, Proposal: b1})
	q1 := f.qc(1, b1.Header.ID())
	f.step(RecvSync{From: 1, Sync: types.SyncInfo{HighQC: q1}})
	if f.c.View() != 2 {
		t.Fatal("QC(1) must move to view 2")
	}
	f.step(RecvTimeout{From: 0, Timeout: f.timeout(0, 2, f.gqc)})
	f.step(RecvTimeout{From: 1, Timeout: f.timeout(1, 2, q1)})
	if f.c.View() != 2 {
		t.Fatal("TC from 2 of 4")
	}
	f.step(RecvTimeout{From: 2, Timeout: f.timeout(2, 2, f.gqc)})
	if f.c.View() != 3 || f.c.Counters.TCsFormed != 1 {
		t.Fatalf("no TC: view %d", f.c.View())
	}
	tc := f.c.HighTC()
	if tc.View != 2 || tc.HighQC.View != 1 || tc.MaxHighQCView() != 1 || len(tc.HighQCViews) != 3 {
		t.Fatalf("TC %+v", tc)
	}
	if err := f.ver.VerifyTC(tc); err != nil {
		t.Fatal("core-built TC does not verify:", err)
	}
	bad := *tc
	bad.HighQC = f.gqc
	if err := f.ver.VerifyTC(&bad); err == nil {
		t.Fatal("a TC not carrying the max QC verified")
	}
	// leader of view 3 is validator 3: it proposes with the TC and justify = QC(B1)
	f.step(Tick{NowMs: f.now + DefaultMaxBlockIntervalMs})
	p, ok := broadcastOf[*types.Proposal](f.acts)
	if !ok || p.LastTC == nil || p.LastTC.View != 2 || p.Header.JustifyView != 1 || p.Header.ParentID != b1.Header.ID() {
		t.Fatalf("proposal after TC: %+v", f.acts)
	}
	if err := f.ver.VerifyProposal(p); err != nil {
		t.Fatal(err)
	}
}

func TestJoinHigherViewOnOneThird(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	f.step(RecvTimeout{From: 0, Timeout: f.timeout(0, 7, f.gqc)})
	if f.c.View() != 1 {
		t.Fatal("joined on 1/4 of power")
	}
	f.step(RecvTimeout{From: 1, Timeout: f.timeout(1, 7, f.gqc)})
	to, ok := broadcastOf[*types.Timeout](f.acts)
	if !ok || to.View != 7 || f.c.Counters.ViewsByJoin != 1 {
		t.Fatal("did not join view 7 and time out in it on 2/4 power")
	}
	// its own timeout completes TC(7) (3 of 4)
	if f.c.View() != 8 || f.c.HighTC().View != 7 {
		t.Fatalf("view %d", f.c.View())
	}
}

func TestTimerBackoffAndRetransmission(t *testing.T) {
	f := newFixture(t, 4, 3, func(c *Config) { c.BaseTimeoutMs, c.MaxTimeoutMs = 1000, 4000; c.MaxBlockIntervalMs = 100 })
	b1 := f.validProposal()
	f.step(RecvProposal{From: 1, Proposal: b1})
	myVote := f.sentVote()
	now := f.now
	var firstTimeout *types.Timeout
	for i, want := range []uint64{1000, 1000, 1000} {
		now += want
		f.step(Tick{NowMs: now})
		to, ok := broadcastOf[*types.Timeout](f.acts)
		if !ok || to.View != 1 {
			t.Fatalf("expiry %d: no timeout", i)
		}
		if firstTimeout == nil {
			firstTimeout = to
		} else if &to.Signature[0] != &firstTimeout.Signature[0] {
			t.Fatal("retransmission is not the stored timeout")
		}
		v, ok := broadcastOf[*types.Vote](f.acts)
		if !ok || string(v.Signature) != string(myVote.Signature) {
			t.Fatal("vote of the view not rebroadcast with the timeout")
		}
	}
	// consecutive TCs without QC: 1000 → 2000 → 4000 → 4000 (cap)
	view := f.c.View()
	for _, want := range []uint64{2000, 4000, 4000} {
		for i := range 3 {
			f.step(RecvTimeout{From: uint16(i), Timeout: f.timeout(i, view, f.gqc)})
		}
		if f.c.View() != view+1 {
			t.Fatal("no TC")
		}
		view++
		if got := f.c.TimerDuration(); got != want {
			t.Fatalf("timer(%d) = %d, want %d", view, got, want)
		}
	}
	// a QC resets k
	f.step(RecvSync{From: 0, Sync: types.SyncInfo{HighQC: f.qc(1, b1.Header.ID())}})
	q := f.qc(1, b1.Header.ID())
	_ = q
	b := f.block(&b1.Header, view, f.qc(1, b1.Header.ID()), f.tc(view-1, f.qc(1, b1.Header.ID())))
	f.step(RecvProposal{From: b.Header.Proposer, Proposal: b})
	f.step(RecvSync{From: 0, Sync: types.SyncInfo{HighQC: f.qc(view, b.Header.ID())}})
	if got := f.c.TimerDuration(); got != 1000 {
		t.Fatalf("timer after a QC = %d", got)
	}
}

func TestSyncInfoToLaggardOncePerView(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	f.step(RecvSync{From: 1, Sync: types.SyncInfo{HighQC: f.gqc, HighTC: f.tc(4, f.gqc)}})
	if f.c.View() != 5 {
		t.Fatal("TC(4)")
	}
	f.step(RecvTimeout{From: 0, Timeout: f.timeout(0, 2, f.gqc)})
	s, ok := find[Send](f.acts)
	if _, isSync := s.Msg.(*types.SyncInfo); !ok || !isSync || s.To != 0 {
		t.Fatalf("no SyncInfo to the laggard: %+v", f.acts)
	}
	f.step(RecvTimeout{From: 0, Timeout: f.timeout(0, 3, f.gqc)})
	if _, ok := find[Send](f.acts); ok || f.c.Counters.SyncAnswersSuppressed != 1 {
		t.Fatal("answered twice in one view")
	}
}

func TestBoundsAndEquivocation(t *testing.T) {
	f := newFixture(t, 4, 3, func(c *Config) { c.MaxPendingBlocks = 2 })
	f.step(RecvVote{From: 0, Vote: f.vote(0, 1+DefaultMaxFutureViews+1, types.BlockID{1})})
	f.step(RecvTimeout{From: 0, Timeout: f.timeout(0, 1+DefaultMaxFutureViews+1, f.gqc)})
	if f.c.Counters.DropFutureVote != 1 || f.c.Counters.DropFutureTimeout != 1 {
		t.Fatalf("future messages: %+v", f.c.Counters)
	}
	// orphans: parent unknown → parked, fetched, bounded
	parent := f.g
	parent.Height, parent.View = 5, 5
	for i := range 3 {
		q := f.qc(5, parent.ID())
		p := f.block(&parent, 6+uint64(i), q, nil)
		p.Header.TimestampMs += uint64(i)
		f.sign(p)
		f.step(RecvProposal{From: 0, Proposal: p})
		if i == 0 {
			if _, ok := find[FetchBlocks](f.acts); !ok {
				t.Fatal("no fetch for a missing parent")
			}
		}
	}
	if f.c.PendingBlocks() > 2 || f.c.Counters.PendingBlocksFull == 0 {
		t.Fatalf("pending %d full %d", f.c.PendingBlocks(), f.c.Counters.PendingBlocksFull)
	}
	// an equivocating leader: at most 4 uncertified blocks of one view are stored
	e := newFixture(t, 4, 2, nil)
	for i := range 6 {
		p := e.validProposal()
		p.Header.TimestampMs += uint64(i)
		e.step(RecvProposal{From: 1, Proposal: e.sign(p)})
	}
	if e.c.StoredBlocks() != 1+maxBlocksPerView || e.c.Counters.DropBlocksPerView != 2 || e.c.Counters.EquivocationProposal == 0 {
		t.Fatalf("stored %d, dropped %d, equivocations %d", e.c.StoredBlocks(), e.c.Counters.DropBlocksPerView, e.c.Counters.EquivocationProposal)
	}
	g := newFixture(t, 4, 2, nil)
	g.step(RecvVote{From: 0, Vote: g.vote(0, 1, types.BlockID{1})})
	g.step(RecvVote{From: 0, Vote: g.vote(0, 1, types.BlockID{2})})
	ev := g.c.Evidence()
	if len(ev) != 1 || ev[0].Kind != EvidenceVote || ev[0].Validator != 0 || g.c.Counters.EquivocationVote != 1 {
		t.Fatalf("evidence %+v", ev)
	}
}

func TestQCFromVotesOfAnySource(t *testing.T) {
	f := newFixture(t, 4, 3, nil) // not leader(2): still aggregates
	b1 := f.validProposal()
	f.step(RecvProposal{From: 1, Proposal: b1})
	for i := range 2 {
		f.step(RecvVote{From: uint16(i), Vote: f.vote(i, 1, b1.Header.ID())})
	}
	// own vote + 2 = quorum only if the core counts its own vote; it sent it to
	// leader 2, so a QC needs one more vote here
	f.step(RecvVote{From: 2, Vote: f.vote(2, 1, b1.Header.ID())})
	if f.c.View() != 2 || f.c.Counters.QCsFormed != 1 {
		t.Fatalf("no QC from votes: view %d", f.c.View())
	}
	if err := f.ver.VerifyQC(&types.QC{}); err == nil {
		t.Fatal("sanity")
	}
	hq := f.c.HighQC()
	if err := f.ver.VerifyQC(&hq); err != nil {
		t.Fatal("core-built QC does not verify:", err)
	}
}

func TestProposeWhen(t *testing.T) {
	// leader of view 1, no payload: waits max_block_interval
	f := newFixture(t, 4, 1, nil)
	if _, ok := broadcastOf[*types.Proposal](f.acts); ok {
		t.Fatal("proposed an empty block at once")
	}
	f.step(Tick{NowMs: f.now + DefaultMaxBlockIntervalMs - 1})
	if _, ok := broadcastOf[*types.Proposal](f.acts); ok {
		t.Fatal("proposed early")
	}
	f.step(Tick{NowMs: f.now + DefaultMaxBlockIntervalMs})
	p, ok := broadcastOf[*types.Proposal](f.acts)
	if !ok {
		t.Fatal("no proposal after max_block_interval")
	}
	h := p.Header
	if h.Height != 1 || h.ParentID != f.gid || h.JustifyView != 0 || h.ExecHeight != 0 || h.ExecDigest != f.g.ExecDigest ||
		h.TimestampMs != f.now+DefaultMaxBlockIntervalMs || h.Proposer != 1 || h.BatchCommitment != types.BatchCommitment(net, nil) {
		t.Fatalf("header %+v", h)
	}
	if err := f.ver.VerifyProposal(p); err != nil {
		t.Fatal(err)
	}
	// with an eligible certificate: at once
	g := newFixture(t, 4, 1, func(c *Config) { c.Payload = readyPayload{} })
	p, ok = broadcastOf[*types.Proposal](g.acts)
	if !ok || len(p.Payload) != 1 || p.Header.BatchCommitment != types.BatchCommitment(net, p.BatchIDs(net)) {
		t.Fatalf("no immediate proposal with a payload: %+v", g.acts)
	}
	// restarted mid-view: the same key does not propose a second block in view 1
	rules, err := safety.New(safety.Config{Network: net, Store: g.store, Signer: keySigner{testKeys[1]}, GenesisQC: g.gqc})
	if err != nil {
		t.Fatal(err)
	}
	c2, err := New(Config{Network: net, Validators: g.vs, Self: 1, Genesis: g.g, Safety: rules, Payload: readyPayload{}})
	if err != nil {
		t.Fatal(err)
	}
	acts := c2.Step(Start{NowMs: g.now + 10})
	acts = append(acts, c2.Step(Tick{NowMs: g.now + 1000})...)
	if _, ok := broadcastOf[*types.Proposal](acts); ok {
		t.Fatal("restarted leader proposed again in view 1")
	}
}

type readyPayload struct{}

func (readyPayload) Ready() bool { return true }
func (readyPayload) Build(*types.BlockHeader, uint64, uint64) []*types.BatchCertificate {
	return []*types.BatchCertificate{{Header: types.BatchHeader{Creator: 2, Seq: 1, TxCount: 1}}}
}

func TestConfigValidate(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	bad := Config{Network: net, Validators: f.vs, Self: 9, Genesis: f.g, Safety: f.rules}
	if _, err := New(bad); err == nil {
		t.Fatal("self outside the set")
	}
	bad.Self, bad.MaxBlockIntervalMs, bad.BaseTimeoutMs = 0, 2000, 1000
	if _, err := New(bad); err == nil {
		t.Fatal("max_block_interval ≥ base timeout")
	}
}

// pendingPayload answers ErrPayloadPending until ready is set: a warn/off
// coupling voter still fetching batch bodies.
type pendingPayload struct{ ready *bool }

func (p pendingPayload) ValidatePayload(*types.Proposal, *types.Proposal, Ancestry) error {
	if !*p.ready {
		return fmt.Errorf("2 of 3 bodies missing: %w", ErrPayloadPending)
	}
	return nil
}

// TestVoteHeldForPayloadBodies: a block whose V7 check waits for bodies gets
// no vote and no rejection; the vote is cast when PayloadAvailable reports
// that the bodies arrived, still in the same view.
func TestVoteHeldForPayloadBodies(t *testing.T) {
	ready := false
	f := newFixture(t, 4, 3, func(c *Config) { c.Validator = pendingPayload{&ready} })
	b1 := f.validProposal()
	f.step(RecvProposal{From: b1.Header.Proposer, Proposal: b1})
	if f.sentVote() != nil || f.c.Counters.RejectV7 != 0 || f.c.Counters.VoteWaitPayload == 0 {
		t.Fatalf("voted or rejected while bodies were missing: %+v", f.c.Counters)
	}
	f.step(PayloadAvailable{})
	if f.sentVote() != nil {
		t.Fatal("voted before the bodies arrived")
	}
	ready = true
	f.step(PayloadAvailable{})
	if v := f.sentVote(); v == nil || v.View != b1.Header.View || f.c.Counters.HeldVotesCast != 1 {
		t.Fatalf("no vote after the bodies arrived: %+v", f.acts)
	}
	f.step(PayloadAvailable{})
	if f.sentVote() != nil {
		t.Fatal("voted twice")
	}
}

// TestLateQCRearmsTimer: a replica that entered view v through TC(v−1) armed
// timer(v) with the backed-off k; when QC(v−1) arrives afterwards it resets k
// (§8.5: a view in which the replica obtained a QC is not a TC-only view), and
// the running timer is re-armed as if v had been entered through that QC at
// its arrival: now + base. Not kept at the backed-off duration (sim seed 4516:
// two honest replicas sat out a capped timeout after the QC that reset k), and
// not cut to entered + base, which for a QC arriving later than base after
// entry would time the view out at once and forfeit our vote in it.
func TestLateQCRearmsTimer(t *testing.T) {
	for _, late := range []uint64{20, 500} { // QC(4) before and after entered+base
		t.Run(fmt.Sprintf("late=%d", late), func(t *testing.T) {
			f := newFixture(t, 4, 3, func(c *Config) { c.BaseTimeoutMs, c.MaxTimeoutMs, c.MaxBlockIntervalMs = 200, 1600, 50 })
			for v := uint64(1); v <= 3; v++ {
				f.now += 5
				f.step(Tick{NowMs: f.now})
				f.step(RecvSync{From: 1, Sync: types.SyncInfo{HighQC: f.gqc, HighTC: f.tc(v, f.gqc)}})
			}
			b4 := f.block(&f.g, 4, f.gqc, f.tc(3, f.gqc))
			f.step(RecvProposal{From: b4.Header.Proposer, Proposal: b4})
			f.now += 5
			f.step(Tick{NowMs: f.now})
			f.step(RecvSync{From: 1, Sync: types.SyncInfo{HighQC: f.gqc, HighTC: f.tc(4, f.gqc)}})
			entered := f.now
			if f.c.View() != 5 || f.c.TimerDuration() != 1600 {
				t.Fatalf("view %d timer %d, want view 5 after four TCs with timer 1600", f.c.View(), f.c.TimerDuration())
			}
			if st, ok := find[SetTimer](f.acts); !ok || st.AtMs != entered+1600 {
				t.Fatalf("timer of view 5: %+v", f.acts)
			}
			f.now += late
			f.step(Tick{NowMs: f.now})
			if _, ok := broadcastOf[*types.Timeout](f.acts); ok {
				t.Fatalf("timed out view 5 before its backed-off timer: %+v", f.acts)
			}
			arrived := f.now
			f.step(RecvSync{From: 1, Sync: types.SyncInfo{HighQC: f.qc(4, b4.Header.ID())}})
			if f.c.View() != 5 || f.c.TimerDuration() != 200 {
				t.Fatalf("after QC(4): view %d timer %d, want view 5 with timer 200", f.c.View(), f.c.TimerDuration())
			}
			if st, ok := find[SetTimer](f.acts); !ok || st.AtMs != arrived+200 {
				t.Fatalf("QC(4) in view 5 did not re-arm the timer to arrival+base (%d): %+v", arrived+200, f.acts)
			}
			f.now = arrived + 199
			f.step(Tick{NowMs: f.now})
			if _, ok := broadcastOf[*types.Timeout](f.acts); ok {
				t.Fatalf("timed out view 5 before arrival+base: %+v", f.acts)
			}
			f.now = arrived + 200
			f.step(Tick{NowMs: f.now})
			if to, ok := broadcastOf[*types.Timeout](f.acts); !ok || to.View != 5 {
				t.Fatalf("no Timeout(5) at arrival+base: %+v", f.acts)
			}
		})
	}
}

// TestTCHandedToNextLeader: a replica that forms TC(v) sends it to
// leader(v+1), who cannot propose without it; a lost timeout on the
// leader's links would otherwise cost it a whole timer (sim seed 6854).
func TestTCHandedToNextLeader(t *testing.T) {
	f := newFixture(t, 4, 2, nil) // leader(2) = 2, leader(3) = 3
	b1 := f.validProposal()
	f.step(RecvProposal{From: 1, Proposal: b1})
	q1 := f.qc(1, b1.Header.ID())
	f.step(RecvSync{From: 1, Sync: types.SyncInfo{HighQC: q1}})
	f.step(RecvTimeout{From: 0, Timeout: f.timeout(0, 2, q1)})
	f.step(RecvTimeout{From: 1, Timeout: f.timeout(1, 2, q1)})
	if f.c.View() != 2 || f.c.Counters.TCsSentToLeader != 0 {
		t.Fatalf("view %d after 2 of 4 timeouts", f.c.View())
	}
	f.step(RecvTimeout{From: 3, Timeout: f.timeout(3, 2, q1)})
	if f.c.View() != 3 {
		t.Fatalf("no TC(2): view %d", f.c.View())
	}
	var sent *types.SyncInfo
	for _, a := range f.acts {
		if s, ok := a.(Send); ok && s.To == 3 {
			sent, _ = s.Msg.(*types.SyncInfo)
		}
	}
	if sent == nil || sent.HighTC == nil || sent.HighTC.View != 2 || f.c.Counters.TCsSentToLeader != 1 {
		t.Fatalf("TC(2) not sent to leader(3): %+v", f.acts)
	}
	if err := f.ver.VerifySyncInfo(sent); err != nil {
		t.Fatal(err)
	}
	// a TC that arrives (rather than forms here) is not forwarded
	f.step(RecvSync{From: 0, Sync: types.SyncInfo{HighQC: q1, HighTC: f.tc(3, q1)}})
	if f.c.View() != 4 || f.c.Counters.TCsSentToLeader != 1 {
		t.Fatalf("view %d, %d TCs sent", f.c.View(), f.c.Counters.TCsSentToLeader)
	}
}

// TestRestartResendsStoredTimeoutAbove: a key restarted with a record whose
// stored Timeout(5) names QC(1), while its consensus store lost QC(1) (and,
// here, so did every peer: the network sits in view 2 and needs this key's
// timeout). The core takes QC(1) back from the record (view 2) and, since S3
// refuses Timeout(2), resends the stored Timeout(5) at each expiry so peers
// can join view 5 on timeouts from more than 1/3 of power (sim seed 10764
// deadlocked without it).
func TestRestartResendsStoredTimeoutAbove(t *testing.T) {
	base := newFixture(t, 4, 2, nil)
	b1 := base.validProposal()
	q1 := base.qc(1, b1.Header.ID())
	sig, err := testKeys[2].SignDeterministic(types.TimeoutSigningBytes(net, 5, 1))
	if err != nil {
		t.Fatal(err)
	}
	rec := safety.NewRecord(base.gqc)
	rec.LastVotedView, rec.LastTimeoutView = 5, 5
	rec.Timeout = &safety.SignedTimeout{View: 5, HighQC: q1, Signature: sig}
	f := newFixtureStore(t, 4, 2, nil, func(types.QC) (*safety.MemStore, bool) { return safety.NewMemStore(rec), false })
	if f.c.View() != 2 || f.c.HighQC().View != 1 {
		t.Fatalf("after restart: view %d, high QC %d; want view 2 from the record's QC(1)", f.c.View(), f.c.HighQC().View)
	}
	for i := range 2 {
		f.now += f.c.TimerDuration()
		f.step(Tick{NowMs: f.now})
		to, ok := broadcastOf[*types.Timeout](f.acts)
		if !ok || to.View != 5 || to.HighQC.View != 1 || !bytes.Equal(to.Signature, sig) {
			t.Fatalf("expiry %d: stored Timeout(5) not resent: %+v", i+1, f.acts)
		}
		if err := f.ver.VerifyTimeout(to); err != nil {
			t.Fatal(err)
		}
	}
	if f.c.View() != 2 {
		t.Fatalf("our own resent timeout moved us to view %d", f.c.View())
	}
	// with one more peer at view 5 (2 of 4 > 1/3) we join it and time out there
	f.step(RecvTimeout{From: 0, Timeout: f.timeout(0, 5, q1)})
	if f.c.View() != 5 {
		t.Fatalf("did not join view 5: view %d", f.c.View())
	}
}
