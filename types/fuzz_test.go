package types

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/qbind/qbind/crypto"
)

var updateSeeds = flag.Bool("update-seeds", false, "rewrite the checked-in fuzz seed corpora under testdata/fuzz")

// fuzzCanonical asserts a decoder never panics and only accepts canonical
// input: whatever it accepts re-encodes to exactly the same bytes.
func fuzzCanonical[T any](f *testing.F, seeds [][]byte, decode func([]byte) (T, error), encode func(T) []byte) {
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := decode(b)
		if err != nil {
			return
		}
		if !bytes.Equal(encode(v), b) {
			t.Fatalf("accepted non-canonical input %x", b)
		}
	})
}

// seedObjects builds one valid, signed instance of every decodable object.
type seedObjects struct {
	tx, batch, ack, cert, header, qc, tc, sync, proposal, vote, timeout, params []byte
}

func makeSeeds(t testing.TB) seedObjects {
	const n = crypto.DevNet
	v := verifierFor(t, n, 4)
	k := katKey(t)
	tx := transferTx(k, 3, katTransfer())
	if err := tx.SignDeterministic(n, k); err != nil {
		t.Fatal(err)
	}
	raw := tx.Encode()
	b := &Batch{Header: BatchHeader{Creator: 1, Seq: 1, ExpiryHeight: 268, TxCount: 1, GasSum: 37352,
		TxRoot: TxRoot([]TxID{tx.ID(n, tx.Sender())})}, Txs: [][]byte{raw}}
	b.Signature = detSign(t, 1, b.Header.SigningBytes(n))
	var acks []*BatchAck
	for i := range 3 {
		acks = append(acks, &BatchAck{BatchID: b.Header.ID(n), Signer: uint16(i), Signature: detSign(t, i, AckSigningBytes(n, b.Header.ID(n)))})
	}
	cert := NewBatchCertificate(b.Header, 4, acks)
	qc := signedQC(t, n, 2, BlockID{2}, 0, 1, 2)
	tc := NewTC(3, 4, []*Timeout{signedTimeout(t, n, 3, qc, 0), signedTimeout(t, n, 3, qc, 1), signedTimeout(t, n, 3, GenesisQC(v.GenesisID), 3)})
	sync := SyncInfo{HighQC: qc, HighTC: tc}
	h := BlockHeader{Version: BlockVersion, ChainID: n.ChainID(), View: 4, Height: 3, ParentID: BlockID{2}, Proposer: 0,
		TimestampMs: 1_700_000_000_500, BatchCommitment: BatchCommitment(n, []BatchID{b.Header.ID(n)}), JustifyView: 2}
	p := &Proposal{Header: h, Justify: qc, LastTC: tc, Payload: []*BatchCertificate{cert}, Sync: sync}
	p.Signature = detSign(t, 0, ProposalSigningBytes(n, h.ID()))
	params := mustParams(t, ProfileMainNet)
	return seedObjects{
		tx: raw, batch: b.Encode(), ack: acks[0].Encode(), cert: cert.Encode(), header: h.Encode(), qc: qc.Encode(),
		tc: tc.Encode(), sync: sync.Encode(), proposal: p.Encode(), vote: signedVote(t, n, 4, h.ID(), 2).Encode(),
		timeout: signedTimeout(t, n, 3, qc, 0).Encode(), params: params.Encode(),
	}
}

// corpusFiles maps each fuzz target to its seed.
func (s seedObjects) corpusFiles() map[string][]byte {
	return map[string][]byte{
		"FuzzDecodeTransaction": s.tx, "FuzzDecodeBatch": s.batch, "FuzzDecodeBatchAck": s.ack,
		"FuzzDecodeBatchCertificate": s.cert, "FuzzDecodeBlockHeader": s.header, "FuzzDecodeQC": s.qc,
		"FuzzDecodeTC": s.tc, "FuzzDecodeSyncInfo": s.sync, "FuzzDecodeProposal": s.proposal,
		"FuzzDecodeVote": s.vote, "FuzzDecodeTimeout": s.timeout, "FuzzDecodeExecParams": s.params,
	}
}

// TestFuzzSeedCorpora keeps testdata/fuzz in step with the encoders: every
// target has a checked-in seed that is a valid current encoding. Run with
// -update-seeds after a format change.
func TestFuzzSeedCorpora(t *testing.T) {
	for name, seed := range makeSeeds(t).corpusFiles() {
		path := filepath.Join("testdata", "fuzz", name, "valid")
		want := fmt.Appendf(nil, "go test fuzz v1\n[]byte(%q)\n", seed)
		if *updateSeeds {
			if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s: %v (run go test ./types -run TestFuzzSeedCorpora -update-seeds)", name, err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: seed corpus is stale (run with -update-seeds)", name)
		}
	}
}

func FuzzDecodeTransaction(f *testing.F) {
	fuzzCanonical(f, nil, DecodeTransaction, (*Transaction).Encode)
}

func FuzzDecodeBatch(f *testing.F) { fuzzCanonical(f, nil, DecodeBatch, (*Batch).Encode) }

func FuzzDecodeBatchAck(f *testing.F) { fuzzCanonical(f, nil, DecodeBatchAck, (*BatchAck).Encode) }

func FuzzDecodeBatchCertificate(f *testing.F) {
	fuzzCanonical(f, nil, DecodeBatchCertificate, (*BatchCertificate).Encode)
}

func FuzzDecodeBlockHeader(f *testing.F) {
	fuzzCanonical(f, nil, DecodeBlockHeader, BlockHeader.Encode)
}

func FuzzDecodeQC(f *testing.F) {
	fuzzCanonical(f, nil, DecodeQC, func(q QC) []byte { return q.Encode() })
}

func FuzzDecodeTC(f *testing.F) {
	fuzzCanonical(f, nil, DecodeTC, func(x TC) []byte { return x.Encode() })
}

func FuzzDecodeSyncInfo(f *testing.F) {
	fuzzCanonical(f, nil, DecodeSyncInfo, func(s SyncInfo) []byte { return s.Encode() })
}

func FuzzDecodeProposal(f *testing.F) { fuzzCanonical(f, nil, DecodeProposal, (*Proposal).Encode) }

func FuzzDecodeVote(f *testing.F) { fuzzCanonical(f, nil, DecodeVote, (*Vote).Encode) }

func FuzzDecodeTimeout(f *testing.F) { fuzzCanonical(f, nil, DecodeTimeout, (*Timeout).Encode) }

func FuzzDecodeExecParams(f *testing.F) {
	fuzzCanonical(f, nil, DecodeExecParams, func(p ExecParams) []byte { return p.Encode() })
}

// FuzzCheck drives the full stateless-validity path (decode, key parse,
// payload rules, signature) with arbitrary input: it must never panic.
func FuzzCheck(f *testing.F) {
	f.Add(makeSeeds(f).tx)
	c := NewChecker(crypto.DevNet, mustParams(f, ProfileTestNetAlpha))
	f.Fuzz(func(t *testing.T, b []byte) {
		ct, err := c.Check(b)
		if err == nil && !bytes.Equal(ct.Tx.Encode(), b) {
			t.Fatalf("accepted non-canonical tx")
		}
	})
}
