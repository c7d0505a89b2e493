// Package bench measures execution and Stage B on synthetic transfer blocks
// (`qbind bench execution`). It takes its clock as an input and draws its
// data from a seeded splitmix64 generator, so the execution tree stays free of
// time.Now and math/rand and two runs execute identical blocks.
//
// Signatures are pre-verified and excluded: execution never verifies them
// (stateless validity ran once per node), so the blocks are built from
// already-decoded entries with synthetic sender ids and tx ids instead of
// keys — generating 100k ML-DSA keys and signing 100k txs would measure the
// generator, not execution.
package bench

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/crypto/lthash"
	"github.com/qbind/qbind/execution"
	"github.com/qbind/qbind/execution/stageb"
	"github.com/qbind/qbind/types"
	"github.com/qbind/qbind/u128"
)

// Conflict levels.
const (
	ConflictLow    = "low"    // sender and recipient uniform over all accounts
	ConflictMedium = "medium" // a quarter of the txs pay one of 16 hot accounts
	ConflictHigh   = "high"   // 90 % of the txs pay one hot account
)

// BlockSize is the number of txs per block: 800 v1 transfers use 29.9M of
// the 30M block gas limit.
const BlockSize = 800

// ErrConfig is returned for invalid parameters.
var ErrConfig = errors.New("bench: invalid configuration")

// Config selects the workload.
type Config struct {
	Txs      int
	Accounts int
	Conflict string
	Workers  int    // Stage B workers (0: GOMAXPROCS)
	Seed     uint64 // generator seed
}

// Result is what `qbind bench execution --json` prints.
type Result struct {
	Txs           int     `json:"txs"`
	Accounts      int     `json:"accounts"`
	Conflict      string  `json:"conflict"`
	Workers       int     `json:"workers"`
	Blocks        int     `json:"blocks"`
	SequentialTPS float64 `json:"sequential_tps"` // Stage B off: execution + digest on one goroutine
	StageBTPS     float64 `json:"stageb_tps"`     // Stage B on with Workers for both
	Speedup       float64 `json:"speedup"`        // stageb_tps / sequential_tps
	ExecSpeedup   float64 `json:"exec_speedup"`   // the same ratio without the digest
	ExecOnlyTPS   float64 `json:"exec_only_tps"`  // sequential execution without the digest
	Levels        float64 `json:"levels"`         // mean conflict-graph levels per block
	Fallbacks     int     `json:"sequential_fallbacks"`
	LtHashXOF     string  `json:"lthash_xof"`
	Equal         bool    `json:"equal"` // final states, digests and every receipt agree
}

type splitmix uint64

func (s *splitmix) next() uint64 {
	*s += 0x9E3779B97F4A7C15
	z := uint64(*s)
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func (s *splitmix) intn(n int) int { return int(s.next() % uint64(n)) }

func accountID(i int) types.AccountID {
	var id types.AccountID
	r := splitmix(uint64(i))
	binary.BigEndian.PutUint64(id[0:8], r.next()) // spread ids over the key space
	binary.BigEndian.PutUint64(id[8:16], uint64(i))
	return id
}

// Workload is a generated genesis state and block sequence.
type Workload struct {
	Env     execution.Env
	Genesis *execution.MemState
	Blocks  []execution.Block
}

// Generate builds the workload of cfg.
func Generate(cfg Config) (*Workload, error) {
	if cfg.Txs < 1 || cfg.Accounts < 2 {
		return nil, fmt.Errorf("%w: need txs ≥ 1 and accounts ≥ 2", ErrConfig)
	}
	var hot int
	var hotShare uint64 // in 1/100
	switch cfg.Conflict {
	case ConflictLow:
	case ConflictMedium:
		hot, hotShare = min(16, cfg.Accounts), 25
	case ConflictHigh:
		hot, hotShare = 1, 90
	default:
		return nil, fmt.Errorf("%w: conflict %q (want low, medium or high)", ErrConfig, cfg.Conflict)
	}
	p, err := types.DefaultExecParams(types.ProfileMainNet)
	if err != nil {
		return nil, err
	}
	key, err := crypto.NewPrivateKeyFromSeed(crypto.SuiteMLDSA44, make([]byte, crypto.SeedSize))
	if err != nil {
		return nil, err
	}
	reward := accountID(-1)
	vs, err := types.NewValidatorSet([]types.Validator{{ConsensusKey: key.Public(), Power: 1, RewardAccount: reward}})
	if err != nil {
		return nil, err
	}
	ids := make([]types.AccountID, cfg.Accounts)
	genesis := make(map[types.AccountID]types.Account, cfg.Accounts)
	for i := range ids {
		ids[i] = accountID(i)
		genesis[ids[i]] = types.Account{Balance: u128.From64(1e18)}
	}
	w := &Workload{Env: execution.Env{Params: p, Validators: vs}, Genesis: execution.NewMemState(genesis)}

	rng := splitmix(cfg.Seed ^ 0x5142494E44)
	nonces := make([]uint64, cfg.Accounts)
	for start := 0; start < cfg.Txs; start += BlockSize {
		n := min(BlockSize, cfg.Txs-start)
		entries := make([]execution.Entry, n)
		for k := range entries {
			s := rng.intn(cfg.Accounts)
			r := rng.intn(cfg.Accounts)
			if hot > 0 && rng.next()%100 < hotShare {
				r = rng.intn(hot)
			}
			if r == s {
				r = (r + 1) % cfg.Accounts
			}
			payload := types.Transfer{Version: types.PayloadV1, Recipient: ids[r],
				Amount: u128.From64(1 + rng.next()%1000), GasLimit: 50_000, MaxFeePerGas: u128.From64(1 + rng.next()%4)}.Encode()
			var id types.TxID
			for j := 0; j < len(id); j += 8 {
				binary.LittleEndian.PutUint64(id[j:], rng.next())
			}
			entries[k] = execution.Entry{
				Tx:     &types.Transaction{Suite: crypto.SuiteMLDSA44, Nonce: nonces[s], Payload: payload},
				Sender: ids[s],
				ID:     id,
			}
			nonces[s]++
		}
		w.Blocks = append(w.Blocks, execution.Block{Height: uint64(len(w.Blocks) + 1), Entries: entries})
	}
	return w, nil
}

// Run generates the workload and measures it with clock now. Four passes
// run over the same blocks, interleaved block by block: sequential with the
// digest, Stage B with the digest, then both without it (those two apply the
// first pass's sealed results between their timed blocks).
func Run(cfg Config, now func() time.Time) (*Result, error) {
	w, err := Generate(cfg)
	if err != nil {
		return nil, err
	}
	res := &Result{Txs: cfg.Txs, Accounts: cfg.Accounts, Conflict: cfg.Conflict, Blocks: len(w.Blocks),
		LtHashXOF: lthash.XOFName, Equal: true}
	var levels, fallbacks int
	sb, err := stageb.New(stageb.Config{Enabled: true, Workers: cfg.Workers}, stageb.Metrics{Block: func(s stageb.Stats) {
		levels += s.Levels
		if s.Sequential {
			fallbacks++
		}
	}})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrConfig, err)
	}
	res.Workers = sb.Config().EffectiveWorkers()
	seq, err := stageb.New(stageb.Config{Enabled: false}, stageb.Metrics{})
	if err != nil {
		return nil, err
	}

	// Passes are interleaved block by block in pairs (sequential, Stage B),
	// so a burst of load from another process hits both alike and the ratios
	// hold.
	type execFn func(*execution.Env, execution.StateView, *execution.Block) (*execution.BlockResult, error)
	passes := []struct {
		run    execFn
		digest bool // false: apply the sequential pass's sealed result instead
		st     *execution.MemState
		res    []*execution.BlockResult
		total  time.Duration
	}{{run: seq.Execute, digest: true}, {run: sb.Execute, digest: true}, {run: execution.Run}, {run: sb.Run}}
	for k := range passes {
		passes[k].st = w.Genesis.Clone()
		passes[k].res = make([]*execution.BlockResult, len(w.Blocks))
	}
	names := []string{"sequential", "stage B", "sequential (no digest)", "stage B (no digest)"}
	// Two rounds: with the digest (passes 0, 1), then without (2, 3), each
	// interleaving its two passes block by block.
	for _, round := range [][]int{{0, 1}, {2, 3}} {
		for i := range w.Blocks {
			for _, k := range round {
				ps := &passes[k]
				t := now()
				r, err := ps.run(&w.Env, ps.st, &w.Blocks[i])
				ps.total += now().Sub(t)
				if err != nil {
					return nil, fmt.Errorf("%s, block %d: %w", names[k], i+1, err)
				}
				ps.res[i] = r
				apply := r
				if !ps.digest {
					apply = passes[0].res[i]
				}
				if err := ps.st.Apply(apply); err != nil {
					return nil, fmt.Errorf("%s, block %d: %w", names[k], i+1, err)
				}
			}
		}
	}
	tps := func(d time.Duration) float64 { return float64(cfg.Txs) / max(d.Seconds(), 1e-9) }
	seqRes, sbRes, seqRun, sbRun := passes[0].res, passes[1].res, passes[2].res, passes[3].res
	seqSt, sbSt := passes[0].st, passes[1].st
	seqT, sbT, seqRunT, sbRunT := passes[0].total, passes[1].total, passes[2].total, passes[3].total
	res.Levels = float64(levels) / float64(2*len(w.Blocks)) // sb ran every block twice
	res.Fallbacks = fallbacks / 2

	for i := range w.Blocks {
		if execution.Diff(seqRes[i], sbRes[i]) != "" {
			res.Equal = false
		}
		if !sameUnsealed(seqRes[i], seqRun[i]) || !sameUnsealed(seqRes[i], sbRun[i]) {
			res.Equal = false
		}
	}
	if seqSt.Digest() != sbSt.Digest() || seqSt.Len() != sbSt.Len() {
		res.Equal = false
	} else {
		for _, id := range seqSt.IDs() {
			a, _ := seqSt.Account(id)
			b, _ := sbSt.Account(id)
			if a != b {
				res.Equal = false
				break
			}
		}
	}
	res.SequentialTPS = tps(seqT)
	res.StageBTPS = tps(sbT)
	res.Speedup = res.StageBTPS / res.SequentialTPS
	res.ExecOnlyTPS = tps(seqRunT)
	res.ExecSpeedup = tps(sbRunT) / res.ExecOnlyTPS
	return res, nil
}

// sameUnsealed compares two results without their digests (a Run result
// against the sealed result of the same block).
func sameUnsealed(a, b *execution.BlockResult) bool {
	ca, cb := *a, *b
	ca.StateHash, ca.StateDigest, ca.ExecDigest = lthash.Hash{}, crypto.Hash{}, crypto.Hash{}
	cb.StateHash, cb.StateDigest, cb.ExecDigest = lthash.Hash{}, crypto.Hash{}, crypto.Hash{}
	return execution.Diff(&ca, &cb) == ""
}
