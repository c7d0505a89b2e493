package p2p

import (
	"math"
	"sync/atomic"

	"github.com/qbind/qbind/p2p/kemtls"
	"time"
)

// Counter and Gauge are the subsets of prometheus.Counter and
// prometheus.Gauge the P2P layer uses, so a registry-backed Metrics can be
// swapped in without touching the call sites (prometheus/client_golang is
// not in go.mod yet; docs/p2p.md).
type Counter interface {
	Inc()
	Add(float64)
}

// Gauge is a value that goes up and down.
type Gauge interface {
	Set(float64)
	Inc()
	Dec()
}

// Value is a lock-free float64 that implements Counter and Gauge.
type Value struct {
	Name, Help string
	bits       atomic.Uint64
}

func (v *Value) Add(d float64) {
	for {
		old := v.bits.Load()
		if v.bits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}
func (v *Value) Inc()           { v.Add(1) }
func (v *Value) Dec()           { v.Add(-1) }
func (v *Value) Set(x float64)  { v.bits.Store(math.Float64bits(x)) }
func (v *Value) Value() float64 { return math.Float64frombits(v.bits.Load()) }

// Metrics is the declared metric set of package p2p; names are
// qbind_p2p_<name>. Create it once per process with NewMetrics.
type Metrics struct {
	PeersInbound        Gauge   // qbind_p2p_peers_inbound
	PeersOutbound       Gauge   // qbind_p2p_peers_outbound
	PeersValidators     Gauge   // qbind_p2p_peers_validators
	KnownPeers          Gauge   // qbind_p2p_known_peers
	OutboundSubnets16   Gauge   // qbind_p2p_outbound_distinct_16
	LowDiversity        Gauge   // qbind_p2p_low_diversity (1 below 2 distinct /16s)
	HalfOpenHandshakes  Gauge   // qbind_p2p_half_open_handshakes
	Handshakes          Counter // qbind_p2p_handshakes_total
	HandshakeFailures   Counter // qbind_p2p_handshake_failures_total
	HandshakesRefused   Counter // qbind_p2p_handshakes_refused_total (rate limit, half-open cap)
	Dials               Counter // qbind_p2p_dials_total
	DialFailures        Counter // qbind_p2p_dial_failures_total
	AdmissionsRefused   Counter // qbind_p2p_admissions_refused_total (caps, /24, bans)
	Evictions           Counter // qbind_p2p_evictions_total
	PingMisses          Counter // qbind_p2p_ping_misses_total
	MessagesIn          Counter // qbind_p2p_messages_in_total
	MessagesOut         Counter // qbind_p2p_messages_out_total
	BytesIn             Counter // qbind_p2p_bytes_in_total
	BytesOut            Counter // qbind_p2p_bytes_out_total
	SendQueueDrops      Counter // qbind_p2p_send_queue_drops_total
	RateLimitedMessages Counter // qbind_p2p_rate_limited_messages_total
	BadMessages         Counter // qbind_p2p_bad_messages_total
	PEXRecordsAccepted  Counter // qbind_p2p_pex_records_accepted_total
	PEXRecordsRejected  Counter // qbind_p2p_pex_records_rejected_total

	all []*Value
}

// NewMetrics returns a Metrics backed by in-process values (All lists them
// with their names for an exporter).
func NewMetrics() *Metrics {
	m := &Metrics{}
	v := func(name, help string) *Value {
		x := &Value{Name: "qbind_p2p_" + name, Help: help}
		m.all = append(m.all, x)
		return x
	}
	m.PeersInbound = v("peers_inbound", "Connected inbound peers.")
	m.PeersOutbound = v("peers_outbound", "Connected outbound peers.")
	m.PeersValidators = v("peers_validators", "Connected validator peers.")
	m.KnownPeers = v("known_peers", "Peers in the address book (≤ 100 discovered).")
	m.OutboundSubnets16 = v("outbound_distinct_16", "Distinct IPv4 /16s among outbound peers.")
	m.LowDiversity = v("low_diversity", "1 when outbound peers span fewer than 2 distinct /16s.")
	m.HalfOpenHandshakes = v("half_open_handshakes", "Inbound handshakes in progress.")
	m.Handshakes = v("handshakes_total", "Completed KEMTLS handshakes.")
	m.HandshakeFailures = v("handshake_failures_total", "Failed KEMTLS handshakes.")
	m.HandshakesRefused = v("handshakes_refused_total", "Inbound connections refused by the handshake rate limits or the half-open cap.")
	m.Dials = v("dials_total", "Outbound dial attempts.")
	m.DialFailures = v("dial_failures_total", "Failed outbound dials (connect or handshake).")
	m.AdmissionsRefused = v("admissions_refused_total", "Authenticated sessions refused by peer caps, the /24 cap or a ban.")
	m.Evictions = v("evictions_total", "Peers evicted for a low liveness score or missed heartbeats.")
	m.PingMisses = v("ping_misses_total", "Heartbeats without a pong.")
	m.MessagesIn = v("messages_in_total", "Messages received.")
	m.MessagesOut = v("messages_out_total", "Messages sent.")
	m.BytesIn = v("bytes_in_total", "Payload bytes received.")
	m.BytesOut = v("bytes_out_total", "Payload bytes sent.")
	m.SendQueueDrops = v("send_queue_drops_total", "Messages dropped because a peer's send queue was full.")
	m.RateLimitedMessages = v("rate_limited_messages_total", "Inbound messages dropped by a peer's message or byte bucket.")
	m.BadMessages = v("bad_messages_total", "Inbound messages that did not decode.")
	m.PEXRecordsAccepted = v("pex_records_accepted_total", "NodeRecords accepted from peer exchange.")
	m.PEXRecordsRejected = v("pex_records_rejected_total", "NodeRecords rejected (signature, expiry, cap).")
	return m
}

// All lists the in-process values (nil for a Metrics not made by NewMetrics).
func (m *Metrics) All() []*Value { return m.all }

// Get returns the value named name, or nil.
func (m *Metrics) Get(name string) *Value {
	for _, v := range m.all {
		if v.Name == name {
			return v
		}
	}
	return nil
}

// kemtlsObserver feeds listener events into m.
type kemtlsObserver struct{ m *Metrics }

var _ kemtls.Observer = kemtlsObserver{}

func (o kemtlsObserver) HandshakeDone(_ bool, _ time.Duration, err error) {
	if err != nil {
		o.m.HandshakeFailures.Inc()
	} else {
		o.m.Handshakes.Inc()
	}
}
func (o kemtlsObserver) Refused(error)  { o.m.HandshakesRefused.Inc() }
func (o kemtlsObserver) HalfOpen(n int) { o.m.HalfOpenHandshakes.Set(float64(n)) }
