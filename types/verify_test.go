package types

import (
	"errors"
	"testing"

	"github.com/qbind/qbind/crypto"
)

var otherNetworks = []crypto.Network{crypto.TestNet, crypto.MainNet}

func verifierFor(t testing.TB, n crypto.Network, size int) *Verifier {
	return &Verifier{Network: n, Validators: testValidators(t, size), GenesisID: GenesisBlock(n, 1000, crypto.Hash{}).ID()}
}

func signedVote(t testing.TB, n crypto.Network, view uint64, id BlockID, voter int) *Vote {
	vt := &Vote{View: view, BlockID: id, Voter: uint16(voter), Sync: SyncInfo{HighQC: GenesisQC(GenesisBlock(n, 1000, crypto.Hash{}).ID())}}
	vt.Signature = detSign(t, voter, VoteSigningBytes(n, view, id))
	return vt
}

func signedQC(t testing.TB, n crypto.Network, view uint64, id BlockID, voters ...int) QC {
	var votes []*Vote
	for _, i := range voters {
		votes = append(votes, signedVote(t, n, view, id, i))
	}
	return NewQC(view, id, 4, votes)
}

func signedTimeout(t testing.TB, n crypto.Network, view uint64, high QC, voter int) *Timeout {
	to := &Timeout{View: view, HighQC: high, Voter: uint16(voter)}
	to.Signature = detSign(t, voter, to.SigningBytes(n))
	return to
}

// detSign signs deterministically so seeds and fixtures are reproducible.
func detSign(t testing.TB, key int, msg []byte) []byte {
	sig, err := testKeys()[key].SignDeterministic(msg)
	if err != nil {
		t.Fatal(err)
	}
	return sig
}

func TestValidatorSetQuorum(t *testing.T) {
	vs := testValidators(t, 4)
	if vs.F() != 1 || !vs.IsQuorum(3) || vs.IsQuorum(2) || !vs.ExceedsOneThird(2) || vs.ExceedsOneThird(1) {
		t.Fatal("n=4 quorum arithmetic")
	}
	if vs.Leader(5) != 1 {
		t.Fatal("leader rotation")
	}
	// 3·Σ would overflow 64 bits without the 128-bit products.
	big, err := NewValidatorSet([]Validator{
		{ConsensusKey: testKeys()[0].Public(), Power: 1 << 61},
		{ConsensusKey: testKeys()[1].Public(), Power: 1 << 61},
	})
	if err != nil {
		t.Fatal(err)
	}
	if big.IsQuorum(1<<61) || !big.IsQuorum(1<<62) {
		t.Fatal("quorum with large powers")
	}
	if _, err := NewValidatorSet([]Validator{{ConsensusKey: testKeys()[0].Public(), Power: 1 << 62}, {ConsensusKey: testKeys()[1].Public(), Power: 1}}); !errors.Is(err, ErrValidatorSet) {
		t.Fatal("total power over 2^62 accepted")
	}
}

// TestQuorumBoundary: 3·Σ = 2·total is not a quorum and 3·Σ = total is not
// "more than a third" (§8.1: strictly greater).
func TestQuorumBoundary(t *testing.T) {
	three := testValidators(t, 3)
	if three.IsQuorum(2) || !three.IsQuorum(3) {
		t.Fatal("n = 3, power 1: 2 signers (3·2 = 2·3) must not be a quorum, 3 must")
	}
	if three.ExceedsOneThird(1) || !three.ExceedsOneThird(2) {
		t.Fatal("n = 3, power 1: 1 signer (3·1 = 3) must not exceed a third, 2 must")
	}
	weighted, err := NewValidatorSet([]Validator{
		{ConsensusKey: testKeys()[0].Public(), Power: 2},
		{ConsensusKey: testKeys()[1].Public(), Power: 1},
		{ConsensusKey: testKeys()[2].Public(), Power: 3},
	})
	if err != nil {
		t.Fatal(err)
	}
	power := func(signers ...int) uint64 {
		bm := NewBitmap(3)
		for _, i := range signers {
			bm.Set(i)
		}
		p, err := weighted.SignerPower(bm)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	// total 6: {1, 2} hold 4, 3·4 = 2·6; {0, 2} hold 5.
	if p := power(1, 2); p != 4 || weighted.IsQuorum(p) {
		t.Fatalf("powers [2 1 3]: signers {1, 2} with %d of 6 must not be a quorum", p)
	}
	if p := power(0, 2); p != 5 || !weighted.IsQuorum(p) {
		t.Fatalf("powers [2 1 3]: signers {0, 2} with %d of 6 must be a quorum", p)
	}
	if p := power(0); weighted.ExceedsOneThird(p) || !weighted.ExceedsOneThird(p+1) {
		t.Fatalf("powers [2 1 3]: %d of 6 must not exceed a third, %d must", p, p+1)
	}
}

func TestVerifyQC(t *testing.T) {
	v := verifierFor(t, crypto.DevNet, 4)
	id := BlockID{1}
	qc := signedQC(t, crypto.DevNet, 7, id, 0, 1, 3)
	if err := v.VerifyQC(&qc); err != nil {
		t.Fatalf("valid QC: %v", err)
	}
	minority := signedQC(t, crypto.DevNet, 7, id, 0, 1)
	if err := v.VerifyQC(&minority); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("2 of 4: %v", err)
	}
	wrongSig := signedQC(t, crypto.DevNet, 7, id, 0, 1, 3)
	wrongSig.Signatures[1], wrongSig.Signatures[2] = wrongSig.Signatures[2], wrongSig.Signatures[1]
	if err := v.VerifyQC(&wrongSig); !errors.Is(err, ErrBadQC) {
		t.Fatalf("swapped signatures: %v", err)
	}
	otherView := qc
	otherView.View = 8
	if err := v.VerifyQC(&otherView); !errors.Is(err, ErrBadQC) {
		t.Fatalf("QC relabelled to another view: %v", err)
	}
	beyond := signedQC(t, crypto.DevNet, 7, id, 0, 1, 3)
	beyond.Signers[0] |= 1 << 5 // validator 5 of 4
	if err := v.VerifyQC(&beyond); !errors.Is(err, ErrBitmap) {
		t.Fatalf("bit beyond n: %v", err)
	}
	long := signedQC(t, crypto.DevNet, 7, id, 0, 1, 3)
	long.Signers = append(long.Signers, 0)
	if err := v.VerifyQC(&long); !errors.Is(err, ErrBitmap) {
		t.Fatalf("bitmap too long: %v", err)
	}
	g := GenesisQC(v.GenesisID)
	if err := v.VerifyQC(&g); err != nil {
		t.Fatalf("QC(G): %v", err)
	}
	fakeG := GenesisQC(id)
	if err := v.VerifyQC(&fakeG); !errors.Is(err, ErrGenesisQC) {
		t.Fatalf("view-0 QC of another block: %v", err)
	}
}

func TestVerifyTC(t *testing.T) {
	n := crypto.DevNet
	v := verifierFor(t, n, 4)
	g := GenesisQC(v.GenesisID)
	qc5 := signedQC(t, n, 5, BlockID{5}, 0, 1, 2)
	tos := []*Timeout{signedTimeout(t, n, 9, g, 0), signedTimeout(t, n, 9, qc5, 2), signedTimeout(t, n, 9, g, 3)}
	tc := NewTC(9, 4, tos)
	if tc.HighQC.View != 5 || tc.MaxHighQCView() != 5 {
		t.Fatalf("TC carries QC of view %d", tc.HighQC.View)
	}
	if err := v.VerifyTC(tc); err != nil {
		t.Fatalf("valid TC: %v", err)
	}
	low := *tc
	low.HighQC = g
	if err := v.VerifyTC(&low); !errors.Is(err, ErrTCMaxQC) {
		t.Fatalf("TC carrying a lower QC: %v", err)
	}
	lied := *tc
	lied.HighQCViews = append([]uint64(nil), tc.HighQCViews...)
	lied.HighQCViews[0] = 5 // validator 0 signed high_qc_view 0
	if err := v.VerifyTC(&lied); !errors.Is(err, ErrBadTC) {
		t.Fatalf("TC with a changed high_qc view: %v", err)
	}
	two := NewTC(9, 4, tos[:2])
	if err := v.VerifyTC(two); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("2 of 4 timeouts: %v", err)
	}
	for _, to := range tos {
		if err := v.VerifyTimeout(to); err != nil {
			t.Fatalf("timeout: %v", err)
		}
	}
}

// TestVerifyTimeoutLastTC: a timeout's last_tc must be TC(view−1) (§8.2).
func TestVerifyTimeoutLastTC(t *testing.T) {
	n := crypto.DevNet
	v := verifierFor(t, n, 4)
	g := GenesisQC(v.GenesisID)
	tc3 := NewTC(3, 4, []*Timeout{signedTimeout(t, n, 3, g, 0), signedTimeout(t, n, 3, g, 1), signedTimeout(t, n, 3, g, 2)})
	if err := v.VerifyTC(tc3); err != nil {
		t.Fatal(err)
	}
	withTC := func(view uint64) *Timeout {
		to := &Timeout{View: view, HighQC: g, LastTC: tc3, Voter: 1}
		to.Signature = detSign(t, 1, to.SigningBytes(n))
		return to
	}
	if err := v.VerifyTimeout(withTC(4)); err != nil {
		t.Fatalf("timeout of view 4 carrying TC(3): %v", err)
	}
	for _, view := range []uint64{9, 5, 3} {
		if err := v.VerifyTimeout(withTC(view)); !errors.Is(err, ErrTimeoutLastTC) {
			t.Errorf("timeout of view %d carrying TC(3): %v, want ErrTimeoutLastTC", view, err)
		}
	}
}

func TestVerifyCertificate(t *testing.T) {
	n := crypto.DevNet
	vs := testValidators(t, 4)
	h := BatchHeader{Creator: 2, Seq: 1, ExpiryHeight: 300, TxCount: 1, GasSum: 37352}
	var acks []*BatchAck
	for i := range 3 {
		a := &BatchAck{BatchID: h.ID(n), Signer: uint16(i + 1)}
		if err := a.Sign(n, testKeys()[i+1]); err != nil {
			t.Fatal(err)
		}
		if err := a.Verify(n, vs); err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a)
	}
	c := NewBatchCertificate(h, 4, acks)
	if err := c.Verify(n, vs); err != nil {
		t.Fatalf("valid certificate: %v", err)
	}
	changed := *c
	changed.Header.Seq = 2
	if err := changed.Verify(n, vs); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("certificate with a changed header: %v", err)
	}
	creatorOnly := NewBatchCertificate(h, 4, acks[1:2]) // signer 2 = creator
	if err := creatorOnly.Verify(n, vs); !errors.Is(err, ErrNoQuorum) {
		t.Fatalf("creator-only certificate under enforce: %v", err)
	}
	if err := creatorOnly.VerifyCreatorOnly(n, vs); err != nil {
		t.Fatalf("creator-only certificate under off: %v", err)
	}
	notCreator := NewBatchCertificate(h, 4, acks[:1])
	if err := notCreator.VerifyCreatorOnly(n, vs); !errors.Is(err, ErrBadCertificate) {
		t.Fatalf("certificate without the creator under off: %v", err)
	}
}

// TestSignaturesAreNetworkScoped: every signed object made for DevNet fails
// verification on the other networks.
func TestSignaturesAreNetworkScoped(t *testing.T) {
	const n = crypto.DevNet
	k := testKeys()[0]
	vs := testValidators(t, 4)

	tx := transferTx(k, 1, katTransfer())
	if err := tx.Sign(n, k); err != nil {
		t.Fatal(err)
	}
	b := &Batch{Header: BatchHeader{Creator: 0, Seq: 1, TxCount: 0}}
	if err := b.Sign(n, k); err != nil {
		t.Fatal(err)
	}
	ack := &BatchAck{BatchID: b.Header.ID(n), Signer: 0}
	if err := ack.Sign(n, k); err != nil {
		t.Fatal(err)
	}
	var acks []*BatchAck
	for i := range 3 {
		a := &BatchAck{BatchID: b.Header.ID(n), Signer: uint16(i)}
		if err := a.Sign(n, testKeys()[i]); err != nil {
			t.Fatal(err)
		}
		acks = append(acks, a)
	}
	cert := NewBatchCertificate(b.Header, 4, acks)
	qc := signedQC(t, n, 3, BlockID{3}, 0, 1, 2)
	to := signedTimeout(t, n, 4, qc, 1)
	tc := NewTC(4, 4, []*Timeout{to, signedTimeout(t, n, 4, qc, 2), signedTimeout(t, n, 4, qc, 3)})
	vote := signedVote(t, n, 4, BlockID{4}, 1)

	dev := verifierFor(t, n, 4)
	prop := &Proposal{Header: BlockHeader{Version: BlockVersion, ChainID: n.ChainID(), View: 1, Height: 1, Proposer: 1}, Justify: GenesisQC(dev.GenesisID), Sync: SyncInfo{HighQC: GenesisQC(dev.GenesisID)}}
	if err := prop.Sign(n, testKeys()[1]); err != nil {
		t.Fatal(err)
	}

	// Everything verifies on its own network.
	if _, err := NewChecker(n, mustParams(t, ProfileTestNetBeta)).Check(tx.Encode()); err != nil {
		t.Fatalf("tx on devnet: %v", err)
	}
	must := func(what string, err error) {
		if err != nil {
			t.Fatalf("%s on devnet: %v", what, err)
		}
	}
	must("batch", b.VerifySignature(n, vs))
	must("ack", ack.Verify(n, vs))
	must("certificate", cert.Verify(n, vs))
	must("qc", dev.VerifyQC(&qc))
	must("timeout", dev.VerifyTimeout(to))
	must("tc", dev.VerifyTC(tc))
	must("vote", dev.VerifyVote(vote))
	must("proposal", dev.VerifyProposal(prop))

	for _, other := range otherNetworks {
		ov := &Verifier{Network: other, Validators: vs, GenesisID: dev.GenesisID}
		if _, err := NewChecker(other, mustParams(t, ProfileTestNetBeta)).Check(tx.Encode()); !errors.Is(err, ErrBadTxSignature) {
			t.Errorf("tx verified on %v", other)
		}
		checks := map[string]error{
			"batch":       b.VerifySignature(other, vs),
			"ack":         ack.Verify(other, vs),
			"certificate": cert.Verify(other, vs),
			"qc":          ov.VerifyQC(&qc),
			"timeout":     ov.VerifyTimeout(to),
			"tc":          ov.VerifyTC(tc),
			"vote":        ov.VerifyVote(vote),
			"proposal":    ov.VerifyProposal(prop),
		}
		for what, err := range checks {
			if err == nil {
				t.Errorf("%s signed for devnet verified on %v", what, other)
			}
		}
	}
}

func mustParams(t testing.TB, p Profile) ExecParams {
	ep, err := DefaultExecParams(p)
	if err != nil {
		t.Fatal(err)
	}
	return ep
}

func TestGenesis(t *testing.T) {
	g := GenesisBlock(crypto.MainNet, 1_700_000_000_000, crypto.Hash{9})
	if g.View != 0 || g.Height != 0 || g.ChainID != crypto.ChainIDMainNet || g.BatchCommitment != BatchCommitment(crypto.MainNet, nil) {
		t.Fatalf("genesis header %+v", g)
	}
	if GenesisBlock(crypto.DevNet, 1_700_000_000_000, crypto.Hash{9}).ID() == g.ID() {
		t.Fatal("genesis ids of two networks collide")
	}
	if BatchCommitment(crypto.MainNet, []BatchID{{1}}) == BatchCommitment(crypto.MainNet, []BatchID{{2}}) {
		t.Fatal("batch commitment ignores ids")
	}
}

func TestBatchRoot(t *testing.T) {
	n := crypto.DevNet
	k := katKey(t)
	tx := transferTx(k, 1, katTransfer())
	if err := tx.Sign(n, k); err != nil {
		t.Fatal(err)
	}
	raw := tx.Encode()
	b := &Batch{Header: BatchHeader{TxCount: 2, TxRoot: TxRoot([]TxID{tx.ID(n, tx.Sender()), TxID(crypto.Sum([]byte("junk")))})}, Txs: [][]byte{raw, []byte("junk")}}
	if err := b.CheckRoot(n, nil); err != nil {
		t.Fatalf("root: %v", err)
	}
	b.Txs[0], b.Txs[1] = b.Txs[1], b.Txs[0]
	if err := b.CheckRoot(n, nil); !errors.Is(err, ErrBatchTxRoot) {
		t.Fatalf("reordered txs: %v", err)
	}
	b.Header.TxCount = 3
	if err := b.CheckRoot(n, nil); !errors.Is(err, ErrBatchTxCount) {
		t.Fatalf("count: %v", err)
	}
}
