package kemtls

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/p2p/ratelimit"
)

// Listener errors.
var (
	ErrRateLimited     = errors.New("kemtls: handshake rate limited")
	ErrTooManyHalfOpen = errors.New("kemtls: too many handshakes in progress")
	ErrListenerClosed  = errors.New("kemtls: listener closed")
)

// handshaker is the common shape of the two state machines.
type handshaker interface {
	Next([]byte) ([][]byte, error)
	Done() bool
	Result() *Result
}

// readRecord reads one handshake record (header included).
func readRecord(r io.Reader) ([]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n < 1 || n > MaxRecordSize-4 {
		return nil, fmt.Errorf("%w: length %d", ErrRecordDecode, n)
	}
	rec := make([]byte, 4+int(n))
	copy(rec, hdr[:])
	if _, err := io.ReadFull(r, rec[4:]); err != nil {
		return nil, err
	}
	return rec, nil
}

// run drives a state machine over conn until it completes, with the
// configured deadline and ctx cancellation.
func run(ctx context.Context, conn net.Conn, cfg *Config, hs handshaker, first []byte) (*Session, error) {
	deadline := time.Now().Add(cfg.timeout())
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	if err := conn.SetDeadline(deadline); err != nil {
		return nil, err
	}
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	fail := func(err error) (*Session, error) {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w: %w", ErrHandshakeTimeout, ctx.Err())
			} else {
				err = fmt.Errorf("%w: %w", ErrHandshakeTimeout, err)
			}
		}
		return nil, err
	}
	if first != nil {
		if _, err := conn.Write(first); err != nil {
			return fail(err)
		}
	} else if d := time.Now().Add(cfg.firstRecordTimeout()); d.Before(deadline) {
		// A server gives an idle connection only a short time to send its
		// ClientHello: otherwise silent connections hold half-open slots
		// for the whole handshake deadline.
		if err := conn.SetDeadline(d); err != nil {
			return nil, err
		}
	}
	for records := 0; !hs.Done(); records++ {
		rec, err := readRecord(conn)
		if err != nil {
			return fail(err)
		}
		if records == 0 && first == nil {
			if err := conn.SetDeadline(deadline); err != nil {
				return nil, err
			}
		}
		out, err := hs.Next(rec)
		if err != nil {
			return fail(err)
		}
		if len(out) > 0 {
			var buf []byte
			for _, o := range out {
				buf = append(buf, o...)
			}
			if _, err := conn.Write(buf); err != nil {
				return fail(err)
			}
		}
	}
	// If ctx was cancelled meanwhile, its callback may already have set a
	// past deadline (or be about to): the session would die at once.
	if !stop() {
		return nil, fmt.Errorf("%w: %w", ErrHandshakeTimeout, context.Cause(ctx))
	}
	if err := conn.SetDeadline(time.Time{}); err != nil {
		return nil, err
	}
	return NewSession(conn, hs.Result()), nil
}

// Client runs the client handshake over conn, expecting the server to be the
// node expect. On error the caller closes conn.
func Client(ctx context.Context, conn net.Conn, cfg *Config, expect crypto.Hash) (*Session, error) {
	hs, err := NewClient(cfg, expect)
	if err != nil {
		return nil, err
	}
	ch, err := hs.Start()
	if err != nil {
		return nil, err
	}
	return run(ctx, conn, cfg, hs, ch)
}

// Server runs the server handshake over conn. On error the caller closes conn.
func Server(ctx context.Context, conn net.Conn, cfg *Config) (*Session, error) {
	hs, err := NewServer(cfg)
	if err != nil {
		return nil, err
	}
	return run(ctx, conn, cfg, hs, nil)
}

// Dial connects to addr with d and runs the client handshake; the
// connection is closed on failure.
func Dial(ctx context.Context, d *net.Dialer, addr string, cfg *Config, expect crypto.Hash) (*Session, error) {
	if d == nil {
		d = &net.Dialer{}
	}
	dctx, cancel := context.WithTimeout(ctx, cfg.timeout())
	defer cancel()
	conn, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	s, err := Client(dctx, conn, cfg, expect)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

// Observer receives listener events (metrics). Methods must not block.
type Observer interface {
	// HandshakeDone reports a finished inbound or outbound handshake.
	HandshakeDone(inbound bool, took time.Duration, err error)
	// Refused reports a connection refused before its handshake
	// (ErrRateLimited, ErrTooManyHalfOpen).
	Refused(reason error)
	// HalfOpen reports the number of handshakes in progress.
	HalfOpen(n int)
}

// ListenerConfig configures a Listener.
type ListenerConfig struct {
	Handshake *Config
	Limits    ratelimit.HandshakeLimits // zero value: ratelimit.DefaultHandshakeLimits
	// MaxHalfOpen caps concurrent inbound handshakes (default 64), and
	// MaxHalfOpenPerSubnet those from one /24 (IPv4) or /48 (IPv6)
	// (default 8), so a few subnets cannot fill every slot.
	MaxHalfOpen          int
	MaxHalfOpenPerSubnet int
	// Reserved reports addresses exempt from the handshake buckets and the
	// half-open caps: the configured addresses of genesis validators, which
	// §11 exempts from caps. They use a pool of MaxHalfOpen slots of their
	// own, so strangers cannot lock validators out before identities are
	// known. The identity is still checked by the handshake.
	Reserved func(netip.Addr) bool
	Observer Observer
	Logger   *slog.Logger
}

// Listener accepts TCP connections and runs server handshakes on them,
// applying the per-IP and per-/24 handshake buckets and the half-open cap
// before spending any CPU on a handshake.
type Listener struct {
	ln       net.Listener
	cfg      ListenerConfig
	limiter  *ratelimit.HandshakeLimiter
	sem      chan struct{} // half-open slots for strangers
	reserved chan struct{} // half-open slots for Reserved addresses
	perSub   map[netip.Prefix]int
	out      chan *Session
	ctx      context.Context
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	mu       sync.Mutex
	halfOpen int
}

// NewListener starts accepting on ln.
func NewListener(ln net.Listener, cfg ListenerConfig) (*Listener, error) {
	if err := cfg.Handshake.check(); err != nil {
		return nil, err
	}
	if cfg.Limits == (ratelimit.HandshakeLimits{}) {
		cfg.Limits = ratelimit.DefaultHandshakeLimits
	}
	if cfg.MaxHalfOpen <= 0 {
		cfg.MaxHalfOpen = 64
	}
	if cfg.MaxHalfOpenPerSubnet <= 0 {
		cfg.MaxHalfOpenPerSubnet = 8
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Listener{
		ln: ln, cfg: cfg,
		limiter:  ratelimit.NewHandshakeLimiter(cfg.Limits),
		sem:      make(chan struct{}, cfg.MaxHalfOpen),
		reserved: make(chan struct{}, cfg.MaxHalfOpen),
		perSub:   make(map[netip.Prefix]int),
		out:      make(chan *Session),
		ctx:      ctx, cancel: cancel,
	}
	l.wg.Add(1)
	go l.acceptLoop()
	return l, nil
}

// Listen listens on a TCP address.
func Listen(addr string, cfg ListenerConfig) (*Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	l, err := NewListener(ln, cfg)
	if err != nil {
		ln.Close()
		return nil, err
	}
	return l, nil
}

// Addr is the listening address.
func (l *Listener) Addr() net.Addr { return l.ln.Addr() }

// Accept returns the next authenticated inbound session.
func (l *Listener) Accept() (*Session, error) {
	select {
	case s := <-l.out:
		return s, nil
	case <-l.ctx.Done():
		return nil, ErrListenerClosed
	}
}

// Close stops accepting, aborts handshakes in progress and waits for them.
func (l *Listener) Close() error {
	l.cancel()
	err := l.ln.Close()
	l.wg.Wait()
	return err
}

func (l *Listener) refuse(conn net.Conn, reason error) {
	conn.Close()
	if l.cfg.Observer != nil {
		l.cfg.Observer.Refused(reason)
	}
	l.cfg.Logger.Debug("kemtls: inbound connection refused", "remote", conn.RemoteAddr().String(), "reason", reason.Error())
}

func (l *Listener) setHalfOpen(delta int) {
	l.mu.Lock()
	l.halfOpen += delta
	n := l.halfOpen
	l.mu.Unlock()
	if l.cfg.Observer != nil {
		l.cfg.Observer.HalfOpen(n)
	}
}

func (l *Listener) acceptLoop() {
	defer l.wg.Done()
	var backoff time.Duration
	for {
		conn, err := l.ln.Accept()
		if err != nil {
			if l.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			// E.g. EMFILE: back off like net/http instead of spinning.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.cfg.Logger.Warn("kemtls: accept", "err", err, "retry_in", backoff)
			select {
			case <-time.After(backoff):
			case <-l.ctx.Done():
				return
			}
			continue
		}
		backoff = 0
		ap, err := netip.ParseAddrPort(conn.RemoteAddr().String())
		if err != nil {
			l.refuse(conn, fmt.Errorf("%w: remote address %v", ErrRateLimited, conn.RemoteAddr()))
			continue
		}
		addr := ap.Addr().Unmap()
		if l.cfg.Reserved != nil && l.cfg.Reserved(addr) {
			select {
			case l.reserved <- struct{}{}:
			default:
				l.refuse(conn, ErrTooManyHalfOpen)
				continue
			}
			l.start(conn, l.reserved, netip.Prefix{})
			continue
		}
		if err := l.limiter.Allow(addr, l.cfg.Handshake.now()); err != nil {
			l.refuse(conn, fmt.Errorf("%w: %w", ErrRateLimited, err))
			continue
		}
		sub := ratelimit.Subnet(addr)
		l.mu.Lock()
		full := l.perSub[sub] >= l.cfg.MaxHalfOpenPerSubnet
		if !full {
			l.perSub[sub]++
		}
		l.mu.Unlock()
		if full {
			l.refuse(conn, fmt.Errorf("%w: %d from %v", ErrTooManyHalfOpen, l.cfg.MaxHalfOpenPerSubnet, sub))
			continue
		}
		select {
		case l.sem <- struct{}{}:
		default:
			l.releaseSubnet(sub)
			l.refuse(conn, ErrTooManyHalfOpen)
			continue
		}
		l.start(conn, l.sem, sub)
	}
}

func (l *Listener) releaseSubnet(sub netip.Prefix) {
	if !sub.IsValid() {
		return
	}
	l.mu.Lock()
	if l.perSub[sub]--; l.perSub[sub] <= 0 {
		delete(l.perSub, sub)
	}
	l.mu.Unlock()
}

// start runs a handshake holding one slot of sem (and of sub's count).
func (l *Listener) start(conn net.Conn, sem chan struct{}, sub netip.Prefix) {
	l.setHalfOpen(1)
	l.wg.Add(1)
	go l.handshake(conn, sem, sub)
}

func (l *Listener) handshake(conn net.Conn, sem chan struct{}, sub netip.Prefix) {
	defer l.wg.Done()
	start := time.Now()
	s, err := Server(l.ctx, conn, l.cfg.Handshake)
	<-sem
	l.releaseSubnet(sub)
	l.setHalfOpen(-1)
	if l.cfg.Observer != nil {
		l.cfg.Observer.HandshakeDone(true, time.Since(start), err)
	}
	if err != nil {
		conn.Close()
		l.cfg.Logger.Debug("kemtls: inbound handshake failed", "remote", conn.RemoteAddr().String(), "err", err)
		return
	}
	select {
	case l.out <- s:
	case <-l.ctx.Done():
		s.Close()
	}
}
