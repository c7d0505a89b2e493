package crypto

import (
	"bytes"
	"testing"
)

// benchMessage is a signed message of the size of a v1 transfer's signing
// input: the DevNet TX tag and a 118-byte preimage (133 bytes, PROTOCOL.md §4).
func benchMessage() []byte {
	msg := append([]byte(nil), DevNet.Tag(KindTx)...)
	return append(msg, bytes.Repeat([]byte{0x5a}, 133-len(msg))...)
}

func benchKey(b *testing.B) *PrivateKey {
	b.Helper()
	k, err := NewPrivateKeyFromSeed(SuiteMLDSA44, katSeed())
	if err != nil {
		b.Fatal(err)
	}
	return k
}

func benchSigned(b *testing.B) (raw, msg, sig []byte) {
	b.Helper()
	k := benchKey(b)
	msg = benchMessage()
	sig, err := k.SignDeterministic(msg)
	if err != nil {
		b.Fatal(err)
	}
	return k.Public().Bytes(), msg, sig
}

// BenchmarkVerifyCachedKey verifies with a parsed key kept across calls (the
// KeyCache hot path).
func BenchmarkVerifyCachedKey(b *testing.B) {
	raw, msg, sig := benchSigned(b)
	pk, err := ParsePublicKey(SuiteMLDSA44, raw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if !pk.Verify(msg, sig) {
			b.Fatal("valid signature rejected")
		}
	}
}

// BenchmarkVerifyParseEachTime parses the key for every verification (cache miss).
func BenchmarkVerifyParseEachTime(b *testing.B) {
	raw, msg, sig := benchSigned(b)
	for b.Loop() {
		pk, err := ParsePublicKey(SuiteMLDSA44, raw)
		if err != nil {
			b.Fatal(err)
		}
		if !pk.Verify(msg, sig) {
			b.Fatal("valid signature rejected")
		}
	}
}

// BenchmarkVerifyParallel verifies with one shared parsed key from every
// GOMAXPROCS goroutine: ns/op is wall time per verify across all cores.
func BenchmarkVerifyParallel(b *testing.B) {
	raw, msg, sig := benchSigned(b)
	pk, err := ParsePublicKey(SuiteMLDSA44, raw)
	if err != nil {
		b.Fatal(err)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if !pk.Verify(msg, sig) {
				b.Error("valid signature rejected")
				return
			}
		}
	})
}

func BenchmarkKeyCacheHit(b *testing.B) {
	raw, _, _ := benchSigned(b)
	kc := NewKeyCache(0)
	want, err := kc.Get(SuiteMLDSA44, raw)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		pk, err := kc.Get(SuiteMLDSA44, raw)
		if err != nil || pk != want {
			b.Fatal("cache miss on a cached key")
		}
	}
}

func BenchmarkSignHedged(b *testing.B) {
	k, msg := benchKey(b), benchMessage()
	for b.Loop() {
		if _, err := k.Sign(msg); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSignDeterministic cycles through 64 messages: with rnd = 0 one
// message always takes the same number of rejection-sampling rounds, so a
// single message would measure that message's luck, not the average.
func BenchmarkSignDeterministic(b *testing.B) {
	k := benchKey(b)
	msgs := make([][]byte, 64)
	for i := range msgs {
		msgs[i] = benchMessage()
		msgs[i][len(msgs[i])-1] = byte(i)
	}
	i := 0
	for b.Loop() {
		if _, err := k.SignDeterministic(msgs[i%len(msgs)]); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSignDeterministicOneMessage signs one fixed message: its cost is
// that message's fixed number of rejection rounds.
func BenchmarkSignDeterministicOneMessage(b *testing.B) {
	k, msg := benchKey(b), benchMessage()
	for b.Loop() {
		if _, err := k.SignDeterministic(msg); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMLKEM768KeyGen(b *testing.B) {
	for b.Loop() {
		if _, err := GenerateKEMKey(); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMLKEM768Encaps(b *testing.B) {
	k, err := GenerateKEMKey()
	if err != nil {
		b.Fatal(err)
	}
	ek := k.EncapsulationKey()
	for b.Loop() {
		if _, _, err := Encapsulate(ek); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMLKEM768Decaps(b *testing.B) {
	k, err := GenerateKEMKey()
	if err != nil {
		b.Fatal(err)
	}
	ss, ct, err := Encapsulate(k.EncapsulationKey())
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		got, err := k.Decapsulate(ct)
		if err != nil || !bytes.Equal(got, ss) {
			b.Fatal("decapsulation mismatch")
		}
	}
}

// BenchmarkSHA3On3KB hashes 3 KiB, about a v1 transaction's wire size (3818 B).
func BenchmarkSHA3On3KB(b *testing.B) {
	buf := bytes.Repeat([]byte{0xa5}, 3072)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		_ = Sum(buf)
	}
}

// BenchmarkAccountID derives an account id from a 1312-byte public key.
func BenchmarkAccountID(b *testing.B) {
	raw, _, _ := benchSigned(b)
	for b.Loop() {
		_ = AccountID(SuiteMLDSA44, raw)
	}
}
