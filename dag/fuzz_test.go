package dag

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/mempool"
	"github.com/qbind/qbind/types"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the generated fuzz seed corpora under testdata/fuzz")

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

// FuzzValidatePayload feeds an arbitrary proposal (after a mode byte:
// coupling mode = b % 3, real signature verification if b & 4) through V7,
// as decoded and with its batch_commitment fixed up, then through the
// certificate, commit and fetch paths of a fresh core: nothing panics, every
// message goes to a validator of the set, and every open fetch names a
// validator as creator and, unless committed, an expiry in the fetch window.
func FuzzValidatePayload(f *testing.F) {
	for _, s := range payloadSeeds(f) {
		f.Add(s)
	}
	vs := valSet(f, 4)
	p := params(f)
	real := &RealVerifier{Network: testNet, Validators: vs, Checker: types.NewChecker(testNet, p)}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) == 0 {
			return
		}
		prop, err := types.DecodeProposal(in[1:])
		if err != nil {
			return
		}
		var ver Verifier = structVerifier{p}
		if in[0]&4 != 0 {
			ver = real
		}
		c, err := New(Config{Network: testNet, Validators: vs, Self: 1, Params: p, Coupling: CouplingMode(in[0] % 3),
			Signer: NewMemSigner(testNet, valKeys()[1]), Verifier: ver}, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		check := func(acts []Action) {
			t.Helper()
			for _, a := range acts {
				if s, ok := a.(Send); ok && int(s.To) >= vs.Len() {
					t.Fatalf("send to %d", s.To)
				}
			}
			for id, f := range c.fetches {
				_, committed := c.commIdx[id]
				if int(f.header.Creator) >= vs.Len() || (!committed && f.header.ExpiryHeight > c.committed+p.BatchTTL) {
					t.Fatalf("fetch %+v open at committed %d", f.header, c.committed)
				}
			}
		}
		for range 2 {
			_ = c.ValidatePayload(prop, prop.Header.ParentID, noAncestry{})
			check(c.TakeActions())
			prop.Header.BatchCommitment = types.BatchCommitment(testNet, prop.BatchIDs(testNet))
		}
		for _, cert := range prop.Payload {
			check(c.Step(RecvCert{From: 2, Cert: cert}))
		}
		check(c.Step(Committed{Block: prop}))
		check(c.Step(Tick{NowMs: 1 << 20}))
		_, _ = c.BuildPayload(prop.Header.ID(), prop.Header.Height+1, 0, nil)
	})
}

// payloadSeeds are FuzzValidatePayload's seeds (mode byte ‖ proposal):
// an honest-looking payload in each mode, a certificate naming a creator
// outside the set, and certificates with the largest expiry. Signatures
// are filler bytes (structVerifier accepts them; the real one does not),
// printable so the corpus files stay small.
func payloadSeeds(t testing.TB) [][]byte {
	sig := bytes.Repeat([]byte{'s'}, crypto.MLDSA44SignatureSize)
	cert := func(creator uint16, seq, expiry uint64, signers ...int) *types.BatchCertificate {
		c := &types.BatchCertificate{Header: types.BatchHeader{Creator: creator, Seq: seq, ExpiryHeight: expiry, TxCount: 1,
			GasSum: 37352}, Signers: types.NewBitmap(4)}
		for _, i := range signers {
			c.Signers.Set(i)
			c.Signatures = append(c.Signatures, sig)
		}
		return c
	}
	prop := func(height uint64, certs ...*types.BatchCertificate) []byte {
		ids := make([]types.BatchID, len(certs))
		for i, c := range certs {
			ids[i] = c.BatchID(testNet)
		}
		p := &types.Proposal{Header: types.BlockHeader{Version: types.BlockVersion, ChainID: testNet.ChainID(), Height: height,
			View: height, BatchCommitment: types.BatchCommitment(testNet, ids)}, Payload: certs, Signature: sig}
		return p.Encode()
	}
	honest := prop(1, cert(0, 1, 100, 0, 1, 2), cert(2, 1, 100, 1, 2, 3))
	return [][]byte{
		append([]byte{0}, honest...),
		append([]byte{1}, honest...),
		append([]byte{2}, prop(1, cert(3, 7, 50, 3))...),
		append([]byte{1}, prop(1, cert(1000, 1, 50))...),
		append([]byte{2}, prop(3, cert(3, 1000, ^uint64(0), 0, 2, 3), cert(3, 1001, ^uint64(0), 3))...),
	}
}

// fuzzCreator returns a fresh core of validator 0 in mode enforce with one
// own pending batch (stored and self-acked, not certified) and that batch.
func fuzzCreator(t testing.TB, ver Verifier) (*Core, *types.Batch) {
	c, b, stored := fuzzCreatorStoring(t, ver)
	c.Step(stored)
	return c, b
}

// fuzzCreatorStoring is fuzzCreator with the own batch's store still in
// flight: it returns the StoreDone event for the caller to deliver.
func fuzzCreatorStoring(t testing.TB, ver Verifier) (*Core, *types.Batch, StoreDone) {
	vs := valSet(t, 4)
	pool, err := mempool.New(mempool.ConfigFor(mempool.FeePriority, params(t)), richView{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pool.Add(types.NewChecker(testNet, params(t)), signedTxs()[0][0], 0); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{Network: testNet, Validators: vs, Self: 0, Params: params(t), Signer: NewMemSigner(testNet, valKeys()[0]),
		Verifier: ver, Creator: true, MaxWaitMs: 50}, pool, 0)
	if err != nil {
		t.Fatal(err)
	}
	c.Step(Tick{NowMs: 0})
	var b *types.Batch
	var done StoreDone
	for _, a := range c.Step(Tick{NowMs: 100}) {
		if s, ok := a.(Store); ok {
			b, done = s.Batch, StoreDone{ID: s.ID}
		}
	}
	if b == nil {
		t.Fatal("no own batch")
	}
	return c, b, done
}

// FuzzReceiveMessage feeds an arbitrary message (after a kind byte: 0 ack,
// 1 certificate, 2 fetch response, 3 fetch request from validator in[1])
// to a creator with one pending batch: nothing panics, every message goes
// to a validator of the set, every certificate and fetch it keeps names a
// validator as creator, and an ack claiming the node itself never counts.
func FuzzReceiveMessage(f *testing.F) {
	for _, s := range messageSeeds(f) {
		f.Add(s)
	}
	ver := structVerifier{params(f)}
	f.Fuzz(func(t *testing.T, in []byte) {
		if len(in) < 2 {
			return
		}
		// The own batch's store completes after the message: a forged ack
		// naming this node must not take the own ack's place.
		c, own, stored := fuzzCreatorStoring(t, ver)
		var ev Event
		switch body := in[1:]; in[0] % 4 {
		case 0:
			a, err := types.DecodeBatchAck(body)
			if err != nil {
				return
			}
			ev = RecvAck{From: 2, Ack: a}
		case 1:
			cert, err := types.DecodeBatchCertificate(body)
			if err != nil {
				return
			}
			ev = RecvCert{From: 2, Cert: cert}
		case 2:
			b, err := types.DecodeBatch(body)
			if err != nil {
				return
			}
			ev = RecvFetchResponse{From: 2, Resp: &FetchResponse{Batch: b}}
		case 3:
			var id types.BatchID
			copy(id[:], body[1:])
			ev = RecvFetchRequest{From: uint16(body[0]), Req: &FetchRequest{ID: id}}
		}
		self := c.Metrics.AcksReceived
		acts := c.Step(ev)
		if a, ok := ev.(RecvAck); ok && a.Ack.Signer == 0 && c.Metrics.AcksReceived != self {
			t.Fatal("an ack claiming this node as signer counted")
		}
		acts = append(acts, c.Step(stored)...)
		acts = append(acts, c.Step(Tick{NowMs: 1 << 20})...)
		for _, a := range acts {
			if s, ok := a.(Send); ok && int(s.To) >= c.n() {
				t.Fatalf("send to %d", s.To)
			}
		}
		if ob := c.own[own.Header.Seq]; ob != nil && ob.acks[0] != nil {
			if err := ob.acks[0].Verify(testNet, c.cfg.Validators); err != nil {
				t.Fatalf("the own ack in the certificate does not verify: %v", err)
			}
		}
		for _, e := range c.certs {
			if !c.validHeader(&e.c.Header) {
				t.Fatalf("certificate kept for %+v", e.c.Header)
			}
		}
		for _, fs := range c.fetches {
			if !c.validHeader(&fs.header) {
				t.Fatalf("fetch open for %+v", fs.header)
			}
		}
	})
}

// messageSeeds are FuzzReceiveMessage's seeds: acks for the own batch from
// a peer, from "self" and from an index outside the set, a certificate for
// it, a certificate naming a creator outside the set, its body as a fetch
// response, and a fetch request for it.
func messageSeeds(t testing.TB) [][]byte {
	_, b := fuzzCreator(t, structVerifier{params(t)})
	id := b.Header.ID(testNet)
	sig := bytes.Repeat([]byte{'s'}, crypto.MLDSA44SignatureSize)
	ack := func(signer uint16) *types.BatchAck {
		return &types.BatchAck{BatchID: id, Signer: signer, Signature: sig}
	}
	cert := types.NewBatchCertificate(b.Header, 4, []*types.BatchAck{ack(0), ack(1), ack(2)})
	bad := &types.BatchCertificate{Header: b.Header, Signers: types.NewBitmap(4)}
	bad.Header.Creator = 1000
	body := &types.Batch{Header: b.Header, Signature: sig, Txs: b.Txs}
	return [][]byte{
		append([]byte{0}, ack(1).Encode()...),
		append([]byte{0}, ack(0).Encode()...),
		append([]byte{0}, ack(1000).Encode()...),
		append([]byte{1}, cert.Encode()...),
		append([]byte{1}, bad.Encode()...),
		append([]byte{2}, body.Encode()...),
		append([]byte{3, 1}, id[:]...),
	}
}

// TestFuzzSeedCorpora keeps testdata/fuzz in step with the encoders:
// FuzzValidatePayload's and FuzzReceiveMessage's checked-in seeds are
// exactly the generated ones (run with -update-seeds after a format
// change), and every FuzzReceiveBatch seed still decodes as a batch.
func TestFuzzSeedCorpora(t *testing.T) {
	gen := map[string][][]byte{"FuzzValidatePayload": payloadSeeds(t), "FuzzReceiveMessage": messageSeeds(t)}
	for _, target := range []string{"FuzzValidatePayload", "FuzzReceiveMessage"} {
		dir := filepath.Join("testdata", "fuzz", target)
		seeds := gen[target]
		if *updateSeeds {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i, s := range seeds {
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)), corpusFile(s), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
		for i, s := range seeds {
			got, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("seed%d", i)))
			if err != nil {
				t.Fatalf("%v (run go test ./dag -run TestFuzzSeedCorpora -update-seeds)", err)
			}
			if !bytes.Equal(got, corpusFile(s)) {
				t.Errorf("%s seed%d is stale (run with -update-seeds)", target, i)
			}
		}
	}
	for i, s := range gen["FuzzValidatePayload"] {
		if _, err := types.DecodeProposal(s[1:]); err != nil {
			t.Errorf("FuzzValidatePayload seed%d does not decode: %v", i, err)
		}
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "fuzz", "FuzzReceiveBatch", "*"))
	if len(files) == 0 {
		t.Fatal("no FuzzReceiveBatch seeds")
	}
	for _, name := range files {
		raw, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		in, err := parseCorpusFile(raw)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if _, err := types.DecodeBatch(in); err != nil {
			t.Errorf("%s: no longer decodes: %v", name, err)
		}
	}
}

func corpusFile(b []byte) []byte { return fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", b) }

func parseCorpusFile(raw []byte) ([]byte, error) {
	s, ok := strings.CutPrefix(string(raw), "go test fuzz v1\n[]byte(")
	if !ok {
		return nil, fmt.Errorf("not a []byte corpus file")
	}
	s, ok = strings.CutSuffix(strings.TrimRight(s, "\n"), ")")
	if !ok {
		return nil, fmt.Errorf("not a []byte corpus file")
	}
	u, err := strconv.Unquote(s)
	return []byte(u), err
}
