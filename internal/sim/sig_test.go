package sim

import (
	"errors"
	"testing"

	"github.com/qbind/qbind/types"
)

// TestVerifierTimeoutLastTC: both simulator verifiers, like types.Verifier,
// accept a timeout of view v carrying TC(v−1) and refuse one carrying the TC
// of another view (PROTOCOL.md §8.2).
func TestVerifierTimeoutLastTC(t *testing.T) {
	for name, s := range map[string]scheme{"fake": fakeScheme{}, "real": realScheme{}} {
		vs := validatorSet(4)
		gid := types.BlockID{0x9e}
		g := types.GenesisQC(gid)
		sign := func(to *types.Timeout) *types.Timeout {
			sig, err := s.signer(int(to.Voter))(to.SigningBytes(simNetwork))
			if err != nil {
				t.Fatal(err)
			}
			to.Signature = sig
			return to
		}
		var tos []*types.Timeout
		for i := range 3 {
			tos = append(tos, sign(&types.Timeout{View: 3, HighQC: g, Voter: uint16(i)}))
		}
		tc3 := types.NewTC(3, 4, tos)
		v := s.verifier(vs, gid)
		if err := v.VerifyTimeout(sign(&types.Timeout{View: 4, HighQC: g, LastTC: tc3, Voter: 1})); err != nil {
			t.Fatalf("%s: timeout of view 4 carrying TC(3): %v", name, err)
		}
		for _, view := range []uint64{9, 5, 3} {
			err := v.VerifyTimeout(sign(&types.Timeout{View: view, HighQC: g, LastTC: tc3, Voter: 1}))
			if !errors.Is(err, types.ErrTimeoutLastTC) {
				t.Errorf("%s: timeout of view %d carrying TC(3): %v, want ErrTimeoutLastTC", name, view, err)
			}
		}
	}
}
