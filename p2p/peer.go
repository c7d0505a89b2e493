package p2p

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/p2p/kemtls"
	"github.com/qbind/qbind/p2p/ratelimit"
	"github.com/qbind/qbind/types"
)

// peer is one live session: a reader goroutine (buckets, decoding, control
// messages, hand-off to the Handler) and a writer goroutine draining the
// priority queue.
type peer struct {
	h         *Host
	id        crypto.Hash
	s         *kemtls.Session
	outbound  bool
	validator bool
	q         *sendQueue
	msgs      ratelimit.Bucket // reader goroutine only
	bytes     ratelimit.Bucket
	getPeers  ratelimit.Bucket // GetPeers answered: 2 per PEX interval
	// pexAskedAt is the (Clock) time in unix ns of our outstanding GetPeers
	// to this peer, 0 if none: set by the manager, consumed by the reader
	// when the answer arrives.
	pexAskedAt atomic.Int64
	slowDrops  atomic.Int64 // consensus and batch messages dropped since the last heartbeat
	written    atomic.Int64 // bytes the writer sent since the last heartbeat (reset by slowPeers)
	sawPeers   bool         // reader only: a Peers message arrived (only the first may be the introduction)
	done       chan struct{}
	once       sync.Once
	wg         sync.WaitGroup
}

func (h *Host) newPeer(s *kemtls.Session, validator bool) *peer {
	return &peer{
		h: h, id: s.PeerID(), s: s, outbound: s.Outbound(), validator: validator,
		q:     newSendQueue(h.cfg.Queue),
		msgs:  ratelimit.NewBucket(h.cfg.MsgRate, h.cfg.MsgBurst),
		bytes: ratelimit.NewBucket(h.cfg.ByteRate, h.cfg.ByteBurst),
		// An honest node asks a peer at most once per PEX interval.
		getPeers: ratelimit.NewBucket(2/h.cfg.PEXInterval.Seconds(), 2),
		done:     make(chan struct{}),
	}
}

func (p *peer) start() {
	p.wg.Add(2)
	go p.readLoop()
	go p.writeLoop()
}

// close sends Goodbye (best effort, bounded by a 1 s write) and closes the
// session; both goroutines then end.
func (p *peer) close(r GoodbyeReason) {
	p.once.Do(func() {
		close(p.done)
		p.q.close()
		go func() {
			_ = p.s.Send(Encode(MsgGoodbye, []byte{byte(r)}), time.Second)
			p.s.Close()
		}()
	})
}

func (p *peer) writeLoop() {
	defer p.wg.Done()
	m := p.h.m
	for {
		payload, ok := p.q.Pop(p.done)
		if !ok {
			return
		}
		if err := p.s.Send(payload, p.h.cfg.WriteTimeout); err != nil {
			// Whatever failed (timeout, connection, a frame over the cap),
			// end the session: the reader sees it closed and reports it, so
			// the peer is redialled instead of left connected but mute.
			p.h.log.Debug("p2p: send failed, closing the session", "peer", short(p.id), "err", err)
			p.s.Close()
			return
		}
		p.written.Add(int64(len(payload)))
		m.MessagesOut.Inc()
		m.BytesOut.Add(float64(len(payload)))
	}
}

func (p *peer) readLoop() {
	defer p.wg.Done()
	h, m := p.h, p.h.m
	for {
		payload, err := p.s.Recv()
		if err != nil {
			p.once.Do(func() { close(p.done); p.q.close() })
			h.post(evClosed{p: p, err: err})
			return
		}
		m.MessagesIn.Inc()
		m.BytesIn.Add(float64(len(payload)))
		now := h.cfg.Clock.Now()
		if !p.msgs.Allow(now, 1) || !p.bytes.Allow(now, float64(len(payload))) {
			m.RateLimitedMessages.Inc()
			if h.cfg.RateLimitPenalty > 0 {
				h.post(evPenalize{p: p, amount: h.cfg.RateLimitPenalty, why: "rate limit"})
			}
			continue
		}
		t, body, err := DecodeEnvelope(payload)
		if err != nil {
			m.BadMessages.Inc()
			h.post(evPenalize{p: p, amount: penaltyBadMessage, why: err.Error()})
			continue
		}
		if err := p.control(t, body); err != nil {
			m.BadMessages.Inc()
			h.post(evPenalize{p: p, amount: penaltyBadMessage, why: err.Error()})
		}
	}
}

func (p *peer) control(t MsgType, body []byte) error {
	h := p.h
	switch t {
	case MsgPing:
		if _, err := DecodeNonce(body); err != nil {
			return err
		}
		return ignoreFull(p.q.Push(ClassControl, Encode(MsgPong, body)))
	case MsgPong:
		n, err := DecodeNonce(body)
		if err != nil {
			return err
		}
		h.post(evPong{p: p, nonce: n})
	case MsgGetPeers:
		if !p.getPeers.Allow(h.cfg.Clock.Now(), 1) {
			h.m.PEXRequestsRefused.Inc()
			h.post(evPenalize{p: p, amount: penaltyGetPeersRate, why: "GetPeers rate"})
			return nil
		}
		h.post(evGetPeers{p: p})
	case MsgPeers:
		recs, err := DecodePeers(body)
		if err != nil {
			return err
		}
		// Accept only the peer's introduction (its own record, as the first
		// Peers message of the session) or the answer to our GetPeers:
		// unsolicited records would let any peer, inbound ones included,
		// stuff our address book.
		intro := !p.sawPeers && len(recs) == 1 && recs[0].NodeID == p.id
		p.sawPeers = true
		if !intro && p.pexAskedAt.Swap(0) == 0 {
			h.m.PEXUnsolicited.Inc()
			h.post(evPenalize{p: p, amount: penaltyUnsolicited, why: "unsolicited peers message"})
			return nil
		}
		// Verify here (CPU in the peer's goroutine, not the manager's), and
		// only the records the book might take.
		now := h.cfg.Clock.Now()
		recs, skipped := screenRecords(recs, h.id, *h.held.Load(), now)
		h.m.PEXRecordsSkipped.Add(float64(skipped))
		ok, bad := recs[:0], 0
		for _, r := range recs {
			if r.Verify(h.cfg.Network, now, h.cfg.KeyCache) != nil {
				bad++
				continue
			}
			ok = append(ok, r)
		}
		if bad > 0 {
			// An honest node relays only records it verified.
			h.m.PEXRecordsRejected.Add(float64(bad))
			h.post(evPenalize{p: p, amount: min(100, bad*penaltyBadRecord), why: "forged node records"})
		}
		if len(ok) > 0 {
			h.post(evPeers{p: p, recs: ok})
		}
	case MsgGoodbye:
		r, err := DecodeGoodbye(body)
		if err != nil {
			return err
		}
		h.log.Debug("p2p: goodbye", "peer", short(p.id), "reason", r.String())
	default:
		if h.cfg.Handler != nil {
			h.cfg.Handler(p.id, t, body)
		}
	}
	return nil
}

// Score penalties for misbehaviour (the liveness score starts at 80; a peer
// below 30 is evicted).
const (
	penaltyBadMessage   = 20 // undecodable or oversized message
	penaltyUnsolicited  = 20 // Peers that answers no GetPeers of ours
	penaltyBadRecord    = 10 // per record in a Peers message that fails verification
	penaltyGetPeersRate = 10 // GetPeers beyond 2 per PEX interval (not answered)
	penaltySlowReader   = 30 // per heartbeat interval with more than SlowPeerDrops drops and under SlowPeerMinBytes sent
)

// screenRecords drops, before any signature check, the records Book.Learn
// would refuse anyway: ours, expired ones, ones without an address, repeats
// within the message and ones not newer than the record held (held: id →
// seq). It returns the rest, reusing recs, and how many it dropped.
func screenRecords(recs []*types.NodeRecord, self crypto.Hash, held map[crypto.Hash]uint64, now time.Time) ([]*types.NodeRecord, int) {
	out := recs[:0]
	seen := make(map[crypto.Hash]bool, len(recs))
	for _, r := range recs {
		if seq, ok := held[r.NodeID]; (ok && r.Seq <= seq) || r.NodeID == self || seen[r.NodeID] || len(r.Addrs) == 0 || recordExpired(r, now) {
			continue
		}
		seen[r.NodeID] = true
		out = append(out, r)
	}
	return out, len(recs) - len(out)
}

func ignoreFull(err error) error {
	if errors.Is(err, ErrQueueFull) || errors.Is(err, ErrPeerClosed) {
		return nil
	}
	return err
}

// randomSeed draws a ChaCha8 seed from crypto/rand.
func randomSeed() (s [32]byte) {
	if _, err := rand.Read(s[:]); err != nil {
		binary.LittleEndian.PutUint64(s[:], 0x5eed)
	}
	return s
}
