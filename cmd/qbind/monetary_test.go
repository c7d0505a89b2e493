package main

import (
	"bytes"
	"encoding/csv"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

// runQbind executes the root command with args and returns its stdout.
func runQbind(t *testing.T, args ...string) (string, error) {
	t.Helper()
	// Flag values live in package variables and survive Execute: start
	// every run from the defaults.
	monetarySimulateCmd.Flags().VisitAll(func(f *pflag.Flag) {
		if err := f.Value.Set(f.DefValue); err != nil {
			t.Fatal(err)
		}
		f.Changed = false
	})
	var out bytes.Buffer
	rootCmd.SetOut(&out)
	rootCmd.SetErr(&out)
	rootCmd.SetArgs(args)
	t.Cleanup(func() { rootCmd.SetArgs(nil); rootCmd.SetOut(nil); rootCmd.SetErr(nil) })
	err := rootCmd.Execute()
	return out.String(), err
}

func TestMonetarySimulateCSVAndPlot(t *testing.T) {
	plot := filepath.Join(t.TempDir(), "r.png")
	out, err := runQbind(t, "monetary", "simulate", "--years", "1", "--fees-per-epoch", "3.5e20",
		"--staked", "6e26", "--supply", "1e27", "--csv", "--plot", plot)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil || len(rows) != 13 || rows[0][0] != "month" || rows[12][0] != "12" || rows[12][2] != "bootstrap" {
		t.Fatalf("csv (%v):\n%s", err, out)
	}
	f, err := os.Open(plot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := png.Decode(f); err != nil {
		t.Fatalf("plot: %v", err)
	}
}

func TestMonetarySimulateFlagErrors(t *testing.T) {
	for _, args := range [][]string{
		{"monetary", "simulate", "--years", "1", "--csv", "--json"},
		{"monetary", "simulate", "--years", "1", "--staked", "lots"},
		{"monetary", "simulate", "--years", "0"},
		{"monetary", "simulate", "--years", "1", "--fees-per-epoch", "-5"},
	} {
		if _, err := runQbind(t, args...); err == nil {
			t.Fatalf("%v accepted", args)
		}
	}
}
