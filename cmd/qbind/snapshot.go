package main

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/state"
)

func newSnapshotCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "snapshot",
		Short: "List and inspect state snapshots",
		Long: `snapshot works on the state snapshots a node exports every snapshot interval into
<snapshot_dir>/<height>/ (PROTOCOL.md §9): meta.json, state.bin (the same metadata,
binary, covered by the file hashes) and accounts.bin (the account keyspace as
sorted 56-byte records). A snapshot holds no blocks, consensus or safety data.`,
	}
	cmd.AddCommand(newSnapshotListCmd(), newSnapshotInspectCmd())
	return cmd
}

func newSnapshotListCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "list SNAPSHOT_DIR",
		Short: "List the snapshots of a snapshot directory, newest first",
		Long: `list reads every <height>/meta.json of SNAPSHOT_DIR and prints height, creation time,
account count, state digest and exec digest. File hashes are not checked: use
'qbind snapshot inspect' for that.`,
		Example: `  qbind snapshot list /var/lib/qbind/snapshots`,
		Args:    cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			list, err := state.ListSnapshots(args[0])
			if err != nil {
				return err
			}
			tw := tabwriter.NewWriter(cmd.OutOrStdout(), 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "HEIGHT\tCREATED\tACCOUNTS\tSTATE_DIGEST\tEXEC_DIGEST")
			for _, s := range list {
				if s.Err != nil {
					fmt.Fprintf(tw, "%d\tINVALID: %v\t\t\t\n", s.Height, s.Err)
					continue
				}
				created := time.UnixMilli(int64(s.Meta.CreatedAtUnixMs)).UTC().Format(time.RFC3339)
				fmt.Fprintf(tw, "%d\t%s\t%d\t%s\t%s\n", s.Height, created, s.Meta.Accounts, s.Meta.StateDigest, s.Meta.ExecDigest)
			}
			return tw.Flush()
		},
	}
}

func newSnapshotInspectCmd() *cobra.Command {
	var snapshotInspectFlags struct {
		verify bool
		json   bool
	}

	cmd := &cobra.Command{
		Use:   "inspect SNAPSHOT_DIR/HEIGHT",
		Short: "Check a snapshot's files and print its metadata",
		Long: `inspect checks one snapshot without importing it: meta.json is strict and canonical,
the directory holds exactly the listed files, every file's SHA3-256 matches
meta.json, state.bin agrees with meta.json, the exec digest follows from height,
state digest, receipts root, total burned and monetary state, and accounts.bin has
the announced size. With --verify it also restores the snapshot into memory and
recomputes the state digest over every account.

This proves integrity, not authenticity: a node confirms a restored snapshot by
replaying committed blocks to an exec digest certified by a QC.`,
		Example: `  qbind snapshot inspect /var/lib/qbind/snapshots/120000
  qbind snapshot inspect --verify --json ./snapshots/400`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := filepath.Clean(args[0])
			meta, st, err := state.InspectSnapshot(dir)
			if err != nil {
				return err
			}
			verified := ""
			if snapshotInspectFlags.verify {
				n, err := crypto.NetworkByChainID(st.ChainID)
				if err != nil {
					return err
				}
				s, rep, err := state.Restore(context.Background(), dir, state.Options{InMemory: true, Network: n, MemTableBytes: 16 << 20})
				if err != nil {
					return err
				}
				s.Close()
				verified = fmt.Sprintf("digest recomputed over %d accounts in %s: match", rep.Accounts, rep.Duration.Round(time.Millisecond))
			}
			out := cmd.OutOrStdout()
			if snapshotInspectFlags.json {
				enc := json.NewEncoder(out)
				enc.SetIndent("", "  ")
				return enc.Encode(struct {
					*state.SnapshotMeta
					Verified string `json:"verified,omitempty"`
				}{meta, verified})
			}
			fmt.Fprintf(out, "snapshot:       %s\n", dir)
			fmt.Fprintf(out, "format:         %s\n", meta.Format)
			fmt.Fprintf(out, "chain id:       %s\n", meta.ChainID)
			fmt.Fprintf(out, "height:         %d\n", meta.Height)
			fmt.Fprintf(out, "block id:       %s\n", meta.BlockID)
			fmt.Fprintf(out, "state digest:   %s\n", meta.StateDigest)
			fmt.Fprintf(out, "exec digest:    %s\n", meta.ExecDigest)
			fmt.Fprintf(out, "receipts root:  %s\n", meta.ReceiptsRoot)
			fmt.Fprintf(out, "total burned:   %s\n", meta.TotalBurned)
			fmt.Fprintf(out, "monetary state: %s\n", meta.MonetaryState)
			fmt.Fprintf(out, "accounts:       %d\n", meta.Accounts)
			fmt.Fprintf(out, "created:        %s\n", time.UnixMilli(int64(meta.CreatedAtUnixMs)).UTC().Format(time.RFC3339Nano))
			for name, h := range meta.Files {
				fmt.Fprintf(out, "file:           %s sha3-256 %s (ok)\n", name, h)
			}
			if verified != "" {
				fmt.Fprintf(out, "verified:       %s\n", verified)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&snapshotInspectFlags.verify, "verify", false, "also restore into memory and recompute the state digest")
	cmd.Flags().BoolVar(&snapshotInspectFlags.json, "json", false, "print meta.json's fields as JSON")
	return cmd
}
