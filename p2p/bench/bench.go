// Package bench measures the P2P transport over loopback: KEMTLS handshakes
// (rate, latency, CPU per side) and framed session throughput. It backs
// `qbind bench p2p`.
package bench

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/p2p/kemtls"
	"github.com/qbind/qbind/p2p/ratelimit"
	"github.com/qbind/qbind/types"
)

// Options bound the run.
type Options struct {
	Handshakes int           // sequential loopback handshakes (default 200)
	Duration   time.Duration // per throughput phase (default 2 s)
	Addr       string        // listen address (default 127.0.0.1:0)
}

// Result is what `qbind bench p2p --json` prints.
type Result struct {
	HandshakesPerS   float64 `json:"handshakes_per_s"`
	HandshakeMs      float64 `json:"handshake_ms"`
	FrameMBPerS      float64 `json:"frame_mb_per_s"`
	MsgPerS1KB       float64 `json:"msg_per_s_1kb"`
	ClientCPUMs      float64 `json:"handshake_client_cpu_ms"`
	ServerCPUMs      float64 `json:"handshake_server_cpu_ms"`
	HandshakeSamples int     `json:"handshake_samples"`
}

// Identity is a fresh node identity valid for a day.
func Identity(n crypto.Network) (*kemtls.Config, error) {
	seed := make([]byte, 32)
	if _, err := rand.Read(seed); err != nil {
		return nil, err
	}
	k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
	if err != nil {
		return nil, err
	}
	kem, err := crypto.GenerateKEMKey()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	cert, err := types.NewNodeCert(n, k, kem.EncapsulationKey(), now.Add(-time.Hour), now.Add(24*time.Hour))
	if err != nil {
		return nil, err
	}
	return &kemtls.Config{Network: n, Cert: cert, KEMKey: kem, Keys: crypto.NewKeyCache(16)}, nil
}

// HandshakeCPU runs n in-memory handshakes and returns the mean time spent
// in each side's state machine (single goroutine: wall time ≈ CPU time).
func HandshakeCPU(cc, sc *kemtls.Config, n int) (client, server time.Duration, err error) {
	for range n {
		var tc, ts time.Duration
		t := time.Now()
		c, err := kemtls.NewClient(cc, sc.Cert.NodeID)
		if err != nil {
			return 0, 0, err
		}
		ch, err := c.Start()
		tc += time.Since(t)
		if err != nil {
			return 0, 0, err
		}
		t = time.Now()
		s, err := kemtls.NewServer(sc)
		if err != nil {
			return 0, 0, err
		}
		toClient, err := s.Next(ch)
		ts += time.Since(t)
		for err == nil && !(c.Done() && s.Done()) {
			var toServer [][]byte
			t = time.Now()
			for _, r := range toClient {
				var out [][]byte
				if out, err = c.Next(r); err != nil {
					break
				}
				toServer = append(toServer, out...)
			}
			tc += time.Since(t)
			toClient = nil
			t = time.Now()
			for _, r := range toServer {
				if err != nil {
					break
				}
				var out [][]byte
				out, err = s.Next(r)
				toClient = append(toClient, out...)
			}
			ts += time.Since(t)
			if len(toClient) == 0 && len(toServer) == 0 && !(c.Done() && s.Done()) {
				err = errors.New("handshake stalled")
			}
		}
		if err != nil {
			return 0, 0, err
		}
		client += tc
		server += ts
	}
	return client / time.Duration(n), server / time.Duration(n), nil
}

// Run measures everything over loopback TCP.
func Run(ctx context.Context, o Options) (*Result, error) {
	if o.Handshakes <= 0 {
		o.Handshakes = 200
	}
	if o.Duration <= 0 {
		o.Duration = 2 * time.Second
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	cc, err := Identity(crypto.DevNet)
	if err != nil {
		return nil, err
	}
	sc, err := Identity(crypto.DevNet)
	if err != nil {
		return nil, err
	}
	res := &Result{HandshakeSamples: o.Handshakes}
	cpuC, cpuS, err := HandshakeCPU(cc, sc, max(10, o.Handshakes/4))
	if err != nil {
		return nil, err
	}
	res.ClientCPUMs, res.ServerCPUMs = ms(cpuC), ms(cpuS)

	lim := ratelimit.HandshakeLimits{PerIPRate: 1e9, PerIPBurst: 1e9, PerSubnetRate: 1e9, PerSubnetBurst: 1e9, MaxTracked: 16}
	ln, err := kemtls.Listen(o.Addr, kemtls.ListenerConfig{Handshake: sc, Limits: lim})
	if err != nil {
		return nil, err
	}
	defer ln.Close()
	accepted := make(chan *kemtls.Session, 1)
	go func() {
		for {
			s, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- s
		}
	}()
	// Handshakes: sequential, so handshake_ms is latency, not queueing.
	var total time.Duration
	start := time.Now()
	for range o.Handshakes {
		t := time.Now()
		s, err := kemtls.Dial(ctx, nil, ln.Addr().String(), cc, sc.Cert.NodeID)
		if err != nil {
			return nil, fmt.Errorf("handshake: %w", err)
		}
		total += time.Since(t)
		s.Close()
		select { // pair every client session with its server side
		case ss := <-accepted:
			ss.Close()
		case <-time.After(10 * time.Second):
			return nil, errors.New("no inbound session")
		}
	}
	res.HandshakesPerS = float64(o.Handshakes) / time.Since(start).Seconds()
	res.HandshakeMs = ms(total / time.Duration(o.Handshakes))

	pair := func() (*kemtls.Session, *kemtls.Session, error) {
		c, err := kemtls.Dial(ctx, nil, ln.Addr().String(), cc, sc.Cert.NodeID)
		if err != nil {
			return nil, nil, err
		}
		select {
		case s := <-accepted:
			return c, s, nil
		case <-time.After(10 * time.Second):
			c.Close()
			return nil, nil, errors.New("no inbound session")
		}
	}
	throughput := func(size int) (frames int, secs float64, err error) {
		c, s, err := pair()
		if err != nil {
			return 0, 0, err
		}
		defer c.Close()
		defer s.Close()
		got := make(chan int, 1)
		go func() {
			n := 0
			for {
				if _, err := s.Recv(); err != nil {
					got <- n
					return
				}
				n++
			}
		}()
		payload := make([]byte, size)
		t := time.Now()
		sent := 0
		for time.Since(t) < o.Duration {
			for range 64 {
				if err := c.Send(payload, 10*time.Second); err != nil {
					return 0, 0, err
				}
				sent++
			}
		}
		c.Close()
		n := <-got
		return n, time.Since(t).Seconds(), nil
	}
	n, secs, err := throughput(1 << 20)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, err
	}
	res.FrameMBPerS = float64(n) / secs
	n, secs, err = throughput(1024)
	if err != nil {
		return nil, err
	}
	res.MsgPerS1KB = float64(n) / secs
	return res, nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
