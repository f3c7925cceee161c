package edge_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
	"github.com/crossroads-llm/crossroads/edge"
	"github.com/crossroads-llm/crossroads/edge/internal/edgetest"
)

// env is a running node in front of a fake OpenAI upstream, reached through the node's
// real listeners.
type env struct {
	t      *testing.T
	node   *edge.Node
	fake   *fakeupstream.Server
	cancel context.CancelFunc
	done   chan error
}

const baseYAML = `
data_dir: %s
listen: {tls: "127.0.0.1:0", plain: "127.0.0.1:0"}
stream: {keep_alive: 1s}
timeouts: {shutdown: 1s}
limits: {max_body_bytes: 64KiB}
log: {level: error}
sim: {ttft: 5ms, tokens_per_second: 2000}
# These tests check how each upstream failure reaches the client, one request per failure
# mode against a single endpoint: a breaker would turn the later ones into "circuit open".
routing: {breaker: {enabled: false}}
providers:
  - name: fake
    display_name: Fake
    base_url: ${FAKE_URL}/v1
    api_key: sk-fake
    timeout: 1500ms
    models:
      - id: fake/gpt-4o-mini
        upstream_id: gpt-4o-mini
        aliases: [gpt-4o-mini]
        pricing: {prompt: 0.15, completion: 0.6}
  - name: dead
    base_url: http://%s/v1
    models: [{id: dead/model}]
`

func start(t *testing.T, fc fakeupstream.Config) *env {
	t.Helper()
	return startWith(t, fc, nil)
}

// startWith is start with more environment variables: catalog providers whose key
// variable is set (ANTHROPIC_API_KEY, ...) join the node.
func startWith(t *testing.T, fc fakeupstream.Config, vars map[string]string) *env {
	t.Helper()
	fc.Record = true
	fake := fakeupstream.New(fc)
	fakeSrv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); fakeSrv.Close() })

	yaml := fmt.Sprintf(baseYAML, t.TempDir(), edgetest.FreeAddr(t))
	cfg, err := edge.ParseConfig([]byte(yaml), func(k string) (string, bool) {
		if k == "FAKE_URL" {
			return fakeSrv.URL, true
		}
		v, ok := vars[k]
		return v, ok
	})
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	node, err := edge.New(cfg, edge.WithLogger(log))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &env{t: t, node: node, fake: fake, cancel: cancel, done: make(chan error, 1)}
	go func() { e.done <- node.Run(ctx) }()
	t.Cleanup(e.stop)
	e.waitReady()
	return e
}

func (e *env) stop() {
	e.cancel()
	select {
	case err := <-e.done:
		if err != nil {
			e.t.Errorf("Run: %v", err)
		}
		e.done <- nil
	case <-time.After(10 * time.Second):
		e.t.Error("node did not stop within 10s")
	}
}

func (e *env) waitReady() {
	c := e.client("h1c")
	for i := 0; i < 100; i++ {
		resp, err := c.Get(e.url("h1c", "/readyz"))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatal("node never became ready")
}

func (e *env) client(proto string) *http.Client {
	return edgetest.Client(e.t, proto, e.node.CertFile())
}

func (e *env) url(proto, path string) string {
	if proto == "h1c" || proto == "h2c" {
		return "http://" + e.node.PlainAddr().String() + path
	}
	return "https://" + e.node.TLSAddr().String() + path
}

func (e *env) post(proto, body string) *http.Response {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.url(proto, "/v1/chat/completions"), strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := e.client(proto).Do(req)
	if err != nil {
		e.t.Fatalf("%s POST: %v", proto, err)
	}
	return resp
}

type completion struct {
	ID       string `json:"id"`
	Object   string `json:"object"`
	Provider string `json:"provider"`
	Model    string `json:"model"`
	Choices  []struct {
		Message struct {
			Content string `json:"content"`
		} `json:"message"`
		Delta struct {
			Content string `json:"content"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
	} `json:"usage"`
	Error *apiError `json:"error"`
	// Raw is the chunk as sent, for checks on its exact members.
	Raw string `json:"-"`
}

type apiError struct {
	Code     int     `json:"code"`
	Message  string  `json:"message"`
	Type     string  `json:"type"`
	Param    *string `json:"param"`
	Metadata struct {
		Raw          string `json:"raw"`
		ProviderName string `json:"provider_name"`
		Attempts     []struct {
			Provider string `json:"provider"`
			Status   int    `json:"status"`
		} `json:"attempts"`
	} `json:"metadata"`
}

func decode[T any](t *testing.T, r io.Reader) T {
	t.Helper()
	var v T
	b, _ := io.ReadAll(r)
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("decode %s: %v", b, err)
	}
	return v
}

const chatBody = `{"model":"fake/gpt-4o-mini","messages":[{"role":"user","content":"hello"}]}`

var allProtos = []string{"h1", "h2", "h3", "h1c", "h2c"}

func TestNonStreamEveryProtocol(t *testing.T) {
	e := start(t, fakeupstream.Config{})
	for _, proto := range allProtos {
		t.Run(proto, func(t *testing.T) {
			resp := e.post(proto, chatBody)
			defer resp.Body.Close()
			if resp.StatusCode != 200 || resp.Proto != edgetest.WantProto(proto) {
				t.Fatalf("status %d proto %s", resp.StatusCode, resp.Proto)
			}
			if proto == "h1" || proto == "h2" {
				if alt := resp.Header.Get("Alt-Svc"); !strings.HasPrefix(alt, fmt.Sprintf(`h3=":%d"`, portOf(e.node.TLSAddr().String()))) {
					t.Fatalf("Alt-Svc = %q", alt)
				}
			}
			c := decode[completion](t, resp.Body)
			if !strings.HasPrefix(c.ID, "gen-") || c.ID != resp.Header.Get("X-Generation-Id") {
				t.Fatalf("id %q, X-Generation-Id %q", c.ID, resp.Header.Get("X-Generation-Id"))
			}
			if c.Provider != "Fake" || c.Model != "fake/gpt-4o-mini" || c.Object != "chat.completion" {
				t.Fatalf("completion = %+v", c)
			}
			if len(c.Choices) != 1 || c.Choices[0].Message.Content == "" || c.Usage == nil || c.Usage.CompletionTokens == 0 {
				t.Fatalf("completion = %+v", c)
			}
		})
	}
}

func portOf(addr string) int {
	var p int
	fmt.Sscanf(addr[strings.LastIndexByte(addr, ':')+1:], "%d", &p)
	return p
}

func TestUpstreamSeesRewrittenBody(t *testing.T) {
	e := start(t, fakeupstream.Config{})
	body := `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"x"}],"provider":{"order":["fake"]},"session_id":"s","temperature":0.3}`
	resp := e.post("h1c", body)
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	reqs := e.fake.Requests()
	if len(reqs) == 0 {
		t.Fatal("upstream saw no request")
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(reqs[len(reqs)-1].Body, &got); err != nil {
		t.Fatal(err)
	}
	if string(got["model"]) != `"gpt-4o-mini"` || string(got["stream_options"]) != `{"include_usage":true}` ||
		string(got["temperature"]) != `0.3` || got["provider"] != nil || got["session_id"] != nil {
		t.Fatalf("upstream body = %s", reqs[len(reqs)-1].Body)
	}
	if h := reqs[len(reqs)-1].Header.Get("Authorization"); h != "Bearer sk-fake" {
		t.Fatalf("upstream Authorization = %q", h)
	}
}

// readStream reads a whole stream and decodes its chunks; it fails on any framing error
// and requires [DONE] last.
func readStream(t *testing.T, resp *http.Response) (chunks []completion, comments int) {
	t.Helper()
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("status %d content-type %q body %s", resp.StatusCode, ct, b)
	}
	events, err := edgetest.ReadEvents(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if len(events) == 0 || events[len(events)-1].Data != "[DONE]" {
		t.Fatalf("stream does not end with [DONE]: %+v", events)
	}
	for _, ev := range events[:len(events)-1] {
		if ev.Comment != "" {
			comments++
			continue
		}
		var c completion
		if err := json.Unmarshal([]byte(ev.Data), &c); err != nil {
			t.Fatalf("chunk %q: %v", ev.Data, err)
		}
		c.Raw = ev.Data
		chunks = append(chunks, c)
	}
	return chunks, comments
}

func TestStreamEveryProtocol(t *testing.T) {
	e := start(t, fakeupstream.Config{Chunks: 8})
	for _, proto := range allProtos {
		for _, includeUsage := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/include_usage=%v", proto, includeUsage), func(t *testing.T) {
				body := `{"model":"fake/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hello"}]}`
				if includeUsage {
					body = `{"model":"fake/gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hello"}]}`
				}
				resp := e.post(proto, body)
				if resp.Proto != edgetest.WantProto(proto) {
					t.Fatalf("proto %s", resp.Proto)
				}
				id := resp.Header.Get("X-Generation-Id")
				chunks, _ := readStream(t, resp)
				var text strings.Builder
				usageChunks := 0
				for _, c := range chunks {
					if c.ID != id || c.Provider != "Fake" || c.Model != "fake/gpt-4o-mini" {
						t.Fatalf("chunk id/provider/model = %q/%q/%q, want %q/Fake/fake/gpt-4o-mini", c.ID, c.Provider, c.Model, id)
					}
					if c.Error != nil {
						t.Fatalf("error chunk %+v", c.Error)
					}
					if !includeUsage && strings.Contains(c.Raw, `"usage"`) {
						t.Fatalf("usage in a chunk the client did not ask usage for: %s", c.Raw)
					}
					if len(c.Choices) == 0 {
						usageChunks++
						if c.Usage == nil || c.Usage.CompletionTokens != 8 {
							t.Fatalf("usage chunk = %+v", c)
						}
						continue
					}
					text.WriteString(c.Choices[0].Delta.Content)
				}
				if want := map[bool]int{false: 0, true: 1}[includeUsage]; usageChunks != want {
					t.Fatalf("%d usage chunks, want %d", usageChunks, want)
				}
				if text.Len() == 0 {
					t.Fatal("no content streamed")
				}
				last := chunks[len(chunks)-1-usageChunks]
				if last.Choices[0].FinishReason == nil || *last.Choices[0].FinishReason != "stop" {
					t.Fatalf("last content chunk has no finish_reason stop: %+v", last)
				}
			})
		}
	}
}

// TestErrors drives every error the issue lists through every TLS protocol.
func TestErrors(t *testing.T) {
	e := start(t, fakeupstream.Config{})
	big := `{"model":"fake/gpt-4o-mini","messages":[{"role":"user","content":"` + strings.Repeat("x", 70<<10) + `"}]}`
	msgs := `"messages":[{"role":"user","content":"hi"}]`
	fail := func(mode string) string {
		return `{"model":"fake/gpt-4o-mini","user":"fake:fail=` + mode + `",` + msgs + `}`
	}
	tests := []struct {
		name       string
		body       string
		status     int
		param      string
		contains   string
		raw        string
		retryAfter string
	}{
		{"malformed JSON", `{"model":`, 400, "", "not valid JSON", "", ""},
		{"missing messages", `{"model":"fake/gpt-4o-mini"}`, 400, "messages", "`messages` is required", "", ""},
		{"empty messages", `{"model":"fake/gpt-4o-mini","messages":[]}`, 400, "messages", "must not be empty", "", ""},
		{"wrong type", `{"model":"fake/gpt-4o-mini",` + msgs + `,"temperature":"hot"}`, 400, "temperature", "`temperature` must be a number", "", ""},
		{"unknown model", `{"model":"nobody/nothing",` + msgs + `}`, 404, "model", "not served by this node", "", ""},
		{"body over limit", big, 413, "", "larger than", "", ""},
		{"upstream timeout", fail("hang"), 408, "", "did not answer in time", "", ""},
		{"upstream 500", fail("500"), 502, "", "failed (HTTP 500)", "The server had an error while processing your request. Sorry about that!", ""},
		{"upstream 503", fail("503"), 502, "", "failed (HTTP 503)", "", "1"},
		{"upstream 429", fail("429"), 429, "", "rate limiting", "", "1"},
		{"upstream unreachable", `{"model":"dead/model",` + msgs + `}`, 502, "", "unreachable", "", ""},
		{"upstream malformed JSON", fail("malformed-json"), 502, "", "malformed response", "", ""},
		{"upstream error in a 200", fail("stream-error"), 502, "", "reported an error", "", ""},
	}
	for _, proto := range edgetest.Protocols {
		for _, tt := range tests {
			t.Run(proto+"/"+tt.name, func(t *testing.T) {
				resp := e.post(proto, tt.body)
				defer resp.Body.Close()
				body := decode[struct {
					Error apiError `json:"error"`
				}](t, resp.Body)
				if resp.StatusCode != tt.status || body.Error.Code != tt.status {
					t.Fatalf("status %d code %d, want %d: %+v", resp.StatusCode, body.Error.Code, tt.status, body.Error)
				}
				if !strings.Contains(body.Error.Message, tt.contains) {
					t.Fatalf("message %q does not contain %q", body.Error.Message, tt.contains)
				}
				if tt.param != "" && (body.Error.Param == nil || *body.Error.Param != tt.param) {
					t.Fatalf("param = %v, want %q", body.Error.Param, tt.param)
				}
				if tt.raw != "" && body.Error.Metadata.Raw != tt.raw {
					t.Fatalf("metadata.raw = %q, want %q", body.Error.Metadata.Raw, tt.raw)
				}
				if tt.status >= 500 && len(body.Error.Metadata.Attempts) != 1 {
					t.Fatalf("an upstream failure lists its attempt: %+v", body.Error.Metadata)
				}
				if tt.status >= 500 && body.Error.Metadata.Raw == "" {
					t.Fatalf("upstream failure without metadata.raw: %+v", body.Error)
				}
				if got := resp.Header.Get("Retry-After"); got != tt.retryAfter {
					t.Fatalf("Retry-After = %q, want %q", got, tt.retryAfter)
				}
				if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
					t.Fatalf("content-type %q", resp.Header.Get("Content-Type"))
				}
			})
		}
	}
}

// TestStreamFailures: once a stream has begun, an upstream failure ends it with a terminal
// chunk (finish_reason "error" and an error object) and then [DONE], never a clean close.
func TestStreamFailures(t *testing.T) {
	e := start(t, fakeupstream.Config{Chunks: 10})
	tests := []struct{ mode, contains string }{
		{"cut", "broke the stream"},
		{"stream-error", "reported an error"},
		{"malformed-sse", "malformed"},
	}
	for _, proto := range edgetest.Protocols {
		for _, tt := range tests {
			t.Run(proto+"/"+tt.mode, func(t *testing.T) {
				resp := e.post(proto, `{"model":"fake/gpt-4o-mini","stream":true,"user":"fake:fail=`+tt.mode+`","messages":[{"role":"user","content":"hi"}]}`)
				if resp.StatusCode != 200 {
					t.Fatalf("status %d", resp.StatusCode)
				}
				chunks, _ := readStream(t, resp)
				if len(chunks) < 2 {
					t.Fatalf("want content before the failure, got %d chunks", len(chunks))
				}
				last := chunks[len(chunks)-1]
				if last.Error == nil || len(last.Choices) != 1 || last.Choices[0].FinishReason == nil || *last.Choices[0].FinishReason != "error" {
					t.Fatalf("last chunk is not a terminal error chunk: %+v", last)
				}
				if last.Error.Code != 502 || !strings.Contains(last.Error.Message, tt.contains) || last.ID != resp.Header.Get("X-Generation-Id") {
					t.Fatalf("terminal error = %+v id %s", last.Error, last.ID)
				}
			})
		}
	}
}

// TestClientDisconnectCancelsUpstream: a client that goes away mid-stream makes the node
// cancel its upstream call within 100 ms, over every protocol. A busy CI machine can stall
// any one attempt past 100 ms, so each protocol gets three tries; a node that does not cancel
// at all fails every one of them at the 3 s bound.
func TestClientDisconnectCancelsUpstream(t *testing.T) {
	e := start(t, fakeupstream.Config{Chunks: 200, TokensPerSecond: 50})
	for _, proto := range edgetest.Protocols {
		t.Run(proto, func(t *testing.T) {
			var delays []time.Duration
			for try := 0; try < 3; try++ {
				d := cancelDelay(t, e, proto)
				if d <= 100*time.Millisecond {
					return
				}
				delays = append(delays, d)
			}
			t.Fatalf("upstream cancelled %v after the client left, want ≤ 100ms", delays)
		})
	}
}

// cancelDelay starts a stream, reads its first bytes, leaves, and returns how long the
// upstream took to see its request cancelled.
func cancelDelay(t *testing.T, e *env, proto string) time.Duration {
	for len(e.fake.Canceled()) > 0 {
		<-e.fake.Canceled()
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.url(proto, "/v1/chat/completions"),
		strings.NewReader(`{"model":"fake/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`))
	resp, err := e.client(proto).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 256)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatalf("read first bytes: %v", err)
	}
	cancelled := time.Now()
	cancel()
	resp.Body.Close()
	select {
	case at := <-e.fake.Canceled():
		return at.Sub(cancelled)
	case <-time.After(3 * time.Second):
		t.Fatal("upstream request was never cancelled")
		return 0
	}
}

func TestKeepAliveWhileWaiting(t *testing.T) {
	e := start(t, fakeupstream.Config{TTFT: 2200 * time.Millisecond, Chunks: 2})
	resp := e.post("h2", `{"model":"fake/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	chunks, comments := readStream(t, resp)
	if comments < 1 {
		t.Fatalf("no keep-alive comment during a 2.2s wait with a 1s interval")
	}
	if len(chunks) == 0 {
		t.Fatal("no chunks after the keep-alives")
	}
}

func TestDrainEndsStreamsWithError(t *testing.T) {
	e := start(t, fakeupstream.Config{Chunks: 1000, TokensPerSecond: 20})
	resp := e.post("h1", `{"model":"fake/gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`)
	go func() {
		time.Sleep(300 * time.Millisecond)
		e.cancel()
	}()
	chunks, _ := readStream(t, resp)
	last := chunks[len(chunks)-1]
	if last.Error == nil || last.Error.Code != 503 || !strings.Contains(last.Error.Message, "shutting down") {
		t.Fatalf("last chunk after drain deadline = %+v", last)
	}
	select {
	case err := <-e.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
		e.done <- nil
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return after the drain deadline")
	}
}

func TestSurface(t *testing.T) {
	e := start(t, fakeupstream.Config{})
	c := e.client("h1")
	tests := []struct {
		method, path string
		status       int
		contains     string
	}{
		{"GET", "/v1/models", 200, `"id":"fake/gpt-4o-mini"`},
		{"GET", "/api/v1/models", 200, `"id":"sim/chat"`},
		{"GET", "/v1/models", 200, `"prompt":"0.00000015"`},
		{"GET", "/healthz", 200, `"ok"`},
		{"GET", "/readyz", 200, `"ok"`},
		{"GET", "/v1/chat/completions", 405, "use POST"},
		{"DELETE", "/v1/models", 405, "GET, HEAD"},
		{"GET", "/v2/nothing", 404, "no endpoint GET /v2/nothing"},
		{"POST", "/api/v1/chat/completions", 200, `"provider":"Fake"`},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			var body io.Reader
			if tt.method == "POST" {
				body = strings.NewReader(chatBody)
			}
			req, _ := http.NewRequest(tt.method, e.url("h1", tt.path), body)
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tt.status || !bytes.Contains(b, []byte(tt.contains)) {
				t.Fatalf("%d %s, want %d containing %s", resp.StatusCode, b, tt.status, tt.contains)
			}
			if !json.Valid(b) {
				t.Fatalf("body is not JSON: %s", b)
			}
		})
	}
}

func TestSimulatedProvider(t *testing.T) {
	e := start(t, fakeupstream.Config{})
	resp := e.post("h3", `{"model":"sim/chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"tell me about routers"}]}`)
	chunks, _ := readStream(t, resp)
	if len(chunks) < 3 || chunks[0].Provider != "Crossroads Sim" || chunks[len(chunks)-1].Usage == nil {
		t.Fatalf("sim stream = %+v", chunks)
	}
	resp = e.post("h1c", `{"model":"sim/fast","user":"sim:error=429","messages":[{"role":"user","content":"hi"}]}`)
	resp.Body.Close()
	if resp.StatusCode != 429 {
		t.Fatalf("sim error directive: status %d", resp.StatusCode)
	}
}

// TestExampleConfig keeps examples/config.yaml, the documented reference, loadable.
func TestExampleConfig(t *testing.T) {
	b, err := os.ReadFile("../examples/config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := edge.ParseConfig(b, func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Providers) != 1 || cfg.Providers[0].Models[0].UpstreamID != "meta-llama/Llama-3.3-70B-Instruct-Turbo" {
		t.Fatalf("providers = %+v", cfg.Providers)
	}
	// The plugins section is commented out (its files are build output); uncommented, it
	// must be valid too.
	text := string(b)
	i := strings.Index(text, "# plugins:")
	if i < 0 {
		t.Fatal("examples/config.yaml documents no plugins section")
	}
	var lines []string
	for _, l := range strings.Split(text[i:], "\n") {
		lines = append(lines, strings.TrimPrefix(l, "# "))
	}
	cfg, err = edge.ParseConfig([]byte(text[:i]+strings.Join(lines, "\n")), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.Plugins) != 3 || cfg.Plugins[0].Limits.Fuel != 10_000_000 || cfg.Plugins[2].Providers[0] != "anthropic" {
		t.Fatalf("plugins = %+v", cfg.Plugins)
	}
}
