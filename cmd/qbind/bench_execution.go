package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/qbind/qbind/execution/bench"
)

func newBenchExecutionCmd() *cobra.Command {
	var benchExecution struct {
		txs, accounts, workers int
		conflict               string
		seed                   uint64
		json                   bool
	}

	cmd := &cobra.Command{
		Use:   "execution",
		Short: "Measure VM v0 execution, Stage B and the state digest on synthetic transfer blocks",
		Long: `execution runs --txs v1 transfers between --accounts accounts, cut into blocks of 800 txs
(29.9M of the 30M block gas limit), four times over the same blocks:

  sequential_tps  Stage B off: execution and the LtHash digest update on one goroutine
  stageb_tps      Stage B on with --workers workers for both execution and the digest
  speedup         stageb_tps / sequential_tps
  exec_only_tps   sequential execution without the digest
  exec_speedup    the same ratio as speedup for execution alone (informational: it may be
                  below 1 for plain transfers on 2 cores, the digest dominates the cost)
  levels          mean number of conflict-graph levels per block
  equal           Stage B and sequential agree on every receipt, the final state and the digests

Conflict levels: low = sender and recipient uniform over all accounts; medium = a quarter
of the txs pay one of 16 hot accounts; high = 90 % of the txs pay one hot account
(chain-shaped graphs run sequentially, only the digest update is parallel).

Signatures are pre-verified and excluded: execution never verifies them, so the blocks
are built from decoded entries with synthetic senders. Numbers on shared VMs swing by
±30 %: take the median of several runs.`,
		Example: `  qbind bench execution --txs 100000 --accounts 100000 --conflict low --json
  qbind bench execution --txs 100000 --accounts 100000 --conflict high --workers 2`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			o := &benchExecution
			res, err := bench.Run(bench.Config{Txs: o.txs, Accounts: o.accounts, Conflict: o.conflict,
				Workers: o.workers, Seed: o.seed}, time.Now)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if o.json {
				b, err := json.Marshal(res)
				if err != nil {
					return err
				}
				_, err = fmt.Fprintln(out, string(b))
				return err
			}
			fmt.Fprintf(out, "txs %d, accounts %d, conflict %s, workers %d, %d blocks, lthash XOF %s\n",
				res.Txs, res.Accounts, res.Conflict, res.Workers, res.Blocks, res.LtHashXOF)
			fmt.Fprintf(out, "sequential (exec + digest)  %10.0f tx/s\n", res.SequentialTPS)
			fmt.Fprintf(out, "stage B    (exec + digest)  %10.0f tx/s   speedup %.2f\n", res.StageBTPS, res.Speedup)
			fmt.Fprintf(out, "sequential (exec only)      %10.0f tx/s   exec speedup %.2f\n", res.ExecOnlyTPS, res.ExecSpeedup)
			fmt.Fprintf(out, "levels per block %.1f (sequential fallbacks %d), equal %v\n", res.Levels, res.Fallbacks, res.Equal)
			if !res.Equal {
				return fmt.Errorf("stage B and sequential execution disagree")
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&benchExecution.txs, "txs", 100_000, "number of transfers (blocks of 800)")
	f.IntVar(&benchExecution.accounts, "accounts", 100_000, "number of funded accounts")
	f.StringVar(&benchExecution.conflict, "conflict", bench.ConflictLow, "conflict level: low, medium or high")
	f.IntVar(&benchExecution.workers, "workers", 0, "Stage B workers (0 = GOMAXPROCS)")
	f.Uint64Var(&benchExecution.seed, "seed", 1, "workload generator seed")
	f.BoolVar(&benchExecution.json, "json", false, "print one JSON object")
	return cmd
}
