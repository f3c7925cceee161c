package route

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/config"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
)

// scripted is a provider that answers from a script keyed by upstream model id.
type scripted struct {
	name  string
	mu    sync.Mutex
	fails map[string]error
	delay time.Duration
	calls []string
	drops []llm.ParamSet
}

func (s *scripted) Name() string        { return s.name }
func (s *scripted) DisplayName() string { return strings.ToUpper(s.name) }
func (s *scripted) Chat(ctx context.Context, req *llm.Request, t provider.Target) (*llm.Response, error) {
	s.mu.Lock()
	s.calls = append(s.calls, s.name+":"+t.Model)
	s.drops = append(s.drops, t.Drop)
	err := s.fails[t.Model]
	delay := s.delay
	s.mu.Unlock()
	if delay > 0 {
		// Like a real adapter, the call is bounded by the target's timeout (the router's
		// first-byte deadline for a non-streamed call) and answers 408 when it passes.
		var timeout <-chan time.Time
		if t.Timeout > 0 {
			timeout = time.After(t.Timeout)
		}
		select {
		case <-time.After(delay):
		case <-timeout:
			return nil, &llm.Error{Status: http.StatusRequestTimeout, Type: llm.TypeTimeout, Message: "upstream did not answer in time"}
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
	if err != nil {
		return nil, err
	}
	return &llm.Response{Body: []byte(`{"choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}],"usage":{"completion_tokens":5}}`)}, nil
}

func (s *scripted) setFail(model string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.fails == nil {
		s.fails = map[string]error{}
	}
	s.fails[model] = err
}

func (s *scripted) callList() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func noEnv(string) (string, bool) { return "", false }

// testCatalog builds a catalog from YAML providers with the embedded default catalog
// left out, so tests see only what they declare.
func testCatalog(t testing.TB, yaml string) *catalog.Catalog {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), noEnv)
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Build(cfg, catalog.Options{Defaults: []byte("updated: 2026-01-01\n"), Created: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	return cat
}

func testRouter(t testing.TB, cat *catalog.Catalog, o Options, provs ...*scripted) *Router {
	t.Helper()
	o.Catalog = cat
	o.Providers = map[string]provider.Provider{}
	for _, p := range provs {
		o.Providers[p.name] = p
	}
	if o.Health == nil {
		o.Health = health.NewRegistry(health.Config{})
	}
	r, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

const twoProviders = `
providers:
  - {name: a, base_url: "http://a", models: [{id: a/one, upstream_id: one}, {id: a/two, upstream_id: two}]}
  - {name: b, base_url: "http://b", models: [{id: b/three, upstream_id: three}]}
`

func TestServeFallbacks(t *testing.T) {
	e429 := &llm.Error{Status: http.StatusTooManyRequests, RetryAfter: "7", Message: "slow down"}
	e502 := &llm.Error{Status: http.StatusBadGateway, Message: "bad gateway"}
	e400 := &llm.Error{Status: http.StatusBadRequest, Message: "context too long"}
	tests := []struct {
		name      string
		model     string
		models    []string
		fails     map[string]error
		wantModel string
		wantCalls string
		wantErr   int
		attempts  int
	}{
		{"first endpoint answers", "a/one", nil, nil, "a/one", "a:one", 0, 0},
		{"fallback list after 429", "a/one", []string{"b/three"}, map[string]error{"one": e429}, "b/three", "a:one b:three", 0, 0},
		{"fallback list after 5xx", "a/one", []string{"a/two"}, map[string]error{"one": e502}, "a/two", "a:one a:two", 0, 0},
		{"client errors stop the search", "a/one", []string{"b/three"}, map[string]error{"one": e400}, "", "a:one", 400, 1},
		{"unknown primary falls to the list", "x/unknown", []string{"b/three"}, nil, "b/three", "b:three", 0, 0},
		{"models only", "", []string{"a/two"}, nil, "a/two", "a:two", 0, 0},
		{"all fail reports every attempt", "a/one", []string{"b/three"}, map[string]error{"one": e429, "three": e502}, "", "a:one b:three", 502, 2},
		{"all rate limited stays 429", "a/one", []string{"a/two"}, map[string]error{"one": e429, "two": e429}, "", "a:one a:two", 429, 2},
		{"unknown everywhere is 404", "x/y", []string{"z/w"}, nil, "", "", 404, 0},
		{"duplicate in list not retried", "a/one", []string{"a/one"}, map[string]error{"one": e502}, "", "a:one", 502, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &scripted{name: "a", fails: tt.fails}
			b := &scripted{name: "b", fails: tt.fails}
			r := testRouter(t, testCatalog(t, twoProviders), Options{}, a, b)
			resp, err := r.Serve(context.Background(), &llm.Request{Model: tt.model, Models: tt.models, Received: time.Now()})
			calls := strings.TrimSpace(strings.Join(append(a.callList(), b.callList()...), " "))
			if calls != tt.wantCalls {
				t.Fatalf("calls = %q, want %q", calls, tt.wantCalls)
			}
			if tt.wantErr != 0 {
				var e *llm.Error
				if !errors.As(err, &e) || e.Status != tt.wantErr {
					t.Fatalf("err = %v, want status %d", err, tt.wantErr)
				}
				if len(e.Attempts) != tt.attempts {
					t.Fatalf("attempts = %+v, want %d", e.Attempts, tt.attempts)
				}
				if tt.wantErr == 429 && e.RetryAfter != "7" {
					t.Fatalf("Retry-After = %q", e.RetryAfter)
				}
				return
			}
			if err != nil || resp.Model != tt.wantModel || resp.Provider == "" {
				t.Fatalf("Serve = %+v, %v; want model %s", resp, err, tt.wantModel)
			}
			if !strings.HasSuffix(resp.Route, "=200") || strings.Count(resp.Route, "=") != len(strings.Fields(tt.wantCalls)) {
				t.Fatalf("route header %q does not show the %d attempts", resp.Route, len(strings.Fields(tt.wantCalls)))
			}
			resp.Close()
		})
	}
}

func TestServeStopsWhenCallerLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a := &scripted{name: "a", fails: map[string]error{"one": context.Canceled}}
	b := &scripted{name: "b"}
	r := testRouter(t, testCatalog(t, twoProviders), Options{}, a, b)
	cancel()
	if _, err := r.Serve(ctx, &llm.Request{Model: "a/one", Models: []string{"b/three"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(b.callList()) != 0 {
		t.Fatal("tried another provider for a caller that left")
	}
}

func TestNewRejectsUnknownProvider(t *testing.T) {
	cat := testCatalog(t, `providers: [{name: a, base_url: "http://a", models: [{id: a/one}]}]`)
	if _, err := New(Options{Catalog: cat, Providers: map[string]provider.Provider{}}); err == nil {
		t.Fatal("router built over a provider that does not exist")
	}
}

// manyProviders is one model served by five providers that differ in price, data policy,
// quantization and supported parameters.
const manyProviders = `
providers:
  - name: cheap
    base_url: "http://cheap"
    data_policy: {retains: true, trains: true}
    models: [{id: m/x, upstream_id: x, quantization: fp8, pricing: {prompt: 1, completion: 1}, supported_parameters: [temperature, tools]}]
  - name: mid
    base_url: "http://mid"
    models: [{id: m/x, upstream_id: x, quantization: bf16, pricing: {prompt: 2, completion: 2}, supported_parameters: [temperature, top_k, tools, response_format, structured_outputs]}]
  - name: pricey
    base_url: "http://pricey"
    data_policy: {retains: true}
    models: [{id: m/x, upstream_id: x, pricing: {prompt: 3, completion: 3}, max_completion_tokens: 1000}]
  - name: notools
    base_url: "http://notools"
    models: [{id: m/x, upstream_id: x, quantization: fp8, pricing: {prompt: 0.5, completion: 0.5}, supported_parameters: [temperature]}]
  - name: other
    base_url: "http://other"
    models: [{id: m/y, upstream_id: y, pricing: {prompt: 0.1, completion: 0.1}}]
`

func manyRouter(t testing.TB) (*Router, []*scripted) {
	var ps []*scripted
	for _, n := range []string{"cheap", "mid", "pricey", "notools", "other"} {
		ps = append(ps, &scripted{name: n})
	}
	return testRouter(t, testCatalog(t, manyProviders), Options{}, ps...), ps
}

// order runs a routing decision and returns the providers in the order they would be tried.
func order(t *testing.T, r *Router, req *llm.Request) ([]string, *llm.Error) {
	t.Helper()
	p := &plan{}
	p.reset()
	p.now = time.Now().UnixNano()
	if err := ParsePrefs(&p.prefs, req.Provider, req.Route); err != nil {
		return nil, err
	}
	if err := r.decide(p, req); err != nil {
		return nil, err
	}
	var out []string
	for _, c := range p.cands {
		out = append(out, c.Endpoint.Provider)
	}
	return out, nil
}

func TestDecide(t *testing.T) {
	tools := llm.ParamSet(0).With(llm.ParamTools)
	topK := llm.ParamSet(0).With(llm.ParamTopK)
	tests := []struct {
		name     string
		model    string
		models   []string
		provider string
		params   llm.ParamSet
		maxTok   int
		want     string // providers in order; "*" = any order of the listed set
		wantErr  string // a substring of the error, with its param after "|"
	}{
		{"sort price", "m/x", nil, `{"sort":"price"}`, 0, 0, "notools cheap mid pricey", ""},
		{"floor variant sorts by price", "m/x:floor", nil, ``, 0, 0, "notools cheap mid pricey", ""},
		{"order first, rest by price", "m/x", nil, `{"order":["pricey","MID"]}`, 0, 0, "pricey mid notools cheap", ""},
		{"order without fallbacks", "m/x", nil, `{"order":["pricey","mid"],"allow_fallbacks":false}`, 0, 0, "pricey mid", ""},
		{"only", "m/x", nil, `{"only":["mid","cheap"],"sort":"price"}`, 0, 0, "cheap mid", ""},
		{"ignore", "m/x", nil, `{"ignore":["cheap","notools"],"sort":"price"}`, 0, 0, "mid pricey", ""},
		{"data collection deny", "m/x", nil, `{"data_collection":"deny","sort":"price"}`, 0, 0, "notools mid", ""},
		{"zdr", "m/x", nil, `{"zdr":true,"sort":"price"}`, 0, 0, "notools mid", ""},
		{"quantizations", "m/x", nil, `{"quantizations":["fp8"],"sort":"price"}`, 0, 0, "notools cheap", ""},
		{"quantization unknown", "m/x", nil, `{"quantizations":["unknown"]}`, 0, 0, "pricey", ""},
		{"max price prompt", "m/x", nil, `{"max_price":{"prompt":1.5},"sort":"price"}`, 0, 0, "notools cheap", ""},
		{"max price completion", "m/x", nil, `{"max_price":{"completion":2},"sort":"price"}`, 0, 0, "notools cheap mid", ""},
		{"tools need tool support", "m/x", nil, `{"sort":"price"}`, tools, 0, "cheap mid pricey", ""},
		{"require parameters", "m/x", nil, `{"require_parameters":true,"sort":"price"}`, topK, 0, "mid pricey", ""},
		{"unsupported params demote nothing without require", "m/x", nil, `{"sort":"price"}`, topK, 0, "notools cheap mid pricey", ""},
		{"max_tokens above a limit", "m/x", nil, `{"sort":"price"}`, 0, 2000, "notools cheap mid", ""},
		{"partition model keeps model order", "m/x", []string{"m/y"}, `{"sort":"price"}`, 0, 0, "notools cheap mid pricey other", ""},
		{"partition none sorts globally", "m/x", []string{"m/y"}, `{"sort":{"by":"price","partition":"none"}}`, 0, 0, "other notools cheap mid pricey", ""},
		{"legacy route fallback keeps model order", "m/x", []string{"m/y"}, `{"sort":"price"}`, 0, 0, "notools cheap mid pricey other", ""},
		{"load balancing keeps everyone", "m/x", nil, ``, 0, 0, "* cheap mid notools pricey", ""},
		{"nothing left names the filters", "m/x", nil, `{"only":["cheap"],"max_price":{"prompt":0.1}}`, 0, 0, "", "provider.only|provider"},
		{"no tool support", "m/y", nil, ``, 0, 0, "other", ""},
		{"unknown model", "m/zzz", nil, ``, 0, 0, "", "is not served|model"},
		{"unknown variant", "m/x:extended", nil, ``, 0, 0, "", "is not served|model"},
		{"bad sort", "m/x", nil, `{"sort":"fastest"}`, 0, 0, "", "must be|provider.sort"},
		{"bad partition", "m/x", nil, `{"sort":{"by":"price","partition":"x"}}`, 0, 0, "", "partition|provider.sort.partition"},
		{"unknown field", "m/x", nil, `{"orderr":["a"]}`, 0, 0, "", "not a provider preference|provider.orderr"},
		{"wrong type", "m/x", nil, `{"order":"a"}`, 0, 0, "", "array of strings|provider.order"},
		{"wrong element type", "m/x", nil, `{"only":[1]}`, 0, 0, "", "a string|provider.only[0]"},
		{"bad quantization", "m/x", nil, `{"quantizations":["fp7"]}`, 0, 0, "", "must be one of|provider.quantizations[0]"},
		{"bad data collection", "m/x", nil, `{"data_collection":"maybe"}`, 0, 0, "", "allow|provider.data_collection"},
		{"negative max price", "m/x", nil, `{"max_price":{"prompt":-1}}`, 0, 0, "", "non-negative|provider.max_price.prompt"},
		{"unknown max price field", "m/x", nil, `{"max_price":{"tokens":1}}`, 0, 0, "", "takes|provider.max_price.tokens"},
		{"bad latency pref", "m/x", nil, `{"preferred_max_latency":"fast"}`, 0, 0, "", "number|provider.preferred_max_latency"},
		{"bad percentile", "m/x", nil, `{"preferred_min_throughput":{"p95":3}}`, 0, 0, "", "p50|provider.preferred_min_throughput.p95"},
		{"allow_fallbacks type", "m/x", nil, `{"allow_fallbacks":"no"}`, 0, 0, "", "boolean|provider.allow_fallbacks"},
	}
	r, _ := manyRouter(t)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := &llm.Request{Model: tt.model, Models: tt.models, Params: tt.params, MaxTokens: tt.maxTok}
			if tt.provider != "" {
				req.Provider = []byte(tt.provider)
			}
			if tt.name == "legacy route fallback keeps model order" {
				req.Route = "fallback"
			}
			got, err := order(t, r, req)
			if tt.wantErr != "" {
				msg, param, _ := strings.Cut(tt.wantErr, "|")
				if err == nil || !strings.Contains(err.Message, msg) || err.Param != param {
					t.Fatalf("err = %+v, want %q naming %q", err, msg, param)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v", err)
			}
			want := strings.Fields(tt.want)
			if len(want) > 0 && want[0] == "*" {
				slices.Sort(got)
				want = want[1:]
			}
			if !slices.Equal(got, want) {
				t.Fatalf("order = %v, want %v", got, want)
			}
		})
	}
}

func TestDroppedParams(t *testing.T) {
	r, ps := manyRouter(t)
	req := &llm.Request{Model: "m/x", Provider: []byte(`{"order":["notools"],"allow_fallbacks":false}`),
		Params: llm.ParamSet(0).With(llm.ParamTopK).With(llm.ParamTemperature), Received: time.Now()}
	resp, err := r.Serve(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if resp.Dropped != llm.ParamSet(0).With(llm.ParamTopK) || ps[3].drops[0] != resp.Dropped {
		t.Fatalf("dropped %v, sent with drop %v; want top_k only", resp.Dropped.Names(), ps[3].drops[0].Names())
	}
}

// TestLoadBalancingWeights checks OpenRouter's inverse-square weighting: at $1 vs $3 the
// cheaper endpoint goes first nine times as often.
func TestLoadBalancingWeights(t *testing.T) {
	cat := testCatalog(t, `
providers:
  - {name: a, base_url: "http://a", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
  - {name: c, base_url: "http://c", models: [{id: m/x, pricing: {prompt: 3, completion: 3}}]}
`)
	r := testRouter(t, cat, Options{}, &scripted{name: "a"}, &scripted{name: "c"})
	first := map[string]int{}
	const n = 20000
	for range n {
		got, err := order(t, r, &llm.Request{Model: "m/x"})
		if err != nil {
			t.Fatal(err)
		}
		first[got[0]]++
	}
	share := float64(first["a"]) / n
	if share < 0.88 || share > 0.92 {
		t.Fatalf("cheap endpoint first in %.3f of decisions, want 0.9", share)
	}
}

// TestHardFiltersProperty: whatever the preferences, every candidate satisfies every
// hard filter, and no endpoint that satisfies them all is left out.
func TestHardFiltersProperty(t *testing.T) {
	r, _ := manyRouter(t)
	slugs := []string{"cheap", "mid", "pricey", "notools", "other"}
	quants := []string{"fp8", "bf16", "unknown"}
	rnd := newRand(1)
	for i := range 3000 {
		pick := func(from []string) []string {
			var out []string
			for _, s := range from {
				if rnd.IntN(3) == 0 {
					out = append(out, s)
				}
			}
			return out
		}
		only, ignore, qs := pick(slugs), pick(slugs), pick(quants)
		maxPrompt := []float64{-1, 0.4, 1, 2.5, 10}[rnd.IntN(5)]
		deny, zdr, require := rnd.IntN(2) == 0, rnd.IntN(4) == 0, rnd.IntN(2) == 0
		params := llm.ParamSet(rnd.Uint64()) & (llm.ParamSet(0).With(llm.ParamTools).With(llm.ParamTopK).With(llm.ParamTemperature))
		body := fmt.Sprintf(`{"only":%s,"ignore":%s,"quantizations":%s,"data_collection":%q,"zdr":%v,"require_parameters":%v`,
			jsonList(only), jsonList(ignore), jsonList(qs), map[bool]string{true: "deny", false: "allow"}[deny], zdr, require)
		if maxPrompt >= 0 {
			body += fmt.Sprintf(`,"max_price":{"prompt":%g}`, maxPrompt)
		}
		body += "}"
		req := &llm.Request{Model: "m/x", Models: []string{"m/y"}, Provider: []byte(body), Params: params}
		got, err := order(t, r, req)
		ok := func(ep *catalog.Endpoint) bool {
			in := func(l []string, s string) bool { return slices.Contains(l, s) }
			q := ep.Quantization
			if q == "" {
				q = "unknown"
			}
			missing := params &^ ep.Params
			return (len(only) == 0 || in(only, ep.Provider)) && !in(ignore, ep.Provider) &&
				(len(qs) == 0 || in(qs, q)) && !(deny && (ep.Retains || ep.Trains)) && !(zdr && ep.Retains) &&
				(maxPrompt < 0 || ep.Pricing.Prompt <= maxPrompt/1e6) && !missing.Has(llm.ParamTools) &&
				!(require && missing != 0)
		}
		var want []string
		for _, ep := range r.cat.Endpoints() {
			if ok(ep) {
				want = append(want, ep.Provider)
			}
		}
		if len(want) == 0 {
			if err == nil || err.Status != http.StatusNotFound {
				t.Fatalf("case %d %s: nothing satisfies the filters, got %v, %v", i, body, got, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("case %d %s: %v", i, body, err)
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("case %d %s: candidates %v, want exactly %v", i, body, got, want)
		}
	}
}

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed)) }

func jsonList(l []string) string {
	if len(l) == 0 {
		return "[]"
	}
	return `["` + strings.Join(l, `","`) + `"]`
}

func TestHealthDemotes(t *testing.T) {
	cat := testCatalog(t, `
providers:
  - {name: a, base_url: "http://a", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
  - {name: b, base_url: "http://b", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
  - {name: c, base_url: "http://c", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
`)
	reg := health.NewRegistry(health.Config{FailuresToOpen: 3, Cooldown: time.Minute})
	r := testRouter(t, cat, Options{Health: reg, LatencyOutlier: 3}, &scripted{name: "a"}, &scripted{name: "b"}, &scripted{name: "c"})
	now := time.Now().UnixNano()
	// a: breaker open. b: degraded (failures in the window, breaker still closed). c: healthy.
	for range 3 {
		reg.Get("m/x@a").Fail(now, health.Failure, 0)
	}
	hb := reg.Get("m/x@b")
	for range 2 {
		hb.Fail(now, health.Failure, 0)
		hb.FirstByte(now, time.Millisecond)
	}
	hb.Fail(now, health.Failure, 0)
	for range 50 {
		got, err := order(t, r, &llm.Request{Model: "m/x"})
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, []string{"c", "b"}) {
			t.Fatalf("order = %v, want healthy c, then degraded b, and open a left out", got)
		}
	}
}

func TestLatencyOutlierLeavesFirstPick(t *testing.T) {
	cat := testCatalog(t, `
providers:
  - {name: fast, base_url: "http://a", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
  - {name: slow, base_url: "http://b", models: [{id: m/x, pricing: {prompt: 1, completion: 1}}]}
`)
	reg := health.NewRegistry(health.Config{})
	r := testRouter(t, cat, Options{Health: reg, LatencyOutlier: 3}, &scripted{name: "fast"}, &scripted{name: "slow"})
	now := time.Now().UnixNano()
	reg.Get("m/x@fast").FirstByte(now, 100*time.Millisecond)
	reg.Get("m/x@slow").FirstByte(now, 2*time.Second)
	for range 50 {
		got, _ := order(t, r, &llm.Request{Model: "m/x"})
		if got[0] != "fast" {
			t.Fatalf("order = %v, want the slow endpoint after the fast one", got)
		}
	}
	// An explicit latency preference reorders the same way, and never excludes.
	got, _ := order(t, r, &llm.Request{Model: "m/x", Provider: []byte(`{"sort":"price","preferred_max_latency":1}`)})
	if !slices.Equal(got, []string{"fast", "slow"}) {
		t.Fatalf("preferred_max_latency order = %v", got)
	}
	got, _ = order(t, r, &llm.Request{Model: "m/x:nitro"})
	if len(got) != 2 {
		t.Fatalf("nitro order = %v", got)
	}
}
