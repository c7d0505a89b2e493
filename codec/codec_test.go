package codec

import (
	"bytes"
	"errors"
	"testing"

	"pgregory.net/rapid"
)

type sample struct {
	a   uint8
	b   uint16
	c   uint32
	d   uint64
	e   uint64
	f   bool
	g   []byte
	fix [5]byte
	opt *uint32
	lst [][]byte
}

func (s *sample) encode() []byte {
	w := NewWriter(0)
	w.U8(s.a)
	w.U16(s.b)
	w.U32(s.c)
	w.U64(s.d)
	w.U64BE(s.e)
	w.Bool(s.f)
	w.VarBytes(s.g)
	w.Fixed(s.fix[:])
	w.Bool(s.opt != nil)
	if s.opt != nil {
		w.U32BE(*s.opt)
	}
	w.Count(len(s.lst))
	for _, x := range s.lst {
		w.VarBytes(x)
	}
	return w.Bytes()
}

func decodeSample(b []byte) (*sample, error) {
	r := NewReader(b)
	s := &sample{a: r.U8(), b: r.U16(), c: r.U32(), d: r.U64(), e: r.U64BE(), f: r.Bool()}
	s.g = bytes.Clone(r.VarBytes(64))
	r.FixedInto(s.fix[:])
	if r.Option() {
		v := r.U32BE()
		s.opt = &v
	}
	n := r.Count(8, 4)
	for range n {
		s.lst = append(s.lst, bytes.Clone(r.VarBytes(16)))
	}
	return s, r.Done()
}

func genSample(t *rapid.T) *sample {
	s := &sample{
		a: rapid.Uint8().Draw(t, "a"), b: rapid.Uint16().Draw(t, "b"), c: rapid.Uint32().Draw(t, "c"),
		d: rapid.Uint64().Draw(t, "d"), e: rapid.Uint64().Draw(t, "e"), f: rapid.Bool().Draw(t, "f"),
		g: rapid.SliceOfN(rapid.Byte(), 0, 64).Draw(t, "g"),
	}
	copy(s.fix[:], rapid.SliceOfN(rapid.Byte(), 5, 5).Draw(t, "fix"))
	if rapid.Bool().Draw(t, "hasopt") {
		v := rapid.Uint32().Draw(t, "opt")
		s.opt = &v
	}
	s.lst = rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 16), 0, 8).Draw(t, "lst")
	return s
}

func TestRoundTrip(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		s := genSample(t)
		enc := s.encode()
		got, err := decodeSample(enc)
		if err != nil {
			t.Fatalf("decode: %v", err)
		}
		if !bytes.Equal(got.encode(), enc) {
			t.Fatalf("re-encoding differs")
		}
		// Every strict prefix is rejected as short, and an extra byte as trailing.
		cut := rapid.IntRange(0, len(enc)-1).Draw(t, "cut")
		if _, err := decodeSample(enc[:cut]); !errors.Is(err, ErrShort) && !errors.Is(err, ErrTooLong) {
			t.Fatalf("prefix of %d/%d bytes: err = %v", cut, len(enc), err)
		}
		if _, err := decodeSample(append(enc, 0)); !errors.Is(err, ErrTrailing) {
			t.Fatalf("trailing byte: err = %v", err)
		}
	})
}

func TestStrictness(t *testing.T) {
	// Bool must be 0 or 1.
	if r := NewReader([]byte{2}); r.Bool() || !errors.Is(r.Done(), ErrBadOption) {
		t.Fatal("bool 2 accepted")
	}
	// Byte string longer than its cap, before reading the data.
	w := NewWriter(0)
	w.U32(1 << 30)
	if r := NewReader(w.Bytes()); r.VarBytes(100) != nil || !errors.Is(r.Err(), ErrTooLong) {
		t.Fatal("oversized byte string accepted")
	}
	// Count that cannot fit in the remaining input is refused before allocation.
	w = NewWriter(0)
	w.U32(1000)
	w.Fixed(make([]byte, 10))
	if r := NewReader(w.Bytes()); r.Count(10000, 4) != 0 || !errors.Is(r.Err(), ErrShort) {
		t.Fatal("count beyond input accepted")
	}
	// Sticky errors: a failed read makes later reads zero and keeps the first cause.
	r := NewReader([]byte{1})
	_ = r.U64()
	if r.U8() != 0 || !errors.Is(r.Err(), ErrShort) {
		t.Fatal("error not sticky")
	}
}

func FuzzDecode(f *testing.F) {
	v := uint32(7)
	f.Add((&sample{g: []byte("x"), opt: &v, lst: [][]byte{{1}}}).encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSample(b)
		if err != nil {
			return
		}
		if !bytes.Equal(s.encode(), b) {
			t.Fatalf("accepted non-canonical input %x", b)
		}
	})
}
