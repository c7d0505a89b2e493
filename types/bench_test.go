package types

import (
	"fmt"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/u128"
)

// signedTxs pre-signs n v1 transfers from a few senders (signing is ~250 µs).
func signedTxs(b *testing.B, n crypto.Network, count int) [][]byte {
	b.Helper()
	keys := testKeys()
	out := make([][]byte, count)
	for i := range out {
		k := keys[i%len(keys)]
		tr := Transfer{Version: PayloadV1, Recipient: AccountID{byte(i)}, Amount: u128.From64(uint64(i)), GasLimit: 50000, MaxFeePerGas: u128.From64(2)}
		tx := &Transaction{Suite: crypto.SuiteMLDSA44, PublicKey: k.Public().Bytes(), Nonce: uint64(i), Payload: tr.Encode()}
		if err := tx.Sign(n, k); err != nil {
			b.Fatal(err)
		}
		out[i] = tx.Encode()
	}
	return out
}

// BenchmarkCheckTx is decode + sender (cached key) + tx_id + stateless
// validity with a fresh signature verification per tx (the verified-tx cache
// is bypassed: each iteration uses a new cache).
func BenchmarkCheckTx(b *testing.B) {
	txs := signedTxs(b, crypto.DevNet, 256)
	p, _ := DefaultExecParams(ProfileMainNet)
	c := NewChecker(crypto.DevNet, p)
	b.SetBytes(int64(len(txs[0])))
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if i%len(txs) == 0 {
			c.Verified = NewVerifiedCache(1024)
		}
		if _, err := c.Check(txs[i%len(txs)]); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCheckTxParallel is BenchmarkCheckTx on every core.
func BenchmarkCheckTxParallel(b *testing.B) {
	txs := signedTxs(b, crypto.DevNet, 256)
	p, _ := DefaultExecParams(ProfileMainNet)
	c := NewChecker(crypto.DevNet, p)
	c.Verified = NewVerifiedCache(1) // effectively off: every check verifies
	b.SetBytes(int64(len(txs[0])))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			if _, err := c.Check(txs[i%len(txs)]); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkCheckTxCached is the repeat path: the tx was verified before.
func BenchmarkCheckTxCached(b *testing.B) {
	txs := signedTxs(b, crypto.DevNet, 64)
	p, _ := DefaultExecParams(ProfileMainNet)
	c := NewChecker(crypto.DevNet, p)
	for _, tx := range txs {
		c.Check(tx)
	}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if _, err := c.Check(txs[i%len(txs)]); err != nil {
			b.Fatal(err)
		}
	}
}

func benchBatch(b *testing.B) *Batch {
	txs := signedTxs(b, crypto.DevNet, 16)
	bt := &Batch{Header: BatchHeader{TxCount: 500}, Signature: make([]byte, crypto.MLDSA44SignatureSize)}
	for i := range 500 {
		bt.Txs = append(bt.Txs, txs[i%len(txs)])
	}
	return bt
}

// BenchmarkBatchEncode500 and BenchmarkBatchDecode500: the codec on a full
// 500-tx batch (~1.9 MB).
func BenchmarkBatchEncode500(b *testing.B) {
	bt := benchBatch(b)
	b.SetBytes(int64(len(bt.Encode())))
	for b.Loop() {
		bt.Encode()
	}
}

func BenchmarkBatchDecode500(b *testing.B) {
	enc := benchBatch(b).Encode()
	b.SetBytes(int64(len(enc)))
	for b.Loop() {
		if _, err := DecodeBatch(enc); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkVerifyQC: a QC signed by a minimal quorum of n equal-power
// validators (3, 5, 7 signatures for n = 4, 7, 10).
func BenchmarkVerifyQC(b *testing.B) {
	for _, n := range []int{4, 7, 10} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			v := &Verifier{Network: crypto.DevNet, Validators: testValidators(b, n)}
			quorum := 2*n/3 + 1
			var votes []*Vote
			for i := range quorum {
				votes = append(votes, signedVote(b, crypto.DevNet, 9, BlockID{9}, i))
			}
			qc := NewQC(9, BlockID{9}, n, votes)
			for b.Loop() {
				if err := v.VerifyQC(&qc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
