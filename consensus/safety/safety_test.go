package safety

import (
	"bytes"
	"errors"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

type fakeSigner struct{ n int }

func (f *fakeSigner) Sign(msg []byte) ([]byte, error) {
	f.n++
	h := crypto.Sum([]byte("test"), msg)
	return h[:], nil
}

var gid = types.BlockID{1}

func newRules(t *testing.T, rec *Record) (*Rules, *MemStore) {
	t.Helper()
	st := NewMemStore(rec)
	r, err := New(Config{Network: crypto.DevNet, Store: st, Signer: &fakeSigner{}, GenesisQC: types.GenesisQC(gid)})
	if err != nil {
		t.Fatal(err)
	}
	return r, st
}

func armed(t *testing.T, rec *Record) (*Rules, *MemStore) {
	r, st := newRules(t, rec)
	r.EnterView(max(rec.LastVotedView, rec.LastTimeoutView)+1, true)
	if !r.Armed() {
		t.Fatal("not armed")
	}
	return r, st
}

// qcAt is a QC of view v (the rules never verify QCs: the core does).
func qcAt(v uint64) types.QC { return types.QC{View: v, BlockID: types.BlockID{byte(v)}} }

func hdr(view, justify uint64) *types.BlockHeader {
	return &types.BlockHeader{View: view, JustifyView: justify}
}

func TestS1LockOnlyRises(t *testing.T) {
	r, _ := armed(t, NewRecord(types.GenesisQC(gid)))
	r.UpdateLock(types.QC{View: 5, BlockID: types.BlockID{5}})
	r.UpdateLock(types.QC{View: 3, BlockID: types.BlockID{3}})
	if l := r.LockedQC(); l.View != 5 || l.BlockID != (types.BlockID{5}) {
		t.Fatalf("lock %d", l.View)
	}
}

func TestS2VoteRule(t *testing.T) {
	r, _ := armed(t, NewRecord(types.GenesisQC(gid)))
	r.UpdateLock(types.QC{View: 4, BlockID: types.BlockID{4}})
	cases := []struct {
		name    string
		b       *types.BlockHeader
		current uint64
		extends bool
		ok      bool
	}{
		{"not current view", hdr(6, 5), 7, true, false},
		{"conflicts with lock, justify not newer", hdr(7, 4), 7, false, false},
		{"conflicts with lock, justify newer", hdr(7, 5), 7, false, true},
		{"extends lock", hdr(8, 3), 8, true, true},
		{"not above last voted", hdr(8, 7), 8, true, false},
	}
	for _, c := range cases {
		_, err := r.SignVote(c.b, types.BlockID{byte(c.b.View), byte(c.b.JustifyView)}, c.current, c.extends)
		if (err == nil) != c.ok {
			t.Errorf("%s: err %v, want ok=%v", c.name, err, c.ok)
		}
		if err != nil && !errors.Is(err, ErrConflict) {
			t.Errorf("%s: %v is not ErrConflict", c.name, err)
		}
	}
}

func TestS3LastVotedView(t *testing.T) {
	r, _ := armed(t, NewRecord(types.GenesisQC(gid)))
	if _, err := r.SignVote(hdr(2, 1), types.BlockID{2}, 2, true); err != nil {
		t.Fatal(err)
	}
	if r.LastVotedView() != 2 {
		t.Fatal("last voted not updated")
	}
	if _, err := r.SignTimeout(5, qcAt(1)); err != nil {
		t.Fatal(err)
	}
	if r.LastVotedView() != 5 {
		t.Fatal("timeout did not raise last voted view")
	}
	if _, err := r.SignVote(hdr(5, 4), types.BlockID{5}, 5, true); !errors.Is(err, ErrConflict) {
		t.Fatal("voted in a view it timed out")
	}
}

func TestS4OnePerView(t *testing.T) {
	r, _ := armed(t, NewRecord(types.GenesisQC(gid)))
	s1, err := r.SignVote(hdr(2, 1), types.BlockID{2}, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	s2, err := r.SignVote(hdr(2, 1), types.BlockID{2}, 2, true)
	if err != nil || !bytes.Equal(s1, s2) {
		t.Fatal("identical vote must return the stored signature")
	}
	if _, err := r.SignVote(hdr(2, 1), types.BlockID{3}, 2, true); !errors.Is(err, ErrConflict) {
		t.Fatal("second vote in a view")
	}
	t1, _ := r.SignTimeout(3, qcAt(1))
	t2, err := r.SignTimeout(3, qcAt(1))
	if err != nil || !bytes.Equal(t1, t2) {
		t.Fatal("identical timeout must return the stored signature")
	}
	if _, err := r.SignTimeout(3, qcAt(2)); !errors.Is(err, ErrConflict) {
		t.Fatal("second timeout in a view")
	}
	p1, err := r.SignProposal(hdr(4, 3), types.BlockID{4})
	if err != nil {
		t.Fatal(err)
	}
	if p2, _ := r.SignProposal(hdr(4, 3), types.BlockID{4}); !bytes.Equal(p1, p2) {
		t.Fatal("identical proposal")
	}
	if _, err := r.SignProposal(hdr(4, 3), types.BlockID{5}); !errors.Is(err, ErrConflict) {
		t.Fatal("second proposal in a view")
	}
}

func TestS5PersistBeforeRelease(t *testing.T) {
	r, st := armed(t, NewRecord(types.GenesisQC(gid)))
	sig, err := r.SignVote(hdr(2, 1), types.BlockID{2}, 2, true)
	if err != nil {
		t.Fatal(err)
	}
	rec, _, _ := st.Load()
	if rec.LastVotedView != 2 || rec.Vote == nil || !bytes.Equal(rec.Vote.Signature, sig) {
		t.Fatal("signature released before the record was persisted")
	}
	st.Fail = errors.New("disk full")
	if sig, err := r.SignVote(hdr(3, 2), types.BlockID{3}, 3, true); err == nil || sig != nil || !errors.Is(err, ErrStore) {
		t.Fatalf("a failed persist released a signature: %v", err)
	}
	if r.LastVotedView() != 2 {
		t.Fatal("in-memory record changed after a failed persist")
	}
	st.Fail = nil
	// restart: the stored record bounds the new instance
	r2, _ := newRules(t, rec)
	if r2.V0() != 2 {
		t.Fatalf("V0 = %d", r2.V0())
	}
	r2.EnterView(2, true)
	if _, err := r2.SignVote(hdr(2, 1), types.BlockID{9}, 2, true); !errors.Is(err, ErrConflict) {
		t.Fatal("restarted key voted twice in view 2")
	}
}

func TestV0StartupRule(t *testing.T) {
	rec := NewRecord(types.GenesisQC(gid))
	rec.LastVotedView, rec.LastTimeoutView = 5, 7
	r, _ := newRules(t, rec)
	r.EnterView(7, true)
	r.EnterView(8, false) // joined by timeouts: not a certificate
	if r.Armed() {
		t.Fatal("armed without a certificate into a view > V0")
	}
	r.Observe(9) // messages of view 9 from > f power
	r.EnterView(9, true)
	if r.Armed() {
		t.Fatal("armed at a view ≤ w*")
	}
	if _, err := r.SignProposal(hdr(9, 8), types.BlockID{9}); !errors.Is(err, ErrConflict) {
		t.Fatal("proposal signed before V0 passed")
	}
	if _, err := r.SignTimeout(9, qcAt(8)); err != nil {
		t.Fatal("timeouts are allowed before V0:", err)
	}
	r.EnterView(10, true)
	if !r.Armed() {
		t.Fatal("not armed after a certificate into a view > V0")
	}
}

func TestMissingRecordAndRecovery(t *testing.T) {
	st := NewMemStore(nil)
	if _, err := New(Config{Network: crypto.DevNet, Store: st, Signer: &fakeSigner{}}); !errors.Is(err, ErrNoRecord) {
		t.Fatalf("started without a record: %v", err)
	}
	r, err := New(Config{Network: crypto.DevNet, Store: st, Signer: &fakeSigner{}, Recover: true, GenesisQC: types.GenesisQC(gid)})
	if err != nil || !r.Recovering() || !r.Observing() {
		t.Fatal("recovery mode not entered", err)
	}
	if _, err := r.SignTimeout(3, qcAt(1)); !errors.Is(err, ErrConflict) {
		t.Fatal("signed during the observation period")
	}
	r.Observe(12)
	r.EnterView(12, true)
	if r.Armed() {
		t.Fatal("armed while observing")
	}
	// a crash during observation keeps the recovery going
	r2, err := New(Config{Network: crypto.DevNet, Store: st, Signer: &fakeSigner{}})
	if err != nil || !r2.Observing() {
		t.Fatal("recovery lost across a restart", err)
	}
	if err := r.EndObservation(); err != nil {
		t.Fatal(err)
	}
	rec, _, _ := st.Load()
	if rec.Recovering || rec.LastVotedView != 13 || rec.LastProposedView != 13 {
		t.Fatalf("floor not persisted: %+v", rec)
	}
	r.EnterView(13, true)
	if r.Armed() {
		t.Fatal("armed at the floor")
	}
	r.EnterView(14, true)
	if !r.Armed() {
		t.Fatal("not armed above the floor")
	}
}

func TestRecordRoundTrip(t *testing.T) {
	rec := &Record{LastVotedView: 3, LastTimeoutView: 4, LastProposedView: 2, LockedQC: types.GenesisQC(gid),
		Vote:       &SignedVote{View: 3, BlockID: types.BlockID{3}, Signature: []byte{1, 2}},
		Timeout:    &SignedTimeout{View: 4, HighQC: qcAt(2), Signature: []byte{3}},
		Proposal:   &SignedProposal{View: 2, BlockID: types.BlockID{2}, Signature: []byte{4}},
		DAG:        DAGRecord{BatchSeqs: []BatchSeq{{Epoch: 0, Seq: 7}}, AckWindows: []AckWindow{{Creator: 1, MaxSeq: 9, Bits: 5}}},
		Recovering: true}
	b := rec.Encode()
	got, err := DecodeRecord(b)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Encode(), b) {
		t.Fatal("round trip differs")
	}
	if _, err := DecodeRecord(append(b, 0)); err == nil {
		t.Fatal("trailing byte accepted")
	}
	if _, err := DecodeRecord(b[:len(b)-3]); err == nil {
		t.Fatal("truncated record accepted")
	}
}

func TestUpdateDAGPersists(t *testing.T) {
	r, st := armed(t, NewRecord(types.GenesisQC(gid)))
	if err := r.UpdateDAG(func(d *DAGRecord) error { d.BatchSeqs = append(d.BatchSeqs, BatchSeq{Seq: 1}); return nil }); err != nil {
		t.Fatal(err)
	}
	rec, _, _ := st.Load()
	if len(rec.DAG.BatchSeqs) != 1 {
		t.Fatal("DAG record not persisted")
	}
}

func FuzzDecodeRecord(f *testing.F) {
	f.Add(NewRecord(types.GenesisQC(gid)).Encode())
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := DecodeRecord(b)
		if err == nil && !bytes.Equal(r.Encode(), b) {
			t.Fatal("non-canonical record accepted")
		}
	})
}
