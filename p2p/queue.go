package p2p

import (
	"errors"
	"sync"
)

// ErrQueueFull is returned when a peer's send queue for a class is full: the
// message is dropped and counted. A peer that stops reading is cut off by
// the per-frame write timeout (Config.WriteTimeout); one whose queue keeps
// overflowing while it drains slowly is scored down (Config.SlowPeerDrops,
// Config.SlowPeerMinBytes).
var ErrQueueFull = errors.New("p2p: peer send queue full")

// QueueLimits bounds each class of a peer's send queue, in messages and in
// bytes.
type QueueLimits struct {
	Msgs  [NumClasses]int
	Bytes [NumClasses]int
}

// DefaultQueueLimits: control 64 / 2 MiB, consensus 1024 / 32 MiB,
// batches 512 / 64 MiB, sync 128 / 64 MiB.
var DefaultQueueLimits = QueueLimits{
	Msgs:  [NumClasses]int{64, 1024, 512, 128},
	Bytes: [NumClasses]int{2 << 20, 32 << 20, 64 << 20, 64 << 20},
}

// sendQueue is a bounded strict-priority queue of frame payloads: Pop always
// serves the highest non-empty class (control > consensus > batches > sync).
type sendQueue struct {
	mu     sync.Mutex
	lim    QueueLimits
	q      [NumClasses][][]byte
	bytes  [NumClasses]int
	notify chan struct{}
	closed bool
}

func newSendQueue(lim QueueLimits) *sendQueue {
	return &sendQueue{lim: lim, notify: make(chan struct{}, 1)}
}

// Push enqueues payload in class c.
func (s *sendQueue) Push(c Class, payload []byte) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrPeerClosed
	}
	if len(s.q[c]) >= s.lim.Msgs[c] || s.bytes[c]+len(payload) > s.lim.Bytes[c] {
		s.mu.Unlock()
		return ErrQueueFull
	}
	s.q[c] = append(s.q[c], payload)
	s.bytes[c] += len(payload)
	s.mu.Unlock()
	select {
	case s.notify <- struct{}{}:
	default:
	}
	return nil
}

// Fits reports whether a payload of n bytes would be accepted in class c
// now.
func (s *sendQueue) Fits(c Class, n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.closed && len(s.q[c]) < s.lim.Msgs[c] && s.bytes[c]+n <= s.lim.Bytes[c]
}

// tryPop returns the head of the highest non-empty class.
func (s *sendQueue) tryPop() ([]byte, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.q {
		if len(s.q[c]) > 0 {
			p := s.q[c][0]
			s.q[c][0] = nil
			s.q[c] = s.q[c][1:]
			if len(s.q[c]) == 0 {
				s.q[c] = nil // release the backing array
			}
			s.bytes[c] -= len(p)
			return p, true
		}
	}
	return nil, false
}

// Pop blocks until a payload is available or done is closed.
func (s *sendQueue) Pop(done <-chan struct{}) ([]byte, bool) {
	for {
		if p, ok := s.tryPop(); ok {
			return p, true
		}
		select {
		case <-s.notify:
		case <-done:
			return nil, false
		}
	}
}

// Len is the number of queued messages per class.
func (s *sendQueue) Len() (n [NumClasses]int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.q {
		n[c] = len(s.q[c])
	}
	return n
}

func (s *sendQueue) close() {
	s.mu.Lock()
	s.closed = true
	s.q = [NumClasses][][]byte{}
	s.bytes = [NumClasses]int{}
	s.mu.Unlock()
}
