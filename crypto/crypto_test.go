package crypto

import (
	"bytes"
	"errors"
	"testing"
)

func katSeed() []byte {
	s := make([]byte, 32)
	for i := range s {
		s[i] = byte(i)
	}
	return s
}

// TestKnownAnswerKey reproduces the key half of PROTOCOL.md §4's vector.
func TestKnownAnswerKey(t *testing.T) {
	k, err := NewPrivateKeyFromSeed(SuiteMLDSA44, katSeed())
	if err != nil {
		t.Fatal(err)
	}
	if got := Sum(k.Public().Bytes()).String(); got != "373c7bf2cac5bd2a6c35933bab0fa1c951f22247e1333383fcb618822080373f" {
		t.Fatalf("H(pk) = %s", got)
	}
	if got := k.Public().AccountID().String(); got != "1483cab38bf6cdc8768ee9df07ca5d6f51e6cad0a3c70d886adb3ec1ebdd1969" {
		t.Fatalf("account id = %s", got)
	}
	if !bytes.Equal(k.Seed(), katSeed()) {
		t.Fatal("seed not kept")
	}
}

func TestSignVerify(t *testing.T) {
	k, _ := NewPrivateKeyFromSeed(SuiteMLDSA44, katSeed())
	msg := []byte("QBIND:DEV:TX:v1 message")
	d1, _ := k.SignDeterministic(msg)
	d2, _ := k.SignDeterministic(msg)
	if !bytes.Equal(d1, d2) {
		t.Fatal("deterministic signing is not deterministic")
	}
	h1, _ := k.Sign(msg)
	h2, _ := k.Sign(msg)
	if bytes.Equal(h1, h2) {
		t.Fatal("hedged signing produced equal signatures twice")
	}
	pk, err := ParsePublicKey(SuiteMLDSA44, k.Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	for _, sig := range [][]byte{d1, h1, h2} {
		if !pk.Verify(msg, sig) {
			t.Fatal("valid signature rejected")
		}
	}
	if !pk.VerifyParts(d1, msg[:5], msg[5:]) {
		t.Fatal("VerifyParts rejects a split message")
	}
	bad := bytes.Clone(d1)
	bad[100] ^= 1
	if pk.Verify(msg, bad) || pk.Verify(append(msg, 0), d1) || pk.Verify(msg, d1[:100]) {
		t.Fatal("invalid signature accepted")
	}
}

func TestParseRejects(t *testing.T) {
	k, _ := NewPrivateKeyFromSeed(SuiteMLDSA44, katSeed())
	if _, err := ParsePublicKey(7, k.Public().Bytes()); !errors.Is(err, ErrUnknownSuite) {
		t.Fatalf("unknown suite: %v", err)
	}
	if _, err := ParsePublicKey(SuiteMLDSA44, k.Public().Bytes()[:100]); !errors.Is(err, ErrPublicKeySize) {
		t.Fatalf("short key: %v", err)
	}
	if _, err := NewPrivateKeyFromSeed(SuiteMLDSA44, make([]byte, 31)); !errors.Is(err, ErrSeedSize) {
		t.Fatalf("short seed: %v", err)
	}
}

func TestKeyCache(t *testing.T) {
	kc := NewKeyCache(2)
	var keys []*PrivateKey
	for i := range 3 {
		s := katSeed()
		s[0] = byte(i + 1)
		k, _ := NewPrivateKeyFromSeed(SuiteMLDSA44, s)
		keys = append(keys, k)
	}
	a, err := kc.Get(SuiteMLDSA44, keys[0].Public().Bytes())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := kc.Get(SuiteMLDSA44, keys[0].Public().Bytes())
	if a != b {
		t.Fatal("second Get did not hit the cache")
	}
	if a.AccountID() != keys[0].Public().AccountID() {
		t.Fatal("cached account id differs")
	}
	kc.Get(SuiteMLDSA44, keys[1].Public().Bytes())
	kc.Get(SuiteMLDSA44, keys[2].Public().Bytes())
	if kc.Len() != 2 {
		t.Fatalf("cache holds %d keys, bound is 2", kc.Len())
	}
	if _, err := kc.Get(SuiteMLDSA44, []byte{1, 2}); err == nil || kc.Len() != 2 {
		t.Fatal("invalid key cached or accepted")
	}
}

func TestNetworks(t *testing.T) {
	if string(DevNet.Tag(KindTx)) != "QBIND:DEV:TX:v1" || string(MainNet.Tag(KindBatchAck)) != "QBIND:MAIN:BATCH_ACK:v1" ||
		string(TestNet.Tag(KindNodeRecord)) != "QBIND:TST:NODEREC:v1" {
		t.Fatal("tag spelling")
	}
	for _, n := range []Network{DevNet, TestNet, MainNet} {
		back, err := NetworkByChainID(n.ChainID())
		if err != nil || back != n {
			t.Fatalf("%v: chain id round trip", n)
		}
		p, err := ParseNetwork(n.String())
		if err != nil || p != n {
			t.Fatalf("%v: name round trip", n)
		}
	}
	if _, err := ParseNetwork("moonnet"); !errors.Is(err, ErrUnknownNetwork) {
		t.Fatal("unknown network accepted")
	}
}

func TestKEMRoundTrip(t *testing.T) {
	seed := make([]byte, MLKEM768SeedSize)
	seed[3] = 9
	k, err := NewKEMKeyFromSeed(seed)
	if err != nil {
		t.Fatal(err)
	}
	ss, ct, err := Encapsulate(k.EncapsulationKey())
	if err != nil {
		t.Fatal(err)
	}
	ss2, err := k.Decapsulate(ct)
	if err != nil || !bytes.Equal(ss, ss2) {
		t.Fatal("decapsulated secret differs")
	}
	// ML-KEM decapsulation of a modified ciphertext yields a different
	// (implicitly rejected) secret, not an error.
	ct[0] ^= 1
	ss3, err := k.Decapsulate(ct)
	if err != nil || bytes.Equal(ss, ss3) {
		t.Fatal("tampered ciphertext gave the same secret")
	}
	if _, _, err := Encapsulate(make([]byte, 10)); !errors.Is(err, ErrKEMKey) {
		t.Fatal("short encapsulation key accepted")
	}
}

func TestHKDFAndHash(t *testing.T) {
	prk := HKDFExtract([]byte("salt"), []byte("ikm"))
	a := HKDFExpand(prk, []byte("c hs"), 32)
	b := HKDFExpand(prk, []byte("s hs"), 32)
	if len(prk) != 32 || len(a) != 32 || bytes.Equal(a, b) {
		t.Fatal("hkdf labels do not separate keys")
	}
	if Sum([]byte("ab"), []byte("c")) != Sum([]byte("abc")) {
		t.Fatal("Sum is not over the concatenation")
	}
	h, err := ParseHash("0x" + Sum(nil).String())
	if err != nil || h != Sum(nil) {
		t.Fatal("ParseHash round trip")
	}
	if !HMACEqual(HMAC(a, []byte("x")), HMAC(a, []byte("x"))) || HMACEqual(HMAC(a, []byte("x")), HMAC(b, []byte("x"))) {
		t.Fatal("hmac")
	}
}
