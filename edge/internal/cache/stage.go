package cache

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/glob"
	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
	"github.com/crossroads-llm/crossroads/edge/internal/sse"
)

// Config builds the node's cache: its stores and counters, which outlive configuration
// reloads (a reload must not empty the cache).
type Config struct {
	// L1 is the in-process store; required.
	L1 *Memory
	// L2 is the store shared by the nodes of one PoP; nil when there is none. Its errors are
	// misses: a dead L2 slows nothing down and fails nothing.
	L2 Store
	// KeyMemory bounds the memory of request keys (the requests themselves, kept to
	// recognise repeats without canonicalising them again). Default 8 MiB.
	KeyMemory int64
	Log       *slog.Logger
}

// Cache is the node's prompt cache. Stage puts it in a request pipeline.
type Cache struct {
	l1      *Memory
	l2      atomic.Pointer[l2Store]
	flights *Flights
	memo    *memo
	log     *slog.Logger

	hits, misses, coalesced  atomic.Int64
	stored, l2Errors         atomic.Int64
	incomplete, tooLarge     atomic.Int64
	savedPrompt, savedOutput atomic.Int64
	savedMicroUSD            atomic.Int64 // USD × 1e6, summed without float races
}

// New returns a cache over cfg's stores.
func New(cfg Config) *Cache {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.KeyMemory <= 0 {
		cfg.KeyMemory = 8 << 20
	}
	c := &Cache{l1: cfg.L1, flights: NewFlights(), memo: newMemo(cfg.KeyMemory), log: cfg.Log}
	c.SetL2(cfg.L2)
	return c
}

type l2Store struct{ Store }

// SetL2 attaches the shared store (nil detaches it): a node whose L2 was unreachable at
// start serves from L1 alone until it connects.
func (c *Cache) SetL2(s Store) {
	if s == nil {
		c.l2.Store(nil)
		return
	}
	c.l2.Store(&l2Store{s})
}

// L2 returns the shared store, nil when there is none.
func (c *Cache) L2() Store {
	if b := c.l2.Load(); b != nil {
		return b.Store
	}
	return nil
}

// Mode is a rule's policy for the requests it matches.
type Mode int

const (
	// ModeAuto caches deterministic requests and those that opt in (the default).
	ModeAuto Mode = iota
	// ModeAlways caches every request, as if each opted in; a client can still opt out.
	ModeAlways
	// ModeOff never involves the cache.
	ModeOff
)

// Rule adjusts the policy for some models and callers; the first rule that matches a request
// applies.
type Rule struct {
	// Models are globs over resolved model ids; none matches every model.
	Models []string
	// Keys are caller API keys (the bearer token); none matches every caller.
	Keys []string
	Mode Mode
	// TTL replaces the default lifetime; 0 keeps it.
	TTL time.Duration
}

// StageConfig is the part of the cache's configuration a reload may change.
type StageConfig struct {
	// Resolve maps the model a request names to the id the cache keys it under (the
	// catalog's canonical id, with its variant); false leaves the request to the router.
	Resolve func(model string) (string, bool)
	Rules   []Rule
	// Shared puts every caller in one scope: entries are shared across API keys. Off,
	// each caller's credential is its own scope.
	Shared bool
	// TTL is the default lifetime of an entry; 0 means DefaultTTL.
	TTL time.Duration
	// MaxEntryBytes bounds a stored answer (its chunks together); larger answers are served
	// but not stored. Default 1 MiB.
	MaxEntryBytes int
	// Hold keeps what the rest of the chain uses alive while a shared upstream call outlives
	// the request that started it; it returns the release. Nil when nothing needs holding.
	Hold func() (release func())
}

// Stage returns the pipeline stage that answers from the cache, coalesces identical requests
// in flight onto one upstream call, and stores complete answers.
func (c *Cache) Stage(sc StageConfig) pipeline.Middleware {
	if sc.MaxEntryBytes <= 0 {
		sc.MaxEntryBytes = 1 << 20
	}
	if sc.Hold == nil {
		sc.Hold = func() func() { return func() {} }
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return &stage{c: c, cfg: sc, next: next}
	}
}

type stage struct {
	c    *Cache
	cfg  StageConfig
	next pipeline.Handler
}

// Serve answers req from the cache when it may, else through next.
func (s *stage) Serve(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	model, ok := s.cfg.Resolve(req.Model)
	if !ok {
		return s.next.Serve(ctx, req)
	}
	caller := credential(req.Header)
	rule := s.rule(model, caller)
	if rule.Mode == ModeOff {
		return s.next.Serve(ctx, req)
	}
	ttl := s.cfg.TTL
	if rule.TTL > 0 {
		ttl = rule.TTL
	}
	d, err := Decide(req.Deterministic, req.Header, Defaults{OptIn: rule.Mode == ModeAlways, TTL: ttl})
	if err != nil {
		return nil, err
	}
	if !d.Cacheable() {
		return s.next.Serve(ctx, req)
	}
	scope := ""
	if !s.cfg.Shared {
		scope = caller
	}
	k, err := s.c.memo.key(Inputs{Scope: scope, Model: model, Policy: policyOf(req)}, req.Body)
	if err != nil {
		// A body the decoder accepted but the canonicaliser refuses (duplicate keys): it is
		// answered, just not from or into the cache.
		s.c.log.Debug("cache: bypass", "err", err)
		return s.next.Serve(ctx, req)
	}
	if d.Clear {
		s.c.delete(ctx, k)
	}
	if d.Lookup {
		if resp, ok := s.c.lookup(ctx, k, req); ok {
			return resp, nil
		}
	} else if !d.Store {
		return s.next.Serve(ctx, req)
	}
	var f *Flight
	leader := true
	if d.Lookup {
		f, leader = s.c.flights.Join(k)
	} else {
		// no-cache: this caller wants a fresh answer, not one shared with a request already
		// in flight; its answer still refreshes the entry.
		f = s.c.flights.solo(k)
	}
	status := llm.CacheMiss
	if leader {
		s.c.misses.Add(1)
		s.fly(ctx, f, k, req, d)
	} else {
		s.c.coalesced.Add(1)
		status = llm.CacheCoalesced
	}
	return s.c.follow(ctx, f.Reader(), req, status)
}

func (s *stage) rule(model, caller string) Rule {
	for _, r := range s.cfg.Rules {
		if (len(r.Models) == 0 || glob.Any(r.Models, model)) && (len(r.Keys) == 0 || keyIn(r.Keys, caller)) {
			return r
		}
	}
	return Rule{}
}

func keyIn(keys []string, caller string) bool {
	tok, ok := strings.CutPrefix(caller, "Bearer ")
	if !ok {
		return false
	}
	for _, k := range keys {
		if k == tok {
			return true
		}
	}
	return false
}

// credential is the caller's identity for scoping: its Authorization header as sent. Until
// the node has accounts, the API key is the tenant; an anonymous caller shares the empty
// scope with other anonymous callers only.
func credential(h http.Header) string {
	if h == nil {
		return ""
	}
	return strings.TrimSpace(header(h, "Authorization"))
}

// policyOf is the part of a request that steers routing and so may change who answers: the
// provider preferences, the fallback list and the legacy route. The body's own copies are
// left out of the canonical body, so they count once, here.
func policyOf(req *llm.Request) []byte {
	if req.Provider == nil && len(req.Models) == 0 && req.Route == "" {
		return nil
	}
	b := []byte(`{"provider":`)
	if req.Provider != nil {
		b = append(b, req.Provider...)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `,"models":[`...)
	for i, m := range req.Models {
		if i > 0 {
			b = append(b, ',')
		}
		b = jsonx.AppendString(b, m)
	}
	b = append(b, `],"route":`...)
	return append(jsonx.AppendString(b, req.Route), '}')
}

// fly makes the upstream call of a flight, detached from the caller's cancellation: if the
// caller leaves, the call goes on for the others (and, when the answer is to be stored, for
// the cache). A streamed call runs on a goroutine of its own, since the caller's relay stops
// reading when its client leaves; a non-streamed one runs here, on the caller's goroutine,
// which the HTTP server lets finish even after the client left.
func (s *stage) fly(ctx context.Context, f *Flight, k Key, req *llm.Request, d Decision) {
	fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	if !req.Stream {
		defer cancel()
		s.run(fctx, f, k, req, d)
		return
	}
	if !d.Store {
		f.OnAbandon(cancel)
	}
	// The HTTP layer reuses the body's buffer once a stream starts relaying.
	r := *req
	r.Body = bytes.Clone(req.Body)
	r.Header = req.Header.Clone()
	release := s.cfg.Hold()
	go func() {
		defer release()
		defer cancel()
		s.run(fctx, f, k, &r, d)
	}()
}

// errCut is a stream that ended before the generation finished; readers see io.EOF, as
// they would from the upstream itself.
var errCut = errors.New("cache: upstream stream ended early")

func (s *stage) run(ctx context.Context, f *Flight, k Key, req *llm.Request, d Decision) {
	resp, err := s.next.Serve(ctx, req)
	if err != nil {
		f.Finish(err)
		return
	}
	defer resp.Close()
	f.Begin(Head{Stream: resp.Stream != nil, Provider: resp.Provider, Model: resp.Model, Route: resp.Route,
		Dropped: resp.Dropped, Price: resp.Price})
	var ok bool
	size := 0
	if resp.Stream == nil {
		f.Append(resp.Body)
		size = len(resp.Body)
		fin, bad := inspect(resp.Body)
		ok = fin && !bad
	} else {
		var fin, bad bool
		for {
			ev, err := resp.Stream.Next()
			if err == io.EOF && fin {
				break // finished without [DONE]: as complete as the relay judges it
			}
			if err != nil {
				if err == io.EOF {
					err = errCut
				}
				f.Finish(err)
				return
			}
			if sse.IsDone(ev) {
				break
			}
			f2, b2 := inspect(ev)
			fin, bad = fin || f2, bad || b2
			size += len(ev)
			f.Append(ev)
		}
		ok = fin && !bad
	}
	switch {
	case !d.Store:
	case !ok:
		s.c.incomplete.Add(1)
	case size > s.cfg.MaxEntryBytes:
		s.c.tooLarge.Add(1)
	default:
		chunks, _, _ := f.Chunks()
		e := &Entry{Stream: resp.Stream != nil, Chunks: chunks, Provider: resp.Provider, Model: resp.Model,
			Price: resp.Price, Dropped: resp.Dropped, TTL: d.TTL}
		val := e.Marshal()
		// Stored before the flight ends, so a request arriving just after finds the entry
		// rather than starting a second upstream call.
		if err := s.c.l1.Set(ctx, k, val, d.TTL); err != nil {
			s.c.log.Warn("cache: store", "err", err)
		}
		s.c.stored.Add(1)
		f.Finish(nil)
		if l2 := s.c.L2(); l2 != nil {
			if err := l2.Set(ctx, k, val, d.TTL); err != nil {
				s.c.l2Errors.Add(1)
				s.c.log.Debug("cache: l2 store", "err", err)
			}
		}
		return
	}
	f.Finish(nil)
}

// inspect reads what decides whether an answer may be stored: a finish_reason (the
// generation ended), anything marking failure (an error member anywhere, finish_reason
// "error"), and that the object is well-formed. Members are found from their colons rather
// than by a parse, since a colon after a quoted name cannot be inside a JSON string (its
// quotes would be escaped): an IndexByte loop is several times faster than walking every
// value of a 2 KB answer, and counting every "error" member, wherever it is, can only ever
// skip a store, never make one.
func inspect(obj []byte) (finished, failed bool) {
	finished, failed = scanMembers(obj)
	return finished, failed || !jsonx.Valid(obj) || jsonx.KindOfValue(obj) != jsonx.KindObject
}

// scanMembers looks at every member by its colon.
func scanMembers(v []byte) (finished, failed bool) {
	for i := 0; ; i++ {
		j := bytes.IndexByte(v[i:], ':')
		if j < 0 {
			return finished, failed
		}
		i += j
		name := bytes.TrimRight(v[:i], " \t\r\n")
		val := bytes.TrimLeft(v[i+1:], " \t\r\n")
		switch {
		case bytes.HasSuffix(name, finishName):
			switch {
			case bytes.HasPrefix(val, errorReason):
				finished, failed = true, true
			case len(val) > 0 && val[0] == '"':
				finished = true
			}
		case bytes.HasSuffix(name, errorName):
			failed = failed || !bytes.HasPrefix(val, []byte("null"))
		}
	}
}

var (
	finishName  = []byte(`"finish_reason"`)
	errorName   = []byte(`"error"`)
	errorReason = []byte(`"error"`)
)

// lookup answers from L1, else L2 (copying the entry into L1 for the rest of its life).
// Store errors are misses.
func (c *Cache) lookup(ctx context.Context, k Key, req *llm.Request) (*llm.Response, bool) {
	val, age, ok, err := c.l1.Get(ctx, k)
	if err != nil {
		c.log.Warn("cache: lookup", "err", err)
	}
	fromL2 := false
	if l2 := c.L2(); !ok && l2 != nil {
		if val, age, ok, err = l2.Get(ctx, k); err != nil {
			c.l2Errors.Add(1)
			c.log.Debug("cache: l2 lookup", "err", err)
		}
		fromL2 = ok
	}
	if !ok {
		return nil, false
	}
	e, err := UnmarshalEntry(val)
	if err != nil {
		c.log.Warn("cache: unreadable entry dropped", "err", err)
		c.delete(ctx, k)
		return nil, false
	}
	if fromL2 && e.TTL > age {
		_ = c.l1.Set(ctx, k, val, e.TTL-age)
	}
	resp := &llm.Response{Provider: e.Provider, Model: e.Model, Dropped: e.Dropped, Price: e.Price,
		Cache: llm.CacheHit, Age: age}
	if err := answer(resp, req, e.Stream, e.Chunks); err != nil {
		c.log.Warn("cache: unusable entry dropped", "err", err)
		c.delete(ctx, k)
		return nil, false
	}
	c.hits.Add(1)
	return resp, true
}

// answer fills resp from a complete recording, converting between the stream and body forms
// when the request asks for the other one.
func answer(resp *llm.Response, req *llm.Request, stream bool, chunks [][]byte) error {
	switch {
	case req.Stream && stream:
		resp.Stream = &replay{chunks: chunks}
	case req.Stream:
		if len(chunks) != 1 {
			return fmt.Errorf("cache: body entry has %d parts", len(chunks))
		}
		cs, err := Synthesize(chunks[0])
		if err != nil {
			return err
		}
		resp.Stream = &replay{chunks: cs}
	case stream:
		body, err := Assemble(chunks)
		if err != nil {
			return err
		}
		resp.Body = body
	default:
		if len(chunks) != 1 {
			return fmt.Errorf("cache: body entry has %d parts", len(chunks))
		}
		resp.Body = chunks[0]
	}
	return nil
}

func (c *Cache) delete(ctx context.Context, k Key) {
	_ = c.l1.Delete(ctx, k)
	if l2 := c.L2(); l2 != nil {
		if err := l2.Delete(ctx, k); err != nil {
			c.l2Errors.Add(1)
		}
	}
}

// follow turns a flight into one request's response: the live chunks for a stream that
// reads a stream, else the finished recording, converted.
func (c *Cache) follow(ctx context.Context, r *FlightReader, req *llm.Request, status llm.CacheStatus) (*llm.Response, error) {
	h, err := r.Head(ctx)
	if err != nil {
		r.Close()
		return nil, flightError(err, "")
	}
	resp := &llm.Response{Provider: h.Provider, Model: h.Model, Route: h.Route, Dropped: h.Dropped, Price: h.Price,
		Cache: status}
	if req.Stream && h.Stream {
		resp.Stream = &flightStream{ctx: ctx, r: r}
		return resp, nil
	}
	defer r.Close()
	var chunks [][]byte
	for {
		ch, err := r.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, flightError(err, h.Provider)
		}
		chunks = append(chunks, ch)
	}
	if err := answer(resp, req, h.Stream, chunks); err != nil {
		return nil, &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: h.Provider,
			Message: "upstream " + h.Provider + " sent an answer the node could not convert", Err: err}
	}
	return resp, nil
}

// flightError is what a request that waited on a flight sees of its failure: the upstream's
// own error, as the leader got it.
func flightError(err error, provider string) error {
	if errors.Is(err, errCut) {
		return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: provider,
			Message: "upstream " + provider + " closed the stream before the generation finished"}
	}
	return err
}

// flightStream relays a flight's live chunks as an upstream stream.
type flightStream struct {
	ctx context.Context
	r   *FlightReader
}

var done = []byte("[DONE]")

func (s *flightStream) Next() ([]byte, error) {
	c, err := s.r.Next(s.ctx)
	switch {
	case err == io.EOF:
		return done, nil
	case errors.Is(err, errCut):
		return nil, io.EOF
	}
	return c, err
}

func (s *flightStream) Buffered() bool { return s.r.Buffered() }
func (s *flightStream) Close() error   { s.r.Close(); return nil }

// replay is a recorded stream played back: every chunk is already here, so the relay writes
// them in one go.
type replay struct {
	chunks [][]byte
	i      int
}

func (r *replay) Next() ([]byte, error) {
	if r.i >= len(r.chunks) {
		return done, nil
	}
	r.i++
	return r.chunks[r.i-1], nil
}

func (r *replay) Buffered() bool { return true }
func (r *replay) Close() error   { return nil }

// Saved counts what an answer the cache served would have cost: the node's usage sink calls
// it with each such answer's usage record.
func (c *Cache) Saved(u llm.Usage, usd float64) {
	c.savedPrompt.Add(u.PromptTokens)
	c.savedOutput.Add(u.CompletionTokens)
	if usd > 0 && !math.IsInf(usd, 0) {
		c.savedMicroUSD.Add(int64(math.Round(usd * 1e6)))
	}
}

// WriteMetrics writes the cache's series in the Prometheus text format.
func (c *Cache) WriteMetrics(w io.Writer) {
	st := c.l1.Stats()
	var b strings.Builder
	metric := func(name, help, typ string, rows ...string) {
		fmt.Fprintf(&b, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
		for _, r := range rows {
			b.WriteString(name + r + "\n")
		}
	}
	n := func(v int64) string { return fmt.Sprint(v) }
	metric("crossroads_cache_requests_total", "Cacheable requests by outcome: answered from the cache, shared with an identical request in flight, or sent upstream.", "counter",
		`{result="hit"} `+n(c.hits.Load()), `{result="coalesced"} `+n(c.coalesced.Load()), `{result="miss"} `+n(c.misses.Load()))
	metric("crossroads_cache_stores_total", "Answers stored.", "counter", " "+n(c.stored.Load()))
	metric("crossroads_cache_skipped_total", "Answers not stored, by reason.", "counter",
		`{reason="incomplete"} `+n(c.incomplete.Load()), `{reason="too_large"} `+n(c.tooLarge.Load()))
	metric("crossroads_cache_entries", "Entries in the in-process store.", "gauge", " "+n(int64(st.Entries)))
	metric("crossroads_cache_bytes", "Bytes the in-process store holds, compressed values and bookkeeping.", "gauge", " "+n(st.Bytes))
	metric("crossroads_cache_evictions_total", "Entries evicted from the in-process store by its byte budget.", "counter", " "+n(st.Evictions))
	metric("crossroads_cache_expired_total", "Entries found expired in the in-process store.", "counter", " "+n(st.Expired))
	metric("crossroads_cache_flights", "Upstream calls shared by identical requests, running.", "gauge", " "+n(int64(c.flights.InFlight())))
	metric("crossroads_cache_l2_errors_total", "Failed calls to the shared store (each one a miss).", "counter", " "+n(c.l2Errors.Load()))
	metric("crossroads_cache_saved_tokens_total", "Tokens the cache answered without an upstream call.", "counter",
		`{kind="prompt"} `+n(c.savedPrompt.Load()), `{kind="completion"} `+n(c.savedOutput.Load()))
	metric("crossroads_cache_saved_usd_total", "Upstream cost the cache saved, at the answering endpoint's list price.", "counter",
		fmt.Sprintf(" %.6f", float64(c.savedMicroUSD.Load())/1e6))
	_, _ = io.WriteString(w, b.String())
}
