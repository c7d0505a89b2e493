// Package kemtls is QBIND's authenticated transport (PROTOCOL.md §11): the
// KEMTLS handshake of Schwabe–Stebila–Wiggers (CCS 2020) with mutual
// authentication by static ML-KEM-768 keys certified in NodeCerts, and the
// encrypted, counter-nonced frame layer that follows it. docs/kemtls.md gives
// the messages byte by byte, the key schedule and what each step proves.
//
// Shape:
//   - ClientHandshake and ServerHandshake are pure state machines over
//     handshake records (Next(record) → records to send); fuzz targets and the
//     tamper tests drive them without sockets.
//   - Client, Server and Dial drive them over a net.Conn with the 5 s deadline.
//   - FrameWriter and FrameReader seal and open frames; Session pairs them
//     on a connection and closes it on the first bad frame.
//   - Listener applies the per-IP and per-/24 handshake token buckets and the
//     half-open cap before any handshake CPU is spent.
//
// It never implements a primitive (ML-KEM, ML-DSA, SHA3, HKDF, HMAC and
// ChaCha20-Poly1305 come from package crypto, the standard library and
// x/crypto), never sends alerts (a failure closes the connection: no error
// oracle), and never lets a peer make it allocate more than the bytes it sent
// justify (records ≤ 16 KiB, frames read in 64 KiB steps up to 8 MiB).
package kemtls
