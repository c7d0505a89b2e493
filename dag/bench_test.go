package dag

import (
	"fmt"
	"testing"

	"github.com/qbind/qbind/types"
)

// BenchmarkCertVerify measures one full BatchCertificate verification (a
// quorum of ML-DSA-44 signatures) at n = 4, 7, 10 validators: 3, 5 and 7
// signatures.
func BenchmarkCertVerify(b *testing.B) {
	for _, n := range []int{4, 7, 10} {
		b.Run(fmt.Sprintf("n=%d", n), func(b *testing.B) {
			vs := valSet(b, n)
			h := types.BatchHeader{Creator: 0, Seq: 1, ExpiryHeight: 10, TxCount: 1}
			id := h.ID(testNet)
			q := 2*n/3 + 1
			var acks []*types.BatchAck
			for i := range q {
				a := &types.BatchAck{BatchID: id, Signer: uint16(i)}
				if err := a.Sign(testNet, valKeys()[i]); err != nil {
					b.Fatal(err)
				}
				acks = append(acks, a)
			}
			cert := types.NewBatchCertificate(h, n, acks)
			if err := cert.Verify(testNet, vs); err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(float64(q), "sigs")
			b.ResetTimer()
			for range b.N {
				if err := cert.Verify(testNet, vs); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
