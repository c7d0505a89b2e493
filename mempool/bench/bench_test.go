package bench

import (
	"testing"
	"time"
)

func TestRunSmall(t *testing.T) {
	r, err := Run(64, 4, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	if r.Txs != 64 || r.AdmittedPerS <= 0 || r.VerifyPerSRaw <= 0 || r.Ratio <= 0 {
		t.Fatalf("%+v", r)
	}
}
