package state

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Snapshot file layout (docs/storage.md):
//
//	<snapshot_dir>/<height>/meta.json     the §9 metadata (JSON, canonical form)
//	<snapshot_dir>/<height>/state.bin     the same metadata, binary (SnapshotState)
//	<snapshot_dir>/<height>/accounts.bin  "QBINDAC1" ‖ records id[32] ‖ state[24], ids ascending
const (
	SnapshotFormat   = "qbind-snapshot-v1"
	MetaFile         = "meta.json"
	StateFile        = "state.bin"
	AccountsFile     = "accounts.bin"
	accountsMagic    = "QBINDAC1"
	stateMagic       = "QBINDST1"
	AccountRecord    = 32 + 24
	SnapshotStateLen = 8 + 8 + 8 + 32 + 32 + 32 + 32 + 16 + 32 + 8 + 8
	maxMetaJSON      = 64 << 10
)

// SnapshotState is a snapshot's metadata. meta.json carries it as §9's JSON
// and state.bin as a fixed binary record covered by meta.json's file hashes,
// so that no field of meta.json can change without a hash mismatch.
type SnapshotState struct {
	ChainID         uint64
	Height          uint64
	BlockID         types.BlockID // all zero when the store did not hold the committed block id
	StateDigest     crypto.Hash
	ExecDigest      crypto.Hash
	ReceiptsRoot    crypto.Hash
	TotalBurned     u128.U128
	MonetaryHash    crypto.Hash // H(monetary epoch state); meta.json's monetary_state
	CreatedAtUnixMs uint64
	Accounts        uint64
}

// Encode returns state.bin: "QBINDST1" ‖ chain_id u64 ‖ height u64 ‖
// block_id ‖ state_digest ‖ exec_digest ‖ receipts_root ‖ total_burned u128
// ‖ monetary_hash ‖ created_at_unix_ms u64 ‖ accounts u64 (integers LE).
func (st *SnapshotState) Encode() []byte {
	b := make([]byte, 0, SnapshotStateLen)
	b = append(b, stateMagic...)
	b = binary.LittleEndian.AppendUint64(b, st.ChainID)
	b = binary.LittleEndian.AppendUint64(b, st.Height)
	b = append(b, st.BlockID[:]...)
	b = append(b, st.StateDigest[:]...)
	b = append(b, st.ExecDigest[:]...)
	b = append(b, st.ReceiptsRoot[:]...)
	b = append(b, encU128(st.TotalBurned)...)
	b = append(b, st.MonetaryHash[:]...)
	b = binary.LittleEndian.AppendUint64(b, st.CreatedAtUnixMs)
	return binary.LittleEndian.AppendUint64(b, st.Accounts)
}

// DecodeSnapshotState parses state.bin strictly.
func DecodeSnapshotState(b []byte) (*SnapshotState, error) {
	if len(b) != SnapshotStateLen {
		return nil, fmt.Errorf("%w: %s is %d bytes, want %d", ErrSnapshot, StateFile, len(b), SnapshotStateLen)
	}
	if string(b[:8]) != stateMagic {
		return nil, fmt.Errorf("%w: %s has a bad magic", ErrSnapshot, StateFile)
	}
	st := &SnapshotState{}
	o := 8
	u64 := func() uint64 { v := binary.LittleEndian.Uint64(b[o:]); o += 8; return v }
	h32 := func(dst []byte) { copy(dst, b[o:o+32]); o += 32 }
	st.ChainID = u64()
	st.Height = u64()
	h32(st.BlockID[:])
	h32(st.StateDigest[:])
	h32(st.ExecDigest[:])
	h32(st.ReceiptsRoot[:])
	st.TotalBurned = u128.FromLE(b[o : o+16])
	o += 16
	h32(st.MonetaryHash[:])
	st.CreatedAtUnixMs = u64()
	st.Accounts = u64()
	return st, st.check()
}

// check verifies what the fields determine about each other: a known chain
// and exec_digest = ExecDigest(height, state_digest, receipts_root,
// total_burned, monetary hash) (PROTOCOL.md §8.2).
func (st *SnapshotState) check() error {
	if _, err := crypto.NetworkByChainID(st.ChainID); err != nil {
		return fmt.Errorf("%w: unknown chain id %#x", ErrSnapshot, st.ChainID)
	}
	if execution.ExecDigest(st.Height, st.StateDigest, st.ReceiptsRoot, st.TotalBurned, st.MonetaryHash) != st.ExecDigest {
		return fmt.Errorf("%w: exec digest does not match height, state digest, receipts root, total burned and monetary state", ErrSnapshot)
	}
	return nil
}

// SnapshotMeta is meta.json (PROTOCOL.md §9 plus receipts_root and
// accounts, which the exec digest check and the import need).
type SnapshotMeta struct {
	Format          string            `json:"format"`
	Height          uint64            `json:"height"`
	BlockID         string            `json:"block_id"`
	StateDigest     string            `json:"state_digest"`
	ExecDigest      string            `json:"exec_digest"`
	ReceiptsRoot    string            `json:"receipts_root"`
	TotalBurned     string            `json:"total_burned"`
	MonetaryState   string            `json:"monetary_state"`
	ChainID         string            `json:"chain_id"`
	CreatedAtUnixMs uint64            `json:"created_at_unix_ms"`
	Accounts        uint64            `json:"accounts"`
	Files           map[string]string `json:"files"`
}

var metaFields = []string{"accounts", "block_id", "chain_id", "created_at_unix_ms", "exec_digest", "files", "format",
	"height", "monetary_state", "receipts_root", "state_digest", "total_burned"}

// NewSnapshotMeta renders st as meta.json's fields.
func NewSnapshotMeta(st *SnapshotState, files map[string]crypto.Hash) *SnapshotMeta {
	m := &SnapshotMeta{
		Format: SnapshotFormat, Height: st.Height, BlockID: hex.EncodeToString(st.BlockID[:]),
		StateDigest: st.StateDigest.String(), ExecDigest: st.ExecDigest.String(), ReceiptsRoot: st.ReceiptsRoot.String(),
		TotalBurned: st.TotalBurned.String(), MonetaryState: st.MonetaryHash.String(),
		ChainID: fmt.Sprintf("0x%016x", st.ChainID), CreatedAtUnixMs: st.CreatedAtUnixMs, Accounts: st.Accounts,
		Files: map[string]string{},
	}
	for name, h := range files {
		m.Files[name] = h.String()
	}
	return m
}

// Marshal returns the canonical meta.json bytes (2-space indent, sorted
// file names, trailing newline).
func (m *SnapshotMeta) Marshal() []byte {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		panic(err) // strings and integers only
	}
	return append(b, '\n')
}

var fileNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,63}$`)

// ParseSnapshotMeta parses meta.json strictly: at most 64 KiB, exactly the
// known fields (names matched case-sensitively), valid values, and the exact
// canonical bytes Marshal produces; the result is also returned as a
// SnapshotState and the file hashes.
func ParseSnapshotMeta(b []byte) (*SnapshotMeta, *SnapshotState, map[string]crypto.Hash, error) {
	fail := func(format string, a ...any) (*SnapshotMeta, *SnapshotState, map[string]crypto.Hash, error) {
		return nil, nil, nil, fmt.Errorf("%w: %s: %s", ErrSnapshot, MetaFile, fmt.Sprintf(format, a...))
	}
	if len(b) > maxMetaJSON {
		return fail("%d bytes", len(b))
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(b, &raw); err != nil {
		return fail("%v", err)
	}
	if keys := slices.Sorted(maps.Keys(raw)); !slices.Equal(keys, metaFields) {
		return fail("fields %v, want %v", keys, metaFields)
	}
	var m SnapshotMeta
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&m); err != nil {
		return fail("%v", err)
	}
	if m.Format != SnapshotFormat {
		return fail("format %q, this build reads %q", m.Format, SnapshotFormat)
	}
	st := &SnapshotState{Height: m.Height, CreatedAtUnixMs: m.CreatedAtUnixMs, Accounts: m.Accounts}
	for _, f := range []struct {
		name string
		s    string
		dst  []byte
	}{{"block_id", m.BlockID, st.BlockID[:]}, {"state_digest", m.StateDigest, st.StateDigest[:]},
		{"exec_digest", m.ExecDigest, st.ExecDigest[:]}, {"receipts_root", m.ReceiptsRoot, st.ReceiptsRoot[:]},
		{"monetary_state", m.MonetaryState, st.MonetaryHash[:]}} {
		if err := decodeHex32(f.s, f.dst); err != nil {
			return fail("%s: %v", f.name, err)
		}
	}
	var err error
	if st.TotalBurned, err = u128.Parse(m.TotalBurned); err != nil {
		return fail("total_burned: %v", err)
	}
	if !strings.HasPrefix(m.ChainID, "0x") || len(m.ChainID) != 18 {
		return fail("chain_id %q is not 0x and 16 hex digits", m.ChainID)
	}
	if st.ChainID, err = strconv.ParseUint(m.ChainID[2:], 16, 64); err != nil {
		return fail("chain_id: %v", err)
	}
	files := make(map[string]crypto.Hash, len(m.Files))
	for name, hs := range m.Files {
		if !fileNameRE.MatchString(name) || name == MetaFile {
			return fail("bad file name %q", name)
		}
		var h crypto.Hash
		if err := decodeHex32(hs, h[:]); err != nil {
			return fail("hash of %s: %v", name, err)
		}
		files[name] = h
	}
	if _, ok := files[StateFile]; !ok {
		return fail("files lacks %s", StateFile)
	}
	if _, ok := files[AccountsFile]; !ok {
		return fail("files lacks %s", AccountsFile)
	}
	if err := st.check(); err != nil {
		return nil, nil, nil, err
	}
	if !bytes.Equal(m.Marshal(), b) {
		return fail("not in canonical form")
	}
	return &m, st, files, nil
}

// decodeHex32 decodes exactly 64 lowercase hex digits.
func decodeHex32(s string, dst []byte) error {
	if len(s) != 64 {
		return fmt.Errorf("%d hex digits, want 64", len(s))
	}
	if strings.ToLower(s) != s {
		return fmt.Errorf("upper-case hex")
	}
	_, err := hex.Decode(dst, []byte(s))
	return err
}

// accountsReader decodes accounts.bin record by record: the magic, whole
// 56-byte records, ids strictly ascending, states non-zero.
type accountsReader struct {
	r    *bufio.Reader
	rec  [AccountRecord]byte
	prev [32]byte
	n    uint64
}

func newAccountsReader(r io.Reader) (*accountsReader, error) {
	ar := &accountsReader{r: bufio.NewReaderSize(r, 1<<20)}
	var magic [len(accountsMagic)]byte
	if _, err := io.ReadFull(ar.r, magic[:]); err != nil || string(magic[:]) != accountsMagic {
		return nil, fmt.Errorf("%w: %s has a bad magic", ErrSnapshot, AccountsFile)
	}
	return ar, nil
}

// next returns the next record (ok false at the end).
func (r *accountsReader) next() (id types.AccountID, state [24]byte, ok bool, err error) {
	n, err := io.ReadFull(r.r, r.rec[:])
	switch {
	case n == 0 && err == io.EOF:
		return id, state, false, nil
	case err == io.ErrUnexpectedEOF:
		return id, state, false, fmt.Errorf("%w: %s ends in a partial record", ErrSnapshot, AccountsFile)
	case err != nil:
		return id, state, false, fmt.Errorf("%w: %s: %w", ErrSnapshot, AccountsFile, err)
	}
	copy(id[:], r.rec[:32])
	copy(state[:], r.rec[32:])
	if r.n > 0 && bytes.Compare(r.prev[:], id[:]) >= 0 {
		return id, state, false, fmt.Errorf("%w: %s record %d: ids not strictly ascending", ErrSnapshot, AccountsFile, r.n)
	}
	if state == ([24]byte{}) {
		return id, state, false, fmt.Errorf("%w: %s record %d: state (0, 0)", ErrSnapshot, AccountsFile, r.n)
	}
	r.prev = id
	r.n++
	return id, state, true, nil
}

// DecodeAccounts parses a whole accounts.bin (tests, fuzzing, inspect).
func DecodeAccounts(b []byte) (map[types.AccountID]types.Account, error) {
	r, err := newAccountsReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	out := map[types.AccountID]types.Account{}
	for {
		id, st, ok, err := r.next()
		if err != nil {
			return nil, err
		}
		if !ok {
			return out, nil
		}
		a, _ := types.DecodeAccount(st[:])
		out[id] = a
	}
}
