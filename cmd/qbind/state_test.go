package main

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2"
	"github.com/spf13/cobra"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/state"
	"github.com/qbind/qbind/types"
)

// runCmd executes args on a fresh command tree, so no flag value set by one
// run is seen by the next.
func runCmd(t *testing.T, args ...string) (string, error) {
	t.Helper()
	return run(t, newRootCmd(), args...)
}

// TestCommandTreeHasNoSharedState: a flag set on one tree is not seen by
// another; flags bound to package-level variables would be.
func TestCommandTreeHasNoSharedState(t *testing.T) {
	a, b := newRootCmd(), newRootCmd()
	verify := func(root *cobra.Command) *cobra.Command {
		cmd, _, err := root.Find([]string{"state", "verify"})
		if err != nil {
			t.Fatal(err)
		}
		return cmd
	}
	if err := verify(a).ParseFlags([]string{"--network", "mainnet", "--data-dir", "/nonexistent"}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"network", "data-dir"} {
		if f := verify(b).Flags().Lookup(name); f.Changed || f.Value.String() != f.DefValue {
			t.Fatalf("--%s set on one tree leaked into another: %q", name, f.Value)
		}
	}
}

// TestStateVerifyAndSnapshotCommands: snapshot → restore → verify passes;
// an account changed behind the store's back makes verify exit 2.
func TestStateVerifyAndSnapshotCommands(t *testing.T) {
	root := t.TempDir()
	data, snaps := filepath.Join(root, "data"), filepath.Join(root, "snaps")
	s, err := state.Open(state.Options{Dir: data, Network: crypto.TestNet, MemTableBytes: 1 << 20, BlockCacheBytes: 1 << 20,
		Snapshots: state.SnapshotConfig{Dir: snaps, Max: 1}})
	if err != nil {
		t.Fatal(err)
	}
	g := map[types.AccountID]types.Account{{1}: {Nonce: 1}, {2}: {Nonce: 2}, {3}: {Nonce: 3}}
	if _, err := s.InitGenesis(state.Genesis{Accounts: g}); err != nil {
		t.Fatal(err)
	}
	snap, err := s.ExportSnapshot(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	out, err := runCmd(t, "snapshot", "list", snaps)
	if err != nil || !strings.Contains(out, "\n0 ") {
		t.Fatalf("list: %v\n%s", err, out)
	}
	if out, err := runCmd(t, "snapshot", "inspect", "--verify", snap); err != nil || !strings.Contains(out, "match") {
		t.Fatalf("inspect: %v\n%s", err, out)
	}
	restored := filepath.Join(root, "restored")
	r, _, err := state.Restore(t.Context(), snap, state.Options{Dir: restored, Network: crypto.TestNet, MemTableBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	r.Close()
	for _, dir := range []string{data, restored} {
		if out, err := runCmd(t, "state", "verify", "--data-dir", dir); err != nil || !strings.Contains(out, "OK") {
			t.Fatalf("verify %s: %v\n%s", dir, err, out)
		}
	}
	// Tamper with an account directly in Pebble.
	db, err := pebble.Open(restored, &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v := types.Account{Nonce: 9}.Encode()
	db.Set(append([]byte{0x01}, make([]byte, 32)...), v[:], pebble.Sync)
	db.Close()
	_, err = runCmd(t, "state", "verify", "--data-dir", restored)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 2 {
		t.Fatalf("verify after tampering: %v", err)
	}
	if _, err := runCmd(t, "state", "verify", "--data-dir", restored, "--network", "devnet"); err == nil {
		t.Fatal("wrong network accepted")
	}
}
