package mempool

import (
	"encoding/binary"
	"errors"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// memView is an in-memory AccountView.
type memView struct {
	accts map[types.AccountID]types.Account
	fail  bool
}

func newView() *memView { return &memView{accts: map[types.AccountID]types.Account{}} }

var errStorage = errors.New("storage down")

func (v *memView) Account(id types.AccountID) (types.Account, error) {
	if v.fail {
		return types.Account{}, errStorage
	}
	return v.accts[id], nil
}

func sender(i int) types.AccountID {
	var a types.AccountID
	binary.BigEndian.PutUint32(a[:], uint32(i)+1)
	return a
}

// fakeTx is a CheckedTx without a real signature: the pool's state logic
// never looks at signatures (stateless validity happened before).
type fakeTx struct {
	sender int
	nonce  uint64
	fee    uint64
	gas    uint64 // intrinsic gas
	amount uint64
	size   int
	salt   uint64 // distinguishes otherwise equal txs (a different tx_id)
}

func (f fakeTx) checked() *types.CheckedTx {
	if f.size == 0 {
		f.size = types.TxV1Size
	}
	if f.gas == 0 {
		f.gas = 37352
	}
	s := sender(f.sender)
	var buf [64]byte
	copy(buf[:32], s[:])
	binary.BigEndian.PutUint64(buf[32:], f.nonce)
	binary.BigEndian.PutUint64(buf[40:], f.fee)
	binary.BigEndian.PutUint64(buf[48:], f.gas)
	binary.BigEndian.PutUint64(buf[56:], f.salt)
	id := types.TxID(crypto.Sum(buf[:]))
	raw := make([]byte, f.size)
	copy(raw, id[:])
	return &types.CheckedTx{
		Tx:     &types.Transaction{Nonce: f.nonce},
		Raw:    raw,
		Sender: s,
		ID:     id,
		Transfer: types.Transfer{Version: types.PayloadV1, Amount: u128.From64(f.amount), GasLimit: f.gas,
			MaxFeePerGas: u128.From64(f.fee)},
		IntrinsicGas: f.gas,
	}
}

func testConfig() Config {
	c := DefaultConfig(FeePriority)
	c.EvictionMode = EvictionOff
	return c
}

func fund(v *memView, senders int, balance uint64) {
	for i := range senders {
		v.accts[sender(i)] = types.Account{Balance: u128.From64(balance)}
	}
}
