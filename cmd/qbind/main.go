// Command qbind is the QBIND operator and developer tool: key management,
// transaction signing and decoding, benchmarks and offline inspection.
//
// Each subcommand lives in its own file and is built by a constructor
// (new<Name>Cmd) whose flags live in the constructor's closure, so every
// newRootCmd call returns an independent command tree: nothing is shared
// between two trees or two Executes. This file holds the root and main.
package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// newRootCmd builds the whole qbind command tree.
func newRootCmd() *cobra.Command {
	root := &cobra.Command{
		Use:   "qbind",
		Short: "QBIND-Go: post-quantum BFT validator tooling",
		Long: `qbind is the command-line tool of QBIND-Go, a post-quantum BFT Layer-1 node
(ML-DSA-44 signatures, ML-KEM-768 transport, chained HotStuff over a DAG mempool).

Run 'qbind <command> --help' for the details of each command.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newKeysCmd(),
		newTxCmd(),
		newSimCmd(),
		newMonetaryCmd(),
		newSnapshotCmd(),
		newStateCmd(),
		newBenchCmd(),
	)
	return root
}

// exitError carries a specific exit code through cobra's error return.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func main() {
	if err := newRootCmd().Execute(); err != nil {
		fmt.Fprintf(os.Stderr, "qbind: %v\n", err)
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		os.Exit(1)
	}
}
