// Package bench measures mempool admission throughput against raw ML-DSA-44
// verification (`qbind bench mempool`). It is a driver, not a core: it owns
// goroutines and reads the clock.
package bench

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudflare/circl/sign/mldsa/mldsa44"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/mempool"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Result is what `qbind bench mempool --json` prints.
type Result struct {
	Txs           int     `json:"txs"`
	AdmittedPerS  float64 `json:"admitted_per_s"`
	VerifyPerSRaw float64 `json:"verify_per_s_raw"`
	Ratio         float64 `json:"ratio"`
}

// Workload is a set of signed transactions of a few senders.
type Workload struct {
	Network crypto.Network
	Params  types.ExecParams
	Raw     [][]byte
	// Now is the wall clock the measurements read; the caller injects it
	// (cmd passes time.Now) so nothing under mempool/ reads the clock itself.
	Now  func() time.Time
	keys []*crypto.PrivateKey
}

// NewWorkload signs n transfers spread over senders keys (round-robin, so
// each sender's nonces are consecutive in arrival order), in parallel.
func NewWorkload(n, senders int) (*Workload, error) {
	if n <= 0 || senders <= 0 {
		return nil, fmt.Errorf("bench: need txs > 0 and senders > 0")
	}
	params, err := types.DefaultExecParams(types.ProfileMainNet)
	if err != nil {
		return nil, err
	}
	w := &Workload{Network: crypto.MainNet, Params: params, Raw: make([][]byte, n)}
	for i := range senders {
		seed := make([]byte, 32)
		binary.BigEndian.PutUint64(seed, uint64(i)+0xbe7c)
		k, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, seed)
		if err != nil {
			return nil, err
		}
		w.keys = append(w.keys, k)
	}
	var firstErr atomic.Value
	parallel(n, func(i int) {
		k := w.keys[i%senders]
		var to types.AccountID
		to[0] = 0xaa
		pl := types.Transfer{Version: types.PayloadV1, Recipient: to, Amount: u128.From64(1),
			GasLimit: 50_000, MaxFeePerGas: u128.From64(1 + uint64(i%7))}.Encode()
		tx := &types.Transaction{Suite: crypto.SuiteMLDSA44, PublicKey: k.Public().Bytes(), Nonce: uint64(i / senders), Payload: pl}
		if err := tx.Sign(w.Network, k); err != nil {
			firstErr.CompareAndSwap(nil, err)
			return
		}
		w.Raw[i] = tx.Encode()
	})
	if err, _ := firstErr.Load().(error); err != nil {
		return nil, err
	}
	return w, nil
}

// parallel runs f(0..n-1) on GOMAXPROCS goroutines.
func parallel(n int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range runtime.GOMAXPROCS(0) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				f(i)
			}
		})
	}
	wg.Wait()
}

// RawVerify verifies every tx with circl's mldsa44.Verify over pre-parsed
// keys and precomputed preimages (the baseline: nothing but the signature
// check), on GOMAXPROCS goroutines. It returns verifications per second.
func (w *Workload) RawVerify() (float64, error) {
	type item struct {
		pk       *mldsa44.PublicKey
		msg, sig []byte
	}
	items := make([]item, len(w.Raw))
	parsed := map[string]*mldsa44.PublicKey{}
	for i, raw := range w.Raw {
		tx, err := types.DecodeTransaction(raw)
		if err != nil {
			return 0, err
		}
		pk := parsed[string(tx.PublicKey)]
		if pk == nil {
			pk = new(mldsa44.PublicKey)
			if err := pk.UnmarshalBinary(tx.PublicKey); err != nil {
				return 0, err
			}
			parsed[string(tx.PublicKey)] = pk
		}
		items[i] = item{pk: pk, msg: tx.SigningPreimage(w.Network, tx.Sender()), sig: tx.Signature}
	}
	var bad atomic.Int64
	start := w.Now()
	parallel(len(items), func(i int) {
		if !mldsa44.Verify(items[i].pk, items[i].msg, nil, items[i].sig) {
			bad.Add(1)
		}
	})
	el := w.Now().Sub(start)
	if bad.Load() != 0 {
		return 0, fmt.Errorf("bench: %d raw verifications failed", bad.Load())
	}
	return float64(len(items)) / el.Seconds(), nil
}

type accounts struct{ bal u128.U128 }

func (a accounts) Account(types.AccountID) (types.Account, error) {
	return types.Account{Balance: a.bal}, nil
}

// chunk is the unit a worker checks; the core admits chunks in order.
const chunk = 64

// Admit runs full admission — size cap, stateless validity through a fresh
// types.Checker (decode, key cache, tx_id, payload rules, signature) in a
// GOMAXPROCS worker pool, then the pool core's state checks in arrival order
// on one goroutine, pipelined with the workers. It returns admitted txs per
// second and the number admitted.
func (w *Workload) Admit() (float64, int, error) {
	checker := types.NewChecker(w.Network, w.Params)
	cfg := mempool.DefaultConfig(mempool.FeePriority)
	cfg.MaxTxs = len(w.Raw) + 1
	cfg.MaxBytes = int64(len(w.Raw)+1) * types.MaxTxSize
	cfg.MaxTxsPerSender = len(w.Raw) + 1
	cfg.MaxBytesPerSender = cfg.MaxBytes
	pool, err := mempool.New(cfg, accounts{bal: u128.Max})
	if err != nil {
		return 0, 0, err
	}
	nChunks := (len(w.Raw) + chunk - 1) / chunk
	type result struct {
		cts  []*types.CheckedTx
		errs []error
		done chan struct{}
	}
	results := make([]result, nChunks)
	for i := range results {
		results[i].done = make(chan struct{})
	}
	start := w.Now()
	go parallel(nChunks, func(c int) {
		lo, hi := c*chunk, min((c+1)*chunk, len(w.Raw))
		r := &results[c]
		r.cts, r.errs = make([]*types.CheckedTx, hi-lo), make([]error, hi-lo)
		for i := lo; i < hi; i++ {
			raw := w.Raw[i]
			if len(raw) > types.MaxTxSize {
				r.errs[i-lo] = mempool.ErrTooLarge
				continue
			}
			r.cts[i-lo], r.errs[i-lo] = checker.Check(raw)
		}
		close(r.done)
	})
	admitted := 0
	var firstErr error
	for c := range results {
		<-results[c].done
		for i, ct := range results[c].cts {
			if err := results[c].errs[i]; err != nil {
				pool.RecordRejection(err)
				firstErr = cmpErr(firstErr, err)
				continue
			}
			if _, err := pool.AddChecked(ct, uint64(w.Now().Sub(start).Milliseconds())); err != nil {
				firstErr = cmpErr(firstErr, err)
				continue
			}
			admitted++
		}
	}
	el := w.Now().Sub(start)
	if admitted != len(w.Raw) {
		return 0, admitted, fmt.Errorf("bench: admitted %d of %d (first rejection: %v)", admitted, len(w.Raw), firstErr)
	}
	return float64(admitted) / el.Seconds(), admitted, nil
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Rounds is how many times Run measures each side, alternating; it reports
// the best round of each (shared machines add noise only downwards).
const Rounds = 3

// Run builds the workload and measures both sides, alternating raw and
// admission rounds so that background load hits both alike. Every admission
// round starts from a fresh checker (empty key and verified caches) and an
// empty pool.
func Run(n, senders int, now func() time.Time) (Result, error) {
	w, err := NewWorkload(n, senders)
	if err != nil {
		return Result{}, err
	}
	w.Now = now
	var best Result
	best.Txs = n
	for range Rounds {
		raw, err := w.RawVerify()
		if err != nil {
			return Result{}, err
		}
		adm, _, err := w.Admit()
		if err != nil {
			return Result{}, err
		}
		best.VerifyPerSRaw = max(best.VerifyPerSRaw, raw)
		best.AdmittedPerS = max(best.AdmittedPerS, adm)
	}
	best.Ratio = best.AdmittedPerS / best.VerifyPerSRaw
	return best, nil
}
