package p2p

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strings"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/p2p/ratelimit"
	"github.com/qbind/qbind/types"
	"golang.org/x/net/publicsuffix"
)

// This file is the pure decision core of the peer manager: which peers to
// dial, whom to admit, how liveness scores move, whom to evict. It does no
// I/O, reads no clock and draws no randomness of its own: the manager loop
// (host.go) owns one Book and feeds it events with the time and an RNG.

// PeerAddr is a node id with a dialable address, written "<hex id>@host:port"
// in configuration.
type PeerAddr struct {
	ID   crypto.Hash
	Addr string
}

func (p PeerAddr) String() string { return hex.EncodeToString(p.ID[:]) + "@" + p.Addr }

// ErrPeerAddr rejects a malformed "<id>@host:port".
var ErrPeerAddr = errors.New("p2p: peer address must be <64 hex node id>@host:port")

// ParsePeerAddr parses "<hex node id>@host:port".
func ParsePeerAddr(s string) (PeerAddr, error) {
	id, addr, ok := strings.Cut(s, "@")
	if !ok {
		return PeerAddr{}, fmt.Errorf("%w: %q", ErrPeerAddr, s)
	}
	h, err := crypto.ParseHash(id)
	if err != nil {
		return PeerAddr{}, fmt.Errorf("%w: %q: %v", ErrPeerAddr, s, err)
	}
	if err := types.CheckNodeAddr(addr); err != nil {
		return PeerAddr{}, fmt.Errorf("%w: %v", ErrPeerAddr, err)
	}
	return PeerAddr{ID: h, Addr: addr}, nil
}

// Policy holds the numbers of PROTOCOL.md §11 and spec §5.
type Policy struct {
	MaxInbound     int // non-validator inbound peers
	OutboundTarget int // non-validator outbound peers the dialer aims for
	MaxPerSubnet   int // non-validator peers per IPv4 /24 (IPv6 /48)
	MaxKnown       int // discovered peers kept (configured peers come on top)

	// Address-book flood limits (discovered records only): records whose
	// first address is in one IPv4 /24 (IPv6 /48; host names: one
	// registrable domain, see AddrGroup), and records one peer taught us.
	MaxKnownPerSubnet int // 4
	MaxKnownPerSource int // 25

	InitialScore, PongReward, MissPenalty int // 80, +5, −15
	EvictBelow, MaxMisses                 int // evict below 30 or after 3 misses

	BackoffBase, BackoffMax time.Duration // reconnect backoff 1 s … 5 min

	// Eviction bans: the n-th eviction of an id bans it for Backoff(n−1)
	// (doubling up to BackoffMax). The count survives reconnections and is
	// forgotten after BanMemory without an eviction; at most MaxBans ids are
	// remembered (the least recently evicted is dropped first).
	MaxBans   int           // 1024
	BanMemory time.Duration // 24 h
}

// DefaultPolicy is the MainNet policy.
var DefaultPolicy = Policy{
	MaxInbound: 40, OutboundTarget: 8, MaxPerSubnet: 4, MaxKnown: 100,
	MaxKnownPerSubnet: 4, MaxKnownPerSource: 25,
	InitialScore: 80, PongReward: 5, MissPenalty: 15, EvictBelow: 30, MaxMisses: 3,
	BackoffBase: time.Second, BackoffMax: 5 * time.Minute,
	MaxBans: 1024, BanMemory: 24 * time.Hour,
}

// Admission errors (the refusing side also sends Goodbye).
var (
	ErrSelf         = errors.New("p2p: session to ourselves")
	ErrInboundFull  = errors.New("p2p: inbound peer limit reached")
	ErrOutboundFull = errors.New("p2p: outbound peer limit reached")
	ErrSubnetFull   = errors.New("p2p: 4 peers from this /24 already")
	ErrBanned       = errors.New("p2p: peer evicted recently")
	ErrDuplicate    = errors.New("p2p: already connected to this peer")
)

// Source says how a peer became known.
type Source uint8

const (
	SourceValidator Source = iota + 1 // from the validator list: always maintained, never evicted
	SourceStatic                      // configured: always redialled, subject to caps
	SourceBootstrap                   // configured entry point
	SourcePEX                         // learned from a signed NodeRecord
)

// Known is an address-book entry.
type Known struct {
	ID       crypto.Hash
	Addrs    []string
	Source   Source
	Record   *types.NodeRecord // latest verified record, if any
	Failures int               // consecutive failed dials or sessions since the last session
	NextDial time.Time         // not before (backoff or ban)

	// Discovered entries only.
	From  crypto.Hash // the peer whose Peers message taught us the record
	Group string      // the /24 (/48) or domain of the first address
	Tried bool        // we have had an outbound session with it
}

// Conn is the liveness state of one connected peer.
type Conn struct {
	ID        crypto.Hash
	Remote    netip.Addr
	Outbound  bool
	Validator bool
	Score     int
	Misses    int
	Awaiting  bool   // a ping is outstanding
	Nonce     uint64 // of the outstanding ping
	Since     time.Time
}

// Book is the peer manager's state. It is not safe for concurrent use.
type Book struct {
	pol        Policy
	self       crypto.Hash
	validators map[crypto.Hash]bool
	known      map[crypto.Hash]*Known
	conns      map[crypto.Hash]*Conn
	dialing    map[crypto.Hash]string // id → address being dialled
	bans       map[crypto.Hash]*ban   // evicted ids, with or without a book entry (≤ MaxBans)
	version    uint64                 // bumped when the set of held records changes
}

// ban remembers the evictions of one id.
type ban struct {
	evictions int
	until     time.Time // refused until then
	last      time.Time // last eviction
}

// NewBook returns an empty book for node self. Zero fields of pol added
// after a caller wrote its policy literal take DefaultPolicy's values.
func NewBook(self crypto.Hash, pol Policy) *Book {
	if pol.MaxBans <= 0 {
		pol.MaxBans = DefaultPolicy.MaxBans
	}
	if pol.BanMemory <= 0 {
		pol.BanMemory = DefaultPolicy.BanMemory
	}
	if pol.MaxKnownPerSubnet <= 0 {
		pol.MaxKnownPerSubnet = DefaultPolicy.MaxKnownPerSubnet
	}
	if pol.MaxKnownPerSource <= 0 {
		pol.MaxKnownPerSource = DefaultPolicy.MaxKnownPerSource
	}
	return &Book{
		pol: pol, self: self,
		validators: map[crypto.Hash]bool{},
		known:      map[crypto.Hash]*Known{},
		conns:      map[crypto.Hash]*Conn{},
		dialing:    map[crypto.Hash]string{},
		bans:       map[crypto.Hash]*ban{},
	}
}

// IsValidator reports whether id is on the validator list.
func (b *Book) IsValidator(id crypto.Hash) bool { return b.validators[id] }

// AddConfigured adds a validator, static or bootstrap peer.
func (b *Book) AddConfigured(p PeerAddr, src Source) {
	if p.ID == b.self {
		if src == SourceValidator {
			b.validators[p.ID] = true
		}
		return
	}
	if src == SourceValidator {
		b.validators[p.ID] = true
	}
	k, ok := b.known[p.ID]
	if !ok {
		k = &Known{ID: p.ID, Source: src}
		b.known[p.ID] = k
	} else if src < k.Source {
		k.Source = src
	}
	if p.Addr != "" && !slices.Contains(k.Addrs, p.Addr) {
		k.Addrs = append([]string{p.Addr}, k.Addrs...)
	}
}

func (b *Book) discovered() int {
	n := 0
	for _, k := range b.known {
		if k.Source == SourcePEX {
			n++
		}
	}
	return n
}

// Record errors.
var (
	ErrRecordStale    = errors.New("p2p: node record is not newer than the one held")
	ErrBookFull       = errors.New("p2p: discovered-peer table full of connected peers")
	ErrRecordNoAddrs  = errors.New("p2p: node record has no address")
	ErrBookSubnetFull = errors.New("p2p: discovered-peer table full for this /24 or domain")
	ErrBookSourceFull = errors.New("p2p: discovered-peer table full for records from this peer")
)

// AddrGroup is the address-book group of a "host:port": the IPv4 /24 or
// IPv6 /48 of an IP literal, else the host name's registrable domain by the
// Public Suffix List, private section included ("dns:example.org",
// "dns:alice.co.uk", "dns:ec2-3-1-2-3.compute-1.amazonaws.com",
// "dns:x.duckdns.org"), so that one operator's many names or addresses count
// as one group while unrelated users of a shared suffix do not. A name that
// has no registrable domain (itself a public suffix) is its own group.
func AddrGroup(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		return ratelimit.Subnet(ip.WithZone("")).String()
	}
	host = strings.TrimSuffix(strings.ToLower(host), ".")
	if d, err := publicsuffix.EffectiveTLDPlusOne(host); err == nil {
		return "dns:" + d
	}
	return "dns:" + host
}

func recordExpired(rec *types.NodeRecord, now time.Time) bool {
	return uint64(max(0, now.Unix())) > rec.Expiry
}

// evictable reports whether a discovered entry may be dropped to make room:
// never a configured peer, a connected one or one being dialled.
func (b *Book) evictable(k *Known) bool {
	_, dialing := b.dialing[k.ID]
	return k.Source == SourcePEX && b.conns[k.ID] == nil && !dialing
}

// Prune drops discovered entries whose record has expired (unless connected
// or being dialled) and returns how many. Learn and the manager's peer
// exchange tick call it.
func (b *Book) Prune(now time.Time) int {
	n := 0
	for id, k := range b.known {
		if b.evictable(k) && k.Record != nil && recordExpired(k.Record, now) {
			delete(b.known, id)
			n++
		}
	}
	if n > 0 {
		b.version++
	}
	return n
}

// Version changes whenever the set of held records does (a record learned,
// replaced or dropped), so that derived state (the Peers reply, the
// held-record index of the readers) can be rebuilt only then.
func (b *Book) Version() uint64 { return b.version }

// HeldSeqs maps every id with a held record to that record's seq: a record
// for one of them that is not newer would be refused as stale.
func (b *Book) HeldSeqs() map[crypto.Hash]uint64 {
	m := make(map[crypto.Hash]uint64, len(b.known))
	for id, k := range b.known {
		if k.Record != nil {
			m[id] = k.Record.Seq
		}
	}
	return m
}

// Learn stores a verified NodeRecord that peer from sent us (the caller
// checked its signature). It refuses our own, expired and stale records, a
// record whose group (AddrGroup of its first address) already has
// MaxKnownPerSubnet discovered entries and a record from a peer that taught
// us MaxKnownPerSource of them. A full table first drops expired records,
// then replaces a random evictable discovered entry, preferring ones that
// failed 3 times in a row, then never-tried ones; configured, connected
// and in-flight entries are never replaced (if that is all there is:
// ErrBookFull). Configured peers keep their configured address first.
func (b *Book) Learn(rec *types.NodeRecord, from crypto.Hash, now time.Time, rng *rand.Rand) error {
	if rec.NodeID == b.self {
		return ErrSelf
	}
	if len(rec.Addrs) == 0 {
		return ErrRecordNoAddrs
	}
	if recordExpired(rec, now) {
		return types.ErrNodeRecordExpired
	}
	group := AddrGroup(rec.Addrs[0])
	if k, ok := b.known[rec.NodeID]; ok {
		if k.Record != nil && rec.Seq <= k.Record.Seq {
			return ErrRecordStale
		}
		if k.Source == SourcePEX {
			if group != k.Group && b.groupCount(group) >= b.pol.MaxKnownPerSubnet {
				return ErrBookSubnetFull
			}
			k.Addrs, k.Group = slices.Clone(rec.Addrs), group
		} else {
			for _, a := range rec.Addrs {
				if !slices.Contains(k.Addrs, a) && len(k.Addrs) < types.MaxNodeAddrs {
					k.Addrs = append(k.Addrs, a)
				}
			}
		}
		k.Record = rec
		b.version++
		return nil
	}
	b.Prune(now)
	if b.groupCount(group) >= b.pol.MaxKnownPerSubnet {
		return ErrBookSubnetFull
	}
	if b.sourceCount(from) >= b.pol.MaxKnownPerSource {
		return ErrBookSourceFull
	}
	if b.discovered() >= b.pol.MaxKnown {
		victim := b.replacement(rng)
		if victim == nil {
			return ErrBookFull
		}
		delete(b.known, victim.ID)
	}
	b.known[rec.NodeID] = &Known{ID: rec.NodeID, Addrs: slices.Clone(rec.Addrs), Source: SourcePEX, Record: rec, From: from, Group: group}
	b.version++
	return nil
}

func (b *Book) groupCount(g string) int {
	n := 0
	for _, k := range b.known {
		if k.Source == SourcePEX && k.Group == g {
			n++
		}
	}
	return n
}

func (b *Book) sourceCount(from crypto.Hash) int {
	n := 0
	for _, k := range b.known {
		if k.Source == SourcePEX && k.From == from {
			n++
		}
	}
	return n
}

// replacement picks the discovered entry a full table gives up: at random
// among the evictable entries that failed 3 times in a row, else among the
// never-tried ones, else among all evictable ones (nil if none).
func (b *Book) replacement(rng *rand.Rand) *Known {
	var failing, untried, rest []*Known
	for _, k := range b.sortedKnown() {
		switch {
		case !b.evictable(k):
		case k.Failures >= 3:
			failing = append(failing, k)
		case !k.Tried:
			untried = append(untried, k)
		default:
			rest = append(rest, k)
		}
	}
	for _, c := range [][]*Known{failing, untried, rest} {
		if len(c) > 0 {
			return c[rng.IntN(len(c))]
		}
	}
	return nil
}

// Records returns up to n verified records of known peers (for a Peers
// reply), chosen at random.
func (b *Book) Records(n int, now time.Time, rng *rand.Rand) []*types.NodeRecord {
	var out []*types.NodeRecord
	for _, k := range b.sortedKnown() {
		if k.Record != nil && !recordExpired(k.Record, now) {
			out = append(out, k.Record)
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out[:min(n, len(out))]
}

func (b *Book) sortedKnown() []*Known {
	out := make([]*Known, 0, len(b.known))
	for _, k := range b.known {
		out = append(out, k)
	}
	slices.SortFunc(out, func(x, y *Known) int { return bytes.Compare(x.ID[:], y.ID[:]) })
	return out
}

// subnetCount counts connected and in-flight non-validator peers in sub.
func (b *Book) subnetCount(sub netip.Prefix) int {
	n := 0
	for _, c := range b.conns {
		if !c.Validator && c.Remote.IsValid() && ratelimit.Subnet(c.Remote) == sub {
			n++
		}
	}
	for id, addr := range b.dialing {
		if b.validators[id] {
			continue
		}
		if ip, ok := addrIP(addr); ok && ratelimit.Subnet(ip) == sub {
			n++
		}
	}
	return n
}

func addrIP(addr string) (netip.Addr, bool) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return netip.Addr{}, false
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return netip.Addr{}, false
	}
	return ip.Unmap(), true
}

func (b *Book) counts() (in, out int) {
	for _, c := range b.conns {
		if c.Validator {
			continue
		}
		if c.Outbound {
			out++
		} else {
			in++
		}
	}
	return in, out
}

// MaxOutbound is the cap on outbound non-validator sessions: ⌊1.5 ×
// OutboundTarget⌋, at least 1 (a node with target 0 still keeps a static
// peer). The dialler aims for the target; the margin absorbs simultaneous
// dials and static peers.
func (b *Book) MaxOutbound() int {
	return max(1, b.pol.OutboundTarget+b.pol.OutboundTarget/2)
}

// Admit decides whether an authenticated session may join. Validators are
// exempt from every cap and ban.
func (b *Book) Admit(id crypto.Hash, remote netip.Addr, outbound bool, now time.Time) error {
	if id == b.self {
		return ErrSelf
	}
	if b.validators[id] {
		return nil
	}
	if now.Before(b.BannedUntil(id)) {
		return ErrBanned
	}
	in, out := b.counts()
	if b.conns[id] != nil {
		// The caller resolves duplicates; a replacement does not add a peer.
		return nil
	}
	if !outbound && in >= b.pol.MaxInbound {
		return ErrInboundFull
	}
	if outbound && out >= b.MaxOutbound() {
		return ErrOutboundFull
	}
	if remote.IsValid() {
		sub := ratelimit.Subnet(remote)
		n := b.subnetCount(sub)
		if addr, dialing := b.dialing[id]; dialing && outbound {
			// subnetCount counted this very dial if its address is an IP in
			// sub (a host-name dial or one to another /24 was not counted).
			if a, ok := addrIP(addr); ok && ratelimit.Subnet(a) == sub {
				n--
			}
		}
		if n >= b.pol.MaxPerSubnet {
			return ErrSubnetFull
		}
	}
	return nil
}

// KeepNew decides between an existing session and a new one to the same
// peer: both ends keep the session dialled by the node with the smaller id,
// so simultaneous dials converge on one session.
func (b *Book) KeepNew(peer crypto.Hash, existingOutbound, newOutbound bool) bool {
	dialer := func(outbound bool) crypto.Hash {
		if outbound {
			return b.self
		}
		return peer
	}
	de, dn := dialer(existingOutbound), dialer(newOutbound)
	return bytes.Compare(dn[:], de[:]) < 0
}

// Connected registers an admitted session and clears the peer's backoff.
func (b *Book) Connected(id crypto.Hash, remote netip.Addr, outbound bool, now time.Time) *Conn {
	c := &Conn{ID: id, Remote: remote.Unmap(), Outbound: outbound, Validator: b.validators[id], Score: b.pol.InitialScore, Since: now}
	b.conns[id] = c
	delete(b.dialing, id)
	if k := b.known[id]; k != nil {
		k.Failures, k.NextDial = 0, time.Time{}
		k.Tried = k.Tried || outbound
	}
	return c
}

// Conn returns the state of a connected peer, or nil.
func (b *Book) Conn(id crypto.Hash) *Conn { return b.conns[id] }

// Conns lists connected peers ordered by id.
func (b *Book) Conns() []*Conn {
	out := make([]*Conn, 0, len(b.conns))
	for _, c := range b.conns {
		out = append(out, c)
	}
	slices.SortFunc(out, func(x, y *Conn) int { return bytes.Compare(x.ID[:], y.ID[:]) })
	return out
}

// Known returns an address-book entry, or nil.
func (b *Book) Known(id crypto.Hash) *Known { return b.known[id] }

// KnownCount is the size of the address book (configured + discovered).
func (b *Book) KnownCount() int { return len(b.known) }

// Backoff is the delay before redial attempt number failures+1: BackoffBase
// · 2^failures capped at BackoffMax, jittered uniformly into [d/2, d].
func (b *Book) Backoff(failures int, rng *rand.Rand) time.Duration {
	d := b.pol.BackoffBase
	for i := 0; i < failures && d < b.pol.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, b.pol.BackoffMax)
	half := d / 2
	return half + time.Duration(rng.Int64N(int64(half)+1))
}

func (b *Book) scheduleRedial(id crypto.Hash, now time.Time, rng *rand.Rand) {
	if k := b.known[id]; k != nil {
		k.NextDial = now.Add(b.Backoff(k.Failures, rng))
		k.Failures++
	}
}

// Disconnected removes a session and schedules the redial with backoff.
func (b *Book) Disconnected(id crypto.Hash, now time.Time, rng *rand.Rand) {
	delete(b.conns, id)
	b.scheduleRedial(id, now, rng)
}

// DialFailed ends a dial attempt and backs the peer off.
func (b *Book) DialFailed(id crypto.Hash, now time.Time, rng *rand.Rand) {
	delete(b.dialing, id)
	b.scheduleRedial(id, now, rng)
}

// DialAborted ends a dial attempt without penalty (e.g. already connected).
func (b *Book) DialAborted(id crypto.Hash) { delete(b.dialing, id) }

// PlanDials returns the dials to start now, and marks them in flight:
// every validator without a session; every static peer; then random
// discovered or bootstrap peers while outbound non-validator sessions and
// dials stay below OutboundTarget and their /24 has room.
func (b *Book) PlanDials(now time.Time, rng *rand.Rand) []PeerAddr {
	var out []PeerAddr
	due := func(k *Known) bool {
		_, dialing := b.dialing[k.ID]
		expired := k.Source == SourcePEX && k.Record != nil && recordExpired(k.Record, now)
		return b.conns[k.ID] == nil && !dialing && len(k.Addrs) > 0 && !expired && !now.Before(k.NextDial) && !now.Before(b.BannedUntil(k.ID))
	}
	start := func(k *Known) {
		addr := k.Addrs[k.Failures%len(k.Addrs)]
		b.dialing[k.ID] = addr
		out = append(out, PeerAddr{ID: k.ID, Addr: addr})
	}
	var pool []*Known
	for _, k := range b.sortedKnown() {
		if !due(k) {
			continue
		}
		switch {
		case b.validators[k.ID]:
			start(k)
		case k.Source == SourceStatic:
			start(k)
		default:
			pool = append(pool, k)
		}
	}
	_, outN := b.counts()
	for id := range b.dialing {
		if !b.validators[id] {
			outN++
		}
	}
	rng.Shuffle(len(pool), func(i, j int) { pool[i], pool[j] = pool[j], pool[i] })
	for _, k := range pool {
		if outN >= b.pol.OutboundTarget {
			break
		}
		if ip, ok := addrIP(k.Addrs[k.Failures%len(k.Addrs)]); ok && b.subnetCount(ratelimit.Subnet(ip)) >= b.pol.MaxPerSubnet {
			continue
		}
		start(k)
		outN++
	}
	return out
}

// HeartbeatAction is what a heartbeat tick asks the manager to do.
type HeartbeatAction struct {
	ID    crypto.Hash
	Kind  HeartbeatKind
	Nonce uint64 // for Ping
}

// HeartbeatKind is the kind of a HeartbeatAction.
type HeartbeatKind uint8

const (
	// HBPing sends a ping.
	HBPing HeartbeatKind = iota + 1
	// HBEvict closes a non-validator whose score fell below EvictBelow or
	// that missed MaxMisses heartbeats, and bans it for a backoff period.
	HBEvict
	// HBReconnect closes a validator session that missed MaxMisses
	// heartbeats and redials it at once (validators are never evicted).
	HBReconnect
)

// Heartbeat runs one tick: an unanswered ping is a miss (−MissPenalty); then
// each peer is evicted, reconnected or pinged again. nonce draws ping nonces.
func (b *Book) Heartbeat(now time.Time, nonce func() uint64) []HeartbeatAction {
	var out []HeartbeatAction
	for _, c := range b.Conns() {
		if c.Awaiting {
			c.Misses++
			c.Score = max(0, c.Score-b.pol.MissPenalty)
		}
		switch {
		case !c.Validator && (c.Score < b.pol.EvictBelow || c.Misses >= b.pol.MaxMisses):
			out = append(out, HeartbeatAction{ID: c.ID, Kind: HBEvict})
		case c.Validator && c.Misses >= b.pol.MaxMisses:
			out = append(out, HeartbeatAction{ID: c.ID, Kind: HBReconnect})
		default:
			c.Awaiting, c.Nonce = true, nonce()
			out = append(out, HeartbeatAction{ID: c.ID, Kind: HBPing, Nonce: c.Nonce})
		}
	}
	return out
}

// Pong credits a pong that answers the outstanding ping (+PongReward, misses
// reset). Unsolicited or stale pongs are ignored.
func (b *Book) Pong(id crypto.Hash, nonce uint64) bool {
	c := b.conns[id]
	if c == nil || !c.Awaiting || c.Nonce != nonce {
		return false
	}
	c.Awaiting, c.Misses = false, 0
	c.Score = min(100, c.Score+b.pol.PongReward)
	return true
}

// Penalize lowers a peer's score for misbehaviour and reports whether it
// must now be evicted (never for validators).
func (b *Book) Penalize(id crypto.Hash, amount int) bool {
	c := b.conns[id]
	if c == nil {
		return false
	}
	c.Score = max(0, c.Score-amount)
	return !c.Validator && c.Score < b.pol.EvictBelow
}

// Evicted removes an evicted peer and bans it (validators excepted) for
// Backoff(previous evictions): the ban doubles with each eviction up to
// BackoffMax, however often the peer is readmitted in between. Ids without
// an address-book entry are banned too. A book entry is redialled after the
// ban.
func (b *Book) Evicted(id crypto.Hash, now time.Time, rng *rand.Rand) {
	delete(b.conns, id)
	if b.validators[id] {
		return
	}
	e := b.bans[id]
	if e != nil && now.Sub(e.last) >= b.pol.BanMemory {
		e.evictions = 0 // a quiet period: start again at the first ban
	}
	if e == nil {
		b.makeBanRoom(now)
		e = &ban{}
		b.bans[id] = e
	}
	e.until = now.Add(b.Backoff(e.evictions, rng))
	e.evictions++
	e.last = now
	if k := b.known[id]; k != nil && k.NextDial.Before(e.until) {
		k.NextDial = e.until
	}
}

// makeBanRoom keeps the ban table below MaxBans: it drops the entries that
// are both expired and forgotten, then, if still full, the least recently
// evicted one.
func (b *Book) makeBanRoom(now time.Time) {
	if len(b.bans) < b.pol.MaxBans {
		return
	}
	var oldest crypto.Hash
	var oldestAt time.Time
	for id, e := range b.bans {
		if !now.Before(e.until) && now.Sub(e.last) >= b.pol.BanMemory {
			delete(b.bans, id)
			continue
		}
		if oldestAt.IsZero() || e.last.Before(oldestAt) || (e.last.Equal(oldestAt) && bytes.Compare(id[:], oldest[:]) < 0) {
			oldest, oldestAt = id, e.last
		}
	}
	if len(b.bans) >= b.pol.MaxBans {
		delete(b.bans, oldest)
	}
}

// BannedUntil is the end of id's eviction ban (zero: not banned).
func (b *Book) BannedUntil(id crypto.Hash) time.Time {
	if e := b.bans[id]; e != nil {
		return e.until
	}
	return time.Time{}
}

// lowDiversity is the eclipse warning rule: a node that dials (target > 0)
// and whose outbound peers span fewer than 2 distinct /16s (0 or 1 peers
// included) warns, once it has been up for a PEX interval (start-up had a
// chance to dial).
func lowDiversity(target, distinct16 int, up, pexInterval time.Duration) bool {
	return target > 0 && distinct16 < 2 && up >= pexInterval
}

// Diversity counts outbound peers and the distinct IPv4 /16s (IPv6 /32s)
// among them. Spec §5.4 wants ≥ 2 (a warning, not a refusal).
func (b *Book) Diversity() (outbound, distinct16 int) {
	seen := map[netip.Prefix]bool{}
	for _, c := range b.conns {
		if !c.Outbound || !c.Remote.IsValid() {
			continue
		}
		outbound++
		bits := 32
		if c.Remote.Is4() {
			bits = 16
		}
		p, _ := c.Remote.Prefix(bits)
		seen[p] = true
	}
	return outbound, len(seen)
}
