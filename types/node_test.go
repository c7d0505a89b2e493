package types

import (
	"bytes"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/qbind/qbind/crypto"
)

var nodeTestNow = time.Unix(1_800_000_000, 0)

// nodeTestKeys are deterministic network keys and static KEM keys.
var nodeTestKeys = sync.OnceValues(func() ([]*crypto.PrivateKey, []*crypto.KEMPrivateKey) {
	sks := make([]*crypto.PrivateKey, 3)
	kems := make([]*crypto.KEMPrivateKey, 3)
	for i := range sks {
		seed := bytes.Repeat([]byte{byte(0x40 + i)}, 32)
		k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
		if err != nil {
			panic(err)
		}
		sks[i] = k
		kk, err := crypto.NewKEMKeyFromSeed(bytes.Repeat([]byte{byte(0x80 + i)}, 64))
		if err != nil {
			panic(err)
		}
		kems[i] = kk
	}
	return sks, kems
})

func testNodeCert(t testing.TB, n crypto.Network, i int) *NodeCert {
	t.Helper()
	sks, kems := nodeTestKeys()
	c, err := NewNodeCert(n, sks[i], kems[i].EncapsulationKey(), nodeTestNow.Add(-time.Hour), nodeTestNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func testNodeRecord(t testing.TB, n crypto.Network, i int, addrs ...string) *NodeRecord {
	t.Helper()
	sks, _ := nodeTestKeys()
	rec, err := NewNodeRecord(n, sks[i], addrs, 7, nodeTestNow.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return rec
}

func TestNodeCertRoundTrip(t *testing.T) {
	c := testNodeCert(t, crypto.DevNet, 0)
	enc := c.Encode()
	if len(enc) != NodeCertSize {
		t.Fatalf("size %d, want %d", len(enc), NodeCertSize)
	}
	d, err := DecodeNodeCert(enc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(d.Encode(), enc) {
		t.Fatal("re-encoding differs")
	}
	if err := d.Verify(crypto.DevNet, nodeTestNow, nil); err != nil {
		t.Fatal(err)
	}
	if err := d.Verify(crypto.DevNet, nodeTestNow, crypto.NewKeyCache(4)); err != nil {
		t.Fatal(err)
	}
}

func TestNodeCertDecodeStrict(t *testing.T) {
	enc := testNodeCert(t, crypto.DevNet, 0).Encode()
	for _, in := range [][]byte{nil, enc[:len(enc)-1], append(append([]byte(nil), enc...), 0)} {
		if _, err := DecodeNodeCert(in); !errors.Is(err, ErrNodeCertDecode) {
			t.Fatalf("len %d: %v", len(in), err)
		}
	}
}

func TestNodeCertVerifyRejects(t *testing.T) {
	sks, kems := nodeTestKeys()
	good := testNodeCert(t, crypto.DevNet, 0)
	cases := []struct {
		name string
		mut  func(c *NodeCert)
		net  crypto.Network
		now  time.Time
		want error
	}{
		{"other network (signature scope and chain id)", func(*NodeCert) {}, crypto.TestNet, nodeTestNow, ErrNodeCertChain},
		{"not yet valid", func(*NodeCert) {}, crypto.DevNet, nodeTestNow.Add(-2 * time.Hour), ErrNodeCertNotYet},
		{"expired", func(*NodeCert) {}, crypto.DevNet, nodeTestNow.Add(2 * time.Hour), ErrNodeCertExpired},
		{"node id of another key", func(c *NodeCert) { c.NodeID = crypto.NodeID(sks[1].Public().Bytes()) }, crypto.DevNet, nodeTestNow, ErrNodeIDMismatch},
		{"another node's KEM key", func(c *NodeCert) { c.KEMEK = kems[1].EncapsulationKey() }, crypto.DevNet, nodeTestNow, ErrBadNodeCertSig},
		{"window edited", func(c *NodeCert) { c.NotAfter++ }, crypto.DevNet, nodeTestNow, ErrBadNodeCertSig},
		{"empty window", func(c *NodeCert) { c.NotBefore, c.NotAfter = c.NotAfter, c.NotBefore }, crypto.DevNet, nodeTestNow, ErrNodeCertWindow},
		{"chain id edited", func(c *NodeCert) { c.ChainID = crypto.ChainIDMainNet }, crypto.MainNet, nodeTestNow, ErrBadNodeCertSig},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := DecodeNodeCert(good.Encode())
			if err != nil {
				t.Fatal(err)
			}
			c.NetworkPK = bytes.Clone(c.NetworkPK)
			tc.mut(c)
			if err := c.Verify(tc.net, tc.now, nil); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// Validity bounds are inclusive.
	if err := good.Verify(crypto.DevNet, time.Unix(int64(good.NotAfter), 0), nil); err != nil {
		t.Fatal(err)
	}
	if err := good.Verify(crypto.DevNet, time.Unix(int64(good.NotBefore), 0), nil); err != nil {
		t.Fatal(err)
	}
}

// A certificate signed for another network does not verify even when its
// chain id field is rewritten to match: the tag scopes the signature.
func TestNodeCertOtherNetwork(t *testing.T) {
	c := testNodeCert(t, crypto.TestNet, 1)
	if err := c.Verify(crypto.MainNet, nodeTestNow, nil); !errors.Is(err, ErrNodeCertChain) {
		t.Fatalf("got %v", err)
	}
	c.ChainID = crypto.ChainIDMainNet
	if err := c.Verify(crypto.MainNet, nodeTestNow, nil); !errors.Is(err, ErrBadNodeCertSig) {
		t.Fatalf("got %v", err)
	}
}

func TestNodeRecordRoundTrip(t *testing.T) {
	for _, addrs := range [][]string{nil, {"127.0.1.1:26656"}, {"[::1]:1", "node.example.org:65535", "10.0.0.1:9000"}} {
		rec := testNodeRecord(t, crypto.DevNet, 2, addrs...)
		enc := rec.Encode()
		d, err := DecodeNodeRecord(enc)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(d.Encode(), enc) {
			t.Fatal("re-encoding differs")
		}
		if len(d.Addrs) != len(addrs) {
			t.Fatalf("addrs %v", d.Addrs)
		}
		if err := d.Verify(crypto.DevNet, nodeTestNow, nil); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNodeRecordRejects(t *testing.T) {
	sks, _ := nodeTestKeys()
	rec := testNodeRecord(t, crypto.DevNet, 0, "127.0.1.1:7000")
	if err := rec.Verify(crypto.TestNet, nodeTestNow, nil); !errors.Is(err, ErrBadNodeRecordSig) {
		t.Fatalf("other network: %v", err)
	}
	if err := rec.Verify(crypto.DevNet, nodeTestNow.Add(2*time.Hour), nil); !errors.Is(err, ErrNodeRecordExpired) {
		t.Fatalf("expired: %v", err)
	}
	c := *rec
	c.Seq++
	if err := c.Verify(crypto.DevNet, nodeTestNow, nil); !errors.Is(err, ErrBadNodeRecordSig) {
		t.Fatalf("seq edited: %v", err)
	}
	c = *rec
	c.Addrs = []string{"127.0.6.6:7000"}
	if err := c.Verify(crypto.DevNet, nodeTestNow, nil); !errors.Is(err, ErrBadNodeRecordSig) {
		t.Fatalf("addr edited: %v", err)
	}
	c = *rec
	c.NetworkPK = sks[1].Public().Bytes()
	if err := c.Verify(crypto.DevNet, nodeTestNow, nil); !errors.Is(err, ErrNodeIDMismatch) {
		t.Fatalf("key swapped: %v", err)
	}
	for _, bad := range []string{"", "nohost", ":80", "h:0", "h:65536", "h:080", "h:x", "a b:1", string(bytes.Repeat([]byte{'a'}, 127)) + ":1"} {
		if err := CheckNodeAddr(bad); !errors.Is(err, ErrNodeAddr) {
			t.Errorf("%q accepted", bad)
		}
		if _, err := NewNodeRecord(crypto.DevNet, sks[0], []string{bad}, 1, nodeTestNow); !errors.Is(err, ErrNodeAddr) {
			t.Errorf("%q: NewNodeRecord %v", bad, err)
		}
	}
	if _, err := NewNodeRecord(crypto.DevNet, sks[0], make([]string, MaxNodeAddrs+1), 1, nodeTestNow); !errors.Is(err, ErrNodeAddr) {
		t.Fatal("9 addresses accepted")
	}
}

func TestNodeRecordDecodeStrict(t *testing.T) {
	enc := testNodeRecord(t, crypto.DevNet, 0, "127.0.1.1:7000").Encode()
	bad := [][]byte{nil, enc[:len(enc)-1], append(bytes.Clone(enc), 0)}
	// a count of 9 addresses
	nine := bytes.Clone(enc)
	nine[32] = 9
	bad = append(bad, nine)
	// an address that is not host:port ("127.0.1.1:7000" → "127.0.1.1x7000")
	colon := bytes.Clone(enc)
	colon[32+4+4+9] = 'x'
	bad = append(bad, colon)
	// an address length over the cap
	long := bytes.Clone(enc)
	long[32+4] = 129
	bad = append(bad, long)
	for i, in := range bad {
		if _, err := DecodeNodeRecord(in); !errors.Is(err, ErrNodeRecordDecode) {
			t.Errorf("case %d: %v", i, err)
		}
	}
}
