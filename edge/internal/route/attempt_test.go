package route

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
)

const threeEqual = `
providers:
  - {name: a, base_url: "http://a", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
  - {name: b, base_url: "http://b", models: [{id: m/x, pricing: {prompt: 2, completion: 2}}]}
  - {name: c, base_url: "http://c", models: [{id: m/x, pricing: {prompt: 3, completion: 3}}]}
`

func TestFirstByteTimeoutFailsOver(t *testing.T) {
	a := &scripted{name: "a", delay: time.Second}
	b := &scripted{name: "b"}
	r := testRouter(t, testCatalog(t, threeEqual), Options{FirstByteTimeout: 50 * time.Millisecond}, a, b, &scripted{name: "c"})
	start := time.Now()
	resp, err := r.Serve(context.Background(), &llm.Request{Model: "m/x", Provider: []byte(`{"sort":"price"}`), Received: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if resp.Provider != "b" || resp.Route != "m/x@a=408, m/x@b=200" {
		t.Fatalf("served by %s via %q", resp.Provider, resp.Route)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("failover took %s, want about one first-byte timeout", d)
	}
}

func TestTotalTimeout(t *testing.T) {
	slow := func(n string) *scripted { return &scripted{name: n, delay: time.Second} }
	r := testRouter(t, testCatalog(t, threeEqual), Options{FirstByteTimeout: 80 * time.Millisecond, TotalTimeout: 120 * time.Millisecond},
		slow("a"), slow("b"), slow("c"))
	_, err := r.Serve(context.Background(), &llm.Request{Model: "m/x", Provider: []byte(`{"sort":"price"}`), Received: time.Now()})
	var e *llm.Error
	if !errors.As(err, &e) || e.Status != http.StatusRequestTimeout || len(e.Attempts) > 3 {
		t.Fatalf("err = %+v", err)
	}
}

func TestBreakerOpensAndProbes(t *testing.T) {
	a := &scripted{name: "a", fails: map[string]error{"m/x": &llm.Error{Status: 503, Message: "down"}}}
	reg := health.NewRegistry(health.Config{FailuresToOpen: 2, Cooldown: 100 * time.Millisecond})
	cat := testCatalog(t, `providers: [{name: a, base_url: "http://a", models: [{id: m/x}]}]`)
	r := testRouter(t, cat, Options{Health: reg}, a)
	serve := func() *llm.Error {
		_, err := r.Serve(context.Background(), &llm.Request{Model: "m/x", Received: time.Now()})
		var e *llm.Error
		errors.As(err, &e)
		return e
	}
	for i := range 2 {
		if e := serve(); e == nil || e.Status != 503 {
			t.Fatalf("attempt %d: %+v", i, e)
		}
	}
	// Open: fail fast without calling the upstream, with a Retry-After.
	e := serve()
	if e == nil || e.Status != http.StatusServiceUnavailable || e.RetryAfter == "" || len(a.callList()) != 2 {
		t.Fatalf("open breaker: %+v after %d calls", e, len(a.callList()))
	}
	time.Sleep(120 * time.Millisecond)
	a.setFail("m/x", nil)
	if e := serve(); e != nil {
		t.Fatalf("half-open probe: %+v", e)
	}
	if st := reg.Get("m/x@a").State(time.Now().UnixNano()); st != health.Closed {
		t.Fatalf("after a good probe the breaker is %s", st)
	}
}

func TestRetryAfterOpensBreaker(t *testing.T) {
	a := &scripted{name: "a", fails: map[string]error{"m/x": &llm.Error{Status: 429, RetryAfter: "30", Message: "slow down"}}}
	b := &scripted{name: "b"}
	reg := health.NewRegistry(health.Config{})
	cat := testCatalog(t, `
providers:
  - {name: a, base_url: "http://a", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
  - {name: b, base_url: "http://b", models: [{id: m/x, pricing: {prompt: 5, completion: 5}}]}
`)
	r := testRouter(t, cat, Options{Health: reg}, a, b)
	for range 5 {
		resp, err := r.Serve(context.Background(), &llm.Request{Model: "m/x", Provider: []byte(`{"sort":"price"}`), Received: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		resp.Close()
	}
	if n := len(a.callList()); n != 1 {
		t.Fatalf("a was called %d times; its Retry-After should have kept it out after the first", n)
	}
}

func TestStickyThroughFailureAndRecovery(t *testing.T) {
	cat := testCatalog(t, threeEqual)
	a, b, c := &scripted{name: "a"}, &scripted{name: "b"}, &scripted{name: "c"}
	reg := health.NewRegistry(health.Config{})
	r := testRouter(t, cat, Options{Health: reg, Sticky: NewSticky(100, time.Hour)}, a, b, c)
	serve := func(session string) string {
		t.Helper()
		resp, err := r.Serve(context.Background(), &llm.Request{Model: "m/x", SessionID: session, Received: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		resp.Close()
		return resp.Provider
	}
	first := serve("conv-1")
	for range 30 {
		if got := serve("conv-1"); got != first {
			t.Fatalf("conversation moved from %s to %s while healthy", first, got)
		}
	}
	// The pinned endpoint fails: the conversation moves, and stays on its new endpoint
	// after the old one recovers (its cache is the new one's now).
	pinned := map[string]*scripted{"a": a, "b": b, "c": c}[first]
	pinned.setFail("m/x", &llm.Error{Status: 502, Message: "down"})
	moved := serve("conv-1")
	if moved == first {
		t.Fatalf("stayed on failing %s", first)
	}
	pinned.setFail("m/x", nil)
	for range 10 {
		if got := serve("conv-1"); got != moved {
			t.Fatalf("after recovery the conversation went to %s, want it to stay on %s", got, moved)
		}
	}
	// Other conversations are load balanced independently: with inverse-square weights
	// some of 40 land elsewhere than one fixed endpoint.
	seen := map[string]bool{}
	for i := range 40 {
		seen[serve(string(rune('a'+i)))] = true
	}
	if len(seen) < 2 {
		t.Fatalf("40 sessions all went to %v", seen)
	}
}

func TestStickyKeys(t *testing.T) {
	s := NewSticky(10, time.Hour)
	k := func(r llm.Request) uint64 {
		v, ok := s.conversation(&r, "m/x")
		if !ok {
			return 0
		}
		return v
	}
	if k(llm.Request{}) != 0 {
		t.Fatal("a request without session, cache key or prompt got a sticky key")
	}
	if k(llm.Request{SessionID: "a"}) == k(llm.Request{PromptCacheKey: "a"}) {
		t.Fatal("session id and prompt_cache_key share a key space")
	}
	if k(llm.Request{SessionID: "a", PromptHash: 1}) != k(llm.Request{SessionID: "a", PromptHash: 2}) {
		t.Fatal("session_id must win over the prompt hash")
	}
	if k(llm.Request{PromptHash: 5}) == k(llm.Request{PromptHash: 6}) {
		t.Fatal("different conversations share a key")
	}
	now := time.Now().UnixNano()
	s.remember(1, "m/x@a", now)
	if got, ok := s.lookup(1, now+int64(time.Hour)); ok {
		t.Fatalf("pin outlived its TTL: %s", got)
	}
}

// gated answers when its context is cancelled (reporting it) or after delay.
type gated struct {
	name      string
	delay     time.Duration
	cancelled atomic.Int32
	calls     atomic.Int32
}

func (g *gated) Name() string        { return g.name }
func (g *gated) DisplayName() string { return g.name }
func (g *gated) Chat(ctx context.Context, req *llm.Request, t provider.Target) (*llm.Response, error) {
	g.calls.Add(1)
	select {
	case <-time.After(g.delay):
		return &llm.Response{Stream: &sliceStream{events: []string{`{"choices":[{"delta":{"content":"x"}}]}`, `{"choices":[],"usage":{"completion_tokens":1}}`, "[DONE]"}}}, nil
	case <-ctx.Done():
		g.cancelled.Add(1)
		return nil, ctx.Err()
	}
}

type sliceStream struct {
	events []string
	closed atomic.Bool
}

func (s *sliceStream) Next() ([]byte, error) {
	if len(s.events) == 0 {
		return nil, io.EOF
	}
	ev := s.events[0]
	s.events = s.events[1:]
	return []byte(ev), nil
}
func (s *sliceStream) Buffered() bool { return len(s.events) > 0 }
func (s *sliceStream) Close() error   { s.closed.Store(true); return nil }

func TestHedging(t *testing.T) {
	cat := testCatalog(t, threeEqual)
	tests := []struct {
		name       string
		delayA     time.Duration
		winner     string
		loserSeen  bool
		maxElapsed time.Duration
	}{
		{"slow first candidate loses to the hedge", 2 * time.Second, "b", true, 500 * time.Millisecond},
		{"fast first candidate wins before hedging", 5 * time.Millisecond, "a", false, 200 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &gated{name: "a", delay: tt.delayA}
			b := &gated{name: "b", delay: 20 * time.Millisecond}
			c := &gated{name: "c", delay: 20 * time.Millisecond}
			r, err := New(Options{Catalog: cat, Providers: map[string]provider.Provider{"a": a, "b": b, "c": c},
				Hedge: Hedge{Enabled: true, Delay: 50 * time.Millisecond}})
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			resp, err := r.Serve(context.Background(), &llm.Request{Model: "m/x", Stream: true, Provider: []byte(`{"sort":"price"}`), Received: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			if resp.Provider != tt.winner {
				t.Fatalf("winner %s, want %s", resp.Provider, tt.winner)
			}
			if ev, err := resp.Stream.Next(); err != nil || string(ev) == "[DONE]" {
				t.Fatalf("first event of the winner: %q, %v", ev, err)
			}
			resp.Close()
			if d := time.Since(start); d > tt.maxElapsed {
				t.Fatalf("took %s", d)
			}
			deadline := time.Now().Add(time.Second)
			for tt.loserSeen && a.cancelled.Load() == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
			if got := a.cancelled.Load() == 1; got != tt.loserSeen {
				t.Fatalf("loser cancelled = %v, want %v", got, tt.loserSeen)
			}
			if c.calls.Load() != 0 {
				t.Fatal("more than two attempts ran for one request")
			}
			if !tt.loserSeen && b.calls.Load() != 0 {
				t.Fatal("hedged although the first answered in time")
			}
		})
	}
}

func TestStreamFirstEventFailures(t *testing.T) {
	cat := testCatalog(t, `
providers:
  - {name: a, base_url: "http://a", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
  - {name: b, base_url: "http://b", models: [{id: m/x, pricing: {prompt: 2, completion: 2}}]}
`)
	tests := []struct {
		name   string
		events []string
		status int
	}{
		{"empty stream", []string{"[DONE]"}, 502},
		{"closed before any chunk", nil, 502},
		{"in-band error first", []string{`{"error":{"code":429,"message":"busy"}}`}, 429},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			st := &sliceStream{events: tt.events}
			a := providerFunc(func(context.Context, *llm.Request, provider.Target) (*llm.Response, error) {
				return &llm.Response{Stream: st}, nil
			})
			b := &gated{name: "b"}
			r, err := New(Options{Catalog: cat, Providers: map[string]provider.Provider{"a": a, "b": b}})
			if err != nil {
				t.Fatal(err)
			}
			resp, err := r.Serve(context.Background(), &llm.Request{Model: "m/x", Stream: true, Provider: []byte(`{"sort":"price"}`), Received: time.Now()})
			if err != nil {
				t.Fatal(err)
			}
			resp.Close()
			if resp.Provider != "b" || !st.closed.Load() {
				t.Fatalf("served by %s (route %s); failed stream closed: %v", resp.Provider, resp.Route, st.closed.Load())
			}
			if want := "m/x@a=" + itoa(tt.status) + ", m/x@b=200"; resp.Route != want {
				t.Fatalf("route %q, want %q", resp.Route, want)
			}
		})
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

type providerFunc func(context.Context, *llm.Request, provider.Target) (*llm.Response, error)

func (f providerFunc) Name() string        { return "a" }
func (f providerFunc) DisplayName() string { return "a" }
func (f providerFunc) Chat(ctx context.Context, req *llm.Request, t provider.Target) (*llm.Response, error) {
	return f(ctx, req, t)
}

func TestNonStreamBodyErrors(t *testing.T) {
	tests := []struct {
		name, body string
		fails      bool
	}{
		{"choices", `{"choices":[{"index":0}]}`, false},
		{"error only", `{"error":{"code":500,"message":"x"}}`, true},
		{"empty choices", `{"choices":[]}`, true},
		{"no choices", `{"id":"x"}`, true},
		{"truncated", `{"choices":[{"index":0,"message":{"content":"hel`, true},
		{"text about an error", `{"choices":[{"index":0,"message":{"content":"the \"error\" was mine"}}]}`, false},
		{"finish reason error", `{"choices":[{"index":0,"finish_reason":"error"}]}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := bodyError([]byte(tt.body), "p"); (err != nil) != tt.fails {
				t.Fatalf("bodyError = %v", err)
			}
		})
	}
}

type reverse struct{}

func (reverse) Rank(_ context.Context, _ *llm.Request, c []Candidate) []Candidate {
	out := make([]Candidate, 0, len(c))
	for i := len(c) - 1; i >= 0; i-- {
		if c[i].Endpoint.Provider != "b" {
			out = append(out, c[i])
		}
	}
	return out
}

func TestRankerExtensionPoint(t *testing.T) {
	a, b, c := &scripted{name: "a", fails: map[string]error{"m/x": &llm.Error{Status: 500}}}, &scripted{name: "b"}, &scripted{name: "c"}
	r := testRouter(t, testCatalog(t, threeEqual), Options{Rankers: []Ranker{reverse{}}}, a, b, c)
	resp, err := r.Serve(context.Background(), &llm.Request{Model: "m/x", Provider: []byte(`{"sort":"price"}`), Received: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	resp.Close()
	if resp.Route != "m/x@c=200" || len(b.callList()) != 0 {
		t.Fatalf("route %q; b called %d times", resp.Route, len(b.callList()))
	}
}

// probing is a scripted provider that also answers active probes.
type probing struct {
	*scripted
	up     atomic.Bool
	probes atomic.Int32
}

func (p *probing) Probe(ctx context.Context) error {
	p.probes.Add(1)
	if !p.up.Load() {
		return errors.New("down")
	}
	return nil
}

func TestActiveProbeClosesBreaker(t *testing.T) {
	cat := testCatalog(t, `
providers:
  - {name: a, base_url: "http://a", models: [{id: m/x}, {id: m/y}]}
`)
	a := &probing{scripted: &scripted{name: "a"}}
	reg := health.NewRegistry(health.Config{FailuresToOpen: 1, Cooldown: 20 * time.Millisecond})
	r, err := New(Options{Catalog: cat, Providers: map[string]provider.Provider{"a": a}, Health: reg})
	if err != nil {
		t.Fatal(err)
	}
	hx, hy := reg.Get("m/x@a"), reg.Get("m/y@a")
	hx.Fail(time.Now().UnixNano(), health.Failure, 0)
	hy.Fail(time.Now().UnixNano(), health.Failure, 0)
	r.ProbeOpen(context.Background(), time.Second) // still open: nothing to probe
	if a.probes.Load() != 0 {
		t.Fatal("probed an endpoint still in its open period")
	}
	time.Sleep(30 * time.Millisecond)
	r.ProbeOpen(context.Background(), time.Second) // half-open, provider down: reopen
	now := time.Now().UnixNano()
	if a.probes.Load() != 1 || hx.State(now) != health.Open || hy.State(now) != health.Open {
		t.Fatalf("probes %d, states %s %s: want one probe per provider and both reopened", a.probes.Load(), hx.State(now), hy.State(now))
	}
	time.Sleep(60 * time.Millisecond) // the doubled cooldown
	a.up.Store(true)
	r.ProbeOpen(context.Background(), time.Second)
	now = time.Now().UnixNano()
	if hx.State(now) != health.Closed || hy.State(now) != health.Closed {
		t.Fatalf("after a good probe: %s %s", hx.State(now), hy.State(now))
	}
	if len(a.callList()) != 0 {
		t.Fatal("probing sent chat requests")
	}
}
