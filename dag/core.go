package dag

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/mempool"
	"github.com/qbind/qbind/types"
)

// body is a batch this node holds (or is storing).
type body struct {
	b           *types.Batch
	id          types.BatchID
	ids         []types.TxID
	stored      bool   // durable
	ackPending  bool   // ack once stored
	ack         []byte // our ack signature, to re-send
	restored    bool   // reloaded after a restart: the ack bytes are gone
	committedAt uint64 // height it was committed at (0: not)
}

// ownBatch is one of this node's batches while pending.
type ownBatch struct {
	b        *types.Batch
	id       types.BatchID
	ids      []types.TxID
	acks     map[uint16]*types.BatchAck
	cert     *types.BatchCertificate
	lastSend uint64
}

// certEntry is a certificate this node knows for a batch: verified (or
// formed here), or taken from a committed block (verified = false).
type certEntry struct {
	c           *types.BatchCertificate
	id          types.BatchID
	verified    bool   // c passed verifyCert or was formed here from verified acks
	quorum      bool   // c carries a quorum (else creator-only, mode off)
	committedAt uint64 // 0: not committed
	// alt holds up to maxCertVariants other certificates for the same
	// batch that verified (other signer sets): cache hits need the
	// presented certificate to be identical to c or to one of these.
	alt []*types.BatchCertificate
}

const maxCertVariants = 2

// sameCert reports whether a and b carry the same signer bitmap and the
// same signature bytes (the header is equal when the batch ids are).
func sameCert(a, b *types.BatchCertificate) bool {
	if !bytes.Equal(a.Signers, b.Signers) || len(a.Signatures) != len(b.Signatures) {
		return false
	}
	for i := range a.Signatures {
		if !bytes.Equal(a.Signatures[i], b.Signatures[i]) {
			return false
		}
	}
	return true
}

// cached reports whether cert is byte-identical (signers and signatures) to
// a certificate of this entry that verified.
func (e *certEntry) cached(cert *types.BatchCertificate) bool {
	if !e.verified {
		return false
	}
	if sameCert(e.c, cert) {
		return true
	}
	for _, a := range e.alt {
		if sameCert(a, cert) {
			return true
		}
	}
	return false
}

type fetchState struct {
	header   types.BatchHeader
	signers  []uint16 // candidates (signers, then the creator), in ask order
	asked    int      // signers[:asked] were asked
	deadline uint64
}

// Core is the DAG availability core: batch builder, batch validation and
// acks, certificates, fetch-on-miss planning, the eligible set and V7. It is
// single-threaded and does no I/O: Step takes an event and returns actions;
// ValidatePayload and BuildPayload are called synchronously by consensus
// (their follow-up actions are taken with TakeActions). It reads and marks
// the mempool it is given (the node's own pool; nil for a node that never
// creates batches).
type Core struct {
	cfg       Config
	pool      mempool.Mempool
	now       uint64
	committed uint64
	nextSeq   uint64
	timerAt   uint64 // the outstanding SetTimer (valid while armed)
	armed     bool   // a SetTimer at timerAt is outstanding (no Tick ≥ timerAt yet)
	recheck   bool   // own pending capacity was freed: tick at once to run the builder

	own      map[uint64]*ownBatch // by seq
	ownByID  map[types.BatchID]*ownBatch
	bodies   map[types.BatchID]*body
	seen     map[uint16]map[uint64]types.BatchID // first batch seen per (creator, seq), within the window
	ackMax   map[uint16]uint64
	ackedPen map[uint16]map[types.BatchID]uint64 // creator → batches this node acked that are pending → expiry
	certs    map[types.BatchID]*certEntry
	commIdx  map[types.BatchID]uint64 // batch_id → committed height, last BATCH_TTL heights
	commAt   map[uint64][]types.BatchID
	fetches  map[types.BatchID]*fetchState

	waiting   bool
	waitStart uint64

	out     []Action
	Metrics Metrics
}

// New returns a core at committed height committed (0 for a fresh chain).
// Its next seq is 1 + the signer's highest recorded seq, or 1 without a
// record (raised by every own certificate or committed batch seen, §7).
func New(cfg Config, pool mempool.Mempool, committed uint64) (*Core, error) {
	cfg = cfg.WithDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Core{
		cfg: cfg, pool: pool, committed: committed, nextSeq: 1,
		own: map[uint64]*ownBatch{}, ownByID: map[types.BatchID]*ownBatch{}, bodies: map[types.BatchID]*body{},
		seen: map[uint16]map[uint64]types.BatchID{}, ackMax: map[uint16]uint64{},
		ackedPen: map[uint16]map[types.BatchID]uint64{}, certs: map[types.BatchID]*certEntry{},
		commIdx: map[types.BatchID]uint64{}, commAt: map[uint64][]types.BatchID{}, fetches: map[types.BatchID]*fetchState{},
	}
	if s, ok := cfg.Signer.HighestBatchSeq(cfg.Epoch); ok {
		c.nextSeq = s + 1
	}
	c.seedAckRecord()
	c.Metrics.init()
	return c, nil
}

// seedAckRecord copies the signer's durable ack record into the core:
// acked_max per creator (the 64-seq window) and the batch acked per seq
// inside the window (first seen: a second batch for that seq is an
// equivocation). Without it a restarted node would store old-seq bodies the
// signer then refuses to ack, outside the MAX_PENDING quota.
func (c *Core) seedAckRecord() {
	for i := range c.n() {
		cr := uint16(i)
		mx := c.cfg.Signer.AckedMax(cr)
		if mx > 0 {
			c.ackMax[cr] = mx
		}
		// Walk down from mx by offset: counting seq up to mx would never
		// end for mx = 2^64−1, a seq any creator may use.
		for k := uint64(0); k < AckWindow && k <= mx; k++ {
			seq := mx - k
			if id, ok := c.cfg.Signer.Acked(cr, seq); ok {
				if c.seen[cr] == nil {
					c.seen[cr] = map[uint64]types.BatchID{}
				}
				c.seen[cr][seq] = id
			}
		}
	}
}

// NextSeq is the seq the next own batch gets.
func (c *Core) NextSeq() uint64 { return c.nextSeq }

// CommittedHeight is the last height delivered by Committed.
func (c *Core) CommittedHeight() uint64 { return c.committed }

// HasBody reports whether the node holds the body of id (stored or being stored).
func (c *Core) HasBody(id types.BatchID) bool { return c.bodies[id] != nil }

// Body returns a held body, or nil.
func (c *Core) Body(id types.BatchID) *types.Batch {
	if b := c.bodies[id]; b != nil {
		return b.b
	}
	return nil
}

// Cert returns a verified certificate, or nil.
func (c *Core) Cert(id types.BatchID) *types.BatchCertificate {
	if e := c.certs[id]; e != nil {
		return e.c
	}
	return nil
}

// PendingOwn is the number of own pending batches.
func (c *Core) PendingOwn() int { return len(c.own) }

// TakeActions returns and clears actions queued outside Step (by
// ValidatePayload's fetches).
func (c *Core) TakeActions() []Action {
	out := c.out
	c.out = nil
	return out
}

func (c *Core) emit(a Action) { c.out = append(c.out, a) }

func (c *Core) net() crypto.Network { return c.cfg.Network }

func (c *Core) n() int { return c.cfg.Validators.Len() }

// Step processes one event and returns the actions to perform in order.
func (c *Core) Step(ev Event) []Action {
	switch e := ev.(type) {
	case Tick:
		c.now = max(c.now, e.NowMs)
		c.onTick()
	case RecvBatch:
		if e.Batch != nil {
			c.onBatch(e.From, e.Batch)
		}
	case StoreDone:
		c.onStored(e.ID)
	case RecvAck:
		c.onAck(e.Ack)
	case RecvCert:
		if e.Cert != nil {
			c.onCert(e.Cert)
		}
	case RecvFetchRequest:
		if e.Req == nil || int(e.From) >= c.n() {
			break
		}
		if b := c.bodies[e.Req.ID]; b != nil && b.stored {
			c.Metrics.FetchServed++
			c.emit(Send{To: e.From, Msg: &FetchResponse{Batch: b.b}})
		}
	case RecvFetchResponse:
		if e.Resp != nil && e.Resp.Batch != nil {
			c.onFetched(e.Resp.Batch)
		}
	case Committed:
		if e.Block != nil {
			c.onCommitted(e.Block)
		}
	default:
		panic(fmt.Sprintf("dag: unknown event %T", ev))
	}
	c.armTimer()
	return c.TakeActions()
}

// ---- batch receipt and acks ------------------------------------------------

func (c *Core) reject(err error) error {
	c.Metrics.BatchRejected[Reason(err)]++
	return err
}

// CheckBatch runs the §7 ack checks on a received batch without changing
// state; it returns the tx ids on success.
func (c *Core) CheckBatch(b *types.Batch) ([]types.TxID, error) {
	h := &b.Header
	p := &c.cfg.Params
	switch {
	case h.Epoch != c.cfg.Epoch:
		return nil, ErrWrongEpoch
	case int(h.Creator) >= c.n():
		return nil, ErrUnknownCreator
	case h.Creator == c.cfg.Self:
		return nil, ErrOwnBatch
	case len(b.Txs) == 0 || h.TxCount == 0:
		return nil, ErrEmptyBatch
	case len(b.Txs) > c.cfg.MaxBatchTxs || int(h.TxCount) > c.cfg.MaxBatchTxs:
		return nil, ErrTooManyTxs
	case encodedSize(b) > c.cfg.MaxBatchBytes:
		return nil, ErrBatchTooLarge
	case p.GasEnabled && h.GasSum > p.BlockGasLimit/2:
		return nil, ErrGasCap
	case !(c.committed < h.ExpiryHeight && h.ExpiryHeight <= c.committed+p.BatchTTL):
		return nil, fmt.Errorf("%w: expiry %d, committed %d", ErrExpiry, h.ExpiryHeight, c.committed)
	}
	if mx := c.ackMax[h.Creator]; mx >= AckWindow && h.Seq <= mx-AckWindow {
		return nil, ErrAckWindow
	}
	// The creator signature before the equivocation check: evidence must
	// be signed, and an unsigned copy must not count as the creator's.
	if err := c.cfg.Verifier.VerifyBatchSig(b); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrBadBatchSig, err)
	}
	id := h.ID(c.net())
	if prev, ok := c.seen[h.Creator][h.Seq]; ok && prev != id {
		return nil, ErrEquivocation
	}
	if len(c.ackedPen[h.Creator]) >= int(p.MaxPending) {
		return nil, ErrPendingQuota
	}
	return c.checkTxs(b)
}

// checkTxs checks every tx's stateless validity, the per-sender cap,
// duplicates, gas_sum and tx_root.
func (c *Core) checkTxs(b *types.Batch) ([]types.TxID, error) {
	ids := make([]types.TxID, len(b.Txs))
	perSender := map[types.AccountID]int{}
	seen := make(map[types.TxID]struct{}, len(b.Txs))
	var gas uint64
	for i, raw := range b.Txs {
		ct, err := c.cfg.Verifier.CheckTx(raw)
		if err != nil {
			return nil, fmt.Errorf("%w: tx %d: %w", ErrBadTx, i, err)
		}
		if perSender[ct.Sender]++; perSender[ct.Sender] > c.cfg.MaxBatchTxsSender {
			return nil, ErrSenderCap
		}
		if _, dup := seen[ct.ID]; dup {
			return nil, ErrDuplicateTx
		}
		seen[ct.ID] = struct{}{}
		ids[i] = ct.ID
		gas += ct.IntrinsicGas
	}
	if gas != b.Header.GasSum {
		return nil, fmt.Errorf("%w: header %d, txs %d", ErrGasSum, b.Header.GasSum, gas)
	}
	if err := b.CheckRoot(c.net(), ids); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrTxRoot, err)
	}
	return ids, nil
}

func encodedSize(b *types.Batch) int {
	n := types.BatchHeaderSize + len(b.Signature) + 4
	for _, tx := range b.Txs {
		n += 4 + len(tx)
	}
	return n
}

func (c *Core) onBatch(from uint16, b *types.Batch) {
	id := b.Header.ID(c.net())
	if have := c.bodies[id]; have != nil {
		if have.restored && have.ack == nil && have.stored && from == b.Header.Creator && have.committedAt == 0 &&
			b.Header.ExpiryHeight > c.committed {
			// Re-sign the identical ack (the guard allows identical content).
			sig, err := c.cfg.Signer.SignAck(b.Header.Creator, b.Header.Seq, id)
			if err != nil {
				c.Metrics.SignerConflicts++
				return
			}
			have.ack = sig
		}
		if have.ack != nil && from == b.Header.Creator {
			c.emit(Send{To: b.Header.Creator, Msg: &types.BatchAck{BatchID: id, Signer: c.cfg.Self, Signature: have.ack}})
		}
		return
	}
	if e := c.certs[id]; e != nil {
		// Certified already: the body is welcome without the ack checks.
		c.onFetched(b)
		return
	}
	ids, err := c.CheckBatch(b)
	if err != nil {
		c.reject(err)
		if errors.Is(err, ErrEquivocation) {
			c.Metrics.Equivocations++
			c.emit(Equivocation{Creator: b.Header.Creator, Seq: b.Header.Seq, A: c.seen[b.Header.Creator][b.Header.Seq], B: id})
		}
		return
	}
	h := b.Header
	if c.seen[h.Creator] == nil {
		c.seen[h.Creator] = map[uint64]types.BatchID{}
	}
	c.seen[h.Creator][h.Seq] = id
	c.bodies[id] = &body{b: b, id: id, ids: ids, ackPending: true}
	// Reserve the quota slot now: batches still being stored count against
	// MAX_PENDING, or a burst would pass the check before the first ack.
	c.reservePending(h.Creator, id, h.ExpiryHeight)
	c.emit(Store{ID: id, Batch: b})
}

func (c *Core) reservePending(creator uint16, id types.BatchID, expiry uint64) {
	if c.ackedPen[creator] == nil {
		c.ackedPen[creator] = map[types.BatchID]uint64{}
	}
	c.ackedPen[creator][id] = expiry
}

func (c *Core) onStored(id types.BatchID) {
	bd := c.bodies[id]
	if bd == nil || bd.stored {
		return
	}
	bd.stored = true
	if f := c.fetches[id]; f != nil {
		delete(c.fetches, id)
		// A voter in coupling mode warn/off may be holding its vote for
		// this body (consensus.ErrPayloadPending): let consensus re-check.
		c.emit(PayloadAvailable{})
	}
	if !bd.ackPending {
		return
	}
	bd.ackPending = false
	h := bd.b.Header
	if h.ExpiryHeight <= c.committed || bd.committedAt != 0 {
		delete(c.ackedPen[h.Creator], id)
		return // expired or committed while storing: an ack is useless
	}
	sig, err := c.cfg.Signer.SignAck(h.Creator, h.Seq, id)
	if err != nil {
		delete(c.ackedPen[h.Creator], id)
		c.Metrics.SignerConflicts++
		c.reject(fmt.Errorf("%w: %w", ErrSignerConflict, err))
		if c.certs[id] == nil {
			// Unacked and uncertified: holding it would bypass the
			// MAX_PENDING quota (its slot was just released).
			delete(c.bodies, id)
			c.Metrics.BodiesDropped++
			c.emit(Delete{ID: id})
		}
		return
	}
	bd.ack = sig
	c.ackMax[h.Creator] = max(c.ackMax[h.Creator], h.Seq)
	c.pruneSeen(h.Creator)
	c.reservePending(h.Creator, id, h.ExpiryHeight)
	ack := &types.BatchAck{BatchID: id, Signer: c.cfg.Self, Signature: sig}
	c.Metrics.AcksSent++
	if h.Creator == c.cfg.Self {
		// The own ack never travels the network: it takes the internal
		// path, and RecvAck refuses acks claiming this node as signer.
		if ob := c.ownByID[id]; ob != nil {
			c.addAck(ob, ack)
		}
		return
	}
	c.emit(Send{To: h.Creator, Msg: ack})
}

func (c *Core) pruneSeen(creator uint16) {
	mx := c.ackMax[creator]
	if mx < AckWindow {
		return
	}
	for s := range c.seen[creator] {
		if s <= mx-AckWindow {
			delete(c.seen[creator], s)
		}
	}
}

// onAck handles an ack received from the network: it must name another
// validator as signer and verify. An ack claiming this node as signer is a
// forgery (the own ack takes addAck directly): dropped and counted.
func (c *Core) onAck(a *types.BatchAck) {
	if a == nil {
		return
	}
	if a.Signer == c.cfg.Self {
		c.Metrics.AckRejected++
		c.Metrics.AckSelfClaimed++
		return
	}
	if int(a.Signer) >= c.n() {
		c.Metrics.AckRejected++
		return
	}
	ob := c.ownByID[a.BatchID]
	if ob == nil || ob.cert != nil || ob.acks[a.Signer] != nil {
		return
	}
	if err := c.cfg.Verifier.VerifyAck(a); err != nil {
		c.Metrics.AckRejected++
		return
	}
	c.addAck(ob, a)
}

// addAck records a verified ack (or the own one, from the Signer) for an
// own pending batch and assembles the certificate at a quorum (or, in mode
// off, as soon as the own ack is in). Every signature in a certificate
// formed here is therefore valid: network acks were verified, the own ack
// was produced by the Signer.
func (c *Core) addAck(ob *ownBatch, a *types.BatchAck) {
	if ob.cert != nil || ob.acks[a.Signer] != nil {
		return
	}
	c.Metrics.AcksReceived++
	ob.acks[a.Signer] = a
	var power uint64
	for s := range ob.acks {
		power += c.cfg.Validators.Get(int(s)).Power
	}
	creatorOnly := c.cfg.Coupling == CouplingOff && ob.acks[c.cfg.Self] != nil
	if !c.cfg.Validators.IsQuorum(power) && !creatorOnly {
		return
	}
	acks := make([]*types.BatchAck, 0, len(ob.acks))
	for _, s := range slices.Sorted(maps.Keys(ob.acks)) {
		acks = append(acks, ob.acks[s])
	}
	cert := types.NewBatchCertificate(ob.b.Header, c.n(), acks)
	ob.cert = cert
	c.Metrics.CertsFormed++
	c.certs[ob.id] = &certEntry{c: cert, id: ob.id, verified: true, quorum: c.cfg.Validators.IsQuorum(power)}
	c.emit(Broadcast{Msg: cert})
	c.emit(PayloadAvailable{})
}

// ---- certificates and fetch-on-miss -----------------------------------------

// verifyCert verifies a certificate (§7: quorum and every signature; in
// mode off also creator-only). The cache is the certs map, keyed by the
// recomputed batch_id, but a hit needs the presented certificate to be
// byte-identical (signer bitmap and signatures) to one that verified:
// anything else is verified in full, so the result is a function of the
// certificate alone, whatever this node cached. It returns the entry.
func (c *Core) verifyCert(cert *types.BatchCertificate) (*certEntry, error) {
	if cert.Header.Epoch != c.cfg.Epoch || int(cert.Header.Creator) >= c.n() {
		return nil, ErrBadCertificate
	}
	id := cert.BatchID(c.net())
	if e := c.certs[id]; e != nil && (e.quorum || c.cfg.Coupling == CouplingOff) && e.cached(cert) {
		c.Metrics.CertCacheHits++
		return e, nil
	}
	c.Metrics.CertVerifies++
	quorum := true
	if err := c.cfg.Verifier.VerifyCert(cert, false); err != nil {
		if c.cfg.Coupling != CouplingOff {
			return nil, fmt.Errorf("%w: %w", ErrBadCertificate, err)
		}
		if err := c.cfg.Verifier.VerifyCert(cert, true); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrBadCertificate, err)
		}
		quorum = false
	}
	e := c.certs[id]
	switch {
	case e == nil:
		e = &certEntry{c: cert, id: id, verified: true, quorum: quorum}
		c.certs[id] = e
	case !e.verified || (quorum && !e.quorum):
		// Replace an unverified (committed-block) or creator-only
		// certificate by this one.
		e.c, e.verified, e.quorum = cert, true, quorum
	case !e.cached(cert) && len(e.alt) < maxCertVariants:
		e.alt = append(e.alt, cert)
	}
	if commH, ok := c.commIdx[id]; ok {
		e.committedAt = commH
	}
	if cert.Header.Creator == c.cfg.Self && cert.Header.Seq >= c.nextSeq {
		c.nextSeq = cert.Header.Seq + 1
	}
	return e, nil
}

func (c *Core) onCert(cert *types.BatchCertificate) {
	c.Metrics.CertsReceived++
	if cert.Header.ExpiryHeight <= c.committed {
		return
	}
	e, err := c.verifyCert(cert)
	if err != nil {
		c.Metrics.CertRejected++
		return
	}
	if ob := c.ownByID[e.id]; ob != nil && ob.cert == nil {
		ob.cert = cert // another node assembled it (e.g. after our restart)
	}
	if c.bodies[e.id] == nil {
		c.startFetch(cert.Header, cert.Signers, false)
	}
	if e.committedAt == 0 {
		c.emit(PayloadAvailable{})
	}
}

// FetchTargets lists who to ask for a body, in order: the signers (other
// than self) in index order from creator+1, then the creator. The first
// request goes to a prefix holding more than f power (§7).
func (c *Core) fetchTargets(h types.BatchHeader, signers types.Bitmap) []uint16 {
	n := c.n()
	var out []uint16
	for k := 1; k <= n; k++ {
		i := (int(h.Creator) + k) % n
		if i != int(c.cfg.Self) && signers.Has(i) && i != int(h.Creator) {
			out = append(out, uint16(i))
		}
	}
	if h.Creator != c.cfg.Self {
		out = append(out, h.Creator)
	}
	return out
}

// validHeader reports whether a batch header from the network names this
// epoch and a validator of the set. Every header that reaches a fetch, a
// certificate entry or an index into the validator set passes it first.
func (c *Core) validHeader(h *types.BatchHeader) bool {
	return h.Epoch == c.cfg.Epoch && int(h.Creator) < c.n()
}

// inFetchWindow reports whether an uncommitted batch's expiry lies where
// this node would have acked it: committed < expiry ≤ committed + BATCH_TTL
// (an honest creator sets committed + BATCH_TTL − BATCH_EXPIRY_SLACK, so a
// node lagging by up to the slack still fetches). A fetch therefore lives at
// most BATCH_TTL heights, whatever expiry a Byzantine creator chose.
func (c *Core) inFetchWindow(h *types.BatchHeader) bool {
	return c.committed < h.ExpiryHeight && h.ExpiryHeight <= c.committed+c.cfg.Params.BatchTTL
}

// maxFetchesPerCreator bounds the open fetches of uncommitted batches per
// creator: an honest creator has at most MAX_PENDING pending batches (a few
// more may be certified out of one burst, see docs/dag.md).
func (c *Core) maxFetchesPerCreator() int { return 2 * int(c.cfg.Params.MaxPending) }

func (c *Core) openFetches(creator uint16) int {
	k := 0
	for id, f := range c.fetches {
		if _, committed := c.commIdx[id]; !committed && f.header.Creator == creator {
			k++
		}
	}
	return k
}

// startFetch plans fetch-on-miss for a batch whose certificate verified
// (uncommitted) or that was committed. It reports whether the body is held
// or being fetched; it refuses (counted in FetchRefused) an invalid header,
// and for an uncommitted batch an expiry outside the fetch window or a
// creator already at its cap of open fetches.
func (c *Core) startFetch(h types.BatchHeader, signers types.Bitmap, committed bool) bool {
	if !c.validHeader(&h) {
		c.Metrics.FetchRefused++
		return false
	}
	id := h.ID(c.net())
	if c.fetches[id] != nil || c.bodies[id] != nil {
		return true
	}
	if !committed && (!c.inFetchWindow(&h) || c.openFetches(h.Creator) >= c.maxFetchesPerCreator()) {
		c.Metrics.FetchRefused++
		return false
	}
	f := &fetchState{header: h, signers: c.fetchTargets(h, signers)}
	c.fetches[id] = f
	c.askMore(id, f)
	return true
}

// askMore sends the request to the next targets until more than f power
// was asked in this round (then to everyone again from the start).
func (c *Core) askMore(id types.BatchID, f *fetchState) {
	if len(f.signers) == 0 {
		return
	}
	if f.asked >= len(f.signers) {
		f.asked = 0
	}
	var power uint64
	for f.asked < len(f.signers) && power <= c.cfg.Validators.F() {
		to := f.signers[f.asked]
		power += c.cfg.Validators.Get(int(to)).Power
		f.asked++
		c.Metrics.FetchRequests++
		c.emit(Send{To: to, Msg: &FetchRequest{ID: id}})
	}
	f.deadline = c.now + c.cfg.FetchTimeoutMs
}

// onFetched accepts a body for a known certificate: same header (the id is
// the hash of the header), tx_root and every tx signature verify, and the
// creator's signature verifies.
func (c *Core) onFetched(b *types.Batch) {
	if !c.validHeader(&b.Header) {
		c.Metrics.FetchRejected++
		return
	}
	id := b.Header.ID(c.net())
	f := c.fetches[id]
	e := c.certs[id]
	if c.bodies[id] != nil || (f == nil && e == nil) {
		return
	}
	if err := c.cfg.Verifier.VerifyBatchSig(b); err != nil {
		c.Metrics.FetchRejected++
		return
	}
	ids, err := c.checkTxs(b)
	if err != nil || len(b.Txs) == 0 {
		c.Metrics.FetchRejected++
		return
	}
	c.Metrics.FetchAccepted++
	bd := &body{b: b, id: id, ids: ids}
	if h, ok := c.commIdx[id]; ok {
		bd.committedAt = h
	}
	c.bodies[id] = bd
	c.emit(Store{ID: id, Batch: b})
}

// ---- builder ------------------------------------------------------------------

func (c *Core) onTick() {
	if c.armed && c.now >= c.timerAt {
		c.armed = false // fired: the next armTimer asks again
	}
	c.recheck = false
	c.build()
	// Re-send uncertified pending batches to validators that have not acked.
	for _, seq := range slices.Sorted(maps.Keys(c.own)) {
		ob := c.own[seq]
		if ob.cert != nil || c.now < ob.lastSend+c.cfg.ResendMs {
			continue
		}
		ob.lastSend = c.now
		c.Metrics.Resends++
		for i := range c.n() {
			if uint16(i) != c.cfg.Self && ob.acks[uint16(i)] == nil {
				c.emit(Send{To: uint16(i), Msg: ob.b})
			}
		}
	}
	for _, id := range sortedIDs(c.fetches) {
		if f := c.fetches[id]; c.now >= f.deadline {
			c.askMore(id, f)
		}
	}
}

func sortedIDs[V any](m map[types.BatchID]V) []types.BatchID {
	ids := slices.Collect(maps.Keys(m))
	slices.SortFunc(ids, func(a, b types.BatchID) int { return compare(a[:], b[:]) })
	return ids
}

func compare(a, b []byte) int {
	for i := range a {
		if a[i] != b[i] {
			return int(a[i]) - int(b[i])
		}
	}
	return 0
}

// build cuts batches from the pool while the cut rule holds and the
// MAX_PENDING quota allows.
func (c *Core) build() {
	if !c.cfg.Creator || c.pool == nil {
		return
	}
	p := &c.cfg.Params
	for {
		if len(c.own) >= int(p.MaxPending) {
			c.Metrics.QuotaFull++
			return
		}
		var (
			txs       [][]byte
			ids       []types.TxID
			gas       uint64
			size      = types.BatchHeaderSize + crypto.MLDSA44SignatureSize + 4
			perSender = map[types.AccountID]int{}
			full      bool
		)
		gasCap := p.BlockGasLimit / 2
		c.pool.Iterate(func(e *mempool.Entry) mempool.Verdict {
			ct := e.Tx
			if len(txs) >= c.cfg.MaxBatchTxs {
				full = true
				return mempool.Stop
			}
			if perSender[ct.Sender] >= c.cfg.MaxBatchTxsSender {
				return mempool.SkipSender
			}
			if size+4+len(ct.Raw) > c.cfg.MaxBatchBytes {
				full = true
				return mempool.SkipSender
			}
			if p.GasEnabled && gas+ct.IntrinsicGas > gasCap {
				full = true
				return mempool.SkipSender
			}
			perSender[ct.Sender]++
			txs = append(txs, ct.Raw)
			ids = append(ids, ct.ID)
			gas += ct.IntrinsicGas
			size += 4 + len(ct.Raw)
			return mempool.Take
		})
		if len(txs) == 0 {
			c.waiting = false
			return
		}
		if !c.waiting {
			c.waiting, c.waitStart = true, c.now
		}
		cut := full || len(txs) >= c.cfg.MaxBatchTxs || (p.GasEnabled && gas >= p.BlockGasLimit/4) ||
			c.now >= c.waitStart+c.cfg.MaxWaitMs
		if !cut {
			return
		}
		if !c.cutBatch(txs, ids, gas) {
			return
		}
		c.waiting = false
	}
}

func (c *Core) cutBatch(txs [][]byte, ids []types.TxID, gas uint64) bool {
	p := &c.cfg.Params
	h := types.BatchHeader{
		Epoch: c.cfg.Epoch, Creator: c.cfg.Self, Seq: c.nextSeq,
		ExpiryHeight: c.committed + p.BatchTTL - p.BatchExpirySlack,
		TxCount:      uint32(len(txs)), GasSum: gas, TxRoot: types.TxRoot(ids),
	}
	sig, err := c.cfg.Signer.SignBatch(h)
	if err != nil {
		// The guard holds this seq for another batch (e.g. after a lost
		// data dir): skip the seq.
		c.Metrics.SignerConflicts++
		c.nextSeq++
		return false
	}
	c.nextSeq++
	b := &types.Batch{Header: h, Signature: sig, Txs: txs}
	id := h.ID(c.net())
	ob := &ownBatch{b: b, id: id, ids: ids, acks: map[uint16]*types.BatchAck{}, lastSend: c.now}
	c.own[h.Seq] = ob
	c.ownByID[id] = ob
	c.pool.MarkBatched(ids)
	c.bodies[id] = &body{b: b, id: id, ids: ids, ackPending: true}
	c.Metrics.BatchesCreated++
	c.emit(Store{ID: id, Batch: b})
	c.emit(Broadcast{Msg: b})
	return true
}

// armTimer asks the driver for the next Tick the core needs: at once if a
// commit or expiry freed own pending capacity while the pool holds txs (the
// builder must look again), the end of the builder's max wait (only while
// the MAX_PENDING quota leaves room to cut), the next re-send of an
// uncertified own batch, the next fetch deadline. It emits SetTimer only
// when that time is earlier than the outstanding request, or none is
// outstanding (the last one fired): a driver may keep one timer and replace
// it, or schedule every request.
func (c *Core) armTimer() {
	var at uint64
	has := false
	set := func(t uint64) {
		if !has || t < at {
			at, has = t, true
		}
	}
	if c.recheck {
		set(c.now)
	}
	if c.waiting && len(c.own) < int(c.cfg.Params.MaxPending) {
		set(c.waitStart + c.cfg.MaxWaitMs)
	}
	for _, ob := range c.own {
		if ob.cert == nil {
			set(ob.lastSend + c.cfg.ResendMs)
		}
	}
	for _, f := range c.fetches {
		if len(f.signers) > 0 {
			set(f.deadline)
		}
	}
	if !has {
		return
	}
	at = max(at, c.now)
	if c.armed && c.timerAt <= at {
		return
	}
	c.armed, c.timerAt = true, at
	c.emit(SetTimer{AtMs: at})
}

// freedOwn notes that an own batch left the pending set (committed or
// expired): the builder may cut again (MAX_PENDING slot, the run rule for
// the next nonces of its senders, or txs put back by Unbatch).
func (c *Core) freedOwn() {
	if c.cfg.Creator && c.pool != nil && c.pool.Len() > 0 {
		c.recheck = true
	}
}

// Restore reloads the bodies a restarted node finds in its store; call it
// right after New, then replay Committed for the last BATCH_TTL committed
// blocks (heights ≤ the committed height only rebuild the committed index).
// Own unexpired batches become pending again (re-sent until certified);
// other creators' bodies are held, count against their pending quota, and
// a creator's re-send gets the (re-signed, identical) ack. Bodies are
// trusted: they were checked before they were stored.
func (c *Core) Restore(bodies []*types.Batch) {
	for _, b := range bodies {
		h := b.Header
		id := h.ID(c.net())
		if c.bodies[id] != nil || h.ExpiryHeight <= c.committed {
			continue
		}
		ids := make([]types.TxID, len(b.Txs))
		for i, raw := range b.Txs {
			ids[i] = types.EntryID(c.net(), raw)
		}
		c.bodies[id] = &body{b: b, id: id, ids: ids, stored: true, restored: true}
		if h.Creator == c.cfg.Self {
			ob := &ownBatch{b: b, id: id, ids: ids, acks: map[uint16]*types.BatchAck{}}
			c.own[h.Seq] = ob
			c.ownByID[id] = ob
			c.nextSeq = max(c.nextSeq, h.Seq+1)
			if sig, err := c.cfg.Signer.SignAck(h.Creator, h.Seq, id); err == nil {
				ob.acks[c.cfg.Self] = &types.BatchAck{BatchID: id, Signer: c.cfg.Self, Signature: sig}
			}
			continue
		}
		if c.seen[h.Creator] == nil {
			c.seen[h.Creator] = map[uint64]types.BatchID{}
		}
		c.seen[h.Creator][h.Seq] = id
		c.reservePending(h.Creator, id, h.ExpiryHeight)
	}
}
