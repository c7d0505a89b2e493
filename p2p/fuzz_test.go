package p2p

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/qbind/qbind/types"
)

func FuzzDecodeEnvelope(f *testing.F) {
	f.Add(Encode(MsgPing, EncodeNonce(7)))
	f.Add(Encode(MsgVote, []byte("vote")))
	f.Add([]byte{0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		ty, body, err := DecodeEnvelope(in)
		if err != nil {
			return
		}
		if !bytes.Equal(Encode(ty, body), in) || !ty.Known() {
			t.Fatal("envelope round trip")
		}
	})
}

func FuzzDecodePeers(f *testing.F) {
	f.Add(EncodePeers([]*types.NodeRecord{testRecord(f, testKeys()[1], 1, "127.0.1.1:5")}))
	f.Add(EncodePeers(nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		recs, err := DecodePeers(in)
		if err != nil {
			return
		}
		if !bytes.Equal(EncodePeers(recs), in) {
			t.Fatal("peers round trip")
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz (only with
// QBIND_WRITE_FUZZ_SEEDS=1, because it writes files).
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("QBIND_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("writes testdata/fuzz; set QBIND_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpora")
	}
	peers := EncodePeers([]*types.NodeRecord{testRecord(t, testKeys()[1], 1, "127.0.1.1:5"), testRecord(t, testKeys()[2], 9, "[::1]:7")})
	seeds := map[string][][]byte{
		"FuzzDecodeEnvelope": {Encode(MsgPing, EncodeNonce(7)), Encode(MsgBatch, []byte("b")), Encode(MsgGoodbye, []byte{3}), {0xff}, {}},
		"FuzzDecodePeers":    {peers, peers[:50], EncodePeers(nil)},
	}
	for target, list := range seeds {
		dir := filepath.Join("testdata", "fuzz", target)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for i, b := range list {
			s := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
			if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(i)), []byte(s), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
