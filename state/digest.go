package state

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/qbind/qbind/crypto"
	"github.com/qbind/qbind/crypto/lthash"
)

func numCPU() int { return runtime.GOMAXPROCS(0) }

const digestChunk = 4096

// recompute walks the account keyspace of r and returns the set hash of every
// stored account (lthash Update with Old all zero), computed by one reader
// and workers hashing goroutines. Every record is validated: a 33-byte key,
// a 24-byte non-zero value; anything else is ErrCorrupt.
func recompute(ctx context.Context, r pebble.Reader, workers int) (lthash.Hash, uint64, error) {
	workers = max(1, workers)
	chunks := make(chan []lthash.Change, workers)
	parts := make([]lthash.Hash, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for c := range chunks {
				parts[w].Update(c, 1)
			}
		})
	}
	var n uint64
	cur := make([]lthash.Change, 0, digestChunk)
	err := iterate(r, []byte{pAccount}, []byte{pAccount + 1}, func(k, v []byte) error {
		if len(k) != 33 {
			return corrupt(k, "account key of %d bytes", len(k))
		}
		if _, err := decAccount(k, v); err != nil {
			return err
		}
		var c lthash.Change
		copy(c.Account[:], k[1:])
		copy(c.New[:], v)
		cur = append(cur, c)
		n++
		if len(cur) == digestChunk {
			if err := ctx.Err(); err != nil {
				return err
			}
			chunks <- cur
			cur = make([]lthash.Change, 0, digestChunk)
		}
		return nil
	})
	if len(cur) > 0 {
		chunks <- cur
	}
	close(chunks)
	wg.Wait()
	var h lthash.Hash
	for i := range parts {
		h.Add(&parts[i])
	}
	return h, n, err
}

// DigestReport is the result of a full digest recomputation.
type DigestReport struct {
	Height     uint64      // last executed height
	Accounts   uint64      // existing accounts
	Stored     crypto.Hash // stored state digest
	Recomputed crypto.Hash
	Duration   time.Duration
}

// Match reports whether the recomputed digest equals the stored one.
func (r *DigestReport) Match() bool { return r.Stored == r.Recomputed }

// RecomputeDigest recomputes the state digest over the whole account
// keyspace (in parallel, from a consistent Pebble snapshot) and reports it
// with the stored one. It does not fail on a mismatch: see VerifyDigest.
func (s *Store) RecomputeDigest(ctx context.Context) (*DigestReport, error) {
	start := time.Now()
	snap := s.db.NewSnapshot()
	defer snap.Close()
	m, err := readExecMeta(s, snap)
	if err != nil {
		return nil, err
	}
	if !m.genesis {
		return nil, ErrNoGenesis
	}
	h, n, err := recompute(ctx, snap, workers())
	if err != nil {
		return nil, err
	}
	d := time.Since(start)
	s.metrics.DigestRecomputeSecs.Observe(d.Seconds())
	return &DigestReport{Height: m.lastExecuted, Accounts: n, Stored: m.stateDigest, Recomputed: h.Digest(), Duration: d}, nil
}

// VerifyDigest is RecomputeDigest that returns ErrDigest on a mismatch.
func (s *Store) VerifyDigest(ctx context.Context) (*DigestReport, error) {
	r, err := s.RecomputeDigest(ctx)
	if err != nil {
		return nil, err
	}
	if !r.Match() {
		return r, fmt.Errorf("%w at height %d: stored %s, recomputed %s over %d accounts",
			ErrDigest, r.Height, r.Stored, r.Recomputed, r.Accounts)
	}
	return r, nil
}
