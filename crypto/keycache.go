package crypto

import (
	"bytes"
	"hash/maphash"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultKeyCacheSize bounds the parsed-key cache. A parsed ML-DSA-44 key keeps
// its expanded matrix (~17 KiB), so 8192 entries cost ~150 MiB at most.
const DefaultKeyCacheSize = 8192

// KeyCache is a bounded LRU of parsed public keys. Parsing costs ~70 µs and
// deriving the account id ~5 µs; a hit costs a 1.3 KB maphash and a
// comparison, with no allocation. It is safe for concurrent use.
//
// Entries are keyed by a per-process randomly seeded maphash of (suite, key
// bytes), so a peer cannot precompute collisions; a collision is harmless
// anyway: the stored key bytes are compared before a hit is returned, and a
// mismatch is treated as a miss that replaces the entry.
type KeyCache struct {
	seed maphash.Seed
	c    *lru.Cache[uint64, *PublicKey]
}

// NewKeyCache returns a cache holding at most size keys (DefaultKeyCacheSize if size ≤ 0).
func NewKeyCache(size int) *KeyCache {
	if size <= 0 {
		size = DefaultKeyCacheSize
	}
	c, err := lru.New[uint64, *PublicKey](size)
	if err != nil {
		panic(err) // only for size ≤ 0, excluded above
	}
	return &KeyCache{seed: maphash.MakeSeed(), c: c}
}

func (kc *KeyCache) key(suite SuiteID, raw []byte) uint64 {
	var h maphash.Hash
	h.SetSeed(kc.seed)
	h.WriteByte(byte(suite))
	h.WriteByte(byte(suite >> 8))
	h.Write(raw)
	return h.Sum64()
}

// Get returns the parsed key for raw, parsing and caching it on a miss.
// Invalid keys are not cached.
func (kc *KeyCache) Get(suite SuiteID, raw []byte) (*PublicKey, error) {
	k := kc.key(suite, raw)
	if pk, ok := kc.c.Get(k); ok && pk.suite == suite && bytes.Equal(pk.raw, raw) {
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
