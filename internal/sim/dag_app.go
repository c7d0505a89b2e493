package sim

import (
	"encoding/binary"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"

	"github.com/qbind/qbind/consensus"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/dag"
	"github.com/qbind/qbind/mempool"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// DAGApp runs the real DAG availability core and a mempool in every
// instance, in place of SimpleApp: client transactions enter each creator's
// pool, creators cut batches, peers store and ack them over the simulated
// network (same links, delays, partitions and crashes as consensus), leaders
// propose certificates through dag.Core.BuildPayload, voters run V7 through
// dag.Core.ValidatePayload, and committed blocks go to dag.Core (post-commit
// check, fetch-on-miss) and to a nonce-only executor that runs each block's
// canonical list once every body is held.
//
// Batch, ack and certificate signatures and tx signatures are real
// ML-DSA-44 (the simulator's validator keys); consensus keeps the
// simulator's scheme. Invariants (DAGApp.Err): every committed tx came from
// a certified batch (the payload certificate verifies with a quorum and the
// body hashes to its id); no batch is committed twice and no tx executes
// twice on any honest node; no two certificates exist for one (creator,
// seq); no honest node acks a batch the scenario marked invalid; every
// certified batch stays retrievable by its honest signers until it expires,
// or is committed and pruned (CheckRetrievable).
type DAGApp struct {
	Coupling dag.CouplingMode
	// SendersPerCreator client accounts feed each honest creator; each gets
	// TxsPerSender pre-signed txs; every TxEveryMs the creator admits the
	// next tx of one sender, senders in turn.
	SendersPerCreator int
	TxsPerSender      int
	TxEveryMs         uint64
	MaxWaitMs         uint64
	// ByzCreator, if ≥ 0, is a validator whose DAG side is scripted by
	// the scenario (its consensus side stays honest): it builds no
	// batches itself; the scenario sends batches in its name with
	// SendAs, and the app collects the acks it gets.
	ByzCreator int

	s       *Sim
	vs      *types.ValidatorSet
	checker *types.Checker
	params  types.ExecParams
	nodes   map[int]*dagNode // by instance
	txs     [][][]byte       // [sender][nonce]
	errs    []string

	certsBySeq  map[[2]uint64]types.BatchID // (creator, seq) → certified id
	certs       map[types.BatchID]*types.BatchCertificate
	certAt      map[types.BatchID]uint64 // virtual time the first certificate was seen
	invalid     map[types.BatchID]string // batches the scenario marked invalid
	byzAcks     map[types.BatchID]map[uint16]*types.BatchAck
	honestAcks  map[types.BatchID]int
	honestAckBy map[types.BatchID]map[uint16]bool
	pendingByz  []*types.Batch
}

type dagNode struct {
	app      *DAGApp
	nd       *Node
	core     *dag.Core
	pool     *mempool.Pool
	nonces   map[types.AccountID]uint64
	execQ    []*types.Proposal // committed, waiting for bodies
	execH    uint64
	execd    map[types.TxID]bool
	commB    map[types.BatchID]uint64
	next     map[int]int // sender → next nonce to admit
	rot      int
	gen      uint64                         // nd.gen the core was built for
	disk     map[types.BatchID]*types.Batch // durable bodies (survive a crash)
	lastH    uint64                         // highest height handed to Execute
	blocks   map[uint64]*types.Proposal     // committed blocks (the node's block store)
	signer   *dag.MemSigner
	restarts int
}

// NewDAGApp returns an app with defaults: enforce, 6 senders per creator
// (one tx admitted every 20 ms, senders in turn), 40 txs each, no Byzantine
// creator.
func NewDAGApp() *DAGApp {
	return &DAGApp{Coupling: dag.CouplingEnforce, SendersPerCreator: 6, TxsPerSender: 40, TxEveryMs: 20, MaxWaitMs: 40, ByzCreator: -1}
}

var dagTxCache = struct {
	sync.Mutex
	m map[[2]int][][][]byte
}{m: map[[2]int][][][]byte{}}

// dagTxs pre-signs count txs for each of senders accounts (cached per
// process: signing is ~250 µs).
func dagTxs(senders, count int) [][][]byte {
	dagTxCache.Lock()
	defer dagTxCache.Unlock()
	if t, ok := dagTxCache.m[[2]int{senders, count}]; ok {
		return t
	}
	out := make([][][]byte, senders)
	var wg sync.WaitGroup
	for s := range senders {
		out[s] = make([][]byte, count)
		wg.Go(func() {
			k := dagSenderKey(s)
			var to types.AccountID
			to[0] = 0x77
			for n := range count {
				pl := types.Transfer{Version: types.PayloadV1, Recipient: to, Amount: u128.From64(1), GasLimit: 50_000,
					MaxFeePerGas: u128.From64(1)}.Encode()
				tx := &types.Transaction{Suite: crypto.SuiteMLDSA44, PublicKey: k.Public().Bytes(), Nonce: uint64(n), Payload: pl}
				if err := tx.SignDeterministic(simNetwork, k); err != nil {
					panic(err)
				}
				out[s][n] = tx.Encode()
			}
		})
	}
	wg.Wait()
	dagTxCache.m[[2]int{senders, count}] = out
	return out
}

func dagSenderKey(s int) *crypto.PrivateKey {
	seed := make([]byte, 32)
	copy(seed, "qbind-sim-dag-sender")
	binary.LittleEndian.PutUint32(seed[28:], uint32(s))
	k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
	if err != nil {
		panic(err)
	}
	return k
}

func (a *DAGApp) fail(format string, args ...any) {
	if len(a.errs) < 20 {
		a.errs = append(a.errs, fmt.Sprintf("t=%d: ", a.s.now)+fmt.Sprintf(format, args...))
	}
}

// Err returns the first invariant violation.
func (a *DAGApp) Err() error {
	if len(a.errs) == 0 {
		return nil
	}
	return fmt.Errorf("dag invariant: %s (and %d more)", a.errs[0], len(a.errs)-1)
}

// Init implements App.
func (a *DAGApp) Init(s *Sim) {
	a.s = s
	a.vs = s.vs
	p, err := types.DefaultExecParams(types.ProfileTestNetBeta)
	if err != nil {
		panic(err)
	}
	a.params = p
	a.checker = types.NewChecker(simNetwork, p)
	a.nodes = map[int]*dagNode{}
	a.txs = dagTxs(s.cfg.N*a.SendersPerCreator, a.TxsPerSender)
	a.certsBySeq = map[[2]uint64]types.BatchID{}
	a.certs = map[types.BatchID]*types.BatchCertificate{}
	a.certAt = map[types.BatchID]uint64{}
	a.invalid = map[types.BatchID]string{}
	a.byzAcks = map[types.BatchID]map[uint16]*types.BatchAck{}
	a.honestAcks = map[types.BatchID]int{}
	a.honestAckBy = map[types.BatchID]map[uint16]bool{}
	// Client load. There is no periodic DAG tick: like a real driver, the
	// app ticks a core only when it asked (SetTimer), after admitting a tx,
	// after applying a block's outcomes later than its Committed (deferred
	// execution), and once at boot — the dag.Tick contract — so a core
	// that forgets to ask for a tick stalls here.
	var load func(*Sim)
	load = func(s *Sim) {
		for _, inst := range slices.Sorted(maps.Keys(a.nodes)) {
			dn := a.nodes[inst]
			if !dn.nd.Up {
				continue
			}
			dn.ensure() // a restarted instance boots its DAG side
			if int(dn.nd.Val) != a.ByzCreator && len(s.byVal[dn.nd.Val]) == 1 {
				dn.admit()
			}
		}
		s.At(s.now+a.TxEveryMs, load)
	}
	s.At(1, load)
}

// Node implements App.
func (a *DAGApp) Node(s *Sim, nd *Node) NodeApp {
	dn := &dagNode{app: a, nd: nd, nonces: map[types.AccountID]uint64{}, execd: map[types.TxID]bool{},
		commB: map[types.BatchID]uint64{}, next: map[int]int{}, disk: map[types.BatchID]*types.Batch{},
		blocks: map[uint64]*types.Proposal{}}
	dn.signer = dag.NewMemSigner(simNetwork, simKey(int(nd.Val)))
	dn.build(0)
	a.nodes[nd.Inst] = dn
	dn.boot(nil)
	return dn
}

// boot performs the actions a fresh core produced before its driver ran
// (the replay's SetTimer) and gives it its first Tick, in an event of its
// own (boot may run inside a consensus hook).
func (dn *dagNode) boot(acts []dag.Action) {
	a, gen := dn.app, dn.nd.gen
	a.s.At(a.s.now, func(s *Sim) {
		if dn.nd.Up && dn.nd.gen == gen && dn.gen == gen {
			dn.perform(acts)
			dn.step(dag.Tick{NowMs: s.now})
		}
	})
}

// build makes a fresh pool and DAG core at committed height h (boot or
// restart); the signer (with its guard) survives, like the key's record.
func (dn *dagNode) build(h uint64) {
	a := dn.app
	pool, err := mempool.New(mempool.ConfigFor(mempool.FeePriority, a.params), dn)
	if err != nil {
		panic(err)
	}
	core, err := dag.New(dag.Config{
		Network: simNetwork, Validators: a.vs, Self: dn.nd.Val, Params: a.params, Coupling: a.Coupling,
		Signer:   dn.signer,
		Verifier: &dag.RealVerifier{Network: simNetwork, Validators: a.vs, Checker: a.checker},
		Creator:  int(dn.nd.Val) != a.ByzCreator, MaxWaitMs: a.MaxWaitMs, MaxBatchTxs: 20,
	}, pool, h)
	if err != nil {
		panic(err)
	}
	dn.pool, dn.core, dn.gen = pool, core, dn.nd.gen
}

// ensure rebuilds the DAG side after the instance restarted: empty pool
// (clients resubmit from the account nonce), bodies restored from disk,
// the committed index rebuilt by replaying the last BATCH_TTL committed
// blocks.
func (dn *dagNode) ensure() {
	if dn.gen == dn.nd.gen {
		return
	}
	a := dn.app
	h := dn.lastH
	dn.build(h)
	var bodies []*types.Batch
	for _, id := range slices.SortedFunc(maps.Keys(dn.disk), func(x, y types.BatchID) int { return slices.Compare(x[:], y[:]) }) {
		bodies = append(bodies, dn.disk[id])
	}
	dn.core.Restore(bodies)
	var acts []dag.Action
	for k := h - min(h, a.params.BatchTTL) + 1; k <= h && k < uint64(len(dn.nd.committed)); k++ {
		if p := dn.committedBlock(k); p != nil {
			acts = append(acts, dn.core.Step(dag.Committed{Block: p})...)
		}
	}
	for k := range a.SendersPerCreator {
		s := int(dn.nd.Val)*a.SendersPerCreator + k
		dn.next[s] = int(dn.nonces[dagSenderKeyID(s)])
	}
	dn.restarts++
	dn.boot(acts)
}

func (dn *dagNode) committedBlock(h uint64) *types.Proposal {
	if p, ok := dn.blocks[h]; ok {
		return p
	}
	return nil
}

var dagSenderIDs sync.Map

func dagSenderKeyID(s int) types.AccountID {
	if id, ok := dagSenderIDs.Load(s); ok {
		return id.(types.AccountID)
	}
	id := types.AccountIDOf(dagSenderKey(s).Public())
	dagSenderIDs.Store(s, id)
	return id
}

// Account implements mempool.AccountView (nonce-only accounts, rich).
func (dn *dagNode) Account(id types.AccountID) (types.Account, error) {
	return types.Account{Nonce: dn.nonces[id], Balance: u128.From64(1 << 62)}, nil
}

// admit submits the next tx of one of this creator's senders, rotating,
// so that while some senders wait for their pending batch (run rule) others
// keep the builder cutting.
func (dn *dagNode) admit() {
	dn.ensure()
	a := dn.app
	k := dn.rot % a.SendersPerCreator
	dn.rot++
	s := int(dn.nd.Val)*a.SendersPerCreator + k
	if n := dn.next[s]; n < a.TxsPerSender {
		if _, err := dn.pool.Add(a.checker, a.txs[s][n], a.s.now); err == nil {
			dn.next[s]++
			dn.step(dag.Tick{NowMs: a.s.now}) // the driver ticks after an admission
		}
	}
}

// step feeds the DAG core and performs its actions; blocks whose execution
// waited for bodies run as soon as they are held, and since that changes
// the pool after the turn of their Committed, the driver then ticks.
func (dn *dagNode) step(ev dag.Event) {
	dn.ensure()
	dn.perform(dn.core.Step(ev))
	if len(dn.execQ) > 0 && dn.execute() > 0 {
		dn.step(dag.Tick{NowMs: dn.app.s.now})
	}
}

func (dn *dagNode) perform(acts []dag.Action) {
	a := dn.app
	for _, act := range acts {
		switch x := act.(type) {
		case dag.Store:
			id, b, gen := x.ID, x.Batch, dn.nd.gen
			a.s.At(a.s.now+1, func(*Sim) { // an fsync later; a crash before loses it
				if dn.nd.Up && dn.nd.gen == gen {
					dn.disk[id] = b
					dn.step(dag.StoreDone{ID: id})
				}
			})
		case dag.Delete:
			delete(dn.disk, x.ID)
		case dag.Send:
			a.sendDAG(dn.nd, int(x.To), x.Msg)
		case dag.Broadcast:
			for v := range a.s.cfg.N {
				if uint16(v) != dn.nd.Val {
					a.sendDAG(dn.nd, v, x.Msg)
				}
			}
		case dag.PayloadAvailable:
			if dn.nd.Up {
				a.s.tickIfMoved(dn.nd)
				a.s.step(dn.nd, consensus.PayloadAvailable{})
			}
		case dag.SetTimer:
			gen := dn.nd.gen
			a.s.At(x.AtMs, func(s *Sim) {
				if dn.nd.Up && dn.nd.gen == gen && dn.gen == gen {
					dn.step(dag.Tick{NowMs: s.now})
				}
			})
		case dag.Equivocation:
		}
	}
}

// sendDAG delivers a DAG message to every instance of validator to, with
// the consensus network's link delays, partitions, drop rate and Drop.
func (a *DAGApp) sendDAG(from *Node, to int, msg dag.Message) {
	s := a.s
	if ack, ok := msg.(*types.BatchAck); ok && from.Honest {
		a.honestAcks[ack.BatchID]++
		if a.honestAckBy[ack.BatchID] == nil {
			a.honestAckBy[ack.BatchID] = map[uint16]bool{}
		}
		a.honestAckBy[ack.BatchID][from.Val] = true
		if why, bad := a.invalid[ack.BatchID]; bad {
			a.fail("honest validator %d acked invalid batch %s (%s)", from.Val, ack.BatchID, why)
		}
	}
	if c, ok := msg.(*types.BatchCertificate); ok {
		a.noteCert(c)
	}
	if to == a.ByzCreator {
		if ack, ok := msg.(*types.BatchAck); ok {
			a.byzAck(ack)
			return
		}
	}
	for _, peer := range s.byVal[to] {
		if !s.connected(from.Inst, peer.Inst) || s.rng.Float64() < s.cfg.DropRate ||
			(s.cfg.Drop != nil && s.cfg.Drop(s, from.Inst, peer.Inst, msg)) {
			continue
		}
		d := s.link[from.Inst][peer.Inst] + s.rng.Uint64N(s.cfg.JitterMs+1)
		fromVal, fromInst, pi := from.Val, from.Inst, peer.Inst
		s.At(s.now+d, func(s *Sim) {
			dn := a.nodes[pi]
			if dn == nil || !dn.nd.Up || !s.connected(fromInst, pi) {
				return
			}
			dn.deliver(fromVal, msg)
		})
	}
}

func (dn *dagNode) deliver(from uint16, msg dag.Message) {
	var ev dag.Event
	switch m := msg.(type) {
	case *types.Batch:
		ev = dag.RecvBatch{From: from, Batch: m}
	case *types.BatchAck:
		ev = dag.RecvAck{From: from, Ack: m}
	case *types.BatchCertificate:
		ev = dag.RecvCert{From: from, Cert: m}
	case *dag.FetchRequest:
		ev = dag.RecvFetchRequest{From: from, Req: m}
	case *dag.FetchResponse:
		ev = dag.RecvFetchResponse{From: from, Resp: m}
	default:
		panic(fmt.Sprintf("sim: DAG message %T", msg))
	}
	dn.step(ev)
}

// noteCert records a certificate seen on the wire and checks "at most one
// certificate per (creator, seq)".
func (a *DAGApp) noteCert(c *types.BatchCertificate) {
	id := c.BatchID(simNetwork)
	if _, ok := a.certs[id]; ok {
		return
	}
	if err := c.Verify(simNetwork, a.vs); err != nil {
		if a.Coupling != dag.CouplingOff {
			return // not a certificate
		}
	}
	k := [2]uint64{uint64(c.Header.Creator), c.Header.Seq}
	if prev, ok := a.certsBySeq[k]; ok && prev != id {
		a.fail("two certificates for creator %d seq %d", c.Header.Creator, c.Header.Seq)
	}
	a.certsBySeq[k] = id
	a.certs[id] = c
	a.certAt[id] = a.s.now
	if why, bad := a.invalid[id]; bad {
		a.fail("invalid batch %s (%s) got a certificate", id, why)
	}
}

// ---- consensus hooks ----------------------------------------------------------

// Ready implements consensus.PayloadSource.
func (dn *dagNode) Ready() bool { dn.ensure(); return dn.core.Ready() }

// Build implements consensus.PayloadSource.
func (dn *dagNode) Build(parent *types.BlockHeader, height, view uint64) []*types.BatchCertificate {
	dn.ensure()
	payload, _ := dn.core.BuildPayload(parent.ID(), height, view, dn.nd.Core)
	return payload
}

// ValidatePayload implements consensus.PayloadValidator (V7).
func (dn *dagNode) ValidatePayload(p *types.Proposal, _ *types.Proposal, anc consensus.Ancestry) error {
	dn.ensure()
	err := dn.core.ValidatePayload(p, p.Header.ParentID, anc)
	dn.perform(dn.core.TakeActions())
	if errors.Is(err, dag.ErrNeedBodies) {
		// The node's driver makes the same translation: hold the vote until
		// the fetched bodies arrive (PayloadAvailable), don't give it up.
		return fmt.Errorf("%w: %w", consensus.ErrPayloadPending, err)
	}
	return err
}

// Execute implements NodeApp: the DAG records the commit; the executor runs
// the block once every body is held. The exec digest depends only on the
// block (as SimpleApp's), so consensus is unaffected by fetch latency.
func (dn *dagNode) Execute(p *types.Proposal) crypto.Hash {
	a := dn.app
	dn.ensure()
	digest := func() crypto.Hash {
		var h [8]byte
		binary.LittleEndian.PutUint64(h[:], p.Header.Height)
		id := p.Header.ID()
		return crypto.Sum([]byte("sim-exec"), h[:], id[:])
	}
	if p.Header.Height <= dn.lastH {
		return digest() // re-commit after a restart: already handed over
	}
	dn.lastH = p.Header.Height
	dn.blocks[p.Header.Height] = p
	delete(dn.blocks, p.Header.Height-min(p.Header.Height, a.params.BatchTTL+1))
	for _, c := range p.Payload {
		id := c.BatchID(simNetwork)
		if dn.nd.Honest {
			if h, dup := dn.commB[id]; dup {
				a.fail("instance %d: batch %s committed twice (heights %d and %d)", dn.nd.Inst, id, h, p.Header.Height)
			}
			if err := c.Verify(simNetwork, a.vs); err != nil && a.Coupling != dag.CouplingOff {
				a.fail("instance %d: committed an uncertified batch %s: %v", dn.nd.Inst, id, err)
			}
		}
		dn.commB[id] = p.Header.Height
		a.noteCert(c)
	}
	dn.step(dag.Committed{Block: p})
	// Executed in the same turn as Committed when every body is held: the
	// core's own SetTimer (commit freed own capacity) then sees the
	// updated pool, no extra tick.
	dn.execQ = append(dn.execQ, p)
	dn.execute()
	return digest()
}

// execute runs queued committed blocks in order while their bodies are held:
// nonce-only execution of the canonical list (dedup by tx_id), outcomes to
// the pool. It returns the number of blocks executed.
func (dn *dagNode) execute() int {
	done := 0
	for len(dn.execQ) > 0 {
		p := dn.execQ[0]
		txs, missing := dn.core.BlockTxs(p)
		if len(missing) > 0 {
			return done
		}
		done++
		dn.execQ = dn.execQ[1:]
		dn.execH = p.Header.Height
		// Every tx comes from a body whose id is a payload certificate's.
		for _, c := range p.Payload {
			b := dn.core.Body(c.BatchID(simNetwork))
			if b == nil || b.Header.ID(simNetwork) != c.BatchID(simNetwork) {
				dn.app.fail("instance %d: executing a body that does not match its certificate", dn.nd.Inst)
			}
		}
		seen := map[types.TxID]bool{}
		var outs []mempool.TxOutcome
		for _, raw := range txs {
			ct, err := dn.app.checker.Check(raw)
			if err != nil {
				dn.app.fail("instance %d: committed tx fails stateless validity: %v", dn.nd.Inst, err)
				continue
			}
			if seen[ct.ID] {
				continue // dedup: no receipt
			}
			seen[ct.ID] = true
			o := mempool.TxOutcome{ID: ct.ID, Sender: ct.Sender}
			switch n := dn.nonces[ct.Sender]; {
			case ct.Tx.Nonce < n:
				o.Skip = types.SkipNonceTooLow
			case ct.Tx.Nonce > n:
				o.Skip = types.SkipNonceTooHigh
			default:
				if dn.nd.Honest && dn.execd[ct.ID] {
					dn.app.fail("instance %d: tx %s executed twice", dn.nd.Inst, ct.ID)
				}
				dn.execd[ct.ID] = true
				dn.nonces[ct.Sender] = n + 1
				o.Executed = true
			}
			outs = append(outs, o)
		}
		if err := dn.pool.OnBlock(outs); err != nil {
			dn.app.fail("pool: %v", err)
		}
	}
	return done
}

// ---- Byzantine creator ----------------------------------------------------------

// SendAs sends batch b (signed by the scenario with the Byzantine
// creator's key) to the given validators; invalid marks it as one no honest
// node may ack.
func (a *DAGApp) SendAs(b *types.Batch, to []int, invalid string) {
	id := b.Header.ID(simNetwork)
	if invalid != "" {
		a.invalid[id] = invalid
	}
	from := a.s.byVal[a.ByzCreator][0]
	for _, v := range to {
		a.sendDAG(from, v, b)
	}
	if a.byzAcks[id] == nil {
		a.byzAcks[id] = map[uint16]*types.BatchAck{}
	}
	ack := &types.BatchAck{BatchID: id, Signer: uint16(a.ByzCreator)}
	if err := ack.Sign(simNetwork, simKey(a.ByzCreator)); err != nil {
		panic(err)
	}
	a.byzAcks[id][ack.Signer] = ack
	a.pendingByz = append(a.pendingByz, b)
}

// byzAck collects acks for the Byzantine creator and, at a quorum, forms and
// broadcasts the certificate (as a creator would).
func (a *DAGApp) byzAck(ack *types.BatchAck) {
	m := a.byzAcks[ack.BatchID]
	if m == nil || m[ack.Signer] != nil {
		return
	}
	m[ack.Signer] = ack
	var power uint64
	for s := range m {
		power += a.vs.Get(int(s)).Power
	}
	if !a.vs.IsQuorum(power) {
		return
	}
	var h *types.BatchHeader
	for _, b := range a.pendingByz {
		if b.Header.ID(simNetwork) == ack.BatchID {
			h = &b.Header
		}
	}
	acks := slices.Collect(maps.Values(m))
	cert := types.NewBatchCertificate(*h, a.s.cfg.N, acks)
	delete(a.byzAcks, ack.BatchID)
	from := a.s.byVal[a.ByzCreator][0]
	for v := range a.s.cfg.N {
		if v != a.ByzCreator {
			a.sendDAG(from, v, cert)
		}
	}
	if dn := a.nodes[from.Inst]; dn != nil {
		dn.step(dag.RecvCert{From: uint16(a.ByzCreator), Cert: cert})
	}
}

// ByzBatch builds a batch of the Byzantine creator (seq, expiry, txs), lets
// mut tamper with it, and signs it with the creator's real key.
func (a *DAGApp) ByzBatch(seq, expiry uint64, txs [][]byte, mut func(*types.Batch)) *types.Batch {
	ids := make([]types.TxID, len(txs))
	var gas uint64
	for i, raw := range txs {
		ids[i] = types.EntryID(simNetwork, raw)
		if ct, err := a.checker.Check(raw); err == nil {
			gas += ct.IntrinsicGas
		} else if tx, err := types.DecodeTransaction(raw); err == nil {
			if tr, err := types.ParseTransfer(tx.Payload); err == nil {
				gas += a.params.IntrinsicGas(tr.Recipient == tx.Sender(), len(tx.Payload))
			}
		}
	}
	b := &types.Batch{Header: types.BatchHeader{Creator: uint16(a.ByzCreator), Seq: seq, ExpiryHeight: expiry,
		TxCount: uint32(len(txs)), GasSum: gas, TxRoot: types.TxRoot(ids)}, Txs: txs}
	if mut != nil {
		mut(b)
	}
	if err := b.Sign(simNetwork, simKey(a.ByzCreator)); err != nil {
		panic(err)
	}
	return b
}

// Committed reports the committed height the Byzantine creator's instance
// sees (to build expiry heights).
func (a *DAGApp) Committed() uint64 {
	return a.nodes[a.s.byVal[a.ByzCreator][0].Inst].core.CommittedHeight()
}

// Txs returns the pre-signed txs of client sender s.
func (a *DAGApp) Txs(s int) [][]byte { return a.txs[s] }

// CheckRetrievable checks, for every certificate seen, that each honest,
// live signer still holds the body unless the batch expired at that node,
// or was committed there more than RetainBlocks heights ago.
func (a *DAGApp) CheckRetrievable() {
	for _, id := range slices.SortedFunc(maps.Keys(a.certs), func(x, y types.BatchID) int { return slices.Compare(x[:], y[:]) }) {
		c := a.certs[id]
		for _, i := range c.Signers.Indices() {
			for _, nd := range a.s.byVal[i] {
				dn := a.nodes[nd.Inst]
				if dn == nil || !nd.Honest || !nd.Up {
					continue
				}
				h := dn.core.CommittedHeight()
				if c.Header.ExpiryHeight <= h {
					continue
				}
				if ch, ok := dn.commB[id]; ok && h-ch > dag.DefaultRetainBlocks {
					continue
				}
				if !dn.core.HasBody(id) {
					a.fail("certified batch %s (creator %d seq %d) not retrievable from honest signer %d", id, c.Header.Creator, c.Header.Seq, i)
				}
			}
		}
	}
}

// Certificates is the number of distinct batches certified during the run.
func (a *DAGApp) Certificates() int { return len(a.certs) }

// ExecutedTxs is the number of distinct transactions instance inst executed.
func (a *DAGApp) ExecutedTxs(inst int) int {
	if dn := a.nodes[inst]; dn != nil {
		return len(dn.execd)
	}
	return 0
}
