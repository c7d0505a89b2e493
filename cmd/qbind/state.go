package main

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/state"
)

func newStateCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "state",
		Short: "Offline tools for a node's state database",
		Long: `state groups offline tools that work on a node's data directory (the Pebble
database holding accounts, receipts, exec digests, blocks and QCs; see docs/storage.md).
Stop the node first: the database admits one process at a time.`,
	}
	cmd.AddCommand(newStateVerifyCmd())
	return cmd
}

func newStateVerifyCmd() *cobra.Command {
	var dataDir, network string
	cmd := &cobra.Command{
		Use:   "verify --data-dir DIR",
		Short: "Recompute the state digest over every account and compare it with the stored one",
		Long: `verify opens the data directory read-only, recomputes the LtHash state digest over
the whole account keyspace (PROTOCOL.md §9; in parallel, from a consistent snapshot),
and compares it with the digest stored by the last execution commit. It also checks
that every stored account and metadata record decodes.

Exit status: 0 when the digests match, 2 on a mismatch, 1 on any other error (an
unreadable or corrupt database, a chain-id mismatch with --network).`,
		Example: `  qbind state verify --data-dir /var/lib/qbind/data
  qbind state verify --data-dir ./data --network testnet`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if dataDir == "" {
				return errors.New("--data-dir is required")
			}
			var n crypto.Network
			if network != "" {
				var err error
				if n, err = crypto.ParseNetwork(network); err != nil {
					return err
				}
			}
			if _, err := os.Stat(dataDir); err != nil {
				return err
			}
			s, err := state.Open(state.Options{Dir: dataDir, Network: n, ReadOnly: true, AccountCacheSize: -1})
			if err != nil {
				return err
			}
			defer s.Close()
			rep, err := s.RecomputeDigest(context.Background())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "network:        %s\n", s.Network())
			fmt.Fprintf(out, "height:         %d (last executed)\n", rep.Height)
			fmt.Fprintf(out, "accounts:       %d\n", rep.Accounts)
			fmt.Fprintf(out, "stored digest:  %s\n", rep.Stored)
			fmt.Fprintf(out, "recomputed:     %s\n", rep.Recomputed)
			fmt.Fprintf(out, "duration:       %s\n", rep.Duration)
			if !rep.Match() {
				return &exitError{code: 2, err: fmt.Errorf("%w at height %d", state.ErrDigest, rep.Height)}
			}
			fmt.Fprintln(out, "OK: digests match")
			return nil
		},
	}
	cmd.Flags().StringVar(&dataDir, "data-dir", "", "the node's data directory (required)")
	cmd.Flags().StringVar(&network, "network", "", "expected network (devnet, testnet, mainnet); default: the store's")
	return cmd
}
