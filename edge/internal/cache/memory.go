package cache

import (
	"bytes"
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/klauspost/compress/zstd"
)

// Store keeps cached answers. Values are opaque to it. Implementations are safe for
// concurrent use; the in-process Memory is L1, a shared store for the nodes of one PoP is L2.
type Store interface {
	// Get returns the value stored under k and how long ago it was stored; ok is false when
	// there is none or it expired.
	Get(ctx context.Context, k Key) (val []byte, age time.Duration, ok bool, err error)
	// Set stores val under k for ttl.
	Set(ctx context.Context, k Key, val []byte, ttl time.Duration) error
	// Delete removes k (X-Crossroads-Cache-Clear).
	Delete(ctx context.Context, k Key) error
}

// MemoryConfig sizes an in-process store.
type MemoryConfig struct {
	// Budget is the most bytes the stored values (compressed) and their bookkeeping may
	// take; the least recently used entries go first. Default 256 MiB.
	Budget int64
	// CompressAbove is the value size from which values are stored zstd-compressed; small
	// values gain little and would pay the codec on every hit. Default 1 KiB.
	CompressAbove int
}

// encPool holds compression buffers, so storing costs one exact-size allocation.
var encPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

// entryOverhead approximates what an entry costs besides its value: the LRU's list element
// and map slot, the key, the item struct and the value's allocation rounding. Measured by
// BenchmarkMemoryPerEntry (Go heap per entry minus the value): 300-340 bytes.
const entryOverhead = 320

// Memory is the in-process L1 store: an LRU bounded by bytes, with a TTL per entry.
type Memory struct {
	cfg MemoryConfig
	enc *zstd.Encoder
	dec *zstd.Decoder

	mu    sync.Mutex
	lru   *simplelru.LRU[Key, *item]
	bytes int64

	evictions, expired atomic.Int64
}

type item struct {
	val        []byte
	compressed bool
	raw        int // uncompressed size
	stored     time.Time
	expires    time.Time
}

func (it *item) cost() int64 { return int64(len(it.val)) + entryOverhead }

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-process store.
func NewMemory(cfg MemoryConfig) (*Memory, error) {
	if cfg.Budget <= 0 {
		cfg.Budget = 256 << 20
	}
	if cfg.CompressAbove <= 0 {
		cfg.CompressAbove = 1 << 10
	}
	// One encoder and one decoder serve every goroutine: EncodeAll and DecodeAll are safe
	// for concurrent use and keep no per-call state worth a pool.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1))
	if err != nil {
		return nil, fmt.Errorf("cache: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(1<<30))
	if err != nil {
		return nil, fmt.Errorf("cache: zstd decoder: %w", err)
	}
	m := &Memory{cfg: cfg, enc: enc, dec: dec}
	// The LRU's own size bound only backs up the byte budget: every entry costs at least
	// entryOverhead bytes.
	m.lru, err = simplelru.NewLRU[Key, *item](int(max(cfg.Budget/entryOverhead, 1)), func(_ Key, it *item) {
		m.bytes -= it.cost()
	})
	if err != nil {
		return nil, fmt.Errorf("cache: lru: %w", err)
	}
	return m, nil
}

// Get returns a copy of the value, decompressed.
func (m *Memory) Get(_ context.Context, k Key) ([]byte, time.Duration, bool, error) {
	now := time.Now()
	m.mu.Lock()
	it, ok := m.lru.Get(k)
	if ok && !now.Before(it.expires) {
		m.lru.Remove(k)
		m.expired.Add(1)
		ok = false
	}
	m.mu.Unlock()
	if !ok {
		return nil, 0, false, nil
	}
	age := now.Sub(it.stored)
	if !it.compressed {
		return append([]byte(nil), it.val...), age, true, nil
	}
	val, err := m.dec.DecodeAll(it.val, make([]byte, 0, it.raw))
	if err != nil {
		return nil, 0, false, fmt.Errorf("cache: decompress: %w", err)
	}
	return val, age, true, nil
}

// Set stores a copy of val, compressed above the threshold. A value larger than the whole
// budget is not stored.
func (m *Memory) Set(_ context.Context, k Key, val []byte, ttl time.Duration) error {
	if ttl <= 0 {
		return nil
	}
	now := time.Now()
	it := &item{raw: len(val), stored: now, expires: now.Add(ttl)}
	if len(val) >= m.cfg.CompressAbove {
		bp := encPool.Get().(*[]byte)
		if c := m.enc.EncodeAll(val, (*bp)[:0]); len(c) < len(val) {
			// An exact copy: the encoder's buffer has room to spare, which the budget would
			// not see but the heap would.
			it.val, it.compressed = bytes.Clone(c), true
			*bp = c
		}
		encPool.Put(bp)
	}
	if it.val == nil {
		it.val = append([]byte(nil), val...)
	}
	if it.cost() > m.cfg.Budget {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lru.Remove(k) // a replaced entry gives its bytes back first
	m.lru.Add(k, it)
	m.bytes += it.cost()
	for m.bytes > m.cfg.Budget {
		if _, _, ok := m.lru.RemoveOldest(); !ok {
			break
		}
		m.evictions.Add(1)
	}
	return nil
}

// Delete removes k.
func (m *Memory) Delete(_ context.Context, k Key) error {
	m.mu.Lock()
	m.lru.Remove(k)
	m.mu.Unlock()
	return nil
}

// MemoryStats are the store's gauges and counters for /metrics.
type MemoryStats struct {
	Entries            int
	Bytes              int64
	Evictions, Expired int64
}

// Stats reports the store's size and what it dropped.
func (m *Memory) Stats() MemoryStats {
	m.mu.Lock()
	defer m.mu.Unlock()
	return MemoryStats{Entries: m.lru.Len(), Bytes: m.bytes, Evictions: m.evictions.Load(), Expired: m.expired.Load()}
}
