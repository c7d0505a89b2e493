package p2p

import (
	"bytes"
	"errors"
	"fmt"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/p2p/kemtls"
	"github.com/qbind/qbind/types"
)

// harness runs hosts on distinct loopback addresses with one manual clock.
// Tests wait on host events; when nothing happens for a short while they
// advance the clock by one step (that is how timers fire: no sleeps).
type harness struct {
	t      *testing.T
	clk    *ManualClock
	notify chan struct{}
	mu     sync.Mutex
	events []nodeEvent
}

type nodeEvent struct {
	node int
	Event
}

func newHarness(t *testing.T) *harness {
	return &harness{t: t, clk: NewManualClock(t0), notify: make(chan struct{}, 1)}
}

type node struct {
	*Host
	idx      int
	received sync.Map // crypto.Hash → *atomic.Int64
}

func (n *node) count(from crypto.Hash) int64 {
	v, _ := n.received.LoadOrStore(from, new(atomic.Int64))
	return v.(*atomic.Int64).Load()
}

func nodeID(i int) crypto.Hash { return crypto.NodeID(testKeys()[i].Public().Bytes()) }

// start runs host i (keys i) on listen (e.g. "127.0.1.1:0").
func (hn *harness) start(i int, listen string, mod func(*Config)) *node {
	hn.t.Helper()
	n := &node{idx: i}
	cfg := Config{
		Network: crypto.DevNet, Key: testKeys()[i], KEMKey: testKEMKeys()[i],
		ListenAddr: listen, Clock: hn.clk, Rand: rand.New(rand.NewPCG(uint64(i), 7)),
		HeartbeatInterval: 30 * time.Second, PEXInterval: 30 * time.Second, DialInterval: time.Second,
		HandshakeTimeout: 10 * time.Second,
		Handler: func(from crypto.Hash, _ MsgType, _ []byte) {
			v, _ := n.received.LoadOrStore(from, new(atomic.Int64))
			v.(*atomic.Int64).Add(1)
			hn.poke()
		},
		OnEvent: func(ev Event) {
			hn.mu.Lock()
			hn.events = append(hn.events, nodeEvent{i, ev})
			hn.mu.Unlock()
			hn.poke()
		},
	}
	if mod != nil {
		mod(&cfg)
	}
	h, err := New(cfg)
	if err != nil {
		hn.t.Fatal(err)
	}
	if err := h.Start(); err != nil {
		hn.t.Fatal(err)
	}
	n.Host = h
	hn.t.Cleanup(func() { h.Close() })
	return n
}

func (hn *harness) poke() {
	select {
	case hn.notify <- struct{}{}:
	default:
	}
}

// has reports whether node saw an event matching f.
func (hn *harness) has(node int, f func(Event) bool) bool {
	hn.mu.Lock()
	defer hn.mu.Unlock()
	for _, e := range hn.events {
		if e.node == node && f(e.Event) {
			return true
		}
	}
	return false
}

func (hn *harness) countEvents(node int, f func(Event) bool) int {
	hn.mu.Lock()
	defer hn.mu.Unlock()
	n := 0
	for _, e := range hn.events {
		if e.node == node && f(e.Event) {
			n++
		}
	}
	return n
}

// until waits for cond, advancing the clock by step whenever the hosts have
// been idle for a moment (step 0: never advance). Bounded.
func (hn *harness) until(what string, step time.Duration, cond func() bool) {
	hn.t.Helper()
	deadline := time.After(60 * time.Second)
	for !cond() {
		select {
		case <-hn.notify:
		case <-time.After(30 * time.Millisecond):
			if step > 0 {
				hn.clk.Advance(step)
			}
		case <-deadline:
			hn.t.Fatalf("timed out waiting for %s (fake time %v)", what, hn.clk.Now().Sub(t0))
		}
	}
}

func connectedTo(n *node, ids ...crypto.Hash) bool {
	got := map[crypto.Hash]bool{}
	for _, p := range n.Peers() {
		got[p.ID] = true
	}
	for _, id := range ids {
		if !got[id] {
			return false
		}
	}
	return true
}

func TestLoopbackAddressesBind(t *testing.T) {
	for _, a := range []string{"127.0.1.1:0", "127.0.2.1:0", "127.0.9.5:0"} {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			t.Fatalf("%s: %v (Linux routes 127.0.0.0/8 to lo; other systems need aliases)", a, err)
		}
		ln.Close()
	}
}

// Six nodes on 127.0.1.1 … 127.0.6.1 that only know node 0 form a full mesh
// through peer exchange.
func TestMeshFromBootstrap(t *testing.T) {
	hn := newHarness(t)
	boot := hn.start(0, "127.0.1.1:0", nil)
	nodes := []*node{boot}
	for i := 1; i < 6; i++ {
		nodes = append(nodes, hn.start(i, fmt.Sprintf("127.0.%d.1:0", i+1), func(c *Config) {
			c.Bootstrap = []PeerAddr{boot.PeerAddr()}
		}))
	}
	hn.until("full mesh", 10*time.Second, func() bool {
		for _, n := range nodes {
			if len(n.Peers()) != 5 {
				return false
			}
		}
		return true
	})
	hn.until("every node knows the 5 others", 0, func() bool {
		for _, n := range nodes {
			if n.KnownPeers() < 5 {
				return false
			}
		}
		return true
	})
	for _, n := range nodes {
		for _, p := range n.Peers() {
			if p.Remote.As4()[2] != byte(nodeIndex(p.ID)+1) {
				t.Fatalf("node %d sees peer %d from %v", n.idx, nodeIndex(p.ID), p.Remote)
			}
		}
	}
	// Every node's messages reach every other node.
	for _, n := range nodes {
		if got, err := n.Broadcast(MsgVote, []byte("v")); got != 5 || err != nil {
			t.Fatalf("broadcast reached %d: %v", got, err)
		}
	}
	hn.until("broadcasts", 0, func() bool {
		for _, n := range nodes {
			for _, m := range nodes {
				if n != m && n.count(m.ID()) < 1 {
					return false
				}
			}
		}
		return true
	})
	// All on 127.0.0.0/16: the low-diversity warning fires (once start-up
	// has had a PEX interval to dial).
	hn.until("low-diversity warning with every outbound peer in one /16", 10*time.Second, func() bool {
		for i := range nodes {
			if hn.has(i, func(e Event) bool { return e.Kind == EventLowDiversity }) {
				return true
			}
		}
		return false
	})
}

func nodeIndex(id crypto.Hash) int {
	for i := range testKeys() {
		if nodeID(i) == id {
			return i
		}
	}
	return -1
}

// A peer that stops answering pings is evicted after three missed
// heartbeats; a killed peer is detected, redialled with growing backoff
// while it is down, and reconnected when it comes back.
func TestKilledPeerEvictedAndRedialled(t *testing.T) {
	hn := newHarness(t)
	a := hn.start(0, "127.0.1.1:0", nil)
	b := hn.start(1, "127.0.2.1:0", func(c *Config) { c.Bootstrap = []PeerAddr{a.PeerAddr()} })
	hn.until("a–b session", 0, func() bool { return connectedTo(a, b.ID()) && connectedTo(b, a.ID()) })
	bAddr := b.PeerAddr()

	// A silent peer: a raw KEMTLS session that never reads, after telling a
	// where it will listen.
	ln, err := net.Listen("tcp", "127.0.3.1:0")
	if err != nil {
		t.Fatal(err)
	}
	silentAddr := ln.Addr().String()
	ln.Close()
	cert, err := types.NewNodeCert(crypto.DevNet, testKeys()[2], testKEMKeys()[2].EncapsulationKey(), t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	scfg := &kemtls.Config{Network: crypto.DevNet, Cert: cert, KEMKey: testKEMKeys()[2], Now: hn.clk.Now}
	silent, err := kemtls.Dial(t.Context(), &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.3.1")}}, a.Addr(), scfg, a.ID())
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	rec, err := types.NewNodeRecord(crypto.DevNet, testKeys()[2], []string{silentAddr}, 1, t0.Add(24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := silent.Send(Encode(MsgPeers, EncodePeers([]*types.NodeRecord{rec})), time.Second); err != nil {
		t.Fatal(err)
	}
	hn.until("silent peer admitted", 0, func() bool { return connectedTo(a, nodeID(2)) && a.KnownPeers() >= 2 })

	// Heartbeats: b answers (a sees pongs), the silent peer does not. Each
	// beat waits for the pongs in both directions: the clock is shared, so
	// advancing while b has yet to handle a's pong would fire b's next
	// heartbeat first and count a miss against a.
	pongs := func(at int, from crypto.Hash) int {
		return hn.countEvents(at, func(e Event) bool { return e.Kind == EventPong && e.Peer == from })
	}
	for beat := 1; beat <= 4; beat++ {
		atA, atB := pongs(0, b.ID()), pongs(1, a.ID())
		hn.clk.Advance(30 * time.Second)
		hn.until(fmt.Sprintf("beat %d: pongs between a and b", beat), 0, func() bool {
			return pongs(0, b.ID()) > atA && pongs(1, a.ID()) > atB
		})
	}
	hn.until("silent peer evicted", 0, func() bool {
		return hn.has(0, func(e Event) bool { return e.Kind == EventEvicted && e.Peer == nodeID(2) })
	})
	for _, p := range a.Peers() {
		if p.ID == b.ID() && p.Score != 100 {
			t.Fatalf("b's score %d after 4 pongs, want 100 (80+4·5)", p.Score)
		}
	}

	// Kill b: a notices at once (the session ends) and redials with backoff.
	b.Close()
	hn.until("b's loss detected", 0, func() bool {
		return hn.has(0, func(e Event) bool { return e.Kind == EventDisconnected && e.Peer == bAddr.ID })
	})
	var gaps []time.Duration
	last := hn.clk.Now()
	for len(gaps) < 4 {
		n := hn.countEvents(0, func(e Event) bool { return e.Kind == EventDialFailed && e.Peer == bAddr.ID })
		hn.until("a failed redial", 250*time.Millisecond, func() bool {
			return hn.countEvents(0, func(e Event) bool { return e.Kind == EventDialFailed && e.Peer == bAddr.ID }) > n
		})
		now := hn.clk.Now()
		gaps = append(gaps, now.Sub(last))
		last = now
	}
	t.Logf("redial gaps while b is down: %v", gaps)
	if gaps[3] < 2*gaps[0] || gaps[3] < 2*time.Second {
		t.Fatalf("backoff does not grow: %v", gaps)
	}

	// b comes back on the same address; the silent peer's address now hosts
	// a real node. a reconnects to both after their backoff.
	hn.start(1, bAddr.Addr, nil)
	hn.start(2, silentAddr, nil)
	hn.until("b and the former silent peer reconnected", time.Second, func() bool {
		return connectedTo(a, bAddr.ID, nodeID(2))
	})
}

// Four non-validators from 127.0.9.0/24 are accepted, a fifth is refused,
// and a validator from the same /24 is still accepted.
func TestSubnetCapWithValidatorExemption(t *testing.T) {
	hn := newHarness(t)
	valAddr := PeerAddr{ID: nodeID(6)}
	target := hn.start(0, "127.0.1.1:0", func(c *Config) { c.Validators = []PeerAddr{valAddr} })
	var clients []*node
	for i := 1; i <= 5; i++ {
		clients = append(clients, hn.start(i, fmt.Sprintf("127.0.9.%d:0", i), func(c *Config) {
			c.Static = []PeerAddr{target.PeerAddr()}
			c.Policy = DefaultPolicy
			c.Policy.OutboundTarget = 0 // only the static peer: no PEX dials among them
		}))
	}
	refusedSubnet := func(e Event) bool { return e.Kind == EventRefused && errors.Is(e.Err, ErrSubnetFull) }
	fromSubnet := func() int {
		n := 0
		for _, p := range target.Peers() {
			if ratelimitSubnet(p.Remote) == "127.0.9.0/24" && !p.Validator {
				n++
			}
		}
		return n
	}
	hn.until("4 accepted and 1 refused", 0, func() bool {
		return fromSubnet() == 4 && hn.has(0, refusedSubnet)
	})
	v := hn.start(6, "127.0.9.6:0", func(c *Config) {
		c.Validators = []PeerAddr{target.PeerAddr(), {ID: nodeID(6)}}
	})
	hn.until("validator from the full /24 accepted", 0, func() bool { return connectedTo(target, v.ID()) })
	if fromSubnet() != 4 {
		t.Fatalf("%d non-validators from the /24", fromSubnet())
	}
	if got := testutil.ToFloat64(target.cfg.Metrics.AdmissionsRefused); got < 1 {
		t.Fatalf("refusals not counted: %v", got)
	}
	_ = clients
}

func ratelimitSubnet(a netip.Addr) string {
	p, _ := a.Prefix(24)
	return p.String()
}

// A peer flooding messages is held to its bucket while three others get all
// their messages through.
func TestFloodDoesNotStarveOthers(t *testing.T) {
	hn := newHarness(t)
	r := hn.start(0, "127.0.1.1:0", func(c *Config) {
		c.MsgRate, c.MsgBurst = 10, 300
		c.RateLimitPenalty = -1 // keep the flooder connected: this test is about fairness
	})
	var senders []*node
	for i := 1; i <= 4; i++ {
		senders = append(senders, hn.start(i, fmt.Sprintf("127.0.%d.1:0", i+1), func(c *Config) {
			c.Static = []PeerAddr{r.PeerAddr()}
			c.Policy = DefaultPolicy
			c.Policy.OutboundTarget = 0
		}))
	}
	hn.until("all connected", 0, func() bool {
		return connectedTo(r, senders[0].ID(), senders[1].ID(), senders[2].ID(), senders[3].ID())
	})
	flooder, others := senders[0], senders[1:]
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		body := make([]byte, 1024)
		for {
			select {
			case <-stop:
				return
			default:
			}
			if flooder.Send(r.ID(), MsgTransactions, body) != nil {
				runtime_Gosched()
			}
		}
	}()
	hn.until("flood under way", 0, func() bool {
		return testutil.ToFloat64(r.cfg.Metrics.RateLimitedMessages) > 1000
	})
	for _, o := range others {
		for j := range 200 {
			for o.Send(r.ID(), MsgVote, []byte{byte(j)}) != nil {
				runtime_Gosched()
			}
		}
	}
	hn.until("others' 200 messages each", 0, func() bool {
		for _, o := range others {
			if r.count(o.ID()) < 200 {
				return false
			}
		}
		return true
	})
	close(stop)
	wg.Wait()
	if got := r.count(flooder.ID()); got > 300 {
		t.Fatalf("flooder delivered %d messages with a burst of 300 and a stopped clock", got)
	}
	t.Logf("flooder delivered %d, dropped %v", r.count(flooder.ID()), testutil.ToFloat64(r.cfg.Metrics.RateLimitedMessages))
}

func TestMetricsRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.Dials.Inc()
	m.PeersInbound.Set(3)
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]bool{}
	for _, f := range fams {
		got[f.GetName()] = true
	}
	for _, name := range []string{"qbind_p2p_dials_total", "qbind_p2p_peers_inbound", "qbind_p2p_pex_records_rejected_total"} {
		if !got[name] {
			t.Errorf("%s not registered", name)
		}
	}
	if testutil.ToFloat64(m.Dials) != 1 || testutil.ToFloat64(m.PeersInbound) != 3 {
		t.Error("metric values")
	}
}

// rawPeer is a bare KEMTLS session to a host, played by hand: node keys i,
// dialling from ip (e.g. "127.0.3.1"). rec is its own NodeRecord (for an
// address on ip that nothing listens on); frames receives what the host
// sends unless the peer is silent (never reads).
type rawPeer struct {
	s      *kemtls.Session
	id     crypto.Hash
	rec    *types.NodeRecord
	frames chan []byte
}

func (hn *harness) rawPeer(to *node, i int, ipStr string, silent bool) *rawPeer {
	t := hn.t
	t.Helper()
	ln, err := net.Listen("tcp", ipStr+":0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cert, err := types.NewNodeCert(crypto.DevNet, testKeys()[i], testKEMKeys()[i].EncapsulationKey(), t0.Add(-time.Hour), t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	scfg := &kemtls.Config{Network: crypto.DevNet, Cert: cert, KEMKey: testKEMKeys()[i], Now: hn.clk.Now}
	s, err := kemtls.Dial(t.Context(), &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ipStr)}}, to.Addr(), scfg, to.ID())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	rp := &rawPeer{s: s, id: nodeID(i), rec: testRecord(t, testKeys()[i], 1, addr), frames: make(chan []byte, 4096)}
	if !silent {
		go func() {
			defer close(rp.frames)
			for {
				f, err := s.Recv()
				if err != nil {
					return
				}
				select {
				case rp.frames <- f:
				default: // the test does not care about this many frames
				}
				hn.poke()
			}
		}()
	}
	return rp
}

func (rp *rawPeer) send(t *testing.T, ty MsgType, body []byte) {
	t.Helper()
	if err := rp.s.Send(Encode(ty, body), time.Second); err != nil {
		t.Fatal(err)
	}
}

// next returns the body of the next frame of type ty (earlier frames of other
// types are discarded).
func (rp *rawPeer) next(t *testing.T, ty MsgType) []byte {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for {
		select {
		case f, ok := <-rp.frames:
			if !ok {
				t.Fatalf("session closed while waiting for %v", ty)
			}
			if got, body, err := DecodeEnvelope(f); err == nil && got == ty {
				return body
			}
		case <-deadline:
			t.Fatalf("no %v frame", ty)
		}
	}
}

func scoreAt(n *node, id crypto.Hash) int {
	for _, p := range n.Peers() {
		if p.ID == id {
			return p.Score
		}
	}
	return -1
}

// A Peers message is accepted only as the peer's introduction (its own
// record, first) or as the answer to a GetPeers we sent it; any other costs
// the sender 20 points and teaches us nothing (an inbound peer could
// otherwise fill the address book with sybil records).
func TestUnsolicitedPeersRefused(t *testing.T) {
	hn := newHarness(t)
	a := hn.start(0, "127.0.1.1:0", nil)
	rp := hn.rawPeer(a, 2, "127.0.3.1", false)
	rp.send(t, MsgPeers, EncodePeers([]*types.NodeRecord{rp.rec}))
	hn.until("introduction learned", 0, func() bool { return a.KnownPeers() == 1 && scoreAt(a, rp.id) == 80 })

	other := func(i int) *types.NodeRecord {
		return testRecord(t, testKeys()[i], 1, fmt.Sprintf("127.0.%d.1:1", i+1))
	}
	rp.send(t, MsgPeers, EncodePeers([]*types.NodeRecord{other(3)}))
	hn.until("unsolicited Peers handled", 0, func() bool { return scoreAt(a, rp.id) != 80 || a.KnownPeers() != 1 })
	if s, k := scoreAt(a, rp.id), a.KnownPeers(); s != 60 || k != 1 {
		t.Fatalf("after an unsolicited Peers: score %d (want 60), %d known (want 1)", s, k)
	}
	if got := testutil.ToFloat64(a.cfg.Metrics.PEXUnsolicited); got != 1 {
		t.Fatalf("unsolicited counted %v", got)
	}

	// The peer-exchange tick asks the peer; its answer is learned.
	hn.clk.Advance(30 * time.Second)
	rp.next(t, MsgGetPeers)
	rp.send(t, MsgPeers, EncodePeers([]*types.NodeRecord{other(3), rp.rec}))
	hn.until("answer learned", 0, func() bool { return a.KnownPeers() == 2 })
	if s := scoreAt(a, rp.id); s != 60 {
		t.Fatalf("answer penalised: score %d", s)
	}
	// One answer per request: a second Peers is unsolicited again.
	rp.send(t, MsgPeers, EncodePeers([]*types.NodeRecord{other(4)}))
	hn.until("second Peers handled", 0, func() bool { return scoreAt(a, rp.id) != 60 || a.KnownPeers() != 2 })
	if s, k := scoreAt(a, rp.id), a.KnownPeers(); s != 40 || k != 2 {
		t.Fatalf("after a second Peers: score %d (want 40), %d known (want 2)", s, k)
	}
}

// Records in a Peers answer that the book would refuse anyway (not newer
// than the one held, ours, repeated in the message, expired) are dropped
// before any signature check; each record that fails verification costs
// the sender 10 points.
func TestPeersScreenedBeforeVerify(t *testing.T) {
	hn := newHarness(t)
	a := hn.start(0, "127.0.1.1:0", nil)
	m := a.cfg.Metrics
	rp := hn.rawPeer(a, 2, "127.0.3.1", false)
	rp.send(t, MsgPeers, EncodePeers([]*types.NodeRecord{rp.rec}))
	hn.until("introduction learned", 0, func() bool { return a.KnownPeers() == 1 })
	rejected0 := testutil.ToFloat64(m.PEXRecordsRejected)

	forged := func(r *types.NodeRecord) *types.NodeRecord {
		c := *r
		c.Signature = bytes.Clone(r.Signature)
		c.Signature[10] ^= 1
		return &c
	}
	good := testRecord(t, testKeys()[4], 1, "127.0.5.1:1")
	expired := testRecord(t, testKeys()[5], 1, "127.0.6.1:1")
	expired.Expiry = uint64(t0.Unix()) // expired once the clock moves
	answer := []*types.NodeRecord{
		forged(rp.rec), // same seq as held: stale, not verified
		forged(testRecord(t, testKeys()[0], 9, "127.0.1.1:1")), // a's own: not verified
		forged(testRecord(t, testKeys()[3], 1, "127.0.4.1:1")), // verified, bad: −10
		good,
		good,            // repeated: not verified twice
		forged(expired), // expired: not verified
	}
	hn.clk.Advance(30 * time.Second)
	rp.next(t, MsgGetPeers)
	rp.send(t, MsgPeers, EncodePeers(answer))
	// The reader posts the penalty before the records: both are handled once
	// the good record is known.
	hn.until("answer handled", 0, func() bool { return a.KnownPeers() == 2 })
	if s := scoreAt(a, rp.id); s != 70 {
		t.Fatalf("score %d after one forged record, want 70", s)
	}
	if got := testutil.ToFloat64(m.PEXRecordsRejected) - rejected0; got != 1 {
		t.Fatalf("%v records failed verification, want 1 (the others must not be verified)", got)
	}
	if got := testutil.ToFloat64(m.PEXRecordsSkipped); got != 4 {
		t.Fatalf("%v records skipped before verification, want 4", got)
	}
}

// GetPeers is answered at most twice per PEX interval per peer (a bucket of
// 2 refilled every PEXInterval/2); each excess request costs 10 points and
// gets no answer. Answers come from a cached encoding, rebuilt at most once
// a second when the book changed and at least every PEX interval.
func TestGetPeersLimited(t *testing.T) {
	hn := newHarness(t)
	a := hn.start(0, "127.0.1.1:0", func(c *Config) { c.Policy = DefaultPolicy; c.Policy.OutboundTarget = 0 })
	m := a.cfg.Metrics
	builds := func() (n int) { a.do(func() { n = a.pexBuilds }); return n }
	asker := hn.rawPeer(a, 3, "127.0.4.1", false)
	asker.send(t, MsgPeers, EncodePeers([]*types.NodeRecord{asker.rec}))
	hn.until("asker known", 0, func() bool { return a.KnownPeers() == 1 })
	flooder := hn.rawPeer(a, 2, "127.0.3.1", false)
	flooder.send(t, MsgPeers, EncodePeers([]*types.NodeRecord{flooder.rec}))
	hn.until("flooder known", 0, func() bool { return a.KnownPeers() == 2 })

	asker.next(t, MsgPeers) // a's introduction
	asker.send(t, MsgGetPeers, nil)
	recs, err := DecodePeers(asker.next(t, MsgPeers))
	if err != nil || len(recs) != 3 {
		t.Fatalf("answer: %d records (want a's and both peers'), %v", len(recs), err)
	}

	for range 10 {
		if flooder.s.Send(Encode(MsgGetPeers, nil), time.Second) != nil {
			break // evicted already
		}
	}
	// Until a closes the session (eviction) or all 10 are answered.
	answers, closed := 0, false
	hn.until("flooder handled", 0, func() bool {
		for {
			select {
			case f, ok := <-flooder.frames:
				if !ok {
					closed = true
					return true
				}
				if ty, _, _ := DecodeEnvelope(f); ty == MsgPeers {
					answers++
				}
			default:
				return answers >= 11
			}
		}
	})
	evicted := func() bool {
		return hn.has(0, func(e Event) bool { return e.Kind == EventEvicted && e.Peer == flooder.id })
	}
	if closed {
		hn.until("eviction event", 0, evicted)
	}
	if !evicted() {
		t.Fatalf("GetPeers flood not penalised: %d answers, score %d", answers-1, scoreAt(a, flooder.id))
	}
	if answers > 1+2 {
		t.Fatalf("%d answers to the flooder, want ≤ 2", answers-1)
	}
	if got := testutil.ToFloat64(m.PEXRequestsRefused); got < 6 {
		t.Fatalf("%v requests refused, want ≥ 6 (score 80 → below 30)", got)
	}
	if n := builds(); n != 1 {
		t.Fatalf("answer built %d times for an unchanged book", n)
	}
	// A PEX interval later the cache is rebuilt; the asker's bucket refilled.
	hn.clk.Advance(30 * time.Second)
	asker.next(t, MsgGetPeers) // the tick asked the asker: no answer needed
	asker.send(t, MsgGetPeers, nil)
	asker.next(t, MsgPeers)
	if n := builds(); n != 2 {
		t.Fatalf("%d builds after a PEX interval, want 2", n)
	}
}

// Send and Broadcast refuse a body over its type's cap (the receiver would
// penalise us, or the frame would not fit); a frame the writer still fails to
// send closes the session, so the peer is reported and redialled instead of
// staying connected while nothing is delivered.
func TestOversizeSendRefused(t *testing.T) {
	hn := newHarness(t)
	a := hn.start(0, "127.0.1.1:0", nil)
	b := hn.start(1, "127.0.2.1:0", func(c *Config) { c.Bootstrap = []PeerAddr{a.PeerAddr()} })
	hn.until("a–b session", 0, func() bool { return connectedTo(a, b.ID()) && connectedTo(b, a.ID()) })
	for _, tc := range []struct {
		ty MsgType
		n  int
	}{{MsgSyncResponse, 9 << 20}, {MsgProposal, MaxProposalBody + 1}, {MsgVote, MaxConsensusBody + 1}, {MsgPing, 9}} {
		if err := a.Send(b.ID(), tc.ty, make([]byte, tc.n)); !errors.Is(err, ErrMessageTooBig) {
			t.Fatalf("Send %v of %d bytes: %v", tc.ty, tc.n, err)
		}
		if n, err := a.Broadcast(tc.ty, make([]byte, tc.n)); n != 0 || !errors.Is(err, ErrMessageTooBig) {
			t.Fatalf("Broadcast %v of %d bytes: %d, %v", tc.ty, tc.n, n, err)
		}
	}
	if err := a.Send(b.ID(), MsgType(0x7f), nil); !errors.Is(err, ErrUnknownMessage) {
		t.Fatalf("unknown type: %v", err)
	}
	if err := a.Send(b.ID(), MsgProposal, make([]byte, MaxConsensusBody)); err != nil {
		t.Fatalf("body at the cap: %v", err)
	}
	for i := range 10 {
		if err := a.Send(b.ID(), MsgVote, []byte{byte(i)}); err != nil {
			t.Fatal(err)
		}
	}
	hn.until("everything delivered", 0, func() bool { return b.count(a.ID()) == 11 })
	if s := scoreAt(b, a.ID()); s != 80 {
		t.Fatalf("a penalised by b: score %d", s)
	}

	// A frame the writer cannot send (here: over the frame cap, slipped past
	// Send) ends the session.
	a.mu.RLock()
	p := a.peers[b.ID()]
	a.mu.RUnlock()
	if err := p.q.Push(ClassSync, make([]byte, kemtls.MaxPayloadSize+1)); err != nil {
		t.Fatal(err)
	}
	hn.until("session closed and reported at both ends", 0, func() bool {
		return hn.has(0, func(e Event) bool { return e.Kind == EventDisconnected && e.Peer == b.ID() }) &&
			hn.has(1, func(e Event) bool { return e.Kind == EventDisconnected && e.Peer == a.ID() })
	})
}

// A node with one outbound peer (one /16) warns about diversity, but only
// once start-up has had a PEX interval to dial.
func TestLowDiversityWarningOnePeer(t *testing.T) {
	hn := newHarness(t)
	b := hn.start(1, "127.0.2.1:0", nil)
	a := hn.start(0, "127.0.1.1:0", func(c *Config) { c.Bootstrap = []PeerAddr{b.PeerAddr()} })
	hn.until("a–b session", 0, func() bool { return connectedTo(a, b.ID()) && connectedTo(b, a.ID()) })
	warned := func() bool { return hn.has(0, func(e Event) bool { return e.Kind == EventLowDiversity }) }
	if warned() || testutil.ToFloat64(a.cfg.Metrics.LowDiversity) != 0 {
		t.Fatal("warned during start-up")
	}
	hn.clk.Advance(30 * time.Second)
	hn.until("warning after the first PEX interval", 0, warned)
	if testutil.ToFloat64(a.cfg.Metrics.LowDiversity) != 1 {
		t.Fatal("low-diversity gauge not set")
	}
}

// A peer that does not drain its send queue (here: never reads) and so
// makes us drop more than SlowPeerDrops consensus or batch messages in a
// heartbeat interval, while our writer sends it less than SlowPeerMinBytes
// (default 4 MiB; the writer blocks once the loopback TCP buffers fill, about
// 1 MiB here, 0 in later intervals), loses 30 points per interval: a non-validator is
// evicted by the score rule at the second such interval (before three
// missed pings would evict it); a validator is reconnected instead.
func TestSlowReaderScoredDown(t *testing.T) {
	for _, validator := range []bool{false, true} {
		t.Run(fmt.Sprintf("validator=%v", validator), func(t *testing.T) {
			hn := newHarness(t)
			a := hn.start(0, "127.0.1.1:0", func(c *Config) {
				c.Queue = DefaultQueueLimits
				c.Queue.Msgs[ClassConsensus] = 8
				c.WriteTimeout = time.Hour // the writer stays blocked: no cut-off by timeout
				if validator {
					c.Validators = []PeerAddr{{ID: nodeID(2)}} // no address: not dialled
				}
			})
			b := hn.start(1, "127.0.2.1:0", func(c *Config) { c.Bootstrap = []PeerAddr{a.PeerAddr()} })
			hn.until("a–b session", 0, func() bool { return connectedTo(a, b.ID()) && connectedTo(b, a.ID()) })
			slow := hn.rawPeer(a, 2, "127.0.3.1", true)
			hn.until("slow peer admitted", 0, func() bool { return connectedTo(a, slow.id) })

			body := make([]byte, 64<<10)
			overflow := func() {
				for drops := 0; drops <= 64; {
					if err := a.Send(slow.id, MsgVote, body); errors.Is(err, ErrQueueFull) {
						drops++
					} else if err != nil {
						t.Fatal(err)
					}
				}
			}
			pongs := func(at int, from crypto.Hash) int {
				return hn.countEvents(at, func(e Event) bool { return e.Kind == EventPong && e.Peer == from })
			}
			beat := func() {
				atA, atB := pongs(0, b.ID()), pongs(1, a.ID())
				hn.clk.Advance(30 * time.Second)
				hn.until("pongs between a and b", 0, func() bool { return pongs(0, b.ID()) > atA && pongs(1, a.ID()) > atB })
			}
			overflow()
			beat()
			if s := scoreAt(a, slow.id); s != 50 {
				t.Fatalf("score %d after an interval of drops, want 50", s)
			}
			overflow()
			beat()
			kind := EventEvicted
			if validator {
				kind = EventDisconnected
			}
			hn.until("slow peer removed", 0, func() bool {
				return hn.has(0, func(e Event) bool { return e.Kind == kind && e.Peer == slow.id && errors.Is(e.Err, ErrSlowReader) })
			})
			if validator && hn.has(0, func(e Event) bool { return e.Kind == EventEvicted }) {
				t.Fatal("validator evicted")
			}
		})
	}
}

// A burst of ours (here: many transaction batches queued at once) can
// overflow the send queue of a peer that reads fast; that peer is not a slow
// reader (its writer sent far more than SlowPeerMinBytes in the interval),
// so it keeps its score and its session over two such intervals, as a
// non-validator and as a validator.
func TestLocalBurstDoesNotPunishFastPeer(t *testing.T) {
	for _, validator := range []bool{false, true} {
		t.Run(fmt.Sprintf("validator=%v", validator), func(t *testing.T) {
			hn := newHarness(t)
			a := hn.start(0, "127.0.1.1:0", func(c *Config) {
				c.Queue = DefaultQueueLimits // batches: 512 messages
				if validator {
					c.Validators = []PeerAddr{{ID: nodeID(1)}} // no address: b dials
				}
			})
			b := hn.start(1, "127.0.2.1:0", func(c *Config) {
				c.Bootstrap = []PeerAddr{a.PeerAddr()}
				// b's inbound rate limit is not under test, and its buckets
				// refill only with the manual clock: a burst runs until 65
				// drops, which with a quick reader can be thousands of
				// messages (CI once saw b evict a for it).
				c.MsgBurst, c.ByteBurst = 1e9, 1e15
			})
			hn.until("a–b session", 0, func() bool { return connectedTo(a, b.ID()) && connectedTo(b, a.ID()) })

			body := make([]byte, 16<<10) // 512 queued alone are 8 MiB, over the 4 MiB floor
			sent := int64(0)
			burst := func() {
				for drops := 0; drops <= 64; {
					if err := a.Send(b.ID(), MsgTransactions, body); errors.Is(err, ErrQueueFull) {
						drops++
					} else if err != nil {
						t.Fatal(err)
					} else {
						sent++
					}
				}
				hn.until("b received the burst", 0, func() bool { return b.count(a.ID()) >= sent })
			}
			pongs := func(at int, from crypto.Hash) int {
				return hn.countEvents(at, func(e Event) bool { return e.Kind == EventPong && e.Peer == from })
			}
			beat := func() {
				atA, atB := pongs(0, b.ID()), pongs(1, a.ID())
				hn.clk.Advance(30 * time.Second)
				hn.until("pongs between a and b", 0, func() bool { return pongs(0, b.ID()) > atA && pongs(1, a.ID()) > atB })
			}
			for i := range 2 {
				before := scoreAt(a, b.ID())
				burst()
				beat()
				if s := scoreAt(a, b.ID()); s < before {
					t.Fatalf("interval %d: score %d → %d after a local burst to a fast reader", i+1, before, s)
				}
			}
			if hn.has(0, func(e Event) bool {
				return (e.Kind == EventEvicted || e.Kind == EventDisconnected) && e.Peer == b.ID()
			}) {
				t.Fatal("fast reader evicted or reconnected")
			}
			if got := testutil.ToFloat64(a.cfg.Metrics.SlowPeerPenalties); got != 0 {
				t.Fatalf("%v slow-peer penalties", got)
			}
		})
	}
}
