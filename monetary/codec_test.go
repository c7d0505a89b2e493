package monetary

import (
	"bytes"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/u128"
)

var goldenState = EpochState{
	Started:        true,
	Epoch:          0x0102030405060708,
	Phase:          PhaseTransition,
	EMAFees:        u128.U128{Hi: 1, Lo: 2},
	RInfBps:        775,
	FeeCoverageBps: 0x1122334455667788,
	StakeRatioBps:  3000,
	Issuance:       u128.From64(475),
}

// goldenHex is goldenState's encoding written out field by field.
var goldenHex = strings.Join([]string{
	"01",                                    // format 1
	"01",                                    // started
	"0807060504030201",                      // epoch u64 LE
	"01",                                    // phase transition
	"0200000000000000" + "0100000000000000", // ema_fees u128 LE: Lo = 2 then Hi = 1
	"07030000",                              // r_inf_bps 775 = 0x0307
	"8877665544332211",                      // fee_coverage_bps
	"b80b0000",                              // stake_ratio_bps 3000 = 0x0bb8
	"db01000000000000" + "0000000000000000", // issuance 475 = 0x01db
}, "")

func TestEncodeGolden(t *testing.T) {
	got := goldenState.Encode()
	if hex.EncodeToString(got) != goldenHex {
		t.Fatalf("encoding\n got %x\nwant %s", got, goldenHex)
	}
	if len(got) != EncodedStateSize {
		t.Fatalf("size %d", len(got))
	}
	back, err := DecodeEpochState(got)
	if err != nil || back != goldenState {
		t.Fatalf("decode: %+v %v", back, err)
	}
	g, err := DecodeEpochState(GenesisState().Encode())
	if err != nil || g != GenesisState() {
		t.Fatalf("genesis round trip: %+v %v", g, err)
	}
}

func TestDecodeRejects(t *testing.T) {
	golden, _ := hex.DecodeString(goldenHex)
	with := func(off int, b byte) []byte {
		c := bytes.Clone(golden)
		c[off] = b
		return c
	}
	early := bytes.Clone(golden) // epoch 0 in phase transition
	copy(early[2:10], make([]byte, 8))
	cases := []struct {
		name  string
		in    []byte
		cause error
	}{
		{"empty", nil, codec.ErrShort},
		{"one byte short", golden[:EncodedStateSize-1], codec.ErrShort},
		{"trailing byte", append(bytes.Clone(golden), 0), codec.ErrTrailing},
		{"format 0", with(0, 0), codec.ErrBadEnum},
		{"format 2", with(0, 2), codec.ErrBadEnum},
		{"started 2", with(1, 2), codec.ErrBadOption},
		{"phase 3", with(10, 3), codec.ErrBadEnum},
		{"phase 255", with(10, 255), codec.ErrBadEnum},
		{"r_inf above 100 %", with(28, 0x30), ErrInvalidState}, // 0x3007 = 12,295
		{"stake ratio above 100 %", with(40, 0x30), ErrInvalidState},
		{"not started with values", with(1, 0), ErrInvalidState},
		{"transition before its gate", early, ErrInvalidState},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s, err := DecodeEpochState(c.in)
			if !errors.Is(err, ErrMalformedState) || !errors.Is(err, c.cause) {
				t.Fatalf("err = %v, want %v and %v", err, ErrMalformedState, c.cause)
			}
			if s != (EpochState{}) {
				t.Fatalf("returned a state on error: %+v", s)
			}
		})
	}
}

// TestDecodeRateBound: no valid parameters allow a cap above maxCapBps
// (2,000 bps) and the rate never exceeds max(cap, previous rate), so the
// decoder accepts r_inf = 2,000 and refuses 2,001.
func TestDecodeRateBound(t *testing.T) {
	withRate := func(r uint32) []byte {
		s := goldenState
		s.RInfBps = r
		return s.Encode()
	}
	s, err := DecodeEpochState(withRate(maxCapBps))
	if err != nil || s.RInfBps != 2000 {
		t.Fatalf("r_inf = maxCapBps refused: %+v %v", s, err)
	}
	s, err = DecodeEpochState(withRate(maxCapBps + 1))
	if !errors.Is(err, ErrMalformedState) || !errors.Is(err, ErrInvalidState) || s != (EpochState{}) {
		t.Fatalf("r_inf = maxCapBps + 1: %+v %v", s, err)
	}
	if want := "r_inf 2001 bps above 2000 bps, the highest cap valid parameters allow"; !strings.Contains(err.Error(), want) {
		t.Fatalf("error %q does not say %q", err, want)
	}
}

// FuzzDecodeEpochState: decoding never panics, and every accepted input is
// canonical: it re-encodes to the same bytes and decodes to the same state.
func FuzzDecodeEpochState(f *testing.F) {
	f.Add(GenesisState().Encode())
	f.Add(goldenState.Encode())
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := DecodeEpochState(b)
		if err != nil {
			if !errors.Is(err, ErrMalformedState) {
				t.Fatalf("error does not wrap ErrMalformedState: %v", err)
			}
			return
		}
		enc := s.Encode()
		if !bytes.Equal(enc, b) {
			t.Fatalf("accepted non-canonical input\n in %x\nout %x", b, enc)
		}
		back, err := DecodeEpochState(enc)
		if err != nil || back != s {
			t.Fatalf("decode(encode(x)) = %+v, %v; want %+v", back, err, s)
		}
	})
}
