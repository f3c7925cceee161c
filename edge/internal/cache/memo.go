package cache

import (
	"bytes"
	"hash/maphash"
	"sync"

	"github.com/hashicorp/golang-lru/v2/simplelru"
)

// memo remembers the keys of requests seen before, byte for byte. A client repeating a
// request (a retry, an agent re-asking, an evaluation rerun) almost always sends the same
// bytes, and canonicalising and hashing them again is most of what a hit costs: SHA-256
// alone runs at ~170 MB/s on CPUs without SHA extensions. A 64-bit hash finds the
// candidate and a full comparison of every input confirms it, so a hash collision costs
// a recomputation, never a wrong key.
type memo struct {
	seed   maphash.Seed
	budget int64

	mu    sync.Mutex
	lru   *simplelru.LRU[uint64, *memoEntry]
	bytes int64
}

type memoEntry struct {
	scope, model string
	policy, body []byte
	key          Key
}

// memoOverhead approximates an entry's bookkeeping besides its bytes.
const memoOverhead = 200

// maxMemoBody: larger requests are keyed afresh each time; they are rare, and one would
// take a large share of the memo's budget.
const maxMemoBody = 64 << 10

func (e *memoEntry) cost() int64 {
	return int64(len(e.scope)+len(e.model)+len(e.policy)+len(e.body)) + memoOverhead
}

func newMemo(budget int64) *memo {
	m := &memo{seed: maphash.MakeSeed(), budget: budget}
	m.lru, _ = simplelru.NewLRU[uint64, *memoEntry](int(max(budget/memoOverhead, 1)), func(_ uint64, e *memoEntry) {
		m.bytes -= e.cost()
	})
	return m
}

// key is KeyOf, answered from memory for inputs seen before.
func (m *memo) key(in Inputs, body []byte) (Key, error) {
	var h maphash.Hash
	h.SetSeed(m.seed)
	h.WriteString(in.Scope)
	h.WriteByte(0)
	h.WriteString(in.Model)
	h.WriteByte(0)
	h.Write(in.Policy)
	h.WriteByte(0)
	h.Write(body)
	sum := h.Sum64()
	m.mu.Lock()
	e, ok := m.lru.Get(sum)
	m.mu.Unlock()
	// Entries are never modified once added, so reading one outside the lock is safe.
	if ok && e.scope == in.Scope && e.model == in.Model && bytes.Equal(e.policy, in.Policy) && bytes.Equal(e.body, body) {
		return e.key, nil
	}
	k, err := KeyOf(in, body)
	if err != nil || len(body) > maxMemoBody {
		return k, err
	}
	e = &memoEntry{scope: in.Scope, model: in.Model, policy: bytes.Clone(in.Policy), body: bytes.Clone(body), key: k}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(sum)
	m.lru.Add(sum, e)
	m.bytes += e.cost()
	for m.bytes > m.budget {
		if _, _, ok := m.lru.RemoveOldest(); !ok {
			break
		}
	}
	return k, nil
}
