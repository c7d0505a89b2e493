package types

import (
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/qbind/qbind/crypto"
)

// Seeds live in testdata/fuzz/FuzzDecodeNode*/ (a valid cert and record and a
// few broken ones); f.Add adds freshly signed ones.

func FuzzDecodeNodeCert(f *testing.F) {
	f.Add(testNodeCert(f, crypto.DevNet, 0).Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		c, err := DecodeNodeCert(in)
		if err != nil {
			return
		}
		if !bytes.Equal(c.Encode(), in) {
			t.Fatal("decode/encode is not the identity")
		}
		_ = c.Verify(crypto.DevNet, nodeTestNow, nil) // must not panic
	})
}

func FuzzDecodeNodeRecord(f *testing.F) {
	f.Add(testNodeRecord(f, crypto.DevNet, 0, "127.0.1.1:7000", "[::1]:7000").Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		rec, err := DecodeNodeRecord(in)
		if err != nil {
			return
		}
		if !bytes.Equal(rec.Encode(), in) {
			t.Fatal("decode/encode is not the identity")
		}
		for _, a := range rec.Addrs {
			if CheckNodeAddr(a) != nil {
				t.Fatalf("decoded a bad address %q", a)
			}
		}
		_ = rec.Verify(crypto.DevNet, nodeTestNow, nil)
	})
}

// TestWriteNodeFuzzSeeds regenerates the checked-in seed corpora. It only runs
// with QBIND_WRITE_FUZZ_SEEDS=1 because it writes into testdata/.
func TestWriteNodeFuzzSeeds(t *testing.T) {
	if os.Getenv("QBIND_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("writes testdata/fuzz; set QBIND_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpora")
	}
	cert := testNodeCert(t, crypto.DevNet, 0).Encode()
	rec := testNodeRecord(t, crypto.DevNet, 1, "127.0.1.1:7000", "[::1]:7001", "seed.example.org:26656").Encode()
	recNoAddr := testNodeRecord(t, crypto.TestNet, 2).Encode()
	writeFuzzSeeds(t, "FuzzDecodeNodeCert", map[string][]byte{
		"valid":     cert,
		"truncated": cert[:len(cert)-1],
		"empty":     {},
	})
	nine := bytes.Clone(rec)
	nine[32] = 9
	writeFuzzSeeds(t, "FuzzDecodeNodeRecord", map[string][]byte{
		"valid":        rec,
		"valid-noaddr": recNoAddr,
		"nine-addrs":   nine,
		"truncated":    rec[:100],
	})
}

func writeFuzzSeeds(t *testing.T, target string, seeds map[string][]byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, b := range seeds {
		s := "go test fuzz v1\n[]byte(" + strconv.Quote(string(b)) + ")\n"
		if err := os.WriteFile(filepath.Join(dir, name), []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
