package codec

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Rejection reasons. Decoders wrap them with the field that failed.
var (
	ErrShort        = errors.New("codec: input too short")
	ErrTrailing     = errors.New("codec: trailing bytes after value")
	ErrTooLong      = errors.New("codec: length exceeds cap")
	ErrBadOption    = errors.New("codec: option tag is neither 0 nor 1")
	ErrBadEnum      = errors.New("codec: unknown enum value")
	ErrNonCanonical = errors.New("codec: non-canonical encoding")
)

// Writer appends canonical encodings to a growing buffer.
type Writer struct {
	buf []byte
}

// NewWriter returns a Writer with capacity for sizeHint bytes.
func NewWriter(sizeHint int) *Writer { return &Writer{buf: make([]byte, 0, sizeHint)} }

// Bytes returns the encoding so far (aliases the internal buffer).
func (w *Writer) Bytes() []byte { return w.buf }

// Len is the number of bytes written.
func (w *Writer) Len() int { return len(w.buf) }

func (w *Writer) U8(v uint8)   { w.buf = append(w.buf, v) }
func (w *Writer) U16(v uint16) { w.buf = binary.LittleEndian.AppendUint16(w.buf, v) }
func (w *Writer) U32(v uint32) { w.buf = binary.LittleEndian.AppendUint32(w.buf, v) }
func (w *Writer) U64(v uint64) { w.buf = binary.LittleEndian.AppendUint64(w.buf, v) }

// U32BE and U64BE write big-endian integers (payload fields, account values).
func (w *Writer) U32BE(v uint32) { w.buf = binary.BigEndian.AppendUint32(w.buf, v) }
func (w *Writer) U64BE(v uint64) { w.buf = binary.BigEndian.AppendUint64(w.buf, v) }

// Bool writes 0x00 or 0x01.
func (w *Writer) Bool(v bool) {
	if v {
		w.U8(1)
	} else {
		w.U8(0)
	}
}

// Fixed writes b raw, without a length (fixed-size arrays).
func (w *Writer) Fixed(b []byte) { w.buf = append(w.buf, b...) }

// VarBytes writes u32 LE length ‖ b.
func (w *Writer) VarBytes(b []byte) {
	w.U32(uint32(len(b)))
	w.buf = append(w.buf, b...)
}

// Count writes a list count.
func (w *Writer) Count(n int) { w.U32(uint32(n)) }

// Reader decodes canonical encodings from a byte slice. See the package
// comment for its error discipline.
type Reader struct {
	buf []byte
	off int
	err error
}

// NewReader reads from b. Slices returned by Fixed and VarBytes alias b.
func NewReader(b []byte) *Reader { return &Reader{buf: b} }

// Err is the first error met, or nil.
func (r *Reader) Err() error { return r.err }

// Offset is the number of bytes consumed.
func (r *Reader) Offset() int { return r.off }

// Remaining is the number of unread bytes.
func (r *Reader) Remaining() int { return len(r.buf) - r.off }

// Fail records err (wrapped with the offset) unless an error is already set.
// Decoders use it for semantic rejections so they keep the sticky discipline.
func (r *Reader) Fail(err error) {
	if r.err == nil {
		r.err = fmt.Errorf("at byte %d: %w", r.off, err)
	}
}

// Done returns the first error, or ErrTrailing if bytes remain: every
// top-level decode ends with it.
func (r *Reader) Done() error {
	if r.err != nil {
		return r.err
	}
	if r.off != len(r.buf) {
		return fmt.Errorf("%d unread bytes at offset %d: %w", len(r.buf)-r.off, r.off, ErrTrailing)
	}
	return nil
}

func (r *Reader) take(n int) []byte {
	if r.err != nil {
		return nil
	}
	if n < 0 || n > len(r.buf)-r.off {
		r.Fail(fmt.Errorf("need %d bytes, have %d: %w", n, len(r.buf)-r.off, ErrShort))
		return nil
	}
	b := r.buf[r.off : r.off+n : r.off+n]
	r.off += n
	return b
}

func (r *Reader) U8() uint8 {
	if b := r.take(1); b != nil {
		return b[0]
	}
	return 0
}

func (r *Reader) U16() uint16 {
	if b := r.take(2); b != nil {
		return binary.LittleEndian.Uint16(b)
	}
	return 0
}

func (r *Reader) U32() uint32 {
	if b := r.take(4); b != nil {
		return binary.LittleEndian.Uint32(b)
	}
	return 0
}

func (r *Reader) U64() uint64 {
	if b := r.take(8); b != nil {
		return binary.LittleEndian.Uint64(b)
	}
	return 0
}

func (r *Reader) U32BE() uint32 {
	if b := r.take(4); b != nil {
		return binary.BigEndian.Uint32(b)
	}
	return 0
}

func (r *Reader) U64BE() uint64 {
	if b := r.take(8); b != nil {
		return binary.BigEndian.Uint64(b)
	}
	return 0
}

// Bool reads a strict 0x00/0x01 byte.
func (r *Reader) Bool() bool {
	switch r.U8() {
	case 0:
		return false
	case 1:
		return true
	default:
		r.Fail(ErrBadOption)
		return false
	}
}

// Fixed reads exactly n raw bytes (aliasing the input), or nil on error.
func (r *Reader) Fixed(n int) []byte { return r.take(n) }

// FixedInto fills dst from the input.
func (r *Reader) FixedInto(dst []byte) {
	if b := r.take(len(dst)); b != nil {
		copy(dst, b)
	}
}

// VarBytes reads u32 length ‖ data with length ≤ max (aliasing the input).
func (r *Reader) VarBytes(max int) []byte {
	n := r.U32()
	if r.err != nil {
		return nil
	}
	if uint64(n) > uint64(max) {
		r.Fail(fmt.Errorf("byte string of %d > cap %d: %w", n, max, ErrTooLong))
		return nil
	}
	return r.take(int(n))
}

// Count reads a list count with count ≤ max, and refuses counts that cannot
// fit in the remaining input at minItemSize bytes per item, so callers can
// allocate count items safely.
func (r *Reader) Count(max, minItemSize int) int {
	n := r.U32()
	if r.err != nil {
		return 0
	}
	if uint64(n) > uint64(max) {
		r.Fail(fmt.Errorf("list of %d > cap %d: %w", n, max, ErrTooLong))
		return 0
	}
	if minItemSize > 0 && uint64(n)*uint64(minItemSize) > uint64(r.Remaining()) {
		r.Fail(fmt.Errorf("list of %d items needs ≥ %d bytes, have %d: %w",
			n, uint64(n)*uint64(minItemSize), r.Remaining(), ErrShort))
		return 0
	}
	return int(n)
}

// Option reads an option tag and reports whether a value follows.
func (r *Reader) Option() bool { return r.Bool() }
