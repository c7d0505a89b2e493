// Package codec is QBIND's one canonical binary encoding (PROTOCOL.md §3),
// used on the wire, on disk and under every signature.
//
// Layout rules: fixed-width little-endian integers; bytes = u32 LE length ‖
// data; lists = u32 LE count ‖ items; fixed arrays raw; optional = 0x00 |
// 0x01 ‖ value. Big-endian fields (transfer payloads, account values) are
// written with the explicit BE helpers.
//
// The Reader is strict and never panics: every length is checked against a
// caller-given cap and against the bytes that remain before anything is
// allocated, so hostile input cannot make a node allocate more than the input
// justifies. Errors are sticky: after the first failure every read returns a
// zero value and Err reports the first cause, so decoders can read a whole
// structure and check once.
package codec
