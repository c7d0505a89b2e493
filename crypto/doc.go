// Package crypto is QBIND's cryptographic suite (PROTOCOL.md §1–§2): ML-DSA-44
// signatures (cloudflare/circl), ML-KEM-768 key encapsulation (stdlib
// crypto/mlkem), ChaCha20-Poly1305 (x/crypto), SHA3-256 and HKDF/HMAC over
// SHA3-256, the chain ids and domain tags that bind every signature to one
// network, and a bounded cache of parsed public keys.
//
// It never implements a primitive: every algorithm comes from a library. What
// it adds is the registry keyed by suite id (an unknown suite is a clean
// rejection, not a panic), the exact byte strings that are signed and hashed,
// and the cache that keeps ML-DSA verification at ~45 µs instead of ~115 µs
// (parsing a key expands its matrix; MEASURED.md).
package crypto
