package consensus

// Regression tests for the review findings on core.go (each fails on the
// code before the fix).

import (
	"errors"
	"testing"

	"github.com/qbind/qbind/consensus/safety"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// Finding 1: the digest of exec_height = C(parent) may lie far below the
// committed height (views broken by TCs keep C at 0); pruning it by the
// retention window alone left the leader unable to propose (and everyone
// unable to vote) forever.
func TestExecDigestKeptWhileNeeded(t *testing.T) {
	f := newFixture(t, 4, 0, nil)
	parent, pqc, view := f.g, f.gqc, uint64(1)
	var blocks []*types.Proposal
	// 70 blocks in views 1, 3, 5, … (a TC in between): C stays 0; then
	// three consecutive views, whose QC commits height 71.
	for i := range 73 {
		var tc *types.TC
		if view != pqc.View+1 {
			tc = f.tc(view-1, pqc)
		}
		b := f.block(&parent, view, pqc, tc)
		blocks = append(blocks, b)
		parent, pqc = b.Header, f.qc(view, b.Header.ID())
		if i < 70 {
			view += 2
		} else {
			view++
		}
	}
	for _, b := range blocks {
		f.step(RecvProposal{From: b.Header.Proposer, Proposal: b})
	}
	f.step(RecvSync{From: 1, Sync: types.SyncInfo{HighQC: pqc}})
	if f.c.CommittedHeight() != 71 {
		t.Fatalf("committed height %d, want 71", f.c.CommittedHeight())
	}
	for h := uint64(1); h <= f.c.CommittedHeight(); h++ {
		f.step(Executed{Height: h, Digest: crypto.Hash{byte(h)}})
	}
	eh, ok := f.c.ExecHeightFor(pqc.BlockID)
	if !ok || eh != 0 {
		t.Fatalf("exec_height of the next block = %d, %v; want 0", eh, ok)
	}
	if f.vs.Leader(f.c.View()) != f.self {
		t.Fatalf("fixture: self is not the leader of view %d", f.c.View())
	}
	for i := 1; i <= 3; i++ {
		f.step(Tick{NowMs: f.now + uint64(i)*300})
		if p, ok := broadcastOf[*types.Proposal](f.acts); ok {
			if p.Header.ExecHeight != 0 || p.Header.ExecDigest != f.g.ExecDigest {
				t.Fatalf("proposal names exec %d/%x", p.Header.ExecHeight, p.Header.ExecDigest)
			}
			return
		}
	}
	t.Fatalf("leader of view %d never proposes: digest of exec_height 0 pruned (committed %d)", f.c.View(), f.c.CommittedHeight())
}

func TestRetainBlocksAtLeast3(t *testing.T) {
	f := newFixture(t, 4, 0, nil)
	cfg := Config{Network: net, Validators: f.vs, Self: 0, Genesis: f.g, Safety: f.rules, RetainBlocks: 2}
	if _, err := New(cfg); !errors.Is(err, ErrConfig) {
		t.Fatalf("RetainBlocks 2 accepted: %v", err)
	}
	cfg.RetainBlocks = 3
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
}

// Finding 2: a vote held because a newer QC's block was missing (the lock
// is unknown) is cast once that block arrives.
func TestVoteRetriedAfterLockBlockArrives(t *testing.T) {
	f := newFixture(t, 4, 2, nil)
	a1 := f.validProposal()
	f.step(RecvProposal{From: 1, Proposal: a1})
	a2 := f.block(&a1.Header, 2, f.qc(1, a1.Header.ID()), nil)
	f.step(RecvSync{From: 0, Sync: types.SyncInfo{HighQC: f.qc(2, a2.Header.ID())}}) // a2 missing
	b := f.block(&a1.Header, 4, f.qc(1, a1.Header.ID()), f.tc(3, f.qc(1, a1.Header.ID())))
	f.step(RecvProposal{From: 0, Proposal: b})
	if f.c.View() != 4 || f.c.Counters.VoteWaitLock != 1 || f.sentVote() != nil {
		t.Fatalf("setup: view %d, wait-lock %d, vote %v", f.c.View(), f.c.Counters.VoteWaitLock, f.sentVote())
	}
	f.step(BlocksFetched{From: 0, Blocks: []*types.Proposal{a2}})
	v := f.sentVote()
	if v == nil || v.View != 4 || v.BlockID != b.Header.ID() {
		t.Fatalf("no vote for the view-4 block once the lock block arrived (vote %v, last voted %d)", v, f.rules.LastVotedView())
	}
	if f.c.Counters.HeldVotesCast != 1 {
		t.Fatalf("HeldVotesCast %d", f.c.Counters.HeldVotesCast)
	}
}

// Finding 3: a store/signer error while signing leaves the view free to
// retry: timeouts, proposals, votes, and the end of a recovery observation.
func TestTimeoutRetriedAfterSignError(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	f.store.Fail = errors.New("disk hiccup")
	f.step(Tick{NowMs: f.now + 1000})
	if _, ok := broadcastOf[*types.Timeout](f.acts); ok || f.c.Counters.SafetyErrors != 1 {
		t.Fatalf("setup: timeout sent %v, safety errors %d", ok, f.c.Counters.SafetyErrors)
	}
	f.store.Fail = nil
	at, ok := find[SetTimer](f.acts)
	if !ok || at.AtMs > f.now+2000 {
		t.Fatalf("retry timer %v %v", at, ok)
	}
	f.step(Tick{NowMs: at.AtMs})
	if to, ok := broadcastOf[*types.Timeout](f.acts); !ok || to.View != 1 {
		t.Fatalf("view %d never timed out after a transient store failure", f.c.View())
	}
}

func TestProposalRetriedAfterSignError(t *testing.T) {
	f := newFixture(t, 4, 1, nil) // leader of view 1
	f.store.Fail = errors.New("disk hiccup")
	f.step(Tick{NowMs: f.now + 500}) // max_block_interval: propose (empty)
	if _, ok := broadcastOf[*types.Proposal](f.acts); ok || f.c.Counters.SafetyErrors != 1 {
		t.Fatalf("setup: proposed %v, safety errors %d", ok, f.c.Counters.SafetyErrors)
	}
	f.store.Fail = nil
	f.step(Tick{NowMs: f.now + 500 + DefaultFetchRetryMs})
	if p, ok := broadcastOf[*types.Proposal](f.acts); !ok || p.Header.View != 1 {
		t.Fatal("leader never proposed in view 1 after a transient store failure")
	}
}

func TestVoteRetriedAfterSignError(t *testing.T) {
	f := newFixture(t, 4, 2, nil)
	f.store.Fail = errors.New("disk hiccup")
	b1 := f.validProposal()
	f.step(RecvProposal{From: 1, Proposal: b1})
	if f.sentVote() != nil || f.c.Counters.SafetyErrors != 1 {
		t.Fatalf("setup: vote %v, safety errors %d", f.sentVote(), f.c.Counters.SafetyErrors)
	}
	f.store.Fail = nil
	f.step(Tick{NowMs: f.now + DefaultFetchRetryMs}) // the retry runs before the view's timeout
	if v := f.sentVote(); v == nil || v.BlockID != b1.Header.ID() {
		t.Fatal("vote never cast after a transient store failure")
	}
}

func TestEndObservationRetriedAfterStoreError(t *testing.T) {
	f := newFixtureStore(t, 4, 3, nil, func(types.QC) (*safety.MemStore, bool) {
		return safety.NewMemStore(nil), true // lost record: --recover-safety-record
	})
	if !f.rules.Observing() {
		t.Fatal("setup: not observing")
	}
	end := f.now + DefaultMaxTimeoutMs
	f.store.Fail = errors.New("disk hiccup")
	f.step(Tick{NowMs: end})
	if !f.rules.Observing() || f.c.Counters.SafetyErrors != 1 {
		t.Fatalf("setup: observing %v, safety errors %d", f.rules.Observing(), f.c.Counters.SafetyErrors)
	}
	v0 := f.rules.V0()
	f.store.Fail = nil
	f.step(Tick{NowMs: end + DefaultFetchRetryMs})
	if f.rules.Observing() {
		t.Fatal("observation never ends after a failed save")
	}
	if f.rules.V0() != v0+1 {
		t.Fatalf("V0 %d after the retried end, want %d (a failed save must not raise it)", f.rules.V0(), v0+1)
	}
	f.step(Tick{NowMs: end + DefaultFetchRetryMs + DefaultMaxTimeoutMs})
	if _, ok := broadcastOf[*types.Timeout](f.acts); !ok {
		t.Fatal("no timeout after the observation ended")
	}
}

// Finding 4: V6 for every stored block naming the executed height, so a QC
// that formed before this replica executed still halts a diverged replica.
func v6Chain(f *fixture, d crypto.Hash) *types.Proposal {
	b1 := f.validProposal()
	b2 := f.block(&b1.Header, 2, f.qc(1, b1.Header.ID()), nil)
	b3 := f.block(&b2.Header, 3, f.qc(2, b2.Header.ID()), nil)
	b4 := f.block(&b3.Header, 4, f.qc(3, b3.Header.ID()), nil)
	for _, p := range []*types.Proposal{b1, b2, b3, b4} {
		f.step(RecvProposal{From: p.Header.Proposer, Proposal: p})
	}
	b5 := f.block(&b4.Header, 5, f.qc(4, b4.Header.ID()), nil)
	b5.Header.ExecHeight, b5.Header.ExecDigest = 1, d
	f.sign(b5)
	f.step(RecvProposal{From: 1, Proposal: b5})
	return b5
}

func TestV6MismatchAfterQCHalts(t *testing.T) {
	d := crypto.Hash{0xd1}
	f := newFixture(t, 4, 3, nil)
	b5 := v6Chain(f, d)
	// the others agreed on d and certified b5 before this replica executed height 1
	f.step(RecvSync{From: 2, Sync: types.SyncInfo{HighQC: f.qc(5, b5.Header.ID())}})
	if h, _ := f.c.Halted(); h || f.c.View() != 6 {
		t.Fatalf("setup: halted %v, view %d", h, f.c.View())
	}
	f.step(Executed{Height: 1, Digest: crypto.Hash{0xee}}) // ours differs
	h, r := f.c.Halted()
	if !h || r != "state divergence at height 1" {
		t.Fatalf("no halt on a certified block whose exec_digest differs from ours (halted %v %q)", h, r)
	}
	if a, ok := find[Halt](f.acts); !ok || a.Reason != r {
		t.Fatalf("no Halt action: %v", f.acts)
	}
	if f.c.Counters.StateDigestMismatch != 1 {
		t.Fatalf("StateDigestMismatch %d", f.c.Counters.StateDigestMismatch)
	}

	// same schedule, matching digest: no halt, nothing counted
	g := newFixture(t, 4, 3, nil)
	b5 = v6Chain(g, d)
	g.step(RecvSync{From: 2, Sync: types.SyncInfo{HighQC: g.qc(5, b5.Header.ID())}})
	g.step(Executed{Height: 1, Digest: d})
	if h, r := g.c.Halted(); h || g.c.Counters.StateDigestMismatch != 0 {
		t.Fatalf("matching digest: halted %v %q, mismatches %d", h, r, g.c.Counters.StateDigestMismatch)
	}
}

func TestV6MismatchUncertifiedCountedThenQCHalts(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	b5 := v6Chain(f, crypto.Hash{0xd1})
	// view moves on by TC: b5 is stored but not certified
	f.step(RecvSync{From: 2, Sync: types.SyncInfo{HighQC: f.qc(4, b5.Header.ParentID), HighTC: f.tc(5, f.qc(4, b5.Header.ParentID))}})
	f.step(Executed{Height: 1, Digest: crypto.Hash{0xee}})
	f.step(Executed{Height: 1, Digest: crypto.Hash{0xee}}) // repeated: counted once
	if h, _ := f.c.Halted(); h || f.c.Counters.StateDigestMismatch != 1 {
		t.Fatalf("uncertified mismatch: halted %v, mismatches %d", h, f.c.Counters.StateDigestMismatch)
	}
	f.step(RecvSync{From: 2, Sync: types.SyncInfo{HighQC: f.qc(5, b5.Header.ID())}})
	if h, r := f.c.Halted(); !h || r != "state divergence at height 1" {
		t.Fatalf("QC on a mismatched block: halted %v %q", h, r)
	}
}

// Finding 5: the orphan pool deduplicates and applies the per-view cap.
func TestPendingDedupAndPerViewCap(t *testing.T) {
	f := newFixture(t, 4, 3, nil)
	b1 := f.validProposal()
	b2 := f.block(&b1.Header, 2, f.qc(1, b1.Header.ID()), nil)
	for range 300 {
		f.step(RecvProposal{From: 2, Proposal: b2})
	}
	if f.c.PendingBlocks() != 1 || f.c.Counters.PendingBlocksFull != 0 || f.c.Counters.DropDuplicateProposal != 299 {
		t.Fatalf("one proposal resent 300 times: pending %d, full %d, duplicates %d",
			f.c.PendingBlocks(), f.c.Counters.PendingBlocksFull, f.c.Counters.DropDuplicateProposal)
	}
	// an equivocating leader of view 2: many distinct orphans of one view
	for i := range 10 {
		x := f.block(&b1.Header, 2, f.qc(1, b1.Header.ID()), nil)
		x.Header.TimestampMs += uint64(i + 1)
		f.step(RecvProposal{From: 2, Proposal: f.sign(x)})
	}
	if f.c.PendingBlocks() != maxBlocksPerView || f.c.Counters.DropBlocksPerView != 10-(maxBlocksPerView-1) {
		t.Fatalf("per-view cap on parked blocks: pending %d, dropped %d", f.c.PendingBlocks(), f.c.Counters.DropBlocksPerView)
	}
	// the parent arrives: the parked blocks are stored (cap still holds)
	f.step(BlocksFetched{From: 1, Blocks: []*types.Proposal{b1}})
	if f.c.PendingBlocks() != 0 || f.c.Block(b2.Header.ID()) == nil || f.c.StoredBlocks() != 2+maxBlocksPerView {
		t.Fatalf("after the parent: pending %d, stored %d", f.c.PendingBlocks(), f.c.StoredBlocks())
	}
}

// Finding 6: V0's observation counts messages of view w from more than f
// power (p > f), which differs from 3p > total when total % 3 == 0; the
// join rule stays at more than 1/3.
func TestObserveMoreThanF(t *testing.T) {
	rec := func(gqc types.QC) (*safety.MemStore, bool) {
		r := safety.NewRecord(gqc)
		r.LastVotedView = 2 // V0 = 2: not armed in view 1, observations count
		return safety.NewMemStore(r), false
	}
	f := newFixtureStore(t, 3, 0, nil, rec) // total 3, f = 0
	if f.rules.Armed() || f.rules.V0() != 2 {
		t.Fatalf("setup: armed %v, V0 %d", f.rules.Armed(), f.rules.V0())
	}
	f.step(RecvVote{From: 1, Vote: f.vote(1, 5, types.BlockID{1})})
	if f.rules.V0() != 5 {
		t.Fatalf("vote of view 5 from power 1 > f = 0: V0 %d, want 5", f.rules.V0())
	}
	f.step(RecvTimeout{From: 2, Timeout: f.timeout(2, 7, f.gqc)})
	if f.rules.V0() != 7 {
		t.Fatalf("timeout of view 7 from power 1 > f = 0: V0 %d, want 7", f.rules.V0())
	}
	if f.c.View() != 1 {
		t.Fatalf("joined view %d on 1/3 of power (join needs more than 1/3)", f.c.View())
	}
}

// Finding 7: events before Start are ignored (Start would reset the view).
func TestEventsBeforeStartIgnored(t *testing.T) {
	f := newFixture(t, 4, 2, nil)
	store := safety.NewMemStore(safety.NewRecord(f.gqc))
	rules, err := safety.New(safety.Config{Network: net, Store: store, Signer: keySigner{testKeys[2]}, GenesisQC: f.gqc})
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Network: net, Validators: f.vs, Self: 2, Genesis: f.g, Safety: rules})
	if err != nil {
		t.Fatal(err)
	}
	b1 := f.validProposal()
	if acts := c.Step(RecvProposal{From: 1, Proposal: b1}); len(acts) != 0 {
		t.Fatalf("actions before Start: %v", acts)
	}
	if c.Step(Tick{NowMs: f.now}) != nil || c.Counters.DropBeforeStart != 2 || c.Block(b1.Header.ID()) != nil {
		t.Fatalf("before Start: dropped %d, stored %v", c.Counters.DropBeforeStart, c.Block(b1.Header.ID()) != nil)
	}
	c.Step(Start{NowMs: f.now})
	if c.View() != 1 || rules.LastVotedView() != 0 {
		t.Fatalf("after Start: view %d, last voted %d", c.View(), rules.LastVotedView())
	}
}
