package edge_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
	"github.com/redis/go-redis/v9"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
	"github.com/crossroads-llm/crossroads/bench/fakeupstream/anthropic"
	"github.com/crossroads-llm/crossroads/edge"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/redisstore/redistest"
	"github.com/crossroads-llm/crossroads/edge/internal/edgetest"
)

// answer is what one SDK call saw: the cache headers and everything in the answer but ids.
type answer struct {
	cache, orCache, age string
	chunks              []string // raw chunks without their id (streams), or the body without it
	acc                 openai.ChatCompletion
	reasoning           string // OpenRouter's reasoning field, which the SDK does not model
}

// reasoningOf reads the reasoning of a completion (message) or chunk (delta).
func reasoningOf(raw string) string {
	var v struct {
		Choices []struct {
			Message, Delta struct {
				Reasoning string `json:"reasoning"`
			}
		} `json:"choices"`
	}
	_ = json.Unmarshal([]byte(raw), &v)
	if len(v.Choices) == 0 {
		return ""
	}
	return v.Choices[0].Message.Reasoning + v.Choices[0].Delta.Reasoning
}

var idMember = regexp.MustCompile(`"id":"gen-[^"]*",?`)

func withoutID(raw string) string { return idMember.ReplaceAllString(raw, "") }

// ask sends one chat request through the SDK, streamed or not, and records what came back.
func ask(t *testing.T, client openai.Client, params openai.ChatCompletionNewParams, stream bool) answer {
	t.Helper()
	ctx := context.Background()
	var hr *http.Response
	var a answer
	if stream {
		s := client.Chat.Completions.NewStreaming(ctx, params, option.WithResponseInto(&hr))
		var acc openai.ChatCompletionAccumulator
		for s.Next() {
			c := s.Current()
			if !acc.AddChunk(c) {
				t.Fatalf("accumulator refused %s", c.RawJSON())
			}
			a.chunks = append(a.chunks, withoutID(c.RawJSON()))
			a.reasoning += reasoningOf(c.RawJSON())
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		a.acc = acc.ChatCompletion
	} else {
		c, err := client.Chat.Completions.New(ctx, params, option.WithResponseInto(&hr))
		if err != nil {
			t.Fatal(err)
		}
		a.chunks = []string{withoutID(c.RawJSON())}
		a.acc = *c
		a.reasoning = reasoningOf(c.RawJSON())
	}
	a.cache, a.orCache, a.age = hr.Header.Get("X-Crossroads-Cache"), hr.Header.Get("X-OpenRouter-Cache-Status"), hr.Header.Get("Age")
	return a
}

// same reports whether two answers carry the same message: content, reasoning, tool calls,
// finish reason and usage.
func same(a, b answer) bool {
	pick := func(x answer) any {
		c := x.acc
		type call struct{ ID, Name, Args string }
		var calls []call
		for _, tc := range c.Choices[0].Message.ToolCalls {
			calls = append(calls, call{tc.ID, tc.Function.Name, tc.Function.Arguments})
		}
		return []any{c.Choices[0].Message.Content, c.Choices[0].FinishReason, calls, x.reasoning, c.Model,
			c.Usage.PromptTokens, c.Usage.CompletionTokens, c.Usage.TotalTokens}
	}
	return reflect.DeepEqual(pick(a), pick(b))
}

// TestCacheEndToEnd: repeated deterministic requests through the node are answered from the
// cache over h1, h2 and h3, streamed and not, and look to the OpenAI SDK like the original
// apart from ids and cache headers: content, reasoning, tool-call deltas, finish reasons and
// usage, chunk for chunk.
func TestCacheEndToEnd(t *testing.T) {
	ant, antURL := anthropic.Start(t, anthropic.Options{APIKey: "sk-ant-test"})
	e := startWith(t, fakeupstream.Config{Chunks: 8}, map[string]string{
		"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": antURL + "/v1",
	})
	weather := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name:       "get_weather",
		Parameters: shared.FunctionParameters{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}},
	})}
	cases := []struct {
		name, model, prompt string
		tools               bool
		calls               func() int
	}{
		{"openai", "fake/gpt-4o-mini", "hello there", false, func() int { return int(e.fake.Stats().Requests) }},
		{"openai tool call", "fake/gpt-4o-mini", "weather?", true, func() int { return int(e.fake.Stats().Requests) }},
		{"anthropic reasoning and tool call", "anthropic/claude-sonnet-4.5", "weather in Paris? [[thinking]] [[tool:get_weather]] [[words:5]]", true, ant.Calls},
	}
	for _, proto := range edgetest.Protocols {
		client := e.sdk(proto)
		for _, c := range cases {
			for _, stream := range []bool{true, false} {
				t.Run(fmt.Sprintf("%s/%s/stream=%v", proto, c.name, stream), func(t *testing.T) {
					params := openai.ChatCompletionNewParams{
						Model:       shared.ChatModel(c.model),
						Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage(fmt.Sprintf("%s (%s %v)", c.prompt, proto, stream))},
						Temperature: openai.Float(0),
						MaxTokens:   openai.Int(200),
					}
					if c.tools {
						params.Tools = weather
						if c.model == "fake/gpt-4o-mini" {
							params.User = openai.String("fake:tools=1")
						}
					}
					if stream {
						params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
					}
					before := c.calls()
					first := ask(t, client, params, stream)
					if first.cache != "MISS" || first.orCache != "MISS" || first.age != "" || c.calls() != before+1 {
						t.Fatalf("first: cache %q/%q age %q, upstream calls %d", first.cache, first.orCache, first.age, c.calls()-before)
					}
					again := ask(t, client, params, stream)
					if again.cache != "HIT" || again.orCache != "HIT" || again.age == "" || c.calls() != before+1 {
						t.Fatalf("repeat: cache %q/%q age %q, upstream calls %d", again.cache, again.orCache, again.age, c.calls()-before)
					}
					if !reflect.DeepEqual(again.chunks, first.chunks) {
						t.Fatalf("replay differs beyond ids:\n%q\nwant\n%q", again.chunks, first.chunks)
					}
					if !same(again, first) {
						t.Fatalf("replayed answer %s\nwant %s", again.acc.RawJSON(), first.acc.RawJSON())
					}
					if c.tools && len(first.acc.Choices[0].Message.ToolCalls) == 0 {
						t.Fatalf("no tool call to replay: %s", first.acc.RawJSON())
					}
					if strings.Contains(c.prompt, "[[thinking]]") && first.reasoning == "" {
						t.Fatalf("no reasoning to replay: %q", first.chunks)
					}
					// The other form is served from the same entry.
					if stream {
						params.StreamOptions = openai.ChatCompletionStreamOptionsParam{}
					} else {
						params.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
					}
					other := ask(t, client, params, !stream)
					if other.cache != "HIT" || c.calls() != before+1 || !same(other, first) {
						t.Fatalf("other form: cache %q, upstream calls %d\n%+v %q\nwant %+v %q", other.cache, c.calls()-before,
							other.acc.Choices, other.reasoning, first.acc.Choices, first.reasoning)
					}
				})
			}
		}
	}
	// A sampled request is not cached: no header, and every call goes upstream.
	before := e.fake.Stats().Requests
	for range 2 {
		a := ask(t, e.sdk("h1c"), openai.ChatCompletionNewParams{Model: "fake/gpt-4o-mini",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("sampled")}, Temperature: openai.Float(0.8)}, false)
		if a.cache != "" {
			t.Fatalf("sampled request: cache %q", a.cache)
		}
	}
	if n := e.fake.Stats().Requests - before; n != 2 {
		t.Fatalf("sampled requests made %d upstream calls, want 2", n)
	}
	// What the cache saved is counted.
	metrics := e.get("h1c", "/metrics")
	for _, series := range []string{`crossroads_cache_requests_total{result="hit"}`, `crossroads_cache_saved_tokens_total{kind="completion"}`,
		"crossroads_cache_saved_usd_total", "crossroads_cache_entries"} {
		if v := metricValue(metrics, series); !(v > 0) {
			t.Errorf("%s = %v, want > 0", series, v)
		}
	}
}

// TestCacheCoalescesThroughNode: identical streams sent at once over each protocol make one
// upstream call between them, and every client receives the same chunks.
func TestCacheCoalescesThroughNode(t *testing.T) {
	e := start(t, fakeupstream.Config{Chunks: 20})
	const n = 12
	for _, proto := range edgetest.Protocols {
		t.Run(proto, func(t *testing.T) {
			client := e.sdk(proto)
			params := openai.ChatCompletionNewParams{
				Model: "fake/gpt-4o-mini",
				// The fake's first byte comes after 300ms, so all requests arrive while the
				// first one waits for it.
				User:        openai.String("fake:ttft=300ms"),
				Messages:    []openai.ChatCompletionMessageParamUnion{openai.UserMessage("coalesce me " + proto)},
				Temperature: openai.Float(0),
			}
			before := e.fake.Stats().Requests
			answers := make([]answer, n)
			var wg sync.WaitGroup
			for i := range n {
				wg.Add(1)
				go func() {
					defer wg.Done()
					answers[i] = ask(t, client, params, true)
				}()
			}
			wg.Wait()
			if calls := e.fake.Stats().Requests - before; calls != 1 {
				t.Fatalf("%d identical streams made %d upstream calls, want 1", n, calls)
			}
			counts := map[string]int{}
			for i, a := range answers {
				counts[a.cache]++
				if !reflect.DeepEqual(a.chunks, answers[0].chunks) || len(a.chunks) < 20 {
					t.Fatalf("client %d got %d chunks, differing from client 0's %d", i, len(a.chunks), len(answers[0].chunks))
				}
			}
			if counts["MISS"] != 1 || counts["COALESCED"]+counts["HIT"] != n-1 {
				t.Fatalf("cache statuses %v, want one MISS and the rest shared", counts)
			}
		})
	}
}

func (e *env) get(proto, path string) string {
	e.t.Helper()
	resp, err := e.client(proto).Get(e.url(proto, path))
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func metricValue(text, series string) float64 {
	for _, line := range strings.Split(text, "\n") {
		if rest, ok := strings.CutPrefix(line, series+" "); ok {
			v, _ := strconv.ParseFloat(rest, 64)
			return v
		}
	}
	return -1
}

// TestCacheSharedAcrossNodes: two nodes of one PoP share answers through Redis (L2): what
// one node fetched, the other serves as a hit, streamed or not; and when Redis dies, both
// go on serving, from their own memory or upstream.
func TestCacheSharedAcrossNodes(t *testing.T) {
	rs := redistest.New(t)
	fake, fakeURL := startFake(t, fakeupstream.Config{Chunks: 6})
	extra := fmt.Sprintf("cache: {redis: {url: %q, prefix: %q}}\n", rs.URL, "test:"+t.Name()+":")
	node := func() http.Handler { return handlerNode(t, fakeURL, extra).Handler() }
	a, b := node(), node()
	post := func(h http.Handler, body string) (string, string) {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(body)))
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return w.Header().Get("X-Crossroads-Cache"), w.Body.String()
	}
	body := func(prompt string, stream bool) string {
		return fmt.Sprintf(`{"model":"fake/gpt-4o-mini","messages":[{"role":"user","content":%q}],"temperature":0,"stream":%v}`, prompt, stream)
	}
	opt, err := redis.ParseURL(rs.URL)
	if err != nil {
		t.Fatal(err)
	}
	rc := redis.NewClient(opt)
	t.Cleanup(func() { rc.Close() })
	for i, stream := range []bool{false, true} {
		p := fmt.Sprint("shared ", stream)
		if st, _ := post(a, body(p, stream)); st != "MISS" {
			t.Fatalf("node A first: %q", st)
		}
		// A streamed answer reaches Redis just after its last event reaches the client:
		// the shared write stays off the client's path.
		for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
			keys, err := rc.Keys(context.Background(), "test:"+t.Name()+":*").Result()
			if err == nil && len(keys) == i+1 {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("node A's entry never reached Redis: %v %v", keys, err)
			}
		}
		calls := fake.Stats().Requests
		st, got := post(b, body(p, stream))
		if st != "HIT" || fake.Stats().Requests != calls {
			t.Fatalf("node B after A (stream=%v): %q, %d more upstream calls", stream, st, fake.Stats().Requests-calls)
		}
		if !strings.Contains(got, "chat.completion") {
			t.Fatalf("node B's answer: %s", got)
		}
	}
	rs.Kill()
	calls := fake.Stats().Requests
	if st, _ := post(b, body("shared true", true)); st != "HIT" {
		t.Fatalf("node B with Redis dead, entry in its memory: %q", st)
	}
	if st, _ := post(a, body("after redis died", false)); st != "MISS" || fake.Stats().Requests != calls+1 {
		t.Fatalf("node A with Redis dead: %q", st)
	}
	if st, _ := post(b, body("after redis died", false)); st != "MISS" {
		t.Fatalf("node B with Redis dead cannot share: %q", st)
	}
}

// TestCacheUsageRecords: the upstream answer is billed at the endpoint's price; the hit that
// repeats it costs nothing and records exactly that cost as saved.
func TestCacheUsageRecords(t *testing.T) {
	_, fakeURL := startFake(t, fakeupstream.Config{})
	var mu sync.Mutex
	var recs []edge.UsageRecord
	n := handlerNode(t, fakeURL, "", edge.WithUsage(func(r *edge.UsageRecord) { mu.Lock(); recs = append(recs, *r); mu.Unlock() }))
	for _, stream := range []bool{false, true, false} {
		w := httptest.NewRecorder()
		n.Handler().ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(
			fmt.Sprintf(`{"model":"fake/gpt-4o-mini","seed":7,"stream":%v,"messages":[{"role":"user","content":"bill me"}]}`, stream))))
		if w.Code != 200 {
			t.Fatalf("%d %s", w.Code, w.Body)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(recs) != 3 {
		t.Fatalf("%d records", len(recs))
	}
	miss := recs[0]
	if miss.Cache != "MISS" || !(miss.CostUSD > 0) || miss.SavedUSD != 0 || miss.Usage.CompletionTokens == 0 || !miss.Complete {
		t.Fatalf("miss record %+v", miss)
	}
	for _, hit := range recs[1:] {
		if hit.Cache != "HIT" || hit.CostUSD != 0 || hit.SavedUSD != miss.CostUSD || hit.Usage != miss.Usage || !hit.Complete ||
			hit.Provider != miss.Provider || hit.Model != miss.Model {
			t.Fatalf("hit record %+v, miss %+v", hit, miss)
		}
	}
	if !recs[1].Stream || recs[2].Stream {
		t.Fatalf("stream flags %v %v", recs[1].Stream, recs[2].Stream)
	}
}

// TestCacheL2ConnectsLater: a node whose Redis is down when it starts serves from its own
// memory, and attaches the shared store once Redis answers, without a restart.
func TestCacheL2ConnectsLater(t *testing.T) {
	edge.SetL2Retry(t, 50*time.Millisecond)
	rs := redistest.Start(t)
	rs.Kill()
	_, fakeURL := startFake(t, fakeupstream.Config{})
	extra := fmt.Sprintf("cache: {redis: {url: %q, prefix: %q}}\n", rs.URL, "test:"+t.Name()+":")
	// handlerNode fails the test if a node cannot start while Redis is down.
	node := func() http.Handler { return handlerNode(t, fakeURL, extra).Handler() }
	a, b := node(), node()
	post := func(h http.Handler, prompt string) string {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(
			fmt.Sprintf(`{"model":"fake/gpt-4o-mini","temperature":0,"messages":[{"role":"user","content":%q}]}`, prompt))))
		if w.Code != 200 {
			t.Fatalf("status %d: %s", w.Code, w.Body)
		}
		return w.Header().Get("X-Crossroads-Cache")
	}
	if st := post(a, "before"); st != "MISS" {
		t.Fatalf("node A with Redis down: %q", st)
	}
	if st := post(a, "before"); st != "HIT" {
		t.Fatalf("node A's own memory with Redis down: %q", st)
	}
	rs.Restart()
	// Both nodes attach within a few retry periods; then B sees what A stores.
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; ; i++ {
		p := fmt.Sprint("after ", i)
		post(a, p)
		if post(b, p) == "HIT" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the nodes never shared an entry after Redis came up")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// startFake serves a fake OpenAI upstream for the test.
func startFake(t *testing.T, fc fakeupstream.Config) (*fakeupstream.Server, string) {
	t.Helper()
	fake := fakeupstream.New(fc)
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); srv.Close() })
	return fake, srv.URL
}

// handlerNode is a node without listeners serving fake/gpt-4o-mini from the fake at
// fakeURL (priced, so usage has a cost), with extra YAML appended to its configuration.
func handlerNode(t *testing.T, fakeURL, extra string, opts ...edge.Option) *edge.Node {
	t.Helper()
	yaml := fmt.Sprintf(`
data_dir: %s
sim: {enabled: false}
log: {level: error}
providers:
  - {name: fake, base_url: "%s/v1", models: [{id: fake/gpt-4o-mini, upstream_id: gpt-4o-mini, pricing: {prompt: 0.15, completion: 0.6}}]}
`, t.TempDir(), fakeURL) + extra
	cfg, err := edge.ParseConfig([]byte(yaml), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	n, err := edge.New(cfg, append([]edge.Option{edge.WithoutListeners(), edge.WithLogger(slog.New(slog.DiscardHandler))}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}
