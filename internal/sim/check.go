package sim

import (
	"fmt"

	"github.com/qbind/qbind/consensus"
	"github.com/qbind/qbind/consensus/safety"
	"github.com/qbind/qbind/types"
)

// observedStore lets the checker see every signature a key releases: the
// safety rules persist each one (S5) before releasing it, including votes
// a leader delivers to itself, which never appear on the network.
type observedStore struct {
	*safety.MemStore
	c  *Checker
	nd *Node
}

func (o observedStore) Save(rec *safety.Record) error {
	if err := o.MemStore.Save(rec); err != nil {
		return err
	}
	if !o.c.honestKey[o.nd.Val] {
		return nil
	}
	k := func(v uint64) [2]uint64 { return [2]uint64{uint64(o.nd.Val), v} }
	if v := rec.Vote; v != nil {
		if prev, ok := o.c.votes[k(v.View)]; ok && prev != v.BlockID {
			o.c.fail("honest key %d signed two votes in view %d (%s, %s)", o.nd.Val, v.View, prev, v.BlockID)
		}
		o.c.votes[k(v.View)] = v.BlockID
	}
	if p := rec.Proposal; p != nil {
		if prev, ok := o.c.props[k(p.View)]; ok && prev != p.BlockID {
			o.c.fail("honest key %d signed two proposals in view %d", o.nd.Val, p.View)
		}
		o.c.props[k(p.View)] = p.BlockID
	}
	if t := rec.Timeout; t != nil {
		if prev, ok := o.c.timeouts[k(t.View)]; ok && prev != t.HighQC.View && !o.c.recovered[o.nd.Val] {
			o.c.fail("honest key %d signed two timeouts in view %d", o.nd.Val, t.View)
		}
		o.c.timeouts[k(t.View)] = t.HighQC.View
	}
	return nil
}

// Checker holds the safety invariants, checked as every action is performed.
type Checker struct {
	s         *Sim
	honestKey []bool
	recovered map[uint16]bool // keys that went through recovery (lost record)
	byHeight  map[uint64]types.BlockID
	votes     map[[2]uint64]types.BlockID
	props     map[[2]uint64]types.BlockID
	timeouts  map[[2]uint64]uint64
	evidence  uint64
	errs      []string
}

func newChecker(s *Sim, honestKey []bool) *Checker {
	return &Checker{s: s, honestKey: honestKey, recovered: map[uint16]bool{},
		byHeight: map[uint64]types.BlockID{}, votes: map[[2]uint64]types.BlockID{},
		props: map[[2]uint64]types.BlockID{}, timeouts: map[[2]uint64]uint64{}}
}

func (c *Checker) fail(format string, args ...any) {
	c.errs = append(c.errs, fmt.Sprintf("t=%dms: ", c.s.now)+fmt.Sprintf(format, args...))
}

// Err returns the first violation.
func (c *Checker) Err() error {
	if len(c.errs) == 0 {
		return nil
	}
	return fmt.Errorf("safety violation: %s", c.errs[0])
}

// Evidence is the number of equivocation reports honest cores raised.
func (c *Checker) Evidence() uint64 { return c.evidence }

// signed records every signature an instance releases; an honest key must
// never sign two different votes or proposals for one view, nor two
// different timeouts unless it went through recovery.
func (c *Checker) signed(nd *Node, msg consensus.Message) {
	if !c.honestKey[nd.Val] {
		return
	}
	switch m := msg.(type) {
	case *types.Proposal:
		if m.Header.Proposer != nd.Val {
			return
		}
		k := [2]uint64{uint64(nd.Val), m.Header.View}
		id := m.Header.ID()
		if prev, ok := c.props[k]; ok && prev != id {
			c.fail("honest key %d signed two proposals in view %d", nd.Val, m.Header.View)
		}
		c.props[k] = id
	case *types.Vote:
		if m.Voter != nd.Val {
			return
		}
		k := [2]uint64{uint64(nd.Val), m.View}
		if prev, ok := c.votes[k]; ok && prev != m.BlockID {
			c.fail("honest key %d signed two votes in view %d (%s, %s)", nd.Val, m.View, prev, m.BlockID)
		}
		c.votes[k] = m.BlockID
	case *types.Timeout:
		if m.Voter != nd.Val {
			return
		}
		k := [2]uint64{uint64(nd.Val), m.View}
		if prev, ok := c.timeouts[k]; ok && prev != m.HighQC.View && !c.recovered[nd.Val] {
			c.fail("honest key %d signed two timeouts in view %d", nd.Val, m.View)
		}
		c.timeouts[k] = m.HighQC.View
	}
}

// commit checks one committed block of an instance: hash-linked to its own
// previous commit (prefix property) and equal to every honest commit at
// that height.
func (c *Checker) commit(nd *Node, p *types.Proposal) {
	h := p.Header.Height
	id := p.Header.ID()
	switch {
	case h < uint64(len(nd.committed)):
		if nd.committed[h] != id {
			c.fail("instance %d re-committed height %d with a different block", nd.Inst, h)
		}
		return
	case h > uint64(len(nd.committed)):
		c.fail("instance %d committed height %d after %d (gap)", nd.Inst, h, len(nd.committed)-1)
		return
	}
	if p.Header.ParentID != nd.committed[h-1] {
		c.fail("instance %d committed height %d whose parent is not its block at height %d (fork of its own chain)", nd.Inst, h, h-1)
	}
	nd.committed = append(nd.committed, id)
	if !nd.Honest {
		return
	}
	if prev, ok := c.byHeight[h]; ok && prev != id {
		c.fail("conflicting commits at height %d: %s and %s (instance %d)", h, prev, id, nd.Inst)
	}
	c.byHeight[h] = id
}

func (c *Checker) maxHonestHeight() uint64 {
	var m uint64
	for _, nd := range c.s.Nodes {
		if nd.Honest && nd.committed != nil {
			m = max(m, nd.CommittedHeight())
		}
	}
	return m
}

// proof checks an honest commit's proof (§8.5): B1 ← B2 ← B3 hash-linked with
// consecutive views, QC(B3) for B3, B1 the last committed block.
func (c *Checker) proof(nd *Node, a consensus.Commit) {
	if !nd.Honest || len(a.Blocks) == 0 {
		return
	}
	h := a.Proof.Headers
	b1, b2, b3 := &h[0], &h[1], &h[2]
	switch {
	case a.Blocks[len(a.Blocks)-1].Header.ID() != b1.ID():
		c.fail("instance %d: commit proof's B1 is not the last committed block", nd.Inst)
	case b2.ParentID != b1.ID() || b3.ParentID != b2.ID():
		c.fail("instance %d: commit proof blocks are not hash-linked", nd.Inst)
	case b2.View != b1.View+1 || b3.View != b2.View+1:
		c.fail("instance %d: commit at height %d without consecutive views (%d, %d, %d)", nd.Inst, b1.Height, b1.View, b2.View, b3.View)
	case a.Proof.QC.BlockID != b3.ID() || a.Proof.QC.View != b3.View:
		c.fail("instance %d: commit proof QC does not certify B3", nd.Inst)
	}
	if c.Err() == nil {
		if err := nd.verifier.VerifySyncInfo(&types.SyncInfo{HighQC: a.Proof.QC}); err != nil {
			c.fail("instance %d: commit proof QC does not verify: %v", nd.Inst, err)
		}
	}
}
