package bench

import (
	"context"
	"testing"
)

func TestRunSmall(t *testing.T) {
	r, err := Run(context.Background(), Config{Accounts: 2000, Blocks: 5, TxsPerBlock: 50, Seed: 1, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !r.DigestMatch || r.Accounts != 2000 || r.CommitTPS <= 0 || r.DigestUsPerAccount <= 0 {
		t.Fatalf("%+v", r)
	}
}
