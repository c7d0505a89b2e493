package dag

import (
	"errors"
	"testing"

	"github.com/qbind/qbind/types"
)

// memAnc is an in-memory Ancestry.
type memAnc struct {
	blocks    map[types.BlockID]*types.Proposal
	committed uint64
}

func (a *memAnc) Block(id types.BlockID) *types.Proposal { return a.blocks[id] }
func (a *memAnc) CommittedHeight() uint64                { return a.committed }

// certified returns a network where every node created one certified batch.
func certified(t *testing.T, mode CouplingMode, mut func(*Config)) *tnet {
	tn := newNet(t, 4, mode, mut)
	for i := range 4 {
		tn.feed(i, i, 0, 2)
	}
	tn.tick(60)
	return tn
}

func proposal(c *Core, height, view uint64, parent types.BlockID, payload []*types.BatchCertificate) *types.Proposal {
	ids := make([]types.BatchID, len(payload))
	for i, cert := range payload {
		ids[i] = cert.BatchID(testNet)
	}
	return &types.Proposal{Header: types.BlockHeader{Height: height, View: view, ParentID: parent,
		BatchCommitment: types.BatchCommitment(testNet, ids)}, Payload: payload}
}

func TestValidatePayloadEnforce(t *testing.T) {
	tn := certified(t, CouplingEnforce, nil)
	c := tn.nodes[0].core
	payload, _ := c.BuildPayload(types.BlockID{}, 1, 0, nil)
	if len(payload) != 4 {
		t.Fatalf("payload %d", len(payload))
	}
	anc := &memAnc{blocks: map[types.BlockID]*types.Proposal{}}
	v := tn.nodes[2].core
	ok := proposal(c, 1, 0, types.BlockID{}, payload)
	if err := v.ValidatePayload(ok, types.BlockID{}, anc); err != nil {
		t.Fatal(err)
	}
	// The block is stored uncommitted; its child must not repeat a batch.
	parent := ok.Header.ID()
	anc.blocks[parent] = ok
	child := proposal(c, 2, 1, parent, payload[:1])
	if err := v.ValidatePayload(child, parent, anc); !errors.Is(err, ErrPayloadInvalid) {
		t.Fatalf("batch repeated in the uncommitted ancestry: %v", err)
	}
	// The leader's builder skips it as well.
	if p2, _ := c.BuildPayload(parent, 2, 1, anc); len(p2) != 0 {
		t.Fatalf("builder repeated %d ancestry batches", len(p2))
	}
	bad := []*types.Proposal{
		proposal(c, 1, 0, types.BlockID{}, []*types.BatchCertificate{payload[0], payload[0]}),
		{Header: types.BlockHeader{Height: 1}, Payload: payload}, // commitment mismatch
		proposal(c, 300, 0, types.BlockID{}, payload[:1]),        // expired at this height
	}
	forged := *payload[1]
	forged.Signatures = append([][]byte{}, forged.Signatures...)
	forged.Signatures[0] = otherSig(forged.Signatures[0])
	forged.Header.Seq = 99 // a new id: not in the cache
	bad = append(bad, proposal(c, 1, 0, types.BlockID{}, []*types.BatchCertificate{&forged}))
	for i, p := range bad {
		if err := v.ValidatePayload(p, types.BlockID{}, anc); !errors.Is(err, ErrPayloadInvalid) {
			t.Errorf("bad payload %d accepted: %v", i, err)
		}
	}
	if v.Metrics.CouplingValidation["invalid"] != uint64(len(bad))+1 || v.Metrics.CouplingValidation["valid"] != 1 {
		t.Fatalf("metrics %v", v.Metrics.CouplingValidation)
	}
	// Committed: never again, and the post-commit check counts ok.
	for i := range tn.nodes {
		tn.step(i, Committed{Block: ok})
	}
	tn.run()
	if err := v.ValidatePayload(proposal(c, 2, 1, parent, payload[:1]), parent, anc); !errors.Is(err, ErrPayloadInvalid) {
		t.Fatal("committed batch accepted again")
	}
	if v.Metrics.BlockCheck["ok"] != 4 {
		t.Fatalf("block check %v", v.Metrics.BlockCheck)
	}
}

func TestValidatePayloadWarnHoldsBodies(t *testing.T) {
	tn := newNet(t, 4, CouplingWarn, nil)
	tn.cut = func(from, to int) bool { return from == 3 || to == 3 }
	tn.feed(0, 0, 0, 2)
	tn.tick(60)
	tn.cut = nil
	c := tn.nodes[0].core
	payload, _ := c.BuildPayload(types.BlockID{}, 1, 0, nil)
	v := tn.nodes[3].core
	p := proposal(c, 1, 0, types.BlockID{}, payload)
	err := v.ValidatePayload(p, types.BlockID{}, nil)
	if !errors.Is(err, ErrNeedBodies) {
		t.Fatalf("warn without the body: %v", err)
	}
	for _, a := range v.TakeActions() {
		tn.perform(3, a)
	}
	tn.run()
	if err := v.ValidatePayload(p, types.BlockID{}, nil); err != nil {
		t.Fatalf("after fetching: %v", err)
	}
	// An invalid payload is counted and accepted in warn mode.
	dup := proposal(c, 1, 0, types.BlockID{}, []*types.BatchCertificate{payload[0], payload[0]})
	if err := v.ValidatePayload(dup, types.BlockID{}, nil); err != nil {
		t.Fatalf("warn rejected: %v", err)
	}
	if v.Metrics.CouplingValidation["invalid_warn"] != 1 {
		t.Fatalf("metrics %v", v.Metrics.CouplingValidation)
	}
}

func TestCouplingOffCreatorOnly(t *testing.T) {
	tn := newNet(t, 4, CouplingOff, nil)
	tn.cut = func(from, to int) bool { return from != to } // nobody else hears
	tn.feed(0, 0, 0, 1)
	tn.tick(60)
	c := tn.nodes[0].core
	if c.Metrics.CertsFormed != 1 {
		t.Fatal("off mode: no creator-only certificate")
	}
	payload, _ := c.BuildPayload(types.BlockID{}, 1, 0, nil)
	if len(payload) != 1 || payload[0].Signers.Count() != 1 {
		t.Fatalf("payload %v", payload)
	}
	tn.cut = nil
	v := tn.nodes[1].core
	p := proposal(c, 1, 0, types.BlockID{}, payload)
	if err := v.ValidatePayload(p, types.BlockID{}, nil); !errors.Is(err, ErrNeedBodies) {
		t.Fatalf("off mode must hold bodies: %v", err)
	}
	for _, a := range v.TakeActions() {
		tn.perform(1, a)
	}
	tn.run()
	if err := v.ValidatePayload(p, types.BlockID{}, nil); err != nil {
		t.Fatal(err)
	}
}

func TestBuildPayloadCaps(t *testing.T) {
	tn := newNet(t, 4, CouplingEnforce, func(c *Config) { c.MaxBatchTxs = 1 })
	for i := range 4 {
		for s := range 6 {
			tn.feed(i, s, 0, 1)
		}
	}
	tn.tick(60)
	c := tn.nodes[0].core
	var eligible int
	for _, e := range c.certs {
		if e.quorum {
			eligible++
		}
	}
	if eligible != 24 {
		t.Fatalf("%d certificates", eligible)
	}
	payload, _ := c.BuildPayload(types.BlockID{}, 1, 3, nil)
	if len(payload) != 16 {
		t.Fatalf("payload %d > 4n", len(payload))
	}
	// Round robin from leader(3)+1 = 0, each creator in seq order.
	for i, cert := range payload {
		if int(cert.Header.Creator) != i%4 || cert.Header.Seq != uint64(i/4+1) {
			t.Fatalf("cert %d: creator %d seq %d", i, cert.Header.Creator, cert.Header.Seq)
		}
	}
	// Gas: only 2 batches of 37,352 fit.
	c.cfg.Params.BlockGasLimit = 2*37352 + 100
	payload, _ = c.BuildPayload(types.BlockID{}, 1, 3, nil)
	if len(payload) != 2 {
		t.Fatalf("gas-bounded payload %d", len(payload))
	}
	// Bytes.
	c.cfg.Params.BlockGasLimit = 30_000_000
	c.cfg.Params.MaxPayloadBytes = uint32(4 + 3*payload[0].EncodedSize())
	payload, _ = c.BuildPayload(types.BlockID{}, 1, 3, nil)
	if len(payload) != 3 {
		t.Fatalf("byte-bounded payload %d", len(payload))
	}
}

// TestCertCacheNeedsIdenticalCertificate: V7 is a function of the block. A
// node holding the honest certificate of a batch in its cache must judge a
// payload certificate for the same header exactly as a node without the
// cache: forged signatures and an empty signer set are rejected, the
// identical certificate is a cache hit, and another valid certificate (other
// signers) is verified in full and accepted.
func TestCertCacheNeedsIdenticalCertificate(t *testing.T) {
	tn := certified(t, CouplingEnforce, nil)
	c := tn.nodes[0].core
	payload, _ := c.BuildPayload(types.BlockID{}, 1, 0, nil)
	honest := payload[0]
	forged := *honest
	forged.Signatures = make([][]byte, len(honest.Signatures))
	for i := range forged.Signatures {
		forged.Signatures[i] = otherSig(honest.Signatures[i])
	}
	empty := &types.BatchCertificate{Header: honest.Header, Signers: types.NewBitmap(4)}
	id := honest.BatchID(testNet)
	// Another quorum: two of the honest certificate's signers and the
	// validator it lacks.
	signers := honest.Signers.Indices()[:2]
	for i := range 4 {
		if !honest.Signers.Has(i) {
			signers = append(signers, i)
		}
	}
	var acks []*types.BatchAck
	for _, i := range signers {
		a := &types.BatchAck{BatchID: id, Signer: uint16(i)}
		if err := a.Sign(testNet, valKeys()[i]); err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a)
	}
	other := types.NewBatchCertificate(honest.Header, 4, acks)
	if err := other.Verify(testNet, tn.vs); err != nil || sameCert(other, honest) {
		t.Fatalf("setup: other certificate: %v", err)
	}
	anc := &memAnc{blocks: map[types.BlockID]*types.Proposal{}}
	cached := tn.nodes[2].core
	if cached.Cert(id) == nil {
		t.Fatal("setup: node 2 has no cached certificate")
	}
	for _, tc := range []struct {
		name  string
		cert  *types.BatchCertificate
		valid bool
	}{{"forged signatures", &forged, false}, {"no signers", empty, false}, {"identical", honest, true}, {"other signers", other, true}} {
		p := proposal(c, 1, 0, types.BlockID{}, []*types.BatchCertificate{tc.cert})
		fresh := newNet(t, 4, CouplingEnforce, nil).nodes[2].core // e.g. just restarted: empty cache
		errFresh := fresh.ValidatePayload(p, types.BlockID{}, anc)
		hits, verifies := cached.Metrics.CertCacheHits, cached.Metrics.CertVerifies
		errCached := cached.ValidatePayload(p, types.BlockID{}, anc)
		if (errCached == nil) != tc.valid || (errFresh == nil) != tc.valid {
			t.Errorf("%s: with cache %v, without %v; want valid=%v", tc.name, errCached, errFresh, tc.valid)
		}
		wantHit := tc.name == "identical"
		if gotHit := cached.Metrics.CertCacheHits > hits && cached.Metrics.CertVerifies == verifies; gotHit != wantHit {
			t.Errorf("%s: cache hit %v, want %v", tc.name, gotHit, wantHit)
		}
	}
	// The other valid certificate is remembered: presented again, a hit.
	hits := cached.Metrics.CertCacheHits
	if err := cached.ValidatePayload(proposal(c, 1, 0, types.BlockID{}, []*types.BatchCertificate{other}), types.BlockID{}, anc); err != nil || cached.Metrics.CertCacheHits != hits+1 {
		t.Fatalf("second presentation of a verified variant: %v, hits %d", err, cached.Metrics.CertCacheHits-hits)
	}
}

// TestPayloadCreatorOutOfRange: a Byzantine leader's payload certificate
// naming a creator outside the validator set (empty bitmap, so the creator
// would be the first fetch target) panics no voter in any mode: V7 rejects
// it (enforce) or reports the body unavailable (warn/off) without a fetch;
// the same certificate as a broadcast, inside a committed block, or a body
// claiming that creator as a fetch response is refused too.
func TestPayloadCreatorOutOfRange(t *testing.T) {
	for _, mode := range []CouplingMode{CouplingEnforce, CouplingWarn, CouplingOff} {
		t.Run(mode.String(), func(t *testing.T) {
			tn := newNet(t, 4, mode, nil)
			v := tn.nodes[1].core
			cert := &types.BatchCertificate{
				Header:  types.BatchHeader{Creator: 1000, Seq: 1, ExpiryHeight: 50, TxCount: 1},
				Signers: types.NewBitmap(4),
			}
			p := proposal(v, 1, 0, types.BlockID{}, []*types.BatchCertificate{cert})
			err := v.ValidatePayload(p, types.BlockID{}, &memAnc{blocks: map[types.BlockID]*types.Proposal{}})
			want := ErrUnavailable
			if mode == CouplingEnforce {
				want = ErrPayloadInvalid
			}
			if !errors.Is(err, want) {
				t.Fatalf("V7: %v, want %v", err, want)
			}
			acts := v.TakeActions()
			acts = append(acts, v.Step(RecvCert{From: 2, Cert: cert})...)
			acts = append(acts, v.Step(Committed{Block: p})...)
			body := &types.Batch{Header: cert.Header, Txs: [][]byte{signedTxs()[0][0]}}
			acts = append(acts, v.Step(RecvFetchResponse{From: 2, Resp: &FetchResponse{Batch: body}})...)
			acts = append(acts, v.Step(Tick{NowMs: 1 << 20})...)
			for _, a := range acts {
				if s, ok := a.(Send); ok {
					t.Fatalf("sent %T to %d for an out-of-range creator", s.Msg, s.To)
				}
			}
			if len(v.fetches) != 0 || v.HasBody(cert.BatchID(testNet)) || v.Metrics.CertRejected != 1 || v.Metrics.BlockMissing != 1 {
				t.Fatalf("fetches %d, body %v, cert rejected %d, block missing %d",
					len(v.fetches), v.HasBody(cert.BatchID(testNet)), v.Metrics.CertRejected, v.Metrics.BlockMissing)
			}
		})
	}
}

// TestUnverifiedPayloadCertsNotFetched: in warn mode, a Byzantine leader's
// payload of 16 certificates whose signatures do not verify, with the
// largest expiry, starts no fetch (no request ever, even 400 heights
// later): the body is unavailable and the voter does not vote.
func TestUnverifiedPayloadCertsNotFetched(t *testing.T) {
	tn := newNet(t, 4, CouplingWarn, nil)
	v := tn.nodes[1].core
	var payload []*types.BatchCertificate
	for k := range 16 {
		bm := types.NewBitmap(4)
		bm.Set(0)
		bm.Set(2)
		bm.Set(3)
		payload = append(payload, &types.BatchCertificate{
			Header:     types.BatchHeader{Creator: 3, Seq: uint64(1000 + k), ExpiryHeight: ^uint64(0), TxCount: 1},
			Signers:    bm,
			Signatures: [][]byte{make([]byte, 2420), make([]byte, 2420), make([]byte, 2420)},
		})
	}
	anc := &memAnc{blocks: map[types.BlockID]*types.Proposal{}}
	if err := v.ValidatePayload(proposal(v, 1, 0, types.BlockID{}, payload), types.BlockID{}, anc); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("V7 (warn): %v", err)
	}
	if acts := v.TakeActions(); len(acts) != 0 {
		t.Fatalf("actions %v", acts)
	}
	// The same certificates with a window expiry do not verify either.
	for _, c := range payload {
		c.Header.ExpiryHeight = 100
	}
	if err := v.ValidatePayload(proposal(v, 1, 0, types.BlockID{}, payload), types.BlockID{}, anc); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("V7 (warn), window expiry: %v", err)
	}
	for h := uint64(1); h <= 400; h++ {
		tn.step(1, Committed{Block: &types.Proposal{Header: types.BlockHeader{Height: h, BatchCommitment: types.BatchCommitment(testNet, nil)}}})
		tn.now += 100
		tn.step(1, Tick{NowMs: tn.now})
	}
	if len(v.fetches) != 0 || v.Metrics.FetchRequests != 0 {
		t.Fatalf("%d fetches open, %d requests sent for unverified certificates", len(v.fetches), v.Metrics.FetchRequests)
	}
}

// TestFetchWindowAndCap: in mode off a certificate carrying only the
// creator's (valid) signature verifies, so a Byzantine creator can mint
// them freely. A voter fetches none whose expiry lies beyond committed +
// BATCH_TTL, and keeps at most 2·MAX_PENDING fetches of one creator's
// uncommitted batches open; every fetch it opened is gone once the batch
// expires.
func TestFetchWindowAndCap(t *testing.T) {
	tn := newNet(t, 4, CouplingOff, func(c *Config) { c.Params.MaxPending = 3 })
	v := tn.nodes[1].core
	creatorOnly := func(seq, expiry uint64) *types.BatchCertificate {
		h := types.BatchHeader{Creator: 3, Seq: seq, ExpiryHeight: expiry, TxCount: 1}
		a := &types.BatchAck{BatchID: h.ID(testNet), Signer: 3}
		if err := a.Sign(testNet, valKeys()[3]); err != nil {
			t.Fatal(err)
		}
		return types.NewBatchCertificate(h, 4, []*types.BatchAck{a})
	}
	anc := &memAnc{blocks: map[types.BlockID]*types.Proposal{}}
	far := creatorOnly(1, ^uint64(0))
	if err := v.ValidatePayload(proposal(v, 1, 0, types.BlockID{}, []*types.BatchCertificate{far}), types.BlockID{}, anc); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("expiry beyond the window: %v", err)
	}
	v.Step(RecvCert{From: 3, Cert: creatorOnly(2, ^uint64(0))})
	if len(v.fetches) != 0 {
		t.Fatal("fetch opened for an expiry beyond committed + BATCH_TTL")
	}
	limit := v.maxFetchesPerCreator()
	var refused int
	for s := range limit + 3 {
		cert := creatorOnly(uint64(10+s), 50)
		p := proposal(v, 1, 0, types.BlockID{}, []*types.BatchCertificate{cert})
		if err := v.ValidatePayload(p, types.BlockID{}, anc); errors.Is(err, ErrUnavailable) {
			refused++
		} else if !errors.Is(err, ErrNeedBodies) {
			t.Fatalf("cert %d: %v", s, err)
		}
		v.TakeActions()
	}
	if len(v.fetches) != limit || refused != 3 {
		t.Fatalf("%d fetches open (cap %d), %d refused", len(v.fetches), limit, refused)
	}
	for h := uint64(1); h <= 50; h++ {
		v.Step(Committed{Block: &types.Proposal{Header: types.BlockHeader{Height: h, BatchCommitment: types.BatchCommitment(testNet, nil)}}})
	}
	if len(v.fetches) != 0 {
		t.Fatalf("%d fetches survive their batches' expiry", len(v.fetches))
	}
}
