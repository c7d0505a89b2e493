package main

import (
	"encoding/csv"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// runQbind executes args on a fresh command tree and returns its stdout.
func runQbind(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(t, newRootCmd(), args...)
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
