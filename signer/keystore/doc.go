// Package keystore reads and writes QBIND's encrypted key files
// (PROTOCOL.md §12, signer mode "encrypted-fs").
//
// A key file holds the 32-byte ML-DSA-44 seed encrypted with
// ChaCha20-Poly1305 under a key derived from a passphrase with argon2id
// (64 MiB, 3 passes, 4 lanes). The header fields are authenticated as
// associated data, so changing the KDF parameters, the public key or the
// account id makes decryption fail; after decryption the public key is
// re-derived from the seed and compared, so a file cannot pair one account's
// header with another key. Files are written 0600, atomically (temp file,
// fsync, rename) and never overwritten.
//
// It never logs, prints or keeps the passphrase or the seed beyond the
// returned key.
package keystore
