package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
	"github.com/crossroads-llm/crossroads/edge"
)

// upstreams is a set of fake providers serving one model, each behind its own server.
type upstreams struct {
	names []string
	urls  map[string]string
	fakes map[string]*fakeupstream.Server
	hits  map[string]*atomic.Int64
}

// handlerFor wraps a fake upstream to count the chat requests it sees.
func (u *upstreams) add(t testing.TB, name string, h http.Handler, fake *fakeupstream.Server) {
	if u.urls == nil {
		u.urls, u.fakes, u.hits = map[string]string{}, map[string]*fakeupstream.Server{}, map[string]*atomic.Int64{}
	}
	n := &atomic.Int64{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/chat/completions") {
			n.Add(1)
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	if fake != nil {
		t.Cleanup(fake.Close)
	}
	u.names = append(u.names, name)
	u.urls[name], u.fakes[name], u.hits[name] = srv.URL, fake, n
}

func (u *upstreams) fake(t testing.TB, name string, fc fakeupstream.Config) {
	f := fakeupstream.New(fc)
	u.add(t, name, f, f)
}

// flaky fails rate of its requests, alternating 429, 500 and 503 in the provider's wire
// format, and serves the rest.
func (u *upstreams) flaky(t testing.TB, name string, every int, fails int, fc fakeupstream.Config) {
	ok := fakeupstream.New(fc)
	bad := []*fakeupstream.Server{
		fakeupstream.New(fakeupstream.Config{Fail: fakeupstream.Fail429, RetryAfter: "0"}),
		fakeupstream.New(fakeupstream.Config{Fail: fakeupstream.Fail500}),
		fakeupstream.New(fakeupstream.Config{Fail: fakeupstream.Fail503, RetryAfter: "0"}),
	}
	var n atomic.Int64
	u.add(t, name, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := n.Add(1)
		if strings.HasSuffix(r.URL.Path, "/chat/completions") && int(i%int64(every)) < fails {
			bad[i%3].ServeHTTP(w, r)
			return
		}
		ok.ServeHTTP(w, r)
	}), ok)
	for _, b := range bad {
		t.Cleanup(b.Close)
	}
}

// node starts a node whose providers are the upstreams, all serving "bench/model" at the
// same price unless prices says otherwise, with extra YAML appended.
func (u *upstreams) node(t testing.TB, extra string, prices map[string]float64) (*edge.Node, string) {
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\nlisten: {tls: off, plain: \"127.0.0.1:0\"}\nlog: {level: error}\nsim: {enabled: false}\n%s\nproviders:\n", t.TempDir(), extra)
	for _, n := range u.names {
		price := 1.0
		if p, ok := prices[n]; ok {
			price = p
		}
		fmt.Fprintf(&b, "  - {name: %s, base_url: %q, models: [{id: bench/model, upstream_id: gpt-4o-mini, pricing: {prompt: %g, completion: %g}, supported_parameters: [temperature, tools, max_tokens]}]}\n",
			n, u.urls[n]+"/v1", price, price)
	}
	cfg, err := edge.ParseConfig([]byte(b.String()), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	node, err := edge.New(cfg, edge.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	base := "http://" + node.PlainAddr().String()
	for i := 0; ; i++ {
		resp, err := http.Get(base + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if i > 100 {
			t.Fatal("node never became ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	return node, base
}

type routed struct {
	status   int
	provider string
	route    string
	dropped  string
	body     []byte
	hdr      http.Header
}

func chat(t testing.TB, c *http.Client, base, body string, hdr ...string) routed {
	req, _ := http.NewRequest(http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Errorf("POST: %v", err)
		return routed{}
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v struct {
		Provider string `json:"provider"`
	}
	_ = json.Unmarshal(b, &v)
	if resp.Header.Get("Content-Type") == "text/event-stream; charset=utf-8" {
		if i := strings.Index(string(b), `"provider":"`); i >= 0 {
			rest := string(b[i+12:])
			v.Provider = rest[:strings.IndexByte(rest, '"')]
		}
	}
	return routed{resp.StatusCode, v.Provider, resp.Header.Get("X-Crossroads-Route"), resp.Header.Get("X-Crossroads-Dropped-Params"), b, resp.Header}
}

const hello = `"messages":[{"role":"user","content":"hello"}]`

func TestFailoverCases(t *testing.T) {
	tests := []struct {
		name   string
		fc     fakeupstream.Config
		stream bool
		route  string
	}{
		{"429", fakeupstream.Config{Fail: fakeupstream.Fail429, RetryAfter: "0"}, false, "bench/model@bad=429, bench/model@good=200"},
		{"500", fakeupstream.Config{Fail: fakeupstream.Fail500}, false, "bench/model@bad=502, bench/model@good=200"},
		{"503 streamed", fakeupstream.Config{Fail: fakeupstream.Fail503, RetryAfter: "0"}, true, "bench/model@bad=502, bench/model@good=200"},
		{"hang: first-byte timeout", fakeupstream.Config{Fail: fakeupstream.FailHang}, false, "bench/model@bad=408, bench/model@good=200"},
		{"hang streamed", fakeupstream.Config{Fail: fakeupstream.FailHang}, true, "bench/model@bad=408, bench/model@good=200"},
		{"malformed JSON", fakeupstream.Config{Fail: fakeupstream.FailMalformedJSON}, false, "bench/model@bad=502, bench/model@good=200"},
		{"200 carrying an error", fakeupstream.Config{Fail: fakeupstream.FailStreamError}, false, "bench/model@bad=502, bench/model@good=200"},
		{"slow first token", fakeupstream.Config{TTFT: 2 * time.Second}, true, "bench/model@bad=408, bench/model@good=200"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var u upstreams
			u.fake(t, "bad", tt.fc)
			u.fake(t, "good", fakeupstream.Config{})
			_, base := u.node(t, "routing: {first_byte_timeout: 300ms}", map[string]float64{"bad": 1, "good": 2})
			body := `{"model":"bench/model","provider":{"sort":"price"},"stream":` + fmt.Sprint(tt.stream) + `,` + hello + `}`
			r := chat(t, http.DefaultClient, base, body)
			if r.status != 200 || r.provider != "good" || r.route != tt.route {
				t.Fatalf("status %d provider %q route %q, want 200 from good via %q\n%s", r.status, r.provider, r.route, tt.route, r.body)
			}
		})
	}
}

func TestAllFailListsAttempts(t *testing.T) {
	var u upstreams
	u.fake(t, "a", fakeupstream.Config{Fail: fakeupstream.Fail500})
	u.fake(t, "b", fakeupstream.Config{Fail: fakeupstream.Fail429, RetryAfter: "0"})
	_, base := u.node(t, "", map[string]float64{"a": 1, "b": 2})
	r := chat(t, http.DefaultClient, base, `{"model":"bench/model","provider":{"sort":"price"},`+hello+`}`)
	var body struct {
		Error struct {
			Code     int `json:"code"`
			Metadata struct {
				Attempts []struct {
					Provider string `json:"provider"`
					Status   int    `json:"status"`
					Reason   string `json:"reason"`
				} `json:"attempts"`
			} `json:"metadata"`
		} `json:"error"`
	}
	if err := json.Unmarshal(r.body, &body); err != nil {
		t.Fatal(err)
	}
	at := body.Error.Metadata.Attempts
	if r.status != 429 || len(at) != 2 || at[0].Provider != "a" || at[0].Status != 502 || at[1].Provider != "b" || at[1].Status != 429 || at[0].Reason == "" {
		t.Fatalf("status %d attempts %+v\n%s", r.status, at, r.body)
	}
}

func TestStickyEndToEnd(t *testing.T) {
	var u upstreams
	for _, n := range []string{"p1", "p2", "p3"} {
		u.fake(t, n, fakeupstream.Config{})
	}
	_, base := u.node(t, "", nil)
	// The same conversation (no session id: the system and first user message identify it)
	// stays on one endpoint across turns; the session header pins just the same.
	conv := func(turn int) string {
		return `{"model":"bench/model","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"first"}` +
			strings.Repeat(`,{"role":"assistant","content":"ok"},{"role":"user","content":"more"}`, turn) + `]}`
	}
	first := chat(t, http.DefaultClient, base, conv(0)).provider
	for turn := 1; turn < 20; turn++ {
		if got := chat(t, http.DefaultClient, base, conv(turn)).provider; got != first {
			t.Fatalf("turn %d went to %s, the conversation started on %s", turn, got, first)
		}
	}
	sess := chat(t, http.DefaultClient, base, `{"model":"bench/model",`+hello+`}`, "X-Session-Id", "s-1").provider
	for range 10 {
		if got := chat(t, http.DefaultClient, base, `{"model":"bench/model","messages":[{"role":"user","content":"other"}]}`, "X-Session-Id", "s-1").provider; got != sess {
			t.Fatalf("session moved from %s to %s", sess, got)
		}
	}
}

func TestHedgingEndToEnd(t *testing.T) {
	var u upstreams
	u.fake(t, "slow", fakeupstream.Config{Fail: fakeupstream.FailHang})
	u.fake(t, "fast", fakeupstream.Config{})
	_, base := u.node(t, "routing: {hedge: {enabled: true, delay: 100ms}}", map[string]float64{"slow": 1, "fast": 2})
	start := time.Now()
	r := chat(t, http.DefaultClient, base, `{"model":"bench/model","stream":true,"provider":{"sort":"price"},`+hello+`}`)
	if r.status != 200 || r.provider != "fast" || !strings.Contains(string(r.body), "[DONE]") {
		t.Fatalf("status %d provider %q\n%s", r.status, r.provider, r.body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("hedged request took %s", d)
	}
	select {
	case <-u.fakes["slow"].Canceled():
	case <-time.After(2 * time.Second):
		t.Fatal("the losing upstream never saw its request cancelled")
	}
}

func TestDroppedParamsHeader(t *testing.T) {
	var u upstreams
	u.fake(t, "only", fakeupstream.Config{Record: true})
	_, base := u.node(t, "", nil)
	r := chat(t, http.DefaultClient, base, `{"model":"bench/model","top_k":5,"min_p":0.1,"temperature":0,`+hello+`}`)
	if r.status != 200 || r.dropped != "top_k, min_p" {
		t.Fatalf("status %d dropped %q", r.status, r.dropped)
	}
	reqs := u.fakes["only"].Requests()
	if b := string(reqs[len(reqs)-1].Body); strings.Contains(b, "top_k") || !strings.Contains(b, "temperature") {
		t.Fatalf("upstream body %s", b)
	}
	r = chat(t, http.DefaultClient, base, `{"model":"bench/model","top_k":5,"provider":{"require_parameters":true},`+hello+`}`)
	if r.status != 404 || !strings.Contains(string(r.body), "require_parameters") {
		t.Fatalf("require_parameters: status %d %s", r.status, r.body)
	}
}

func TestModelsSurface(t *testing.T) {
	var u upstreams
	u.fake(t, "a", fakeupstream.Config{})
	u.fake(t, "b", fakeupstream.Config{})
	_, base := u.node(t, "", map[string]float64{"a": 1, "b": 3})
	for range 6 {
		chat(t, http.DefaultClient, base, `{"model":"bench/model","provider":{"order":["b"]},`+hello+`}`)
	}
	get := func(path string) (int, []byte) {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	code, b := get("/api/v1/models/bench/model/endpoints")
	var doc struct {
		Data struct {
			ID        string `json:"id"`
			Endpoints []struct {
				ProviderName string          `json:"provider_name"`
				Tag          string          `json:"tag"`
				Status       int             `json:"status"`
				Pricing      json.RawMessage `json:"pricing"`
				Latency      *struct {
					P50 float64 `json:"p50"`
				} `json:"latency_last_30m"`
			} `json:"endpoints"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || code != 200 {
		t.Fatalf("%d %v %s", code, err, b)
	}
	if doc.Data.ID != "bench/model" || len(doc.Data.Endpoints) != 2 {
		t.Fatalf("endpoints doc: %s", b)
	}
	var tags []string
	for _, ep := range doc.Data.Endpoints {
		tags = append(tags, ep.Tag)
		if ep.Tag == "b" && (ep.Latency == nil || ep.Latency.P50 <= 0) {
			t.Fatalf("endpoint b served 6 requests but shows no latency: %s", b)
		}
	}
	sort.Strings(tags)
	if strings.Join(tags, ",") != "a,b" {
		t.Fatalf("tags %v", tags)
	}
	if code, _ := get("/api/v1/models/nobody/nothing/endpoints"); code != 404 {
		t.Fatalf("unknown model endpoints: %d", code)
	}
	code, b = get("/v1/models?supported_parameters=tools")
	if code != 200 || !strings.Contains(string(b), `"bench/model"`) {
		t.Fatalf("filter tools: %d %s", code, b)
	}
	code, b = get("/metrics")
	for _, want := range []string{`crossroads_route_attempts_total{outcome="ok"} 6`, `crossroads_endpoint_circuit{endpoint="bench/model@b"} 0`,
		`crossroads_endpoint_ttft_seconds{endpoint="bench/model@b"}`} {
		if !strings.Contains(string(b), want) {
			t.Fatalf("/metrics lacks %s:\n%s", want, b)
		}
	}
	code, b = get("/v1/models?supported_parameters=logit_bias")
	if code != 200 || strings.Contains(string(b), `"bench/model"`) {
		t.Fatalf("filter logit_bias: %d %s", code, b)
	}
}

// fileNode runs a node from a configuration file in a temporary directory, in front of
// one fake upstream; write rewrites the file with the given models (YAML flow items) and
// extra top-level YAML.
type fileNode struct {
	node  *edge.Node
	base  string
	path  string
	write func(models string)
}

func startFromFile(t *testing.T, fc fakeupstream.Config, extra, models string) *fileNode {
	t.Helper()
	fake := fakeupstream.New(fc)
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); srv.Close() })
	dir := t.TempDir()
	f := &fileNode{path: filepath.Join(dir, "crossroads.yaml")}
	f.write = func(models string) {
		yaml := fmt.Sprintf("data_dir: %s\nlisten: {tls: off, plain: \"127.0.0.1:0\"}\nlog: {level: error}\nsim: {enabled: false}\n%s\nproviders:\n  - {name: f, base_url: %q, models: [%s]}\n",
			dir, extra, srv.URL+"/v1", models)
		if err := os.WriteFile(f.path, []byte(yaml), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	f.write(models)
	cfg, err := edge.LoadConfig(f.path)
	if err != nil {
		t.Fatal(err)
	}
	f.node, err = edge.New(cfg, edge.WithConfigFile(f.path), edge.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.node.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	f.base = "http://" + f.node.PlainAddr().String()
	return f
}

func TestReloadSwapsCatalogWithoutDroppingStreams(t *testing.T) {
	f := startFromFile(t, fakeupstream.Config{Chunks: 40, TokensPerSecond: 100}, "", "{id: old/model}")
	node, base, write, path := f.node, f.base, f.write, f.path
	time.Sleep(50 * time.Millisecond)

	// A stream in flight on the old generation finishes after the reload.
	var wg sync.WaitGroup
	var streamed routed
	wg.Add(1)
	go func() {
		defer wg.Done()
		streamed = chat(t, http.DefaultClient, base, `{"model":"old/model","stream":true,`+hello+`}`)
	}()
	time.Sleep(100 * time.Millisecond)
	write("{id: new/model}")
	if err := node.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := chat(t, http.DefaultClient, base, `{"model":"new/model",`+hello+`}`); r.status != 200 {
		t.Fatalf("new model after reload: %d %s", r.status, r.body)
	}
	if r := chat(t, http.DefaultClient, base, `{"model":"old/model",`+hello+`}`); r.status != 404 {
		t.Fatalf("old model after reload: %d", r.status)
	}
	wg.Wait()
	if streamed.status != 200 || !strings.Contains(string(streamed.body), "data: [DONE]") || strings.Contains(string(streamed.body), `"error"`) {
		t.Fatalf("in-flight stream across the reload: %d %s", streamed.status, streamed.body)
	}
	// A broken file keeps the old generation.
	if err := os.WriteFile(path, []byte("providers: [{name: }"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := node.Reload(); err == nil {
		t.Fatal("reload accepted a broken file")
	}
	if r := chat(t, http.DefaultClient, base, `{"model":"new/model",`+hello+`}`); r.status != 200 {
		t.Fatalf("after a failed reload: %d", r.status)
	}
}

// loadResult is a load run through three endpoints: good, flaky (30% 429/5xx) and slow.
type loadResult struct {
	requests, ok int
	hits         map[string]int64
	p50, p99     time.Duration
	max          time.Duration
}

// runRoutingLoad sends n requests at concurrency c through a node in front of a healthy,
// a flaky and a slow endpoint of equal price, and reports where they went.
func runRoutingLoad(t testing.TB, n, c int, slowTTFT, attemptTimeout time.Duration) loadResult {
	var u upstreams
	u.fake(t, "good", fakeupstream.Config{})
	u.flaky(t, "flaky", 10, 3, fakeupstream.Config{})
	u.fake(t, "slow", fakeupstream.Config{TTFT: slowTTFT})
	_, base := u.node(t, fmt.Sprintf("routing: {first_byte_timeout: %s}", attemptTimeout), nil)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: c}}
	var mu sync.Mutex
	var lat []time.Duration
	res := loadResult{requests: n, hits: map[string]int64{}}
	work := make(chan int)
	var wg sync.WaitGroup
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				start := time.Now()
				stream := i%2 == 0
				r := chat(t, client, base, fmt.Sprintf(`{"model":"bench/model","stream":%v,"messages":[{"role":"user","content":"request %d"}]}`, stream, i))
				d := time.Since(start)
				mu.Lock()
				lat = append(lat, d)
				if r.status == 200 && !strings.Contains(string(r.body), `"finish_reason":"error"`) {
					res.ok++
				}
				mu.Unlock()
			}
		}()
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	for name, h := range u.hits {
		res.hits[name] = h.Load()
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	res.p50, res.p99, res.max = lat[len(lat)/2], lat[len(lat)*99/100], lat[len(lat)-1]
	return res
}

func TestRoutingUnderFailures(t *testing.T) {
	const slow, timeout = 300 * time.Millisecond, time.Second
	r := runRoutingLoad(t, 400, 8, slow, timeout)
	t.Logf("ok %d/%d, upstream hits %v, latency p50 %s p99 %s max %s", r.ok, r.requests, r.hits, r.p50, r.p99, r.max)
	if r.ok != r.requests {
		t.Fatalf("%d of %d requests failed", r.requests-r.ok, r.requests)
	}
	if r.hits["good"] <= r.hits["flaky"] || r.hits["good"] <= r.hits["slow"] {
		t.Fatalf("traffic %v: the healthy endpoint should get the most", r.hits)
	}
	// Bound, not a timing: no request waited longer than one attempt timeout beyond the
	// slowest upstream's own latency.
	if r.max > timeout+slow+time.Second {
		t.Fatalf("max latency %s exceeds one attempt timeout (%s) plus the slow upstream's TTFT", r.max, timeout)
	}
}

// TestStickyThroughFailureAndRecoveryEndToEnd: a pinned conversation moves when its
// endpoint fails, and stays on the new one after the old recovers (its cache is there now).
func TestStickyThroughFailureAndRecoveryEndToEnd(t *testing.T) {
	var u upstreams
	down := map[string]*atomic.Bool{}
	for _, n := range []string{"p1", "p2", "p3"} {
		ok := fakeupstream.New(fakeupstream.Config{})
		bad := fakeupstream.New(fakeupstream.Config{Fail: fakeupstream.Fail503, RetryAfter: "0"})
		t.Cleanup(bad.Close)
		d := &atomic.Bool{}
		down[n] = d
		u.add(t, n, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if d.Load() {
				bad.ServeHTTP(w, r)
				return
			}
			ok.ServeHTTP(w, r)
		}), ok)
	}
	_, base := u.node(t, "", nil)
	turn := func() routed {
		return chat(t, http.DefaultClient, base, `{"model":"bench/model","session_id":"conv-9",`+hello+`}`)
	}
	first := turn().provider
	down[first].Store(true)
	r := turn()
	if r.status != 200 || r.provider == first || !strings.HasPrefix(r.route, "bench/model@"+first+"=502, ") {
		t.Fatalf("with %s down: %d from %s via %q", first, r.status, r.provider, r.route)
	}
	moved := r.provider
	down[first].Store(false)
	for range 10 {
		if got := turn(); got.provider != moved {
			t.Fatalf("after %s recovered the conversation went to %s, want it to stay on %s", first, got.provider, moved)
		}
	}
}

// TestConfigFileChangeReloadsByItself: the node notices its configuration file changed and
// reloads without a signal.
func TestConfigFileChangeReloadsByItself(t *testing.T) {
	f := startFromFile(t, fakeupstream.Config{}, "tls: {reload_interval: 50ms}", "{id: first/model}")
	base, write := f.base, func(model string) { f.write("{id: " + model + "}") }
	time.Sleep(20 * time.Millisecond)
	write("second/model-with-a-longer-name") // a different size, whatever the mtime granularity
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := chat(t, http.DefaultClient, base, `{"model":"second/model-with-a-longer-name",`+hello+`}`)
		if r.status == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not pick up the changed file: %d %s", r.status, r.body)
		}
		time.Sleep(25 * time.Millisecond)
	}
}
