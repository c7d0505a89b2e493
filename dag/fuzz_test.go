package dag

import (
	"testing"

	"github.com/qbind/qbind/types"
)

// structVerifier decodes like the real one but accepts every signature: the
// fuzz target explores the core's parsing and validation logic, not ML-DSA
// (which the crypto package tests).
type structVerifier struct{ p types.ExecParams }

func (v structVerifier) CheckTx(raw []byte) (*types.CheckedTx, error) {
	tx, err := types.DecodeTransaction(raw)
	if err != nil {
		return nil, err
	}
	tr, err := types.ParseTransfer(tx.Payload)
	if err != nil {
		return nil, err
	}
	s := tx.Sender()
	return &types.CheckedTx{Tx: tx, Raw: raw, Sender: s, ID: tx.ID(testNet, s), Transfer: tr,
		IntrinsicGas: v.p.IntrinsicGas(tr.Recipient == s, len(tx.Payload))}, nil
}
func (structVerifier) VerifyBatchSig(*types.Batch) error              { return nil }
func (structVerifier) VerifyAck(*types.BatchAck) error                { return nil }
func (structVerifier) VerifyCert(*types.BatchCertificate, bool) error { return nil }

// FuzzReceiveBatch feeds arbitrary bytes through the wire decoder and the
// core's receive path (validation, store, ack): nothing panics, nothing
// claiming this node as creator is acked, and every acked batch passes
// CheckBatch-equivalent invariants (1..cap txs, expiry window).
func FuzzReceiveBatch(f *testing.F) {
	f.Add(byzBatch(f, 1, 100, signedTxs()[5][:1], nil).Encode())
	f.Add(byzBatch(f, 2, 100, signedTxs()[4][:2], nil).Encode())
	f.Add([]byte{})
	tn := newNet(f, 4, CouplingEnforce, func(c *Config) { c.Verifier = structVerifier{params(f)} })
	f.Fuzz(func(t *testing.T, in []byte) {
		b, err := types.DecodeBatch(in)
		if err != nil {
			return
		}
		c := tn.nodes[0].core
		before := c.Metrics.AcksSent
		for _, a := range c.Step(RecvBatch{From: 3, Batch: b}) {
			if s, ok := a.(Store); ok {
				c.Step(StoreDone{ID: s.ID})
			}
		}
		if c.Metrics.AcksSent > before {
			h := b.Header
			if h.Creator == 0 || h.TxCount == 0 || int(h.TxCount) > c.cfg.MaxBatchTxs ||
				h.ExpiryHeight <= c.committed || h.ExpiryHeight > c.committed+c.cfg.Params.BatchTTL {
				t.Fatalf("acked an invalid batch %+v", h)
			}
		}
	})
}
