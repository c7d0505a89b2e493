package main

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/qbind/qbind/internal/sim"
)

// simResult is the JSON form of a `qbind sim` run.
type simResult struct {
	Config           string         `json:"config"`
	SimulatedMs      uint64         `json:"simulated_ms"`
	WallMs           float64        `json:"wall_ms"`
	Events           uint64         `json:"events"`
	Messages         uint64         `json:"messages"`
	Certificates     int            `json:"certificates"`
	CommitLatencyMs  float64        `json:"commit_latency_ms"`
	HeightAtHeal     uint64         `json:"height_at_heal,omitempty"`
	Nodes            []simNodeState `json:"nodes"`
	InvariantsPassed bool           `json:"invariants_passed"`
	LivenessChecked  bool           `json:"liveness_checked"`
	Error            string         `json:"error,omitempty"`
}

type simNodeState struct {
	Validator       int    `json:"validator"`
	Up              bool   `json:"up"`
	CommittedHeight uint64 `json:"committed_height"`
	View            uint64 `json:"view"`
	ExecutedTxs     int    `json:"executed_txs"`
}

// parsePartition reads "0,1|2,3" into groups of validator indices.
func parsePartition(s string, n int) ([][]int, error) {
	var groups [][]int
	for _, part := range strings.Split(s, "|") {
		var g []int
		for _, f := range strings.Split(part, ",") {
			v, err := strconv.Atoi(strings.TrimSpace(f))
			if err != nil || v < 0 || v >= n {
				return nil, fmt.Errorf("--partition %q: %q is not a validator index in [0, %d)", s, f, n)
			}
			g = append(g, v)
		}
		groups = append(groups, g)
	}
	if len(groups) < 2 {
		return nil, fmt.Errorf("--partition %q: want at least two groups separated by '|'", s)
	}
	return groups, nil
}

func newSimCmd() *cobra.Command {
	var (
		n, seconds           int
		seed                 uint64
		realCrypto, jsonOut  bool
		crashed              []int
		partition            string
		partitionAt, healAt  uint64
		drop                 float64
		baseMs, capMs, blkMs uint64
		sendersPerCreator    int
		livenessNote         string
	)
	cmd := &cobra.Command{
		Use:   "sim",
		Short: "Run a local network of validators in one process on a simulated network",
		Long: `sim runs N validators in one process: the real consensus (chained HotStuff,
safety rules, pacemaker), DAG availability (batches, acks, certificates,
fetch-on-miss, payload selection and V7) and fee-priority mempool cores,
connected by a deterministic simulated network (virtual clock, per-link delays
of 2–20 ms plus jitter, optional loss, crashes and partitions). Client
accounts submit signed transfers to every validator's pool.

After every event it checks the safety invariants (no conflicting commits,
committed chains are prefixes, no honest key signs twice, every committed tx
comes from a certified batch, certified batches stay retrievable) and, when a
partition heals, liveness. The same seed always replays the same run.

Execution is a stand-in here (the exec digest is a function of the block): the
VM, Stage B and the state store are exercised by 'qbind bench execution' and
'qbind bench state' until the node ties them together ('qbind devnet').`,
		Example: `  qbind sim                                   # 4 validators, 10 simulated seconds
  qbind sim --validators 7 --crash 0,3 --seconds 20
  qbind sim --partition '0,1|2,3' --partition-at 2000 --heal-at 6000 --seconds 15
  qbind sim --real-crypto --json                  # ML-DSA-44 signatures and wire round trips`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if n < 1 || n > 32 {
				return fmt.Errorf("--validators %d: want 1..32", n)
			}
			if seconds < 1 || seconds > 3600 {
				return fmt.Errorf("--seconds %d: want 1..3600", seconds)
			}
			app := sim.NewDAGApp()
			app.SendersPerCreator = sendersPerCreator
			cfg := sim.Config{
				Seed: seed, N: n, RealCrypto: realCrypto, DurationMs: uint64(seconds) * 1000, DropRate: drop,
				BaseTimeoutMs: baseMs, MaxTimeoutMs: capMs, MaxBlockIntervalMs: blkMs, Crashed: crashed, App: app,
				Name: "qbind sim",
			}
			if partition != "" {
				groups, err := parsePartition(partition, n)
				if err != nil {
					return err
				}
				if healAt <= partitionAt || healAt >= cfg.DurationMs {
					return fmt.Errorf("--heal-at %d must be after --partition-at %d and before the end (%d ms)", healAt, partitionAt, cfg.DurationMs)
				}
				cfg.Script = []sim.Step{
					{At: partitionAt, Do: func(s *sim.Sim) { s.Partition(groups...) }},
					{At: healAt, Do: func(s *sim.Sim) { s.Heal() }},
				}
				// §8.5's liveness window: the run must last ≥ 10·base + 2·cap
				// after the heal for "height grew by ≥ 5" to be owed.
				cfg.LastHealMs = healAt
				window := 10*baseMs + 2*capMs
				if cfg.DurationMs-healAt >= window {
					cfg.Liveness = true
				} else {
					livenessNote = fmt.Sprintf("liveness after heal not checked: needs ≥ %d ms after --heal-at (10·base + 2·cap), the run has %d", window, cfg.DurationMs-healAt)
				}
			}
			s, err := sim.New(cfg)
			if err != nil {
				return err
			}
			start := time.Now()
			runErr := s.Run()
			if runErr == nil {
				app.CheckRetrievable()
				runErr = app.Err()
			}
			res := simResult{
				Config: cfg.Describe(), SimulatedMs: cfg.DurationMs, WallMs: float64(time.Since(start).Microseconds()) / 1000,
				Events: s.Stats.Events, Messages: s.Stats.Messages, Certificates: app.Certificates(),
				HeightAtHeal: s.Stats.HeightAtHeal, InvariantsPassed: runErr == nil, LivenessChecked: cfg.Liveness,
			}
			if s.Stats.CommitLatencyN > 0 {
				res.CommitLatencyMs = float64(s.Stats.CommitLatencySum) / float64(s.Stats.CommitLatencyN)
			}
			for _, nd := range s.Nodes {
				st := simNodeState{Validator: int(nd.Val), Up: nd.Up, CommittedHeight: nd.CommittedHeight(), ExecutedTxs: app.ExecutedTxs(nd.Inst)}
				if nd.Core != nil {
					st.View = nd.Core.View()
				}
				res.Nodes = append(res.Nodes, st)
			}
			if runErr != nil {
				res.Error = runErr.Error()
			}
			out := cmd.OutOrStdout()
			if jsonOut {
				if err := json.NewEncoder(out).Encode(res); err != nil {
					return err
				}
			} else {
				fmt.Fprintf(out, "%s\n%d simulated ms in %.0f ms: %d events, %d messages, %d certified batches, commit latency %.1f ms\n",
					res.Config, res.SimulatedMs, res.WallMs, res.Events, res.Messages, res.Certificates, res.CommitLatencyMs)
				fmt.Fprintf(out, "%-10s %-5s %-9s %-6s %s\n", "validator", "up", "committed", "view", "executed txs")
				for _, st := range res.Nodes {
					fmt.Fprintf(out, "%-10d %-5v %-9d %-6d %d\n", st.Validator, st.Up, st.CommittedHeight, st.View, st.ExecutedTxs)
				}
				if runErr == nil {
					fmt.Fprintln(out, "invariants: safety, commit proofs, certified payloads, retrievability"+map[bool]string{true: ", liveness after heal", false: ""}[cfg.Liveness]+": OK")
				}
				if livenessNote != "" {
					fmt.Fprintln(out, livenessNote)
				}
			}
			if runErr != nil {
				return fmt.Errorf("invariant violated (replay with --seed %d): %w", seed, runErr)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&n, "validators", 4, "number of validators (1..32)")
	f.IntVar(&seconds, "seconds", 10, "simulated seconds to run")
	f.Uint64Var(&seed, "seed", 1, "seed of the simulated network (same seed, same run)")
	f.BoolVar(&realCrypto, "real-crypto", false, "real ML-DSA-44 signatures and wire encode/decode (slower) instead of a stand-in signature")
	f.IntSliceVar(&crashed, "crash", nil, "validators that are down for the whole run (e.g. 3 or 0,3)")
	f.StringVar(&partition, "partition", "", "split the network, e.g. '0,1|2,3' (needs --partition-at and --heal-at)")
	f.Uint64Var(&partitionAt, "partition-at", 1000, "simulated ms at which --partition starts")
	f.Uint64Var(&healAt, "heal-at", 5000, "simulated ms at which the partition heals")
	f.Float64Var(&drop, "drop", 0, "probability that a message is lost (0..1)")
	f.Uint64Var(&baseMs, "base-timeout-ms", 1000, "base view timeout (PROTOCOL.md §8.5 default 1 s)")
	f.Uint64Var(&capMs, "max-timeout-ms", 30000, "view timeout cap (default 30 s)")
	f.Uint64Var(&blkMs, "max-block-interval-ms", 500, "how long an idle leader waits before proposing an empty block")
	f.IntVar(&sendersPerCreator, "senders", 6, "client accounts submitting transfers to each validator")
	f.BoolVar(&jsonOut, "json", false, "print the result as JSON")
	return cmd
}
