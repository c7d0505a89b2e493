package dag

import (
	"encoding/binary"
	"fmt"
	"sync"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/mempool"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

var testNet = crypto.DevNet

func key(i int, tag byte) *crypto.PrivateKey {
	seed := make([]byte, 32)
	seed[0], seed[1], seed[31] = byte(i), tag, 0x5a
	k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
	if err != nil {
		panic(err)
	}
	return k
}

var valKeys = sync.OnceValue(func() []*crypto.PrivateKey {
	ks := make([]*crypto.PrivateKey, 10)
	for i := range ks {
		ks[i] = key(i, 'v')
	}
	return ks
})

func valSet(t testing.TB, n int) *types.ValidatorSet {
	vals := make([]types.Validator, n)
	for i := range vals {
		vals[i] = types.Validator{ConsensusKey: valKeys()[i].Public(), NetworkKey: valKeys()[i].Public().Bytes(), Power: 1}
	}
	vs, err := types.NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func params(t testing.TB) types.ExecParams {
	p, err := types.DefaultExecParams(types.ProfileTestNetBeta)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// signedTxs are pre-signed transfers: sender s has nonces 0..perSender−1.
// Signing is ~250 µs, so the set is made once per process.
const (
	txSenders   = 6
	txPerSender = 12
)

var senderKeys = sync.OnceValue(func() []*crypto.PrivateKey {
	ks := make([]*crypto.PrivateKey, txSenders)
	for i := range ks {
		ks[i] = key(i, 's')
	}
	return ks
})

var signedTxs = sync.OnceValue(func() [][][]byte {
	out := make([][][]byte, txSenders)
	var wg sync.WaitGroup
	for s := range txSenders {
		out[s] = make([][]byte, txPerSender)
		wg.Go(func() {
			for n := range txPerSender {
				out[s][n] = makeTx(s, uint64(n), 2)
			}
		})
	}
	wg.Wait()
	return out
})

func makeTx(s int, nonce, fee uint64) []byte {
	k := senderKeys()[s]
	var to types.AccountID
	binary.BigEndian.PutUint64(to[:], 0xdead)
	pl := types.Transfer{Version: types.PayloadV1, Recipient: to, Amount: u128.From64(1), GasLimit: 50_000,
		MaxFeePerGas: u128.From64(fee)}.Encode()
	tx := &types.Transaction{Suite: crypto.SuiteMLDSA44, PublicKey: k.Public().Bytes(), Nonce: nonce, Payload: pl}
	if err := tx.SignDeterministic(testNet, k); err != nil {
		panic(err)
	}
	return tx.Encode()
}

type richView struct{}

func (richView) Account(types.AccountID) (types.Account, error) {
	return types.Account{Balance: u128.From64(1 << 62)}, nil
}

// tnode is one validator in the in-memory test network.
type tnode struct {
	core   *Core
	pool   *mempool.Pool
	signer *MemSigner
	disk   map[types.BatchID]*types.Batch
}

type envelope struct {
	from, to int
	ev       Event
}

// tnet is a deterministic in-memory network: FIFO delivery, per-link drop.
type tnet struct {
	t       testing.TB
	nodes   []*tnode
	queue   []envelope
	now     uint64
	cut     func(from, to int) bool // drop messages on this link
	checker *types.Checker
	vs      *types.ValidatorSet
	sent    []Message  // every message sent (for assertions)
	avail   []int      // PayloadAvailable actions per node
	timers  [][]uint64 // outstanding SetTimer times per node (runTimers)
}

func newNet(t testing.TB, n int, mode CouplingMode, mut func(*Config)) *tnet {
	vs := valSet(t, n)
	tn := &tnet{t: t, vs: vs, checker: types.NewChecker(testNet, params(t)), avail: make([]int, n), timers: make([][]uint64, n)}
	for i := range n {
		pool, err := mempool.New(mempool.ConfigFor(mempool.FeePriority, params(t)), richView{})
		if err != nil {
			t.Fatal(err)
		}
		sg := NewMemSigner(testNet, valKeys()[i])
		cfg := Config{
			Network: testNet, Validators: vs, Self: uint16(i), Params: params(t), Coupling: mode,
			Signer: sg, Verifier: &RealVerifier{Network: testNet, Validators: vs, Checker: tn.checker},
			Creator: true, MaxWaitMs: 50,
		}
		if mut != nil {
			mut(&cfg)
		}
		core, err := New(cfg, pool, 0)
		if err != nil {
			t.Fatal(err)
		}
		tn.nodes = append(tn.nodes, &tnode{core: core, pool: pool, signer: sg, disk: map[types.BatchID]*types.Batch{}})
	}
	return tn
}

func (tn *tnet) addTx(node int, raw []byte) {
	tn.t.Helper()
	if _, err := tn.nodes[node].pool.Add(tn.checker, raw, tn.now); err != nil {
		tn.t.Fatalf("add tx: %v", err)
	}
}

// step delivers ev to node i and performs its actions.
func (tn *tnet) step(i int, ev Event) {
	nd := tn.nodes[i]
	for _, a := range nd.core.Step(ev) {
		tn.perform(i, a)
	}
}

func (tn *tnet) perform(i int, a Action) {
	nd := tn.nodes[i]
	switch a := a.(type) {
	case Store:
		nd.disk[a.ID] = a.Batch
		tn.queue = append(tn.queue, envelope{from: i, to: i, ev: StoreDone{ID: a.ID}})
	case Delete:
		delete(nd.disk, a.ID)
	case Send:
		tn.send(i, int(a.To), a.Msg)
	case Broadcast:
		for j := range tn.nodes {
			if j != i {
				tn.send(i, j, a.Msg)
			}
		}
	case PayloadAvailable:
		tn.avail[i]++
	case SetTimer:
		tn.timers[i] = append(tn.timers[i], a.AtMs)
	case Equivocation:
	default:
		tn.t.Fatalf("unknown action %T", a)
	}
}

func (tn *tnet) send(from, to int, m Message) {
	tn.sent = append(tn.sent, m)
	var ev Event
	f := uint16(from)
	switch m := m.(type) {
	case *types.Batch:
		ev = RecvBatch{From: f, Batch: m}
	case *types.BatchAck:
		ev = RecvAck{From: f, Ack: m}
	case *types.BatchCertificate:
		ev = RecvCert{From: f, Cert: m}
	case *FetchRequest:
		ev = RecvFetchRequest{From: f, Req: m}
	case *FetchResponse:
		ev = RecvFetchResponse{From: f, Resp: m}
	default:
		tn.t.Fatalf("unknown message %T", m)
	}
	tn.queue = append(tn.queue, envelope{from: from, to: to, ev: ev})
}

// run delivers queued events until the queue is empty.
func (tn *tnet) run() {
	for steps := 0; len(tn.queue) > 0; steps++ {
		if steps > 100000 {
			tn.t.Fatal("network does not quiesce")
		}
		e := tn.queue[0]
		tn.queue = tn.queue[1:]
		if e.from != e.to && tn.cut != nil && tn.cut(e.from, e.to) {
			continue
		}
		tn.step(e.to, e.ev)
	}
}

// runTimers is a driver that ticks only when a core asked (SetTimer): it
// fires the outstanding timers in time order, advancing the clock, until
// none is due at or before until.
func (tn *tnet) runTimers(until uint64) {
	for steps := 0; ; steps++ {
		if steps > 100000 {
			tn.t.Fatal("timers do not quiesce")
		}
		node, k := -1, 0
		for i, ts := range tn.timers {
			for j, at := range ts {
				if at <= until && (node < 0 || at < tn.timers[node][k]) {
					node, k = i, j
				}
			}
		}
		if node < 0 {
			return
		}
		at := tn.timers[node][k]
		tn.timers[node] = append(tn.timers[node][:k], tn.timers[node][k+1:]...)
		tn.now = max(tn.now, at)
		tn.step(node, Tick{NowMs: tn.now})
		tn.run()
	}
}

// tick advances the clock by ms and ticks every node, then runs.
func (tn *tnet) tick(ms uint64) {
	tn.now += ms
	for i := range tn.nodes {
		tn.step(i, Tick{NowMs: tn.now})
	}
	tn.run()
}

// commit builds a block at the next height with node leader's payload and
// delivers Committed to every node in nodes (all if nil).
func (tn *tnet) commit(leader int, view uint64, nodes []int) *types.Proposal {
	h := tn.nodes[leader].core.CommittedHeight() + 1
	payload, bc := tn.nodes[leader].core.BuildPayload(types.BlockID{}, h, view, nil)
	p := &types.Proposal{Header: types.BlockHeader{Height: h, View: view, BatchCommitment: bc}, Payload: payload}
	if nodes == nil {
		for i := range tn.nodes {
			nodes = append(nodes, i)
		}
	}
	for _, i := range nodes {
		tn.step(i, Committed{Block: p})
	}
	tn.run()
	return p
}

func (tn *tnet) String() string { return fmt.Sprintf("tnet(now %d)", tn.now) }
