// Package signer will hold the Signer interface and its modes
// (loopback-testing, encrypted-fs, remote-signer, hsm-pkcs11) with the
// double-sign guard of PROTOCOL.md §12. Today it holds the encrypted keystore
// (package keystore) that `qbind keys` writes and reads; the signing modes
// arrive with the node issue.
package signer
