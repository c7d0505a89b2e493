// Package ratelimit holds the token buckets of the P2P layer (PROTOCOL.md
// §11): per-IP and per-subnet handshake buckets, and the per-peer message and
// byte buckets. Everything here is pure: time comes in as an argument, so the
// buckets behave the same under the real clock and a test clock.
package ratelimit

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Bucket is a token bucket: it holds at most Burst tokens and refills at Rate
// tokens per second. The zero value is unusable; use NewBucket.
type Bucket struct {
	Rate   float64
	Burst  float64
	tokens float64
	last   time.Time
}

// NewBucket returns a full bucket.
func NewBucket(rate, burst float64) Bucket {
	return Bucket{Rate: rate, Burst: burst, tokens: burst}
}

func (b *Bucket) refill(now time.Time) {
	if b.last.IsZero() {
		b.last = now
		return
	}
	if dt := now.Sub(b.last).Seconds(); dt > 0 {
		b.tokens += dt * b.Rate
		if b.tokens > b.Burst {
			b.tokens = b.Burst
		}
		b.last = now
	}
}

// Allow takes cost tokens if the bucket holds them.
func (b *Bucket) Allow(now time.Time, cost float64) bool {
	b.refill(now)
	if b.tokens < cost {
		return false
	}
	b.tokens -= cost
	return true
}

// Tokens is the current level (after refilling to now).
func (b *Bucket) Tokens(now time.Time) float64 {
	b.refill(now)
	return b.tokens
}

// Full reports whether the bucket is full at now (an idle key can be dropped).
func (b *Bucket) Full(now time.Time) bool { return b.Tokens(now) >= b.Burst }

// Keyed is a bounded map of buckets. When it holds Max keys it first drops
// the buckets that are full again (idle keys); if none is, a new key is
// refused (the caller counts that as limited: a flood of distinct keys must
// not grow memory).
type Keyed[K comparable] struct {
	Rate, Burst float64
	Max         int
	m           map[K]*Bucket
}

// NewKeyed returns an empty keyed limiter.
func NewKeyed[K comparable](rate, burst float64, max int) *Keyed[K] {
	return &Keyed[K]{Rate: rate, Burst: burst, Max: max, m: make(map[K]*Bucket)}
}

func (k *Keyed[K]) bucket(key K, now time.Time) *Bucket {
	if b, ok := k.m[key]; ok {
		return b
	}
	if len(k.m) >= k.Max {
		for kk, b := range k.m {
			if b.Full(now) {
				delete(k.m, kk)
			}
		}
		if len(k.m) >= k.Max {
			return nil
		}
	}
	b := NewBucket(k.Rate, k.Burst)
	b.last = now
	k.m[key] = &b
	return &b
}

// refund returns cost tokens to key's bucket (capped at Burst).
func (k *Keyed[K]) refund(key K, cost float64) {
	if b := k.m[key]; b != nil {
		b.tokens = min(b.tokens+cost, b.Burst)
	}
}

// Peek reports whether key could take cost tokens now, without taking them.
func (k *Keyed[K]) Peek(key K, now time.Time, cost float64) bool {
	if b, ok := k.m[key]; ok {
		return b.Tokens(now) >= cost
	}
	return len(k.m) < k.Max || k.Max <= 0 || cost <= k.Burst
}

// Allow takes cost tokens from key's bucket.
func (k *Keyed[K]) Allow(key K, now time.Time, cost float64) bool {
	b := k.bucket(key, now)
	return b != nil && b.Allow(now, cost)
}

// Len is the number of tracked keys.
func (k *Keyed[K]) Len() int { return len(k.m) }

// Handshake limiter errors.
var (
	ErrIPRateLimited     = errors.New("handshake rate limit for this IP address")
	ErrSubnetRateLimited = errors.New("handshake rate limit for this subnet (/24 IPv4, /48 IPv6)")
)

// HandshakeLimits configures the handshake buckets.
type HandshakeLimits struct {
	PerIPRate, PerIPBurst         float64 // handshakes per second and burst for one address
	PerSubnetRate, PerSubnetBurst float64 // the same for one /24 (IPv4) or /48 (IPv6)
	MaxTracked                    int     // bound on tracked addresses and subnets each
}

// DefaultHandshakeLimits: 1/s burst 8 per IP, 4/s burst 32 per subnet,
// 16384 tracked keys (a few MB at most).
var DefaultHandshakeLimits = HandshakeLimits{
	PerIPRate: 1, PerIPBurst: 8,
	PerSubnetRate: 4, PerSubnetBurst: 32,
	MaxTracked: 16384,
}

// HandshakeLimiter applies the per-IP and per-subnet buckets to inbound
// handshakes. It is safe for concurrent use.
type HandshakeLimiter struct {
	mu     sync.Mutex
	ip     *Keyed[netip.Addr]
	subnet *Keyed[netip.Prefix]
}

// NewHandshakeLimiter returns a limiter with l.
func NewHandshakeLimiter(l HandshakeLimits) *HandshakeLimiter {
	return &HandshakeLimiter{
		ip:     NewKeyed[netip.Addr](l.PerIPRate, l.PerIPBurst, l.MaxTracked),
		subnet: NewKeyed[netip.Prefix](l.PerSubnetRate, l.PerSubnetBurst, l.MaxTracked),
	}
}

// Subnet is the prefix an address is grouped in: /24 for IPv4 (and
// IPv4-mapped IPv6), /48 for IPv6.
func Subnet(a netip.Addr) netip.Prefix {
	a = a.Unmap()
	bits := 48
	if a.Is4() {
		bits = 24
	}
	p, _ := a.Prefix(bits)
	return p
}

// Allow admits one handshake from a at now, or says which bucket is empty.
// Both buckets must hold a token; a refused attempt consumes none.
func (h *HandshakeLimiter) Allow(a netip.Addr, now time.Time) error {
	a = a.Unmap()
	h.mu.Lock()
	defer h.mu.Unlock()
	sub := Subnet(a)
	if !h.subnet.Peek(sub, now, 1) {
		return ErrSubnetRateLimited
	}
	if !h.ip.Allow(a, now, 1) {
		return ErrIPRateLimited
	}
	if !h.subnet.Allow(sub, now, 1) {
		h.ip.refund(a, 1) // the subnet table was full of active keys
		return ErrSubnetRateLimited
	}
	return nil
}
