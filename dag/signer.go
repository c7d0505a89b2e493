package dag

import (
	"errors"
	"fmt"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// ErrConflict is the double-sign guard's refusal (PROTOCOL.md §12): counted,
// never fatal.
var ErrConflict = errors.New("signer: double-sign guard conflict")

// AckWindow is the number of seqs per creator the ack record remembers.
const AckWindow = 64

// Signer signs batches and acks behind the §12 double-sign guard: at most
// one BATCH per (epoch, seq) and one BATCH_ACK per (creator, seq);
// re-signing identical content is allowed. The real signer package persists
// the record (with the safety record, next to the key) before returning a
// signature. The core calls it synchronously.
type Signer interface {
	SignBatch(h types.BatchHeader) ([]byte, error)
	// SignAck signs an ack for batch id of (creator, seq). It refuses seqs
	// at or below acked_max(creator) − 64 and a second id for one seq.
	SignAck(creator uint16, seq uint64, id types.BatchID) ([]byte, error)
	// HighestBatchSeq is the highest own seq signed in epoch (ok = false
	// without a record: the node then resumes from certificates and
	// committed blocks).
	HighestBatchSeq(epoch uint64) (seq uint64, ok bool)
	// AckedMax is acked_max(creator) in the record (0 if none), and Acked
	// the batch acked for (creator, seq) while seq > acked_max − 64. New
	// seeds the core's 64-seq window and first-seen index from them, so a
	// restarted node refuses old seqs and second batches of an acked seq
	// before storing anything.
	AckedMax(creator uint16) uint64
	Acked(creator uint16, seq uint64) (types.BatchID, bool)
}

// Guard is the in-memory double-sign record for batches and acks.
type Guard struct {
	batches map[uint64]map[uint64]types.BatchID // epoch → seq → id (seqs above max−window kept)
	maxSeq  map[uint64]uint64
	acks    map[uint16]*ackRecord
}

type ackRecord struct {
	max  uint64
	bits uint64 // bit i: seq max−i acked
	ids  map[uint64]types.BatchID
}

// NewGuard returns an empty guard.
func NewGuard() *Guard {
	return &Guard{batches: map[uint64]map[uint64]types.BatchID{}, maxSeq: map[uint64]uint64{}, acks: map[uint16]*ackRecord{}}
}

// CheckBatch records (epoch, seq) → id or returns ErrConflict.
func (g *Guard) CheckBatch(epoch, seq uint64, id types.BatchID) error {
	m := g.batches[epoch]
	if m == nil {
		m = map[uint64]types.BatchID{}
		g.batches[epoch] = m
	}
	if old, ok := m[seq]; ok && old != id {
		return fmt.Errorf("%w: batch (epoch %d, seq %d)", ErrConflict, epoch, seq)
	}
	if mx := g.maxSeq[epoch]; seq+AckWindow*4 <= mx {
		// Far below the highest signed seq: the record no longer holds
		// it, refuse rather than risk an equivocation.
		return fmt.Errorf("%w: batch seq %d far below highest %d", ErrConflict, seq, mx)
	}
	m[seq] = id
	if seq > g.maxSeq[epoch] {
		g.maxSeq[epoch] = seq
		for s := range m {
			if s+AckWindow*4 <= seq {
				delete(m, s)
			}
		}
	}
	return nil
}

// CheckAck records an ack of (creator, seq) → id or returns ErrConflict.
func (g *Guard) CheckAck(creator uint16, seq uint64, id types.BatchID) error {
	r := g.acks[creator]
	if r == nil {
		r = &ackRecord{ids: map[uint64]types.BatchID{}}
		g.acks[creator] = r
	}
	if r.max >= AckWindow && seq <= r.max-AckWindow {
		return fmt.Errorf("%w: ack of creator %d seq %d ≤ acked_max %d − 64", ErrConflict, creator, seq, r.max)
	}
	if old, ok := r.ids[seq]; ok {
		if old != id {
			return fmt.Errorf("%w: second ack for creator %d seq %d", ErrConflict, creator, seq)
		}
		return nil
	}
	if seq > r.max {
		shift := seq - r.max
		if shift >= 64 {
			r.bits = 0
		} else {
			r.bits <<= shift
		}
		r.max = seq
		for s := range r.ids {
			if s+AckWindow <= seq {
				delete(r.ids, s)
			}
		}
	}
	r.bits |= 1 << (r.max - seq)
	r.ids[seq] = id
	return nil
}

// AckedMax is acked_max(creator) (0 if none).
func (g *Guard) AckedMax(creator uint16) uint64 {
	if r := g.acks[creator]; r != nil {
		return r.max
	}
	return 0
}

// Acked reports the id acked for (creator, seq), if within the window.
func (g *Guard) Acked(creator uint16, seq uint64) (types.BatchID, bool) {
	if r := g.acks[creator]; r != nil {
		id, ok := r.ids[seq]
		return id, ok
	}
	return types.BatchID{}, false
}

// HighestBatchSeq implements Signer's resumption query.
func (g *Guard) HighestBatchSeq(epoch uint64) (uint64, bool) {
	s, ok := g.maxSeq[epoch]
	return s, ok
}

// MemSigner signs with an in-memory key behind a Guard (tests, the
// simulator, loopback profiles).
type MemSigner struct {
	Network crypto.Network
	Key     *crypto.PrivateKey
	Guard   *Guard
	// Sign overrides the signature function (the simulator's fast scheme);
	// nil uses Key.Sign.
	Sign func(msg []byte) ([]byte, error)
}

// NewMemSigner returns a signer with an empty guard.
func NewMemSigner(n crypto.Network, key *crypto.PrivateKey) *MemSigner {
	return &MemSigner{Network: n, Key: key, Guard: NewGuard()}
}

func (s *MemSigner) sign(msg []byte) ([]byte, error) {
	if s.Sign != nil {
		return s.Sign(msg)
	}
	return s.Key.Sign(msg)
}

// SignBatch implements Signer.
func (s *MemSigner) SignBatch(h types.BatchHeader) ([]byte, error) {
	if err := s.Guard.CheckBatch(h.Epoch, h.Seq, h.ID(s.Network)); err != nil {
		return nil, err
	}
	return s.sign(h.SigningBytes(s.Network))
}

// SignAck implements Signer.
func (s *MemSigner) SignAck(creator uint16, seq uint64, id types.BatchID) ([]byte, error) {
	if err := s.Guard.CheckAck(creator, seq, id); err != nil {
		return nil, err
	}
	return s.sign(types.AckSigningBytes(s.Network, id))
}

// HighestBatchSeq implements Signer.
func (s *MemSigner) HighestBatchSeq(epoch uint64) (uint64, bool) {
	return s.Guard.HighestBatchSeq(epoch)
}

// AckedMax implements Signer.
func (s *MemSigner) AckedMax(creator uint16) uint64 { return s.Guard.AckedMax(creator) }

// Acked implements Signer.
func (s *MemSigner) Acked(creator uint16, seq uint64) (types.BatchID, bool) {
	return s.Guard.Acked(creator, seq)
}
