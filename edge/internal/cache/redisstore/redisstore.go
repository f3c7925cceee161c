// Package redisstore owns the shared L2 store of the prompt cache: cache.Store on a Redis
// server that the nodes of one PoP share, with the stored-value format (a versioned header,
// zstd above a threshold) and the fail-fast backoff that keeps a dead Redis off the request
// path.
package redisstore

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"

	"github.com/crossroads-llm/crossroads/edge/internal/cache"
)

// Config says where the server is and how long the request path may wait for it.
type Config struct {
	// Addr is host:port. Exactly one of Addr and URL is set.
	Addr string
	// URL is redis://[user:password@]host:port[/db][?options], as redis.ParseURL reads it.
	// Fields set below override what it says.
	URL string
	// Password authenticates with AUTH; empty means none (or what URL carries).
	Password string
	// DB is the database number selected on connect; 0 means the default (or URL's).
	DB int
	// Prefix namespaces the keys, so one server can hold other data and several caches.
	// Default "crossroads:cache:".
	Prefix string
	// DialTimeout, ReadTimeout and WriteTimeout bound one call: the store sits on the
	// request path, where a slow L2 is worse than none. Defaults 100 ms, 50 ms, 50 ms.
	DialTimeout, ReadTimeout, WriteTimeout time.Duration
	// PoolTimeout is how long a call waits for a free connection when all are busy.
	// Default: ReadTimeout.
	PoolTimeout time.Duration
	// PoolSize is the most connections kept open; default 10 per GOMAXPROCS.
	PoolSize int
	// CompressAbove is the value size from which values are stored zstd-compressed.
	// Default 1 KiB.
	CompressAbove int
	// Backoff is how long calls fail fast after the server failed; each failed retry
	// doubles it up to MaxBackoff. Defaults 1 s and 30 s.
	Backoff, MaxBackoff time.Duration
}

// Format of a stored value: a fixed header, then the payload (the value, or its zstd frame).
const (
	formatV1 = 1
	// flagCompressed marks a zstd payload.
	flagCompressed = 1 << 0
	knownFlags     = flagCompressed
	// headerLen: version (1), flags (1), stored-at in Unix nanoseconds (8, big endian), raw
	// value length (4, big endian; checked after decoding so a damaged value cannot pass).
	headerLen = 14
	// maxValue is Redis's own limit on a string (proto-max-bulk-len), and bounds what a
	// damaged zstd frame may make the decoder allocate.
	maxValue = 512 << 20
)

// ErrUnavailable is returned without contacting the server while it is backing off after a
// failure.
var ErrUnavailable = errors.New("server unavailable, backing off")

// ErrClosed is returned by calls after Close.
var ErrClosed = errors.New("store closed")

// Store is cache.Store on Redis. It is safe for concurrent use.
type Store struct {
	c      *redis.Client
	prefix string
	cfg    Config
	enc    *zstd.Encoder
	dec    *zstd.Decoder
	br     breaker
	closed atomic.Bool

	hits, misses, errs, rejected, corrupt atomic.Int64
}

var _ cache.Store = (*Store)(nil)

// New connects to the server and checks it answers within ctx, so a wrong address or
// password shows at startup; whether to run without L2 then is the caller's decision.
func New(ctx context.Context, cfg Config) (*Store, error) {
	opt, err := options(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Prefix == "" {
		cfg.Prefix = "crossroads:cache:"
	}
	if cfg.CompressAbove <= 0 {
		cfg.CompressAbove = 1 << 10
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = time.Second
	}
	if cfg.MaxBackoff < cfg.Backoff {
		cfg.MaxBackoff = max(30*time.Second, cfg.Backoff)
	}
	// One encoder and one decoder serve every goroutine: EncodeAll and DecodeAll are safe
	// for concurrent use, each running on one of GOMAXPROCS internal states.
	enc, err := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault))
	if err != nil {
		return nil, fmt.Errorf("redisstore: zstd encoder: %w", err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(0), zstd.WithDecoderMaxMemory(maxValue))
	if err != nil {
		return nil, fmt.Errorf("redisstore: zstd decoder: %w", err)
	}
	s := &Store{c: redis.NewClient(opt), prefix: cfg.Prefix, cfg: cfg, enc: enc, dec: dec}
	s.br.min, s.br.max = cfg.Backoff, cfg.MaxBackoff
	if err := s.c.Ping(ctx).Err(); err != nil {
		s.c.Close()
		enc.Close()
		dec.Close()
		return nil, fmt.Errorf("redisstore: connect %s: %w", opt.Addr, err)
	}
	return s, nil
}

// options turns cfg into the client's options: URL first, then the fields that override
// it, then short defaults for whatever is still unset.
func options(cfg Config) (*redis.Options, error) {
	var opt *redis.Options
	switch {
	case cfg.Addr != "" && cfg.URL != "":
		return nil, errors.New("redisstore: config: both Addr and URL set")
	case cfg.URL != "":
		var err error
		if opt, err = redis.ParseURL(cfg.URL); err != nil {
			return nil, fmt.Errorf("redisstore: config: %w", err)
		}
	case cfg.Addr != "":
		opt = &redis.Options{Addr: cfg.Addr}
	default:
		return nil, errors.New("redisstore: config: Addr or URL required")
	}
	if cfg.Password != "" {
		opt.Password = cfg.Password
	}
	if cfg.DB != 0 {
		opt.DB = cfg.DB
	}
	set := func(dst *time.Duration, v, def time.Duration) {
		switch {
		case v > 0:
			*dst = v
		case *dst == 0:
			*dst = def
		}
	}
	set(&opt.DialTimeout, cfg.DialTimeout, 100*time.Millisecond)
	set(&opt.ReadTimeout, cfg.ReadTimeout, 50*time.Millisecond)
	set(&opt.WriteTimeout, cfg.WriteTimeout, 50*time.Millisecond)
	set(&opt.PoolTimeout, cfg.PoolTimeout, opt.ReadTimeout)
	if cfg.PoolSize > 0 {
		opt.PoolSize = cfg.PoolSize
	}
	// A cache miss is cheaper than a retry on the request path, and the breaker, not the
	// client, decides when to try a failed server again: one attempt per call and per dial.
	opt.MaxRetries = -1
	opt.DialerRetries = 1
	opt.ContextTimeoutEnabled = true
	// Neither the client's name (CLIENT SETINFO) nor cluster maintenance notifications are
	// worth a round trip on every new connection.
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	return opt, nil
}

// key is the Redis key of k: the prefix and the key in hex, which redis-cli shows readably.
func (s *Store) key(k cache.Key) string {
	var buf [128]byte
	b := append(buf[:0], s.prefix...)
	return string(hex.AppendEncode(b, k[:]))
}

// Get returns the value stored under k and its age. A value that cannot be decoded is an
// error (the caller counts it a miss); it is left for its TTL or the next Set to replace.
func (s *Store) Get(ctx context.Context, k cache.Key) ([]byte, time.Duration, bool, error) {
	var raw []byte
	found := false
	err := s.do(ctx, func(ctx context.Context) error {
		var err error
		raw, err = s.c.Get(ctx, s.key(k)).Bytes()
		if errors.Is(err, redis.Nil) {
			return nil
		}
		found = err == nil
		return err
	})
	if err != nil {
		return nil, 0, false, fmt.Errorf("redisstore: get: %w", err)
	}
	if !found {
		s.misses.Add(1)
		return nil, 0, false, nil
	}
	val, stored, err := s.decode(raw)
	if err != nil {
		s.corrupt.Add(1)
		s.errs.Add(1)
		return nil, 0, false, fmt.Errorf("redisstore: get: %w", err)
	}
	s.hits.Add(1)
	// Another node's clock may run ahead of ours; an entry is never younger than new.
	return val, max(time.Since(stored), 0), true, nil
}

// Set stores val under k for ttl (rounded up to a millisecond, PX's unit); ttl <= 0 stores
// nothing.
func (s *Store) Set(ctx context.Context, k cache.Key, val []byte, ttl time.Duration) error {
	if err := ctx.Err(); err != nil {
		s.errs.Add(1)
		return fmt.Errorf("redisstore: set: %w", err)
	}
	if ttl <= 0 {
		return nil
	}
	if len(val) > maxValue {
		s.errs.Add(1)
		return fmt.Errorf("redisstore: set: value of %d bytes exceeds %d", len(val), maxValue)
	}
	b := s.encode(val, time.Now())
	ms := (ttl + time.Millisecond - 1) / time.Millisecond
	err := s.do(ctx, func(ctx context.Context) error {
		return s.c.Process(ctx, redis.NewStatusCmd(ctx, "set", s.key(k), b, "px", int64(ms)))
	})
	if err != nil {
		return fmt.Errorf("redisstore: set: %w", err)
	}
	return nil
}

// Delete removes k.
func (s *Store) Delete(ctx context.Context, k cache.Key) error {
	err := s.do(ctx, func(ctx context.Context) error { return s.c.Del(ctx, s.key(k)).Err() })
	if err != nil {
		return fmt.Errorf("redisstore: delete: %w", err)
	}
	return nil
}

// Close closes the connections. Calls after it fail with ErrClosed.
func (s *Store) Close() error {
	if s.closed.Swap(true) {
		return nil
	}
	// The codecs stay open: a call still in flight may be decoding, and used only through
	// EncodeAll and DecodeAll they hold no goroutines, so the collector frees them.
	if err := s.c.Close(); err != nil {
		return fmt.Errorf("redisstore: close: %w", err)
	}
	return nil
}

// Stats are the store's counters for /metrics.
type Stats struct {
	Hits, Misses int64
	// Errors counts every call that returned an error; Rejected (failed fast while backing
	// off) and Corrupt (undecodable values) are among them.
	Errors, Rejected, Corrupt int64
	// Down is true while calls fail fast.
	Down bool
}

// Stats reports the counters.
func (s *Store) Stats() Stats {
	return Stats{
		Hits: s.hits.Load(), Misses: s.misses.Load(),
		Errors: s.errs.Load(), Rejected: s.rejected.Load(), Corrupt: s.corrupt.Load(),
		Down: s.br.down.Load(),
	}
}

// do runs one round trip through the breaker. The caller's own cancellation says nothing
// about the server, so it neither trips nor resets the breaker.
func (s *Store) do(ctx context.Context, call func(context.Context) error) error {
	if err := ctx.Err(); err != nil {
		s.errs.Add(1)
		return err
	}
	if s.closed.Load() {
		s.errs.Add(1)
		return ErrClosed
	}
	probe, ok := s.br.allow(time.Now())
	if !ok {
		s.errs.Add(1)
		s.rejected.Add(1)
		return ErrUnavailable
	}
	err := call(ctx)
	switch {
	case err == nil:
		s.br.succeeded(probe)
		return nil
	case callerGaveUp(ctx):
		s.br.released(probe)
	case serverReplied(err):
		// An error reply (OOM, WRONGTYPE, NOAUTH...) means the server is there.
		s.br.succeeded(probe)
	default:
		s.br.failed(probe, time.Now())
	}
	s.errs.Add(1)
	return err
}

// callerGaveUp reports whether ctx ended the call. Its deadline counts as soon as it has
// passed: the socket deadline it set may fire a moment before ctx's own timer.
func callerGaveUp(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	d, ok := ctx.Deadline()
	return ok && !time.Now().Before(d)
}

// serverReplied reports whether err is an error reply rather than a failure to reach the
// server.
func serverReplied(err error) bool {
	var re redis.Error
	return errors.As(err, &re) && !errors.Is(err, redis.ErrClosed)
}

func (s *Store) encode(val []byte, now time.Time) []byte {
	var flags byte
	b := make([]byte, headerLen, headerLen+len(val))
	if len(val) >= s.cfg.CompressAbove {
		c := s.enc.EncodeAll(val, b)
		if len(c)-headerLen < len(val) {
			b, flags = c, flagCompressed
		}
	}
	if flags == 0 {
		b = append(b[:headerLen], val...)
	}
	b[0], b[1] = formatV1, flags
	binary.BigEndian.PutUint64(b[2:], uint64(now.UnixNano()))
	binary.BigEndian.PutUint32(b[10:], uint32(len(val)))
	return b
}

// decode checks a stored value and returns the value and when it was stored. The value
// returned does not alias b's header, but may share b's memory, which the caller owns.
func (s *Store) decode(b []byte) ([]byte, time.Time, error) {
	if len(b) < headerLen {
		return nil, time.Time{}, fmt.Errorf("stored value of %d bytes is shorter than the header", len(b))
	}
	if b[0] != formatV1 {
		return nil, time.Time{}, fmt.Errorf("unknown format version %d", b[0])
	}
	flags := b[1]
	if flags&^knownFlags != 0 {
		return nil, time.Time{}, fmt.Errorf("unknown flags %#x", flags)
	}
	stored := time.Unix(0, int64(binary.BigEndian.Uint64(b[2:])))
	n := int(binary.BigEndian.Uint32(b[10:]))
	payload := b[headerLen:]
	if flags&flagCompressed == 0 {
		if len(payload) != n {
			return nil, time.Time{}, fmt.Errorf("value of %d bytes, header says %d", len(payload), n)
		}
		return payload, stored, nil
	}
	val, err := s.dec.DecodeAll(payload, nil)
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("decompress: %w", err)
	}
	if len(val) != n {
		return nil, time.Time{}, fmt.Errorf("decompressed %d bytes, header says %d", len(val), n)
	}
	return val, stored, nil
}

// breaker keeps calls off a server that just failed: after a failure every call fails fast
// until the backoff has passed, then one call (the probe) tries the server; its failure
// doubles the backoff, its success closes the breaker.
type breaker struct {
	min, max time.Duration
	// down is read without the lock, so a healthy server costs each call one atomic load.
	down atomic.Bool

	mu      sync.Mutex
	until   time.Time
	backoff time.Duration
	probing bool
}

// allow says whether a call may go to the server, and whether it is the probe.
func (b *breaker) allow(now time.Time) (probe, ok bool) {
	if !b.down.Load() {
		return false, true
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if !b.down.Load() {
		return false, true
	}
	if b.probing || now.Before(b.until) {
		return false, false
	}
	b.probing = true
	return true, true
}

func (b *breaker) succeeded(probe bool) {
	if !probe {
		// A call that started before the breaker opened proves little: only the probe
		// closes it.
		return
	}
	b.mu.Lock()
	b.probing, b.backoff = false, 0
	b.down.Store(false)
	b.mu.Unlock()
}

func (b *breaker) failed(probe bool, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case !b.down.Load():
		b.backoff = b.min
	case probe:
		b.backoff = min(2*b.backoff, b.max)
	default:
		// Calls in flight when the server went down fail together; they count once.
		return
	}
	b.probing = false
	b.until = now.Add(b.backoff)
	b.down.Store(true)
}

// released ends a probe that told nothing (its caller gave up), so the next call probes.
func (b *breaker) released(probe bool) {
	if !probe {
		return
	}
	b.mu.Lock()
	b.probing = false
	b.mu.Unlock()
}

// SetLogger sends the client library's own messages (a reconnect that failed, a pool
// problem) to l at debug level instead of stderr: the store reports what matters through its
// errors and Stats, and a node's log stays in one format. The library's logger is global,
// so the last call wins.
func SetLogger(l *slog.Logger) { redis.SetLogger(slogPrintf{l}) }

type slogPrintf struct{ l *slog.Logger }

func (s slogPrintf) Printf(ctx context.Context, format string, v ...any) {
	s.l.DebugContext(ctx, "redisstore: "+fmt.Sprintf(format, v...))
}
