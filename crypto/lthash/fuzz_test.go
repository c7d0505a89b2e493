package lthash

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzFromBytes: the decoder of the persisted set hash accepts exactly the
// 2048-byte inputs, round-trips them byte for byte, and rejects everything
// else with ErrSize and a zero value, without panicking.
func FuzzFromBytes(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, Size))
	f.Add(make([]byte, Size-1))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := FromBytes(b)
		if len(b) != Size {
			if !errors.Is(err, ErrSize) || !h.IsZero() {
				t.Fatalf("len %d: err %v", len(b), err)
			}
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(h.Bytes(), b) {
			t.Fatal("round trip changed the bytes")
		}
		g := h
		g.Sub(&h)
		if !g.IsZero() {
			t.Fatal("h - h != 0")
		}
	})
}
