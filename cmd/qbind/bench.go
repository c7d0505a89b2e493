package main

import "github.com/spf13/cobra"

// newBenchCmd groups the measurement commands; each subsystem has its own
// subcommand constructor (bench_<subsystem>.go).
func newBenchCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the throughput of a subsystem on this machine",
		Long: `bench runs a subsystem's hot path on synthetic data and prints what it measured.
Numbers on shared VMs swing by ±30 %: compare ratios, and take the median of several runs.`,
	}
	cmd.AddCommand(
		newBenchExecutionCmd(),
		newBenchMempoolCmd(),
		newBenchP2PCmd(),
		newBenchStateCmd(),
	)
	return cmd
}
