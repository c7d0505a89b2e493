package dag

import (
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/mempool"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// feed puts sender s's txs [from, to) into node's pool.
func (tn *tnet) feed(node, s, from, to int) {
	for n := from; n < to; n++ {
		tn.addTx(node, signedTxs()[s][n])
	}
	// The driver ticks the core after admitting (starts the max wait).
	tn.step(node, Tick{NowMs: tn.now})
	tn.run()
}

func TestCertifiedBatchesReachCommit(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	for i := range 4 {
		tn.feed(i, i, 0, 3)
	}
	tn.tick(10) // below the max wait: nothing cut yet
	if tn.nodes[0].core.Metrics.BatchesCreated != 0 {
		t.Fatal("batch cut before the max wait")
	}
	tn.tick(60)
	for i, nd := range tn.nodes {
		if nd.core.Metrics.BatchesCreated != 1 || nd.core.Metrics.CertsFormed != 1 {
			t.Fatalf("node %d: created %d certified %d", i, nd.core.Metrics.BatchesCreated, nd.core.Metrics.CertsFormed)
		}
		if !nd.core.Ready() {
			t.Fatalf("node %d not ready", i)
		}
		if got := len(nd.pool.Ordered(0)); got != 0 {
			t.Fatalf("node %d: %d txs still batchable", i, got)
		}
	}
	p := tn.commit(1, 1, nil) // leader(1) = 1: creators from 2
	if len(p.Payload) != 4 {
		t.Fatalf("payload %d certs", len(p.Payload))
	}
	var order []uint16
	for _, c := range p.Payload {
		order = append(order, c.Header.Creator)
	}
	if !slices.Equal(order, []uint16{2, 3, 0, 1}) {
		t.Fatalf("round robin order %v", order)
	}
	for i, nd := range tn.nodes {
		txs, missing := nd.core.BlockTxs(p)
		if len(missing) != 0 || len(txs) != 12 {
			t.Fatalf("node %d: %d txs, missing %v", i, len(txs), missing)
		}
		if nd.core.PendingOwn() != 0 || nd.core.Metrics.OwnCommitted != 1 || nd.core.Ready() {
			t.Fatalf("node %d: pending %d", i, nd.core.PendingOwn())
		}
	}
	// The canonical list is payload order, each batch's txs in order.
	txs, _ := tn.nodes[0].core.BlockTxs(p)
	if string(txs[0]) != string(signedTxs()[2][0]) || string(txs[11]) != string(signedTxs()[1][2]) {
		t.Fatal("canonical list order")
	}
	// A committed batch is never eligible again.
	p2, _ := tn.nodes[0].core.BuildPayload(types.BlockID{}, 2, 2, nil)
	if len(p2) != 0 {
		t.Fatal("committed batch proposed again")
	}
}

func TestCutRuleAndRunRule(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, func(c *Config) {
		c.MaxBatchTxs = 4
		c.MaxBatchTxsSender = 3
	})
	tn.feed(0, 0, 0, 8)
	tn.tick(1)
	c := tn.nodes[0].core
	if c.Metrics.BatchesCreated != 0 {
		t.Fatal("cut before the max wait although not full")
	}
	tn.tick(60)
	// 3 of sender 0 per batch (per-sender cap); nonce 3 waits for the
	// batch holding 0..2 (run rule).
	if c.Metrics.BatchesCreated != 1 {
		t.Fatalf("created %d", c.Metrics.BatchesCreated)
	}
	b := c.own[1].b
	if len(b.Txs) != 3 {
		t.Fatalf("batch of %d txs", len(b.Txs))
	}
	tn.tick(100)
	if c.Metrics.BatchesCreated != 1 {
		t.Fatal("nonce 3 batched while nonces 0..2 are pending")
	}
	// Full batch (count cap) cuts at once.
	tn.feed(0, 1, 0, 2)
	tn.feed(0, 2, 0, 2)
	if c.Metrics.BatchesCreated != 2 || len(c.own[2].b.Txs) != 4 {
		t.Fatalf("full batch not cut at once: %d", c.Metrics.BatchesCreated)
	}
}

func TestGasCut(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, func(c *Config) {
		c.Params.BlockGasLimit = 4 * 37352 * 2 // cut at ≥ 2 txs of 37,352
		c.MaxWaitMs = 1 << 40
	})
	tn.feed(0, 0, 0, 1)
	tn.tick(1)
	if tn.nodes[0].core.Metrics.BatchesCreated != 0 {
		t.Fatal("cut below BLOCK_GAS_LIMIT/4")
	}
	tn.feed(0, 1, 0, 5)
	tn.tick(1)
	c := tn.nodes[0].core
	if c.Metrics.BatchesCreated == 0 {
		t.Fatal("no cut at BLOCK_GAS_LIMIT/4")
	}
	for _, ob := range c.own {
		if ob.b.Header.GasSum > c.cfg.Params.BlockGasLimit/2 {
			t.Fatalf("gas_sum %d > limit/2", ob.b.Header.GasSum)
		}
	}
}

func TestMaxPendingAndExpiry(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, func(c *Config) { c.MaxBatchTxs = 1; c.Params.MaxPending = 3 })
	for s := range 4 {
		tn.feed(0, s, 0, 5)
	}
	tn.tick(100)
	c := tn.nodes[0].core
	mp := int(c.cfg.Params.MaxPending)
	if c.PendingOwn() != mp || c.Metrics.QuotaFull == 0 {
		t.Fatalf("pending %d, want MAX_PENDING %d", c.PendingOwn(), mp)
	}
	if exp := c.own[1].b.Header.ExpiryHeight; exp != 300-32 {
		t.Fatalf("expiry %d", exp)
	}
	// Expire them: empty blocks up to the expiry height.
	for h := uint64(1); h <= 268; h++ {
		p := &types.Proposal{Header: types.BlockHeader{Height: h, BatchCommitment: types.BatchCommitment(testNet, nil)}}
		for i := range tn.nodes {
			tn.step(i, Committed{Block: p})
		}
	}
	tn.run()
	if c.Metrics.OwnExpired != uint64(mp) {
		t.Fatalf("expired %d", c.Metrics.OwnExpired)
	}
	if got := len(tn.nodes[0].pool.Ordered(0)); got == 0 {
		t.Fatal("txs of expired batches are not batchable again")
	}
	if len(tn.nodes[1].core.bodies) != 0 || len(tn.nodes[1].disk) != 0 {
		t.Fatalf("expired bodies not collected: %d", len(tn.nodes[1].core.bodies))
	}
	tn.tick(100)
	if c.PendingOwn() != mp {
		t.Fatalf("builder did not resume after expiry: %d", c.PendingOwn())
	}
}

// byz builds batches as creator 3 would, signed with its key.
func byzBatch(t testing.TB, seq, expiry uint64, txs [][]byte, mut func(*types.Batch)) *types.Batch {
	return batchBy(t, 3, seq, expiry, txs, mut)
}

// batchBy builds a batch of creator, signed with its key.
func batchBy(t testing.TB, creator uint16, seq, expiry uint64, txs [][]byte, mut func(*types.Batch)) *types.Batch {
	ids := make([]types.TxID, len(txs))
	var gas uint64
	p := params(t)
	for i, raw := range txs {
		ids[i] = types.EntryID(testNet, raw)
		tx, err := types.DecodeTransaction(raw)
		if err == nil {
			tr, err := types.ParseTransfer(tx.Payload)
			if err == nil {
				gas += p.IntrinsicGas(tr.Recipient == tx.Sender(), len(tx.Payload))
			}
		}
	}
	b := &types.Batch{Header: types.BatchHeader{Creator: creator, Seq: seq, ExpiryHeight: expiry, TxCount: uint32(len(txs)),
		GasSum: gas, TxRoot: types.TxRoot(ids)}, Txs: txs}
	if mut != nil {
		mut(b)
	}
	if err := b.Sign(testNet, valKeys()[creator]); err != nil {
		t.Fatal(err)
	}
	return b
}

func otherSig(raw []byte) []byte {
	out := append([]byte(nil), raw...)
	out[len(out)-1] ^= 1 // the signature is the last field
	return out
}

func TestByzantineBatchesGetNoAck(t *testing.T) {
	good := signedTxs()[5][:2]
	tn := newNet(t, 4, CouplingEnforce, func(c *Config) { c.MaxBatchTxs = 10 })
	c := tn.nodes[0].core
	// Node 0 verifies the good txs first (the verified cache holds them).
	first := byzBatch(t, 1, 100, good, nil)
	if _, err := c.CheckBatch(first); err != nil {
		t.Fatal(err)
	}
	many := make([][]byte, 11)
	for i := range many {
		many[i] = signedTxs()[i%6][i/6]
	}
	cases := []struct {
		name string
		b    *types.Batch
		want error
	}{
		{"bad tx signature", byzBatch(t, 2, 100, [][]byte{otherSig(signedTxs()[4][0])}, nil), ErrBadTx},
		{"known tx, other signature bytes", byzBatch(t, 3, 100, [][]byte{good[0], otherSig(good[1])}, nil), ErrBadTx},
		{"empty", byzBatch(t, 4, 100, nil, nil), ErrEmptyBatch},
		{"oversize", byzBatch(t, 5, 100, many, nil), ErrTooManyTxs},
		{"expired", byzBatch(t, 6, 0, good, nil), ErrExpiry},
		{"expiry beyond TTL", byzBatch(t, 7, 301, good, nil), ErrExpiry},
		{"gas_sum", byzBatch(t, 8, 100, good, func(b *types.Batch) { b.Header.GasSum++ }), ErrGasSum},
		{"tx_root", byzBatch(t, 9, 100, good, func(b *types.Batch) { b.Header.TxRoot[0] ^= 1 }), ErrTxRoot},
		{"duplicate tx", byzBatch(t, 10, 100, [][]byte{good[0], good[0]}, nil), ErrDuplicateTx},
		{"wrong epoch", byzBatch(t, 11, 100, good, func(b *types.Batch) { b.Header.Epoch = 1 }), ErrWrongEpoch},
		{"gas cap", byzBatch(t, 12, 100, good, func(b *types.Batch) { b.Header.GasSum = 20_000_000 }), ErrGasCap},
	}
	bad := byzBatch(t, 13, 100, good, nil)
	bad.Signature = otherSig(bad.Signature)
	cases = append(cases, struct {
		name string
		b    *types.Batch
		want error
	}{"creator signature", bad, ErrBadBatchSig})
	for _, tc := range cases {
		if _, err := c.CheckBatch(tc.b); !errors.Is(err, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.want)
		}
		tn.step(0, RecvBatch{From: 3, Batch: tc.b})
		tn.run()
	}
	if c.Metrics.AcksSent != 0 {
		t.Fatalf("acked %d invalid batches", c.Metrics.AcksSent)
	}
	// Equivocation: ack the first batch of seq 1, refuse another seq-1 batch.
	tn.step(0, RecvBatch{From: 3, Batch: first})
	tn.run()
	if c.Metrics.AcksSent != 1 {
		t.Fatal("valid batch not acked")
	}
	twin := byzBatch(t, 1, 101, good, nil)
	acts := c.Step(RecvBatch{From: 3, Batch: twin})
	if c.Metrics.Equivocations != 1 || c.Metrics.BatchRejected["equivocation"] != 1 {
		t.Fatalf("equivocation not detected: %v", c.Metrics.BatchRejected)
	}
	for _, a := range acts {
		if _, ok := a.(Store); ok {
			t.Fatal("equivocating batch stored")
		}
	}
	// Re-sending the acked batch re-sends the same ack (no new signature).
	before := c.Metrics.AcksSent
	acts = c.Step(RecvBatch{From: 3, Batch: first})
	if len(acts) != 1 || c.Metrics.AcksSent != before {
		t.Fatalf("re-send handling: %v", acts)
	}
}

func TestPendingQuotaAndAckWindow(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	c := tn.nodes[0].core
	mp := int(c.cfg.Params.MaxPending)
	tx := signedTxs()[5][:1]
	for s := 1; s <= mp+1; s++ {
		tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, uint64(s), 100, tx, nil)})
		tn.run()
	}
	if c.Metrics.AcksSent != uint64(mp) || c.Metrics.BatchRejected["pending_quota"] != 1 {
		t.Fatalf("acks %d, quota rejections %d", c.Metrics.AcksSent, c.Metrics.BatchRejected["pending_quota"])
	}
	// Commit them all: the quota frees; a seq far below acked_max − 64 is refused.
	tn2 := newNet(t, 4, CouplingEnforce, nil)
	c2 := tn2.nodes[0].core
	tn2.step(0, RecvBatch{From: 3, Batch: byzBatch(t, 100, 100, tx, nil)})
	tn2.run()
	if _, err := c2.CheckBatch(byzBatch(t, 36, 100, tx, nil)); !errors.Is(err, ErrAckWindow) {
		t.Fatalf("ack window: %v", err)
	}
	if _, err := c2.CheckBatch(byzBatch(t, 37, 100, tx, nil)); err != nil {
		t.Fatalf("seq inside the window: %v", err)
	}
}

func TestByzantineCreatorGetsNoCertificate(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	tx := signedTxs()[5][:1]
	bad := byzBatch(t, 1, 100, [][]byte{otherSig(tx[0])}, nil)
	// Node 3 broadcasts an invalid batch to all honest nodes.
	for i := range 3 {
		tn.step(i, RecvBatch{From: 3, Batch: bad})
	}
	tn.run()
	for _, m := range tn.sent {
		if a, ok := m.(*types.BatchAck); ok && a.BatchID == bad.Header.ID(testNet) {
			t.Fatal("honest node acked an invalid batch")
		}
	}
	// Even with node 3's own signature, a certificate needs a quorum.
	sig, _ := valKeys()[3].Sign(types.AckSigningBytes(testNet, bad.Header.ID(testNet)))
	cert := types.NewBatchCertificate(bad.Header, 4, []*types.BatchAck{{BatchID: bad.Header.ID(testNet), Signer: 3, Signature: sig}})
	tn.step(0, RecvCert{From: 3, Cert: cert})
	if tn.nodes[0].core.Cert(bad.Header.ID(testNet)) != nil || tn.nodes[0].core.Metrics.CertRejected != 1 {
		t.Fatal("creator-only certificate accepted in enforce mode")
	}
}

func TestFetchOnMiss(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	isolated := 3
	tn.cut = func(from, to int) bool { return from == isolated || to == isolated }
	tn.feed(0, 0, 0, 2)
	tn.feed(1, 1, 0, 2)
	tn.tick(60)
	if tn.nodes[0].core.Metrics.CertsFormed != 1 || tn.nodes[1].core.Metrics.CertsFormed != 1 {
		t.Fatal("no certificates with 3 of 4")
	}
	if tn.nodes[isolated].core.Metrics.CertsReceived != 0 {
		t.Fatal("isolation leaked")
	}
	// Heal, and let node 1 answer with a tampered body first: a body whose
	// tx signature differs is refused, the next signer is asked at the
	// deadline.
	tn.cut = nil
	p := tn.commit(0, 3, nil)
	n3 := tn.nodes[isolated].core
	if n3.Metrics.BlockMissing != 2 || n3.Metrics.BlockCheck["missing"] != 2 {
		t.Fatalf("missing %d", n3.Metrics.BlockMissing)
	}
	if _, missing := n3.BlockTxs(p); len(missing) != 0 {
		t.Fatalf("still missing %d after fetch", len(missing))
	}
	if n3.Metrics.FetchAccepted != 2 || n3.Metrics.FetchRequests < 2 {
		t.Fatalf("fetch accepted %d requests %d", n3.Metrics.FetchAccepted, n3.Metrics.FetchRequests)
	}
}

func TestFetchRejectsTamperedBody(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	tn.cut = func(from, to int) bool { return from == 3 || to == 3 }
	tn.feed(0, 0, 0, 2)
	tn.tick(60)
	tn.cut = nil
	c0 := tn.nodes[0].core
	var cert *types.BatchCertificate
	for _, e := range c0.certs {
		cert = e.c
	}
	id := cert.BatchID(testNet)
	n3 := tn.nodes[3].core
	acts := n3.Step(RecvCert{From: 0, Cert: cert})
	var asked []uint16
	for _, a := range acts {
		if s, ok := a.(Send); ok {
			if _, ok := s.Msg.(*FetchRequest); ok {
				asked = append(asked, s.To)
			}
		}
	}
	// f = 1: ask signers until > 1 power: two of them.
	if len(asked) != 2 {
		t.Fatalf("asked %v", asked)
	}
	good := c0.Body(id)
	tampered := &types.Batch{Header: good.Header, Signature: good.Signature, Txs: [][]byte{good.Txs[0], otherSig(good.Txs[1])}}
	n3.Step(RecvFetchResponse{From: asked[0], Resp: &FetchResponse{Batch: tampered}})
	if n3.HasBody(id) || n3.Metrics.FetchRejected != 1 {
		t.Fatal("tampered body accepted")
	}
	wrong := &types.Batch{Header: good.Header, Signature: good.Signature, Txs: good.Txs[:1]}
	n3.Step(RecvFetchResponse{From: asked[0], Resp: &FetchResponse{Batch: wrong}})
	if n3.HasBody(id) {
		t.Fatal("body with another tx list accepted")
	}
	// Deadline: more targets asked.
	acts = n3.Step(Tick{NowMs: tn.now + DefaultFetchTimeoutMs + 1})
	if len(acts) == 0 {
		t.Fatal("no retry at the deadline")
	}
	n3.Step(RecvFetchResponse{From: 1, Resp: &FetchResponse{Batch: good}})
	if !n3.HasBody(id) {
		t.Fatal("good body refused")
	}
}

func TestResendToNonAckers(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	tn.cut = func(from, to int) bool { return to == 2 || to == 3 || from == 2 || from == 3 }
	tn.feed(0, 0, 0, 1)
	tn.tick(60)
	c := tn.nodes[0].core
	if c.Metrics.CertsFormed != 0 {
		t.Fatal("certified with 2 of 4")
	}
	tn.cut = nil
	tn.tick(1000)
	if c.Metrics.Resends != 0 {
		t.Fatal("re-sent before 2 s")
	}
	tn.tick(1000)
	if c.Metrics.Resends != 1 || c.Metrics.CertsFormed != 1 {
		t.Fatalf("resends %d certs %d", c.Metrics.Resends, c.Metrics.CertsFormed)
	}
}

func TestSeqResumption(t *testing.T) {
	vs := valSet(t, 4)
	sg := NewMemSigner(testNet, valKeys()[0])
	if err := sg.Guard.CheckBatch(0, 41, types.BatchID{1}); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Network: testNet, Validators: vs, Self: 0, Params: params(t), Signer: sg,
		Verifier: &RealVerifier{Network: testNet, Validators: vs, Checker: types.NewChecker(testNet, params(t))}}
	c, err := New(cfg, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	if c.NextSeq() != 42 {
		t.Fatalf("next seq %d from the record", c.NextSeq())
	}
	// Without a record: from a committed block holding an own batch.
	cfg.Signer = NewMemSigner(testNet, valKeys()[0])
	c, _ = New(cfg, nil, 0)
	cert := &types.BatchCertificate{Header: types.BatchHeader{Creator: 0, Seq: 7, ExpiryHeight: 50}}
	c.Step(Committed{Block: &types.Proposal{Header: types.BlockHeader{Height: 1}, Payload: []*types.BatchCertificate{cert}}})
	if c.NextSeq() != 8 {
		t.Fatalf("next seq %d from a committed block", c.NextSeq())
	}
}

func TestGuard(t *testing.T) {
	g := NewGuard()
	a, b := types.BatchID{1}, types.BatchID{2}
	if g.CheckBatch(0, 1, a) != nil || g.CheckBatch(0, 1, a) != nil {
		t.Fatal("re-signing identical content must be allowed")
	}
	if !errors.Is(g.CheckBatch(0, 1, b), ErrConflict) {
		t.Fatal("second batch for one seq")
	}
	if g.CheckAck(3, 100, a) != nil || !errors.Is(g.CheckAck(3, 100, b), ErrConflict) {
		t.Fatal("ack guard")
	}
	if !errors.Is(g.CheckAck(3, 36, a), ErrConflict) || g.CheckAck(3, 37, a) != nil {
		t.Fatal("ack window")
	}
	if id, ok := g.Acked(3, 37); !ok || id != a {
		t.Fatal("window record")
	}
	_ = crypto.DevNet
}

// TestPendingQuotaBurst: a burst of MAX_PENDING+1 batches arriving before
// any is stored must not all be acked (the quota counts batches being stored).
func TestPendingQuotaBurst(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	c := tn.nodes[0].core
	mp := int(c.cfg.Params.MaxPending)
	tx := signedTxs()[5][:1]
	for s := 1; s <= mp+1; s++ {
		c.Step(RecvBatch{From: 3, Batch: byzBatch(t, uint64(s), 100, tx, nil)})
	}
	if c.Metrics.BatchRejected["pending_quota"] != 1 {
		t.Fatalf("burst: quota rejections %d", c.Metrics.BatchRejected["pending_quota"])
	}
}

// TestRestore: after a restart, an own pending batch is re-sent and
// certified again, and a restored body of another creator is re-acked
// with an identical ack when its creator re-sends.
func TestRestore(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	tn.cut = func(from, to int) bool { return (from == 0 && to >= 2) || (to == 0 && from >= 2) }
	tn.feed(0, 0, 0, 1)
	tn.tick(60)
	c0 := tn.nodes[0].core
	if c0.Metrics.CertsFormed != 0 || c0.PendingOwn() != 1 {
		t.Fatal("setup: batch should be pending uncertified (only node 1 hears node 0)")
	}
	// Node 0 and node 1 restart from their disks (same signers: the guard
	// lives with the key).
	for _, i := range []int{0, 1} {
		nd := tn.nodes[i]
		core, err := New(nd.core.cfg, nd.pool, 0)
		if err != nil {
			t.Fatal(err)
		}
		var bodies []*types.Batch
		for _, id := range sortedIDs(nd.disk) {
			bodies = append(bodies, nd.disk[id])
		}
		core.Restore(bodies)
		nd.core = core
	}
	c0 = tn.nodes[0].core
	if c0.PendingOwn() != 1 || c0.NextSeq() != 2 {
		t.Fatalf("restored pending %d next seq %d", c0.PendingOwn(), c0.NextSeq())
	}
	tn.cut = nil
	tn.tick(2001) // re-send to everyone (no acks known after the restart)
	if c0.Metrics.CertsFormed != 1 {
		t.Fatalf("not certified after restart: acks received %d", c0.Metrics.AcksReceived)
	}
	if tn.nodes[1].core.Metrics.SignerConflicts != 0 {
		t.Fatal("re-ack refused by the guard")
	}
}

func TestUnsignedCopyIsNotEquivocation(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	c := tn.nodes[0].core
	tx := signedTxs()[5][:1]
	tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, 1, 100, tx, nil)})
	tn.run()
	forged := byzBatch(t, 1, 101, tx, nil)
	forged.Signature = otherSig(forged.Signature)
	c.Step(RecvBatch{From: 2, Batch: forged})
	if c.Metrics.Equivocations != 0 || c.Metrics.BatchRejected["bad_batch_sig"] != 1 {
		t.Fatalf("forged copy: equivocations %d, rejections %v", c.Metrics.Equivocations, c.Metrics.BatchRejected)
	}
}

type noAncestry struct{}

func (noAncestry) Block(types.BlockID) *types.Proposal { return nil }
func (noAncestry) CommittedHeight() uint64             { return 0 }

// TestFetchedBodyWakesConsensus: in coupling mode warn a voter missing a body
// gets ErrNeedBodies (consensus holds its vote), and once the fetched body is
// durably stored the core emits PayloadAvailable so consensus re-runs V7,
// which then passes.
func TestFetchedBodyWakesConsensus(t *testing.T) {
	tn := newNet(t, 4, CouplingWarn, nil)
	isolated := 3
	tn.cut = func(from, to int) bool { return from == isolated || to == isolated }
	tn.feed(0, 0, 0, 2)
	tn.tick(60)
	payload, bc := tn.nodes[0].core.BuildPayload(types.BlockID{}, 1, 3, nil)
	if len(payload) == 0 {
		t.Fatal("no certified batch to propose")
	}
	p := &types.Proposal{Header: types.BlockHeader{Height: 1, View: 3, BatchCommitment: bc}, Payload: payload}
	tn.cut = nil
	n3 := tn.nodes[isolated].core
	if err := n3.ValidatePayload(p, types.BlockID{}, noAncestry{}); !errors.Is(err, ErrNeedBodies) {
		t.Fatalf("validate without the body: %v", err)
	}
	for _, a := range n3.TakeActions() {
		tn.perform(isolated, a)
	}
	before := tn.avail[isolated]
	tn.run()
	if tn.avail[isolated] == before {
		t.Fatal("storing the fetched body did not emit PayloadAvailable")
	}
	if err := n3.ValidatePayload(p, types.BlockID{}, noAncestry{}); err != nil {
		t.Fatalf("validate after the fetch: %v", err)
	}
}

// TestForgedSelfAckRefused: a peer sends the creator an ack claiming the
// creator itself as signer before the creator's own store completes. The
// forgery is dropped and counted; the certificate the creator forms holds
// only valid signatures and the other nodes accept it (enforce), and in mode
// off the forgery does not make a creator-only certificate either.
func TestForgedSelfAckRefused(t *testing.T) {
	for _, mode := range []CouplingMode{CouplingEnforce, CouplingOff} {
		t.Run(mode.String(), func(t *testing.T) {
			tn := newNet(t, 4, mode, nil)
			n0 := tn.nodes[0]
			tn.addTx(0, signedTxs()[0][0])
			tn.step(0, Tick{NowMs: 0}) // starts the max wait
			tn.now = 100
			var b *types.Batch
			for _, a := range n0.core.Step(Tick{NowMs: tn.now}) {
				if s, ok := a.(Store); ok {
					b = s.Batch
					continue // the fsync has not finished yet
				}
				tn.perform(0, a)
			}
			if b == nil {
				t.Fatal("setup: no batch cut")
			}
			id := b.Header.ID(testNet)
			forged := &types.BatchAck{BatchID: id, Signer: 0, Signature: make([]byte, crypto.MLDSA44SignatureSize)}
			tn.step(0, RecvAck{From: 3, Ack: forged})
			if n0.core.Cert(id) != nil {
				t.Fatal("a forged self-ack alone made a certificate")
			}
			tn.run() // the peers store and ack
			tn.step(0, StoreDone{ID: id})
			tn.run()
			cert := n0.core.Cert(id)
			if cert == nil {
				t.Fatal("no certificate formed")
			}
			if err := cert.Verify(testNet, tn.vs); err != nil {
				t.Fatalf("the creator formed a certificate that does not verify: %v", err)
			}
			for i := 1; i < 4; i++ {
				if tn.nodes[i].core.Cert(id) == nil || tn.nodes[i].core.Metrics.CertRejected != 0 {
					t.Fatalf("node %d did not accept the creator's certificate", i)
				}
			}
			payload, _ := n0.core.BuildPayload(types.BlockID{}, 1, 0, nil)
			p := proposal(n0.core, 1, 0, types.BlockID{}, payload)
			if err := tn.nodes[1].core.ValidatePayload(p, types.BlockID{}, noAncestry{}); err != nil {
				t.Fatalf("the creator's payload fails V7 at node 1: %v", err)
			}
			if n0.core.Metrics.AckSelfClaimed != 1 || n0.core.Metrics.AckRejected != 1 {
				t.Fatalf("forged self-ack counted %d (rejected %d)", n0.core.Metrics.AckSelfClaimed, n0.core.Metrics.AckRejected)
			}
		})
	}
}

// restart replaces node i's core by a fresh one over the same signer (its
// record survives, like the key's) and restores the bodies on its disk.
func (tn *tnet) restart(i int) *Core {
	tn.t.Helper()
	nd := tn.nodes[i]
	c, err := New(nd.core.cfg, nd.pool, nd.core.CommittedHeight())
	if err != nil {
		tn.t.Fatal(err)
	}
	var bodies []*types.Batch
	for _, id := range sortedIDs(nd.disk) {
		bodies = append(bodies, nd.disk[id])
	}
	c.Restore(bodies)
	nd.core = c
	return c
}

// TestRestartKeepsAckWindow: after a restart the core takes acked_max and
// the acked batch per seq from the signer's record, so a Byzantine creator
// cannot make the node store old-seq bodies (which the signer would refuse
// to ack, outside the MAX_PENDING quota) nor a second batch for an acked
// seq.
func TestRestartKeepsAckWindow(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	tx := signedTxs()[5][:1]
	tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, 200, 100, tx, nil)})
	tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, 190, 100, tx, nil)})
	tn.run()
	if tn.nodes[0].core.Metrics.AcksSent != 2 {
		t.Fatal("setup: no acks")
	}
	c := tn.restart(0)
	mp := int(c.cfg.Params.MaxPending)
	for s := 1; s <= 5*mp; s++ {
		tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, uint64(s), 100, tx, nil)})
		tn.run()
	}
	twin := byzBatch(t, 190, 101, tx, nil) // another batch for an acked seq
	tn.step(0, RecvBatch{From: 3, Batch: twin})
	tn.run()
	if len(c.bodies) != 2 || len(tn.nodes[0].disk) != 2 {
		t.Fatalf("restarted node holds %d bodies (disk %d), want the 2 acked ones", len(c.bodies), len(tn.nodes[0].disk))
	}
	if c.Metrics.BatchRejected["ack_window"] != uint64(5*mp) || c.Metrics.Equivocations != 1 || c.Metrics.SignerConflicts != 0 {
		t.Fatalf("rejections %v, equivocations %d, signer conflicts %d", c.Metrics.BatchRejected, c.Metrics.Equivocations, c.Metrics.SignerConflicts)
	}
	// Inside the window the node still acks.
	tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, 201, 100, tx, nil)})
	tn.run()
	if c.Metrics.AcksSent != 1 {
		t.Fatalf("acks after restart %d", c.Metrics.AcksSent)
	}
}

// refusingSigner is a signer whose guard refuses every ack (as the real
// record does for a seq it holds another batch for, or below its window).
type refusingSigner struct{ *MemSigner }

func (refusingSigner) SignAck(uint16, uint64, types.BatchID) ([]byte, error) {
	return nil, ErrConflict
}

// TestRefusedAckDropsBody: a body whose ack the signer refuses is deleted
// (Delete action) as its quota slot is released: the node never holds more
// unacked bodies of a creator than MAX_PENDING.
func TestRefusedAckDropsBody(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, func(c *Config) { c.Signer = refusingSigner{c.Signer.(*MemSigner)} })
	c := tn.nodes[0].core
	mp := int(c.cfg.Params.MaxPending)
	tx := signedTxs()[5][:1]
	for s := 1; s <= 3*mp; s++ {
		tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, uint64(s), 100, tx, nil)})
		tn.run()
	}
	if len(c.bodies) != 0 || len(tn.nodes[0].disk) != 0 {
		t.Fatalf("holds %d bodies (disk %d) the signer refused to ack", len(c.bodies), len(tn.nodes[0].disk))
	}
	if c.Metrics.BodiesDropped != uint64(3*mp) || c.Metrics.SignerConflicts != uint64(3*mp) || c.Metrics.AcksSent != 0 {
		t.Fatalf("dropped %d, conflicts %d, acks %d", c.Metrics.BodiesDropped, c.Metrics.SignerConflicts, c.Metrics.AcksSent)
	}
}

// nonceView is an account view with nonces the test advances (executed
// txs), rich balances.
type nonceView struct{ m map[types.AccountID]uint64 }

func (v *nonceView) Account(id types.AccountID) (types.Account, error) {
	return types.Account{Nonce: v.m[id], Balance: u128.From64(1 << 62)}, nil
}

// commitOwn commits node i's eligible certificates at every node and, in
// the same turn (before any timer fires), applies the block's outcomes to
// node i's pool as its executor would: every tx executed.
func (tn *tnet) commitOwn(i int, view *nonceView) {
	tn.t.Helper()
	p := tn.commit(i, 0, nil)
	txs, missing := tn.nodes[i].core.BlockTxs(p)
	if len(missing) != 0 {
		tn.t.Fatalf("missing %d bodies", len(missing))
	}
	var outs []mempool.TxOutcome
	for _, raw := range txs {
		ct, err := tn.checker.Check(raw)
		if err != nil {
			tn.t.Fatal(err)
		}
		outs = append(outs, mempool.TxOutcome{ID: ct.ID, Sender: ct.Sender, Executed: true})
		view.m[ct.Sender]++
	}
	if err := tn.nodes[i].pool.OnBlock(outs); err != nil {
		tn.t.Fatal(err)
	}
}

// nonceNet is a network whose node 0 has a pool over a nonceView.
func nonceNet(t *testing.T, mut func(*Config)) (*tnet, *nonceView) {
	tn := newNet(t, 4, CouplingEnforce, mut)
	view := &nonceView{m: map[types.AccountID]uint64{}}
	pool, err := mempool.New(mempool.ConfigFor(mempool.FeePriority, params(t)), view)
	if err != nil {
		t.Fatal(err)
	}
	tn.nodes[0].pool, tn.nodes[0].core.pool = pool, pool
	return tn, view
}

// TestBuilderResumesAfterCommit: with a driver that ticks only when the
// core asks (SetTimer) and after admitting txs, a tx that waited behind the
// run rule (nonce 1 behind the pending batch holding nonce 0) or behind the
// MAX_PENDING quota is batched once the commit frees it: the commit arms a
// timer, and the stale max-wait time of the quota-blocked builder does not
// suppress it.
func TestBuilderResumesAfterCommit(t *testing.T) {
	t.Run("run rule", func(t *testing.T) {
		tn, view := nonceNet(t, nil)
		c := tn.nodes[0].core
		tn.feed(0, 0, 0, 1) // nonce 0; the admission tick starts the max wait
		tn.runTimers(tn.now + 10_000)
		if c.Metrics.BatchesCreated != 1 || c.Metrics.CertsFormed != 1 {
			t.Fatalf("setup: created %d certified %d", c.Metrics.BatchesCreated, c.Metrics.CertsFormed)
		}
		tn.feed(0, 0, 1, 2) // nonce 1 waits for the pending batch
		tn.runTimers(tn.now + 10_000)
		if c.Metrics.BatchesCreated != 1 {
			t.Fatal("setup: nonce 1 batched while nonce 0 pending")
		}
		tn.commitOwn(0, view)
		tn.runTimers(tn.now + 10_000)
		if c.Metrics.BatchesCreated != 2 || c.Metrics.CertsFormed != 2 {
			t.Fatalf("nonce 1 never batched after the commit: created %d, certified %d", c.Metrics.BatchesCreated, c.Metrics.CertsFormed)
		}
	})
	t.Run("quota", func(t *testing.T) {
		tn, view := nonceNet(t, func(c *Config) { c.MaxBatchTxs = 1; c.Params.MaxPending = 1 })
		c := tn.nodes[0].core
		tn.feed(0, 0, 0, 1)
		tn.feed(0, 1, 0, 1)
		tn.runTimers(tn.now + 10_000)
		if c.Metrics.BatchesCreated != 1 || c.Metrics.QuotaFull == 0 {
			t.Fatalf("setup: created %d, quota full %d", c.Metrics.BatchesCreated, c.Metrics.QuotaFull)
		}
		tn.commitOwn(0, view)
		tn.runTimers(tn.now + 10_000)
		if c.Metrics.BatchesCreated != 2 {
			t.Fatalf("second tx never batched after the quota freed: created %d", c.Metrics.BatchesCreated)
		}
	})
}

// TestBuilderResumesAfterExpiry: an own batch that expires uncommitted puts
// its txs back in the pool (Unbatch); the core asks for a tick and re-cuts
// them without any admission.
func TestBuilderResumesAfterExpiry(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	tn.cut = func(from, to int) bool { return from == 0 || to == 0 }
	c := tn.nodes[0].core
	tn.feed(0, 0, 0, 1)
	tn.runTimers(tn.now + 100)
	if c.Metrics.BatchesCreated != 1 || c.PendingOwn() != 1 {
		t.Fatal("setup: no batch")
	}
	exp := c.own[1].b.Header.ExpiryHeight
	for h := uint64(1); h <= exp; h++ {
		tn.step(0, Committed{Block: &types.Proposal{Header: types.BlockHeader{Height: h, BatchCommitment: types.BatchCommitment(testNet, nil)}}})
	}
	if c.Metrics.OwnExpired != 1 {
		t.Fatal("setup: not expired")
	}
	tn.runTimers(tn.now + 100)
	if c.Metrics.BatchesCreated != 2 {
		t.Fatalf("expired txs never re-batched: created %d", c.Metrics.BatchesCreated)
	}
}

// TestRestartAfterExtremeSeqs: the ack record is seeded for seqs at both
// ends of the range. A Byzantine creator's seq 2^64−1 once made New loop
// forever (the seed loop counted seq up to acked_max and wrapped), and seq 0
// was not seeded (acked_max 0 read as "nothing acked").
func TestRestartAfterExtremeSeqs(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, nil)
	tx := signedTxs()[5][:1]
	tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, math.MaxUint64, 100, tx, nil)})
	tn.step(0, RecvBatch{From: 2, Batch: batchBy(t, 2, 0, 100, tx, nil)})
	tn.run()
	if tn.nodes[0].core.Metrics.AcksSent != 2 {
		t.Fatalf("setup: %d acks, want 2", tn.nodes[0].core.Metrics.AcksSent)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		tn.restart(0)
	}()
	select {
	case <-done:
	case <-time.After(time.Minute): // a bound on a hang, not a synchronisation
		t.Fatal("New did not return after acking seq 2^64−1")
	}
	c := tn.nodes[0].core
	tn.step(0, RecvBatch{From: 3, Batch: byzBatch(t, math.MaxUint64, 101, tx, nil)})
	tn.step(0, RecvBatch{From: 2, Batch: batchBy(t, 2, 0, 101, tx, nil)})
	tn.run()
	if c.Metrics.Equivocations != 2 || c.Metrics.AcksSent != 0 {
		t.Fatalf("after restart: %d equivocations, %d acks; want both twins seen as equivocations", c.Metrics.Equivocations, c.Metrics.AcksSent)
	}
}
