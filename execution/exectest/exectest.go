// Package exectest holds test helpers for execution and stageb: a fixed key
// pool, transaction builders with dummy signatures, a rapid generator of
// adversarial blocks and result comparison. It is imported by tests only.
//
// Execution never verifies signatures (stateless validity ran once per node
// before a tx reached a block), so generated transactions carry an all-zero
// signature of the right size: signing thousands of them (~300 µs each) would
// only slow the properties down.
package exectest

import (
	"bytes"
	"flag"
	"os"
	"sync"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Network is the network the helpers build for.
const Network = crypto.TestNet

// PoolSize is the number of keyed accounts.
const PoolSize = 16

var (
	poolOnce sync.Once
	pool     []*crypto.PrivateKey
)

// Keys returns PoolSize keys derived from fixed seeds (seed i = 32 bytes of
// value i+1), generated once per process.
func Keys() []*crypto.PrivateKey {
	poolOnce.Do(func() {
		for i := range PoolSize {
			k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, bytes.Repeat([]byte{byte(i + 1)}, crypto.SeedSize))
			if err != nil {
				panic(err)
			}
			pool = append(pool, k)
		}
	})
	return pool
}

// Account returns the account id of pool key i.
func Account(i int) types.AccountID { return types.AccountIDOf(Keys()[i].Public()) }

// RawID returns a key-less account id (genesis may fund raw ids).
func RawID(i int) types.AccountID {
	var id types.AccountID
	id[0], id[1] = 0xEE, byte(i)
	return id
}

// V1 is a 72-byte transfer payload.
func V1(to types.AccountID, amount u128.U128, gasLimit uint64, maxFee u128.U128) []byte {
	return types.Transfer{Version: types.PayloadV1, Recipient: to, Amount: amount, GasLimit: gasLimit, MaxFeePerGas: maxFee}.Encode()
}

// V0 is a 48-byte transfer payload.
func V0(to types.AccountID, amount u128.U128) []byte {
	return types.Transfer{Version: types.PayloadV0, Recipient: to, Amount: amount}.Encode()
}

// Raw encodes a transaction of pool key i with a dummy signature; sigByte
// fills the signature (different bytes, same tx_id).
func Raw(i int, nonce uint64, payload []byte, sigByte byte) []byte {
	tx := types.Transaction{
		Suite:     crypto.SuiteMLDSA44,
		PublicKey: Keys()[i].Public().Bytes(),
		Nonce:     nonce,
		Payload:   payload,
		Signature: bytes.Repeat([]byte{sigByte}, crypto.MLDSA44SignatureSize),
	}
	return tx.Encode()
}

var keyCache = crypto.NewKeyCache(0)

// Entries decodes raw transactions like the node does.
func Entries(raws [][]byte) []execution.Entry {
	return execution.EntriesFromRaw(Network, raws, keyCache)
}

// Validators builds a set whose validator i has reward account rewards[i]
// (consensus keys from the pool).
func Validators(rewards []types.AccountID) *types.ValidatorSet {
	vals := make([]types.Validator, len(rewards))
	for i, r := range rewards {
		vals[i] = types.Validator{ConsensusKey: Keys()[i%PoolSize].Public(), Power: 1, RewardAccount: r}
	}
	vs, err := types.NewValidatorSet(vals)
	if err != nil {
		panic(err)
	}
	return vs
}

// Params returns the testnet-beta/mainnet execution parameters.
func Params() types.ExecParams {
	p, err := types.DefaultExecParams(types.ProfileMainNet)
	if err != nil {
		panic(err)
	}
	return p
}

// Diff is execution.Diff.
func Diff(a, b *execution.BlockResult) string { return execution.Diff(a, b) }

// MinChecks makes rapid run at least 500 cases per property (10,000 with
// long), unless -rapid.checks or RAPID_CHECKS chose a number. Call it from
// TestMain after flag.Parse.
func MinChecks(long bool) {
	if os.Getenv("RAPID_CHECKS") != "" {
		return
	}
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == "rapid.checks" })
	if set {
		return
	}
	n := "500"
	if long {
		n = "10000"
	}
	if err := flag.Set("rapid.checks", n); err != nil {
		panic(err)
	}
}
