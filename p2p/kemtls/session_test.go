package kemtls

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/qbind/qbind/p2p/ratelimit"
)

var frameKey = bytes.Repeat([]byte{7}, 32)

func sealFrames(t *testing.T, interval uint64, payloads ...string) [][]byte {
	t.Helper()
	w := NewFrameWriter(io.Discard, frameKey, interval)
	var out [][]byte
	for _, p := range payloads {
		f, err := w.SealFrame([]byte(p))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, bytes.Clone(f))
	}
	return out
}

func readAll(interval uint64, frames ...[]byte) ([]string, error) {
	r := NewFrameReader(bytes.NewReader(bytes.Join(frames, nil)), frameKey, interval)
	var got []string
	for {
		p, err := r.ReadFrame()
		if err != nil {
			if err == io.EOF {
				return got, nil
			}
			// sticky
			if _, err2 := r.ReadFrame(); err2 != err {
				panic("frame reader error is not sticky")
			}
			return got, err
		}
		got = append(got, string(p))
	}
}

func TestFramesRoundTripAndRekey(t *testing.T) {
	msgs := []string{"a", "", "ccc", "dddd", "e", "f", "g"}
	f := sealFrames(t, 3, msgs...)
	got, err := readAll(3, f...)
	if err != nil || len(got) != len(msgs) {
		t.Fatalf("%v %v", got, err)
	}
	for i := range msgs {
		if got[i] != msgs[i] {
			t.Fatalf("frame %d: %q", i, got[i])
		}
	}
	// A reader that does not rekey fails exactly at the fourth frame.
	got, err = readAll(1<<20, f...)
	if len(got) != 3 || !errors.Is(err, ErrFrameAuth) {
		t.Fatalf("%v %v", got, err)
	}
	// Rekeyed frames use k' = Expand(k, "ku") with the counter back at 0.
	w := NewFrameWriter(io.Discard, expand(frameKey, labelKeyUpdate, nil), 3)
	f3, _ := w.SealFrame([]byte("dddd"))
	if !bytes.Equal(f3, f[3]) {
		t.Fatal("rekey is not Expand(k, \"ku\") with counter 0")
	}
}

func TestFrameAttacks(t *testing.T) {
	f := sealFrames(t, 0, "one", "two", "three")
	corrupt := bytes.Clone(f[1])
	corrupt[len(corrupt)-1] ^= 1
	lenEdit := bytes.Clone(f[1])
	lenEdit[3]-- // shorter length: the tag no longer lines up, and the AAD changed
	cases := []struct {
		name   string
		frames [][]byte
		good   int
		want   error
	}{
		{"corrupted", [][]byte{f[0], corrupt, f[2]}, 1, ErrFrameAuth},
		{"length edited", [][]byte{f[0], lenEdit}, 1, ErrFrameAuth},
		{"replayed", [][]byte{f[0], f[0]}, 1, ErrFrameAuth},
		{"reordered", [][]byte{f[0], f[2], f[1]}, 1, ErrFrameAuth},
		{"dropped", [][]byte{f[0], f[2]}, 1, ErrFrameAuth},
		{"truncated body", [][]byte{f[0], f[1][:len(f[1])-1]}, 1, ErrFrameTrunc},
		{"truncated header", [][]byte{f[0], f[1][:2]}, 1, ErrFrameTrunc},
		{"oversized", [][]byte{binary.BigEndian.AppendUint32(nil, MaxFrameSize+1)}, 0, ErrFrameTooLarge},
		{"shorter than a tag", [][]byte{binary.BigEndian.AppendUint32(nil, 15), make([]byte, 15)}, 0, ErrFrameShort},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := readAll(0, tc.frames...)
			if len(got) != tc.good || !errors.Is(err, tc.want) {
				t.Fatalf("got %d frames, %v; want %d, %v", len(got), err, tc.good, tc.want)
			}
		})
	}
	w := NewFrameWriter(io.Discard, frameKey, 0)
	if err := w.WriteFrame(make([]byte, MaxPayloadSize+1)); !errors.Is(err, ErrFrameTooLarge) {
		t.Fatal(err)
	}
	// An 8 MiB length header alone does not make the reader allocate 8 MiB.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	if _, err := readAll(0, binary.BigEndian.AppendUint32(nil, MaxFrameSize)); !errors.Is(err, ErrFrameTrunc) {
		t.Fatal(err)
	}
	runtime.ReadMemStats(&after)
	if d := after.TotalAlloc - before.TotalAlloc; d > 1<<20 {
		t.Fatalf("a bare 8 MiB header allocated %d bytes", d)
	}
}

// sessionPair runs a real handshake over an in-memory pipe.
func sessionPair(t *testing.T) (cs, ss *Session, cRaw, sRaw net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	var serr error
	wg.Add(1)
	go func() {
		defer wg.Done()
		ss, serr = Server(ctx, b, testConfig(1))
	}()
	cs, err := Client(ctx, a, testConfig(0), identities()[1].cert.NodeID)
	wg.Wait()
	if err != nil || serr != nil {
		t.Fatalf("client %v, server %v", err, serr)
	}
	t.Cleanup(func() { cs.Close(); ss.Close() })
	return cs, ss, a, b
}

func TestSessionOverPipe(t *testing.T) {
	cs, ss, _, _ := sessionPair(t)
	if cs.PeerID() != identities()[1].cert.NodeID || ss.PeerID() != identities()[0].cert.NodeID || !cs.Outbound() || ss.Outbound() {
		t.Fatal("identities")
	}
	go func() {
		for i := range 5 {
			_ = cs.Send([]byte{byte(i)}, time.Second)
		}
	}()
	for i := range 5 {
		p, err := ss.Recv()
		if err != nil || len(p) != 1 || p[0] != byte(i) {
			t.Fatalf("%v %v", p, err)
		}
	}
}

// A corrupted frame injected on the wire closes the receiving session.
func TestSessionClosesOnBadFrame(t *testing.T) {
	_, ss, cRaw, _ := sessionPair(t)
	go func() {
		junk := binary.BigEndian.AppendUint32(nil, 20)
		_, _ = cRaw.Write(append(junk, make([]byte, 20)...))
	}()
	if _, err := ss.Recv(); !errors.Is(err, ErrFrameAuth) {
		t.Fatalf("got %v", err)
	}
	select {
	case <-ss.Closed():
	default:
		t.Fatal("session still open")
	}
	if err := ss.Send([]byte("x"), 0); !errors.Is(err, ErrSessionClosed) {
		t.Fatalf("send after close: %v", err)
	}
}

// ---- over TCP on loopback ----

type testObserver struct {
	mu       sync.Mutex
	done     chan error
	refused  chan error
	halfOpen int
}

func newTestObserver() *testObserver {
	return &testObserver{done: make(chan error, 16), refused: make(chan error, 16)}
}
func (o *testObserver) HandshakeDone(_ bool, _ time.Duration, err error) { o.done <- err }
func (o *testObserver) Refused(err error)                                { o.refused <- err }
func (o *testObserver) HalfOpen(n int)                                   { o.mu.Lock(); o.halfOpen = n; o.mu.Unlock() }

func wait[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

func listen(t *testing.T, addr string, lc ListenerConfig) *Listener {
	t.Helper()
	if lc.Handshake == nil {
		lc.Handshake = testConfig(1)
	}
	l, err := Listen(addr, lc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

func TestDialListenTCP(t *testing.T) {
	obs := newTestObserver()
	l := listen(t, "127.0.1.1:0", ListenerConfig{Observer: obs})
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP("127.0.2.1")}}
	accepted := make(chan *Session, 1)
	go func() {
		s, err := l.Accept()
		if err == nil {
			accepted <- s
		}
	}()
	cs, err := Dial(context.Background(), d, l.Addr().String(), testConfig(0), identities()[1].cert.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	defer cs.Close()
	ss := wait(t, accepted)
	defer ss.Close()
	if err := wait(t, obs.done); err != nil {
		t.Fatal(err)
	}
	if got := ss.RemoteAddr().(*net.TCPAddr).IP.String(); got != "127.0.2.1" {
		t.Fatalf("remote %s", got)
	}
	big := bytes.Repeat([]byte{0xab}, 1<<20)
	go func() { _ = cs.Send(big, 5*time.Second) }()
	p, err := ss.Recv()
	if err != nil || !bytes.Equal(p, big) {
		t.Fatalf("1 MiB frame: %v", err)
	}
	// Dialling the right address but the wrong identity fails.
	go func() { _, _ = l.Accept() }()
	if _, err := Dial(context.Background(), d, l.Addr().String(), testConfig(0), identities()[2].cert.NodeID); !errors.Is(err, ErrPeerIdentity) {
		t.Fatalf("got %v", err)
	}
}

func TestHandshakeDeadline(t *testing.T) {
	obs := newTestObserver()
	cfg := testConfig(1)
	cfg.HandshakeTimeout = 100 * time.Millisecond
	l := listen(t, "127.0.1.2:0", ListenerConfig{Handshake: cfg, Observer: obs})
	conn, err := net.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := wait(t, obs.done); !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("got %v", err)
	}
	// The server closed the connection.
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open")
	}
}

func TestListenerRateLimits(t *testing.T) {
	obs := newTestObserver()
	l := listen(t, "127.0.1.3:0", ListenerConfig{
		Observer: obs,
		Limits:   ratelimit.HandshakeLimits{PerIPRate: 0.001, PerIPBurst: 2, PerSubnetRate: 0.001, PerSubnetBurst: 3, MaxTracked: 100},
	})
	dial := func(src string) net.Conn {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
		c, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	dial("127.0.5.1")
	dial("127.0.5.1")
	dial("127.0.5.1") // third from one IP
	if err := wait(t, obs.refused); !errors.Is(err, ErrRateLimited) || !errors.Is(err, ratelimit.ErrIPRateLimited) {
		t.Fatalf("got %v", err)
	}
	dial("127.0.5.2")
	dial("127.0.5.3") // fourth from one /24
	if err := wait(t, obs.refused); !errors.Is(err, ratelimit.ErrSubnetRateLimited) {
		t.Fatalf("got %v", err)
	}
}

func TestListenerHalfOpenCap(t *testing.T) {
	obs := newTestObserver()
	l := listen(t, "127.0.1.4:0", ListenerConfig{Observer: obs, MaxHalfOpen: 2})
	for i := range 3 {
		d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 6, byte(1+i))}}
		c, err := d.Dial("tcp", l.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	if err := wait(t, obs.refused); !errors.Is(err, ErrTooManyHalfOpen) {
		t.Fatalf("got %v", err)
	}
}

// idleConn opens a TCP connection from src that never sends a byte.
func idleConn(t *testing.T, l *Listener, src string) net.Conn {
	t.Helper()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	c, err := d.Dial("tcp", l.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// dialFrom completes a real handshake from src.
func dialFrom(t *testing.T, l *Listener, src string) error {
	t.Helper()
	go func() {
		if s, err := l.Accept(); err == nil {
			s.Close()
		}
	}()
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	s, err := Dial(context.Background(), d, l.Addr().String(), testConfig(0), identities()[1].cert.NodeID)
	if err == nil {
		s.Close()
	}
	return err
}

// TestListenerFirstRecordDeadline: a connection that sends nothing loses its
// half-open slot after FirstRecordTimeout, long before the handshake
// deadline (an hour here: without the first-record deadline the test's
// wait would time out).
func TestListenerFirstRecordDeadline(t *testing.T) {
	obs := newTestObserver()
	cfg := testConfig(1)
	cfg.HandshakeTimeout = time.Hour
	cfg.FirstRecordTimeout = 50 * time.Millisecond
	l := listen(t, "127.0.1.5:0", ListenerConfig{Handshake: cfg, Observer: obs})
	conn := idleConn(t, l, "127.0.7.1")
	if err := wait(t, obs.done); !errors.Is(err, ErrHandshakeTimeout) {
		t.Fatalf("got %v", err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Fatal("idle connection still open")
	}
}

// TestListenerPerSubnetHalfOpenCap: one /24 cannot take more than its share
// of the half-open slots; other subnets still get through.
func TestListenerPerSubnetHalfOpenCap(t *testing.T) {
	obs := newTestObserver()
	cfg := testConfig(1)
	cfg.FirstRecordTimeout = time.Hour
	l := listen(t, "127.0.1.6:0", ListenerConfig{Handshake: cfg, Observer: obs, MaxHalfOpenPerSubnet: 2})
	idleConn(t, l, "127.0.8.1")
	idleConn(t, l, "127.0.8.2")
	idleConn(t, l, "127.0.8.3")
	if err := wait(t, obs.refused); !errors.Is(err, ErrTooManyHalfOpen) {
		t.Fatalf("third half-open from one /24: %v", err)
	}
	if err := dialFrom(t, l, "127.0.9.1"); err != nil {
		t.Fatalf("another /24 was locked out: %v", err)
	}
}

// TestListenerReservedSlots: strangers holding every half-open slot do not
// lock out a validator's configured address.
func TestListenerReservedSlots(t *testing.T) {
	obs := newTestObserver()
	cfg := testConfig(1)
	cfg.FirstRecordTimeout = time.Hour
	validator := netip.MustParseAddr("127.0.10.1")
	l := listen(t, "127.0.1.7:0", ListenerConfig{Handshake: cfg, Observer: obs, MaxHalfOpen: 1,
		Reserved: func(a netip.Addr) bool { return a == validator }})
	idleConn(t, l, "127.0.11.1")
	idleConn(t, l, "127.0.12.1")
	if err := wait(t, obs.refused); !errors.Is(err, ErrTooManyHalfOpen) {
		t.Fatalf("stranger over the cap: %v", err)
	}
	if err := dialFrom(t, l, validator.String()); err != nil {
		t.Fatalf("validator locked out by strangers: %v", err)
	}
}
