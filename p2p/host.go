package p2p

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/p2p/kemtls"
	"github.com/qbind/qbind/p2p/ratelimit"
	"github.com/qbind/qbind/types"
)

// Host errors.
var (
	ErrPeerClosed  = errors.New("p2p: peer session closed")
	ErrUnknownPeer = errors.New("p2p: not connected to this peer")
	ErrHostClosed  = errors.New("p2p: host closed")
)

// Why a connected peer was removed: Event.Err of EventEvicted, and of the
// EventDisconnected of a validator that is reconnected instead.
var (
	ErrLiveness     = errors.New("p2p: missed heartbeats or liveness score too low")
	ErrMisbehaviour = errors.New("p2p: score too low after misbehaviour")
	ErrSlowReader   = errors.New("p2p: peer does not drain its send queue")
)

// Config configures a Host. Zero durations and limits take the defaults
// noted on each field.
type Config struct {
	Network crypto.Network
	Key     *crypto.PrivateKey    // network key (identity; signs the NodeCert and NodeRecord)
	KEMKey  *crypto.KEMPrivateKey // static KEM key certified in the NodeCert
	// CertValidity is the NodeCert lifetime from start-up (30 days).
	CertValidity time.Duration
	// ListenAddr is the TCP address to listen on ("127.0.1.1:0" picks a
	// port). Outbound dials use its IP as source address unless unspecified.
	ListenAddr string
	// AdvertiseAddr goes into our NodeRecord (default: the listener address).
	AdvertiseAddr string
	// Validators (node ids and addresses, from configuration until genesis
	// wiring) are always connected, exempt from caps and never evicted.
	Validators []PeerAddr
	Static     []PeerAddr // always redialled
	Bootstrap  []PeerAddr // entry points for discovery
	// Authorize admits non-validator nodes on inbound handshakes (allowed
	// full nodes); nil admits any node with a valid certificate for the chain.
	Authorize func(*types.NodeCert) error
	Policy    Policy // zero: DefaultPolicy

	HeartbeatInterval time.Duration // 30 s
	PEXInterval       time.Duration // 30 s
	DialInterval      time.Duration // 1 s: how often due redials are checked
	RecordTTL         time.Duration // 1 h: expiry of our NodeRecord (re-signed at half-life)

	// Per-peer inbound buckets: messages/s and bytes/s with bursts
	// (2000/s burst 4000; 64 MiB/s burst 128 MiB). A message over budget is
	// dropped and costs RateLimitPenalty score points (5; negative: none).
	MsgRate, MsgBurst, ByteRate, ByteBurst float64
	RateLimitPenalty                       int
	Queue                                  QueueLimits   // zero: DefaultQueueLimits
	WriteTimeout                           time.Duration // 10 s per frame: a peer that does not read is cut off
	// SlowPeerDrops: a peer for which more consensus and batch messages than
	// this were dropped (its send queue full) within one heartbeat interval,
	// and whose writer sent fewer than SlowPeerMinBytes in that interval,
	// loses 30 score points at that heartbeat (64; negative: never).
	SlowPeerDrops int
	// SlowPeerMinBytes: a peer whose writer sent at least this many bytes in
	// a heartbeat interval drained its queue fast enough, however many drops
	// our own bursts caused (4 MiB per interval, ≈ 140 KB/s at the default
	// 30 s; negative: drops alone decide).
	SlowPeerMinBytes int64

	HandshakeLimits  ratelimit.HandshakeLimits // zero: ratelimit.DefaultHandshakeLimits
	MaxHalfOpen      int                       // 64
	HandshakeTimeout time.Duration             // 5 s

	// Handler receives every consensus, DAG and sync message, from the
	// peer's reader goroutine (one per peer; it must not block for long).
	Handler func(from crypto.Hash, t MsgType, body []byte)
	// OnEvent observes peer-manager events from the manager goroutine (it
	// must not block).
	OnEvent func(Event)

	Clock    Clock      // RealClock
	Rand     *rand.Rand // seeded from crypto/rand; not shared with other goroutines
	Logger   *slog.Logger
	Metrics  *Metrics // NewMetrics(registry); nil: unregistered metrics
	KeyCache *crypto.KeyCache
}

func (c *Config) setDefaults() {
	if c.Policy == (Policy{}) {
		c.Policy = DefaultPolicy
	}
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&c.CertValidity, 30*24*time.Hour)
	def(&c.HeartbeatInterval, 30*time.Second)
	def(&c.PEXInterval, 30*time.Second)
	def(&c.DialInterval, time.Second)
	def(&c.RecordTTL, time.Hour)
	def(&c.WriteTimeout, 10*time.Second)
	deff := func(f *float64, v float64) {
		if *f <= 0 {
			*f = v
		}
	}
	deff(&c.MsgRate, 2000)
	deff(&c.MsgBurst, 4000)
	deff(&c.ByteRate, 64<<20)
	deff(&c.ByteBurst, 128<<20)
	if c.RateLimitPenalty == 0 {
		c.RateLimitPenalty = 5
	}
	if c.SlowPeerDrops == 0 {
		c.SlowPeerDrops = 64
	}
	if c.SlowPeerMinBytes == 0 {
		c.SlowPeerMinBytes = 4 << 20
	}
	if c.Queue == (QueueLimits{}) {
		c.Queue = DefaultQueueLimits
	}
	if c.Clock == nil {
		c.Clock = RealClock{}
	}
	if c.Rand == nil {
		c.Rand = rand.New(rand.NewChaCha8(randomSeed()))
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(nil)
	}
	if c.KeyCache == nil {
		c.KeyCache = crypto.NewKeyCache(1024)
	}
}

// EventKind names a peer-manager event.
type EventKind uint8

const (
	EventConnected EventKind = iota + 1
	EventDisconnected
	EventEvicted
	EventRefused // an authenticated session refused by admission
	EventDialFailed
	EventRecordLearned
	EventPong
	EventLowDiversity
)

func (k EventKind) String() string {
	return [...]string{"?", "connected", "disconnected", "evicted", "refused", "dial_failed", "record_learned", "pong", "low_diversity"}[min(int(k), 8)]
}

// Event is one peer-manager event.
type Event struct {
	Kind     EventKind
	Peer     crypto.Hash
	Outbound bool
	Err      error
}

// PeerInfo describes a connected peer.
type PeerInfo struct {
	ID        crypto.Hash
	Remote    netip.Addr
	Outbound  bool
	Validator bool
	Score     int
	Misses    int
}

// Host is a node's P2P endpoint: the KEMTLS listener, the dialer, the peer
// sessions with their queues and buckets, and the manager loop that owns the
// Book (all decisions) and the timers.
type Host struct {
	cfg    Config
	id     crypto.Hash
	cert   *types.NodeCert
	hs     *kemtls.Config
	book   *Book
	ln     *kemtls.Listener
	dialer *net.Dialer
	m      *Metrics
	log    *slog.Logger

	events chan any
	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu    sync.RWMutex
	peers map[crypto.Hash]*peer

	record     *types.NodeRecord // loop-owned
	advertised string
	lowDiv     bool
	started    time.Time

	// held is the book's HeldSeqs, republished by the loop when the book's
	// Version changes, so that readers drop stale records before verifying.
	held        atomic.Pointer[map[crypto.Hash]uint64]
	heldVersion uint64 // loop-owned

	// The Peers answer to GetPeers, encoded once and shared (loop-owned).
	pexReply        []byte // the frame payload, nil: none yet
	pexReplyAt      time.Time
	pexReplyVersion uint64            // book Version it was built from
	pexReplyRecord  *types.NodeRecord // our record it carries
	pexBuilds       int               // for tests
}

// pexReplyMinAge is how long a Peers answer is reused after the book
// changed; an unchanged one is reused for a PEX interval.
const pexReplyMinAge = time.Second

// New prepares a host (nothing listens until Start).
func New(cfg Config) (*Host, error) {
	if !cfg.Network.Valid() || cfg.Key == nil || cfg.KEMKey == nil {
		return nil, fmt.Errorf("p2p: network, network key and KEM key are required")
	}
	cfg.setDefaults()
	now := cfg.Clock.Now()
	cert, err := types.NewNodeCert(cfg.Network, cfg.Key, cfg.KEMKey.EncapsulationKey(), now.Add(-time.Hour), now.Add(cfg.CertValidity))
	if err != nil {
		return nil, err
	}
	h := &Host{
		cfg: cfg, id: cert.NodeID, cert: cert, m: cfg.Metrics, log: cfg.Logger,
		book:   NewBook(cert.NodeID, cfg.Policy),
		events: make(chan any, 1024),
		peers:  map[crypto.Hash]*peer{},
	}
	for _, v := range cfg.Validators {
		h.book.AddConfigured(v, SourceValidator)
	}
	for _, p := range cfg.Static {
		h.book.AddConfigured(p, SourceStatic)
	}
	for _, p := range cfg.Bootstrap {
		h.book.AddConfigured(p, SourceBootstrap)
	}
	h.held.Store(&map[crypto.Hash]uint64{})
	h.hs = &kemtls.Config{
		Network: cfg.Network, Cert: cert, KEMKey: cfg.KEMKey,
		Authorize:        h.authorize,
		Now:              cfg.Clock.Now,
		Keys:             cfg.KeyCache,
		HandshakeTimeout: cfg.HandshakeTimeout,
	}
	return h, nil
}

// validatorIPs is the listener's Reserved set: the IPs of the configured
// validator addresses (validators dial from their listen address), which
// bypass the stranger handshake limits so that a flood of unauthenticated
// connections cannot keep validators apart (§11: validators are exempt from
// caps). Host names are not resolved here and get no reservation.
func validatorIPs(vals []PeerAddr) func(netip.Addr) bool {
	set := make(map[netip.Addr]bool, len(vals))
	for _, v := range vals {
		if ap, err := netip.ParseAddrPort(v.Addr); err == nil {
			set[ap.Addr().Unmap()] = true
		}
	}
	return func(a netip.Addr) bool { return set[a.Unmap()] }
}

func (h *Host) authorize(c *types.NodeCert) error {
	if h.book.IsValidator(c.NodeID) { // validators map is fixed after New
		return nil
	}
	if h.cfg.Authorize != nil {
		return h.cfg.Authorize(c)
	}
	return nil
}

// ID is this node's id.
func (h *Host) ID() crypto.Hash { return h.id }

// Cert is this node's certificate.
func (h *Host) Cert() *types.NodeCert { return h.cert }

// Addr is the listening address (after Start).
func (h *Host) Addr() string { return h.ln.Addr().String() }

// PeerAddr is "<id>@<listen address>".
func (h *Host) PeerAddr() PeerAddr { return PeerAddr{ID: h.id, Addr: h.advertised} }

// Start listens and starts the manager loop.
func (h *Host) Start() error {
	ln, err := kemtls.Listen(h.cfg.ListenAddr, kemtls.ListenerConfig{
		Handshake: h.hs, Limits: h.cfg.HandshakeLimits, MaxHalfOpen: h.cfg.MaxHalfOpen,
		Reserved: validatorIPs(h.cfg.Validators), Observer: kemtlsObserver{h.m}, Logger: h.log,
	})
	if err != nil {
		return err
	}
	h.ln = ln
	h.advertised = h.cfg.AdvertiseAddr
	if h.advertised == "" {
		h.advertised = ln.Addr().String()
	}
	h.dialer = &net.Dialer{}
	if ta, ok := ln.Addr().(*net.TCPAddr); ok && !ta.IP.IsUnspecified() {
		h.dialer.LocalAddr = &net.TCPAddr{IP: ta.IP}
	}
	if err := h.refreshRecord(h.cfg.Clock.Now()); err != nil {
		ln.Close()
		return err
	}
	h.started = h.cfg.Clock.Now()
	h.ctx, h.cancel = context.WithCancel(context.Background())
	h.wg.Add(2)
	go h.acceptLoop()
	go h.loop()
	h.log.Info("p2p: started", "node", h.id.String()[:16], "addr", h.advertised)
	return nil
}

// Close stops the host: Goodbye to every peer, then close everything.
func (h *Host) Close() error {
	if h.cancel == nil {
		return nil
	}
	h.cancel()
	err := h.ln.Close()
	h.wg.Wait()
	h.mu.Lock()
	peers := h.peers
	h.peers = map[crypto.Hash]*peer{}
	h.mu.Unlock()
	for _, p := range peers {
		p.close(ByeShutdown)
	}
	for _, p := range peers {
		p.wg.Wait()
	}
	return err
}

// Send queues a message to one peer with its type's priority. A body over
// its type's cap is refused (ErrMessageTooBig; ErrUnknownMessage for an
// undefined type) before anything is queued: the receiver would drop it and
// penalise us.
func (h *Host) Send(to crypto.Hash, t MsgType, body []byte) error {
	if err := CheckBody(t, len(body)); err != nil {
		return err
	}
	h.mu.RLock()
	p := h.peers[to]
	h.mu.RUnlock()
	if p == nil {
		return ErrUnknownPeer
	}
	return h.enqueue(p, t, body)
}

func (h *Host) enqueue(p *peer, t MsgType, body []byte) error {
	c := t.Class()
	err := p.q.Push(c, Encode(t, body))
	if errors.Is(err, ErrQueueFull) {
		// Dropped and counted. A peer that stops reading is cut off by the
		// write timeout; one that reads too slowly for consensus and batch
		// traffic is scored down at the next heartbeat (slowPeers) unless
		// its writer kept up a floor of bytes (the drops were our burst).
		h.m.SendQueueDrops.Inc()
		if c == ClassConsensus || c == ClassBatch {
			p.slowDrops.Add(1)
		}
	}
	return err
}

// Broadcast queues a message to every connected peer and returns how many
// accepted it; a body refused by CheckBody reaches none (0 and the error).
func (h *Host) Broadcast(t MsgType, body []byte) (int, error) {
	if err := CheckBody(t, len(body)); err != nil {
		return 0, err
	}
	h.mu.RLock()
	ps := make([]*peer, 0, len(h.peers))
	for _, p := range h.peers {
		ps = append(ps, p)
	}
	h.mu.RUnlock()
	n := 0
	for _, p := range ps {
		if h.enqueue(p, t, body) == nil {
			n++
		}
	}
	return n, nil
}

// Peers returns the connected peers with their liveness state.
func (h *Host) Peers() []PeerInfo {
	var out []PeerInfo
	if !h.do(func() {
		for _, c := range h.book.Conns() {
			out = append(out, PeerInfo{ID: c.ID, Remote: c.Remote, Outbound: c.Outbound, Validator: c.Validator, Score: c.Score, Misses: c.Misses})
		}
	}) {
		return nil
	}
	return out
}

// KnownPeers is the size of the address book.
func (h *Host) KnownPeers() int {
	n := 0
	h.do(func() { n = h.book.KnownCount() })
	return n
}

// do runs fn on the manager goroutine and waits for it.
func (h *Host) do(fn func()) bool {
	done := make(chan struct{})
	select {
	case h.events <- evDo{fn: fn, done: done}:
	case <-h.ctx.Done():
		return false
	}
	select {
	case <-done:
		return true
	case <-h.ctx.Done():
		return false
	}
}

// ---- manager loop ----

type (
	evSession struct {
		s        *kemtls.Session
		outbound bool
	}
	evDialFailed struct {
		id  crypto.Hash
		err error
	}
	evClosed struct {
		p   *peer
		err error
	}
	evPong struct {
		p     *peer
		nonce uint64
	}
	evGetPeers struct{ p *peer }
	evPeers    struct {
		p    *peer
		recs []*types.NodeRecord
	}
	evPenalize struct {
		p      *peer
		amount int
		why    string
	}
	evDo struct {
		fn   func()
		done chan struct{}
	}
)

// post hands an event to the loop unless the host is closing.
func (h *Host) post(ev any) {
	select {
	case h.events <- ev:
	case <-h.ctx.Done():
	}
}

func (h *Host) emit(ev Event) {
	if h.cfg.OnEvent != nil {
		h.cfg.OnEvent(ev)
	}
}

func (h *Host) acceptLoop() {
	defer h.wg.Done()
	for {
		s, err := h.ln.Accept()
		if err != nil {
			return
		}
		h.post(evSession{s: s})
	}
}

func (h *Host) loop() {
	defer h.wg.Done()
	clk := h.cfg.Clock
	hb := clk.NewTimer(h.cfg.HeartbeatInterval)
	pex := clk.NewTimer(h.cfg.PEXInterval)
	dial := clk.NewTimer(h.cfg.DialInterval)
	defer func() { hb.Stop(); pex.Stop(); dial.Stop() }()
	h.planDials()
	for {
		select {
		case <-h.ctx.Done():
			return
		case ev := <-h.events:
			h.handle(ev)
		case <-hb.C():
			h.heartbeat()
			hb = clk.NewTimer(h.cfg.HeartbeatInterval)
		case <-pex.C():
			h.pexTick()
			pex = clk.NewTimer(h.cfg.PEXInterval)
		case <-dial.C():
			h.planDials()
			dial = clk.NewTimer(h.cfg.DialInterval)
		}
		h.bookChanged()
		h.gauges()
	}
}

// peersReply is the payload answering GetPeers: up to 99 random records of
// the book and ours, rebuilt when older than a PEX interval, or than
// pexReplyMinAge if the book or our record changed since. Every asker in
// that window gets the same answer (and the same sample).
func (h *Host) peersReply(now time.Time) []byte {
	age := now.Sub(h.pexReplyAt)
	changed := h.pexReplyVersion != h.book.Version() || h.pexReplyRecord != h.record
	if h.pexReply == nil || age >= h.cfg.PEXInterval || age < 0 || (changed && age >= pexReplyMinAge) {
		recs := append(h.book.Records(MaxPeersPerMessage-1, now, h.cfg.Rand), h.record)
		h.pexReply = Encode(MsgPeers, EncodePeers(recs))
		h.pexReplyAt, h.pexReplyVersion, h.pexReplyRecord = now, h.book.Version(), h.record
		h.pexBuilds++
	}
	return h.pexReply
}

// bookChanged republishes what is derived from the book's records when the
// book's Version moved.
func (h *Host) bookChanged() {
	if v := h.book.Version(); v != h.heldVersion {
		h.heldVersion = v
		held := h.book.HeldSeqs()
		h.held.Store(&held)
	}
}

func (h *Host) handle(ev any) {
	now := h.cfg.Clock.Now()
	switch e := ev.(type) {
	case evDo:
		e.fn()
		close(e.done)
	case evSession:
		h.onSession(e.s, e.outbound, now)
	case evDialFailed:
		h.m.DialFailures.Inc()
		h.book.DialFailed(e.id, now, h.cfg.Rand)
		h.emit(Event{Kind: EventDialFailed, Peer: e.id, Outbound: true, Err: e.err})
	case evClosed:
		if h.current(e.p) {
			h.removePeer(e.p)
			h.book.Disconnected(e.p.id, now, h.cfg.Rand)
			h.log.Info("p2p: peer disconnected", "peer", short(e.p.id), "err", e.err)
			h.emit(Event{Kind: EventDisconnected, Peer: e.p.id, Outbound: e.p.outbound, Err: e.err})
			h.planDials()
		}
	case evPong:
		if h.current(e.p) && h.book.Pong(e.p.id, e.nonce) {
			h.emit(Event{Kind: EventPong, Peer: e.p.id})
		}
	case evGetPeers:
		if !h.current(e.p) {
			break
		}
		// Build nothing the peer's queue could not take (its reader is
		// rate-limited to 2 requests per PEX interval; the answer is cached).
		if !e.p.q.Fits(ClassControl, max(len(h.pexReply), 1)) {
			h.m.SendQueueDrops.Inc()
			break
		}
		_ = e.p.q.Push(ClassControl, h.peersReply(now))
	case evPeers:
		if !h.current(e.p) {
			break // evicted meanwhile (e.g. for forged records in the same message)
		}
		learned := false
		for _, r := range e.recs {
			if err := h.book.Learn(r, e.p.id, now, h.cfg.Rand); err != nil {
				if !errors.Is(err, ErrRecordStale) && !errors.Is(err, ErrSelf) {
					h.m.PEXRecordsRejected.Inc()
				}
				continue
			}
			learned = true
			h.m.PEXRecordsAccepted.Inc()
			h.emit(Event{Kind: EventRecordLearned, Peer: r.NodeID})
		}
		if learned {
			h.planDials()
		}
	case evPenalize:
		if h.current(e.p) && h.book.Penalize(e.p.id, e.amount) {
			h.evict(e.p, now, fmt.Errorf("%w: %s", ErrMisbehaviour, e.why))
		}
	}
}

func (h *Host) current(p *peer) bool {
	h.mu.RLock()
	defer h.mu.RUnlock()
	return h.peers[p.id] == p
}

func (h *Host) removePeer(p *peer) {
	h.mu.Lock()
	if h.peers[p.id] == p {
		delete(h.peers, p.id)
	}
	h.mu.Unlock()
}

func sessionRemote(s *kemtls.Session) netip.Addr {
	if ap, err := netip.ParseAddrPort(s.RemoteAddr().String()); err == nil {
		return ap.Addr().Unmap()
	}
	return netip.Addr{}
}

func refuseReason(err error) GoodbyeReason {
	switch {
	case errors.Is(err, ErrSubnetFull):
		return ByeSubnetFull
	case errors.Is(err, ErrBanned):
		return ByeBanned
	case errors.Is(err, ErrDuplicate):
		return ByeDuplicate
	}
	return ByeTooManyPeers
}

// goodbye tells a session why it is closed, without blocking the loop.
func goodbye(s *kemtls.Session, r GoodbyeReason) {
	go func() {
		_ = s.Send(Encode(MsgGoodbye, []byte{byte(r)}), time.Second)
		s.Close()
	}()
}

func (h *Host) onSession(s *kemtls.Session, outbound bool, now time.Time) {
	id := s.PeerID()
	remote := sessionRemote(s)
	if old := h.book.Conn(id); old != nil {
		if !h.book.KeepNew(id, old.Outbound, outbound) {
			if outbound {
				h.book.DialAborted(id)
			}
			goodbye(s, ByeDuplicate)
			return
		}
		h.mu.RLock()
		op := h.peers[id]
		h.mu.RUnlock()
		if op != nil {
			h.removePeer(op)
			op.close(ByeDuplicate)
		}
		delete(h.book.conns, id)
	}
	if err := h.book.Admit(id, remote, outbound, now); err != nil {
		h.m.AdmissionsRefused.Inc()
		if outbound {
			h.book.DialFailed(id, now, h.cfg.Rand)
		}
		h.log.Info("p2p: session refused", "peer", short(id), "remote", remote, "outbound", outbound, "reason", err)
		goodbye(s, refuseReason(err))
		h.emit(Event{Kind: EventRefused, Peer: id, Outbound: outbound, Err: err})
		return
	}
	c := h.book.Connected(id, remote, outbound, now)
	p := h.newPeer(s, c.Validator)
	h.mu.Lock()
	h.peers[id] = p
	h.mu.Unlock()
	p.start()
	// Introduce ourselves (the inbound side learns our listen address) and
	// ask a fresh outbound peer for its address book.
	_ = h.enqueue(p, MsgPeers, EncodePeers([]*types.NodeRecord{h.record}))
	if outbound {
		h.askPeers(p, now)
	}
	h.log.Info("p2p: peer connected", "peer", short(id), "remote", remote, "outbound", outbound, "validator", c.Validator)
	h.emit(Event{Kind: EventConnected, Peer: id, Outbound: outbound})
}

func (h *Host) evict(p *peer, now time.Time, why error) {
	h.removePeer(p)
	h.book.Evicted(p.id, now, h.cfg.Rand)
	h.m.Evictions.Inc()
	p.close(ByeEvicted)
	h.log.Info("p2p: peer evicted", "peer", short(p.id), "reason", why)
	h.emit(Event{Kind: EventEvicted, Peer: p.id, Outbound: p.outbound, Err: why})
}

// reconnect closes a validator session and redials it at once (validators
// are never evicted).
func (h *Host) reconnect(p *peer, now time.Time, why error) {
	h.removePeer(p)
	h.book.Disconnected(p.id, now, h.cfg.Rand)
	if k := h.book.Known(p.id); k != nil {
		k.NextDial = now
	}
	p.close(ByeEvicted)
	h.log.Info("p2p: reconnecting validator", "peer", short(p.id), "reason", why)
	h.emit(Event{Kind: EventDisconnected, Peer: p.id, Outbound: p.outbound, Err: why})
	h.planDials()
}

// slowPeers scores down each peer for which more than SlowPeerDrops
// consensus and batch messages were dropped since the last heartbeat and
// whose writer sent fewer than SlowPeerMinBytes in that time: −30, so the
// second such interval in a row evicts a non-validator through the usual
// score rule; a validator's session is reconnected instead once its score
// falls below the eviction threshold. Drops alone do not make a slow reader:
// a burst of ours (many batches gossiped at once) overflows every peer's
// queue at once, and a peer that drained the floor kept up with what it
// could be given.
func (h *Host) slowPeers(now time.Time) {
	h.mu.RLock()
	ps := make([]*peer, 0, len(h.peers))
	for _, p := range h.peers {
		ps = append(ps, p)
	}
	h.mu.RUnlock()
	for _, p := range ps {
		d, w := p.slowDrops.Swap(0), p.written.Swap(0)
		if h.cfg.SlowPeerDrops < 0 || d <= int64(h.cfg.SlowPeerDrops) {
			continue
		}
		if h.cfg.SlowPeerMinBytes >= 0 && w >= h.cfg.SlowPeerMinBytes {
			h.log.Debug("p2p: send queue overflowed but the peer drained fast", "peer", short(p.id), "drops", d, "bytes", w)
			continue
		}
		h.m.SlowPeerPenalties.Inc()
		why := fmt.Errorf("%w: send queue overflowed (%d dropped, %d bytes written in the interval)", ErrSlowReader, d, w)
		if h.book.Penalize(p.id, penaltySlowReader) {
			h.evict(p, now, why)
		} else if c := h.book.Conn(p.id); c != nil && c.Validator && c.Score < h.cfg.Policy.EvictBelow {
			h.reconnect(p, now, why)
		}
	}
}

func (h *Host) planDials() {
	if h.ctx.Err() != nil {
		return
	}
	for _, pa := range h.book.PlanDials(h.cfg.Clock.Now(), h.cfg.Rand) {
		h.m.Dials.Inc()
		h.wg.Add(1)
		go h.dial(pa)
	}
}

func (h *Host) dial(pa PeerAddr) {
	defer h.wg.Done()
	s, err := kemtls.Dial(h.ctx, h.dialer, pa.Addr, h.hs, pa.ID)
	if err != nil {
		h.post(evDialFailed{id: pa.ID, err: err})
		return
	}
	select {
	case h.events <- evSession{s: s, outbound: true}:
	case <-h.ctx.Done():
		s.Close()
	}
}

func (h *Host) heartbeat() {
	now := h.cfg.Clock.Now()
	h.slowPeers(now)
	for _, a := range h.book.Heartbeat(now, h.cfg.Rand.Uint64) {
		h.mu.RLock()
		p := h.peers[a.ID]
		h.mu.RUnlock()
		if p == nil {
			continue
		}
		switch a.Kind {
		case HBPing:
			if c := h.book.Conn(a.ID); c != nil && c.Misses > 0 {
				h.m.PingMisses.Inc()
			}
			_ = h.enqueue(p, MsgPing, EncodeNonce(a.Nonce))
		case HBEvict:
			h.m.PingMisses.Inc()
			h.evict(p, now, ErrLiveness)
		case HBReconnect:
			h.m.PingMisses.Inc()
			h.reconnect(p, now, ErrLiveness)
		}
	}
}

func (h *Host) pexTick() {
	now := h.cfg.Clock.Now()
	if h.record == nil || uint64(now.Add(h.cfg.RecordTTL/2).Unix()) > h.record.Expiry {
		if err := h.refreshRecord(now); err != nil {
			h.log.Error("p2p: cannot sign node record", "err", err)
		}
	}
	h.book.Prune(now)
	conns := h.book.Conns()
	if len(conns) == 0 {
		h.planDials()
		return
	}
	// Ask two random peers for their address books.
	h.cfg.Rand.Shuffle(len(conns), func(i, j int) { conns[i], conns[j] = conns[j], conns[i] })
	for _, c := range conns[:min(2, len(conns))] {
		h.mu.RLock()
		p := h.peers[c.ID]
		h.mu.RUnlock()
		if p != nil {
			h.askPeers(p, now)
		}
	}
	h.planDials()
}

// askPeers sends p a GetPeers unless one is outstanding (sent less than two
// PEX intervals ago and not answered yet): the reader accepts a Peers
// message from p only as the answer to it (or as p's introduction).
func (h *Host) askPeers(p *peer, now time.Time) {
	if at := p.pexAskedAt.Load(); at != 0 && now.Sub(time.Unix(0, at)) < 2*h.cfg.PEXInterval {
		return
	}
	p.pexAskedAt.Store(now.UnixNano())
	if h.enqueue(p, MsgGetPeers, nil) != nil {
		p.pexAskedAt.Store(0)
	}
}

func (h *Host) refreshRecord(now time.Time) error {
	seq := uint64(1)
	if h.record != nil {
		seq = h.record.Seq + 1
	}
	if s := uint64(max(0, now.Unix())); s > seq {
		seq = s // survives restarts without persisted state
	}
	rec, err := types.NewNodeRecord(h.cfg.Network, h.cfg.Key, []string{h.advertised}, seq, now.Add(h.cfg.RecordTTL))
	if err != nil {
		return err
	}
	h.record = rec
	return nil
}

func (h *Host) gauges() {
	var in, out, vals int
	for _, c := range h.book.conns {
		switch {
		case c.Validator:
			vals++
		}
		if c.Outbound {
			out++
		} else {
			in++
		}
	}
	h.m.PeersInbound.Set(float64(in))
	h.m.PeersOutbound.Set(float64(out))
	h.m.PeersValidators.Set(float64(vals))
	h.m.KnownPeers.Set(float64(h.book.KnownCount()))
	outN, d16 := h.book.Diversity()
	h.m.OutboundSubnets16.Set(float64(d16))
	low := lowDiversity(h.cfg.Policy.OutboundTarget, d16, h.cfg.Clock.Now().Sub(h.started), h.cfg.PEXInterval)
	if low {
		h.m.LowDiversity.Set(1)
	} else {
		h.m.LowDiversity.Set(0)
	}
	if low && !h.lowDiv {
		h.log.Warn("p2p: outbound peers span fewer than 2 distinct /16 networks (eclipse risk)", "outbound", outN, "distinct_16", d16)
		h.emit(Event{Kind: EventLowDiversity})
	}
	h.lowDiv = low
}

func short(id crypto.Hash) string { return id.String()[:12] }
