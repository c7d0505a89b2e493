package bench

import (
	"testing"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"
	"golang.org/x/crypto/blake2b"

	"github.com/qbind/qbind/types"
)

// Single-goroutine cost breakdown of admission (go test -bench Parts).
func BenchmarkPartsCheckFresh(b *testing.B) {
	w, err := NewWorkload(256, 4)
	if err != nil {
		b.Fatal(err)
	}
	c := types.NewChecker(w.Network, w.Params)
	b.ResetTimer()
	for i := range b.N {
		if i%len(w.Raw) == 0 {
			c.Verified = types.NewVerifiedCache(0) // every check verifies
		}
		if _, err := c.Check(w.Raw[i%len(w.Raw)]); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkPartsRawVerify(b *testing.B) {
	w, err := NewWorkload(256, 4)
	if err != nil {
		b.Fatal(err)
	}
	tx, _ := types.DecodeTransaction(w.Raw[0])
	pk := new(mldsa44.PublicKey)
	_ = pk.UnmarshalBinary(tx.PublicKey)
	msg := tx.SigningPreimage(w.Network, tx.Sender())
	b.ResetTimer()
	for range b.N {
		if !mldsa44.Verify(pk, msg, nil, tx.Signature) {
			b.Fatal("verify")
		}
	}
}

func BenchmarkPartsBlake2bSig(b *testing.B) {
	sig := make([]byte, 2420)
	for range b.N {
		_ = blake2b.Sum256(sig)
	}
}
