package kemtls

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// Seeds for every target live in testdata/fuzz/<Target>/ (regenerate with
// QBIND_WRITE_FUZZ_SEEDS=1 go test -run TestWriteFuzzSeeds); the f.Add calls
// add a fresh handshake's records on top.

var refRecords = func() func(testing.TB) [][]byte {
	var recs [][]byte
	return func(t testing.TB) [][]byte {
		if recs == nil {
			c, s := newPair(t, 0, 1)
			log, cerr, serr := pump(t, c, s, nil)
			if cerr != nil || serr != nil {
				t.Fatal(cerr, serr)
			}
			recs = log.recs
		}
		return recs
	}
}()

func FuzzParseRecord(f *testing.F) {
	for _, r := range refRecords(f) {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		r, err := ParseRecord(in)
		if err != nil {
			return
		}
		if !bytes.Equal(append(bytes.Clone(r.Header), r.Body...), in) {
			t.Fatal("record split lost bytes")
		}
		if n := bodySize(r.Type); n >= 0 && len(r.Body) != n {
			t.Fatal("size not enforced")
		}
	})
}

func FuzzDecodeClientHello(f *testing.F) {
	f.Add(refRecords(f)[0][5:])
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeClientHello(in)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Encode(), in) {
			t.Fatal("not canonical")
		}
	})
}

func FuzzDecodeServerHello(f *testing.F) {
	f.Add(refRecords(f)[1][5:])
	f.Fuzz(func(t *testing.T, in []byte) {
		m, err := DecodeServerHello(in)
		if err != nil {
			return
		}
		if !bytes.Equal(m.Encode(), in) {
			t.Fatal("not canonical")
		}
	})
}

// splitRecords cuts fuzz input into records using their length fields.
func splitRecords(in []byte) [][]byte {
	var out [][]byte
	for len(in) >= 4 && len(out) < 8 {
		n := int(binary.BigEndian.Uint32(in))
		if n > len(in)-4 {
			n = len(in) - 4
		}
		out = append(out, in[:4+n])
		in = in[4+n:]
	}
	return out
}

// FuzzServerHandshake feeds arbitrary client records to a server: it must
// fail cleanly (never panic, never complete without a valid client).
func FuzzServerHandshake(f *testing.F) {
	recs := refRecords(f)
	f.Add(bytes.Join([][]byte{recs[0], recs[3], recs[4], recs[6]}, nil))
	f.Add(recs[0])
	f.Fuzz(func(t *testing.T, in []byte) {
		s, _ := NewServer(testConfig(1))
		for _, r := range splitRecords(in) {
			if _, err := s.Next(r); err != nil {
				return
			}
		}
		if s.Done() {
			t.Fatal("server completed a handshake with fuzz input")
		}
	})
}

// FuzzClientHandshake feeds arbitrary server records to a client that sent
// a fresh ClientHello.
func FuzzClientHandshake(f *testing.F) {
	recs := refRecords(f)
	f.Add(bytes.Join([][]byte{recs[1], recs[2], recs[5], recs[7]}, nil))
	f.Fuzz(func(t *testing.T, in []byte) {
		c, _ := NewClient(testConfig(0), identities()[1].cert.NodeID)
		if _, err := c.Start(); err != nil {
			t.Fatal(err)
		}
		for _, r := range splitRecords(in) {
			if _, err := c.Next(r); err != nil {
				return
			}
		}
		if c.Done() {
			t.Fatal("client completed a handshake with fuzz input")
		}
	})
}

// FuzzFrameReader reads frames under a fixed key: arbitrary streams must
// yield errors, never panics or oversized allocations; frames sealed under
// the key and then mutated must not authenticate.
func FuzzFrameReader(f *testing.F) {
	w := NewFrameWriter(nil, frameKey, 0)
	var stream []byte
	for _, p := range []string{"hello", "", "world"} {
		fr, _ := w.SealFrame([]byte(p))
		stream = append(stream, fr...)
	}
	f.Add(stream, uint64(0))
	f.Add(stream, uint64(2))
	f.Fuzz(func(t *testing.T, in []byte, interval uint64) {
		r := NewFrameReader(bytes.NewReader(in), frameKey, interval%8)
		for range 64 {
			if _, err := r.ReadFrame(); err != nil {
				return
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz. It writes files, so it only
// runs with QBIND_WRITE_FUZZ_SEEDS=1.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("QBIND_WRITE_FUZZ_SEEDS") != "1" {
		t.Skip("writes testdata/fuzz; set QBIND_WRITE_FUZZ_SEEDS=1 to regenerate the seed corpora")
	}
	recs := refRecords(t)
	w := NewFrameWriter(nil, frameKey, 0)
	var stream []byte
	for _, p := range []string{"hello", "", "world"} {
		fr, _ := w.SealFrame([]byte(p))
		stream = append(stream, fr...)
	}
	seeds := map[string][][]byte{
		"FuzzParseRecord":       {recs[0], recs[1], recs[2], recs[6], recs[0][:4], {0, 0, 0, 1, 9}},
		"FuzzDecodeClientHello": {recs[0][5:], recs[0][5:100]},
		"FuzzDecodeServerHello": {recs[1][5:], recs[1][5:40]},
		"FuzzServerHandshake":   {bytes.Join([][]byte{recs[0], recs[3], recs[4], recs[6]}, nil), recs[0]},
		"FuzzClientHandshake":   {bytes.Join([][]byte{recs[1], recs[2], recs[5], recs[7]}, nil), recs[1]},
	}
	for target, list := range seeds {
		for i, b := range list {
			writeSeed(t, target, strconv.Itoa(i), "[]byte("+strconv.Quote(string(b))+")\n")
		}
	}
	writeSeed(t, "FuzzFrameReader", "0", "[]byte("+strconv.Quote(string(stream))+")\nuint64(0)\n")
	writeSeed(t, "FuzzFrameReader", "1", "[]byte("+strconv.Quote(string(stream[:30]))+")\nuint64(1)\n")
	writeSeed(t, "FuzzFrameReader", "2", "[]byte(\"\\x00\\x80\\x00\\x01\")\nuint64(0)\n")
}

func writeSeed(t *testing.T, target, name, body string) {
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("go test fuzz v1\n"+body), 0o644); err != nil {
		t.Fatal(err)
	}
}
