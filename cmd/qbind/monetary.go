package main

import (
	"errors"
	"fmt"
	"os"

	"github.com/qbind/qbind/monetary/simulate"
	"github.com/spf13/cobra"
)

// newMonetaryCmd groups the monetary-policy tools.
func newMonetaryCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "monetary",
		Short: "Inspect and simulate the monetary policy",
		Long: `monetary groups the tools around QBIND's monetary policy (PROTOCOL.md §10): three
phases (bootstrap, transition, mature), an EMA of fees that lowers inflation as fees
grow, floors, caps and a per-epoch Δ-limit on the rate, and time + economic gates
between phases.`,
	}
	cmd.AddCommand(newMonetarySimulateCmd())
	return cmd
}

func newMonetarySimulateCmd() *cobra.Command {
	var simFlags struct {
		years   int
		fees    string
		growth  float64
		staked  string
		supply  string
		burnBps uint64
		restake bool
		csv     bool
		json    bool
		plot    string
	}

	cmd := &cobra.Command{
		Use:   "simulate",
		Short: "Run the monetary engine over years of epochs and print the trajectory",
		Long: `simulate runs the node's integer monetary engine (default MainNet policy, active mode)
epoch by epoch — 52,560 ten-minute epochs per year — over a synthetic fee path, and
prints one row per month (4,380 epochs): the phase, r_inf, the issuance of the month,
the fee coverage and the stake ratio. Use it to see a policy before enacting it.

Model:
  fees(e)      = fees-per-epoch × (1 + fee-growth)^(e / 52,560)   (fee-growth is per year)
  burned      += fees(e) × burn-bps / 10,000 each epoch            (MainNet burns 50 %)
  minted      += issuance each epoch; circulating = supply + minted − burned
  staked       constant, or with --restake grows by the validators' share of issuance
Amounts are integers in base units; 3.5e26 is accepted for convenience.

Phase changes: the gates are evaluated after the rate of epoch e is computed; when
they pass, the table's phase changes at e and the new phase's parameters apply from
e + 1. With fees that meet the economic gates early, bootstrap → transition happens
at epoch 157,680 and transition → mature at epoch 367,920 (years 3 and 7).

--plot writes a PNG: background = governing phase (blue bootstrap, amber transition,
green mature), black line = r_inf, red dashes = the cap in force, white grid = every
1 % and every year.`,
		Example: `  # fees that cover the gates early: phases change at years 3 and 7
  qbind monetary simulate --years 10 --fees-per-epoch 3.5e20 --staked 6e26 --supply 1e27

  # the same as CSV, with fees growing 20 % a year, and a chart
  qbind monetary simulate --fees-per-epoch 1e19 --fee-growth 0.2 --staked 6e26 --supply 1e27 --csv --plot r.png`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if simFlags.csv && simFlags.json {
				return errors.New("choose one of --csv and --json")
			}
			cfg := simulate.DefaultConfig()
			cfg.Years, cfg.FeeGrowth, cfg.BurnBps, cfg.Restake = simFlags.years, simFlags.growth, simFlags.burnBps, simFlags.restake
			fees, err := simulate.ParseAmount(simFlags.fees)
			if err != nil {
				return fmt.Errorf("--fees-per-epoch: %w", err)
			}
			cfg.FeesPerEpoch, _ = fees.Big().Float64()
			if cfg.Staked, err = simulate.ParseAmount(simFlags.staked); err != nil {
				return fmt.Errorf("--staked: %w", err)
			}
			if cfg.Supply, err = simulate.ParseAmount(simFlags.supply); err != nil {
				return fmt.Errorf("--supply: %w", err)
			}
			res, err := simulate.Run(cfg, nil)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			switch {
			case simFlags.csv:
				err = simulate.WriteCSV(out, res)
			case simFlags.json:
				err = simulate.WriteJSON(out, res)
			default:
				err = simulate.WriteTable(out, res)
			}
			if err != nil {
				return err
			}
			if simFlags.plot != "" {
				return writePlot(simFlags.plot, res)
			}
			return nil
		},
	}
	f := cmd.Flags()
	f.IntVar(&simFlags.years, "years", 10, "years to simulate (52,560 epochs each), 1..100")
	f.StringVar(&simFlags.fees, "fees-per-epoch", "0", "fees paid in epoch 0, in base units (e.g. 3.5e20)")
	f.Float64Var(&simFlags.growth, "fee-growth", 0, "yearly growth of the fees as a fraction (0.2 = +20 %/year), applied per epoch")
	f.StringVar(&simFlags.staked, "staked", "600000000000000000000000000", "stake at genesis, in base units")
	f.StringVar(&simFlags.supply, "supply", "1000000000000000000000000000", "genesis supply, in base units")
	f.Uint64Var(&simFlags.burnBps, "burn-bps", 5000, "share of fees burned, in bps (MainNet 5000)")
	f.BoolVar(&simFlags.restake, "restake", false, "add the validators' share of issuance to the stake (default: stake constant)")
	f.BoolVar(&simFlags.csv, "csv", false, "print CSV instead of a table")
	f.BoolVar(&simFlags.json, "json", false, "print JSON instead of a table")
	f.StringVar(&simFlags.plot, "plot", "", "also write a PNG chart of r_inf and the phase to this file")
	return cmd
}

func writePlot(path string, res *simulate.Result) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	if err := simulate.WritePNG(f, res, 1200, 480); err != nil {
		f.Close()
		return fmt.Errorf("--plot: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--plot: %w", err)
	}
	return nil
}
