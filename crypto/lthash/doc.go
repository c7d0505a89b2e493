// Package lthash is QBIND's state digest: LtHash16, the lattice-based
// homomorphic set hash of Bellare–Micciancio as specified by Lewi et al.
// ("Securing Update Propagation with Homomorphic Hashing", Facebook, 2019),
// instantiated exactly as PROTOCOL.md §9 fixes it.
//
// A set hash is 1024 lanes of uint16. The element of an account is
//
//	BLAKE3("QBIND:LTHASH:v1" ‖ account[32] ‖ state[24]) read to 2048 bytes,
//
// BLAKE3 used as an XOF (unkeyed hash mode, output extended to 2048 bytes),
// taken as 1024 little-endian uint16 lanes; state is the 24-byte stored
// account value of §4 (nonce u64 BE ‖ balance u128 BE). The set hash is the
// lane-wise sum mod 2^16 of the elements of every existing account, and
// state_digest = SHA3-256 of the lanes written as 2048 little-endian bytes.
// An account whose state is all zero does not exist (§4) and is never in the
// set: AddAccount, SubAccount and Update ignore an all-zero state.
//
// Because addition mod 2^16 is commutative and invertible, the digest does not
// depend on the order in which accounts were added, and a block moves it by
// subtracting the old element and adding the new one of each changed account
// (Update), in parallel over a bounded number of goroutines.
//
// The element XOF is BLAKE3 rather than SHAKE256: §9 allows it if it measures
// at least 2× faster, and on the project's VM it produces the 2048 bytes in
// ~2.5 µs against ~6.7 µs for SHAKE256 (2.5–2.7×; docs/lthash.md,
// docs/decisions.md). XOFName records the choice.
//
// What it owns: the element function, lane arithmetic, the digest, the
// 2048-byte persistence encoding (FromBytes is strict and fuzzed). What it must
// never do: decide which accounts changed (execution does), touch storage
// (state does), or implement a primitive (BLAKE3 comes from
// github.com/zeebo/blake3, SHA3-256 from the standard library's crypto/sha3).
package lthash
