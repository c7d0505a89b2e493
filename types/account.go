package types

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/u128"
)

// AccountID is H("QBIND:ACCT:v1" ‖ suite u16 ‖ public_key): an account is its
// key (PROTOCOL.md §4). Genesis may also fund raw ids.
type AccountID [32]byte

// ErrBadAccountID is returned when parsing an account id that is not 64 hex digits.
var ErrBadAccountID = errors.New("account id must be 64 hexadecimal digits")

// AccountIDOf returns the account controlled by a public key.
func AccountIDOf(pk *crypto.PublicKey) AccountID { return AccountID(pk.AccountID()) }

func (a AccountID) String() string { return hex.EncodeToString(a[:]) }

// MarshalText encodes the id as lowercase hex.
func (a AccountID) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText parses 64 hex digits (0x prefix allowed).
func (a *AccountID) UnmarshalText(b []byte) error {
	p, err := ParseAccountID(string(b))
	if err != nil {
		return err
	}
	*a = p
	return nil
}

// ParseAccountID parses 64 hex digits (0x prefix allowed).
func ParseAccountID(s string) (AccountID, error) {
	h, err := crypto.ParseHash(s)
	if err != nil {
		return AccountID{}, fmt.Errorf("%q: %w", s, ErrBadAccountID)
	}
	return AccountID(h), nil
}

// AccountStateSize is the stored size of an account value.
const AccountStateSize = 24

// ErrBadAccountState is returned for a stored account value of the wrong size.
var ErrBadAccountState = errors.New("account value must be 24 bytes (nonce u64 BE ‖ balance u128 BE)")

// Account is the state of one account. The zero value means "does not
// exist": writing it deletes the account (PROTOCOL.md §4).
type Account struct {
	Nonce   uint64
	Balance u128.U128
}

// Exists reports whether the account is in the state (≠ (0, 0)).
func (a Account) Exists() bool { return a.Nonce != 0 || !a.Balance.IsZero() }

// Encode returns nonce u64 BE ‖ balance u128 BE.
func (a Account) Encode() [AccountStateSize]byte {
	var b [AccountStateSize]byte
	binary.BigEndian.PutUint64(b[:8], a.Nonce)
	a.Balance.PutBE(b[8:])
	return b
}

// DecodeAccount parses a stored account value.
func DecodeAccount(b []byte) (Account, error) {
	if len(b) != AccountStateSize {
		return Account{}, fmt.Errorf("%d bytes: %w", len(b), ErrBadAccountState)
	}
	return Account{Nonce: binary.BigEndian.Uint64(b[:8]), Balance: u128.FromBE(b[8:])}, nil
}
