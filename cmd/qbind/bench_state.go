package main

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/spf13/cobra"

	"github.com/qbind/qbind/state/bench"
)

func newBenchStateCmd() *cobra.Command {
	var benchStateFlags struct {
		accounts int
		blocks   int
		txs      int
		seed     uint64
		dir      string
		json     bool
	}

	cmd := &cobra.Command{
		Use:   "state",
		Short: "Measure the state store: execution commits, digest, snapshot and restore",
		Long: `state measures the Pebble state store on synthetic data, on disk (a temporary
directory unless --dir is given), with the production tuning (64 MB memtable, bloom
filters, 256 MB block cache, write-through account cache):

  genesis     --accounts random accounts (not part of the figures)
  commits     --blocks execution commits of --txs-per-block random transfers; each is
              one synced Pebble batch (accounts, receipts, tx index, digests); only
              CommitExecution is timed, building the results is not
  digest      a full recomputation of the LtHash state digest over every account
  snapshot    a synchronous export of the account keyspace + meta.json
  restore     an import of that snapshot into a new data dir, with the digest
              recomputed and compared (digest_match)

--json prints {"accounts","commit_blocks_per_s","commit_tps","digest_us_per_account",
"snapshot_ms","restore_ms","digest_match"}.`,
		Example: `  qbind bench state --accounts 1000000 --blocks 200 --txs-per-block 1000 --json`,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f := benchStateFlags
			if f.seed == 0 {
				f.seed = rand.Uint64()
			}
			r, err := bench.Run(context.Background(), bench.Config{Accounts: f.accounts, Blocks: f.blocks, TxsPerBlock: f.txs, Seed: f.seed, Dir: f.dir})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if f.json {
				return json.NewEncoder(out).Encode(r)
			}
			fmt.Fprintf(out, "seed %d, %d accounts (genesis %.0f ms)\n", f.seed, r.Accounts, r.GenesisMs)
			fmt.Fprintf(out, "commit:   %.1f blocks/s, %.0f tx/s (%d account changes)\n", r.CommitBlocksPerS, r.CommitTPS, r.Changes)
			fmt.Fprintf(out, "digest:   %.2f µs per account\n", r.DigestUsPerAccount)
			fmt.Fprintf(out, "snapshot: %.0f ms\nrestore:  %.0f ms (digest match: %v)\n", r.SnapshotMs, r.RestoreMs, r.DigestMatch)
			if !r.DigestMatch {
				return &exitError{code: 2, err: fmt.Errorf("restored digest differs")}
			}
			return nil
		},
	}
	fl := cmd.Flags()
	fl.IntVar(&benchStateFlags.accounts, "accounts", 100_000, "accounts in the genesis state")
	fl.IntVar(&benchStateFlags.blocks, "blocks", 100, "execution commits to time")
	fl.IntVar(&benchStateFlags.txs, "txs-per-block", 1000, "random transfers per block")
	fl.Uint64Var(&benchStateFlags.seed, "seed", 0, "random seed (0: a random one, printed)")
	fl.StringVar(&benchStateFlags.dir, "dir", "", "directory for the data and snapshots (default: a temporary one, removed)")
	fl.BoolVar(&benchStateFlags.json, "json", false, "print the figures as one JSON object")
	return cmd
}
