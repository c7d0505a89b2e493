package monetary

import (
	"fmt"

	"github.com/qbind/qbind/codec"
	"github.com/qbind/qbind/u128"
)

// EncodedStateSize is the length of every encoded EpochState.
const EncodedStateSize = 59

// stateFormat is the first byte of the encoding; a new layout gets a new
// value and the decoder refuses formats it does not know.
const stateFormat = 1

// Encode returns the canonical encoding of s (PROTOCOL.md §3: fixed-width
// little-endian integers, u128 as 16 bytes LE). Layout, 59 bytes:
//
//	off len field
//	  0   1 format           u8 = 1
//	  1   1 started          u8 0x00 | 0x01
//	  2   8 epoch            u64
//	 10   1 phase            u8 0 bootstrap | 1 transition | 2 mature
//	 11  16 ema_fees         u128
//	 27   4 r_inf_bps        u32 ≤ 2,000
//	 31   8 fee_coverage_bps u64
//	 39   4 stake_ratio_bps  u32 ≤ 10,000
//	 43  16 issuance         u128
//
// Encode does not validate s; DecodeEpochState accepts exactly the encodings
// of states that pass Validate, so every accepted input re-encodes to itself.
func (s EpochState) Encode() []byte {
	w := codec.NewWriter(EncodedStateSize)
	var b [16]byte
	w.U8(stateFormat)
	w.Bool(s.Started)
	w.U64(s.Epoch)
	w.U8(uint8(s.Phase))
	s.EMAFees.PutLE(b[:])
	w.Fixed(b[:])
	w.U32(s.RInfBps)
	w.U64(s.FeeCoverageBps)
	w.U32(s.StakeRatioBps)
	s.Issuance.PutLE(b[:])
	w.Fixed(b[:])
	return w.Bytes()
}

// DecodeEpochState is the strict inverse of Encode: it rejects short input,
// trailing bytes, an unknown format, a started byte other than 0/1, an
// unknown phase and any state Validate refuses. Errors wrap
// ErrMalformedState and, where there is one, the codec sentinel
// (codec.ErrShort, codec.ErrTrailing, codec.ErrBadEnum, …) or
// ErrInvalidState. It never panics.
func DecodeEpochState(b []byte) (EpochState, error) {
	r := codec.NewReader(b)
	var s EpochState
	if f := r.U8(); r.Err() == nil && f != stateFormat {
		r.Fail(fmt.Errorf("format %d, want %d: %w", f, stateFormat, codec.ErrBadEnum))
	}
	s.Started = r.Bool()
	s.Epoch = r.U64()
	if p := Phase(r.U8()); r.Err() == nil && !p.Valid() {
		r.Fail(fmt.Errorf("phase %d: %w", uint8(p), codec.ErrBadEnum))
	} else {
		s.Phase = p
	}
	if f := r.Fixed(16); f != nil {
		s.EMAFees = u128.FromLE(f)
	}
	s.RInfBps = r.U32()
	s.FeeCoverageBps = r.U64()
	s.StakeRatioBps = r.U32()
	if f := r.Fixed(16); f != nil {
		s.Issuance = u128.FromLE(f)
	}
	if err := r.Done(); err != nil {
		return EpochState{}, fmt.Errorf("%w: %w", ErrMalformedState, err)
	}
	if err := s.Validate(); err != nil {
		return EpochState{}, fmt.Errorf("%w: %w", ErrMalformedState, err)
	}
	return s, nil
}
