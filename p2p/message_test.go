package p2p

import (
	"bytes"
	"crypto/sha3"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/p2p/kemtls"
	"github.com/qbind/qbind/types"
)

// testKeys are deterministic network and KEM keys, index i for node i.
var testKeys = sync.OnceValue(func() []*crypto.PrivateKey {
	ks := make([]*crypto.PrivateKey, 16)
	for i := range ks {
		k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, bytes.Repeat([]byte{byte(0x30 + i)}, 32))
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

var testKEMKeys = sync.OnceValue(func() []*crypto.KEMPrivateKey {
	ks := make([]*crypto.KEMPrivateKey, 16)
	for i := range ks {
		seed := sha3.Sum512([]byte{byte(i)})
		k, err := crypto.NewKEMKeyFromSeed(seed[:])
		if err != nil {
			panic(err)
		}
		ks[i] = k
	}
	return ks
})

func testRecord(t testing.TB, k *crypto.PrivateKey, seq uint64, addrs ...string) *types.NodeRecord {
	t.Helper()
	r, err := types.NewNodeRecord(crypto.DevNet, k, addrs, seq, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestEnvelope(t *testing.T) {
	for ty, info := range typeTable {
		enc := Encode(ty, []byte("x")[:min(1, info.maxBody)])
		got, body, err := DecodeEnvelope(enc)
		if err != nil || got != ty || len(body) != min(1, info.maxBody) {
			t.Fatalf("%v: %v", ty, err)
		}
	}
	if _, _, err := DecodeEnvelope(nil); !errors.Is(err, ErrEmptyMessage) {
		t.Fatal(err)
	}
	if _, _, err := DecodeEnvelope([]byte{0xff}); !errors.Is(err, ErrUnknownMessage) {
		t.Fatal(err)
	}
	if _, _, err := DecodeEnvelope(Encode(MsgPing, make([]byte, 9))); !errors.Is(err, ErrMessageTooBig) {
		t.Fatal(err)
	}
	if MsgVote.Class() != ClassConsensus || MsgBatch.Class() != ClassBatch || MsgSyncResponse.Class() != ClassSync || MsgPing.Class() != ClassControl {
		t.Fatal("classes")
	}
}

func TestPeersMessage(t *testing.T) {
	recs := []*types.NodeRecord{testRecord(t, testKeys()[1], 1, "127.0.1.1:5"), testRecord(t, testKeys()[2], 2, "127.0.2.1:5")}
	got, err := DecodePeers(EncodePeers(recs))
	if err != nil || len(got) != 2 || got[1].Seq != 2 {
		t.Fatal(err)
	}
	many := make([]*types.NodeRecord, MaxPeersPerMessage+1)
	for i := range many {
		many[i] = recs[0]
	}
	if _, err := DecodePeers(EncodePeers(many)); !errors.Is(err, ErrMessageDecode) {
		t.Fatal("101 records accepted")
	}
	if n, err := DecodeNonce(EncodeNonce(42)); n != 42 || err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeNonce([]byte{1}); err == nil {
		t.Fatal("short nonce")
	}
	if r, err := DecodeGoodbye([]byte{byte(ByeSubnetFull)}); err != nil || r != ByeSubnetFull {
		t.Fatal(err)
	}
	if _, err := DecodeGoodbye([]byte{0}); err == nil {
		t.Fatal("reason 0")
	}
}

func TestParsePeerAddr(t *testing.T) {
	id := crypto.Sum([]byte("x"))
	p, err := ParsePeerAddr(id.String() + "@127.0.1.1:9000")
	if err != nil || p.ID != id || p.Addr != "127.0.1.1:9000" {
		t.Fatal(err)
	}
	if q, _ := ParsePeerAddr(p.String()); q != p {
		t.Fatal("round trip")
	}
	for _, bad := range []string{"127.0.0.1:1", "zz@127.0.0.1:1", id.String() + "@nohost"} {
		if _, err := ParsePeerAddr(bad); !errors.Is(err, ErrPeerAddr) {
			t.Fatalf("%q accepted", bad)
		}
	}
}

// A proposal may be as large as types.MaxProposalBytes (what consensus
// decodes and genesis MAX_PAYLOAD_BYTES is bounded by), and one of that size
// fits a frame with its envelope. Other consensus bodies keep 4 MiB.
func TestProposalCapMatchesTypes(t *testing.T) {
	if err := CheckBody(MsgProposal, types.MaxProposalBytes); err != nil {
		t.Fatalf("largest decodable proposal refused: %v", err)
	}
	if err := CheckBody(MsgProposal, types.MaxProposalBytes+1); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("proposal over types.MaxProposalBytes: %v", err)
	}
	if 1+types.MaxProposalBytes > kemtls.MaxPayloadSize {
		t.Fatal("largest proposal does not fit a frame")
	}
	if err := CheckBody(MsgVote, MaxConsensusBody+1); !errors.Is(err, ErrMessageTooBig) {
		t.Fatalf("vote over 4 MiB: %v", err)
	}
}
