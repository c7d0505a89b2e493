package state

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/crypto/lthash"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

func FuzzDecodeCommitProof(f *testing.F) {
	for _, s := range seedCommitProofs() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := DecodeCommitProof(b)
		if err != nil {
			if !errors.Is(err, ErrBadCommitProof) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if !bytes.Equal(p.Encode(), b) {
			t.Fatal("accepted a non-canonical encoding")
		}
	})
}

func FuzzParseSnapshotMeta(f *testing.F) {
	for _, s := range seedMetas() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, st, files, err := ParseSnapshotMeta(b)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if !bytes.Equal(NewSnapshotMeta(st, files).Marshal(), b) || !bytes.Equal(m.Marshal(), b) {
			t.Fatal("accepted a non-canonical meta.json")
		}
		if st2, err := DecodeSnapshotState(st.Encode()); err != nil || *st2 != *st {
			t.Fatalf("state.bin of an accepted meta.json: %v", err)
		}
	})
}

func FuzzDecodeSnapshotState(f *testing.F) {
	for _, s := range seedStates() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		st, err := DecodeSnapshotState(b)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if !bytes.Equal(st.Encode(), b) {
			t.Fatal("round trip")
		}
	})
}

func FuzzDecodeAccounts(f *testing.F) {
	for _, s := range seedAccounts() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := DecodeAccounts(b)
		if err != nil {
			if !errors.Is(err, ErrSnapshot) {
				t.Fatalf("unwrapped error %v", err)
			}
			return
		}
		if len(b) != len(accountsMagic)+len(m)*AccountRecord {
			t.Fatal("records lost or invented")
		}
		for _, a := range m {
			if !a.Exists() {
				t.Fatal("accepted a (0, 0) record")
			}
		}
	})
}

// FuzzDecodeMetaRecords drives every stored-record decoder: the first byte
// picks the decoder, the rest is the value. Each must accept exactly its
// size (and the account decoder never a zero state) and return ErrCorrupt
// naming the key otherwise.
func FuzzDecodeMetaRecords(f *testing.F) {
	for _, s := range seedMetaRecords() {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) == 0 {
			return
		}
		key := []byte{pMeta, b[0]}
		v := b[1:]
		var err error
		want := -1
		switch b[0] % 8 {
		case 0:
			_, err = decU64(key, v)
			want = 8
		case 1:
			_, err = decU32(key, v)
			want = 4
		case 2:
			_, err = decU128(key, v)
			want = 16
		case 3:
			_, err = decHash(key, v)
			want = 32
		case 4:
			_, err = decLtHash(key, v)
			want = lthash.Size
		case 5:
			var a types.Account
			a, err = decAccount(key, v)
			if err == nil && (!a.Exists() || a.Encode() != [24]byte(v)) {
				t.Fatal("account round trip")
			}
			if len(v) == 24 && !bytes.Equal(v, make([]byte, 24)) && err != nil {
				t.Fatalf("valid account refused: %v", err)
			}
		case 6:
			_, _, err = decTxLoc(key, v)
			want = 12
		case 7:
			_, err = decHeightBE(key, v)
			want = 8
		}
		if err != nil {
			var ce *CorruptError
			if !errors.As(err, &ce) || !bytes.Equal(ce.Key, key) {
				t.Fatalf("error does not name the key: %v", err)
			}
		}
		if want >= 0 && (err == nil) != (len(v) == want) {
			t.Fatalf("decoder %d: %d bytes, err %v", b[0]%8, len(v), err)
		}
	})
}

// Seeds.

func seedCommitProofs() [][]byte {
	hs := chain(4, 0)
	p := proofFor(hs, 1)
	good := p.Encode()
	q := *p
	q.QC.Signers = types.NewBitmap(3)
	q.QC.Signers.Set(0)
	q.QC.Signatures = [][]byte{make([]byte, crypto.MLDSA44SignatureSize)}
	return [][]byte{good, q.Encode(), good[:len(good)-1], append(append([]byte(nil), good...), 0), {}}
}

func seedState() (*SnapshotState, map[string]crypto.Hash) {
	st := &SnapshotState{ChainID: testNet.ChainID(), Height: 100, BlockID: types.BlockID{1, 2}, StateDigest: crypto.Sum([]byte("s")),
		ReceiptsRoot: crypto.Sum([]byte("r")), TotalBurned: u128.From64(12345), MonetaryHash: crypto.Sum(), CreatedAtUnixMs: 1_750_000_000_000, Accounts: 2}
	st.ExecDigest = execDigestOf(st)
	return st, map[string]crypto.Hash{AccountsFile: crypto.Sum([]byte("a")), StateFile: crypto.Sum(st.Encode())}
}

func seedMetas() [][]byte {
	st, files := seedState()
	good := NewSnapshotMeta(st, files).Marshal()
	return [][]byte{good, bytes.Replace(good, []byte(`"height"`), []byte(`"Height"`), 1), good[:len(good)-2], []byte("{}"), []byte("null")}
}

func seedStates() [][]byte {
	st, _ := seedState()
	good := st.Encode()
	bad := append([]byte(nil), good...)
	bad[20]++
	return [][]byte{good, bad, good[:100]}
}

func seedAccounts() [][]byte {
	rec := func(id byte, nonce byte) []byte {
		r := make([]byte, AccountRecord)
		r[0] = id
		r[32+7] = nonce
		return r
	}
	good := append(append([]byte(accountsMagic), rec(1, 1)...), rec(2, 5)...)
	unordered := append(append([]byte(accountsMagic), rec(2, 1)...), rec(1, 5)...)
	zero := append([]byte(accountsMagic), rec(1, 0)...)
	return [][]byte{good, unordered, zero, good[:len(good)-1], []byte(accountsMagic)}
}

func seedMetaRecords() [][]byte {
	lanes := bytes.Repeat([]byte{0xA5, 0x01}, lthash.Lanes) // fixed bytes: independent of the element XOF
	acc := types.Account{Nonce: 1}.Encode()
	return [][]byte{
		append([]byte{0}, encU64(7)...), append([]byte{1}, encU32(1)...), append([]byte{2}, encU128(u128.From64(9))...),
		append([]byte{3}, make([]byte, 32)...), append([]byte{4}, lanes...), append([]byte{5}, acc[:]...),
		append([]byte{5}, make([]byte, 24)...), append([]byte{6}, encTxLoc(3, 4)...), append([]byte{7}, 0, 0, 0, 0, 0, 0, 0, 9), {3, 1},
	}
}

// TestWriteSeedCorpus writes the seeds above as checked-in corpus files
// (testdata/fuzz/<Name>/seed-N). Run with QBIND_WRITE_CORPUS=1 after
// changing a seed; otherwise it checks that the files exist.
func TestWriteSeedCorpus(t *testing.T) {
	sets := map[string][][]byte{
		"FuzzDecodeCommitProof":   seedCommitProofs(),
		"FuzzParseSnapshotMeta":   seedMetas(),
		"FuzzDecodeSnapshotState": seedStates(),
		"FuzzDecodeAccounts":      seedAccounts(),
		"FuzzDecodeMetaRecords":   seedMetaRecords(),
	}
	write := os.Getenv("QBIND_WRITE_CORPUS") == "1"
	for name, seeds := range sets {
		dir := filepath.Join("testdata", "fuzz", name)
		for i, s := range seeds {
			path := filepath.Join(dir, "seed-"+strconv.Itoa(i))
			body := fmt.Sprintf("go test fuzz v1\n[]byte(%s)\n", strconv.Quote(string(s)))
			if write {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			} else if got, err := os.ReadFile(path); err != nil || string(got) != body {
				t.Fatalf("corpus file %s missing or stale (run with QBIND_WRITE_CORPUS=1): %v", path, err)
			}
		}
	}
}
