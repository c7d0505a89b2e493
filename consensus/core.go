package consensus

import (
	"errors"
	"fmt"
	"slices"

	"github.com/qbind/qbind/consensus/safety"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// entry is a block in the in-memory block tree. Every stored block's parent
// is stored too (down to the pruning root), so a stored block always has its
// ancestry down to the last committed block (§8.3).
type entry struct {
	p         *types.Proposal
	id        types.BlockID
	parent    *entry
	c         uint64 // C(x) of §8.2
	committed bool
	// certified: a QC for this block was seen (its own, or the justify of a
	// stored child, which V1 makes a QC of its parent).
	certified bool
}

func (e *entry) h() *types.BlockHeader { return &e.p.Header }

type voteTally struct {
	byVoter map[uint16]*types.Vote
	power   map[types.BlockID]uint64
	total   uint64
	done    bool
}

type timeoutTally struct {
	byVoter map[uint16]*types.Timeout
	power   uint64
	done    bool
}

type fetchReq struct {
	id   types.BlockID
	from uint16
	at   uint64
}

type enterHow uint8

const (
	viaQC enterHow = iota
	viaTC
	viaJoin
)

// maxUnapplied bounds QCs waiting for their block; maxFetches bounds
// outstanding block requests.
const (
	maxUnapplied     = 64
	maxFetches       = 64
	maxBlocksPerView = 4 // uncertified, unrequested blocks stored per view (a leader may equivocate)
)

// Core is the consensus state machine. Not safe for concurrent use.
type Core struct {
	cfg       Config
	vs        *types.ValidatorSet
	n         int
	self      uint16
	rules     SafetyRules
	genesisID types.BlockID

	now          uint64
	started      bool
	halted       bool
	haltReason   string
	recoverUntil uint64

	view      uint64
	enteredAt uint64
	lastTC    *types.TC // TC(view−1) when the view was entered through it
	highQC    types.QC
	highTC    *types.TC
	k         uint64
	timerAt   uint64
	timedOut  bool
	proposed  bool
	votedView uint64
	lastSet   uint64
	myTimeout *types.Timeout
	myVote    *types.Vote
	waitExec  *entry
	// waitPayload is the current view's block whose V7 check waits for
	// batch bodies (ErrPayloadPending).
	waitPayload *entry
	// waitLock is the current view's block whose vote waits for the block
	// of a newer QC (S1 pending); retried when that QC has been applied.
	waitLock *entry
	// waitSign is the current view's block whose vote signature failed with
	// a store or signer error; retried at retryAt.
	waitSign *entry
	// retryAt (0: none) is when a signature or a safety-record write that
	// failed with a store or signer error is retried.
	retryAt uint64

	blocks          map[types.BlockID]*entry
	perView         map[uint64]int // uncommitted stored blocks per view
	committedTip    *entry
	committedHeight uint64
	pending         map[types.BlockID][]*types.Proposal
	pendingCount    int
	unapplied       map[types.BlockID]types.QC
	fetches         []fetchReq
	qcByView        map[uint64]types.QC
	digests         map[uint64]crypto.Hash
	mismatch        map[types.BlockID]uint64

	votes        map[uint64]*voteTally
	timeouts     map[uint64]*timeoutTally
	proposals    map[uint64]*types.Proposal
	syncAnswered map[uint16]uint64

	evidence     []Evidence
	evidenceSeen map[[3]uint64]bool

	out      []Action
	Counters Counters
}

// New builds a core in view 1 with high_qc = max(QC(G), locked_qc). It
// emits nothing until Start.
func New(cfg Config) (*Core, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	g := cfg.Genesis
	gid := g.ID()
	gp := &types.Proposal{Header: g, Justify: types.GenesisQC(gid), Sync: types.SyncInfo{HighQC: types.GenesisQC(gid)}}
	ge := &entry{p: gp, id: gid, committed: true}
	c := &Core{
		cfg: cfg, vs: cfg.Validators, n: cfg.Validators.Len(), self: cfg.Self, rules: cfg.Safety, genesisID: gid,
		view: 1, highQC: types.GenesisQC(gid),
		blocks:       map[types.BlockID]*entry{gid: ge},
		perView:      map[uint64]int{},
		committedTip: ge,
		pending:      map[types.BlockID][]*types.Proposal{},
		unapplied:    map[types.BlockID]types.QC{},
		qcByView:     map[uint64]types.QC{0: types.GenesisQC(gid)},
		digests:      map[uint64]crypto.Hash{0: g.ExecDigest},
		mismatch:     map[types.BlockID]uint64{},
		votes:        map[uint64]*voteTally{},
		timeouts:     map[uint64]*timeoutTally{},
		proposals:    map[uint64]*types.Proposal{},
		syncAnswered: map[uint16]uint64{},
		evidenceSeen: map[[3]uint64]bool{},
	}
	return c, nil
}

// Step applies one event and returns the actions to perform, in order.
func (c *Core) Step(ev Event) []Action {
	c.out = nil
	if c.halted {
		return nil
	}
	if _, ok := ev.(Start); !ok && !c.started {
		// Start sets the clock and the view; anything earlier would be
		// undone by it (the driver feeds stored blocks after Start).
		c.Counters.DropBeforeStart++
		return nil
	}
	switch e := ev.(type) {
	case Start:
		c.now = max(c.now, e.NowMs)
		c.start()
	case Tick:
		c.now = max(c.now, e.NowMs)
		c.tick()
	case RecvProposal:
		c.Counters.Proposals++
		c.onProposal(e.From, e.Proposal, false)
	case RecvVote:
		c.onVote(e.From, e.Vote)
	case RecvTimeout:
		c.onTimeout(e.From, e.Timeout)
	case RecvSync:
		c.Counters.Syncs++
		c.onSync(e.From, &e.Sync)
	case PayloadAvailable:
		if e := c.waitPayload; e != nil {
			c.waitPayload = nil
			before := c.votedView
			c.tryVote(e)
			if c.votedView > before {
				c.Counters.HeldVotesCast++
			}
		}
		c.tryPropose()
	case Executed:
		c.onExecuted(e.Height, e.Digest)
	case BlocksFetched:
		c.Counters.Fetched += uint64(len(e.Blocks))
		bs := slices.Clone(e.Blocks)
		slices.SortStableFunc(bs, func(a, b *types.Proposal) int {
			if a.Header.Height != b.Header.Height {
				if a.Header.Height < b.Header.Height {
					return -1
				}
				return 1
			}
			return 0
		})
		for _, p := range bs {
			c.onProposal(e.From, p, true)
		}
	}
	if c.started && !c.halted {
		c.retryWaitLock()
	}
	if c.started && !c.halted {
		c.scheduleTimer()
	}
	return c.out
}

func (c *Core) emit(a Action) { c.out = append(c.out, a) }

func (c *Core) halt(reason string) {
	c.halted, c.haltReason = true, reason
	c.emit(Halt{Reason: reason})
}

func (c *Core) leader(v uint64) uint16 { return c.vs.Leader(v) }

func (c *Core) power(i uint16) uint64 { return c.vs.Get(int(i)).Power }

func (c *Core) syncInfo() types.SyncInfo { return types.SyncInfo{HighQC: c.highQC, HighTC: c.highTC} }

func tcView(t *types.TC) uint64 {
	if t == nil {
		return 0
	}
	return t.View
}

// ---- start, clock, timer -------------------------------------------------

func (c *Core) start() {
	if c.started {
		return
	}
	c.started = true
	if c.rules.Recovering() {
		c.recoverUntil = c.now + c.cfg.MaxTimeoutMs
	}
	c.enterView(1, viaQC, nil)
	if l := c.rules.LockedQC(); l.View > c.highQC.View {
		c.processQC(c.nextPeer(c.self), l) // S5: high_qc := max(stored high QC, locked_qc)
	}
	// ... and the QC our stored timeout named: the consensus store may have
	// lost it in the crash, and with it the view our S3 floor is in.
	if st := c.rules.StoredTimeout(); st != nil && st.HighQC.View > c.highQC.View {
		c.processQC(c.nextPeer(c.self), st.HighQC)
	}
}

// timerDuration is timer(v) = min(base·2^k, cap).
func (c *Core) timerDuration() uint64 {
	if c.k >= 63 || c.cfg.BaseTimeoutMs > c.cfg.MaxTimeoutMs>>c.k {
		return c.cfg.MaxTimeoutMs
	}
	return min(c.cfg.BaseTimeoutMs<<c.k, c.cfg.MaxTimeoutMs)
}

// TimerDuration exposes timer(current view) for tests and metrics.
func (c *Core) TimerDuration() uint64 { return c.timerDuration() }

func (c *Core) tick() {
	if c.recoverUntil != 0 && c.now >= c.recoverUntil {
		if err := c.rules.EndObservation(); err != nil {
			c.Counters.SafetyErrors++ // still observing; retried
			c.retryAt = c.now + c.cfg.FetchRetryMs
		} else {
			c.recoverUntil = 0
		}
	}
	if c.retryAt != 0 && c.now >= c.retryAt {
		c.retryAt = 0
		if e := c.waitSign; e != nil {
			c.waitSign = nil
			c.tryVote(e)
		}
	}
	if c.now >= c.timerAt {
		c.onLocalTimeout()
	}
	c.tryPropose()
	for i := range c.fetches {
		f := &c.fetches[i]
		if c.now >= f.at+c.cfg.FetchRetryMs {
			f.from = c.nextPeer(f.from)
			f.at = c.now
			c.Counters.FetchesSent++
			c.emit(FetchBlocks{ID: f.id, From: f.from})
		}
	}
}

func (c *Core) nextPeer(p uint16) uint16 {
	q := (int(p) + 1) % c.n
	if q == int(c.self) {
		q = (q + 1) % c.n
	}
	return uint16(q)
}

func (c *Core) scheduleTimer() {
	next := c.timerAt
	if c.leader(c.view) == c.self && !c.proposed {
		if t := c.enteredAt + c.cfg.MaxBlockIntervalMs; t > c.now && t < next {
			next = t
		}
	}
	for _, f := range c.fetches {
		next = min(next, f.at+c.cfg.FetchRetryMs)
	}
	if c.retryAt != 0 {
		next = min(next, c.retryAt)
	}
	if next != c.lastSet {
		c.lastSet = next
		c.emit(SetTimer{AtMs: next})
	}
}

// ---- views ----------------------------------------------------------------

func (c *Core) enterView(v uint64, how enterHow, tc *types.TC) {
	c.rules.EnterView(v, how != viaJoin)
	switch how {
	case viaQC:
		c.k = 0
		c.Counters.ViewsByQC++
	case viaTC:
		c.k++
		c.Counters.ViewsByTC++
	case viaJoin:
		c.Counters.ViewsByJoin++
	}
	c.view = v
	c.enteredAt = c.now
	c.lastTC = tc
	c.timerAt = c.now + c.timerDuration()
	c.timedOut, c.proposed = false, false
	c.myTimeout = nil
	for w := range c.votes {
		if w+1 < v {
			delete(c.votes, w)
		}
	}
	for w := range c.timeouts {
		if w < v {
			delete(c.timeouts, w)
		}
	}
	for w := range c.proposals {
		if w+1 < v {
			delete(c.proposals, w)
		}
	}
	for w := range c.qcByView {
		if w+32 < v && w != c.highQC.View {
			delete(c.qcByView, w)
		}
	}
	if p := c.proposals[v]; p != nil {
		if e := c.blocks[p.Header.ID()]; e != nil {
			c.tryVote(e)
		}
	}
	c.tryPropose()
}

// ---- certificates -----------------------------------------------------------

// processQC applies a verified QC: S1, commit rule, view advance.
func (c *Core) processQC(from uint16, q types.QC) {
	if q.View > c.highQC.View {
		c.highQC = q
		c.emit(PersistQC{QC: q})
		for w := range c.votes {
			if w <= q.View {
				delete(c.votes, w)
			}
		}
	}
	if _, ok := c.qcByView[q.View]; !ok && q.View+32 >= c.view {
		c.qcByView[q.View] = q
	}
	if e := c.blocks[q.BlockID]; e != nil {
		c.applyQC(q, e)
	} else if q.View > c.committedTip.h().View {
		if _, ok := c.unapplied[q.BlockID]; !ok {
			if len(c.unapplied) >= maxUnapplied {
				c.evictUnapplied()
			}
			c.unapplied[q.BlockID] = q
		}
		c.fetch(q.BlockID, from)
	}
	if c.halted {
		return
	}
	if q.View+1 >= c.view && c.k > 0 {
		c.k = 0 // a QC for the view (or the one before it) resets k
		// A view entered through TC(view−1) whose QC arrives afterwards is
		// treated as entered through that QC now: its running timer is cut
		// to now + timer(view) at base, not kept at the backed-off duration
		// (which may be the cap) and not cut to enteredAt + base either,
		// which could fire at once and end our vote in a view that just
		// proved live.
		if !c.timedOut {
			c.timerAt = min(c.timerAt, c.now+c.timerDuration())
		}
	}
	if q.View >= c.view {
		c.enterView(q.View+1, viaQC, nil)
	}
	c.rules.Observe(q.View + 1)
}

func (c *Core) evictUnapplied() {
	var worst types.BlockID
	var wv uint64 = ^uint64(0)
	for id, q := range c.unapplied {
		if q.View < wv || (q.View == wv && string(id[:]) < string(worst[:])) {
			worst, wv = id, q.View
		}
	}
	delete(c.unapplied, worst)
}

// unappliedMaxView is the highest QC view whose block (hence whose S1 lock
// update) is still missing.
func (c *Core) unappliedMaxView() uint64 {
	var m uint64
	for _, q := range c.unapplied {
		m = max(m, q.View)
	}
	return m
}

// applyQC runs S1's lock update and the commit rule for a QC whose block is stored.
func (c *Core) applyQC(q types.QC, e *entry) {
	delete(c.unapplied, e.id)
	e.certified = true
	if h, bad := c.mismatch[e.id]; bad {
		c.halt(fmt.Sprintf("state divergence at height %d", h))
		return
	}
	if e.parent == nil && e.id == c.genesisID {
		return
	}
	c.rules.UpdateLock(e.p.Justify)
	c.commitRule(q, e)
}

// commitRule is §8.5: QC(B3), B3.parent = B2, B2.parent = B1,
// view(B3) = view(B2)+1 = view(B1)+2 ⇒ commit B1 and its uncommitted ancestry.
func (c *Core) commitRule(q types.QC, b3 *entry) {
	b2 := b3.parent
	if b2 == nil {
		return
	}
	b1 := b2.parent
	if b1 == nil {
		return
	}
	consecutive := b3.h().View == b2.h().View+1 && b2.h().View == b1.h().View+1
	if !consecutive && !c.cfg.Faults.CommitNonConsecutive {
		return
	}
	c.commit(b1, CommitProof{Headers: [3]types.BlockHeader{*b1.h(), *b2.h(), *b3.h()}, QC: q})
}

func (c *Core) commit(b1 *entry, proof CommitProof) {
	if b1.committed {
		return
	}
	var chain []*entry
	for x := b1; x != c.committedTip; x = x.parent {
		if x == nil || x.h().Height <= c.committedHeight {
			c.halt(fmt.Sprintf("conflicting commit: block %s at height %d does not extend committed height %d",
				b1.id, b1.h().Height, c.committedHeight))
			return
		}
		chain = append(chain, x)
	}
	slices.Reverse(chain)
	blocks := make([]*types.Proposal, len(chain))
	for i, x := range chain {
		x.committed = true
		blocks[i] = x.p
	}
	c.committedTip, c.committedHeight = b1, b1.h().Height
	c.Counters.BlocksCommitted += uint64(len(chain))
	c.emit(Commit{Blocks: blocks, Proof: proof})
	c.prune()
}

// prune drops committed blocks below the retention window, forks below the
// committed height, and bookkeeping tied to them.
func (c *Core) prune() {
	floor := uint64(0)
	if c.committedHeight > c.cfg.RetainBlocks {
		floor = c.committedHeight - c.cfg.RetainBlocks
	}
	for id, e := range c.blocks {
		h := e.h().Height
		if (e.committed && h < floor) || (!e.committed && h <= c.committedHeight) {
			delete(c.blocks, id)
			delete(c.mismatch, id)
		}
	}
	clear(c.perView)
	for _, e := range c.blocks {
		if !e.committed {
			c.perView[e.h().View]++
		}
		if e.parent != nil {
			if _, ok := c.blocks[e.parent.id]; !ok {
				e.parent = nil
			}
		}
	}
	// Digests are kept for the retention window and, below it, from the
	// lowest exec height a future block can name: exec_height(b) = C(parent)
	// and every parent is the committed tip or an uncommitted block, while C
	// can lag far behind the committed height (views broken by TCs).
	keepFrom := c.committedTip.c
	for _, e := range c.blocks {
		if !e.committed {
			keepFrom = min(keepFrom, e.c)
		}
	}
	for h := range c.digests {
		if h+c.cfg.RetainBlocks < c.committedHeight && h < keepFrom {
			delete(c.digests, h)
		}
	}
	tipView := c.committedTip.h().View
	for pid, ps := range c.pending {
		keep := ps[:0]
		for _, p := range ps {
			if p.Header.View > tipView {
				keep = append(keep, p)
			}
		}
		c.pendingCount -= len(ps) - len(keep)
		if len(keep) == 0 {
			delete(c.pending, pid)
		} else {
			c.pending[pid] = keep
		}
	}
	for id, q := range c.unapplied {
		if q.View <= tipView {
			delete(c.unapplied, id)
		}
	}
}

func (c *Core) processTC(from uint16, t *types.TC) {
	if c.highTC == nil || t.View > c.highTC.View {
		c.highTC = t
	}
	c.processQC(from, t.HighQC)
	if c.halted {
		return
	}
	if t.View >= c.view {
		c.enterView(t.View+1, viaTC, t)
	}
	c.rules.Observe(t.View + 1)
}

func (c *Core) processSync(from uint16, s *types.SyncInfo) {
	c.processQC(from, s.HighQC)
	if s.HighTC != nil && !c.halted {
		c.processTC(from, s.HighTC)
	}
}

// answerSync sends our SyncInfo to a lagging peer, at most once per view per peer.
func (c *Core) answerSync(to uint16) {
	if to == c.self || int(to) >= c.n {
		return
	}
	if last, ok := c.syncAnswered[to]; ok && last >= c.view {
		c.Counters.SyncAnswersSuppressed++
		return
	}
	c.syncAnswered[to] = c.view
	c.Counters.SyncAnswers++
	si := c.syncInfo()
	c.emit(Send{To: to, Msg: &si})
}

func (c *Core) onSync(from uint16, s *types.SyncInfo) {
	theirs := max(s.HighQC.View, tcView(s.HighTC))
	c.processSync(from, s)
	if !c.halted && theirs < max(c.highQC.View, tcView(c.highTC)) {
		c.answerSync(from)
	}
}

// ---- blocks -----------------------------------------------------------------

func (c *Core) fetch(id types.BlockID, from uint16) {
	if from == c.self || int(from) >= c.n {
		from = c.nextPeer(c.self)
	}
	for _, f := range c.fetches {
		if f.id == id {
			return
		}
	}
	if len(c.fetches) >= maxFetches {
		c.fetches = c.fetches[1:]
	}
	c.fetches = append(c.fetches, fetchReq{id: id, from: from, at: c.now})
	c.Counters.FetchesSent++
	c.emit(FetchBlocks{ID: id, From: from})
}

func (c *Core) fetched(id types.BlockID) {
	c.fetches = slices.DeleteFunc(c.fetches, func(f fetchReq) bool { return f.id == id })
}

func (c *Core) onProposal(from uint16, p *types.Proposal, fetched bool) {
	h := &p.Header
	if h.Epoch != c.cfg.Genesis.Epoch {
		c.Counters.DropEpoch++
		return
	}
	// 1. certificates
	c.processSync(from, &p.Sync)
	if p.LastTC != nil && !c.halted {
		c.processTC(from, p.LastTC)
	}
	if !c.halted {
		c.processQC(from, p.Justify)
	}
	if c.halted {
		return
	}
	// 2. the message itself
	if h.View > c.view+c.cfg.MaxFutureViews {
		c.Counters.DropFutureProposal++
		return
	}
	if !fetched && h.View < c.view {
		c.Counters.DropStaleProposal++
		c.answerSync(from)
	}
	c.addBlock(from, p)
}

// structural checks V1–V3 (and the epoch); a block failing them is never stored.
func (c *Core) checkStructure(p *types.Proposal) error {
	h := &p.Header
	if h.Proposer != c.leader(h.View) {
		c.Counters.RejectV3++
		return ErrV3
	}
	if h.Version != types.BlockVersion || h.ChainID != c.cfg.Network.ChainID() || h.View <= h.JustifyView {
		c.Counters.RejectV2++
		return ErrV2
	}
	if p.Justify.BlockID != h.ParentID || p.Justify.View != h.JustifyView {
		c.Counters.RejectV1++
		return ErrV1
	}
	return nil
}

// Block-validity errors (returned by CheckProposal, counted by Step).
var (
	ErrV1 = errors.New("V1: parent is not the justify QC's block, or justify_view differs")
	ErrV2 = errors.New("V2: height, view, version, chain or epoch")
	ErrV3 = errors.New("V3: proposer is not leader(view)")
	ErrV4 = errors.New("V4: view ≠ justify_view+1 without a valid TC(view−1) covering justify_view")
	ErrV5 = errors.New("V5: timestamp out of range")
	ErrV6 = errors.New("V6: exec_height/exec_digest differ from this replica's")
	ErrV7 = errors.New("V7: payload invalid")
)

// ErrPayloadPending is what a PayloadValidator wraps when V7 cannot be
// decided yet: in coupling modes warn and off a voter must hold every batch
// body before voting, and some are still being fetched. The core keeps the
// block and re-runs validation on the next PayloadAvailable event instead of
// giving up its vote for the view.
var ErrPayloadPending = errors.New("V7: payload bodies still being fetched")

func (c *Core) addBlock(from uint16, p *types.Proposal) {
	h := &p.Header
	id := h.ID()
	requested := slices.ContainsFunc(c.fetches, func(f fetchReq) bool { return f.id == id })
	c.fetched(id) // any answer ends the request; a missing parent is asked for next
	if _, ok := c.blocks[id]; ok {
		return
	}
	if c.parked(id, h.ParentID) {
		c.Counters.DropDuplicateProposal++
		return
	}
	if _, certified := c.unapplied[id]; !certified && !requested && c.perView[h.View]+c.parkedInView(h.View) >= maxBlocksPerView {
		c.Counters.DropBlocksPerView++
		return
	}
	if h.Height <= c.committedHeight {
		c.Counters.RejectBelowCommitted++
		return
	}
	if c.checkStructure(p) != nil {
		return
	}
	// equivocation: two proposals of one view from its leader
	if h.View+1 >= c.view {
		if prev := c.proposals[h.View]; prev == nil {
			c.proposals[h.View] = p
		} else if prev.Header.ID() != id {
			c.Counters.EquivocationProposal++
			c.addEvidence(Evidence{Kind: EvidenceProposal, View: h.View, Validator: h.Proposer, A: prev, B: p})
		}
	}
	parent := c.blocks[h.ParentID]
	if parent == nil {
		if c.pendingCount >= c.cfg.MaxPendingBlocks {
			c.Counters.PendingBlocksFull++
			return
		}
		c.pending[h.ParentID] = append(c.pending[h.ParentID], p)
		c.pendingCount++
		c.Counters.PendingBlocks++
		c.fetch(h.ParentID, from)
		return
	}
	if h.Height != parent.h().Height+1 {
		c.Counters.RejectV2++
		return
	}
	e := &entry{p: p, id: id, parent: parent, c: computeC(parent, h)}
	parent.certified = true // V1: e's justify is a QC of its parent
	if mh, bad := c.mismatch[parent.id]; bad {
		c.halt(fmt.Sprintf("state divergence at height %d", mh))
		return
	}
	c.blocks[id] = e
	c.perView[h.View]++
	c.emit(PersistBlock{Proposal: p})
	if q, ok := c.unapplied[id]; ok {
		c.applyQC(q, e)
		if c.halted {
			return
		}
	}
	c.tryVote(e)
	if id == c.highQC.BlockID {
		c.tryPropose() // the leader was waiting for its parent
	}
	if kids := c.pending[id]; len(kids) > 0 {
		delete(c.pending, id)
		c.pendingCount -= len(kids)
		for _, k := range kids {
			if c.halted {
				return
			}
			c.addBlock(from, k)
		}
	}
}

// parked reports whether block id (child of parentID) waits in pending.
func (c *Core) parked(id, parentID types.BlockID) bool {
	return slices.ContainsFunc(c.pending[parentID], func(p *types.Proposal) bool { return p.Header.ID() == id })
}

// parkedInView counts pending blocks of view v (at most MaxPendingBlocks).
func (c *Core) parkedInView(v uint64) int {
	n := 0
	for _, ps := range c.pending {
		for _, p := range ps {
			if p.Header.View == v {
				n++
			}
		}
	}
	return n
}

// computeC is C(x) of §8.2 for a block x with header h and stored parent:
// max(C(parent), height(x)−3), the second term only when parent, parent²
// and parent³ exist with consecutive views.
func computeC(parent *entry, h *types.BlockHeader) uint64 {
	cx := parent.c
	p2 := parent.parent
	if p2 == nil {
		return cx
	}
	p3 := p2.parent
	if p3 == nil {
		return cx
	}
	if parent.h().View == p2.h().View+1 && p2.h().View == p3.h().View+1 && h.Height >= 3 {
		cx = max(cx, h.Height-3)
	}
	return cx
}

// ExecHeightFor is exec_height(b) = C(parent(b)) for a block extending the
// stored block parentID (ok=false when the parent is not stored).
func (c *Core) ExecHeightFor(parentID types.BlockID) (uint64, bool) {
	e := c.blocks[parentID]
	if e == nil {
		return 0, false
	}
	return e.c, true
}

// extends reports whether e extends the stored block lockID.
func (c *Core) extends(e *entry, lockID types.BlockID) bool {
	if lockID == c.genesisID {
		return true
	}
	l := c.blocks[lockID]
	if l == nil {
		return false
	}
	x := e
	for x != nil && x.h().Height > l.h().Height {
		x = x.parent
	}
	return x == l
}

// validate runs V4–V7 for a stored block (V1–V3 held at insertion).
// errWait means "not yet decidable" (execution behind).
var errWait = errors.New("wait")

// errWaitPayload means "V7 waits for batch bodies".
var errWaitPayload = errors.New("wait for payload bodies")

func (c *Core) validate(e *entry) error {
	h := e.h()
	p := e.p
	if h.View != h.JustifyView+1 {
		t := p.LastTC
		if t == nil || t.View != h.View-1 || (h.JustifyView < t.MaxHighQCView() && !c.cfg.Faults.SkipLockCheck) {
			c.Counters.RejectV4++
			return ErrV4
		}
	}
	if !(e.parent.h().TimestampMs < h.TimestampMs && h.TimestampMs <= c.now+c.cfg.MaxClockSkewMs) {
		c.Counters.RejectV5++
		return ErrV5
	}
	if h.ExecHeight != e.parent.c {
		c.Counters.RejectV6++
		return ErrV6
	}
	d, ok := c.digests[h.ExecHeight]
	if !ok {
		c.Counters.VoteWaitExec++
		return errWait
	}
	if d != h.ExecDigest {
		c.Counters.RejectV6++
		c.recordMismatch(e)
		return ErrV6
	}
	if c.cfg.Validator != nil {
		if err := c.cfg.Validator.ValidatePayload(p, e.parent.p, ancestry{c}); err != nil {
			if errors.Is(err, ErrPayloadPending) {
				c.Counters.VoteWaitPayload++
				return errWaitPayload
			}
			c.Counters.RejectV7++
			return fmt.Errorf("%w: %w", ErrV7, err)
		}
	}
	return nil
}

type ancestry struct{ c *Core }

func (a ancestry) Block(id types.BlockID) *types.Proposal {
	if e := a.c.blocks[id]; e != nil {
		return e.p
	}
	return nil
}
func (a ancestry) CommittedHeight() uint64 { return a.c.committedHeight }

// ---- voting -------------------------------------------------------------------

func (c *Core) tryVote(e *entry) {
	h := e.h()
	if h.View != c.view || c.votedView >= h.View || c.halted {
		return
	}
	err := c.validate(e)
	if errors.Is(err, errWait) {
		c.waitExec = e
		return
	}
	if errors.Is(err, errWaitPayload) {
		c.waitPayload = e
		return
	}
	if err != nil {
		return
	}
	if m := c.unappliedMaxView(); m > h.JustifyView {
		// S1 for a newer QC is pending on its block: the true lock is
		// unknown, and b's justify does not clear it. Wait for the block
		// (retried by retryWaitLock once that QC is applied or dropped).
		c.Counters.VoteWaitLock++
		c.waitLock = e
		return
	}
	ext := c.extends(e, c.rules.LockedQC().BlockID) || c.cfg.Faults.SkipLockCheck
	sig, err := c.rules.SignVote(h, e.id, c.view, ext)
	if err != nil {
		c.countSafetyErr(err)
		if !isConflict(err) {
			c.waitSign = e // store or signer error: retry
			c.retryAt = c.now + c.cfg.FetchRetryMs
		}
		return
	}
	c.votedView = h.View
	vt := &types.Vote{View: h.View, BlockID: e.id, Voter: c.self, Signature: sig, Sync: c.syncInfo()}
	c.myVote = vt
	c.Counters.VotesSent++
	next := c.leader(h.View + 1)
	if next == c.self {
		c.onVote(c.self, vt)
	} else {
		c.emit(Send{To: next, Msg: vt})
	}
}

// retryWaitLock re-runs the vote held by VoteWaitLock once no QC newer than
// its justify waits for its block any more.
func (c *Core) retryWaitLock() {
	e := c.waitLock
	if e == nil {
		return
	}
	if e.h().View != c.view || c.votedView >= e.h().View || c.blocks[e.id] != e {
		c.waitLock = nil
		return
	}
	if c.unappliedMaxView() > e.h().JustifyView {
		return
	}
	c.waitLock = nil
	before := c.votedView
	c.tryVote(e)
	if c.votedView > before {
		c.Counters.HeldVotesCast++
	}
}

func (c *Core) countSafetyErr(err error) {
	if isConflict(err) {
		c.Counters.SafetyRefused++
	} else {
		c.Counters.SafetyErrors++
	}
}

func (c *Core) onVote(from uint16, vt *types.Vote) {
	if from != c.self {
		c.Counters.Votes++
	}
	c.processSync(from, &vt.Sync)
	if c.halted {
		return
	}
	if vt.View+1 < c.view {
		c.answerSync(from)
	}
	if vt.View > c.view+c.cfg.MaxFutureViews {
		c.Counters.DropFutureVote++
		return
	}
	if vt.View <= c.highQC.View || vt.View+1 < c.view {
		c.Counters.DropStaleVote++
		return
	}
	t := c.votes[vt.View]
	if t == nil {
		t = &voteTally{byVoter: map[uint16]*types.Vote{}, power: map[types.BlockID]uint64{}}
		c.votes[vt.View] = t
	}
	if prev := t.byVoter[vt.Voter]; prev != nil {
		if prev.BlockID != vt.BlockID {
			c.Counters.EquivocationVote++
			c.addEvidence(Evidence{Kind: EvidenceVote, View: vt.View, Validator: vt.Voter, A: prev, B: vt})
		} else {
			c.Counters.DropDuplicateVote++
		}
		return
	}
	t.byVoter[vt.Voter] = vt
	pw := c.power(vt.Voter)
	t.power[vt.BlockID] += pw
	t.total += pw
	if t.total > c.vs.F() {
		c.rules.Observe(vt.View) // §8.4: messages of view w from more than f power
	}
	if !t.done && c.vs.IsQuorum(t.power[vt.BlockID]) {
		t.done = true
		var vs []*types.Vote
		for i := range c.n {
			if v := t.byVoter[uint16(i)]; v != nil && v.BlockID == vt.BlockID {
				vs = append(vs, v)
			}
		}
		qc := types.NewQC(vt.View, vt.BlockID, c.n, vs)
		c.Counters.QCsFormed++
		c.processQC(from, qc)
	}
}

// ---- timeouts -----------------------------------------------------------------

func (c *Core) onLocalTimeout() {
	v := c.view
	if c.recoverUntil != 0 {
		c.timerAt = c.now + c.timerDuration() // §8.4: observe first
		return
	}
	var t *types.Timeout
	retry := false
	if !c.timedOut {
		var err error
		t, err = c.signTimeout(v)
		if t != nil {
			c.timedOut = true
			c.myTimeout = t
			c.Counters.TimeoutsSent++
		} else {
			// not signed: retry at the next expiry (sooner after a store
			// or signer error); the vote is still retransmitted below
			retry = err != nil && !isConflict(err)
		}
	} else if c.myTimeout != nil {
		t = c.myTimeout
		c.Counters.Retransmissions++
		si := c.syncInfo()
		c.emit(Broadcast{Msg: &si})
	}
	if t != nil {
		c.emit(Broadcast{Msg: t})
	}
	ahead := c.storedTimeoutAbove(v)
	if t == nil && ahead != nil {
		c.Counters.Retransmissions++
		c.emit(Broadcast{Msg: ahead})
	}
	vt := c.storedVote(v)
	if vt != nil {
		c.emit(Broadcast{Msg: vt})
	}
	c.timerAt = c.now + c.timerDuration()
	if retry {
		c.timerAt = c.now + min(c.timerDuration(), c.cfg.FetchRetryMs)
	}
	// aggregate our own vote and timeout too: a QC or TC can form here
	if vt != nil && !c.voteTallied(vt) {
		c.onVote(c.self, vt)
	}
	if t != nil && c.view == v && !c.timedOutTallied(v) {
		c.onTimeout(c.self, t)
	}
	if t == nil && ahead != nil && c.view < ahead.View && !c.timedOutTallied(ahead.View) {
		c.onTimeout(c.self, ahead)
	}
}

// storedTimeoutAbove rebuilds the Timeout this key signed before a restart
// for a view above v, the view it came back in (the certificate that took it
// there was not persisted). S3 refuses Timeout(v) then, and without resending
// that one the replica would be mute: if the rest of the network is in v too
// and needs its timeout for TC(v), nobody can move (sim seed 10764: two
// restarted replicas held timeouts of views 16 and 17, the other two sat in
// view 15 for the rest of the run). Resent, it lets peers join its view on
// timeouts from more than 1/3 of power (§8.5). S4: the stored bytes.
func (c *Core) storedTimeoutAbove(v uint64) *types.Timeout {
	st := c.rules.StoredTimeout()
	if st == nil || st.View <= v {
		return nil
	}
	var last *types.TC
	if c.highTC != nil && c.highTC.View+1 == st.View {
		last = c.highTC
	}
	return &types.Timeout{View: st.View, HighQC: st.HighQC, LastTC: last, Voter: c.self, Signature: st.Signature}
}

func (c *Core) voteTallied(vt *types.Vote) bool {
	t := c.votes[vt.View]
	return t != nil && t.byVoter[c.self] != nil
}

func (c *Core) timedOutTallied(v uint64) bool {
	tt := c.timeouts[v]
	return tt != nil && tt.byVoter[c.self] != nil
}

// signTimeout signs Timeout(v) (S3, S4, S5 in the rules). After a restart in
// a view already timed out, it rebuilds the stored timeout with the QC the
// record kept.
func (c *Core) signTimeout(v uint64) (*types.Timeout, error) {
	hq := c.highQC
	if st := c.storedTimeoutFor(v); st != nil {
		hq = st.HighQC
	}
	sig, err := c.rules.SignTimeout(v, hq)
	if err != nil {
		c.countSafetyErr(err)
		return nil, err
	}
	return &types.Timeout{View: v, HighQC: hq, LastTC: c.lastTC, Voter: c.self, Signature: sig}, nil
}

func (c *Core) onTimeout(from uint16, t *types.Timeout) {
	if from != c.self {
		c.Counters.Timeouts++
	}
	c.processQC(from, t.HighQC)
	if t.LastTC != nil && !c.halted {
		c.processTC(from, t.LastTC)
	}
	if c.halted {
		return
	}
	if t.View < c.view {
		c.Counters.DropStaleTimeout++
		c.answerSync(from)
		return
	}
	if t.View > c.view+c.cfg.MaxFutureViews {
		c.Counters.DropFutureTimeout++
		return
	}
	tt := c.timeouts[t.View]
	if tt == nil {
		tt = &timeoutTally{byVoter: map[uint16]*types.Timeout{}}
		c.timeouts[t.View] = tt
	}
	if prev := tt.byVoter[t.Voter]; prev != nil {
		if prev.HighQC.View != t.HighQC.View {
			c.Counters.EquivocationTimeout++
			c.addEvidence(Evidence{Kind: EvidenceTimeout, View: t.View, Validator: t.Voter, A: prev, B: t})
		} else {
			c.Counters.DropDuplicateTimeout++
		}
		return
	}
	tt.byVoter[t.Voter] = t
	tt.power += c.power(t.Voter)
	if tt.power > c.vs.F() {
		c.rules.Observe(t.View) // §8.4: messages of view w from more than f power
	}
	// join a higher view on timeouts from more than 1/3 of power
	if t.View > c.view && c.vs.ExceedsOneThird(tt.power) {
		c.rules.Observe(t.View)
		c.enterView(t.View, viaJoin, nil)
		c.onLocalTimeout()
		tt = c.timeouts[t.View]
		if tt == nil {
			return
		}
	}
	if !tt.done && c.vs.IsQuorum(tt.power) {
		tt.done = true
		var ts []*types.Timeout
		for i := range c.n {
			if x := tt.byVoter[uint16(i)]; x != nil {
				ts = append(ts, x)
			}
		}
		tc := types.NewTC(t.View, c.n, ts)
		c.Counters.TCsFormed++
		c.processTC(from, tc)
		// The next leader cannot propose without TC(v) (§8.2 last_tc), and
		// a timeout or two lost on its links would leave it to find out at
		// its own next expiry, possibly a capped timer later while everyone
		// else waits in v+1 (sim seed 6854). Every replica that forms the
		// TC hands it over: at most n messages per TC'd view.
		if l := c.leader(tc.View + 1); l != c.self && !c.halted && c.highTC != nil && c.highTC.View == tc.View {
			c.Counters.TCsSentToLeader++
			si := c.syncInfo()
			c.emit(Send{To: l, Msg: &si})
		}
	}
}

func (c *Core) addEvidence(ev Evidence) {
	key := [3]uint64{uint64(ev.Kind), ev.View, uint64(ev.Validator)}
	if c.evidenceSeen[key] {
		return
	}
	if len(c.evidence) >= c.cfg.MaxEvidence {
		c.Counters.EvidenceFull++
		return
	}
	c.evidenceSeen[key] = true
	c.evidence = append(c.evidence, ev)
	c.emit(Equivocation{Evidence: ev})
}

// ---- execution ------------------------------------------------------------------

func (c *Core) onExecuted(h uint64, d crypto.Hash) {
	c.digests[h] = d
	// V6 (§8.3) for every stored block naming height h, not only the
	// current view's: a QC may have formed before this replica executed h.
	diverged := false
	for _, e := range c.blocks {
		if e.id != c.genesisID && e.h().ExecHeight == h && e.h().ExecDigest != d {
			c.recordMismatch(e)
			diverged = diverged || e.certified || e.committed
		}
	}
	if diverged {
		c.halt(fmt.Sprintf("state divergence at height %d", h))
		return
	}
	if e := c.waitExec; e != nil {
		c.waitExec = nil
		c.tryVote(e)
	}
	c.tryPropose()
}

// recordMismatch counts a V6 digest mismatch of e once and remembers it: a
// QC on e then halts the replica.
func (c *Core) recordMismatch(e *entry) {
	if _, ok := c.mismatch[e.id]; ok {
		return
	}
	c.Counters.StateDigestMismatch++
	c.mismatch[e.id] = e.h().ExecHeight
}

// ---- proposing -------------------------------------------------------------------

func (c *Core) nonEmpty(e *entry) bool { return e != nil && len(e.p.Payload) > 0 }

func (c *Core) tryPropose() {
	if c.proposed || c.halted || !c.started || c.leader(c.view) != c.self {
		return
	}
	parent := c.blocks[c.highQC.BlockID]
	if parent == nil {
		return // fetching it
	}
	var tc *types.TC
	if c.view != c.highQC.View+1 {
		if c.lastTC == nil || c.lastTC.View != c.view-1 || c.highQC.View < c.lastTC.MaxHighQCView() {
			return // joined without a certificate: cannot justify a proposal
		}
		tc = c.lastTC
	}
	ready := (c.cfg.Payload != nil && c.cfg.Payload.Ready()) || c.nonEmpty(parent) ||
		(parent.parent != nil && (c.nonEmpty(parent.parent) || c.nonEmpty(parent.parent.parent)))
	if !ready && c.now < c.enteredAt+c.cfg.MaxBlockIntervalMs {
		return
	}
	eh := parent.c
	d, ok := c.digests[eh]
	if !ok {
		return // execute first; retried on Executed
	}
	var payload []*types.BatchCertificate
	if c.cfg.Payload != nil {
		payload = c.cfg.Payload.Build(parent.h(), parent.h().Height+1, c.view)
	}
	ids := make([]types.BatchID, len(payload))
	for i, pc := range payload {
		ids[i] = pc.BatchID(c.cfg.Network)
	}
	h := types.BlockHeader{
		Version: types.BlockVersion, ChainID: c.cfg.Network.ChainID(), Epoch: c.cfg.Genesis.Epoch,
		View: c.view, Height: parent.h().Height + 1, ParentID: parent.id, Proposer: c.self,
		TimestampMs:     max(c.now, parent.h().TimestampMs+1),
		BatchCommitment: types.BatchCommitment(c.cfg.Network, ids),
		JustifyView:     c.highQC.View, ExecHeight: eh, ExecDigest: d,
	}
	id := h.ID()
	sig, err := c.rules.SignProposal(&h, id)
	if err != nil {
		c.countSafetyErr(err)
		if isConflict(err) {
			c.proposed = true // refused for this view: don't retry
		} else {
			c.retryAt = c.now + c.cfg.FetchRetryMs // store or signer error
		}
		return
	}
	c.proposed = true
	p := &types.Proposal{Header: h, Justify: c.highQC, LastTC: tc, Payload: payload, Sync: c.syncInfo(), Signature: sig}
	c.Counters.ProposalsMade++
	c.emit(Broadcast{Msg: p})
	c.addBlock(c.self, p)
}

// ---- retransmission helpers ---------------------------------------------------------

func (c *Core) storedVote(v uint64) *types.Vote {
	if c.myVote != nil && c.myVote.View == v {
		return c.myVote
	}
	if sv := c.storedRulesVote(); sv != nil && sv.View == v {
		return &types.Vote{View: v, BlockID: sv.BlockID, Voter: c.self, Signature: sv.Signature, Sync: c.syncInfo()}
	}
	return nil
}

func (c *Core) storedRulesVote() *safety.SignedVote { return c.rules.StoredVote() }

func (c *Core) storedTimeoutFor(v uint64) *safety.SignedTimeout {
	if st := c.rules.StoredTimeout(); st != nil && st.View == v {
		return st
	}
	return nil
}

func isConflict(err error) bool { return errors.Is(err, safety.ErrConflict) }

// ---- read-only accessors (driver, simulator, tests) -----------------------------------

// View is the current view.
func (c *Core) View() uint64 { return c.view }

// HighQC is the highest QC seen.
func (c *Core) HighQC() types.QC { return c.highQC }

// HighTC is the highest TC seen (nil if none).
func (c *Core) HighTC() *types.TC { return c.highTC }

// CommittedHeight is the height of the last committed block.
func (c *Core) CommittedHeight() uint64 { return c.committedHeight }

// CommittedID is the id of the last committed block.
func (c *Core) CommittedID() types.BlockID { return c.committedTip.id }

// Halted reports whether the core halted, and why.
func (c *Core) Halted() (bool, string) { return c.halted, c.haltReason }

// Evidence returns the equivocation evidence kept so far.
func (c *Core) Evidence() []Evidence { return slices.Clone(c.evidence) }

// Block returns a stored block, or nil.
func (c *Core) Block(id types.BlockID) *types.Proposal {
	if e := c.blocks[id]; e != nil {
		return e.p
	}
	return nil
}

// Ancestors returns block id and up to max−1 of its stored ancestors
// (newest first, genesis excluded): what a peer serves for FetchBlocks.
func (c *Core) Ancestors(id types.BlockID, maxBlocks int) []*types.Proposal {
	var out []*types.Proposal
	for e := c.blocks[id]; e != nil && e.id != c.genesisID && len(out) < maxBlocks; e = e.parent {
		out = append(out, e.p)
	}
	return out
}

// PendingBlocks is the number of blocks parked waiting for a parent.
func (c *Core) PendingBlocks() int { return c.pendingCount }

// StoredBlocks is the number of blocks in the in-memory tree.
func (c *Core) StoredBlocks() int { return len(c.blocks) }
