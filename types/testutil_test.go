package types

import (
	"fmt"
	"sync"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/u128"
	"pgregory.net/rapid"
)

// testKeys derives n deterministic validator keys once per process: key
// generation is ~100 µs, signing ~250 µs, so tests share them.
var testKeys = sync.OnceValue(func() []*crypto.PrivateKey {
	keys := make([]*crypto.PrivateKey, 10)
	for i := range keys {
		seed := make([]byte, 32)
		seed[0], seed[31] = byte(i), 0xa5
		k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
		if err != nil {
			panic(err)
		}
		keys[i] = k
	}
	return keys
})

func testValidators(t testing.TB, n int) *ValidatorSet {
	t.Helper()
	vals := make([]Validator, n)
	for i := range vals {
		vals[i] = Validator{ConsensusKey: testKeys()[i].Public(), NetworkKey: testKeys()[i].Public().Bytes(), Power: 1}
	}
	vs, err := NewValidatorSet(vals)
	if err != nil {
		t.Fatal(err)
	}
	return vs
}

func genHash(t *rapid.T, label string) (h [32]byte) {
	copy(h[:], rapid.SliceOfN(rapid.Byte(), 32, 32).Draw(t, label))
	return h
}

func genU128(t *rapid.T, label string) u128.U128 {
	return u128.U128{Hi: rapid.Uint64().Draw(t, label+".hi"), Lo: rapid.Uint64().Draw(t, label+".lo")}
}

func genSig(t *rapid.T, label string) []byte {
	// Structure-only tests: any 2420 bytes are a well-formed signature field.
	b := make([]byte, crypto.MLDSA44SignatureSize)
	b[0] = rapid.Byte().Draw(t, label)
	return b
}

func genBitmapSigs(t *rapid.T, label string) (Bitmap, [][]byte) {
	n := rapid.IntRange(1, MaxValidators).Draw(t, label+".n")
	bm := NewBitmap(n)
	var sigs [][]byte
	for i := range n {
		if rapid.Bool().Draw(t, fmt.Sprintf("%s.bit%d", label, i)) {
			bm.Set(i)
			sigs = append(sigs, genSig(t, label+".sig"))
		}
	}
	return bm, sigs
}

func genQC(t *rapid.T, label string) QC {
	bm, sigs := genBitmapSigs(t, label)
	return QC{View: rapid.Uint64().Draw(t, label+".view"), BlockID: genHash(t, label+".id"), Signers: bm, Signatures: sigs}
}

func genTC(t *rapid.T, label string) TC {
	bm, sigs := genBitmapSigs(t, label)
	views := make([]uint64, len(sigs))
	for i := range views {
		views[i] = rapid.Uint64().Draw(t, label+".hqv")
	}
	return TC{View: rapid.Uint64().Draw(t, label+".view"), Signers: bm, HighQCViews: views, Signatures: sigs, HighQC: genQC(t, label+".qc")}
}

func genOptTC(t *rapid.T, label string) *TC {
	if !rapid.Bool().Draw(t, label+".some") {
		return nil
	}
	tc := genTC(t, label)
	return &tc
}

func genBatchHeader(t *rapid.T) BatchHeader {
	return BatchHeader{
		Epoch: rapid.Uint64().Draw(t, "epoch"), Creator: rapid.Uint16().Draw(t, "creator"), Seq: rapid.Uint64().Draw(t, "seq"),
		ExpiryHeight: rapid.Uint64().Draw(t, "expiry"), TxCount: rapid.Uint32().Draw(t, "count"), GasSum: rapid.Uint64().Draw(t, "gas"),
		TxRoot: genHash(t, "root"),
	}
}

func genHeader(t *rapid.T) BlockHeader {
	return BlockHeader{
		Version: rapid.Uint8().Draw(t, "version"), ChainID: rapid.Uint64().Draw(t, "chain"), Epoch: rapid.Uint64().Draw(t, "epoch"),
		View: rapid.Uint64().Draw(t, "view"), Height: rapid.Uint64().Draw(t, "height"), ParentID: genHash(t, "parent"),
		Proposer: rapid.Uint16().Draw(t, "proposer"), TimestampMs: rapid.Uint64().Draw(t, "ts"),
		BatchCommitment: genHash(t, "bc"), JustifyView: rapid.Uint64().Draw(t, "jv"), ExecHeight: rapid.Uint64().Draw(t, "eh"),
		ExecDigest: genHash(t, "ed"),
	}
}
