package dag

// Metrics are the DAG core's counters (qbind_dag_<name>). The four
// coupling metrics of §7 are CouplingValidation
// (qbind_dag_coupling_validation_total{result}), BlockCheck
// (qbind_dag_coupling_block_check_total{result}), BlockMismatch and
// BlockMissing (…_block_mismatch_total, …_block_missing_total).
type Metrics struct {
	BatchesCreated  uint64
	BatchRejected   map[string]uint64 // by Reason
	AcksSent        uint64
	AcksReceived    uint64
	AckRejected     uint64
	AckSelfClaimed  uint64 // network acks claiming this node as signer (forged; also in AckRejected)
	CertsFormed     uint64
	CertsReceived   uint64
	CertRejected    uint64
	CertVerifies    uint64 // full verifications (cache misses)
	CertCacheHits   uint64
	FetchRequests   uint64
	FetchServed     uint64
	FetchAccepted   uint64
	FetchRejected   uint64
	FetchRefused    uint64 // fetches not started: invalid header, expiry outside the window, per-creator cap
	Resends         uint64
	Equivocations   uint64
	OwnExpired      uint64
	OwnCommitted    uint64
	QuotaFull       uint64 // builder found MAX_PENDING own batches pending
	SignerConflicts uint64
	BodiesDropped   uint64 // stored bodies deleted because the signer refused their ack
	GCDeleted       uint64

	CouplingValidation map[string]uint64 // valid | invalid | invalid_warn | need_bodies | unavailable
	BlockCheck         map[string]uint64 // ok | missing | mismatch
	BlockMismatch      uint64
	BlockMissing       uint64
}

func (m *Metrics) init() {
	m.BatchRejected = map[string]uint64{}
	m.CouplingValidation = map[string]uint64{"valid": 0, "invalid": 0, "invalid_warn": 0, "need_bodies": 0, "unavailable": 0}
	m.BlockCheck = map[string]uint64{"ok": 0, "missing": 0, "mismatch": 0}
}
