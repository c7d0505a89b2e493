package kemtls

import (
	"bytes"
	"sync"
	"testing"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

var testNow = time.Unix(1_800_000_000, 0)

type testIdentity struct {
	key  *crypto.PrivateKey
	kem  *crypto.KEMPrivateKey
	cert *types.NodeCert // DevNet, valid ±1 h around testNow
}

// identities are deterministic and shared: signing costs ~300 µs.
var identities = sync.OnceValue(func() []*testIdentity {
	ids := make([]*testIdentity, 4)
	for i := range ids {
		k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, bytes.Repeat([]byte{byte(1 + i)}, 32))
		if err != nil {
			panic(err)
		}
		kk, err := crypto.NewKEMKeyFromSeed(bytes.Repeat([]byte{byte(0x11 + i)}, 64))
		if err != nil {
			panic(err)
		}
		c, err := types.NewNodeCert(crypto.DevNet, k, kk.EncapsulationKey(), testNow.Add(-time.Hour), testNow.Add(time.Hour))
		if err != nil {
			panic(err)
		}
		ids[i] = &testIdentity{key: k, kem: kk, cert: c}
	}
	return ids
})

func testConfig(i int) *Config {
	id := identities()[i]
	return &Config{Network: crypto.DevNet, Cert: id.cert, KEMKey: id.kem, Now: func() time.Time { return testNow }}
}

// transcriptLog records every record exchanged, in order.
type transcriptLog struct {
	recs     [][]byte
	fromSide []bool // true: sent by the client
}

// pump runs a handshake between c and s in memory. tamper, if not nil, may
// replace the record with index idx (0 = ClientHello … 7 = ServerFinished)
// before delivery. It stops at the first error.
func pump(t testing.TB, c *ClientHandshake, s *ServerHandshake, tamper func(idx int, rec []byte) []byte) (log transcriptLog, cerr, serr error) {
	t.Helper()
	ch, err := c.Start()
	if err != nil {
		return log, err, nil
	}
	type msg struct {
		rec      []byte
		toServer bool
	}
	queue := []msg{{ch, true}}
	idx := 0
	for len(queue) > 0 && idx < 32 {
		m := queue[0]
		queue = queue[1:]
		rec := m.rec
		if tamper != nil {
			rec = tamper(idx, bytes.Clone(rec))
		}
		idx++
		log.recs = append(log.recs, rec)
		log.fromSide = append(log.fromSide, m.toServer)
		if m.toServer {
			out, err := s.Next(rec)
			if err != nil {
				return log, nil, err
			}
			for _, o := range out {
				queue = append(queue, msg{o, false})
			}
		} else {
			out, err := c.Next(rec)
			if err != nil {
				return log, err, nil
			}
			for _, o := range out {
				queue = append(queue, msg{o, true})
			}
		}
	}
	return log, nil, nil
}

func newPair(t testing.TB, ci, si int) (*ClientHandshake, *ServerHandshake) {
	t.Helper()
	c, err := NewClient(testConfig(ci), identities()[si].cert.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	s, err := NewServer(testConfig(si))
	if err != nil {
		t.Fatal(err)
	}
	return c, s
}
