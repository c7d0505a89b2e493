package ratelimit

import (
	"errors"
	"net/netip"
	"testing"
	"time"
)

func TestBucket(t *testing.T) {
	t0 := time.Unix(1000, 0)
	b := NewBucket(2, 4)
	for i := range 4 {
		if !b.Allow(t0, 1) {
			t.Fatalf("token %d refused", i)
		}
	}
	if b.Allow(t0, 1) {
		t.Fatal("empty bucket allowed")
	}
	if !b.Allow(t0.Add(500*time.Millisecond), 1) {
		t.Fatal("refill of 1 token after 0.5 s at 2/s refused")
	}
	if b.Allow(t0.Add(500*time.Millisecond), 1) {
		t.Fatal("over-refilled")
	}
	if got := b.Tokens(t0.Add(time.Hour)); got != 4 {
		t.Fatalf("refill not capped: %v", got)
	}
	if b.Allow(t0.Add(time.Hour), 5) {
		t.Fatal("cost above burst allowed")
	}
}

func TestKeyedBounded(t *testing.T) {
	t0 := time.Unix(1000, 0)
	k := NewKeyed[int](1, 1, 3)
	for i := range 3 {
		if !k.Allow(i, t0, 1) {
			t.Fatal(i)
		}
	}
	if k.Allow(99, t0, 1) {
		t.Fatal("a fourth key was tracked while all buckets are in use")
	}
	// After a second the buckets are full again and idle keys are dropped.
	if !k.Allow(99, t0.Add(time.Second), 1) || k.Len() > 3 {
		t.Fatalf("idle keys not reclaimed (len %d)", k.Len())
	}
}

func TestHandshakeLimiter(t *testing.T) {
	t0 := time.Unix(1000, 0)
	h := NewHandshakeLimiter(HandshakeLimits{PerIPRate: 1, PerIPBurst: 2, PerSubnetRate: 1, PerSubnetBurst: 3, MaxTracked: 100})
	a := netip.MustParseAddr("10.1.2.3")
	b := netip.MustParseAddr("10.1.2.4")
	c := netip.MustParseAddr("10.1.3.4")
	if h.Allow(a, t0) != nil || h.Allow(a, t0) != nil {
		t.Fatal("burst of 2 refused")
	}
	if err := h.Allow(a, t0); !errors.Is(err, ErrIPRateLimited) {
		t.Fatalf("third from one IP: %v", err)
	}
	if h.Allow(b, t0) != nil {
		t.Fatal("same /24, other IP, subnet has 1 token left")
	}
	if err := h.Allow(b, t0); !errors.Is(err, ErrSubnetRateLimited) {
		t.Fatalf("fourth from one /24: %v", err)
	}
	if h.Allow(c, t0) != nil {
		t.Fatal("other /24 refused")
	}
	if h.Allow(netip.MustParseAddr("::ffff:10.1.2.9"), t0.Add(time.Second)) != nil {
		t.Fatal("mapped address after refill refused")
	}
	if Subnet(netip.MustParseAddr("2001:db8:1:2::1")).String() != "2001:db8:1::/48" {
		t.Fatal("IPv6 subnet")
	}
}
