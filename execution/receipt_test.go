package execution_test

import (
	"bytes"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/u128"
)

func sampleReceipts() []execution.Receipt {
	var id [32]byte
	for i := range id {
		id[i] = byte(i)
	}
	return []execution.Receipt{
		{TxID: id, Status: execution.StatusOK, GasUsed: 37352, Fee: u128.From64(74704), Burned: u128.From64(37352)},
		{TxID: id, Status: execution.StatusFailedInsufficientBalance, GasUsed: 37352, Fee: u128.Max, Burned: u128.Max},
		{TxID: id, Status: execution.StatusSkipped, SkipReason: execution.SkipInsufficientBalance},
		{TxID: id, Status: execution.StatusOK, GasUsed: 36968}, // v0: gas, no fee
	}
}

// TestReceiptEncoding pins the layout: tx_id ‖ status ‖ skip_reason ‖
// gas_used u64 LE ‖ fee u128 LE ‖ burned u128 LE.
func TestReceiptEncoding(t *testing.T) {
	r := sampleReceipts()[0]
	want := "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f" + "00" + "00" +
		"e891000000000000" + "d0230100000000000000000000000000" + "e8910000000000000000000000000000"
	if got := hex.EncodeToString(r.Encode()); got != want {
		t.Fatalf("encoding\n got %s\nwant %s", got, want)
	}
	for _, r := range sampleReceipts() {
		d, err := execution.DecodeReceipt(r.Encode())
		if err != nil || d != r {
			t.Fatalf("round trip %+v: %v", r, err)
		}
	}
	// receipts_root = H(count u32 ‖ H(receipt)…)
	rs := sampleReceipts()
	pre := []byte{4, 0, 0, 0}
	for i := range rs {
		h := crypto.Sum(rs[i].Encode())
		pre = append(pre, h[:]...)
	}
	if execution.ReceiptsRoot(rs) != crypto.Sum(pre) {
		t.Fatal("receipts root")
	}
	if execution.ReceiptsRoot(nil) != crypto.Sum([]byte{0, 0, 0, 0}) {
		t.Fatal("empty receipts root")
	}
}

func TestDecodeReceiptRejects(t *testing.T) {
	good := sampleReceipts()[0].Encode()
	skipped := sampleReceipts()[2].Encode()
	mut := func(b []byte, f func([]byte)) []byte { c := bytes.Clone(b); f(c); return c }
	for name, b := range map[string][]byte{
		"short":            good[:73],
		"long":             append(bytes.Clone(good), 0),
		"status 3":         mut(good, func(c []byte) { c[32] = 3 }),
		"ok with reason":   mut(good, func(c []byte) { c[33] = 1 }),
		"skipped reason 0": mut(skipped, func(c []byte) { c[33] = 0 }),
		"skipped reason 9": mut(skipped, func(c []byte) { c[33] = 9 }),
		"skipped with gas": mut(skipped, func(c []byte) { c[34] = 1 }),
		"skipped with fee": mut(skipped, func(c []byte) { c[42] = 1 }),
		"burned > fee":     mut(good, func(c []byte) { c[58+15] = 1 }),
	} {
		if _, err := execution.DecodeReceipt(b); !errors.Is(err, execution.ErrBadReceipt) {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

func FuzzDecodeReceipt(f *testing.F) {
	for _, r := range sampleReceipts() {
		f.Add(r.Encode())
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := execution.DecodeReceipt(b)
		if err != nil {
			if !errors.Is(err, execution.ErrBadReceipt) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if !bytes.Equal(r.Encode(), b) {
			t.Fatalf("decode/encode is not the identity")
		}
	})
}
