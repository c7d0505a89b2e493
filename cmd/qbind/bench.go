package main

import "github.com/spf13/cobra"

// benchCmd groups the measurement commands; each subsystem adds its own
// subcommand (bench_<subsystem>.go).
var benchCmd = &cobra.Command{
	Use:   "bench",
	Short: "Measure the throughput of a subsystem on this machine",
	Long: `bench runs a subsystem's hot path on synthetic data and prints what it measured.
Numbers on shared VMs swing by ±30 %: compare ratios, and take the median of several runs.`,
}

func init() { rootCmd.AddCommand(benchCmd) }
