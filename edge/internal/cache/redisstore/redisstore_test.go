package redisstore_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/redis/go-redis/v9"

	"github.com/crossroads-llm/crossroads/edge/internal/cache"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/redisstore"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/redisstore/redistest"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/storetest"
)

// prefix gives each test its own key space, so tests can share one server (and
// CROSSROADS_REDIS_URL's server keeps whatever else it holds).
func prefix(t testing.TB) string {
	k := storetest.RandomKey()
	return "crossroads:test:" + hex.EncodeToString(k[:6]) + ":"
}

// cfgFor points cfg at srv. Test timeouts are longer than production's: -race on a shared
// machine makes a healthy server miss 50 ms now and then.
func cfgFor(t testing.TB, srv *redistest.Server, cfg redisstore.Config) redisstore.Config {
	if srv.Addr != "" {
		cfg.Addr = srv.Addr
	} else {
		cfg.URL = srv.URL
	}
	if cfg.Prefix == "" {
		cfg.Prefix = prefix(t)
	}
	if cfg.ReadTimeout == 0 {
		cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = time.Second, time.Second, time.Second
	}
	return cfg
}

func newStore(t testing.TB, cfg redisstore.Config) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(context.Background(), cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func rawClient(t testing.TB, srv *redistest.Server) *redis.Client {
	opt, err := redis.ParseURL(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

func TestStoreSuite(t *testing.T) {
	srv := redistest.New(t)
	tests := []struct {
		name string
		cfg  redisstore.Config
	}{
		{"default", redisstore.Config{}},
		// Everything compressed, and nothing: both paths of the format pass the suite.
		{"compress all", redisstore.Config{CompressAbove: 1}},
		{"compress none", redisstore.Config{CompressAbove: 1 << 30}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			storetest.Run(t, func(t *testing.T) cache.Store { return newStore(t, cfgFor(t, srv, tc.cfg)) })
		})
	}
}

func TestStoredForm(t *testing.T) {
	srv := redistest.New(t)
	cfg := cfgFor(t, srv, redisstore.Config{})
	s := newStore(t, cfg)
	raw := rawClient(t, srv)
	ctx := context.Background()
	tests := []struct {
		name       string
		val        []byte
		compressed bool
	}{
		{"small stays raw", []byte("short answer"), false},
		{"large text compressed", bytes.Repeat([]byte("data: {\"delta\":\"x\"}\n\n"), 200), true},
		{"incompressible stays raw", func() []byte {
			b := make([]byte, 4096)
			rand.NewChaCha8([32]byte{1}).Read(b)
			return b
		}(), false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := storetest.RandomKey()
			before := time.Now()
			if err := s.Set(ctx, k, tc.val, 1500*time.Millisecond); err != nil {
				t.Fatal(err)
			}
			rk := cfg.Prefix + hex.EncodeToString(k[:])
			b, err := raw.Get(ctx, rk).Bytes()
			if err != nil {
				t.Fatalf("raw GET %s: %v", rk, err)
			}
			if b[0] != 1 {
				t.Fatalf("version %d, want 1", b[0])
			}
			if got := b[1]&1 != 0; got != tc.compressed {
				t.Fatalf("compressed flag %v, want %v (%d bytes stored for %d)", got, tc.compressed, len(b), len(tc.val))
			}
			if tc.compressed && len(b) >= len(tc.val) {
				t.Fatalf("stored %d bytes for a %d-byte value", len(b), len(tc.val))
			}
			at := time.Unix(0, int64(binary.BigEndian.Uint64(b[2:])))
			if at.Before(before.Add(-time.Millisecond)) || at.After(time.Now()) {
				t.Fatalf("stored-at %v not within the Set call (from %v)", at, before)
			}
			// SET ... PX: the TTL is in milliseconds and no longer than asked.
			pttl, err := raw.PTTL(ctx, rk).Result()
			if err != nil || pttl <= time.Second || pttl > 1500*time.Millisecond {
				t.Fatalf("PTTL = %v, %v; want in (1s, 1.5s]", pttl, err)
			}
		})
	}
}

func TestCorruptValue(t *testing.T) {
	srv := redistest.New(t)
	cfg := cfgFor(t, srv, redisstore.Config{})
	s := newStore(t, cfg)
	raw := rawClient(t, srv)
	ctx := context.Background()

	header := func(version, flags byte, n uint32) []byte {
		b := []byte{version, flags}
		b = binary.BigEndian.AppendUint64(b, uint64(time.Now().UnixNano()))
		return binary.BigEndian.AppendUint32(b, n)
	}
	enc, _ := zstd.NewWriter(nil)
	frame := enc.EncodeAll(bytes.Repeat([]byte("abc"), 1000), nil)
	truncated := frame[:len(frame)/2]
	flipped := bytes.Clone(frame)
	flipped[len(flipped)/2] ^= 0xff
	tests := []struct {
		name, stored string
	}{
		{"empty", ""},
		{"garbage text", "not a cache entry at all"},
		{"short header", string(header(1, 0, 0)[:9])},
		{"unknown version", string(header(2, 0, 3)) + "abc"},
		{"version zero", string(header(0, 0, 3)) + "abc"},
		{"unknown flag", string(header(1, 0x80, 3)) + "abc"},
		{"raw length mismatch", string(header(1, 0, 10)) + "abc"},
		{"compressed garbage", string(header(1, 1, 3000)) + "definitely not zstd"},
		{"compressed truncated", string(header(1, 1, 3000)) + string(truncated)},
		{"compressed bit flip", string(header(1, 1, 3000)) + string(flipped)},
		{"compressed length mismatch", string(header(1, 1, 2999)) + string(frame)},
	}
	good := storetest.RandomKey()
	if err := s.Set(ctx, good, []byte("fine"), time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			k := storetest.RandomKey()
			if err := raw.Set(ctx, cfg.Prefix+hex.EncodeToString(k[:]), tc.stored, time.Minute).Err(); err != nil {
				t.Fatal(err)
			}
			v, _, ok, err := s.Get(ctx, k)
			if err == nil || ok || v != nil {
				t.Fatalf("Get = %q, %v, %v; want an error", v, ok, err)
			}
			if !strings.HasPrefix(err.Error(), "redisstore: get: ") {
				t.Fatalf("error %q does not say where it came from", err)
			}
			// A bad entry is the entry's problem, not the server's: the breaker stays shut.
			got, _, ok, err := s.Get(ctx, good)
			if err != nil || !ok || string(got) != "fine" {
				t.Fatalf("Get of a good key after a corrupt one = %q, %v, %v", got, ok, err)
			}
			// And a Set replaces it.
			if err := s.Set(ctx, k, []byte("repaired"), time.Minute); err != nil {
				t.Fatal(err)
			}
			if got, _, ok, err := s.Get(ctx, k); err != nil || !ok || string(got) != "repaired" {
				t.Fatalf("Get after repair = %q, %v, %v", got, ok, err)
			}
		})
	}
	// A control for the header helper: a well-formed hand-made entry decodes.
	k := storetest.RandomKey()
	raw.Set(ctx, cfg.Prefix+hex.EncodeToString(k[:]), string(header(1, 1, 3000))+string(frame), time.Minute)
	if v, _, ok, err := s.Get(ctx, k); err != nil || !ok || !bytes.Equal(v, bytes.Repeat([]byte("abc"), 1000)) {
		t.Fatalf("hand-made entry: %d bytes, %v, %v", len(v), ok, err)
	}
	if st := s.Stats(); st.Corrupt != int64(len(tests)) || st.Down {
		t.Fatalf("Stats = %+v, want Corrupt %d and not down", st, len(tests))
	}
}

func TestSharedBetweenNodes(t *testing.T) {
	srv := redistest.New(t)
	cfg := cfgFor(t, srv, redisstore.Config{})
	a, b := newStore(t, cfg), newStore(t, cfg)
	other := cfg
	other.Prefix = prefix(t)
	c := newStore(t, other)
	ctx := context.Background()
	k := storetest.RandomKey()
	val := bytes.Repeat([]byte("shared answer "), 500)
	if err := a.Set(ctx, k, val, time.Minute); err != nil {
		t.Fatal(err)
	}
	time.Sleep(30 * time.Millisecond)
	got, age, ok, err := b.Get(ctx, k)
	if err != nil || !ok || !bytes.Equal(got, val) {
		t.Fatalf("node B Get = %d bytes, %v, %v", len(got), ok, err)
	}
	if age < 25*time.Millisecond || age > time.Second {
		t.Fatalf("node B sees age %v, want about 30ms", age)
	}
	if _, _, ok, err := c.Get(ctx, k); err != nil || ok {
		t.Fatalf("a store with another prefix sees the entry: %v, %v", ok, err)
	}
	if err := b.Delete(ctx, k); err != nil {
		t.Fatal(err)
	}
	if _, _, ok, err := a.Get(ctx, k); err != nil || ok {
		t.Fatalf("node A after node B's Delete: %v, %v", ok, err)
	}
}

func TestConfig(t *testing.T) {
	srv := redistest.Start(t, "--requirepass", "s3cret", "--databases", "4")
	ctx := context.Background()
	tests := []struct {
		name    string
		cfg     redisstore.Config
		wantErr string
		db      int // where the entry lands
	}{
		{"addr and password", redisstore.Config{Addr: srv.Addr, Password: "s3cret"}, "", 0},
		{"addr, password, db", redisstore.Config{Addr: srv.Addr, Password: "s3cret", DB: 2}, "", 2},
		{"url", redisstore.Config{URL: "redis://:s3cret@" + srv.Addr + "/2"}, "", 2},
		{"url, db overridden", redisstore.Config{URL: "redis://:s3cret@" + srv.Addr + "/1", DB: 2}, "", 2},
		{"url, password from config", redisstore.Config{URL: "redis://" + srv.Addr + "/2", Password: "s3cret"}, "", 2},
		{"wrong password", redisstore.Config{Addr: srv.Addr, Password: "nope"}, "redisstore: connect", 0},
		{"no password", redisstore.Config{Addr: srv.Addr}, "redisstore: connect", 0},
		{"db out of range", redisstore.Config{Addr: srv.Addr, Password: "s3cret", DB: 9}, "redisstore: connect", 0},
		{"both addr and url", redisstore.Config{Addr: srv.Addr, URL: "redis://" + srv.Addr}, "both Addr and URL", 0},
		{"neither", redisstore.Config{}, "Addr or URL required", 0},
		{"bad url", redisstore.Config{URL: "http://" + srv.Addr}, "redisstore: config:", 0},
		{"nothing listening", redisstore.Config{Addr: "127.0.0.1:1"}, "redisstore: connect", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Prefix = prefix(t)
			start := time.Now()
			s, err := redisstore.New(ctx, tc.cfg)
			if tc.wantErr != "" {
				if err == nil {
					s.Close()
					t.Fatalf("New succeeded, want an error containing %q", tc.wantErr)
				}
				if !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("New: %v, want an error containing %q", err, tc.wantErr)
				}
				// The short default timeouts hold at startup too.
				if d := time.Since(start); d > 2*time.Second {
					t.Fatalf("New took %v to fail", d)
				}
				return
			}
			if err != nil {
				t.Fatalf("New: %v", err)
			}
			defer s.Close()
			k := storetest.RandomKey()
			if err := s.Set(ctx, k, []byte("v"), time.Minute); err != nil {
				t.Fatal(err)
			}
			c := redis.NewClient(&redis.Options{Addr: srv.Addr, Password: "s3cret", DB: tc.db})
			defer c.Close()
			if got, err := c.Exists(ctx, tc.cfg.Prefix+hex.EncodeToString(k[:])).Result(); err != nil || got != 1 {
				t.Fatalf("entry not in db %d: %v, %v", tc.db, got, err)
			}
		})
	}
}

func TestDefaultPrefix(t *testing.T) {
	srv := redistest.New(t)
	cfg := cfgFor(t, srv, redisstore.Config{})
	cfg.Prefix = ""
	s := newStore(t, cfg)
	raw := rawClient(t, srv)
	ctx := context.Background()
	k := storetest.RandomKey()
	if err := s.Set(ctx, k, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	rk := "crossroads:cache:" + hex.EncodeToString(k[:])
	defer raw.Del(ctx, rk)
	if n, err := raw.Exists(ctx, rk).Result(); err != nil || n != 1 {
		t.Fatalf("EXISTS %s = %v, %v", rk, n, err)
	}
}

// failsFast checks that every call fails at once with ErrUnavailable.
func failsFast(t *testing.T, s *redisstore.Store, k cache.Key) {
	t.Helper()
	ctx := context.Background()
	calls := []struct {
		name string
		call func() error
	}{
		{"get", func() error { _, _, _, err := s.Get(ctx, k); return err }},
		{"set", func() error { return s.Set(ctx, k, []byte("v"), time.Minute) }},
		{"delete", func() error { return s.Delete(ctx, k) }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.call()
		d := time.Since(start)
		if !errors.Is(err, redisstore.ErrUnavailable) {
			t.Fatalf("%s while backing off: %v, want ErrUnavailable", c.name, err)
		}
		if !strings.HasPrefix(err.Error(), "redisstore: "+c.name+": ") {
			t.Fatalf("%s error %q does not say where it came from", c.name, err)
		}
		if d >= 5*time.Millisecond {
			t.Fatalf("%s while backing off took %v, want < 5ms", c.name, d)
		}
	}
}

// waitUp retries Get until the store reaches the server again, and returns how long that
// took.
func waitUp(t *testing.T, s *redisstore.Store, k cache.Key, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		_, _, _, err := s.Get(context.Background(), k)
		if err == nil {
			return time.Since(start)
		}
		if time.Since(start) > within {
			t.Fatalf("store did not recover within %v: %v", within, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServerDown(t *testing.T) {
	srv := redistest.Start(t)
	const backoff = 300 * time.Millisecond
	cfg := cfgFor(t, srv, redisstore.Config{Backoff: backoff, MaxBackoff: 2 * backoff})
	// Production's short timeouts: a dead server must cost no more than them.
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = 100*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	s := newStore(t, cfg)
	ctx := context.Background()
	k := storetest.RandomKey()
	if err := s.Set(ctx, k, []byte("before"), time.Minute); err != nil {
		t.Fatal(err)
	}

	srv.Kill()
	start := time.Now()
	if _, _, _, err := s.Get(ctx, k); err == nil || errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("first Get after the kill: %v, want the connection's error", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("first Get after the kill took %v", d)
	}
	if !s.Stats().Down {
		t.Fatal("Stats().Down false after a failure")
	}
	failsFast(t, s, k)

	// Many callers at once during the backoff: all fail fast.
	var wg sync.WaitGroup
	var slow sync.Map
	for i := range 50 {
		wg.Go(func() {
			st := time.Now()
			_, _, _, err := s.Get(ctx, k)
			if d := time.Since(st); !errors.Is(err, redisstore.ErrUnavailable) || d > 50*time.Millisecond {
				slow.Store(i, fmt.Sprintf("%v after %v", err, d))
			}
		})
	}
	wg.Wait()
	slow.Range(func(k, v any) bool { t.Errorf("concurrent caller %v: %v", k, v); return true })

	// After the backoff one call tries the server, finds it still dead, and the backoff
	// doubles.
	time.Sleep(time.Until(start.Add(backoff + 50*time.Millisecond)))
	if _, _, _, err := s.Get(ctx, k); err == nil || errors.Is(err, redisstore.ErrUnavailable) {
		t.Fatalf("probe after the backoff: %v, want the connection's error", err)
	}
	probed := time.Now()
	time.Sleep(backoff + 50*time.Millisecond) // past the first backoff, within the doubled one
	failsFast(t, s, k)

	// A new server on the same port is picked up once the backoff has passed.
	srv.Restart()
	waitUp(t, s, k, 4*backoff)
	if since := time.Since(probed); since < 2*backoff-10*time.Millisecond {
		t.Fatalf("recovered %v after the probe, before the doubled backoff %v", since, 2*backoff)
	}
	if st := s.Stats(); st.Down || st.Rejected == 0 {
		t.Fatalf("Stats after recovery = %+v", st)
	}
	// The new server is empty; the store works on it.
	if _, _, ok, err := s.Get(ctx, k); err != nil || ok {
		t.Fatalf("Get on the new server: %v, %v; want a miss", ok, err)
	}
	if err := s.Set(ctx, k, []byte("after"), time.Minute); err != nil {
		t.Fatal(err)
	}
	if v, _, ok, err := s.Get(ctx, k); err != nil || !ok || string(v) != "after" {
		t.Fatalf("Get after recovery = %q, %v, %v", v, ok, err)
	}

	// Down again: the backoff starts over from its minimum, not from where it grew to.
	srv.Kill()
	s.Get(ctx, k)
	failsFast(t, s, k)
	srv.Restart()
	if took := waitUp(t, s, k, 4*backoff); took > backoff+100*time.Millisecond {
		t.Fatalf("second outage took %v to recover, want about the minimum backoff %v", took, backoff)
	}
}

// TestServerHung covers a server that accepts connections but never answers: the read
// timeout bounds the first call, the breaker the rest.
func TestServerHung(t *testing.T) {
	srv := redistest.Start(t)
	const backoff = 300 * time.Millisecond
	cfg := cfgFor(t, srv, redisstore.Config{Backoff: backoff})
	cfg.DialTimeout, cfg.ReadTimeout, cfg.WriteTimeout = 100*time.Millisecond, 50*time.Millisecond, 50*time.Millisecond
	s := newStore(t, cfg)
	ctx := context.Background()
	k := storetest.RandomKey()
	if err := s.Set(ctx, k, []byte("v"), time.Minute); err != nil {
		t.Fatal(err)
	}
	srv.Pause()
	resumed := false
	defer func() {
		if !resumed {
			srv.Resume()
		}
	}()
	start := time.Now()
	if _, _, _, err := s.Get(ctx, k); err == nil {
		t.Fatal("Get from a hung server succeeded")
	}
	if d := time.Since(start); d < 40*time.Millisecond || d > 500*time.Millisecond {
		t.Fatalf("Get from a hung server took %v, want about the 50ms read timeout", d)
	}
	failsFast(t, s, k)
	srv.Resume()
	resumed = true
	waitUp(t, s, k, 4*backoff)
	if v, _, ok, err := s.Get(ctx, k); err != nil || !ok || string(v) != "v" {
		t.Fatalf("Get after resume = %q, %v, %v", v, ok, err)
	}
}

func TestCancelledContext(t *testing.T) {
	srv := redistest.New(t)
	s := newStore(t, cfgFor(t, srv, redisstore.Config{}))
	k := storetest.RandomKey()
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	calls := []struct {
		name string
		call func(context.Context) error
	}{
		{"get", func(c context.Context) error { _, _, _, err := s.Get(c, k); return err }},
		{"set", func(c context.Context) error { return s.Set(c, k, []byte("v"), time.Minute) }},
		{"set ttl 0", func(c context.Context) error { return s.Set(c, k, []byte("v"), 0) }},
		{"delete", func(c context.Context) error { return s.Delete(c, k) }},
	}
	for _, c := range calls {
		t.Run(c.name, func(t *testing.T) {
			if err := c.call(cancelled); !errors.Is(err, context.Canceled) {
				t.Fatalf("%s with a cancelled context: %v, want context.Canceled", c.name, err)
			}
		})
	}
	// The caller giving up says nothing about the server.
	if st := s.Stats(); st.Down {
		t.Fatal("cancelled calls opened the breaker")
	}
	if err := s.Set(context.Background(), k, []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set after cancelled calls: %v", err)
	}
}

// TestCallerDeadline: a caller whose deadline runs out before the server answers gets an
// error in its own time, and that says nothing about the server.
func TestCallerDeadline(t *testing.T) {
	srv := redistest.Start(t)
	s := newStore(t, cfgFor(t, srv, redisstore.Config{})) // read timeout 1s
	k := storetest.RandomKey()
	srv.Pause()
	tests := []struct {
		name string
		call func(context.Context) error
	}{
		{"get", func(c context.Context) error { _, _, _, err := s.Get(c, k); return err }},
		{"set", func(c context.Context) error { return s.Set(c, k, []byte("v"), time.Minute) }},
		{"delete", func(c context.Context) error { return s.Delete(c, k) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
			defer cancel()
			start := time.Now()
			err := tc.call(ctx)
			if d := time.Since(start); err == nil || d > 500*time.Millisecond {
				t.Fatalf("%s against a hung server with a 30ms deadline: %v after %v", tc.name, err, d)
			}
			if s.Stats().Down {
				t.Fatal("the caller's deadline opened the breaker")
			}
		})
	}
	srv.Resume()
	if err := s.Set(context.Background(), k, []byte("v"), time.Minute); err != nil {
		t.Fatalf("Set after resume: %v", err)
	}
}

func TestClose(t *testing.T) {
	srv := redistest.New(t)
	s, err := redisstore.New(context.Background(), cfgFor(t, srv, redisstore.Config{}))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, _, _, err := s.Get(context.Background(), storetest.RandomKey()); !errors.Is(err, redisstore.ErrClosed) {
		t.Fatalf("Get after Close: %v, want ErrClosed", err)
	}
}

// Closing while calls are in flight (a node shutting down under load) fails them, and
// nothing else: no panic, no race.
func TestCloseInFlight(t *testing.T) {
	srv := redistest.New(t)
	s, err := redisstore.New(context.Background(), cfgFor(t, srv, redisstore.Config{CompressAbove: 1}))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	k := storetest.RandomKey()
	val := bytes.Repeat([]byte("in flight "), 1000)
	if err := s.Set(ctx, k, val, time.Minute); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 8 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if v, _, ok, err := s.Get(ctx, k); err == nil && (!ok || !bytes.Equal(v, val)) {
					t.Errorf("Get = %d bytes, %v", len(v), ok)
					return
				}
				s.Set(ctx, k, val, time.Minute)
			}
		})
	}
	time.Sleep(50 * time.Millisecond)
	if err := s.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	close(stop)
	wg.Wait()
}

func TestStats(t *testing.T) {
	srv := redistest.New(t)
	s := newStore(t, cfgFor(t, srv, redisstore.Config{}))
	ctx := context.Background()
	k := storetest.RandomKey()
	s.Get(ctx, k)
	s.Set(ctx, k, []byte("v"), time.Minute)
	s.Get(ctx, k)
	s.Get(ctx, k)
	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	s.Get(cancelled, k)
	s.Set(cancelled, k, []byte("v"), time.Minute)
	s.Delete(cancelled, k)
	want := redisstore.Stats{Hits: 2, Misses: 1, Errors: 3}
	if got := s.Stats(); got != want {
		t.Fatalf("Stats = %+v, want %+v", got, want)
	}
}
