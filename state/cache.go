package state

import (
	"sync"

	"github.com/qbind/qbind/types"
)

// accountCache is a bounded LRU of account states (absent accounts are cached
// as the zero Account). It is write-through: CommitExecution puts every
// changed account after its batch is durable, so the cache never holds a
// state the store does not.
type accountCache struct {
	mu      sync.Mutex
	cap     int
	m       map[types.AccountID]*cacheEntry
	head    cacheEntry // sentinel: head.next is the most recent
	metrics *Metrics
}

type cacheEntry struct {
	id         types.AccountID
	a          types.Account
	prev, next *cacheEntry
}

func newAccountCache(capacity int, m *Metrics) *accountCache {
	c := &accountCache{cap: capacity, m: make(map[types.AccountID]*cacheEntry, min(capacity, 1<<16)), metrics: m}
	c.head.prev, c.head.next = &c.head, &c.head
	return c
}

func (c *accountCache) unlink(e *cacheEntry) { e.prev.next, e.next.prev = e.next, e.prev }

func (c *accountCache) pushFront(e *cacheEntry) {
	e.prev, e.next = &c.head, c.head.next
	c.head.next.prev = e
	c.head.next = e
}

func (c *accountCache) get(id types.AccountID) (types.Account, bool) {
	if c.cap <= 0 {
		c.metrics.CacheMisses.Inc()
		return types.Account{}, false
	}
	c.mu.Lock()
	e, ok := c.m[id]
	var a types.Account
	if ok {
		// Copy under the lock: once it is released a concurrent put may
		// overwrite e.a or recycle e for another account on eviction.
		a = e.a
		c.unlink(e)
		c.pushFront(e)
	}
	c.mu.Unlock()
	if !ok {
		c.metrics.CacheMisses.Inc()
		return types.Account{}, false
	}
	c.metrics.CacheHits.Inc()
	return a, true
}

func (c *accountCache) put(id types.AccountID, a types.Account) {
	if c.cap <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e, ok := c.m[id]; ok {
		e.a = a
		c.unlink(e)
		c.pushFront(e)
		return
	}
	var e *cacheEntry
	if len(c.m) >= c.cap {
		e = c.head.prev // evict the least recent, reuse its entry
		c.unlink(e)
		delete(c.m, e.id)
		c.metrics.CacheEvictions.Inc()
	} else {
		e = new(cacheEntry)
	}
	e.id, e.a = id, a
	c.m[id] = e
	c.pushFront(e)
	c.metrics.CacheEntries.Set(float64(len(c.m)))
}

func (c *accountCache) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}
