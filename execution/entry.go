package execution

import (
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// Entry is one raw entry of a committed block, decoded once by whoever holds
// it (the node decoded and checked every tx when it acked the batch). Tx is
// nil when the bytes do not decode; a decoded Tx whose payload is neither 72
// nor 48 bytes is malformed too. Execution never verifies signatures: the
// transactions of a certified batch passed stateless validity at this node.
type Entry struct {
	Raw    []byte             // wire bytes (informational; execution does not read them)
	Tx     *types.Transaction // nil: does not decode
	Sender types.AccountID    // derived from Tx.PublicKey (zero when Tx is nil)
	ID     types.TxID         // Tx.ID(network, Sender); H(Raw) when Tx is nil
}

// Malformed reports whether the entry is skipped `malformed`: it does not
// decode or its payload is neither a v1 (72 B) nor a v0 (48 B) transfer.
func (e *Entry) Malformed() bool {
	if e.Tx == nil {
		return true
	}
	n := len(e.Tx.Payload)
	return n != types.TransferV1Size && n != types.TransferV0Size
}

// NewEntry decodes raw for network n. The sender comes from kc (a parsed-key
// cache hit is a map lookup) when kc is non-nil and the key parses, else from
// hashing the public key. Bytes that do not decode give a malformed entry
// whose id is H(raw) — malformed entries are never deduplicated, so that id
// only labels the receipt.
func NewEntry(n crypto.Network, raw []byte, kc *crypto.KeyCache) Entry {
	tx, err := types.DecodeTransaction(raw)
	if err != nil {
		return Entry{Raw: raw, ID: types.TxID(crypto.Sum(raw))}
	}
	var sender types.AccountID
	if kc != nil {
		if pk, err := kc.Get(tx.Suite, tx.PublicKey); err == nil {
			sender = types.AccountIDOf(pk)
		} else {
			sender = tx.Sender()
		}
	} else {
		sender = tx.Sender()
	}
	return Entry{Raw: raw, Tx: tx, Sender: sender, ID: tx.ID(n, sender)}
}

// EntriesFromRaw decodes a block's raw transactions (its batches' txs in
// payload order) with NewEntry.
func EntriesFromRaw(n crypto.Network, raws [][]byte, kc *crypto.KeyCache) []Entry {
	out := make([]Entry, len(raws))
	for i, raw := range raws {
		out[i] = NewEntry(n, raw, kc)
	}
	return out
}

// EntryFromChecked reuses the work of stateless validity.
func EntryFromChecked(c *types.CheckedTx) Entry {
	return Entry{Raw: c.Raw, Tx: c.Tx, Sender: c.Sender, ID: c.ID}
}

// Block is the input of executing one committed block.
type Block struct {
	Height   uint64  // the executed height (exec_height of §8.2)
	Proposer uint16  // header.proposer: its reward account gets the proposer share
	Entries  []Entry // the block's txs: batches in payload order, each batch's txs in order
	// MonetaryHash is H(monetary epoch state) after this block; until the
	// monetary engine is wired, EmptyMonetaryHash (the zero value is
	// replaced by it).
	MonetaryHash crypto.Hash
}

// Env is what execution is parameterised by: the genesis ExecParams and the
// validator set (for the proposer's reward account). Node configuration
// (Stage B on/off, workers) is not here.
type Env struct {
	Params     types.ExecParams
	Validators *types.ValidatorSet
}
