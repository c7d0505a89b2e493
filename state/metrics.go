package state

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the store's Prometheus metrics, all named qbind_state_<name>.
// NewMetrics creates them unregistered; Options.Registerer registers them.
type Metrics struct {
	CacheHits      prometheus.Counter // account cache hits
	CacheMisses    prometheus.Counter // account cache misses (a Pebble read)
	CacheEvictions prometheus.Counter
	CacheEntries   prometheus.Gauge

	Commits         prometheus.Counter   // execution commits
	CommitSeconds   prometheus.Histogram // CommitExecution duration (synced batch included)
	CommitChanges   prometheus.Counter   // account changes written
	LastExecuted    prometheus.Gauge
	LastCommitted   prometheus.Gauge
	DigestMismatch  prometheus.Counter // V6 mismatches (counted by the caller, PROTOCOL.md §8.3)
	StaleRejections prometheus.Counter // results refused as stale or out of order

	PruneRuns    prometheus.Counter
	PrunedKeys   prometheus.Counter // keys removed by pruning (counted, range deletes included)
	PruneSeconds prometheus.Histogram
	PruneFailed  prometheus.Counter
	DiskBytes    prometheus.Gauge // Pebble's disk space usage, updated after pruning and on demand

	SnapshotsExported   prometheus.Counter
	SnapshotsFailed     prometheus.Counter
	SnapshotsSkipped    prometheus.Counter // a snapshot height came while an export was running
	SnapshotSeconds     prometheus.Histogram
	SnapshotLastHeight  prometheus.Gauge
	DigestRecomputeSecs prometheus.Histogram
}

// NewMetrics creates the store's metrics.
func NewMetrics() *Metrics {
	c := func(name, help string) prometheus.Counter {
		return prometheus.NewCounter(prometheus.CounterOpts{Namespace: "qbind", Subsystem: "state", Name: name, Help: help})
	}
	g := func(name, help string) prometheus.Gauge {
		return prometheus.NewGauge(prometheus.GaugeOpts{Namespace: "qbind", Subsystem: "state", Name: name, Help: help})
	}
	h := func(name, help string, buckets []float64) prometheus.Histogram {
		return prometheus.NewHistogram(prometheus.HistogramOpts{Namespace: "qbind", Subsystem: "state", Name: name, Help: help, Buckets: buckets})
	}
	fast := prometheus.ExponentialBuckets(0.0005, 2, 14) // 0.5 ms … 4 s
	slow := prometheus.ExponentialBuckets(0.01, 2, 16)   // 10 ms … 5 min
	return &Metrics{
		CacheHits:           c("account_cache_hits_total", "Account reads served by the write-through cache."),
		CacheMisses:         c("account_cache_misses_total", "Account reads that went to Pebble."),
		CacheEvictions:      c("account_cache_evictions_total", "Accounts evicted from the LRU cache."),
		CacheEntries:        g("account_cache_entries", "Accounts held by the cache."),
		Commits:             c("exec_commits_total", "Execution commits written."),
		CommitSeconds:       h("exec_commit_seconds", "Duration of CommitExecution, synced batch included.", fast),
		CommitChanges:       c("exec_commit_account_changes_total", "Account changes written by execution commits."),
		LastExecuted:        g("last_executed_height", "Height of the last execution commit."),
		LastCommitted:       g("last_committed_height", "Last committed height of the consensus store."),
		DigestMismatch:      c("digest_mismatch_total", "Blocks whose exec digest differs from the computed one (V6)."),
		StaleRejections:     c("exec_commit_rejected_total", "Execution results refused (wrong height or stale changes)."),
		PruneRuns:           c("prune_runs_total", "Pruning passes."),
		PrunedKeys:          c("pruned_keys_total", "Keys removed by pruning."),
		PruneSeconds:        h("prune_seconds", "Duration of a pruning pass, compaction included.", slow),
		PruneFailed:         c("prune_failures_total", "Background pruning passes that failed (the next pass retries)."),
		DiskBytes:           g("disk_bytes", "Disk space used by the Pebble database."),
		SnapshotsExported:   c("snapshots_exported_total", "Snapshots exported."),
		SnapshotsFailed:     c("snapshots_failed_total", "Snapshot exports that failed (nothing was left behind)."),
		SnapshotsSkipped:    c("snapshots_skipped_total", "Snapshot heights skipped because an export was still running."),
		SnapshotSeconds:     h("snapshot_export_seconds", "Duration of a background snapshot export.", slow),
		SnapshotLastHeight:  g("snapshot_last_height", "Height of the newest exported snapshot."),
		DigestRecomputeSecs: h("digest_recompute_seconds", "Duration of a full digest recomputation.", slow),
	}
}

// Collectors lists every metric (for registration).
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.CacheHits, m.CacheMisses, m.CacheEvictions, m.CacheEntries, m.Commits,
		m.CommitSeconds, m.CommitChanges, m.LastExecuted, m.LastCommitted, m.DigestMismatch, m.StaleRejections,
		m.PruneRuns, m.PrunedKeys, m.PruneSeconds, m.PruneFailed, m.DiskBytes, m.SnapshotsExported, m.SnapshotsFailed,
		m.SnapshotsSkipped, m.SnapshotSeconds, m.SnapshotLastHeight, m.DigestRecomputeSecs}
}

// Register registers every metric with r.
func (m *Metrics) Register(r prometheus.Registerer) error {
	for _, c := range m.Collectors() {
		if err := r.Register(c); err != nil {
			return err
		}
	}
	return nil
}
