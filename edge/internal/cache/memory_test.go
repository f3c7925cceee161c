package cache

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

func k(i int) Key {
	var key Key
	copy(key[:], fmt.Sprintf("key-%d", i))
	return key
}

func newMemory(t testing.TB, cfg MemoryConfig) *Memory {
	t.Helper()
	m, err := NewMemory(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMemoryGetSet(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, MemoryConfig{})
	big := []byte(strings.Repeat(`{"choices":[{"delta":{"content":"the quick brown fox"}}]}`, 100))
	tests := []struct {
		name       string
		val        []byte
		compressed bool
	}{
		{"small, stored as is", []byte(`{"id":"x"}`), false},
		{"large, compressed", big, true},
		{"empty", []byte{}, false},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := m.Set(ctx, k(i), tt.val, time.Minute); err != nil {
				t.Fatal(err)
			}
			got, age, ok, err := m.Get(ctx, k(i))
			if err != nil || !ok || !bytes.Equal(got, tt.val) || age < 0 || age > time.Second {
				t.Fatalf("Get = %d bytes, age %v, ok %v, err %v", len(got), age, ok, err)
			}
			m.mu.Lock()
			it, _ := m.lru.Peek(k(i))
			m.mu.Unlock()
			if it.compressed != tt.compressed || (tt.compressed && len(it.val) >= len(tt.val)/4) {
				t.Fatalf("stored %d bytes for %d, compressed=%v", len(it.val), len(tt.val), it.compressed)
			}
		})
	}
	// Values are copies: the caller may reuse its buffers.
	val := []byte(`{"a":1}`)
	_ = m.Set(ctx, k(9), val, time.Minute)
	val[2] = 'X'
	if got, _, _, _ := m.Get(ctx, k(9)); string(got) != `{"a":1}` {
		t.Fatalf("stored value aliased the caller's buffer: %s", got)
	}
	if err := m.Delete(ctx, k(9)); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, _ := m.Get(ctx, k(9)); ok {
		t.Fatal("deleted entry still served")
	}
	if _, _, ok, _ := m.Get(ctx, k(99)); ok {
		t.Fatal("a key never stored was found")
	}
}

func TestMemoryTTL(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, MemoryConfig{})
	_ = m.Set(ctx, k(1), []byte("short"), 20*time.Millisecond)
	_ = m.Set(ctx, k(2), []byte("long"), time.Hour)
	_ = m.Set(ctx, k(3), []byte("none"), 0)
	time.Sleep(40 * time.Millisecond)
	if _, _, ok, _ := m.Get(ctx, k(1)); ok {
		t.Fatal("an expired entry was served")
	}
	if _, _, ok, _ := m.Get(ctx, k(2)); !ok {
		t.Fatal("a live entry was lost")
	}
	if _, _, ok, _ := m.Get(ctx, k(3)); ok {
		t.Fatal("a zero TTL must not store")
	}
	if s := m.Stats(); s.Expired != 1 || s.Entries != 1 {
		t.Fatalf("stats = %+v", s)
	}
}

func TestMemoryBudget(t *testing.T) {
	ctx := context.Background()
	const budget = 64 << 10
	m := newMemory(t, MemoryConfig{Budget: budget, CompressAbove: 1 << 30})
	val := bytes.Repeat([]byte("x"), 1000)
	for i := range 200 {
		if err := m.Set(ctx, k(i), val, time.Hour); err != nil {
			t.Fatal(err)
		}
		if s := m.Stats(); s.Bytes > budget {
			t.Fatalf("after %d sets the store holds %d bytes, over its %d budget", i+1, s.Bytes, budget)
		}
	}
	s := m.Stats()
	if s.Evictions == 0 || s.Entries == 0 || int64(s.Entries)*(1000+entryOverhead) != s.Bytes {
		t.Fatalf("stats = %+v", s)
	}
	// The least recently used go first: the newest survive, the oldest are gone.
	if _, _, ok, _ := m.Get(ctx, k(199)); !ok {
		t.Fatal("the newest entry was evicted")
	}
	if _, _, ok, _ := m.Get(ctx, k(0)); ok {
		t.Fatal("the oldest entry survived eviction")
	}
	// A value larger than the whole budget is not stored, and evicts nothing.
	before := m.Stats().Entries
	_ = m.Set(ctx, k(1000), bytes.Repeat([]byte("y"), budget), time.Hour)
	if _, _, ok, _ := m.Get(ctx, k(1000)); ok || m.Stats().Entries != before {
		t.Fatal("an oversized value was stored or evicted others")
	}
	// Replacing an entry gives its bytes back.
	_ = m.Set(ctx, k(199), []byte("z"), time.Hour)
	if s2 := m.Stats(); s2.Bytes != s.Bytes-1000+1 {
		t.Fatalf("bytes after replacing = %d, want %d", s2.Bytes, s.Bytes-999)
	}
}

// TestMemoryHammer runs readers and writers on shared and private keys under -race.
func TestMemoryHammer(t *testing.T) {
	ctx := context.Background()
	m := newMemory(t, MemoryConfig{Budget: 1 << 20, CompressAbove: 512})
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 500 {
				key := k(i % 20) // shared
				if i%3 == 0 {
					key = k(1000*(g+1) + i) // private
				}
				want := bytes.Repeat([]byte{byte('a' + i%20)}, 100+i%2000)
				if i%3 != 0 {
					want = bytes.Repeat([]byte{byte('a' + i%20)}, 100+(i%20)*90)
				}
				_ = m.Set(ctx, key, want, time.Minute)
				got, _, ok, err := m.Get(ctx, key)
				if err != nil {
					t.Error(err)
					return
				}
				// Another writer may have replaced a shared key, with the same content.
				if ok && !bytes.Equal(got, want) {
					t.Errorf("key %d: got %d bytes of %q, want %d", i%20, len(got), got[:1], len(want))
					return
				}
				if i%50 == 0 {
					_ = m.Delete(ctx, key)
				}
			}
		}()
	}
	wg.Wait()
	if s := m.Stats(); s.Bytes > 1<<20 || s.Bytes < 0 {
		t.Fatalf("stats after the hammer = %+v", s)
	}
}

// BenchmarkMemoryGet: a hit on a 2 KB answer, compressed and not.
func BenchmarkMemoryGet(b *testing.B) {
	ctx := context.Background()
	val := []byte(`{"id":"gen-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"` +
		strings.Repeat("Paris is the capital of France. ", 60) + `"},"finish_reason":"stop"}],"usage":{"prompt_tokens":20,"completion_tokens":400,"total_tokens":420}}`)
	for _, tc := range []struct {
		name  string
		above int
	}{{"compressed", 1 << 10}, {"plain", 1 << 30}} {
		b.Run(tc.name, func(b *testing.B) {
			m := newMemory(b, MemoryConfig{CompressAbove: tc.above})
			_ = m.Set(ctx, k(1), val, time.Hour)
			b.SetBytes(int64(len(val)))
			b.ReportAllocs()
			for b.Loop() {
				if _, _, ok, _ := m.Get(ctx, k(1)); !ok {
					b.Fatal("miss")
				}
			}
			s := m.Stats()
			b.ReportMetric(float64(s.Bytes), "bytes/entry")
		})
	}
}
