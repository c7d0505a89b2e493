package p2p

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/qbind/qbind/p2p/kemtls"
)

// Counter and Gauge are prometheus.Counter and prometheus.Gauge; the
// aliases keep the field declarations short.
type (
	Counter = prometheus.Counter
	Gauge   = prometheus.Gauge
)

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
	PEXUnsolicited      Counter // qbind_p2p_pex_unsolicited_total
	PEXRecordsSkipped   Counter // qbind_p2p_pex_records_skipped_total
	PEXRequestsRefused  Counter // qbind_p2p_pex_requests_refused_total
	SlowPeerPenalties   Counter // qbind_p2p_slow_peer_penalties_total
}

// NewMetrics creates the metric set and registers it with reg (nil: not
// registered, e.g. in tests; a registration conflict is a programming error
// and panics, as prometheus.MustRegister does).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{}
	var all []prometheus.Collector
	counter := func(name, help string) Counter {
		c := prometheus.NewCounter(prometheus.CounterOpts{Name: "qbind_p2p_" + name, Help: help})
		all = append(all, c)
		return c
	}
	gauge := func(name, help string) Gauge {
		g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "qbind_p2p_" + name, Help: help})
		all = append(all, g)
		return g
	}
	m.PeersInbound = gauge("peers_inbound", "Connected inbound peers.")
	m.PeersOutbound = gauge("peers_outbound", "Connected outbound peers.")
	m.PeersValidators = gauge("peers_validators", "Connected validator peers.")
	m.KnownPeers = gauge("known_peers", "Peers in the address book (≤ 100 discovered).")
	m.OutboundSubnets16 = gauge("outbound_distinct_16", "Distinct IPv4 /16s among outbound peers.")
	m.LowDiversity = gauge("low_diversity", "1 when outbound peers span fewer than 2 distinct /16s.")
	m.HalfOpenHandshakes = gauge("half_open_handshakes", "Inbound handshakes in progress.")
	m.Handshakes = counter("handshakes_total", "Completed KEMTLS handshakes.")
	m.HandshakeFailures = counter("handshake_failures_total", "Failed KEMTLS handshakes.")
	m.HandshakesRefused = counter("handshakes_refused_total", "Inbound connections refused by the handshake rate limits or the half-open cap.")
	m.Dials = counter("dials_total", "Outbound dial attempts.")
	m.DialFailures = counter("dial_failures_total", "Failed outbound dials (connect or handshake).")
	m.AdmissionsRefused = counter("admissions_refused_total", "Authenticated sessions refused by peer caps, the /24 cap or a ban.")
	m.Evictions = counter("evictions_total", "Peers evicted for a low liveness score or missed heartbeats.")
	m.PingMisses = counter("ping_misses_total", "Heartbeats without a pong.")
	m.MessagesIn = counter("messages_in_total", "Messages received.")
	m.MessagesOut = counter("messages_out_total", "Messages sent.")
	m.BytesIn = counter("bytes_in_total", "Payload bytes received.")
	m.BytesOut = counter("bytes_out_total", "Payload bytes sent.")
	m.SendQueueDrops = counter("send_queue_drops_total", "Messages dropped because a peer's send queue was full.")
	m.RateLimitedMessages = counter("rate_limited_messages_total", "Inbound messages dropped by a peer's message or byte bucket.")
	m.BadMessages = counter("bad_messages_total", "Inbound messages that did not decode.")
	m.PEXRecordsAccepted = counter("pex_records_accepted_total", "NodeRecords accepted from peer exchange.")
	m.PEXRecordsRejected = counter("pex_records_rejected_total", "NodeRecords rejected (bad signature or node id, address-book limits).")
	m.PEXRecordsSkipped = counter("pex_records_skipped_total", "NodeRecords dropped before verification (ours, expired, repeated, not newer than held).")
	m.SlowPeerPenalties = counter("slow_peer_penalties_total", "Heartbeat intervals in which a peer's full send queue dropped more than the slow-peer threshold while it was sent less than the byte floor.")
	m.PEXRequestsRefused = counter("pex_requests_refused_total", "GetPeers requests beyond a peer's 2 per PEX interval (not answered).")
	m.PEXUnsolicited = counter("pex_unsolicited_total", "Peers messages dropped because they answered no GetPeers of ours.")
	if reg != nil {
		reg.MustRegister(all...)
	}
	return m
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
