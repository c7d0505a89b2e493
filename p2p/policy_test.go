package p2p

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"testing"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

var t0 = time.Unix(1_800_000_000, 0)

func hid(i int) crypto.Hash { return crypto.Sum([]byte{byte(i), byte(i >> 8)}) }

func testBook(self int) *Book { return NewBook(hid(self), DefaultPolicy) }

func ip(s string) netip.Addr { return netip.MustParseAddr(s) }

func TestLivenessScore(t *testing.T) {
	b := testBook(0)
	b.AddConfigured(PeerAddr{ID: hid(9), Addr: "10.0.0.9:1"}, SourceValidator)
	b.Connected(hid(1), ip("10.0.0.1"), true, t0)
	b.Connected(hid(9), ip("10.0.0.9"), true, t0)
	if c := b.Conn(hid(1)); c.Score != 80 {
		t.Fatalf("initial score %d", c.Score)
	}
	n := uint64(0)
	nonce := func() uint64 { n++; return n }
	// Four answered heartbeats: 80 → 100 (capped).
	for range 5 {
		for _, a := range b.Heartbeat(t0, nonce) {
			if a.Kind != HBPing {
				t.Fatalf("unexpected %v", a.Kind)
			}
			if !b.Pong(a.ID, a.Nonce) {
				t.Fatal("pong refused")
			}
		}
	}
	if c := b.Conn(hid(1)); c.Score != 100 || c.Misses != 0 {
		t.Fatalf("score %d misses %d", c.Score, c.Misses)
	}
	if b.Pong(hid(1), 12345) {
		t.Fatal("unsolicited pong credited")
	}
	// Both stop answering: peer 1 goes 100 → 85 → 70 → 55 and is evicted
	// at the third miss; the validator is reconnected instead.
	var evicted, reconnect bool
	for i := range 4 {
		for _, a := range b.Heartbeat(t0, nonce) {
			switch {
			case a.ID == hid(1) && a.Kind == HBEvict:
				if i != 3 || b.Conn(hid(1)).Misses != 3 || b.Conn(hid(1)).Score != 55 {
					t.Fatalf("evicted at tick %d: %+v", i, *b.Conn(hid(1)))
				}
				evicted = true
			case a.ID == hid(9) && a.Kind == HBEvict:
				t.Fatal("validator evicted")
			case a.ID == hid(9) && a.Kind == HBReconnect:
				reconnect = true
			}
		}
	}
	if !evicted || !reconnect {
		t.Fatalf("evicted %v, validator reconnect %v", evicted, reconnect)
	}
	// Score below 30 evicts at once; validators only lose score.
	b.Connected(hid(2), ip("10.0.1.2"), false, t0)
	if b.Penalize(hid(2), 50) || !b.Penalize(hid(2), 1) {
		t.Fatal("80-50=30 is not below 30; 29 is")
	}
	if b.Penalize(hid(9), 100) {
		t.Fatal("validator evicted by penalty")
	}
}

func TestBackoff(t *testing.T) {
	b := testBook(0)
	rng := rand.New(rand.NewPCG(1, 2))
	for f := range 12 {
		d := b.Backoff(f, rng)
		full := min(time.Second<<f, 5*time.Minute)
		if d < full/2 || d > full {
			t.Fatalf("failures %d: %v outside [%v, %v]", f, d, full/2, full)
		}
	}
	// Jitter: two draws for one failure count differ.
	if b.Backoff(5, rng) == b.Backoff(5, rng) && b.Backoff(5, rng) == b.Backoff(5, rng) {
		t.Fatal("no jitter")
	}
}

func TestAdmission(t *testing.T) {
	b := testBook(0)
	b.AddConfigured(PeerAddr{ID: hid(50), Addr: "10.9.9.50:1"}, SourceValidator)
	for i := 1; i <= 4; i++ {
		if err := b.Admit(hid(i), ip("10.9.9.1").Next(), i%2 == 0, t0); err != nil {
			t.Fatal(err)
		}
		b.Connected(hid(i), netip.AddrFrom4([4]byte{10, 9, 9, byte(i)}), i%2 == 0, t0)
	}
	if err := b.Admit(hid(5), ip("10.9.9.5"), false, t0); !errors.Is(err, ErrSubnetFull) {
		t.Fatalf("fifth from the /24: %v", err)
	}
	if err := b.Admit(hid(5), ip("10.9.10.5"), false, t0); err != nil {
		t.Fatalf("other /24: %v", err)
	}
	if err := b.Admit(hid(50), ip("10.9.9.50"), false, t0); err != nil {
		t.Fatalf("validator from a full /24: %v", err)
	}
	if err := b.Admit(hid(0), ip("10.1.1.1"), false, t0); !errors.Is(err, ErrSelf) {
		t.Fatal(err)
	}
	// Inbound cap.
	small := NewBook(hid(0), Policy{MaxInbound: 1, OutboundTarget: 1, MaxPerSubnet: 4, MaxKnown: 10, InitialScore: 80, EvictBelow: 30, MaxMisses: 3, BackoffBase: time.Second, BackoffMax: time.Minute})
	small.Connected(hid(1), ip("10.0.0.1"), false, t0)
	if err := small.Admit(hid(2), ip("10.0.1.1"), false, t0); !errors.Is(err, ErrInboundFull) {
		t.Fatal(err)
	}
	// Ban after eviction, for non-validators only.
	rng := rand.New(rand.NewPCG(1, 2))
	b.AddConfigured(PeerAddr{ID: hid(3), Addr: "10.9.9.3:1"}, SourceBootstrap)
	b.Evicted(hid(3), t0, rng)
	if err := b.Admit(hid(3), ip("10.9.8.3"), false, t0.Add(100*time.Millisecond)); !errors.Is(err, ErrBanned) {
		t.Fatalf("evicted peer readmitted: %v", err)
	}
	if err := b.Admit(hid(3), ip("10.9.8.3"), false, t0.Add(2*time.Second)); err != nil {
		t.Fatalf("ban did not expire: %v", err)
	}
	// Readmitted and evicted again: the second ban is [1 s, 2 s] (the first
	// was [0.5 s, 1 s]); readmission does not reset it.
	now := t0.Add(2 * time.Second)
	b.Connected(hid(3), ip("10.9.8.3"), false, now)
	b.Evicted(hid(3), now, rng)
	if err := b.Admit(hid(3), ip("10.9.8.3"), false, now.Add(999*time.Millisecond)); !errors.Is(err, ErrBanned) {
		t.Fatalf("second ban shorter than 1 s: %v", err)
	}
	if err := b.Admit(hid(3), ip("10.9.8.3"), false, now.Add(2*time.Second)); err != nil {
		t.Fatalf("second ban longer than 2 s: %v", err)
	}
}

func TestKeepNewIsSymmetric(t *testing.T) {
	a, c := testBook(1), testBook(2)
	// a dialled c and c dialled a at the same time: a holds (out=a→c, in=c→a).
	keepA := a.KeepNew(hid(2), true, false) // existing outbound, new inbound
	keepC := c.KeepNew(hid(1), false, true) // c: existing inbound (a→c), new outbound (c→a)
	// Both must keep the same physical session: a's "new" is c→a, c's "new" is c→a.
	if keepA != keepC {
		t.Fatal("ends disagree on which duplicate to keep")
	}
}

func TestPlanDials(t *testing.T) {
	pol := DefaultPolicy
	pol.OutboundTarget = 3
	b := NewBook(hid(0), pol)
	rng := rand.New(rand.NewPCG(3, 4))
	b.AddConfigured(PeerAddr{ID: hid(100), Addr: "10.0.100.1:1"}, SourceValidator)
	b.AddConfigured(PeerAddr{ID: hid(101), Addr: "10.0.101.1:1"}, SourceValidator)
	for i := 1; i <= 20; i++ {
		b.AddConfigured(PeerAddr{ID: hid(i), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 1}), 1).String()}, SourceBootstrap)
	}
	d := b.PlanDials(t0, rng)
	vals, others := 0, 0
	for _, p := range d {
		if b.IsValidator(p.ID) {
			vals++
		} else {
			others++
		}
	}
	if vals != 2 || others != 3 {
		t.Fatalf("validators %d, others %d", vals, others)
	}
	if len(b.PlanDials(t0, rng)) != 0 {
		t.Fatal("dials in flight were planned again")
	}
	// Random selection: another book with another seed picks other peers.
	b2 := NewBook(hid(0), pol)
	for i := 1; i <= 20; i++ {
		b2.AddConfigured(PeerAddr{ID: hid(i), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 1}), 1).String()}, SourceBootstrap)
	}
	same := true
	for seed := uint64(10); seed < 15 && same; seed++ {
		b3 := NewBook(hid(0), pol)
		for i := 1; i <= 20; i++ {
			b3.AddConfigured(PeerAddr{ID: hid(i), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 1, byte(i), 1}), 1).String()}, SourceBootstrap)
		}
		x := b3.PlanDials(t0, rand.New(rand.NewPCG(seed, seed)))
		y := b2.PlanDials(t0, rand.New(rand.NewPCG(99, 99)))
		b2 = b3
		same = x[0] == y[0] && x[1] == y[1] && x[2] == y[2]
	}
	if same {
		t.Fatal("dial selection is not random")
	}
	// Failure → backoff: not due before NextDial, due after. A failed
	// validator is redialled at its NextDial; the slot a failed non-validator
	// frees goes at once to another due peer (it competes for the target).
	var val, id crypto.Hash
	for _, p := range d {
		if b.IsValidator(p.ID) {
			val = p.ID
		} else {
			id = p.ID
		}
	}
	b.DialFailed(val, t0, rng)
	b.DialFailed(id, t0, rng)
	next := b.Known(id).NextDial
	if next.Sub(t0) < 500*time.Millisecond || next.Sub(t0) > time.Second {
		t.Fatalf("first backoff %v", next.Sub(t0))
	}
	nextVal := b.Known(val).NextDial
	refill := b.PlanDials(t0, rng)
	if len(refill) != 1 || refill[0].ID == id || b.IsValidator(refill[0].ID) {
		t.Fatalf("freed slot: %v, want one other non-validator", refill)
	}
	for _, p := range b.PlanDials(nextVal.Add(-time.Millisecond), rng) {
		t.Fatalf("%v dialled before its backoff", p)
	}
	if d := b.PlanDials(nextVal, rng); len(d) != 1 || d[0].ID != val {
		t.Fatalf("validator not redialled after its backoff: %v", d)
	}
	// With no other candidate, the failed peer itself is due exactly at
	// NextDial, not before.
	one := NewBook(hid(0), pol)
	one.AddConfigured(PeerAddr{ID: hid(1), Addr: "10.1.1.1:1"}, SourceBootstrap)
	if d := one.PlanDials(t0, rng); len(d) != 1 {
		t.Fatalf("first dial %v", d)
	}
	one.DialFailed(hid(1), t0, rng)
	next = one.Known(hid(1)).NextDial
	if d := one.PlanDials(next.Add(-time.Millisecond), rng); len(d) != 0 {
		t.Fatalf("dialled before its backoff: %v", d)
	}
	if d := one.PlanDials(next, rng); len(d) != 1 || d[0].ID != hid(1) {
		t.Fatalf("not redialled after its backoff: %v", d)
	}
}

func TestPlanDialsSubnetCap(t *testing.T) {
	b := testBook(0)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := 1; i <= 10; i++ {
		b.AddConfigured(PeerAddr{ID: hid(i), Addr: netip.AddrPortFrom(netip.AddrFrom4([4]byte{10, 7, 7, byte(i)}), 1).String()}, SourceBootstrap)
	}
	if got := len(b.PlanDials(t0, rng)); got != 4 {
		t.Fatalf("%d dials into one /24, want 4", got)
	}
}

func TestLearnCap(t *testing.T) {
	pol := DefaultPolicy
	pol.MaxKnown = 3
	b := NewBook(hid(0), pol)
	rng := rand.New(rand.NewPCG(1, 1))
	sks := testKeys()
	learn := func(k int, seq uint64, addr string) error {
		return b.Learn(testRecord(t, sks[k], seq, addr), hid(50), t0, rng)
	}
	for i := range 3 {
		if err := learn(i+1, 5, "127.0.0.1:1"); err != nil {
			t.Fatal(err)
		}
	}
	if err := learn(1, 5, "127.0.0.1:2"); !errors.Is(err, ErrRecordStale) {
		t.Fatalf("same seq: %v", err)
	}
	if err := learn(1, 6, "127.0.0.1:2"); err != nil {
		t.Fatalf("newer seq: %v", err)
	}
	// A peer that keeps failing makes room.
	id := crypto.NodeID(sks[2].Public().Bytes())
	for range 3 {
		b.DialFailed(id, t0, rng)
	}
	if err := learn(4, 5, "127.0.0.1:1"); err != nil {
		t.Fatalf("after failures: %v", err)
	}
	if b.Known(id) != nil || b.KnownCount() != 3 {
		t.Fatal("failing peer kept")
	}
	// Otherwise a full table replaces a random discovered entry (it used to
	// refuse with ErrBookFull, which let sybil records hold it forever).
	if err := learn(5, 5, "127.0.0.1:1"); err != nil || b.KnownCount() != 3 {
		t.Fatalf("fifth: %v, %d known", err, b.KnownCount())
	}
	// Only when every entry is connected is a new record refused.
	for _, k := range b.sortedKnown() {
		b.Connected(k.ID, ip("127.0.0.1"), true, t0)
	}
	if err := learn(6, 5, "127.0.0.1:1"); !errors.Is(err, ErrBookFull) {
		t.Fatalf("table of connected peers: %v", err)
	}
}

func TestDiversity(t *testing.T) {
	b := testBook(0)
	b.Connected(hid(1), ip("10.1.0.1"), true, t0)
	b.Connected(hid(2), ip("10.1.200.1"), true, t0)
	if n, d := b.Diversity(); n != 2 || d != 1 {
		t.Fatalf("%d %d", n, d)
	}
	b.Connected(hid(3), ip("10.2.0.1"), true, t0)
	if _, d := b.Diversity(); d != 2 {
		t.Fatal(d)
	}
}

func TestSendQueuePriority(t *testing.T) {
	q := newSendQueue(QueueLimits{Msgs: [NumClasses]int{2, 2, 2, 2}, Bytes: [NumClasses]int{100, 100, 100, 100}})
	must := func(c Class, s string) {
		if err := q.Push(c, []byte(s)); err != nil {
			t.Fatal(err)
		}
	}
	must(ClassSync, "s1")
	must(ClassBatch, "b1")
	must(ClassConsensus, "c1")
	must(ClassSync, "s2")
	must(ClassControl, "p1")
	must(ClassConsensus, "c2")
	if err := q.Push(ClassSync, []byte("s3")); !errors.Is(err, ErrQueueFull) {
		t.Fatal("queue bound not enforced")
	}
	if err := q.Push(ClassBatch, make([]byte, 101)); !errors.Is(err, ErrQueueFull) {
		t.Fatal("byte bound not enforced")
	}
	want := []string{"p1", "c1", "c2", "b1", "s1", "s2"}
	for _, w := range want {
		p, ok := q.Pop(nil)
		if !ok || string(p) != w {
			t.Fatalf("got %q, want %q", p, w)
		}
	}
	done := make(chan struct{})
	close(done)
	if _, ok := q.Pop(done); ok {
		t.Fatal("pop on empty closed")
	}
}

// Outbound non-validator sessions are capped at ⌊1.5 × target⌋ (12 for the
// MainNet target of 8; at least 1, so a node with target 0 keeps a static
// peer); validators are not counted.
func TestOutboundCap(t *testing.T) {
	for _, tc := range []struct{ target, want int }{{8, 12}, {3, 4}, {1, 1}, {0, 1}} {
		pol := DefaultPolicy
		pol.OutboundTarget = tc.target
		b := NewBook(hid(0), pol)
		b.AddConfigured(PeerAddr{ID: hid(99), Addr: "10.99.0.1:1"}, SourceValidator)
		n := 0
		for i := 1; i <= 20; i++ {
			a := netip.AddrFrom4([4]byte{10, byte(i), 0, 1})
			if err := b.Admit(hid(i), a, true, t0); err != nil {
				if !errors.Is(err, ErrOutboundFull) {
					t.Fatalf("target %d: %v", tc.target, err)
				}
				break
			}
			b.Connected(hid(i), a, true, t0)
			n++
		}
		if n != tc.want {
			t.Errorf("target %d: %d outbound non-validators admitted, want %d", tc.target, n, tc.want)
		}
		if err := b.Admit(hid(99), ip("10.99.0.1"), true, t0); err != nil {
			t.Errorf("target %d: validator refused at the outbound cap: %v", tc.target, err)
		}
	}
}

// A dial by host name is not counted in its /24 while in flight (the IP is
// unknown), so admitting it must not subtract it: four peers in 203.0.113.0/24
// and a host-name dial resolving into it would make five.
func TestSubnetCapHostnameDial(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fill := func(b *Book, a, c byte, n int) {
		for i := 1; i <= n; i++ {
			b.Connected(hid(i), netip.AddrFrom4([4]byte{a, 0, c, byte(i)}), false, t0)
		}
	}
	b := testBook(0)
	fill(b, 203, 113, 4)
	b.AddConfigured(PeerAddr{ID: hid(5), Addr: "peer5.example:26656"}, SourceBootstrap)
	if d := b.PlanDials(t0, rng); len(d) != 1 {
		t.Fatalf("dials %v", d)
	}
	if err := b.Admit(hid(5), ip("203.0.113.5"), true, t0); !errors.Is(err, ErrSubnetFull) {
		t.Fatalf("host-name dial into a full /24: %v", err)
	}
	// An IP dial is counted while in flight and not counted twice on admission.
	b = testBook(0)
	fill(b, 203, 113, 3)
	b.AddConfigured(PeerAddr{ID: hid(6), Addr: "203.0.113.77:26656"}, SourceBootstrap)
	if d := b.PlanDials(t0, rng); len(d) != 1 {
		t.Fatalf("dials %v", d)
	}
	if err := b.Admit(hid(6), ip("203.0.113.77"), true, t0); err != nil {
		t.Fatalf("IP dial into a /24 with room: %v", err)
	}
	// A dial counted in another /24 (the session came from elsewhere) is not
	// subtracted from this one.
	b = testBook(0)
	fill(b, 198, 100, 4)
	b.AddConfigured(PeerAddr{ID: hid(7), Addr: "192.0.2.7:26656"}, SourceBootstrap)
	if d := b.PlanDials(t0, rng); len(d) != 1 {
		t.Fatalf("dials %v", d)
	}
	if err := b.Admit(hid(7), ip("198.0.100.7"), true, t0); !errors.Is(err, ErrSubnetFull) {
		t.Fatalf("dial counted in another /24 subtracted here: %v", err)
	}
}

// Each eviction bans for Backoff(evictions so far), doubling up to
// BackoffMax: readmission (Connected) does not reset the count, and ids
// without an address-book entry (inbound peers that sent no record) are
// banned too. The count is forgotten after BanMemory without an eviction.
func TestEvictionBanEscalates(t *testing.T) {
	b := testBook(0)
	rng := rand.New(rand.NewPCG(1, 2))
	b.AddConfigured(PeerAddr{ID: hid(1), Addr: "10.0.0.1:1"}, SourceBootstrap)
	for _, id := range []crypto.Hash{hid(1), hid(2)} { // hid(2) has no book entry
		now := t0
		for i := range 12 {
			if err := b.Admit(id, ip("10.0.0.1"), false, now); err != nil {
				t.Fatalf("eviction %d: readmission at the end of the ban refused: %v", i, err)
			}
			b.Connected(id, ip("10.0.0.1"), false, now)
			b.Evicted(id, now, rng)
			ban := b.BannedUntil(id).Sub(now)
			full := min(time.Second<<i, 5*time.Minute)
			if ban < full/2 || ban > full {
				t.Fatalf("%v eviction %d: banned %v, want [%v, %v]", id, i+1, ban, full/2, full)
			}
			if err := b.Admit(id, ip("10.0.0.1"), false, now.Add(ban-time.Millisecond)); !errors.Is(err, ErrBanned) {
				t.Fatalf("eviction %d: readmitted during the ban: %v", i+1, err)
			}
			now = now.Add(ban)
		}
		if id == hid(1) {
			if b.PlanDials(now.Add(-time.Millisecond), rng) != nil {
				t.Fatal("banned peer redialled")
			}
			if d := b.PlanDials(now, rng); len(d) != 1 || d[0].ID != id {
				t.Fatalf("not redialled after the ban: %v", d)
			}
			b.DialAborted(id)
		}
		// A day without eviction: the next ban is the first one again.
		later := now.Add(DefaultPolicy.BanMemory)
		b.Connected(id, ip("10.0.0.1"), false, later)
		b.Evicted(id, later, rng)
		if ban := b.BannedUntil(id).Sub(later); ban > time.Second {
			t.Fatalf("ban after a quiet day: %v, want ≤ 1 s", ban)
		}
	}
	// Validators are never banned.
	b.AddConfigured(PeerAddr{ID: hid(9), Addr: "10.0.0.9:1"}, SourceValidator)
	b.Connected(hid(9), ip("10.0.0.9"), true, t0)
	b.Evicted(hid(9), t0, rng)
	if err := b.Admit(hid(9), ip("10.0.0.9"), true, t0); err != nil {
		t.Fatalf("validator banned: %v", err)
	}
	// The ban table is bounded: the least recently evicted id is forgotten.
	pol := DefaultPolicy
	pol.MaxBans = 8
	small := NewBook(hid(0), pol)
	for i := range 20 {
		small.Evicted(hid(100+i), t0.Add(time.Duration(i)*time.Millisecond), rng)
	}
	if n := len(small.bans); n != 8 {
		t.Fatalf("ban table holds %d, cap 8", n)
	}
	if !small.BannedUntil(hid(100)).IsZero() || small.BannedUntil(hid(119)).IsZero() {
		t.Fatal("ban table did not keep the most recent evictions")
	}
}

// bookRecord is an unsigned record (Learn trusts its caller on signatures).
func bookRecord(i int, seq uint64, exp time.Time, addrs ...string) *types.NodeRecord {
	return &types.NodeRecord{NodeID: hid(i), Addrs: addrs, Seq: seq, Expiry: uint64(exp.Unix())}
}

// The discovered-peer table resists flooding (an eclipse attempt): at most 4
// records per /24 and 25 per source peer, expired records are dropped and
// never dialled, and a full table replaces a random discovered entry
// (failing ones first, then never-connected ones) instead of refusing honest
// records. Configured, connected and in-flight entries are never replaced.
func TestAddressBookFlood(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	hour := t0.Add(time.Hour)
	learnAll := func(b *Book, recs []*types.NodeRecord, from func(int) crypto.Hash, now time.Time, want error) int {
		t.Helper()
		kept := 0
		for i, r := range recs {
			switch err := b.Learn(r, from(i), now, rng); {
			case err == nil:
				kept++
			case !errors.Is(err, want):
				t.Fatalf("record %d: %v", i, err)
			}
		}
		return kept
	}
	one := func(int) crypto.Hash { return hid(1) }

	// 100 sybil records in one /24 from one peer: 4 kept.
	b := testBook(0)
	var recs []*types.NodeRecord
	for i := range 100 {
		recs = append(recs, bookRecord(1000+i, 1, hour, "203.0.113.7:26656"))
	}
	if kept := learnAll(b, recs, one, t0, ErrBookSubnetFull); kept != 4 {
		t.Fatalf("%d records kept from one /24, want 4", kept)
	}
	// Host names group by their last two labels.
	recs = recs[:0]
	for i := range 10 {
		recs = append(recs, bookRecord(1100+i, 1, hour, fmt.Sprintf("n%d.Sybil.example:1", i)))
	}
	if kept := learnAll(b, recs, func(i int) crypto.Hash { return hid(2 + i) }, t0, ErrBookSubnetFull); kept != 4 {
		t.Fatalf("%d records kept under one domain, want 4", kept)
	}
	if err := b.Learn(bookRecord(1200, 1, hour, "node.other.example:1"), hid(2), t0, rng); err != nil {
		t.Fatal(err)
	}
	// One source teaches at most 25 records, whatever their /24s.
	b = testBook(0)
	recs = recs[:0]
	for i := range 40 {
		recs = append(recs, bookRecord(2000+i, 1, hour, fmt.Sprintf("10.%d.0.1:1", i)))
	}
	if kept := learnAll(b, recs, one, t0, ErrBookSourceFull); kept != 25 {
		t.Fatalf("%d records kept from one source, want 25", kept)
	}
	// Expired and stale records are refused.
	if err := b.Learn(bookRecord(2100, 1, t0.Add(-time.Second), "10.200.0.1:1"), hid(2), t0, rng); !errors.Is(err, types.ErrNodeRecordExpired) {
		t.Fatalf("expired record: %v", err)
	}

	// A full table of records that expire (4 sources × 25, 4 per /24).
	fill := func(b *Book, exp time.Time) []crypto.Hash {
		var ids []crypto.Hash
		for i := range 100 {
			r := bookRecord(3000+i, 1, exp, fmt.Sprintf("10.%d.0.%d:1", i/4, i%4+1))
			if err := b.Learn(r, hid(1+i/25), t0, rng); err != nil {
				t.Fatalf("fill %d: %v", i, err)
			}
			ids = append(ids, r.NodeID)
		}
		return ids
	}
	b = testBook(0)
	fill(b, t0.Add(time.Minute))
	later := t0.Add(24 * time.Hour)
	if d := b.PlanDials(later, rng); len(d) != 0 {
		t.Fatalf("expired records dialled: %v", d)
	}
	if n := len(b.Records(100, later, rng)); n != 0 {
		t.Fatalf("%d expired records served", n)
	}
	if err := b.Learn(bookRecord(5000, 1, later.Add(time.Hour), "192.0.2.3:26656"), hid(9), later, rng); err != nil {
		t.Fatalf("honest record refused by a table of expired records: %v", err)
	}
	if n := b.discovered(); n != 1 {
		t.Fatalf("%d discovered entries after the expired ones were dropped, want 1", n)
	}
	b = testBook(0)
	fill(b, t0.Add(time.Minute))
	if n := b.Prune(later); n != 100 || b.discovered() != 0 {
		t.Fatalf("Prune dropped %d, %d left", n, b.discovered())
	}

	// A full table of live, never-dialled records: new records replace
	// random discovered entries; configured, connected and in-flight entries
	// stay.
	b = testBook(0)
	b.AddConfigured(PeerAddr{ID: hid(6), Addr: "198.51.100.6:1"}, SourceValidator)
	b.AddConfigured(PeerAddr{ID: hid(7), Addr: "198.51.100.7:1"}, SourceBootstrap)
	b.AddConfigured(PeerAddr{ID: hid(8), Addr: "198.51.100.8:1"}, SourceStatic)
	ids := fill(b, hour)
	for _, id := range ids[:5] {
		b.Connected(id, ip("10.0.0.1"), true, t0)
	}
	inFlight := b.PlanDials(t0, rng)
	for j := range 60 {
		r := bookRecord(6000+j, 1, hour, fmt.Sprintf("172.16.%d.1:1", j))
		if err := b.Learn(r, hid(20+j/25), t0, rng); err != nil {
			t.Fatalf("new record %d into a full table: %v", j, err)
		}
	}
	if n := b.discovered(); n != 100 {
		t.Fatalf("%d discovered entries, cap 100", n)
	}
	for _, id := range append([]crypto.Hash{hid(6), hid(7), hid(8)}, ids[:5]...) {
		if b.Known(id) == nil {
			t.Fatalf("configured or connected entry %v replaced", id)
		}
	}
	for _, p := range inFlight {
		if b.Known(p.ID) == nil {
			t.Fatalf("in-flight entry %v replaced", p.ID)
		}
	}
	// A peer that keeps failing goes first.
	var bad crypto.Hash
	for _, k := range b.sortedKnown() {
		if k.Source == SourcePEX && b.conns[k.ID] == nil && b.dialing[k.ID] == "" {
			bad = k.ID
			k.Failures = 3
			break
		}
	}
	if err := b.Learn(bookRecord(7000, 1, hour, "172.17.0.1:1"), hid(40), t0, rng); err != nil {
		t.Fatal(err)
	}
	if b.Known(bad) != nil {
		t.Fatal("a failing entry survived a replacement")
	}
}

// The /16 diversity warning: below 2 distinct /16s among outbound peers,
// including 0 or 1 outbound peers, once start-up had a PEX interval to dial;
// never with an outbound target of 0.
func TestLowDiversityRule(t *testing.T) {
	const pex = 30 * time.Second
	for _, tc := range []struct {
		target, distinct int
		up               time.Duration
		want             bool
	}{
		{8, 0, pex, true},
		{8, 1, pex, true},
		{8, 1, time.Hour, true},
		{8, 2, pex, false},
		{8, 0, pex - time.Second, false}, // still starting
		{0, 0, time.Hour, false},
	} {
		if got := lowDiversity(tc.target, tc.distinct, tc.up, pex); got != tc.want {
			t.Errorf("target %d, %d distinct /16s, up %v: %v, want %v", tc.target, tc.distinct, tc.up, got, tc.want)
		}
	}
}

// Host names are grouped by their registrable domain from the Public Suffix
// List (private section included): one operator's names share a group, but
// unrelated users of a shared suffix (EC2 public DNS, .co.uk, duckdns.org)
// do not. IP literals keep their /24 or /48.
func TestAddrGroup(t *testing.T) {
	for _, c := range []struct{ addr, want string }{
		{"a.example.org:1", "dns:example.org"},
		{"B.Example.ORG.:1", "dns:example.org"},
		{"example.org", "dns:example.org"},
		{"ec2-3-1-2-3.compute-1.amazonaws.com:9000", "dns:ec2-3-1-2-3.compute-1.amazonaws.com"},
		{"ec2-54-9-9-9.eu-west-1.compute.amazonaws.com:9000", "dns:ec2-54-9-9-9.eu-west-1.compute.amazonaws.com"},
		{"node.alice.co.uk:9000", "dns:alice.co.uk"},
		{"bob.example.co.uk:9000", "dns:example.co.uk"},
		{"x.duckdns.org:1", "dns:x.duckdns.org"},
		{"y.duckdns.org:1", "dns:y.duckdns.org"},
		{"co.uk:1", "dns:co.uk"},         // itself a public suffix: its own group
		{"localhost:1", "dns:localhost"}, // no dot
		{"peer5.example:26656", "dns:peer5.example"},
		{"203.0.113.7:1", "203.0.113.0/24"},
		{"203.0.113.250:1", "203.0.113.0/24"},
		{"[2001:db8:1:2::7]:1", "2001:db8:1::/48"},
		{"[2001:db8:1:ffff::1%eth0]:1", "2001:db8:1::/48"},
	} {
		if got := AddrGroup(c.addr); got != c.want {
			t.Errorf("AddrGroup(%q) = %q, want %q", c.addr, got, c.want)
		}
	}
	same := func(a, b string) bool { return AddrGroup(a) == AddrGroup(b) }
	if !same("a.example.org:1", "b.example.org:2") {
		t.Error("a.example.org and b.example.org in different groups")
	}
	for _, p := range [][2]string{
		{"node.alice.co.uk:1", "bob.example.co.uk:1"},
		{"ec2-3-1-2-3.compute-1.amazonaws.com:1", "ec2-3-1-2-4.compute-1.amazonaws.com:1"},
		{"x.duckdns.org:1", "y.duckdns.org:1"},
		{"203.0.113.7:1", "203.0.114.7:1"},
		{"[2001:db8:1::1]:1", "[2001:db8:2::1]:1"},
	} {
		if same(p[0], p[1]) {
			t.Errorf("%s and %s in the same group %q", p[0], p[1], AddrGroup(p[0]))
		}
	}
}
