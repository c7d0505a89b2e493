package kemtls

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"testing"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

func TestHandshakeCompletes(t *testing.T) {
	c, s := newPair(t, 0, 1)
	log, cerr, serr := pump(t, c, s, nil)
	if cerr != nil || serr != nil {
		t.Fatalf("client %v, server %v", cerr, serr)
	}
	if !c.Done() || !s.Done() {
		t.Fatal("not done")
	}
	cr, sr := c.Result(), s.Result()
	if !bytes.Equal(cr.SendKey, sr.RecvKey) || !bytes.Equal(cr.RecvKey, sr.SendKey) || bytes.Equal(cr.SendKey, cr.RecvKey) {
		t.Fatal("traffic keys do not pair up")
	}
	if cr.TranscriptHash != sr.TranscriptHash {
		t.Fatal("transcripts differ")
	}
	if cr.Peer.NodeID != identities()[1].cert.NodeID || sr.Peer.NodeID != identities()[0].cert.NodeID {
		t.Fatal("wrong peers")
	}
	want := []MsgType{MsgClientHello, MsgServerHello, MsgServerCert, MsgClientKEMCiphertext, MsgClientCert, MsgServerKEMCiphertext, MsgClientFinished, MsgServerFinished}
	if len(log.recs) != len(want) {
		t.Fatalf("%d records", len(log.recs))
	}
	for i, r := range log.recs {
		if MsgType(r[4]) != want[i] {
			t.Fatalf("record %d is %v, want %v", i, MsgType(r[4]), want[i])
		}
	}
	// A finished handshake accepts nothing more.
	if _, err := s.Next(log.recs[6]); !errors.Is(err, ErrHandshakeDone) {
		t.Fatalf("after done: %v", err)
	}
}

// tamperPositions lists the byte offsets flipped in a record of n bytes:
// every byte when QBIND_EXHAUSTIVE=1, otherwise the 5 header bytes, the
// first and last 24 bytes of the body and 48 random offsets.
func tamperPositions(rng *rand.Rand, n int) []int {
	if os.Getenv("QBIND_EXHAUSTIVE") == "1" {
		out := make([]int, n)
		for i := range out {
			out[i] = i
		}
		return out
	}
	set := map[int]bool{}
	for i := 0; i < 5+24 && i < n; i++ {
		set[i] = true
	}
	for i := max(0, n-24); i < n; i++ {
		set[i] = true
	}
	for range 48 {
		set[rng.IntN(n)] = true
	}
	out := make([]int, 0, len(set))
	for i := range set {
		out = append(out, i)
	}
	return out
}

// TestTamperAnyByte flips one byte of one handshake record per run and
// checks that the handshake fails: the side that receives the altered record
// (or, for records that only feed the transcript, a later check) rejects it,
// and the two sides never both complete.
func TestTamperAnyByte(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 1))
	c, s := newPair(t, 0, 1)
	ref, _, _ := pump(t, c, s, nil)
	runs := 0
	for idx, rec := range ref.recs {
		positions := tamperPositions(rng, len(rec))
		if testing.Short() {
			positions = positions[:min(len(positions), 8)]
		}
		for _, pos := range positions {
			bit := byte(1) << rng.IntN(8)
			c, s := newPair(t, 0, 1)
			_, cerr, serr := pump(t, c, s, func(i int, r []byte) []byte {
				if i == idx {
					r[pos] ^= bit
				}
				return r
			})
			runs++
			if cerr == nil && serr == nil || c.Done() {
				t.Fatalf("record %d (%v) byte %d bit %#x: client done=%v err=%v, server done=%v err=%v",
					idx, MsgType(rec[4]), pos, bit, c.Done(), cerr, s.Done(), serr)
			}
			if c.Done() && s.Done() {
				t.Fatal("both sides completed")
			}
		}
	}
	t.Logf("%d tampered handshakes, all failed", runs)
}

func TestWrongServerIdentity(t *testing.T) {
	// The client dials node 2 but reaches node 1, which holds a valid cert.
	c, err := NewClient(testConfig(0), identities()[2].cert.NodeID)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := NewServer(testConfig(1))
	_, cerr, _ := pump(t, c, s, nil)
	if !errors.Is(cerr, ErrPeerIdentity) {
		t.Fatalf("got %v", cerr)
	}
}

// NodeCert of X carrying Y's KEM key: either the cert was edited (the
// signature does not cover Y's key) or X's genuine cert is presented by a
// party holding another decapsulation key.
func TestCertWithForeignKEMKey(t *testing.T) {
	x, y := identities()[1], identities()[2]
	t.Run("edited cert", func(t *testing.T) {
		forged := *x.cert
		forged.KEMEK = y.cert.KEMEK
		cfg := &Config{Network: crypto.DevNet, Cert: &forged, KEMKey: y.kem, Now: func() time.Time { return testNow }}
		c, _ := NewClient(testConfig(0), x.cert.NodeID)
		s, err := NewServer(cfg)
		if err != nil {
			t.Fatal(err)
		}
		_, cerr, _ := pump(t, c, s, nil)
		if !errors.Is(cerr, ErrPeerCert) || !errors.Is(cerr, types.ErrBadNodeCertSig) {
			t.Fatalf("got %v", cerr)
		}
	})
	t.Run("cannot decapsulate", func(t *testing.T) {
		// X's genuine cert, but the server holds Y's decapsulation key.
		s, _ := NewServer(testConfig(1))
		s.cfg = &Config{Network: crypto.DevNet, Cert: x.cert, KEMKey: y.kem, Now: func() time.Time { return testNow }}
		c, _ := NewClient(testConfig(0), x.cert.NodeID)
		_, cerr, serr := pump(t, c, s, nil)
		if !errors.Is(serr, ErrDecrypt) || cerr != nil || c.Done() {
			t.Fatalf("client %v (done %v), server %v", cerr, c.Done(), serr)
		}
	})
}

// A man in the middle that terminates the client's handshake with its own
// ephemeral encapsulation and replays the real server's (public) certificate
// learns ES and can forge ServerCert, but not AHS: the client encapsulates to
// the real server's static key, so the ClientCert stays sealed.
func TestMITMCannotReadClientCert(t *testing.T) {
	real, mitmKEM := identities()[1], identities()[3].kem
	s, _ := NewServer(testConfig(1))
	s.cfg = &Config{Network: crypto.DevNet, Cert: real.cert, KEMKey: mitmKEM, Now: func() time.Time { return testNow }}
	c, _ := NewClient(testConfig(0), real.cert.NodeID)
	log, cerr, serr := pump(t, c, s, nil)
	if !errors.Is(serr, ErrDecrypt) || cerr != nil || c.Done() {
		t.Fatalf("client %v, server %v", cerr, serr)
	}
	if s.peer != nil {
		t.Fatal("MITM learned the client's certificate")
	}
	clientCert := identities()[0].cert
	for i, r := range log.recs {
		if bytes.Contains(r, clientCert.NetworkPK[:64]) || bytes.Contains(r, clientCert.NodeID[:]) {
			t.Fatalf("record %d carries the client's identity in clear", i)
		}
	}
}

func TestChainAndValidity(t *testing.T) {
	t.Run("client on another chain", func(t *testing.T) {
		cfg := testConfig(0)
		cfg.Network = crypto.TestNet
		k := identities()[0]
		cert, err := types.NewNodeCert(crypto.TestNet, k.key, k.kem.EncapsulationKey(), testNow.Add(-time.Hour), testNow.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		cfg.Cert = cert
		c, _ := NewClient(cfg, identities()[1].cert.NodeID)
		s, _ := NewServer(testConfig(1))
		_, _, serr := pump(t, c, s, nil)
		if !errors.Is(serr, ErrChainMismatch) {
			t.Fatalf("got %v", serr)
		}
	})
	t.Run("server cert for another chain", func(t *testing.T) {
		k := identities()[1]
		cert, err := types.NewNodeCert(crypto.TestNet, k.key, k.kem.EncapsulationKey(), testNow.Add(-time.Hour), testNow.Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
		scfg := testConfig(1)
		scfg.Cert = cert // server speaks DevNet but holds a TestNet cert
		c, _ := NewClient(testConfig(0), k.cert.NodeID)
		s, _ := NewServer(scfg)
		_, cerr, _ := pump(t, c, s, nil)
		if !errors.Is(cerr, ErrChainMismatch) {
			t.Fatalf("got %v", cerr)
		}
	})
	for _, tc := range []struct {
		name string
		now  time.Time
		want error
	}{
		{"expired", testNow.Add(2 * time.Hour), types.ErrNodeCertExpired},
		{"not yet valid", testNow.Add(-2 * time.Hour), types.ErrNodeCertNotYet},
	} {
		t.Run("server cert "+tc.name, func(t *testing.T) {
			ccfg := testConfig(0)
			ccfg.Now = func() time.Time { return tc.now }
			c, _ := NewClient(ccfg, identities()[1].cert.NodeID)
			s, _ := NewServer(testConfig(1))
			_, cerr, _ := pump(t, c, s, nil)
			if !errors.Is(cerr, ErrPeerCert) || !errors.Is(cerr, tc.want) {
				t.Fatalf("got %v", cerr)
			}
		})
		t.Run("client cert "+tc.name, func(t *testing.T) {
			scfg := testConfig(1)
			scfg.Now = func() time.Time { return tc.now }
			c, _ := NewClient(testConfig(0), identities()[1].cert.NodeID)
			s, _ := NewServer(scfg)
			_, cerr, serr := pump(t, c, s, nil)
			// The client's view of the server cert uses its own clock (valid);
			// the server refuses the client's.
			if cerr != nil || !errors.Is(serr, ErrPeerCert) || !errors.Is(serr, tc.want) {
				t.Fatalf("client %v, server %v", cerr, serr)
			}
		})
	}
}

func TestAuthorize(t *testing.T) {
	refuse := errors.New("not a validator")
	scfg := testConfig(1)
	var seen crypto.Hash
	scfg.Authorize = func(c *types.NodeCert) error { seen = c.NodeID; return refuse }
	c, _ := NewClient(testConfig(0), identities()[1].cert.NodeID)
	s, _ := NewServer(scfg)
	_, _, serr := pump(t, c, s, nil)
	if !errors.Is(serr, ErrUnauthorized) || !errors.Is(serr, refuse) || seen != identities()[0].cert.NodeID {
		t.Fatalf("got %v", serr)
	}
}

func TestSelfConnect(t *testing.T) {
	c, _ := NewClient(testConfig(1), identities()[1].cert.NodeID)
	s, _ := NewServer(testConfig(1))
	_, cerr, _ := pump(t, c, s, nil)
	if !errors.Is(cerr, ErrSelfConnect) {
		t.Fatalf("got %v", cerr)
	}
}

// TestSuiteAndVersionDowngrade: a MITM that rewrites the hellos and fixes up
// the lengths (unlike TestTamperAnyByte).
func TestSuiteAndVersionDowngrade(t *testing.T) {
	legacy := Suite{KEM: 1, Sig: 1, AEAD: 1}
	t.Run("server picks a suite the client did not offer", func(t *testing.T) {
		c, s := newPair(t, 0, 1)
		_, cerr, _ := pump(t, c, s, func(i int, r []byte) []byte {
			if i != 1 {
				return r
			}
			sh, _ := DecodeServerHello(r[5:])
			sh.Suite = legacy
			return makeRecord(MsgServerHello, sh.Encode())
		})
		if !errors.Is(cerr, ErrSuiteNotOffered) {
			t.Fatalf("got %v", cerr)
		}
	})
	t.Run("MITM edits the offered suites", func(t *testing.T) {
		c, s := newPair(t, 0, 1)
		_, cerr, serr := pump(t, c, s, func(i int, r []byte) []byte {
			if i != 0 {
				return r
			}
			ch, _ := DecodeClientHello(r[5:])
			ch.Suites = append([]Suite{legacy}, ch.Suites...)
			return makeRecord(MsgClientHello, ch.Encode())
		})
		// The server accepts the hello (it still chooses SuiteV1), but the
		// transcripts differ, so the client cannot open ServerCert.
		if serr != nil || !errors.Is(cerr, ErrDecrypt) {
			t.Fatalf("client %v, server %v", cerr, serr)
		}
	})
	t.Run("MITM offers only a legacy suite", func(t *testing.T) {
		c, s := newPair(t, 0, 1)
		_, _, serr := pump(t, c, s, func(i int, r []byte) []byte {
			if i != 0 {
				return r
			}
			ch, _ := DecodeClientHello(r[5:])
			ch.Suites = []Suite{legacy}
			return makeRecord(MsgClientHello, ch.Encode())
		})
		if !errors.Is(serr, ErrNoCommonSuite) {
			t.Fatalf("got %v", serr)
		}
	})
	for _, idx := range []int{0, 1} {
		t.Run(fmt.Sprintf("version rewritten in record %d", idx), func(t *testing.T) {
			c, s := newPair(t, 0, 1)
			_, cerr, serr := pump(t, c, s, func(i int, r []byte) []byte {
				if i == idx {
					r[5] = 0 // version u16 LE: 1 → 0
				}
				return r
			})
			if !errors.Is(cerr, ErrVersion) && !errors.Is(serr, ErrVersion) {
				t.Fatalf("client %v, server %v", cerr, serr)
			}
		})
	}
}

func TestOutOfOrderRecords(t *testing.T) {
	c, s := newPair(t, 0, 1)
	ref, _, _ := pump(t, c, s, nil)
	c2, s2 := newPair(t, 0, 1)
	if _, err := s2.Next(ref.recs[3]); !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("server: %v", err)
	}
	if _, err := s2.Next(ref.recs[0]); err == nil {
		t.Fatal("failed handshake accepted more input")
	}
	if _, err := c2.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Next(ref.recs[2]); !errors.Is(err, ErrUnexpectedMessage) {
		t.Fatalf("client: %v", err)
	}
	// Replaying a whole old server flight to a new client fails: its ServerHello
	// encapsulated to another ephemeral key.
	c3, _ := NewClient(testConfig(0), identities()[1].cert.NodeID)
	if _, err := c3.Start(); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Next(ref.recs[1]); err != nil {
		t.Fatal(err)
	}
	if _, err := c3.Next(ref.recs[2]); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("replayed ServerCert: %v", err)
	}
}

func TestConfigCheck(t *testing.T) {
	cfg := testConfig(0)
	cfg.KEMKey = identities()[1].kem
	if _, err := NewClient(cfg, crypto.Hash{}); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
	if _, err := NewServer(&Config{}); !errors.Is(err, ErrConfig) {
		t.Fatal(err)
	}
}
