package bench

import (
	"context"
	"testing"
	"time"

	"github.com/qbind/qbind/crypto"
)

func TestRunSmall(t *testing.T) {
	r, err := Run(context.Background(), Options{Handshakes: 5, Duration: 100 * time.Millisecond, Addr: "127.0.7.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if r.HandshakesPerS <= 0 || r.FrameMBPerS <= 0 || r.MsgPerS1KB <= 0 || r.ClientCPUMs <= 0 || r.ServerCPUMs <= 0 {
		t.Fatalf("%+v", r)
	}
}

// BenchmarkHandshakeCPU reports the state machines' time per side.
func BenchmarkHandshakeCPU(b *testing.B) {
	cc, err := Identity(crypto.DevNet)
	if err != nil {
		b.Fatal(err)
	}
	sc, err := Identity(crypto.DevNet)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	var tc, ts time.Duration
	for b.Loop() {
		c, s, err := HandshakeCPU(cc, sc, 1)
		if err != nil {
			b.Fatal(err)
		}
		tc += c
		ts += s
	}
	b.ReportMetric(float64(tc.Microseconds())/1000/float64(b.N), "client-ms/op")
	b.ReportMetric(float64(ts.Microseconds())/1000/float64(b.N), "server-ms/op")
}
