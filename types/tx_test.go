package types

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/u128"
)

func katKey(t testing.TB) *crypto.PrivateKey {
	seed := make([]byte, 32)
	for i := range seed {
		seed[i] = byte(i)
	}
	k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func transferTx(k *crypto.PrivateKey, nonce uint64, tr Transfer) *Transaction {
	return &Transaction{Suite: crypto.SuiteMLDSA44, PublicKey: k.Public().Bytes(), Nonce: nonce, Payload: tr.Encode()}
}

func katTransfer() Transfer {
	var to AccountID
	for i := range to {
		to[i] = 0x11
	}
	return Transfer{Version: PayloadV1, Recipient: to, Amount: u128.From64(1000), GasLimit: 50000, MaxFeePerGas: u128.From64(2)}
}

// TestKnownAnswerVector reproduces PROTOCOL.md §4's vector exactly.
func TestKnownAnswerVector(t *testing.T) {
	k := katKey(t)
	tx := transferTx(k, 3, katTransfer())
	sender := tx.Sender()
	if sender.String() != "1483cab38bf6cdc8768ee9df07ca5d6f51e6cad0a3c70d886adb3ec1ebdd1969" {
		t.Fatalf("sender %s", sender)
	}
	pre := tx.SigningPreimage(crypto.DevNet, sender)
	if len(pre) != 133 {
		t.Fatalf("preimage is %d bytes, want 133", len(pre))
	}
	if id := tx.ID(crypto.DevNet, sender); id.String() != "f48a8450abce2e05bcd2e1128b7208d113d0b945439277bca496f20184d75fda" {
		t.Fatalf("tx_id %s", id)
	}
	if err := tx.SignDeterministic(crypto.DevNet, k); err != nil {
		t.Fatal(err)
	}
	if h := crypto.Sum(tx.Signature).String(); h != "962955ecba84dc79b83643c8aa70acaf48b6af6191e466a9b893c38dac14c18f" {
		t.Fatalf("H(signature) %s", h)
	}
	wire := tx.Encode()
	if len(wire) != TxV1Size || TxV1Size != 3818 {
		t.Fatalf("wire is %d bytes", len(wire))
	}
	if h := crypto.Sum(wire).String(); h != "c0899205a58df60033d6f141c8d2d3af2946fd36f7d532b83432a527e296a532" {
		t.Fatalf("H(wire) %s", h)
	}
}

func newTestChecker(t testing.TB, prof Profile) *Checker {
	p, err := DefaultExecParams(prof)
	if err != nil {
		t.Fatal(err)
	}
	n := crypto.DevNet
	if prof == ProfileMainNet {
		n = crypto.MainNet
	}
	return NewChecker(n, p)
}

func TestStatelessValidity(t *testing.T) {
	k := katKey(t)
	c := newTestChecker(t, ProfileMainNet)
	sign := func(tx *Transaction) []byte {
		if err := tx.Sign(crypto.MainNet, k); err != nil {
			t.Fatal(err)
		}
		return tx.Encode()
	}
	good := sign(transferTx(k, 0, katTransfer()))
	ct, err := c.Check(good)
	if err != nil {
		t.Fatalf("valid tx rejected: %v", err)
	}
	if ct.IntrinsicGas != 37352 || ct.Sender != AccountIDOf(k.Public()) || c.Verified.Len() != 1 {
		t.Fatalf("derived fields: gas %d", ct.IntrinsicGas)
	}

	self := katTransfer()
	self.Recipient = AccountIDOf(k.Public())
	if ct, err := c.Check(sign(transferTx(k, 0, self))); err != nil || ct.IntrinsicGas != 21000+2600+5000+16*72 {
		t.Fatalf("self-transfer intrinsic gas: %v", err)
	}

	lowGas := katTransfer()
	lowGas.GasLimit = 37351
	lowFee := katTransfer()
	lowFee.MaxFeePerGas = u128.Zero
	v0 := katTransfer()
	v0.Version = PayloadV0
	malformed := transferTx(k, 0, katTransfer())
	malformed.Payload = append(malformed.Payload, 0)
	badSig := sign(transferTx(k, 0, katTransfer()))
	badSig[len(badSig)-1] ^= 1
	otherNet := transferTx(k, 0, katTransfer())
	if err := otherNet.Sign(crypto.TestNet, k); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name string
		raw  []byte
		want error
	}{
		{"gas limit below intrinsic", sign(transferTx(k, 0, lowGas)), ErrGasLimitBelowIntrinsic},
		{"fee below minimum", sign(transferTx(k, 0, lowFee)), ErrFeeBelowMinimum},
		{"v0 on mainnet", sign(transferTx(k, 0, v0)), ErrV0Forbidden},
		{"malformed payload", sign(malformed), ErrMalformedPayload},
		{"bad signature", badSig, ErrBadTxSignature},
		{"signed for testnet", otherNet.Encode(), ErrBadTxSignature},
		{"truncated", good[:100], ErrTxDecode},
		{"unknown suite", append([]byte{7, 0}, good[2:]...), crypto.ErrUnknownSuite},
	}
	for _, tc := range cases {
		if _, err := c.Check(tc.raw); !errors.Is(err, tc.want) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.want)
		}
	}
	// v0 is fine on devnet.
	dev := newTestChecker(t, ProfileDevNet)
	v0tx := transferTx(k, 0, v0)
	if err := v0tx.Sign(crypto.DevNet, k); err != nil {
		t.Fatal(err)
	}
	if _, err := dev.Check(v0tx.Encode()); err != nil {
		t.Fatalf("v0 on devnet: %v", err)
	}
}

// TestVerifiedCacheNeedsSameSignature: a cache hit requires byte-equal
// signature bytes, so re-signing (same tx_id, new hedged signature) is
// verified again, and a forged signature for a cached id is still rejected.
func TestVerifiedCacheNeedsSameSignature(t *testing.T) {
	k := katKey(t)
	c := newTestChecker(t, ProfileMainNet)
	tx := transferTx(k, 5, katTransfer())
	if err := tx.Sign(crypto.MainNet, k); err != nil {
		t.Fatal(err)
	}
	raw := tx.Encode()
	ct, err := c.Check(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !c.Verified.Seen(ct.ID, tx.Signature) {
		t.Fatal("verified tx not remembered")
	}
	forged := bytes.Clone(raw)
	forged[len(forged)-5] ^= 0x40
	if _, err := c.Check(forged); !errors.Is(err, ErrBadTxSignature) {
		t.Fatalf("forged signature of a cached tx_id accepted: %v", err)
	}
	resigned := transferTx(k, 5, katTransfer())
	if err := resigned.Sign(crypto.MainNet, k); err != nil {
		t.Fatal(err)
	}
	if c.Verified.Seen(ct.ID, resigned.Signature) {
		t.Fatal("a different signature hit the cache")
	}
	if ct2, err := c.Check(resigned.Encode()); err != nil || ct2.ID != ct.ID {
		t.Fatalf("re-signed tx: %v", err)
	}
}

func TestSignRefusesForeignKey(t *testing.T) {
	tx := transferTx(katKey(t), 0, katTransfer())
	if err := tx.Sign(crypto.DevNet, testKeys()[1]); !errors.Is(err, crypto.ErrPublicKeyMismat) {
		t.Fatalf("signing with another key: %v", err)
	}
}

// TestEveryByteFlipRejected: changing any byte of a signed transaction
// makes it fail stateless validity (the acceptance check of `qbind tx decode`).
func TestEveryByteFlipRejected(t *testing.T) {
	k := katKey(t)
	tx := transferTx(k, 3, katTransfer())
	if err := tx.SignDeterministic(crypto.DevNet, k); err != nil {
		t.Fatal(err)
	}
	raw := tx.Encode()
	p, _ := DefaultExecParams(ProfileTestNetBeta)
	c := NewChecker(crypto.DevNet, p)
	if _, err := c.Check(raw); err != nil {
		t.Fatal(err)
	}
	for i := range raw {
		bad := bytes.Clone(raw)
		bad[i] ^= 0x01
		if _, err := c.Check(bad); err == nil {
			t.Fatalf("flipping byte %d accepted", i)
		}
	}
}

func TestSkipReasons(t *testing.T) {
	static := map[SkipReason]bool{SkipMalformed: true, SkipV0Forbidden: true, SkipGasLimitBelowIntrinsic: true, SkipFeeBelowMinimum: true, SkipBlockGasLimit: true}
	stays := map[SkipReason]bool{SkipNonceTooHigh: true, SkipBlockGasLimit: true}
	for r := SkipNone; r <= MaxSkipReason; r++ {
		if r.Static() != static[r] || r.StaysInPool() != stays[r] {
			t.Errorf("%v: static %v stays %v", r, r.Static(), r.StaysInPool())
		}
	}
	if SkipInsufficientBalance.String() != "insufficient_balance" || SkipReason(9).String() != "skip_reason(9)" {
		t.Error("skip reason names")
	}
}
