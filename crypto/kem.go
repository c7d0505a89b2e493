package crypto

import (
	"crypto/mlkem"
	"errors"
	"fmt"

	"golang.org/x/crypto/chacha20poly1305"
)

// ML-KEM-768 sizes.
const (
	MLKEM768EncapsulationKeySize = mlkem.EncapsulationKeySize768 // 1184
	MLKEM768CiphertextSize       = mlkem.CiphertextSize768       // 1088
	MLKEM768SharedKeySize        = mlkem.SharedKeySize           // 32
	MLKEM768SeedSize             = mlkem.SeedSize                // 64
)

// KEM errors.
var (
	ErrKEMKey        = errors.New("ML-KEM-768 encapsulation key does not decode")
	ErrKEMCiphertext = errors.New("ML-KEM-768 ciphertext does not decapsulate")
)

// KEMSuiteSupported reports whether id is a KEM suite this build knows.
func KEMSuiteSupported(id SuiteID) bool { return id == SuiteMLKEM768 }

// KEMPrivateKey is an ML-KEM-768 decapsulation key.
type KEMPrivateKey struct {
	dk *mlkem.DecapsulationKey768
}

// GenerateKEMKey draws a fresh key pair (ephemeral keys, new node keys).
func GenerateKEMKey() (*KEMPrivateKey, error) {
	dk, err := mlkem.GenerateKey768()
	if err != nil {
		return nil, err
	}
	return &KEMPrivateKey{dk: dk}, nil
}

// NewKEMKeyFromSeed derives the key pair from a 64-byte seed (d ‖ z, FIPS 203).
func NewKEMKeyFromSeed(seed []byte) (*KEMPrivateKey, error) {
	dk, err := mlkem.NewDecapsulationKey768(seed)
	if err != nil {
		return nil, fmt.Errorf("ML-KEM-768 seed: %w", err)
	}
	return &KEMPrivateKey{dk: dk}, nil
}

// Seed returns the 64-byte seed the key can be stored as.
func (k *KEMPrivateKey) Seed() []byte { return k.dk.Bytes() }

// EncapsulationKey returns the public encapsulation key bytes.
func (k *KEMPrivateKey) EncapsulationKey() []byte { return k.dk.EncapsulationKey().Bytes() }

// Decapsulate recovers the shared secret from ct.
func (k *KEMPrivateKey) Decapsulate(ct []byte) ([]byte, error) {
	ss, err := k.dk.Decapsulate(ct)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrKEMCiphertext, err)
	}
	return ss, nil
}

// Encapsulate produces (shared secret, ciphertext) to an encapsulation key.
func Encapsulate(ek []byte) (sharedKey, ciphertext []byte, err error) {
	k, err := mlkem.NewEncapsulationKey768(ek)
	if err != nil {
		return nil, nil, fmt.Errorf("%w: %v", ErrKEMKey, err)
	}
	ss, ct := k.Encapsulate()
	return ss, ct, nil
}

// AEAD sizes for suite 101.
const (
	AEADKeySize   = chacha20poly1305.KeySize   // 32
	AEADNonceSize = chacha20poly1305.NonceSize // 12
	AEADTagSize   = chacha20poly1305.Overhead  // 16
)
