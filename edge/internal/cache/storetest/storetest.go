// Package storetest owns the conformance suite of cache.Store: the behaviour every store,
// the in-process L1 and the shared L2 alike, must show, so the cache stage can use any of
// them without knowing which.
package storetest

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/cache"
)

// Run runs the suite. newStore returns an empty store for one subtest (keys are random,
// so a store shared between subtests works too) and arranges its cleanup.
func Run(t *testing.T, newStore func(t *testing.T) cache.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s cache.Store)
	}{
		{"GetMissing", testGetMissing},
		{"RoundTrip", testRoundTrip},
		{"Overwrite", testOverwrite},
		{"Delete", testDelete},
		{"TTLExpiry", testTTLExpiry},
		{"TTLNotPositive", testTTLNotPositive},
		{"AgeGrows", testAgeGrows},
		{"KeysIndependent", testKeysIndependent},
		{"ConcurrentHammer", testHammer},
		{"CancelledContext", testCancelled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, newStore(t)) })
	}
}

// RandomKey returns a key no other test uses.
func RandomKey() cache.Key {
	var k cache.Key
	for i := 0; i < len(k); i += 8 {
		binary.LittleEndian.PutUint64(k[i:], rand.Uint64())
	}
	return k
}

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return c
}

func mustSet(t *testing.T, s cache.Store, k cache.Key, v []byte, ttl time.Duration) {
	t.Helper()
	if err := s.Set(ctx(t), k, v, ttl); err != nil {
		t.Fatalf("Set(%x, %d bytes, %v): %v", k[:4], len(v), ttl, err)
	}
}

func mustGet(t *testing.T, s cache.Store, k cache.Key) ([]byte, time.Duration, bool) {
	t.Helper()
	v, age, ok, err := s.Get(ctx(t), k)
	if err != nil {
		t.Fatalf("Get(%x): %v", k[:4], err)
	}
	if !ok && v != nil {
		t.Fatalf("Get(%x) = %d bytes with ok false", k[:4], len(v))
	}
	return v, age, ok
}

func wantValue(t *testing.T, s cache.Store, k cache.Key, want []byte) {
	t.Helper()
	got, _, ok := mustGet(t, s, k)
	if !ok {
		t.Fatalf("Get(%x): miss, want %d bytes", k[:4], len(want))
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("Get(%x) = %d bytes %.32q, want %d bytes %.32q", k[:4], len(got), got, len(want), want)
	}
}

func wantMiss(t *testing.T, s cache.Store, k cache.Key) {
	t.Helper()
	if got, _, ok := mustGet(t, s, k); ok {
		t.Fatalf("Get(%x) = %d bytes, want a miss", k[:4], len(got))
	}
}

const hour = time.Hour

func testGetMissing(t *testing.T, s cache.Store) {
	wantMiss(t, s, RandomKey())
	wantMiss(t, s, cache.Key{})
}

// text is compressible, like the JSON and SSE that the cache holds.
func text(n int) []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, `{"index":%d,"delta":{"content":"token %d of the answer"}}`+"\n", i, i*7)
	}
	return b.Bytes()[:n]
}

func random(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rand.Uint32())
	}
	return b
}

func testRoundTrip(t *testing.T, s cache.Store) {
	tests := []struct {
		name string
		val  []byte
	}{
		{"empty", []byte{}},
		{"small", []byte("hello")},
		{"binary", []byte{0, 0xff, '\r', '\n', 0, 1}},
		{"1KiB text", text(1 << 10)},
		{"64KiB text", text(64 << 10)},
		{"64KiB random", random(64 << 10)},
		{"1MiB text", text(1 << 20)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := RandomKey()
			in := bytes.Clone(tc.val)
			mustSet(t, s, k, in, hour)
			// The store owns a copy: the caller may reuse its buffer at once.
			for i := range in {
				in[i] ^= 0x5a
			}
			got, _, ok := mustGet(t, s, k)
			if !ok || !bytes.Equal(got, tc.val) {
				t.Fatalf("Get = %d bytes (ok %v), want the %d bytes set", len(got), ok, len(tc.val))
			}
			// And hands out copies: what one reader does to its value no other sees.
			for i := range got {
				got[i] ^= 0xa5
			}
			wantValue(t, s, k, tc.val)
		})
	}
}

func testOverwrite(t *testing.T, s cache.Store) {
	// Sizes on both sides of any compression threshold, in both directions.
	vals := [][]byte{[]byte("first"), text(32 << 10), []byte("third"), random(8 << 10), text(4 << 10)}
	k := RandomKey()
	for i, v := range vals {
		mustSet(t, s, k, v, hour)
		t.Run(fmt.Sprint(i), func(t *testing.T) { wantValue(t, s, k, v) })
	}
}

func testDelete(t *testing.T, s cache.Store) {
	tests := []struct {
		name string
		val  []byte
	}{
		{"small", []byte("gone")},
		{"large", text(16 << 10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k, other := RandomKey(), RandomKey()
			mustSet(t, s, k, tc.val, hour)
			mustSet(t, s, other, []byte("stays"), hour)
			if err := s.Delete(ctx(t), k); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			wantMiss(t, s, k)
			wantValue(t, s, other, []byte("stays"))
			// Deleting what is not there is no error: Cache-Clear races expiry.
			if err := s.Delete(ctx(t), k); err != nil {
				t.Fatalf("Delete of a missing key: %v", err)
			}
			mustSet(t, s, k, []byte("again"), hour)
			wantValue(t, s, k, []byte("again"))
		})
	}
}

func testTTLExpiry(t *testing.T, s cache.Store) {
	tests := []struct {
		name string
		ttl  time.Duration
		val  []byte
	}{
		{"50ms small", 50 * time.Millisecond, []byte("brief")},
		{"200ms large", 200 * time.Millisecond, text(8 << 10)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			k, long := RandomKey(), RandomKey()
			mustSet(t, s, long, []byte("long"), hour)
			before := time.Now()
			mustSet(t, s, k, tc.val, tc.ttl)
			// Until the TTL has passed (counted from before Set, the earliest it can start)
			// the entry is there; after it, it must go within a generous bound.
			for {
				got, _, ok := mustGet(t, s, k)
				elapsed := time.Since(before)
				if !ok {
					// PX counts whole milliseconds from a clock read in the store: allow 5 ms.
					if elapsed < tc.ttl-5*time.Millisecond {
						t.Fatalf("entry gone after %v, TTL %v", elapsed, tc.ttl)
					}
					break
				}
				if !bytes.Equal(got, tc.val) {
					t.Fatalf("Get = %d bytes, want %d", len(got), len(tc.val))
				}
				if elapsed > tc.ttl+time.Second {
					t.Fatalf("entry still there %v after Set, TTL %v", elapsed, tc.ttl)
				}
				time.Sleep(5 * time.Millisecond)
			}
			wantValue(t, s, long, []byte("long"))
		})
	}
}

func testTTLNotPositive(t *testing.T, s cache.Store) {
	tests := []struct {
		name string
		ttl  time.Duration
	}{
		{"zero", 0},
		{"negative", -time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := RandomKey()
			mustSet(t, s, k, []byte("never"), tc.ttl)
			wantMiss(t, s, k)
		})
	}
}

func testAgeGrows(t *testing.T, s cache.Store) {
	const slack = 2 * time.Millisecond // wall clock against monotonic
	k := RandomKey()
	t0 := time.Now()
	mustSet(t, s, k, text(4<<10), hour)
	t1 := time.Now()
	for _, wait := range []time.Duration{0, 100 * time.Millisecond, 150 * time.Millisecond} {
		time.Sleep(wait)
		t2 := time.Now()
		_, age, ok := mustGet(t, s, k)
		t3 := time.Now()
		if !ok {
			t.Fatal("Get: miss")
		}
		// The entry was stored between t0 and t1 and read between t2 and t3.
		if lo, hi := t2.Sub(t1)-slack, t3.Sub(t0)+slack; age < lo || age > hi {
			t.Fatalf("age %v, want within [%v, %v]", age, lo, hi)
		}
	}
	// Overwriting makes the entry new again.
	time.Sleep(20 * time.Millisecond)
	t4 := time.Now()
	mustSet(t, s, k, []byte("fresh"), hour)
	_, age, _ := mustGet(t, s, k)
	if hi := time.Since(t4) + slack; age > hi {
		t.Fatalf("age after overwrite %v, want at most %v", age, hi)
	}
}

func testKeysIndependent(t *testing.T, s cache.Store) {
	for _, pos := range []int{0, 15, 31} {
		t.Run(fmt.Sprint("byte ", pos), func(t *testing.T) {
			a := RandomKey()
			b := a
			b[pos] ^= 1
			mustSet(t, s, a, []byte("a"), hour)
			wantMiss(t, s, b)
			mustSet(t, s, b, []byte("b"), hour)
			wantValue(t, s, a, []byte("a"))
			wantValue(t, s, b, []byte("b"))
			if err := s.Delete(ctx(t), a); err != nil {
				t.Fatalf("Delete: %v", err)
			}
			wantMiss(t, s, a)
			wantValue(t, s, b, []byte("b"))
		})
	}
}

// hammerValue is self-checking: the key it was stored under, then a seed and a length,
// then bytes that follow from the seed. Any mix-up of keys or torn write shows.
func hammerValue(k cache.Key, seed uint64, n int) []byte {
	v := make([]byte, 0, len(k)+16+n)
	v = append(v, k[:]...)
	v = binary.BigEndian.AppendUint64(v, seed)
	v = binary.BigEndian.AppendUint64(v, uint64(n))
	r := rand.New(rand.NewPCG(seed, 0))
	for range n / 8 {
		v = binary.BigEndian.AppendUint64(v, r.Uint64()&0x0f0f0f0f0f0f0f0f) // compressible
	}
	return v
}

func checkHammerValue(k cache.Key, v []byte) error {
	if len(v) < len(k)+16 {
		return fmt.Errorf("value of %d bytes is too short", len(v))
	}
	if !bytes.Equal(v[:len(k)], k[:]) {
		return fmt.Errorf("value of key %x under key %x", v[:4], k[:4])
	}
	seed := binary.BigEndian.Uint64(v[len(k):])
	n := binary.BigEndian.Uint64(v[len(k)+8:])
	if want := hammerValue(k, seed, int(n)); !bytes.Equal(v, want) {
		return fmt.Errorf("value of %d bytes (seed %d) damaged", len(v), seed)
	}
	return nil
}

func testHammer(t *testing.T, s cache.Store) {
	const workers, ops = 16, 150
	shared := make([]cache.Key, 4)
	for i := range shared {
		shared[i] = RandomKey()
	}
	c := ctx(t)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(w), 1))
			own := RandomKey()
			var last []byte // what this worker last stored under own; nil after Delete
			for i := range ops {
				sizes := []int{8, 512, 4 << 10, 32 << 10}
				v := hammerValue(own, r.Uint64(), sizes[r.IntN(len(sizes))])
				k := shared[r.IntN(len(shared))]
				var err error
				switch op := r.IntN(10); {
				case op < 3:
					err = s.Set(c, k, hammerValue(k, r.Uint64(), sizes[r.IntN(len(sizes))]), hour)
				case op < 6:
					var got []byte
					var ok bool
					if got, _, ok, err = s.Get(c, k); err == nil && ok {
						err = checkHammerValue(k, got)
					}
				case op < 7:
					err = s.Delete(c, k)
				case op < 9:
					if err = s.Set(c, own, v, hour); err == nil {
						last = v
					}
				default:
					if err = s.Delete(c, own); err == nil {
						last = nil
					}
				}
				if err == nil {
					// Only this worker writes own: it reads back what it last wrote.
					got, _, ok, gerr := s.Get(c, own)
					switch {
					case gerr != nil:
						err = gerr
					case ok != (last != nil) || !bytes.Equal(got, last):
						err = fmt.Errorf("own key: got %d bytes (ok %v), want %d", len(got), ok, len(last))
					}
				}
				if err != nil {
					errs <- fmt.Errorf("worker %d op %d: %w", w, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func testCancelled(t *testing.T, s cache.Store) {
	k := RandomKey()
	mustSet(t, s, k, []byte("there"), hour)
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	expired, cancel2 := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel2()
	tests := []struct {
		name string
		ctx  context.Context
	}{
		{"cancelled", cancelled},
		{"deadline passed", expired},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// A store may ignore ctx when it never blocks (Memory) or refuse the call; it
			// must not hang, and what it does answer must be right.
			done := make(chan error, 1)
			go func() {
				var bad error
				if v, _, ok, err := s.Get(tc.ctx, k); err == nil && (!ok || string(v) != "there") {
					bad = fmt.Errorf("Get answered %q (ok %v) without an error", v, ok)
				}
				_ = s.Set(tc.ctx, RandomKey(), []byte("x"), hour)
				_ = s.Delete(tc.ctx, RandomKey())
				done <- bad
			}()
			select {
			case err := <-done:
				if err != nil {
					t.Fatal(err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("calls with a cancelled context did not return within 5s")
			}
			// The store still works for a live context afterwards.
			wantValue(t, s, k, []byte("there"))
		})
	}
}
