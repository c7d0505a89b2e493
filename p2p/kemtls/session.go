package kemtls

import (
	"crypto/cipher"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// Frame layout (PROTOCOL.md §11): len u32 BE ‖ AEAD(payload), where len is
// the ciphertext length (payload + 16-byte tag), the AAD is the 4-byte
// length header and the nonce is 4 zero bytes ‖ u64 BE counter, one counter
// per direction starting at 0. After DefaultRekeyInterval frames under one
// key, both sides switch to k' = HKDF-Expand(k, "ku") and reset the counter.
const (
	FrameHeaderSize = 4
	// MaxFrameSize caps the length field (ciphertext with its tag): 8 MiB.
	MaxFrameSize = 8 << 20
	// MaxPayloadSize is the largest payload one frame carries.
	MaxPayloadSize = MaxFrameSize - crypto.AEADTagSize
	// DefaultRekeyInterval is the number of frames per traffic key (2^20).
	DefaultRekeyInterval = 1 << 20
	// readChunk bounds what the reader allocates ahead of the bytes that
	// actually arrived, so a length header alone cannot make it allocate 8 MiB.
	readChunk = 64 << 10
)

// Frame and session errors. Any of them closes the session.
var (
	ErrFrameTooLarge = errors.New("kemtls: frame length exceeds 8 MiB")
	ErrFrameShort    = errors.New("kemtls: frame shorter than its AEAD tag")
	ErrFrameAuth     = errors.New("kemtls: frame does not authenticate (corrupted, replayed, reordered or forged)")
	ErrFrameTrunc    = errors.New("kemtls: connection ended inside a frame")
	ErrSessionClosed = errors.New("kemtls: session closed")
)

// trafficKey is one direction's key, counter and rekey schedule.
type trafficKey struct {
	key      []byte
	aead     cipher.AEAD
	ctr      uint64
	interval uint64
	nonce    [crypto.AEADNonceSize]byte
}

func newTrafficKey(key []byte, interval uint64) *trafficKey {
	if interval == 0 {
		interval = DefaultRekeyInterval
	}
	t := &trafficKey{interval: interval}
	t.setKey(key)
	return t
}

func (t *trafficKey) setKey(key []byte) {
	a, err := chacha20poly1305.New(key)
	if err != nil {
		panic("kemtls: " + err.Error()) // keys are always 32 bytes
	}
	t.key, t.aead, t.ctr = key, a, 0
}

// nextNonce returns the nonce of the current counter.
func (t *trafficKey) nextNonce() []byte {
	binary.BigEndian.PutUint64(t.nonce[4:], t.ctr)
	return t.nonce[:]
}

// advance moves past one frame, rekeying when the counter reaches the interval.
func (t *trafficKey) advance() {
	t.ctr++
	if t.ctr >= t.interval {
		t.setKey(expand(t.key, labelKeyUpdate, nil))
	}
}

// FrameWriter seals payloads into frames. It is not safe for concurrent use.
type FrameWriter struct {
	w   io.Writer
	k   *trafficKey
	buf []byte
	err error
}

// NewFrameWriter writes frames to w under key.
func NewFrameWriter(w io.Writer, key []byte, rekeyInterval uint64) *FrameWriter {
	return &FrameWriter{w: w, k: newTrafficKey(key, rekeyInterval)}
}

// SealFrame returns the frame of payload and advances the counter (exposed
// for tests that tamper with frames on the wire).
func (f *FrameWriter) SealFrame(payload []byte) ([]byte, error) {
	if len(payload) > MaxPayloadSize {
		return nil, ErrFrameTooLarge
	}
	n := len(payload) + crypto.AEADTagSize
	f.buf = f.buf[:0]
	f.buf = binary.BigEndian.AppendUint32(f.buf, uint32(n))
	f.buf = f.k.aead.Seal(f.buf, f.k.nextNonce(), payload, f.buf[:FrameHeaderSize])
	f.k.advance()
	return f.buf, nil
}

// WriteFrame seals and writes one frame. A write error is sticky.
func (f *FrameWriter) WriteFrame(payload []byte) error {
	if f.err != nil {
		return f.err
	}
	fr, err := f.SealFrame(payload)
	if err != nil {
		return err // nothing was written: the stream is intact
	}
	if _, err := f.w.Write(fr); err != nil {
		f.err = err
		return err
	}
	if cap(f.buf) > 4*readChunk {
		f.buf = nil // do not pin a large buffer after a large frame
	}
	return nil
}

// FrameReader opens frames from a stream. After the first error it returns
// that error forever (the session must close).
type FrameReader struct {
	r   io.Reader
	k   *trafficKey
	hdr [FrameHeaderSize]byte
	err error
}

// NewFrameReader reads frames from r under key.
func NewFrameReader(r io.Reader, key []byte, rekeyInterval uint64) *FrameReader {
	return &FrameReader{r: r, k: newTrafficKey(key, rekeyInterval)}
}

// ReadFrame returns the next payload (a fresh slice owned by the caller).
func (f *FrameReader) ReadFrame() ([]byte, error) {
	if f.err != nil {
		return nil, f.err
	}
	p, err := f.readFrame()
	if err != nil {
		f.err = err
		return nil, err
	}
	return p, nil
}

func (f *FrameReader) readFrame() ([]byte, error) {
	if _, err := io.ReadFull(f.r, f.hdr[:]); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, ErrFrameTrunc
		}
		return nil, err // io.EOF between frames: clean close
	}
	n := binary.BigEndian.Uint32(f.hdr[:])
	if n > MaxFrameSize {
		return nil, fmt.Errorf("%w: %d", ErrFrameTooLarge, n)
	}
	if n < crypto.AEADTagSize {
		return nil, fmt.Errorf("%w: %d", ErrFrameShort, n)
	}
	buf, err := readBounded(f.r, int(n))
	if err != nil {
		return nil, err
	}
	pt, err := f.k.aead.Open(buf[:0], f.k.nextNonce(), buf, f.hdr[:])
	if err != nil {
		return nil, ErrFrameAuth
	}
	f.k.advance()
	return pt, nil
}

// readBounded reads exactly n bytes, growing its buffer only as data arrives.
func readBounded(r io.Reader, n int) ([]byte, error) {
	buf := make([]byte, 0, min(n, readChunk))
	for len(buf) < n {
		if len(buf) == cap(buf) {
			buf = append(buf, make([]byte, min(n-len(buf), cap(buf)))...)[:len(buf)]
		}
		m, err := r.Read(buf[len(buf):min(n, cap(buf))])
		buf = buf[:len(buf)+m]
		if err != nil {
			if len(buf) == n {
				break
			}
			if errors.Is(err, io.EOF) {
				return nil, ErrFrameTrunc
			}
			return nil, err
		}
	}
	return buf, nil
}

// Session is an authenticated, encrypted connection to one peer. Send may be
// called from several goroutines; Recv from one. Any frame error, on either
// side, closes the session.
type Session struct {
	conn   net.Conn
	res    *Result
	wmu    sync.Mutex
	w      *FrameWriter
	rmu    sync.Mutex
	r      *FrameReader
	once   sync.Once
	closed chan struct{}
}

// NewSession wraps conn after a successful handshake.
func NewSession(conn net.Conn, res *Result) *Session {
	return &Session{
		conn:   conn,
		res:    res,
		w:      NewFrameWriter(conn, res.SendKey, res.RekeyInterval),
		r:      NewFrameReader(conn, res.RecvKey, res.RekeyInterval),
		closed: make(chan struct{}),
	}
}

// Peer is the peer's verified certificate.
func (s *Session) Peer() *types.NodeCert { return s.res.Peer }

// PeerID is the peer's node id.
func (s *Session) PeerID() crypto.Hash { return s.res.Peer.NodeID }

// Outbound reports whether we dialled (were the handshake client).
func (s *Session) Outbound() bool { return s.res.Client }

// TranscriptHash is the hash of the whole handshake (a channel binding).
func (s *Session) TranscriptHash() crypto.Hash { return s.res.TranscriptHash }

// RemoteAddr is the peer's socket address.
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

// LocalAddr is our socket address.
func (s *Session) LocalAddr() net.Addr { return s.conn.LocalAddr() }

// Send writes one frame. timeout > 0 bounds the write (a peer that does not
// read is cut off). An error closes the session.
func (s *Session) Send(payload []byte, timeout time.Duration) error {
	s.wmu.Lock()
	defer s.wmu.Unlock()
	if s.isClosed() {
		return ErrSessionClosed
	}
	if timeout > 0 {
		_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
	}
	if err := s.w.WriteFrame(payload); err != nil {
		if !errors.Is(err, ErrFrameTooLarge) {
			s.Close()
		}
		return err
	}
	return nil
}

// Recv reads the next payload. An error closes the session.
func (s *Session) Recv() ([]byte, error) {
	s.rmu.Lock()
	defer s.rmu.Unlock()
	p, err := s.r.ReadFrame()
	if err != nil {
		s.Close()
		if s.isClosed() && (errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF)) {
			return nil, fmt.Errorf("%w: %w", ErrSessionClosed, err)
		}
		return nil, err
	}
	return p, nil
}

func (s *Session) isClosed() bool {
	select {
	case <-s.closed:
		return true
	default:
		return false
	}
}

// Closed is closed when the session is.
func (s *Session) Closed() <-chan struct{} { return s.closed }

// Close closes the connection (idempotent).
func (s *Session) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closed)
		err = s.conn.Close()
	})
	return err
}
