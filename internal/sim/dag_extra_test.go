package sim

import "testing"

// TestDAGRealCryptoWire runs the DAG in the loop with the simulator's real
// ML-DSA consensus signatures and a wire encode/decode round trip of every
// consensus message (so payload certificates cross the codec).
func TestDAGRealCryptoWire(t *testing.T) {
	app := NewDAGApp()
	s := runDAG(t, Config{Seed: 21, N: 4, DurationMs: 3000, RealCrypto: true}, app)
	checkExecutedAgree(t, s, app)
	if minHonestHeight(s) < 10 {
		t.Errorf("committed height %d", minHonestHeight(s))
	}
}

// TestDAGTwins: validator 2 runs as two instances sharing one key (each
// with its own signer record): the twins may ack one batch twice or build
// conflicting batches, but honest invariants (one certificate per
// (creator, seq) from honest creators, no double commit or execution,
// retrievability) hold.
func TestDAGTwins(t *testing.T) {
	app := NewDAGApp()
	s := runDAG(t, Config{Seed: 17, N: 4, DurationMs: 6000, Twins: []int{2}}, app)
	checkExecutedAgree(t, s, app)
	if minHonestHeight(s) < 10 {
		t.Errorf("committed height %d", minHonestHeight(s))
	}
}
