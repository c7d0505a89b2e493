package crypto

import (
	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultKeyCacheSize bounds the parsed-key cache. A parsed ML-DSA-44 key keeps
// its expanded matrix (~17 KiB), so 8192 entries cost ~150 MiB at most.
const DefaultKeyCacheSize = 8192

// KeyCache is a bounded LRU of parsed public keys keyed by their wire bytes.
// Parsing costs ~70 µs and deriving the account id ~5 µs; a hit costs a map
// lookup. It is safe for concurrent use.
type KeyCache struct {
	c *lru.Cache[cacheKey, *PublicKey]
}

type cacheKey struct {
	suite SuiteID
	raw   string
}

// NewKeyCache returns a cache holding at most size keys (DefaultKeyCacheSize if size ≤ 0).
func NewKeyCache(size int) *KeyCache {
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	c, err := lru.New[cacheKey, *PublicKey](size)
	if err != nil {
		panic(err) // only for size ≤ 0, excluded above
	}
	return &KeyCache{c: c}
}

// Get returns the parsed key for raw, parsing and caching it on a miss.
// Invalid keys are not cached.
func (kc *KeyCache) Get(suite SuiteID, raw []byte) (*PublicKey, error) {
	k := cacheKey{suite: suite, raw: string(raw)}
	if pk, ok := kc.c.Get(k); ok {
		return pk, nil
	}
	pk, err := ParsePublicKey(suite, raw)
	if err != nil {
		return nil, err
	}
	kc.c.Add(k, pk)
	return pk, nil
}

// Len is the number of cached keys.
func (kc *KeyCache) Len() int { return kc.c.Len() }
