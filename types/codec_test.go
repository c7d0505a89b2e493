package types

import (
	"bytes"
	"testing"

	"github.com/qbind/qbind/crypto"
	"pgregory.net/rapid"
)

// roundTrip checks decode(encode(x)) re-encodes to the same bytes, and that
// the decoder rejects every strict prefix and an extra trailing byte.
func roundTrip[T any](t *rapid.T, enc []byte, decode func([]byte) (T, error), encode func(T) []byte) {
	got, err := decode(enc)
	if err != nil {
		t.Fatalf("decode of a valid encoding: %v", err)
	}
	if !bytes.Equal(encode(got), enc) {
		t.Fatalf("decode(encode(x)) re-encodes differently")
	}
	cut := rapid.IntRange(0, len(enc)-1).Draw(t, "cut")
	if _, err := decode(enc[:cut]); err == nil {
		t.Fatalf("prefix of %d/%d bytes accepted", cut, len(enc))
	}
	if _, err := decode(append(bytes.Clone(enc), 0)); err == nil {
		t.Fatalf("trailing byte accepted")
	}
}

func TestRoundTripTransaction(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tx := &Transaction{
			Suite:     crypto.SuiteMLDSA44,
			PublicKey: rapid.SliceOfN(rapid.Byte(), crypto.MLDSA44PublicKeySize, crypto.MLDSA44PublicKeySize).Draw(t, "pk"),
			Nonce:     rapid.Uint64().Draw(t, "nonce"),
			Payload:   rapid.SliceOfN(rapid.Byte(), 0, MaxPayloadSize).Draw(t, "payload"),
			Signature: genSig(t, "sig"),
		}
		roundTrip(t, tx.Encode(), DecodeTransaction, (*Transaction).Encode)
	})
}

func TestRoundTripTransfer(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		tr := Transfer{Version: PayloadV0, Recipient: genHash(t, "to"), Amount: genU128(t, "amount")}
		if rapid.Bool().Draw(t, "v1") {
			tr.Version, tr.GasLimit, tr.MaxFeePerGas = PayloadV1, rapid.Uint64().Draw(t, "gas"), genU128(t, "fee")
		}
		got, err := ParseTransfer(tr.Encode())
		if err != nil || got != tr {
			t.Fatalf("ParseTransfer(Encode(%+v)) = %+v, %v", tr, got, err)
		}
	})
}

func TestRoundTripAccount(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := Account{Nonce: rapid.Uint64().Draw(t, "nonce"), Balance: genU128(t, "bal")}
		enc := a.Encode()
		got, err := DecodeAccount(enc[:])
		if err != nil || got != a {
			t.Fatalf("account round trip: %+v %v", got, err)
		}
		if _, err := DecodeAccount(enc[:23]); err == nil {
			t.Fatal("23-byte account accepted")
		}
	})
}

func TestRoundTripBatch(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		txs := rapid.SliceOfN(rapid.SliceOfN(rapid.Byte(), 0, 64), 0, 20).Draw(t, "txs")
		b := &Batch{Header: genBatchHeader(t), Signature: genSig(t, "sig"), Txs: txs}
		b.Header.TxCount = uint32(len(txs))
		roundTrip(t, b.Encode(), DecodeBatch, (*Batch).Encode)
	})
}

func TestRoundTripAckAndCertificate(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		a := &BatchAck{BatchID: genHash(t, "id"), Signer: rapid.Uint16().Draw(t, "signer"), Signature: genSig(t, "sig")}
		roundTrip(t, a.Encode(), DecodeBatchAck, (*BatchAck).Encode)
		bm, sigs := genBitmapSigs(t, "cert")
		c := &BatchCertificate{Header: genBatchHeader(t), Signers: bm, Signatures: sigs}
		if c.EncodedSize() != len(c.Encode()) {
			t.Fatal("EncodedSize differs from the encoding")
		}
		roundTrip(t, c.Encode(), DecodeBatchCertificate, (*BatchCertificate).Encode)
	})
}

func TestRoundTripConsensusObjects(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		h := genHeader(t)
		roundTrip(t, h.Encode(), DecodeBlockHeader, func(h BlockHeader) []byte { return h.Encode() })
		qc := genQC(t, "qc")
		roundTrip(t, qc.Encode(), DecodeQC, func(q QC) []byte { return q.Encode() })
		tc := genTC(t, "tc")
		roundTrip(t, tc.Encode(), DecodeTC, func(x TC) []byte { return x.Encode() })
		si := SyncInfo{HighQC: genQC(t, "si"), HighTC: genOptTC(t, "sitc")}
		roundTrip(t, si.Encode(), DecodeSyncInfo, func(s SyncInfo) []byte { return s.Encode() })

		vote := &Vote{View: rapid.Uint64().Draw(t, "vv"), BlockID: genHash(t, "vid"), Voter: rapid.Uint16().Draw(t, "voter"), Signature: genSig(t, "vs"), Sync: si}
		roundTrip(t, vote.Encode(), DecodeVote, (*Vote).Encode)
		to := &Timeout{View: rapid.Uint64().Draw(t, "tv"), HighQC: qc, LastTC: genOptTC(t, "tlt"), Voter: rapid.Uint16().Draw(t, "tvoter"), Signature: genSig(t, "ts")}
		roundTrip(t, to.Encode(), DecodeTimeout, (*Timeout).Encode)

		p := &Proposal{Header: h, Justify: qc, LastTC: genOptTC(t, "plt"), Sync: si, Signature: genSig(t, "ps")}
		for range rapid.IntRange(0, 3).Draw(t, "ncerts") {
			bm, sigs := genBitmapSigs(t, "pc")
			p.Payload = append(p.Payload, &BatchCertificate{Header: genBatchHeader(t), Signers: bm, Signatures: sigs})
		}
		roundTrip(t, p.Encode(), DecodeProposal, (*Proposal).Encode)
	})
}

func TestRoundTripExecParams(t *testing.T) {
	for _, prof := range []Profile{ProfileDevNet, ProfileTestNetAlpha, ProfileTestNetBeta, ProfileMainNet} {
		p, err := DefaultExecParams(prof)
		if err != nil {
			t.Fatal(err)
		}
		if err := p.CheckProfile(prof); err != nil {
			t.Fatalf("%s defaults fail their own profile: %v", prof, err)
		}
		got, err := DecodeExecParams(p.Encode())
		if err != nil || got != p {
			t.Fatalf("%s: exec params round trip: %v", prof, err)
		}
	}
}
