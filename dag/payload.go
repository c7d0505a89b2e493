package dag

import (
	"fmt"
	"maps"
	"slices"

	"github.com/qbind/qbind/types"
)

// Ancestry gives read access to a block's uncommitted ancestry
// (consensus.Ancestry and *consensus.Core satisfy it).
type Ancestry interface {
	Block(id types.BlockID) *types.Proposal
	CommittedHeight() uint64
}

// inAncestry collects the batch ids of the uncommitted blocks from parent
// down (stopping at this core's committed height, whose batches the
// committed index covers).
func (c *Core) uncommittedIDs(parentID types.BlockID, anc Ancestry) map[types.BatchID]bool {
	out := map[types.BatchID]bool{}
	if anc == nil {
		return out
	}
	for x := anc.Block(parentID); x != nil && x.Header.Height > c.committed; x = anc.Block(x.Header.ParentID) {
		for _, cert := range x.Payload {
			out[cert.BatchID(c.net())] = true
		}
		if x.Header.Height == 0 {
			break
		}
	}
	return out
}

// eligible reports whether a certificate may go into a block of height h.
func (c *Core) eligible(e *certEntry, h uint64) bool {
	if e.committedAt != 0 || e.c.Header.ExpiryHeight <= h {
		return false
	}
	if _, ok := c.commIdx[e.id]; ok {
		return false
	}
	return e.quorum || c.cfg.Coupling == CouplingOff
}

// Ready reports whether at least one certificate is eligible for the next
// height (ignoring the uncommitted ancestry, which only Build sees).
func (c *Core) Ready() bool {
	for _, e := range c.certs {
		if c.eligible(e, c.committed+1) {
			return true
		}
	}
	return false
}

// BuildPayload is the leader's selection (§7) for a block of height
// extending parentID in view: eligible certificates (certified, unexpired,
// not committed, not in the uncommitted ancestry), round-robin over creators
// from leader(view)+1, each creator's in seq order, skipping any whose
// gas_sum exceeds the remaining BLOCK_GAS_LIMIT, at most 4n certificates and
// MAX_PAYLOAD_BYTES encoded. It returns the payload and its batch_commitment.
func (c *Core) BuildPayload(parentID types.BlockID, height, view uint64, anc Ancestry) ([]*types.BatchCertificate, [32]byte) {
	inAnc := c.uncommittedIDs(parentID, anc)
	n := c.n()
	byCreator := make([][]*certEntry, n)
	for _, id := range sortedIDs(c.certs) {
		e := c.certs[id]
		if c.eligible(e, height) && !inAnc[id] {
			byCreator[e.c.Header.Creator] = append(byCreator[e.c.Header.Creator], e)
		}
	}
	for _, l := range byCreator {
		slices.SortFunc(l, func(a, b *certEntry) int {
			switch {
			case a.c.Header.Seq < b.c.Header.Seq:
				return -1
			case a.c.Header.Seq > b.c.Header.Seq:
				return 1
			}
			return compare(a.id[:], b.id[:])
		})
	}
	p := &c.cfg.Params
	remainingGas := p.BlockGasLimit
	bytes := 4
	var out []*types.BatchCertificate
	var ids []types.BatchID
	start := (int(c.cfg.Validators.Leader(view)) + 1) % n
	for progress := true; progress && len(out) < 4*n; {
		progress = false
		for k := 0; k < n && len(out) < 4*n; k++ {
			cr := (start + k) % n
			for len(byCreator[cr]) > 0 {
				e := byCreator[cr][0]
				byCreator[cr] = byCreator[cr][1:]
				progress = true
				if p.GasEnabled && e.c.Header.GasSum > remainingGas {
					continue // skip it; try the creator's next
				}
				if bytes+e.c.EncodedSize() > int(p.MaxPayloadBytes) {
					continue
				}
				if p.GasEnabled {
					remainingGas -= e.c.Header.GasSum
				}
				bytes += e.c.EncodedSize()
				out = append(out, e.c)
				ids = append(ids, e.id)
				break
			}
		}
	}
	return out, types.BatchCommitment(c.net(), ids)
}

// ValidatePayload is V7 (§7) for proposal p whose parent is in store. In
// enforce mode an invalid payload returns ErrPayloadInvalid (no vote); in
// warn mode it is counted and accepted; in warn and off the voter must hold
// every body first: missing bodies are fetched (TakeActions) and
// ErrNeedBodies is returned — call again when they arrived. A missing body
// is fetched only if its certificate verifies (quorum; creator-only in off)
// and its expiry is in the fetch window; otherwise ErrUnavailable (no vote:
// the body can never be held), and no fetch is started for the payload.
func (c *Core) ValidatePayload(p *types.Proposal, parentID types.BlockID, anc Ancestry) error {
	err := c.checkPayload(p, parentID, anc)
	if err != nil {
		if c.cfg.Coupling == CouplingEnforce {
			c.Metrics.CouplingValidation["invalid"]++
			return err
		}
		c.Metrics.CouplingValidation["invalid_warn"]++
	}
	if c.cfg.Coupling != CouplingEnforce {
		missing := 0
		var fetch []*types.BatchCertificate
		for _, cert := range p.Payload {
			id := cert.BatchID(c.net())
			if b := c.bodies[id]; b != nil && b.stored {
				continue
			}
			missing++
			if c.bodies[id] != nil || c.fetches[id] != nil {
				continue // being stored or fetched
			}
			if uerr := c.fetchable(cert); uerr != nil {
				c.Metrics.CouplingValidation["unavailable"]++
				return fmt.Errorf("%w: batch %s: %w", ErrUnavailable, id, uerr)
			}
			fetch = append(fetch, cert)
		}
		for _, cert := range fetch {
			if !c.startFetch(cert.Header, cert.Signers, false) {
				c.Metrics.CouplingValidation["unavailable"]++
				return fmt.Errorf("%w: batch %s: fetch refused", ErrUnavailable, cert.BatchID(c.net()))
			}
		}
		if missing > 0 {
			c.armTimer()
			c.Metrics.CouplingValidation["need_bodies"]++
			return fmt.Errorf("%w: %d of %d", ErrNeedBodies, missing, len(p.Payload))
		}
	}
	if err == nil {
		c.Metrics.CouplingValidation["valid"]++
	}
	return nil
}

// fetchable reports why the body of a payload certificate may not be
// fetched (nil if it may): the header must be valid, the expiry in the fetch
// window and the certificate must verify — the fetch targets come from its
// signer bitmap, and its expiry decides how long the fetch lives.
func (c *Core) fetchable(cert *types.BatchCertificate) error {
	if !c.validHeader(&cert.Header) {
		return ErrBadCertificate
	}
	if !c.inFetchWindow(&cert.Header) {
		return fmt.Errorf("%w: expiry %d, committed %d", ErrExpiry, cert.Header.ExpiryHeight, c.committed)
	}
	_, err := c.verifyCert(cert)
	return err
}

func (c *Core) checkPayload(p *types.Proposal, parentID types.BlockID, anc Ancestry) error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrPayloadInvalid}, a...)...)
	}
	par := &c.cfg.Params
	if len(p.Payload) > 4*c.n() {
		return bad("%d certificates > 4n", len(p.Payload))
	}
	ids := make([]types.BatchID, len(p.Payload))
	bytes := 4
	var gas uint64
	seen := map[types.BatchID]bool{}
	for i, cert := range p.Payload {
		ids[i] = cert.BatchID(c.net())
		if seen[ids[i]] {
			return bad("batch %s repeats", ids[i])
		}
		seen[ids[i]] = true
		bytes += cert.EncodedSize()
		gas += cert.Header.GasSum
		if cert.Header.ExpiryHeight <= p.Header.Height {
			return bad("batch %s expired (expiry %d ≤ height %d)", ids[i], cert.Header.ExpiryHeight, p.Header.Height)
		}
	}
	if bytes > int(par.MaxPayloadBytes) {
		return bad("%d bytes > MAX_PAYLOAD_BYTES", bytes)
	}
	if par.GasEnabled && gas > par.BlockGasLimit {
		return bad("Σ gas_sum %d > BLOCK_GAS_LIMIT", gas)
	}
	if types.BatchCommitment(c.net(), ids) != p.Header.BatchCommitment {
		return bad("batch_commitment mismatch")
	}
	inAnc := c.uncommittedIDs(parentID, anc)
	for _, id := range ids {
		if _, ok := c.commIdx[id]; ok || inAnc[id] {
			return bad("batch %s already in the ancestry", id)
		}
	}
	for _, cert := range p.Payload {
		if _, err := c.verifyCert(cert); err != nil {
			return bad("%v", err)
		}
	}
	return nil
}

// BlockTxs is the canonical tx list input of a committed block: the txs of
// its batches in payload order. missing lists batches whose body this node
// does not hold (fetch-on-miss is under way; execution must wait).
func (c *Core) BlockTxs(p *types.Proposal) (txs [][]byte, missing []types.BatchID) {
	for _, cert := range p.Payload {
		id := cert.BatchID(c.net())
		b := c.bodies[id]
		if b == nil {
			missing = append(missing, id)
			continue
		}
		txs = append(txs, b.b.Txs...)
	}
	return txs, missing
}

// onCommitted records a committed block: the committed index, the
// post-commit block check, own batches committed or expired (their txs go
// back to the pool), and garbage collection.
func (c *Core) onCommitted(p *types.Proposal) {
	h := p.Header.Height
	if h <= c.committed {
		c.reindex(p) // restart replay: rebuild the committed index only
		return
	}
	ids := make([]types.BatchID, len(p.Payload))
	for i, cert := range p.Payload {
		id := cert.BatchID(c.net())
		ids[i] = id
		if _, dup := c.commIdx[id]; dup {
			// Committed twice: V7 should have made this impossible.
			c.Metrics.BlockCheck["mismatch"]++
			c.Metrics.BlockMismatch++
			continue
		}
		c.commIdx[id] = h
		c.commAt[h] = append(c.commAt[h], id)
		if !c.validHeader(&cert.Header) {
			// Only a faulty quorum commits this (V7 rejects it): no
			// validator can have signed the body, nothing to fetch.
			c.Metrics.BlockCheck["missing"]++
			c.Metrics.BlockMissing++
			continue
		}
		e := c.certs[id]
		if e == nil {
			// Recorded for the committed index only: not verified here, so
			// never a cache hit and never eligible (committed).
			e = &certEntry{c: cert, id: id}
			c.certs[id] = e
		}
		e.committedAt = h
		if cert.Header.Creator == c.cfg.Self && cert.Header.Seq >= c.nextSeq {
			c.nextSeq = cert.Header.Seq + 1
		}
		if ob := c.ownByID[id]; ob != nil {
			delete(c.own, ob.b.Header.Seq)
			delete(c.ownByID, id)
			c.Metrics.OwnCommitted++
			c.freedOwn()
		}
		delete(c.ackedPen[cert.Header.Creator], id)
		if b := c.bodies[id]; b != nil {
			b.committedAt = h
			c.Metrics.BlockCheck["ok"]++
		} else {
			c.Metrics.BlockCheck["missing"]++
			c.Metrics.BlockMissing++
			c.startFetch(cert.Header, cert.Signers, true)
		}
	}
	if types.BatchCommitment(c.net(), ids) != p.Header.BatchCommitment {
		c.Metrics.BlockCheck["mismatch"]++
		c.Metrics.BlockMismatch++
	}
	c.committed = h
	c.expireAndCollect()
}

func (c *Core) expireAndCollect() {
	h := c.committed
	p := &c.cfg.Params
	for _, seq := range slices.Sorted(maps.Keys(c.own)) {
		ob := c.own[seq]
		if ob.b.Header.ExpiryHeight <= h {
			delete(c.own, seq)
			delete(c.ownByID, ob.id)
			c.Metrics.OwnExpired++
			if c.pool != nil {
				c.pool.Unbatch(ob.ids)
			}
			c.freedOwn()
		}
	}
	for cr, m := range c.ackedPen {
		for id, exp := range m {
			if exp <= h {
				delete(m, id)
			}
		}
		if len(m) == 0 {
			delete(c.ackedPen, cr)
		}
	}
	for _, id := range sortedIDs(c.bodies) {
		b := c.bodies[id]
		gone := (b.committedAt == 0 && b.b.Header.ExpiryHeight <= h) ||
			(b.committedAt != 0 && h-b.committedAt > c.cfg.RetainBlocks)
		if gone {
			delete(c.bodies, id)
			c.Metrics.GCDeleted++
			c.emit(Delete{ID: id})
		}
	}
	for id, e := range c.certs {
		if (e.committedAt == 0 && e.c.Header.ExpiryHeight <= h) || (e.committedAt != 0 && h-e.committedAt > c.cfg.RetainBlocks) {
			delete(c.certs, id)
		}
	}
	for id, f := range c.fetches {
		ch, committed := c.commIdx[id]
		if (!committed && f.header.ExpiryHeight <= h) || (committed && h-ch > c.cfg.RetainBlocks) {
			delete(c.fetches, id)
		}
	}
	// The committed index covers the last BATCH_TTL heights: a batch with
	// expiry E can only sit in blocks of height ≥ E − BATCH_TTL.
	if h > p.BatchTTL {
		for ch, ids := range c.commAt {
			if ch+p.BatchTTL < h {
				for _, id := range ids {
					delete(c.commIdx, id)
				}
				delete(c.commAt, ch)
			}
		}
	}
}

// reindex records a block at or below the committed height (a replay after
// a restart): committed index, own batches and bodies marked committed.
func (c *Core) reindex(p *types.Proposal) {
	h := p.Header.Height
	if h+c.cfg.Params.BatchTTL < c.committed {
		return
	}
	for _, cert := range p.Payload {
		id := cert.BatchID(c.net())
		if _, ok := c.commIdx[id]; ok {
			continue
		}
		c.commIdx[id] = h
		c.commAt[h] = append(c.commAt[h], id)
		if e := c.certs[id]; e != nil {
			e.committedAt = h
		}
		if b := c.bodies[id]; b != nil {
			b.committedAt = h
		}
		if ob := c.ownByID[id]; ob != nil {
			delete(c.own, ob.b.Header.Seq)
			delete(c.ownByID, id)
			c.freedOwn()
		}
		delete(c.ackedPen[cert.Header.Creator], id)
		if cert.Header.Creator == c.cfg.Self && cert.Header.Seq >= c.nextSeq {
			c.nextSeq = cert.Header.Seq + 1
		}
	}
}
