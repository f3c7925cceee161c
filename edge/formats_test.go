package edge_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/shared"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
	"github.com/crossroads-llm/crossroads/bench/fakeupstream/anthropic"
	"github.com/crossroads-llm/crossroads/bench/fakeupstream/gemini"
	"github.com/crossroads-llm/crossroads/edge"
	"github.com/crossroads-llm/crossroads/edge/internal/edgetest"
)

// TestFormatPluginsEndToEnd serves the default catalog's Anthropic and Gemini models
// through the built-in format plugins, in front of fakes that speak the Messages and
// generateContent wire formats, and drives them with the official OpenAI SDK over
// HTTP/1.1, HTTP/2 and HTTP/3: plain and streamed answers, tool calls, reasoning, usage
// and errors must look to the SDK exactly as OpenAI's would.
func TestFormatPluginsEndToEnd(t *testing.T) {
	ant, antURL := anthropic.Start(t, anthropic.Options{APIKey: "sk-ant-test"})
	gem, gemURL := gemini.Start(t, gemini.Options{APIKey: "gm-test"})
	e := startWith(t, fakeupstream.Config{}, map[string]string{
		"ANTHROPIC_API_KEY": "sk-ant-test", "ANTHROPIC_BASE_URL": antURL + "/v1",
		"GEMINI_API_KEY": "gm-test", "GEMINI_BASE_URL": gemURL + "/v1beta",
	})
	ctx := context.Background()
	weather := []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
		Name: "get_weather",
		Parameters: shared.FunctionParameters{
			"type":       "object",
			"properties": map[string]any{"city": map[string]any{"type": "string"}},
			"required":   []string{"city"},
		},
	})}
	models := []struct {
		name, model, provider string
		calls                 func() int
	}{
		{"anthropic", "anthropic/claude-sonnet-4.5", "Anthropic", ant.Calls},
		{"gemini", "google/gemini-2.5-flash", "Google AI Studio", gem.Calls},
	}
	for _, proto := range edgetest.Protocols {
		client := e.sdk(proto)
		for _, m := range models {
			t.Run(proto+"/"+m.name, func(t *testing.T) {
				before := m.calls()
				t.Run("non-stream", func(t *testing.T) {
					c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
						Model: shared.ChatModel(m.model),
						Messages: []openai.ChatCompletionMessageParamUnion{
							openai.SystemMessage("Be brief."), openai.UserMessage("hello [[words:7]]")},
						MaxTokens: openai.Int(100),
					})
					if err != nil {
						t.Fatal(err)
					}
					var extra struct {
						Provider string `json:"provider"`
					}
					_ = json.Unmarshal([]byte(c.RawJSON()), &extra)
					if c.Object != "chat.completion" || c.Model != m.model || extra.Provider != m.provider ||
						len(strings.Fields(c.Choices[0].Message.Content)) != 7 || c.Choices[0].FinishReason != "stop" ||
						c.Usage.PromptTokens == 0 || c.Usage.CompletionTokens == 0 || c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
						t.Fatalf("completion = %s", c.RawJSON())
					}
				})
				t.Run("stream", func(t *testing.T) {
					stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
						Model:         shared.ChatModel(m.model),
						Messages:      []openai.ChatCompletionMessageParamUnion{openai.UserMessage("tell me more [[words:40]]")},
						StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)},
					})
					var acc openai.ChatCompletionAccumulator
					n := 0
					for stream.Next() {
						if !acc.AddChunk(stream.Current()) {
							t.Fatalf("accumulator rejected chunk %d: %s", n, stream.Current().RawJSON())
						}
						n++
					}
					if err := stream.Err(); err != nil {
						t.Fatal(err)
					}
					if n < 3 || len(strings.Fields(acc.Choices[0].Message.Content)) != 40 || acc.Choices[0].FinishReason != "stop" ||
						acc.Usage.CompletionTokens == 0 || acc.Usage.PromptTokens == 0 {
						t.Fatalf("accumulated %d chunks: %+v", n, acc.ChatCompletion)
					}
				})
				t.Run("tool call, streamed", func(t *testing.T) {
					stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
						Model:    shared.ChatModel(m.model),
						Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("weather in Paris? [[tool:get_weather]]")},
						Tools:    weather,
					})
					var acc openai.ChatCompletionAccumulator
					for stream.Next() {
						acc.AddChunk(stream.Current())
					}
					if err := stream.Err(); err != nil {
						t.Fatal(err)
					}
					calls := acc.Choices[0].Message.ToolCalls
					if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].ID == "" || acc.Choices[0].FinishReason != "tool_calls" {
						t.Fatalf("tool calls = %+v finish %q", calls, acc.Choices[0].FinishReason)
					}
					var args map[string]any
					if err := json.Unmarshal([]byte(calls[0].Function.Arguments), &args); err != nil || args["city"] == nil {
						t.Fatalf("arguments %q: %v", calls[0].Function.Arguments, err)
					}

					// The tool loop's second turn: the assistant's call and its result go back.
					c, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
						Model: shared.ChatModel(m.model),
						Messages: []openai.ChatCompletionMessageParamUnion{
							openai.UserMessage("weather in Paris?"),
							acc.Choices[0].Message.ToParam(),
							openai.ToolMessage(`{"temp_c": 21}`, calls[0].ID),
						},
						Tools: weather,
					})
					if err != nil {
						t.Fatal(err)
					}
					if c.Choices[0].Message.Content == "" || c.Choices[0].FinishReason != "stop" {
						t.Fatalf("answer after the tool result = %s", c.RawJSON())
					}
				})
				t.Run("errors", func(t *testing.T) {
					for _, tc := range []struct {
						directive string
						status    int
					}{
						{"[[status:429]]", 429},
						{"[[status:500]]", 502},
						{"[[status:503]]", 502},
					} {
						_, err := client.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{
							Model:    shared.ChatModel(m.model),
							Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("hi " + tc.directive)},
						})
						var apiErr *openai.Error
						if !errors.As(err, &apiErr) || apiErr.StatusCode != tc.status || apiErr.Message == "" {
							t.Fatalf("%s: err = %v, want an API error with status %d and a message", tc.directive, err, tc.status)
						}
					}
				})
				t.Run("mid-stream error", func(t *testing.T) {
					stream := client.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{
						Model:    shared.ChatModel(m.model),
						Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("go on [[words:30]] [[stream_error]]")},
					})
					for stream.Next() {
					}
					if stream.Err() == nil {
						t.Fatal("a provider's error event mid-stream reached the SDK as a clean end")
					}
				})
				if m.calls() == before {
					t.Fatal("the fake upstream saw no request")
				}
			})
		}
	}
}

// TestFormatPluginReloadMidStream replaces the Anthropic format plugin (a new limit makes it
// a new plugin) while a slow stream is being translated by the old one: the stream finishes
// on the generation it started on, and the next request uses the new plugin.
func TestFormatPluginReloadMidStream(t *testing.T) {
	_, antURL := anthropic.Start(t, anthropic.Options{APIKey: "sk-ant-test", StreamDelay: 5 * time.Millisecond})
	node, base, write := reloadableAnthropicNode(t, antURL)

	var wg sync.WaitGroup
	var streamed routed
	wg.Add(1)
	go func() {
		defer wg.Done()
		streamed = chat(t, http.DefaultClient, base, `{"model":"anthropic/claude-haiku-4.5","stream":true,"messages":[{"role":"user","content":"go [[words:60]]"}]}`)
	}()
	time.Sleep(60 * time.Millisecond) // well into the stream: 60 words at 5 ms per event
	write(8_000_000)
	if err := node.Reload(); err != nil {
		t.Fatal(err)
	}
	if r := chat(t, http.DefaultClient, base, `{"model":"anthropic/claude-haiku-4.5","messages":[{"role":"user","content":"hi"}]}`); r.status != 200 {
		t.Fatalf("after the reload: %d %s", r.status, r.body)
	}
	wg.Wait()
	body := string(streamed.body)
	if streamed.status != 200 || !strings.Contains(body, "data: [DONE]") || strings.Contains(body, `"error"`) || strings.Count(body, `"content":"`) < 30 {
		t.Fatalf("the stream across the reload: %d %s", streamed.status, body)
	}
}

// TestCachedFlightOutlivesCallerAndReload: the request that started a cacheable stream
// leaves at once and the configuration reloads (replacing the format plugin) while the
// shared upstream call goes on; the call must still complete through the plugin it started
// with and be stored, so the next identical request is a hit. The call holds its
// generation: without that, the plugin closes under it when its request ends.
func TestCachedFlightOutlivesCallerAndReload(t *testing.T) {
	ant, antURL := anthropic.Start(t, anthropic.Options{APIKey: "sk-ant-test", StreamDelay: 5 * time.Millisecond})
	node, base, write := reloadableAnthropicNode(t, antURL)
	body := `{"model":"anthropic/claude-haiku-4.5","stream":true,"temperature":0,"messages":[{"role":"user","content":"go [[words:60]]"}]}`

	// The first caller reads the headers and hangs up.
	ctx, leave := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/chat/completions", strings.NewReader(body))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-Crossroads-Cache"); got != "MISS" {
		t.Fatalf("first caller: %q", got)
	}
	leave()
	resp.Body.Close()
	write(8_000_000)
	if err := node.Reload(); err != nil {
		t.Fatal(err)
	}
	calls := ant.Calls()
	// 60 words at 5 ms an event: the call finishes well within the wait.
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := chat(t, http.DefaultClient, base, body)
		if r.status != 200 {
			t.Fatalf("repeat: %d %s", r.status, r.body)
		}
		if r.hdr.Get("X-Crossroads-Cache") == "HIT" {
			if !strings.Contains(string(r.body), "data: [DONE]") || strings.Contains(string(r.body), `"error"`) || strings.Count(string(r.body), `"content":"`) < 30 {
				t.Fatalf("replayed stream: %s", r.body)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("never a hit; last answer %q", r.hdr.Get("X-Crossroads-Cache"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	if ant.Calls() != calls {
		t.Fatalf("the repeats made %d more upstream calls, want 0 (coalesced onto the first, then hits)", ant.Calls()-calls)
	}
}

// reloadableAnthropicNode runs a node from a config file that serves Anthropic through the
// built-in format plugin; write(fuel) rewrites the file with another fuel limit, which a
// reload turns into a new plugin instance.
func reloadableAnthropicNode(t *testing.T, antURL string) (*edge.Node, string, func(fuel int)) {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "crossroads.yaml")
	write := func(fuel int) {
		y := fmt.Sprintf("data_dir: %s\nlisten: {tls: off, plain: \"127.0.0.1:0\"}\nlog: {level: error}\nsim: {enabled: false}\n"+
			"plugins:\n  - {name: anthropic, kind: format, limits: {fuel: %d}}\n"+
			"providers:\n  - {name: anthropic, base_url: %q, api_key: sk-ant-test}\n", dir, fuel, antURL+"/v1")
		if err := os.WriteFile(path+".tmp", []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(9_000_000)
	cfg, err := edge.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	node, base := runNode(t, cfg, edge.WithConfigFile(path))
	return node, base, write
}
