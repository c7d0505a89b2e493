package mempool

// Metrics are the pool's counters, declared here and exported by the node
// (qbind_mempool_<name>; Rejected carries the {reason} label). The core
// updates them from its single goroutine; readers synchronise with it.
type Metrics struct {
	Admitted           uint64
	Rejected           map[string]uint64 // by Reason label
	Replaced           uint64
	Evicted            uint64
	EvictionsOverLimit uint64 // evictions beyond the rate limit in warn mode
	Requeued           uint64 // batchable again: batch expired, or skipped nonce_too_high/block_gas_limit
	RemovedExecuted    uint64
	RemovedSkipped     uint64
	RecheckDropped     uint64
}

func (m *Metrics) init() {
	m.Rejected = make(map[string]uint64, len(Reasons()))
	for _, r := range Reasons() {
		m.Rejected[r] = 0
	}
}

func (m *Metrics) reject(err error) { m.Rejected[Reason(err)]++ }
