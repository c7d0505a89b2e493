package state

import (
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/crypto/lthash"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Key schema (docs/storage.md): one prefix byte per keyspace. Heights and
// indexes inside keys are big-endian so that byte order is numeric order and
// a height range is one key range; values follow PROTOCOL.md §3 (little
// endian), except account values, which are §4's nonce u64 BE ‖ balance u128 BE.
const (
	pMeta       byte = 0x00 // 0x00 ‖ name → see metaKey*
	pAccount    byte = 0x01 // 0x01 ‖ account_id[32] → nonce u64 BE ‖ balance u128 BE
	pBlock      byte = 0x10 // 0x10 ‖ height BE ‖ block_id → types.Proposal encoding
	pBlockID    byte = 0x11 // 0x11 ‖ block_id → height u64 BE
	pQC         byte = 0x12 // 0x12 ‖ height BE ‖ block_id → types.QC encoding (QC certifying that block)
	pCommitted  byte = 0x13 // 0x13 ‖ height BE → block_id of the committed block at height
	pProof      byte = 0x14 // 0x14 ‖ height BE → CommitProof encoding (height = B1's)
	pBatch      byte = 0x20 // 0x20 ‖ recv_height BE ‖ batch_id → types.Batch encoding
	pBatchID    byte = 0x21 // 0x21 ‖ batch_id → recv_height u64 BE
	pReceipt    byte = 0x30 // 0x30 ‖ height BE ‖ index u32 BE → execution.Receipt encoding
	pTxIndex    byte = 0x31 // 0x31 ‖ tx_id → height u64 BE ‖ index u32 BE
	pExecDigest byte = 0x32 // 0x32 ‖ height BE → exec digest[32]
)

// Meta record names (key = 0x00 ‖ name).
const (
	metaFormat        = "format"         // u32 LE: StoreFormat
	metaChainID       = "chain_id"       // u64 LE
	metaLastExecuted  = "last_executed"  // u64 LE
	metaLastCommitted = "last_committed" // u64 LE
	metaTotalBurned   = "total_burned"   // u128 LE
	metaLtHash        = "lthash"         // 2048 bytes (lthash.Hash.Bytes)
	metaStateDigest   = "state_digest"   // 32 bytes, = H(lthash lanes)
	metaReceiptsRoot  = "receipts_root"  // 32 bytes, of last_executed
	metaMonetaryHash  = "monetary_hash"  // 32 bytes, of last_executed
	metaHighQC        = "high_qc"        // types.QC encoding
	metaPrunedBelow   = "pruned_below"   // u64 LE: heights < this were pruned
	metaIncomplete    = "incomplete"     // present while genesis or a restore is being written
)

// StoreFormat is the version of the key schema, stored under meta "format".
const StoreFormat = 1

func metaKey(name string) []byte { return append([]byte{pMeta}, name...) }

func accountKey(id types.AccountID) []byte {
	var k [33]byte
	k[0] = pAccount
	copy(k[1:], id[:])
	return k[:]
}

func heightKey(p byte, h uint64) []byte {
	k := make([]byte, 9, 9+36)
	k[0] = p
	binary.BigEndian.PutUint64(k[1:], h)
	return k
}

func heightIDKey(p byte, h uint64, id [32]byte) []byte { return append(heightKey(p, h), id[:]...) }

func idKey(p byte, id [32]byte) []byte { return append([]byte{p}, id[:]...) }

func receiptKey(h uint64, i uint32) []byte {
	return binary.BigEndian.AppendUint32(heightKey(pReceipt, h), i)
}

// prefixEnd is the first key after every key starting with p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xFF {
			end[i]++
			return end[:i+1]
		}
	}
	return nil
}

// Errors. Everything the store returns about stored data that does not
// decode wraps ErrCorrupt (as a *CorruptError naming the key): stored values
// are never defaulted.
var (
	ErrCorrupt  = errors.New("state: corrupt store")
	ErrNotFound = errors.New("state: not found")
	ErrPruned   = errors.New("state: pruned")
	ErrClosed   = errors.New("state: store closed")
	// ErrCommitFailed: a synced execution commit failed after Pebble may
	// have applied it; fatal for the store (close and reopen).
	ErrCommitFailed = errors.New("state: execution commit failed (fatal: close and reopen the store)")
	ErrHeight       = errors.New("state: result height is not last_executed+1")
	ErrStale        = errors.New("state: account change does not start from the stored state")
	ErrChainID      = errors.New("state: chain id mismatch")
	ErrIncomplete   = errors.New("state: store holds an incomplete genesis or restore")
	ErrNotEmpty     = errors.New("state: store is not empty")
	ErrNoGenesis    = errors.New("state: store has no genesis (InitGenesis or Restore first)")
	ErrSnapshot     = errors.New("state: snapshot refused")
	ErrDigest       = errors.New("state: recomputed digest does not match")
)

// CorruptError is a stored record that does not decode.
type CorruptError struct {
	Key    []byte
	Reason string
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state: corrupt record %s: %s", hex.EncodeToString(e.Key), e.Reason)
}

// Is makes errors.Is(err, ErrCorrupt) hold.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

func corrupt(key []byte, format string, a ...any) error {
	return &CorruptError{Key: append([]byte(nil), key...), Reason: fmt.Sprintf(format, a...)}
}

// HeightError is a CommitExecution refused for its height.
type HeightError struct{ LastExecuted, Got uint64 }

func (e *HeightError) Error() string {
	return fmt.Sprintf("state: result for height %d, last executed %d (want %d)", e.Got, e.LastExecuted, e.LastExecuted+1)
}
func (e *HeightError) Is(target error) bool { return target == ErrHeight }

// StaleError is a CommitExecution refused because a change's Old is not the
// stored account state: the result was computed on another state.
type StaleError struct {
	ID          types.AccountID
	Stored, Old types.Account
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("state: stale change for %s: stored (%d, %s), change starts at (%d, %s)",
		e.ID, e.Stored.Nonce, e.Stored.Balance, e.Old.Nonce, e.Old.Balance)
}
func (e *StaleError) Is(target error) bool { return target == ErrStale }

// Meta record codecs. Every decoder takes the key for the error and refuses
// any other length.

func encU64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }

func decU64(key, v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, corrupt(key, "%d bytes, want 8", len(v))
	}
	return binary.LittleEndian.Uint64(v), nil
}

func encU32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

func decU32(key, v []byte) (uint32, error) {
	if len(v) != 4 {
		return 0, corrupt(key, "%d bytes, want 4", len(v))
	}
	return binary.LittleEndian.Uint32(v), nil
}

func encU128(v u128.U128) []byte {
	b := make([]byte, 16)
	v.PutLE(b)
	return b
}

func decU128(key, v []byte) (u128.U128, error) {
	if len(v) != 16 {
		return u128.U128{}, corrupt(key, "%d bytes, want 16", len(v))
	}
	return u128.FromLE(v), nil
}

func decHash(key, v []byte) (crypto.Hash, error) {
	var h crypto.Hash
	if len(v) != len(h) {
		return h, corrupt(key, "%d bytes, want 32", len(v))
	}
	copy(h[:], v)
	return h, nil
}

func decLtHash(key, v []byte) (lthash.Hash, error) {
	h, err := lthash.FromBytes(v)
	if err != nil {
		return h, corrupt(key, "%v", err)
	}
	return h, nil
}

// decAccount decodes a stored account value: exactly 24 bytes and never the
// zero state ((0, 0) means absent and is written as a delete).
func decAccount(key, v []byte) (types.Account, error) {
	a, err := types.DecodeAccount(v)
	if err != nil {
		return a, corrupt(key, "%v", err)
	}
	if !a.Exists() {
		return a, corrupt(key, "stored account state is (0, 0)")
	}
	return a, nil
}

// txLoc is a tx index value: height u64 BE ‖ index u32 BE.
func encTxLoc(h uint64, i uint32) []byte {
	return binary.BigEndian.AppendUint32(binary.BigEndian.AppendUint64(make([]byte, 0, 12), h), i)
}

func decTxLoc(key, v []byte) (uint64, uint32, error) {
	if len(v) != 12 {
		return 0, 0, corrupt(key, "%d bytes, want 12", len(v))
	}
	return binary.BigEndian.Uint64(v), binary.BigEndian.Uint32(v[8:]), nil
}

// decHeightBE decodes an id-index value (height u64 BE).
func decHeightBE(key, v []byte) (uint64, error) {
	if len(v) != 8 {
		return 0, corrupt(key, "%d bytes, want 8", len(v))
	}
	return binary.BigEndian.Uint64(v), nil
}
