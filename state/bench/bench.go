// Package bench measures the state store on synthetic data: execution
// commits, full digest recomputation, snapshot export and restore. It backs
// `qbind bench state`.
package bench

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/state"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Config is one benchmark run.
type Config struct {
	Accounts    int
	Blocks      int
	TxsPerBlock int
	Seed        uint64
	// Dir holds the data and snapshot directories (a new temporary
	// directory, removed afterwards, when empty).
	Dir string
}

// Result is what `qbind bench state --json` prints.
type Result struct {
	Accounts           int     `json:"accounts"`
	CommitBlocksPerS   float64 `json:"commit_blocks_per_s"`
	CommitTPS          float64 `json:"commit_tps"`
	DigestUsPerAccount float64 `json:"digest_us_per_account"`
	SnapshotMs         float64 `json:"snapshot_ms"`
	RestoreMs          float64 `json:"restore_ms"`
	DigestMatch        bool    `json:"digest_match"`
	// Not in the JSON: context for the text output.
	GenesisMs float64 `json:"-"`
	Changes   int     `json:"-"`
}

// Run runs the benchmark: genesis with Accounts random accounts in an
// on-disk store (MEASURED.md tuning), Blocks execution commits of
// TxsPerBlock random transfers each (results built and sealed outside the
// timed section: only CommitExecution is timed, its synced batch included),
// a full digest recomputation, a synchronous snapshot export, and a restore
// into a new data dir whose recomputed digest must equal the original.
func Run(ctx context.Context, cfg Config) (*Result, error) {
	if cfg.Accounts < 2 || cfg.Blocks < 1 || cfg.TxsPerBlock < 1 {
		return nil, fmt.Errorf("bench: need ≥ 2 accounts, ≥ 1 block, ≥ 1 tx per block")
	}
	root := cfg.Dir
	if root == "" {
		d, err := os.MkdirTemp("", "qbind-bench-state-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		root = d
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x5DEECE66D))
	ids := make([]types.AccountID, cfg.Accounts)
	g := make(map[types.AccountID]types.Account, cfg.Accounts)
	for i := range ids {
		binary.LittleEndian.PutUint64(ids[i][0:], rng.Uint64())
		binary.LittleEndian.PutUint64(ids[i][8:], rng.Uint64())
		binary.LittleEndian.PutUint64(ids[i][16:], rng.Uint64())
		binary.LittleEndian.PutUint64(ids[i][24:], uint64(i))
		g[ids[i]] = types.Account{Nonce: rng.Uint64N(10), Balance: u128.From64(1e15 + rng.Uint64N(1e12))}
	}
	opts := state.Options{Dir: filepath.Join(root, "data"), Network: crypto.TestNet,
		Snapshots: state.SnapshotConfig{Dir: filepath.Join(root, "snapshots"), Max: 1}}
	s, err := state.Open(opts)
	if err != nil {
		return nil, err
	}
	defer func() {
		if s != nil {
			s.Close()
		}
	}()
	res := &Result{Accounts: cfg.Accounts}
	t0 := time.Now()
	if _, err := s.InitGenesis(state.Genesis{Accounts: g}); err != nil {
		return nil, err
	}
	res.GenesisMs = ms(time.Since(t0))
	g = nil

	var commitTime time.Duration
	burned := u128.Zero
	for h := uint64(1); h <= uint64(cfg.Blocks); h++ {
		r, err := block(s, rng, ids, h, cfg.TxsPerBlock, &burned)
		if err != nil {
			return nil, err
		}
		res.Changes += len(r.Changes)
		t := time.Now()
		if err := s.CommitExecution(h, r); err != nil {
			return nil, err
		}
		commitTime += time.Since(t)
	}
	res.CommitBlocksPerS = float64(cfg.Blocks) / commitTime.Seconds()
	res.CommitTPS = float64(cfg.Blocks*cfg.TxsPerBlock) / commitTime.Seconds()

	rep, err := s.VerifyDigest(ctx)
	if err != nil {
		return nil, err
	}
	res.DigestUsPerAccount = float64(rep.Duration.Microseconds()) / float64(max(rep.Accounts, 1))

	t1 := time.Now()
	snapDir, err := s.ExportSnapshot(ctx)
	if err != nil {
		return nil, err
	}
	res.SnapshotMs = ms(time.Since(t1))
	want := s.StateDigest()
	s.Close()
	s = nil

	ropts := opts
	ropts.Dir = filepath.Join(root, "restored")
	t2 := time.Now()
	r, rrep, err := state.Restore(ctx, snapDir, ropts)
	if err != nil {
		return nil, err
	}
	res.RestoreMs = ms(time.Since(t2))
	res.DigestMatch = r.StateDigest() == want && rrep.Accounts == rep.Accounts
	return res, r.Close()
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// block builds the sealed result of txs random transfers (fee 21 000 × 1,
// half burned) and random receipts.
func block(s *state.Store, rng *rand.Rand, ids []types.AccountID, h uint64, txs int, burned *u128.U128) (*execution.BlockResult, error) {
	touched := map[types.AccountID]*execution.AccountChange{}
	get := func(id types.AccountID) (*execution.AccountChange, error) {
		if c, ok := touched[id]; ok {
			return c, nil
		}
		a, err := s.Account(id)
		if err != nil {
			return nil, err
		}
		c := &execution.AccountChange{ID: id, Old: a, New: a}
		touched[id] = c
		return c, nil
	}
	fee := u128.From64(21_000)
	r := &execution.BlockResult{Height: h, Receipts: make([]execution.Receipt, txs)}
	for i := range txs {
		from, err := get(ids[rng.IntN(len(ids))])
		if err != nil {
			return nil, err
		}
		to, err := get(ids[rng.IntN(len(ids))])
		if err != nil {
			return nil, err
		}
		amt := u128.From64(rng.Uint64N(1000) + 1)
		cost, _ := amt.Add(fee)
		if nb, ok := from.New.Balance.Sub(cost); ok {
			from.New.Balance = nb
			from.New.Nonce++
			to.New.Balance, _ = to.New.Balance.Add(amt)
			*burned, _ = burned.Add(u128.From64(10_500))
		}
		rc := &r.Receipts[i]
		binary.LittleEndian.PutUint64(rc.TxID[:], rng.Uint64())
		binary.LittleEndian.PutUint64(rc.TxID[8:], h)
		binary.LittleEndian.PutUint64(rc.TxID[16:], uint64(i))
		rc.GasUsed, rc.Fee, rc.Burned = 21_000, fee, u128.From64(10_500)
	}
	for _, c := range touched {
		if c.Old != c.New {
			r.Changes = append(r.Changes, *c)
		}
	}
	slices.SortFunc(r.Changes, func(a, b execution.AccountChange) int { return bytes.Compare(a.ID[:], b.ID[:]) })
	r.TotalBurned = *burned
	r.ReceiptsRoot = execution.ReceiptsRoot(r.Receipts)
	r.MonetaryHash = execution.EmptyMonetaryHash
	prev, err := s.StateHash()
	if err != nil {
		return nil, err
	}
	r.Seal(prev, 1)
	return r, nil
}
