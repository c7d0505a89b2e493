package sim

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/qbind/qbind/consensus"
	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/types"
)

// App is the node-level hook where the DAG layer plugs into the simulator:
// it is initialised once per run (it may schedule events with Sim.At, e.g.
// certificate arrivals followed by Sim.PayloadAvailable) and gives each
// instance its payload source, payload validator (V7) and executor (whose
// digests become Executed events).
type App interface {
	Init(s *Sim)
	Node(s *Sim, nd *Node) NodeApp
}

// NodeApp is one instance's hooks.
type NodeApp interface {
	consensus.PayloadSource
	consensus.PayloadValidator
	// Execute executes a committed block and returns its exec digest.
	Execute(p *types.Proposal) crypto.Hash
}

// PayloadAvailable delivers a PayloadAvailable event to every live instance.
func (s *Sim) PayloadAvailable() {
	for _, nd := range s.Nodes {
		if nd.Up {
			s.tickIfMoved(nd)
			s.step(nd, consensus.PayloadAvailable{})
		}
	}
}

// SimpleApp is a stand-in DAG: certificates arrive in a shared pool at random
// times (mean IntervalMs); a leader takes up to 4 of them; V7 checks the
// batch commitment, duplicates within the payload and against the
// uncommitted ancestry. Exec digest = H(height ‖ block id).
type SimpleApp struct {
	IntervalMs uint64 // mean time between certificates (default 150; 0 values → default)
	pool       []*types.BatchCertificate
	seq        uint64
}

// Init implements App.
func (a *SimpleApp) Init(s *Sim) {
	if a.IntervalMs == 0 {
		a.IntervalMs = 150
	}
	var next func(*Sim)
	next = func(s *Sim) {
		a.seq++
		creator := uint16(s.rng.IntN(s.cfg.N))
		c := &types.BatchCertificate{Header: types.BatchHeader{Creator: creator, Seq: a.seq, ExpiryHeight: 1 << 40, TxCount: 1}}
		a.pool = append(a.pool, c)
		s.PayloadAvailable()
		s.At(s.now+1+s.rng.Uint64N(2*a.IntervalMs), next)
	}
	s.At(1+s.rng.Uint64N(2*a.IntervalMs), next)
}

// Node implements App.
func (a *SimpleApp) Node(*Sim, *Node) NodeApp { return simpleNode{a} }

type simpleNode struct{ a *SimpleApp }

func (n simpleNode) Ready() bool { return len(n.a.pool) > 0 }

func (n simpleNode) Build(_ *types.BlockHeader, _, _ uint64) []*types.BatchCertificate {
	k := min(4, len(n.a.pool))
	out := n.a.pool[:k:k]
	n.a.pool = n.a.pool[k:]
	return out
}

var errSimPayload = errors.New("sim payload invalid")

func (n simpleNode) ValidatePayload(p *types.Proposal, parent *types.Proposal, anc consensus.Ancestry) error {
	ids := p.BatchIDs(simNetwork)
	if types.BatchCommitment(simNetwork, ids) != p.Header.BatchCommitment {
		return fmt.Errorf("%w: commitment", errSimPayload)
	}
	seen := map[types.BatchID]bool{}
	for _, id := range ids {
		if seen[id] {
			return fmt.Errorf("%w: duplicate batch", errSimPayload)
		}
		seen[id] = true
	}
	for x := parent; x != nil && x.Header.Height > anc.CommittedHeight(); x = anc.Block(x.Header.ParentID) {
		for _, id := range x.BatchIDs(simNetwork) {
			if seen[id] {
				return fmt.Errorf("%w: batch repeated in the ancestry", errSimPayload)
			}
		}
	}
	return nil
}

func (simpleNode) Execute(p *types.Proposal) crypto.Hash {
	var h [8]byte
	binary.LittleEndian.PutUint64(h[:], p.Header.Height)
	id := p.Header.ID()
	return crypto.Sum([]byte("sim-exec"), h[:], id[:])
}
