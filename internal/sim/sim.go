package sim

import (
	"container/heap"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"

	"github.com/qbind/qbind/consensus"
	"github.com/qbind/qbind/consensus/safety"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

var simNetwork = crypto.DevNet

// Filter is a scripted Byzantine outbound hook of one instance: it sees every
// message the instance's core wants to send to validator to and returns the
// message to deliver instead (possibly a forged one signed with the
// instance's key) and whether to deliver at all.
type Filter func(s *Sim, from *Node, to uint16, msg consensus.Message) (consensus.Message, bool)

// Step is a scripted action at a virtual time.
type Step struct {
	At uint64
	Do func(*Sim)
}

// Config describes one run. Zero fields take defaults (see withDefaults).
type Config struct {
	Seed       uint64
	N          int
	RealCrypto bool // ML-DSA-44 signatures and a wire encode/decode round trip

	BaseTimeoutMs, MaxTimeoutMs, MaxBlockIntervalMs uint64
	MinDelayMs, MaxDelayMs, JitterMs                uint64 // per-link base delay in [Min,Max], plus jitter
	DropRate, DupRate                               float64
	DurationMs                                      uint64

	// Drop is a network adversary: it sees every message (consensus
	// messages, block requests and responses, DAG messages) and drops those
	// it returns true for. It does not make any node faulty.
	Drop func(s *Sim, fromInst, toInst int, msg any) bool

	Twins     []int          // validators that run as two instances sharing one key
	Crashed   []int          // validators down for the whole run
	Byzantine map[int]Filter // instance → scripted outbound filter
	App       App            // nil: SimpleApp

	CoreFaults   consensus.Faults // TEST-ONLY bug injection for every node
	SafetyFaults safety.Faults

	Script     []Step
	LastHealMs uint64 // start of the liveness window (0: no partition/crash scripted)
	Liveness   bool   // check liveness at the end
	Name       string // for the replay line
}

func (c Config) withDefaults() Config {
	d := func(p *uint64, v uint64) {
		if *p == 0 {
			*p = v
		}
	}
	if c.N == 0 {
		c.N = 4
	}
	d(&c.BaseTimeoutMs, 200)
	d(&c.MaxTimeoutMs, 1600)
	d(&c.MaxBlockIntervalMs, 50)
	if c.MaxDelayMs == 0 { // delays unspecified: 2–20 ms per link plus up to 10 ms jitter
		c.MinDelayMs, c.MaxDelayMs = max(c.MinDelayMs, 2), 20
		d(&c.JitterMs, 10)
	}
	c.MinDelayMs = min(c.MinDelayMs, c.MaxDelayMs)
	d(&c.DurationMs, 10000)
	return c
}

// Node is one simulated instance (a Twin is a second instance of a validator).
type Node struct {
	Inst   int
	Val    uint16
	Core   *consensus.Core
	Rules  *safety.Rules
	Store  *safety.MemStore
	Up     bool
	Honest bool // not a Twin, not Byzantine

	gen      uint64
	timerGen uint64
	lastTick uint64
	verifier msgVerifier
	app      NodeApp

	disk      map[types.BlockID]*types.Proposal
	diskLog   []types.BlockID // persist order
	synced    int             // diskLog[:synced] is durable
	diskQC    types.QC
	syncedQC  types.QC
	committed []types.BlockID // committed[h]
	Halted    string
}

// CommittedHeight is the highest height this instance committed.
func (n *Node) CommittedHeight() uint64 { return uint64(len(n.committed) - 1) }

type evKind uint8

const (
	evDeliver evKind = iota
	evTimer
	evFn
	evFetchReq
	evFetchResp
	evExecuted
)

type event struct {
	at, seq uint64
	kind    evKind
	inst    int
	gen     uint64
	tgen    uint64
	from    uint16
	msg     any
	fn      func(*Sim)
}

type eventQueue []*event

func (q eventQueue) Len() int { return len(q) }
func (q eventQueue) Less(i, j int) bool {
	if q[i].at != q[j].at {
		return q[i].at < q[j].at
	}
	return q[i].seq < q[j].seq
}
func (q eventQueue) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *eventQueue) Push(x any)   { *q = append(*q, x.(*event)) }
func (q *eventQueue) Pop() any {
	old := *q
	e := old[len(old)-1]
	*q = old[:len(old)-1]
	return e
}

// Stats summarises a run.
type Stats struct {
	Events, Messages, Dropped, Duplicated uint64
	Commits                               uint64
	CommitLatencySum, CommitLatencyN      uint64 // proposal broadcast → first honest commit, ms
	HeightAtHeal, HeightAtEnd             uint64
	MeanDelayMs                           float64
	delaySum, delayN                      uint64
}

// Sim is one simulation run.
type Sim struct {
	cfg        Config
	rng        *rand.Rand
	now        uint64
	seq        uint64
	q          eventQueue
	Nodes      []*Node
	byVal      [][]*Node
	vs         *types.ValidatorSet
	genesis    types.BlockHeader
	gid        types.BlockID
	scheme     scheme
	link       [][]uint64
	group      []int
	app        App
	Check      *Checker
	Stats      Stats
	proposedAt map[types.BlockID]uint64
}

// New builds a run.
func New(cfg Config) (*Sim, error) {
	cfg = cfg.withDefaults()
	s := &Sim{cfg: cfg, rng: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)), proposedAt: map[types.BlockID]uint64{}}
	s.vs = validatorSet(cfg.N)
	s.genesis = types.GenesisBlock(simNetwork, 1_000, crypto.Sum([]byte("EXEC0")))
	s.gid = s.genesis.ID()
	s.scheme = fakeScheme{}
	if cfg.RealCrypto {
		s.scheme = realScheme{}
	}
	s.app = cfg.App
	if s.app == nil {
		s.app = &SimpleApp{}
	}
	s.byVal = make([][]*Node, cfg.N)
	add := func(val int) {
		nd := &Node{Inst: len(s.Nodes), Val: uint16(val), Honest: true,
			Store: safety.NewMemStore(safety.NewRecord(types.GenesisQC(s.gid)))}
		s.Nodes = append(s.Nodes, nd)
		s.byVal[val] = append(s.byVal[val], nd)
	}
	for i := range cfg.N {
		add(i)
	}
	for _, t := range cfg.Twins {
		add(t)
		for _, nd := range s.byVal[t] {
			nd.Honest = false
		}
	}
	for inst := range cfg.Byzantine {
		s.Nodes[inst].Honest = false
	}
	m := len(s.Nodes)
	s.link = make([][]uint64, m)
	for i := range s.link {
		s.link[i] = make([]uint64, m)
		for j := range s.link[i] {
			s.link[i][j] = cfg.MinDelayMs + s.rng.Uint64N(cfg.MaxDelayMs-cfg.MinDelayMs+1)
		}
	}
	s.group = make([]int, m)
	honestKey := make([]bool, cfg.N)
	for i := range honestKey {
		honestKey[i] = true
	}
	for _, nd := range s.Nodes {
		if !nd.Honest {
			honestKey[nd.Val] = false
		}
	}
	s.Check = newChecker(s, honestKey)
	s.app.Init(s)
	crashed := map[int]bool{}
	for _, c := range cfg.Crashed {
		crashed[c] = true
	}
	for _, nd := range s.Nodes {
		if !crashed[int(nd.Val)] {
			if err := s.boot(nd, false); err != nil {
				return nil, err
			}
		}
	}
	for _, st := range cfg.Script {
		s.At(st.At, st.Do)
	}
	return s, nil
}

// Now is the virtual time (ms).
func (s *Sim) Now() uint64 { return s.now }

// Rand is the run's generator (scripts may use it).
func (s *Sim) Rand() *rand.Rand { return s.rng }

// Validators is the validator set.
func (s *Sim) Validators() *types.ValidatorSet { return s.vs }

// At schedules fn at virtual time t.
func (s *Sim) At(t uint64, fn func(*Sim)) { s.push(&event{at: max(t, s.now), kind: evFn, fn: fn}) }

func (s *Sim) push(e *event) {
	s.seq++
	e.seq = s.seq
	heap.Push(&s.q, e)
}

// boot (re)starts an instance: fresh core, safety rules from its store,
// blocks and high QC from its synced disk.
func (s *Sim) boot(nd *Node, recover bool) error {
	nd.gen++
	nd.timerGen++
	rules, err := safety.New(safety.Config{Network: simNetwork, Store: observedStore{nd.Store, s.Check, nd}, Signer: signerFunc(s.scheme.signer(int(nd.Val))),
		Recover: recover, GenesisQC: types.GenesisQC(s.gid), Faults: s.cfg.SafetyFaults})
	if err != nil {
		return err
	}
	if nd.app == nil {
		nd.app = s.app.Node(s, nd)
	}
	core, err := consensus.New(consensus.Config{
		Network: simNetwork, Validators: s.vs, Self: nd.Val, Genesis: s.genesis,
		BaseTimeoutMs: s.cfg.BaseTimeoutMs, MaxTimeoutMs: s.cfg.MaxTimeoutMs, MaxBlockIntervalMs: s.cfg.MaxBlockIntervalMs,
		MaxPendingBlocks: 4096,
		Payload:          nd.app, Validator: nd.app, Safety: rules, Faults: s.cfg.CoreFaults,
	})
	if err != nil {
		return err
	}
	nd.Core, nd.Rules, nd.Up = core, rules, true
	nd.verifier = s.scheme.verifier(s.vs, s.gid)
	if nd.disk == nil {
		nd.disk = map[types.BlockID]*types.Proposal{}
		nd.committed = []types.BlockID{s.gid}
		nd.syncedQC = types.GenesisQC(s.gid)
	}
	nd.lastTick = s.now
	s.step(nd, consensus.Start{NowMs: s.now})
	if len(nd.diskLog) > 0 {
		blocks := make([]*types.Proposal, len(nd.diskLog))
		for i, id := range nd.diskLog {
			blocks[i] = nd.disk[id]
		}
		s.step(nd, consensus.BlocksFetched{From: nd.Val, Blocks: blocks})
	}
	if nd.syncedQC.View > 0 {
		s.step(nd, consensus.RecvSync{From: nd.Val, Sync: types.SyncInfo{HighQC: nd.syncedQC}})
	}
	return nil
}

// Crash stops an instance: queued events for it are discarded and its
// unsynced disk tail is lost; the safety record survives.
func (s *Sim) Crash(inst int) {
	nd := s.Nodes[inst]
	if !nd.Up {
		return
	}
	nd.Up = false
	nd.gen++
	for _, id := range nd.diskLog[nd.synced:] {
		delete(nd.disk, id)
	}
	nd.diskLog = nd.diskLog[:nd.synced]
	nd.diskQC = nd.syncedQC
}

// Restart boots a crashed instance; wipeRecord loses its safety record
// first (it then starts with --recover-safety-record).
func (s *Sim) Restart(inst int, wipeRecord bool) {
	nd := s.Nodes[inst]
	if nd.Up {
		return
	}
	if wipeRecord {
		nd.Store.Wipe()
		s.Check.recovered[nd.Val] = true
	}
	if err := s.boot(nd, wipeRecord); err != nil {
		s.Check.fail("restart of instance %d: %v", inst, err)
	}
}

// Partition splits the instances into groups (unlisted instances form their
// own group); messages between groups are dropped at send and delivery.
func (s *Sim) Partition(groups ...[]int) {
	for i := range s.group {
		s.group[i] = -1 - i
	}
	for g, members := range groups {
		for _, m := range members {
			s.group[m] = g
		}
	}
}

// Heal removes every partition.
func (s *Sim) Heal() {
	for i := range s.group {
		s.group[i] = 0
	}
}

func (s *Sim) connected(a, b int) bool { return s.group[a] == s.group[b] }

// Run executes the run to DurationMs and returns the first violation.
func (s *Sim) Run() error {
	end := s.cfg.DurationMs
	healChecked := false
	for s.q.Len() > 0 {
		e := heap.Pop(&s.q).(*event)
		if e.at > end {
			break
		}
		if !healChecked && s.cfg.Liveness && e.at >= s.cfg.LastHealMs {
			healChecked = true
			s.Stats.HeightAtHeal = s.Check.maxHonestHeight()
		}
		s.now = e.at
		s.Stats.Events++
		s.handle(e)
		if err := s.Check.Err(); err != nil {
			return err
		}
	}
	s.now = end
	s.Stats.HeightAtEnd = s.Check.maxHonestHeight()
	if s.Stats.delayN > 0 {
		s.Stats.MeanDelayMs = float64(s.Stats.delaySum) / float64(s.Stats.delayN)
	}
	if s.cfg.Liveness {
		if !healChecked {
			s.Stats.HeightAtHeal = s.Check.maxHonestHeight()
		}
		window := 10*s.cfg.BaseTimeoutMs + 2*s.cfg.MaxTimeoutMs
		if end < s.cfg.LastHealMs+window {
			return fmt.Errorf("liveness: run ends %d ms after the last heal, need ≥ %d", end-s.cfg.LastHealMs, window)
		}
		if s.Stats.HeightAtEnd < s.Stats.HeightAtHeal+5 {
			return fmt.Errorf("liveness violation: committed height %d at the heal (t=%d ms), %d at the end (t=%d ms)",
				s.Stats.HeightAtHeal, s.cfg.LastHealMs, s.Stats.HeightAtEnd, end)
		}
	}
	return nil
}

func (s *Sim) handle(e *event) {
	switch e.kind {
	case evFn:
		e.fn(s)
		return
	}
	nd := s.Nodes[e.inst]
	if !nd.Up || nd.gen != e.gen {
		return
	}
	switch e.kind {
	case evTimer:
		if e.tgen != nd.timerGen {
			return
		}
		s.tick(nd)
	case evDeliver:
		if !s.connected(int(e.from), e.inst) {
			s.Stats.Dropped++
			return
		}
		s.receive(nd, s.Nodes[e.from].Val, e.msg)
	case evFetchReq:
		req := e.msg.(fetchReq)
		if !s.connected(req.inst, e.inst) {
			return
		}
		blocks := nd.diskAncestors(req.id, 256)
		if len(blocks) > 0 {
			s.send(nd, req.inst, evFetchResp, blocks)
		}
	case evFetchResp:
		if !s.connected(int(e.from), e.inst) {
			return
		}
		blocks := e.msg.([]*types.Proposal)
		for _, p := range blocks {
			if err := nd.verifier.VerifyProposal(p); err != nil {
				s.Check.fail("instance %d: fetched block fails verification: %v", nd.Inst, err)
				return
			}
		}
		s.tickIfMoved(nd)
		s.step(nd, consensus.BlocksFetched{From: s.Nodes[e.from].Val, Blocks: blocks})
	case evExecuted:
		x := e.msg.(consensus.Executed)
		s.tickIfMoved(nd)
		s.step(nd, x)
	}
}

type fetchReq struct {
	id   types.BlockID
	inst int
}

func (n *Node) diskAncestors(id types.BlockID, maxBlocks int) []*types.Proposal {
	var out []*types.Proposal
	for p := n.disk[id]; p != nil && len(out) < maxBlocks; p = n.disk[p.Header.ParentID] {
		out = append(out, p)
	}
	return out
}

func (s *Sim) tick(nd *Node) {
	nd.lastTick = s.now
	s.step(nd, consensus.Tick{NowMs: s.now})
}

func (s *Sim) tickIfMoved(nd *Node) {
	if nd.lastTick < s.now {
		s.tick(nd)
	}
}

// receive verifies (the driver's job) and feeds a message.
func (s *Sim) receive(nd *Node, from uint16, raw any) {
	msg, err := s.decode(raw)
	if err != nil {
		s.Check.fail("instance %d: message from %d does not decode: %v", nd.Inst, from, err)
		return
	}
	s.tickIfMoved(nd)
	if !nd.Up {
		return
	}
	var ev consensus.Event
	switch m := msg.(type) {
	case *types.Proposal:
		err = nd.verifier.VerifyProposal(m)
		ev = consensus.RecvProposal{From: from, Proposal: m}
	case *types.Vote:
		err = nd.verifier.VerifyVote(m)
		ev = consensus.RecvVote{From: from, Vote: m}
	case *types.Timeout:
		err = nd.verifier.VerifyTimeout(m)
		ev = consensus.RecvTimeout{From: from, Timeout: m}
	case *types.SyncInfo:
		err = nd.verifier.VerifySyncInfo(m)
		ev = consensus.RecvSync{From: from, Sync: *m}
	default:
		err = fmt.Errorf("unknown message %T", msg)
	}
	if err != nil {
		s.Check.fail("instance %d: message %T from validator %d fails verification: %v", nd.Inst, msg, from, err)
		return
	}
	s.step(nd, ev)
}

// step feeds one event to a core and performs its actions.
func (s *Sim) step(nd *Node, ev consensus.Event) {
	acts := nd.Core.Step(ev)
	for _, a := range acts {
		if !nd.Up {
			return
		}
		s.perform(nd, a)
	}
}

func (s *Sim) perform(nd *Node, a consensus.Action) {
	switch a.(type) {
	case consensus.Send, consensus.Broadcast:
		// the driver contract: whatever was persisted before a message
		// leaves is durable (fsync before send); later writes stay unsynced
		nd.synced, nd.syncedQC = len(nd.diskLog), nd.diskQC
	}
	switch a := a.(type) {
	case consensus.Send:
		s.Check.signed(nd, a.Msg)
		s.sendTo(nd, a.To, a.Msg)
	case consensus.Broadcast:
		s.Check.signed(nd, a.Msg)
		if p, ok := a.Msg.(*types.Proposal); ok && nd.Honest {
			id := p.Header.ID()
			if _, seen := s.proposedAt[id]; !seen {
				s.proposedAt[id] = s.now
			}
		}
		for v := range s.cfg.N {
			if uint16(v) != nd.Val {
				s.sendTo(nd, uint16(v), a.Msg)
			}
		}
	case consensus.PersistBlock:
		id := a.Proposal.Header.ID()
		if _, ok := nd.disk[id]; !ok {
			nd.disk[id] = a.Proposal
			nd.diskLog = append(nd.diskLog, id)
		}
	case consensus.PersistQC:
		nd.diskQC = a.QC
	case consensus.Commit:
		nd.synced, nd.syncedQC = len(nd.diskLog), nd.diskQC // the state commit fsyncs
		s.Check.proof(nd, a)
		for _, p := range a.Blocks {
			s.Check.commit(nd, p)
			if t, ok := s.proposedAt[p.Header.ID()]; ok && nd.Honest {
				s.Stats.CommitLatencySum += s.now - t
				s.Stats.CommitLatencyN++
				delete(s.proposedAt, p.Header.ID())
			}
			d := nd.app.Execute(p)
			s.push(&event{at: s.now + 1, kind: evExecuted, inst: nd.Inst, gen: nd.gen,
				msg: consensus.Executed{Height: p.Header.Height, Digest: d}})
		}
		s.Stats.Commits += uint64(len(a.Blocks))
	case consensus.SetTimer:
		nd.timerGen++
		s.push(&event{at: max(a.AtMs, s.now), kind: evTimer, inst: nd.Inst, gen: nd.gen, tgen: nd.timerGen})
	case consensus.FetchBlocks:
		for _, peer := range s.byVal[a.From] {
			s.send(nd, peer.Inst, evFetchReq, fetchReq{id: a.ID, inst: nd.Inst})
			break
		}
	case consensus.Halt:
		nd.Halted = a.Reason
		if nd.Honest {
			s.Check.fail("honest instance %d (validator %d) halted: %s", nd.Inst, nd.Val, a.Reason)
		}
	case consensus.Equivocation:
		s.Check.evidence++
	}
}

// sendTo routes a consensus message to every instance of validator to,
// through the sender's Byzantine filter if any.
func (s *Sim) sendTo(nd *Node, to uint16, msg consensus.Message) {
	if f := s.cfg.Byzantine[nd.Inst]; f != nil {
		var ok bool
		if msg, ok = f(s, nd, to, msg); !ok {
			return
		}
	}
	wire := s.encode(msg)
	for _, peer := range s.byVal[to] {
		s.send(nd, peer.Inst, evDeliver, wire)
	}
}

// send schedules a network delivery with delay, drop and duplication.
func (s *Sim) send(nd *Node, inst int, kind evKind, msg any) {
	s.Stats.Messages++
	if !s.connected(nd.Inst, inst) || s.rng.Float64() < s.cfg.DropRate ||
		(s.cfg.Drop != nil && s.cfg.Drop(s, nd.Inst, inst, msg)) {
		s.Stats.Dropped++
		return
	}
	copies := 1
	if s.rng.Float64() < s.cfg.DupRate {
		copies = 2
		s.Stats.Duplicated++
	}
	for range copies {
		d := s.link[nd.Inst][inst] + s.rng.Uint64N(s.cfg.JitterMs+1)
		s.Stats.delaySum += d
		s.Stats.delayN++
		s.push(&event{at: s.now + d, kind: kind, inst: inst, gen: s.Nodes[inst].gen, from: uint16(nd.Inst), msg: msg})
	}
}

// Replay is the command that replays this run.
func (s *Sim) Replay(test string) string {
	return fmt.Sprintf("go test ./internal/sim -run '^%s$' -seed %d -v", test, s.cfg.Seed)
}

// Describe is a one-line summary of the configuration.
func (c Config) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "seed=%d n=%d real=%v drop=%.2f dup=%.2f twins=%v crashed=%v dur=%dms heal=%dms %s",
		c.Seed, c.N, c.RealCrypto, c.DropRate, c.DupRate, c.Twins, c.Crashed, c.DurationMs, c.LastHealMs, c.Name)
	return b.String()
}

// Instances of validator v.
func (s *Sim) Instances(v int) []*Node { return slices.Clone(s.byVal[v]) }

// ForgeProposal builds a proposal for header h signed with validator val's
// key, bypassing any safety rule (Byzantine scripts).
func (s *Sim) ForgeProposal(val int, h types.BlockHeader, justify types.QC, tc *types.TC, sync types.SyncInfo) *types.Proposal {
	sig, _ := s.scheme.signer(val)(types.ProposalSigningBytes(simNetwork, h.ID()))
	return &types.Proposal{Header: h, Justify: justify, LastTC: tc, Sync: sync, Signature: sig}
}

// ForgeVote builds a vote signed with validator val's key.
func (s *Sim) ForgeVote(val int, view uint64, id types.BlockID, sync types.SyncInfo) *types.Vote {
	sig, _ := s.scheme.signer(val)(types.VoteSigningBytes(simNetwork, view, id))
	return &types.Vote{View: view, BlockID: id, Voter: uint16(val), Signature: sig, Sync: sync}
}

// Inject sends msg from instance from to instance to through the network
// (no filter): Byzantine scripts use it for delayed or extra messages.
func (s *Sim) Inject(from, to int, msg consensus.Message) {
	s.send(s.Nodes[from], to, evDeliver, s.encode(msg))
}

// Genesis is G.
func (s *Sim) Genesis() types.BlockHeader { return s.genesis }
