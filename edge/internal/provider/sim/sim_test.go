package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

func TestNonStreamModels(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	weather := []map[string]any{{
		"type": "function",
		"function": map[string]any{
			"name": "get_weather",
			"parameters": map[string]any{
				"type":       "object",
				"properties": map[string]any{"city": map[string]any{"type": "string"}},
				"required":   []string{"city"},
			},
		},
	}}
	tests := []struct {
		name       string
		req        map[string]any
		finish     string
		wantText   bool
		wantReason bool
		wantTool   string
	}{
		{name: "chat", req: map[string]any{"model": "chat", "messages": userMsg("hello")}, finish: "stop", wantText: true},
		{name: "fast", req: map[string]any{"model": "fast", "messages": userMsg("hello")}, finish: "stop", wantText: true},
		{name: "sim prefix tolerated", req: map[string]any{"model": "sim/fast", "messages": userMsg("hello")}, finish: "stop", wantText: true},
		{name: "tools without tools answers", req: map[string]any{"model": "tools", "messages": userMsg("hello")}, finish: "stop", wantText: true},
		{name: "tools calls", req: map[string]any{"model": "tools", "messages": userMsg("weather?"), "tools": weather}, finish: "tool_calls", wantTool: "get_weather"},
		{name: "tools with tool_choice none", req: map[string]any{"model": "tools", "messages": userMsg("weather?"), "tools": weather, "tool_choice": "none"}, finish: "stop", wantText: true},
		{name: "chat with tools auto answers", req: map[string]any{"model": "chat", "messages": userMsg("weather?"), "tools": weather}, finish: "stop", wantText: true},
		{name: "chat with tool_choice required", req: map[string]any{"model": "chat", "messages": userMsg("weather?"), "tools": weather, "tool_choice": "required"}, finish: "tool_calls", wantTool: "get_weather"},
		{name: "reasoning", req: map[string]any{"model": "reasoning", "messages": userMsg("think")}, finish: "stop", wantText: true, wantReason: true},
		{name: "reasoning excluded", req: map[string]any{"model": "reasoning", "messages": userMsg("think"), "reasoning": map[string]any{"exclude": true}}, finish: "stop", wantText: true},
		{name: "max_tokens cuts", req: map[string]any{"model": "fast", "messages": userMsg("hello"), "max_tokens": 3}, finish: "length", wantText: true},
		{name: "content parts", req: map[string]any{"model": "fast", "messages": []map[string]any{{"role": "user", "content": []map[string]any{{"type": "text", "text": "hi"}}}}}, finish: "stop", wantText: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := post(t, c, context.Background(), tc.req)
			if resp.Proto != "HTTP/1.1" || resp.ProtoMajor != 1 || resp.ProtoMinor != 1 {
				t.Errorf("proto %q %d.%d", resp.Proto, resp.ProtoMajor, resp.ProtoMinor)
			}
			if resp.Request == nil || resp.Request.URL.Host != "sim.local" {
				t.Errorf("response does not carry its request")
			}
			got := decodeCompletion(t, resp)
			ch := got.Choices[0]
			if got.Model != tc.req["model"] {
				t.Errorf("model %q, want %q", got.Model, tc.req["model"])
			}
			if ch.FinishReason != tc.finish {
				t.Errorf("finish_reason %q, want %q", ch.FinishReason, tc.finish)
			}
			if ch.Message.Role != "assistant" {
				t.Errorf("role %q", ch.Message.Role)
			}
			if hasText := ch.Message.Content != nil && *ch.Message.Content != ""; hasText != tc.wantText {
				t.Errorf("content %v, want text %v", ch.Message.Content, tc.wantText)
			}
			if hasReason := ch.Message.Reasoning != nil; hasReason != tc.wantReason {
				t.Errorf("reasoning present %v, want %v", hasReason, tc.wantReason)
			}
			if tc.name == "reasoning" || tc.name == "reasoning excluded" {
				if got.Usage.CompletionTokensDetails.ReasoningTokens == 0 {
					t.Errorf("reasoning_tokens = 0")
				}
			}
			if tc.wantTool != "" {
				if len(ch.Message.ToolCalls) != 1 {
					t.Fatalf("tool_calls = %d", len(ch.Message.ToolCalls))
				}
				call := ch.Message.ToolCalls[0]
				if call.Function.Name != tc.wantTool || !strings.HasPrefix(call.ID, "call_") || call.Type != "function" {
					t.Errorf("tool call %+v", call)
				}
				if !json.Valid([]byte(call.Function.Arguments)) {
					t.Errorf("arguments not JSON: %q", call.Function.Arguments)
				}
			} else if len(ch.Message.ToolCalls) != 0 {
				t.Errorf("unexpected tool calls %+v", ch.Message.ToolCalls)
			}
			if tc.finish == "length" && got.Usage.CompletionTokens != 3 {
				t.Errorf("completion_tokens %d, want the cap 3", got.Usage.CompletionTokens)
			}
		})
	}
}

func TestStreamFraming(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	tests := []struct {
		name  string
		model string
		extra map[string]any
	}{
		{name: "chat", model: "chat"},
		{name: "fast", model: "fast"},
		{name: "reasoning", model: "reasoning"},
		{name: "tools", model: "tools", extra: map[string]any{"tools": []map[string]any{{"type": "function", "function": map[string]any{"name": "lookup", "parameters": map[string]any{"type": "object", "properties": map[string]any{"q": map[string]any{"type": "string"}}}}}}}},
		{name: "length", model: "fast", extra: map[string]any{"max_completion_tokens": 4}},
		{name: "structured", model: "fast", extra: map[string]any{"response_format": map[string]any{"type": "json_object"}}},
	}
	for _, tc := range tests {
		for _, includeUsage := range []bool{false, true} {
			name := tc.name + "/usage=" + map[bool]string{false: "off", true: "on"}[includeUsage]
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				req := map[string]any{"model": tc.model, "messages": userMsg("stream please"), "stream": true}
				if includeUsage {
					req["stream_options"] = map[string]any{"include_usage": true}
				}
				for k, v := range tc.extra {
					req[k] = v
				}
				s := readStream(t, post(t, c, context.Background(), req), includeUsage, false)
				if !s.done || s.err != nil {
					t.Fatalf("done=%v err=%v", s.done, s.err)
				}

				// The stream must say exactly what the JSON answer says.
				delete(req, "stream")
				delete(req, "stream_options")
				full := decodeCompletion(t, post(t, c, context.Background(), req))
				msg := full.Choices[0].Message
				if msg.Content != nil && s.content != *msg.Content {
					t.Errorf("stream content %q\nnon-stream      %q", s.content, *msg.Content)
				}
				if msg.Reasoning != nil && s.reason != *msg.Reasoning {
					t.Errorf("stream reasoning differs from non-stream")
				}
				if len(msg.ToolCalls) == 1 && (s.args != msg.ToolCalls[0].Function.Arguments || s.toolID != msg.ToolCalls[0].ID) {
					t.Errorf("stream tool call %q %q, non-stream %+v", s.toolID, s.args, msg.ToolCalls[0])
				}
				if s.finish != full.Choices[0].FinishReason {
					t.Errorf("finish %q vs %q", s.finish, full.Choices[0].FinishReason)
				}
				if includeUsage && *s.usage != full.Usage {
					t.Errorf("stream usage %+v, non-stream %+v", *s.usage, full.Usage)
				}
				if tc.model == "reasoning" {
					// Reasoning comes strictly before the answer.
					seenContent := false
					for _, ch := range s.chunks {
						for _, c := range ch.Choices {
							if c.Delta.Content != nil && *c.Delta.Content != "" {
								seenContent = true
							}
							if c.Delta.Reasoning != nil && seenContent {
								t.Fatalf("reasoning after content")
							}
						}
					}
					if s.reason == "" {
						t.Errorf("no reasoning streamed")
					}
				}
			})
		}
	}
}

func TestDeterminism(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	content := func(req map[string]any) string {
		got := decodeCompletion(t, post(t, c, context.Background(), req))
		return *got.Choices[0].Message.Content
	}
	base := map[string]any{"model": "fast", "messages": userMsg("tell me a story")}
	a, b := content(base), content(base)
	if a != b {
		t.Fatalf("same request, different content:\n%q\n%q", a, b)
	}
	tests := []struct {
		name string
		req  map[string]any
		same bool
	}{
		{name: "other prompt", req: map[string]any{"model": "fast", "messages": userMsg("tell me a poem")}},
		{name: "seed", req: map[string]any{"model": "fast", "messages": userMsg("tell me a story"), "seed": 7}},
		{name: "temperature ignored", req: map[string]any{"model": "fast", "messages": userMsg("tell me a story"), "temperature": 1.5, "top_p": 0.2}, same: true},
		{name: "model does not matter", req: map[string]any{"model": "chat", "messages": userMsg("tell me a story")}, same: true},
		{name: "escaped form of the same text", req: map[string]any{"model": "fast", "messages": []map[string]any{{"role": "user", "content": "tell me a story"}}}, same: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := content(tc.req); (got == a) != tc.same {
				t.Errorf("same=%v, want %v: %q", got == a, tc.same, got)
			}
		})
	}
	t.Run("raw escapes", func(t *testing.T) {
		// \u0074 is "t": the decoded text, not the bytes, seeds the output.
		got := decodeCompletion(t, post(t, c, context.Background(), `{"model":"fast","messages":[{"role":"user","content":"\u0074ell me a story"}]}`))
		if *got.Choices[0].Message.Content != a {
			t.Errorf("escaped request gave different content")
		}
	})
}

func TestUsageAccounting(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	tests := []struct {
		name       string
		msgs       []map[string]any
		maxTokens  int
		wantPrompt int
		wantCompl  int
	}{
		// ceil(bytes/4) + 4 per message.
		{name: "one message", msgs: userMsg("12345678"), wantPrompt: 2 + 4},
		{name: "rounds up", msgs: userMsg("123456789"), wantPrompt: 3 + 4},
		{name: "two messages", msgs: []map[string]any{{"role": "system", "content": "1234"}, {"role": "user", "content": "1234"}}, wantPrompt: 2 + 8},
		{name: "tokens directive", msgs: userMsg("x\n[sim tokens=17]"), wantPrompt: 5 + 4, wantCompl: 17},
		{name: "cap under directive", msgs: userMsg("x\n[sim tokens=17]"), maxTokens: 5, wantPrompt: 5 + 4, wantCompl: 5},
		{name: "cap over directive", msgs: userMsg("x\n[sim tokens=17]"), maxTokens: 50, wantPrompt: 5 + 4, wantCompl: 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := map[string]any{"model": "fast", "messages": tc.msgs}
			if tc.maxTokens > 0 {
				req["max_tokens"] = tc.maxTokens
			}
			got := decodeCompletion(t, post(t, c, context.Background(), req))
			if got.Usage.PromptTokens != tc.wantPrompt {
				t.Errorf("prompt_tokens %d, want %d", got.Usage.PromptTokens, tc.wantPrompt)
			}
			if tc.wantCompl > 0 {
				if got.Usage.CompletionTokens != tc.wantCompl {
					t.Errorf("completion_tokens %d, want %d", got.Usage.CompletionTokens, tc.wantCompl)
				}
				if words := len(strings.Fields(*got.Choices[0].Message.Content)); words != tc.wantCompl {
					t.Errorf("%d words for %d tokens", words, tc.wantCompl)
				}
			} else if n := got.Usage.CompletionTokens; n < 24 || n > 96 {
				t.Errorf("natural length %d outside 24..96", n)
			}
		})
	}
	t.Run("config max tokens", func(t *testing.T) {
		t.Parallel()
		c := newClient(Config{TTFT: -1, TokensPerSecond: -1, MaxTokens: 7})
		got := decodeCompletion(t, post(t, c, context.Background(), map[string]any{"model": "chat", "messages": userMsg("hi")}))
		if got.Usage.CompletionTokens != 7 || got.Choices[0].FinishReason != "stop" {
			t.Errorf("got %d tokens, finish %q", got.Usage.CompletionTokens, got.Choices[0].FinishReason)
		}
	})
}

// toolSchemas exercises the argument generator through the wire.
var toolSchemas = []struct {
	name     string
	schema   string
	required []string // keys that must be present at the top level
	check    func(args map[string]any) string
}{
	{
		name:     "required only",
		schema:   `{"type":"object","properties":{"city":{"type":"string"},"unit":{"type":"string","enum":["celsius","fahrenheit"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"]}`,
		required: []string{"city", "days"},
		check: func(a map[string]any) string {
			if _, ok := a["unit"]; ok {
				return "optional key filled although some are required"
			}
			if d, _ := a["days"].(float64); d < 1 || d > 7 || d != float64(int(d)) {
				return "days not an integer in 1..7"
			}
			return ""
		},
	},
	{
		name:     "all when none required",
		schema:   `{"type":"object","properties":{"q":{"type":"string"},"limit":{"type":"number"},"exact":{"type":"boolean"},"unit":{"enum":["c","f"]}}}`,
		required: []string{"q", "limit", "exact", "unit"},
		check: func(a map[string]any) string {
			if a["exact"] != true || a["unit"] != "c" {
				return "boolean must be true and enum its first value"
			}
			return ""
		},
	},
	{
		name:     "nested objects and arrays",
		schema:   `{"type":"object","properties":{"filter":{"type":"object","properties":{"tags":{"type":"array","items":{"type":"string"}},"range":{"type":"object","properties":{"from":{"type":"integer"}},"required":["from"]}},"required":["tags","range"]}},"required":["filter"]}`,
		required: []string{"filter"},
		check: func(a map[string]any) string {
			f, _ := a["filter"].(map[string]any)
			tags, _ := f["tags"].([]any)
			r, _ := f["range"].(map[string]any)
			if len(tags) != 1 || r["from"] == nil {
				return "nested values missing"
			}
			return ""
		},
	},
	{
		name:     "refs and nullable types",
		schema:   `{"type":"object","$defs":{"Point":{"type":"object","properties":{"x":{"type":"number"},"y":{"type":"number"}},"required":["x","y"]}},"properties":{"p":{"$ref":"#/$defs/Point"},"label":{"type":["string","null"]},"alt":{"anyOf":[{"type":"null"},{"type":"integer"}]}},"required":["p","label","alt"]}`,
		required: []string{"p", "label", "alt"},
		check: func(a map[string]any) string {
			p, _ := a["p"].(map[string]any)
			if _, ok := p["x"].(float64); !ok {
				return "ref not resolved"
			}
			if _, ok := a["label"].(string); !ok {
				return "nullable string not a string"
			}
			if _, ok := a["alt"].(float64); !ok {
				return "anyOf did not skip null"
			}
			return ""
		},
	},
	{
		name:     "required key not declared",
		schema:   `{"type":"object","properties":{},"required":["ghost"]}`,
		required: []string{"ghost"},
	},
	{
		name:   "no parameters",
		schema: `null`,
	},
	{
		name:     "recursive ref terminates",
		schema:   `{"type":"object","$defs":{"N":{"type":"object","properties":{"next":{"$ref":"#/$defs/N"}},"required":["next"]}},"properties":{"n":{"$ref":"#/$defs/N"}},"required":["n"]}`,
		required: []string{"n"},
	},
}

func TestToolCallArguments(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	for _, tc := range toolSchemas {
		for _, stream := range []bool{false, true} {
			t.Run(tc.name+map[bool]string{false: "/json", true: "/stream"}[stream], func(t *testing.T) {
				t.Parallel()
				req := map[string]any{
					"model":    "tools",
					"messages": userMsg("use the tool"),
					"stream":   stream,
					"tools": []map[string]any{{"type": "function", "function": map[string]any{
						"name": "fn", "parameters": json.RawMessage(tc.schema),
					}}},
				}
				var args, finish string
				if stream {
					s := readStream(t, post(t, c, context.Background(), req), false, false)
					args, finish = s.args, s.finish
					if s.tool != "fn" || !strings.HasPrefix(s.toolID, "call_") {
						t.Errorf("tool header %q %q", s.tool, s.toolID)
					}
					if s.content != "" {
						t.Errorf("content alongside a tool call: %q", s.content)
					}
				} else {
					got := decodeCompletion(t, post(t, c, context.Background(), req))
					if len(got.Choices[0].Message.ToolCalls) != 1 {
						t.Fatalf("no tool call")
					}
					args, finish = got.Choices[0].Message.ToolCalls[0].Function.Arguments, got.Choices[0].FinishReason
				}
				if finish != "tool_calls" {
					t.Errorf("finish %q", finish)
				}
				var parsed map[string]any
				if err := json.Unmarshal([]byte(args), &parsed); err != nil {
					t.Fatalf("arguments %q: %v", args, err)
				}
				for _, k := range tc.required {
					if _, ok := parsed[k]; !ok {
						t.Errorf("arguments %s lack required %q", args, k)
					}
				}
				if tc.check != nil {
					if msg := tc.check(parsed); msg != "" {
						t.Errorf("%s: %s", msg, args)
					}
				}
			})
		}
	}
}

func TestToolChoice(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	tools := []map[string]any{
		{"type": "function", "function": map[string]any{"name": "first", "parameters": map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"type": "string"}}}}},
		{"type": "function", "function": map[string]any{"name": "second", "parameters": map[string]any{"type": "object", "properties": map[string]any{"b": map[string]any{"type": "integer"}}}}},
	}
	tests := []struct {
		name   string
		model  string
		choice any
		want   string // tool name, or "" for a text answer
	}{
		{name: "tools model picks the first", model: "tools", want: "first"},
		{name: "auto", model: "tools", choice: "auto", want: "first"},
		{name: "named", model: "tools", choice: map[string]any{"type": "function", "function": map[string]any{"name": "second"}}, want: "second"},
		{name: "named on any model", model: "fast", choice: map[string]any{"type": "function", "function": map[string]any{"name": "second"}}, want: "second"},
		{name: "required on any model", model: "reasoning", choice: "required", want: "first"},
		{name: "none", model: "tools", choice: "none"},
		{name: "auto on chat", model: "chat", choice: "auto"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			req := map[string]any{"model": tc.model, "messages": userMsg("go"), "tools": tools}
			if tc.choice != nil {
				req["tool_choice"] = tc.choice
			}
			got := decodeCompletion(t, post(t, c, context.Background(), req))
			calls := got.Choices[0].Message.ToolCalls
			switch {
			case tc.want == "" && len(calls) != 0:
				t.Errorf("unexpected call %+v", calls)
			case tc.want != "" && (len(calls) != 1 || calls[0].Function.Name != tc.want):
				t.Errorf("calls %+v, want %s", calls, tc.want)
			}
		})
	}
}

func TestToolResultAnswer(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	msgs := []map[string]any{
		{"role": "user", "content": "weather in Paris?"},
		{"role": "assistant", "content": nil, "tool_calls": []map[string]any{{"id": "call_1", "type": "function", "function": map[string]any{"name": "get_weather", "arguments": `{"city":"Paris"}`}}}},
		{"role": "tool", "tool_call_id": "call_1", "content": `{"temp_c": 21, "sky": "clear"}`},
	}
	tools := []map[string]any{{"type": "function", "function": map[string]any{"name": "get_weather", "parameters": map[string]any{"type": "object"}}}}
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			t.Parallel()
			req := map[string]any{"model": "tools", "messages": msgs, "tools": tools, "stream": stream}
			var text, finish string
			if stream {
				s := readStream(t, post(t, c, context.Background(), req), false, false)
				text, finish = s.content, s.finish
			} else {
				got := decodeCompletion(t, post(t, c, context.Background(), req))
				text, finish = *got.Choices[0].Message.Content, got.Choices[0].FinishReason
			}
			if finish != "stop" {
				t.Errorf("finish %q", finish)
			}
			for _, want := range []string{"get_weather", `"temp_c": 21`, `"sky": "clear"`} {
				if !strings.Contains(text, want) {
					t.Errorf("answer %q does not mention %q", text, want)
				}
			}
		})
	}
}

func TestStructuredOutput(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	req := map[string]any{
		"model":    "fast",
		"messages": userMsg("extract"),
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{
			"name": "person", "strict": true,
			"schema": json.RawMessage(`{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer"}},"required":["name","age"],"additionalProperties":false}`),
		}},
	}
	got := decodeCompletion(t, post(t, c, context.Background(), req))
	var v struct {
		Name *string `json:"name"`
		Age  *int    `json:"age"`
	}
	if err := json.Unmarshal([]byte(*got.Choices[0].Message.Content), &v); err != nil || v.Name == nil || v.Age == nil {
		t.Fatalf("content %q does not match the schema: %v", *got.Choices[0].Message.Content, err)
	}
}

func TestReasoningOptions(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	reasonTokens := func(extra map[string]any) (int, bool) {
		req := map[string]any{"model": "reasoning", "messages": userMsg("think hard")}
		for k, v := range extra {
			req[k] = v
		}
		got := decodeCompletion(t, post(t, c, context.Background(), req))
		return got.Usage.CompletionTokensDetails.ReasoningTokens, got.Choices[0].Message.Reasoning != nil
	}
	medium, shown := reasonTokens(nil)
	if medium < 16 || medium > 64 || !shown {
		t.Fatalf("default reasoning %d tokens, shown %v", medium, shown)
	}
	tests := []struct {
		name      string
		extra     map[string]any
		wantN     func(int) bool
		wantShown bool
	}{
		{name: "high effort", extra: map[string]any{"reasoning_effort": "high"}, wantN: func(n int) bool { return n == 2*medium }, wantShown: true},
		{name: "openrouter low effort", extra: map[string]any{"reasoning": map[string]any{"effort": "low"}}, wantN: func(n int) bool { return n == medium/2 }, wantShown: true},
		{name: "disabled", extra: map[string]any{"reasoning": map[string]any{"enabled": false}}, wantN: func(n int) bool { return n == 0 }},
		{name: "max tokens", extra: map[string]any{"reasoning": map[string]any{"max_tokens": 5}}, wantN: func(n int) bool { return n == 5 }, wantShown: true},
		{name: "include_reasoning false", extra: map[string]any{"include_reasoning": false}, wantN: func(n int) bool { return n == medium }},
		{name: "cap spent on reasoning", extra: map[string]any{"max_tokens": 3}, wantN: func(n int) bool { return n == 3 }, wantShown: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			n, shown := reasonTokens(tc.extra)
			if !tc.wantN(n) || shown != tc.wantShown {
				t.Errorf("reasoning_tokens %d (medium %d), shown %v", n, medium, shown)
			}
		})
	}
}

func TestHTTPErrorDirectives(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	tests := []struct {
		kind     string
		status   int
		typ      string
		code     string
		retry    string
		rateHead bool
	}{
		{kind: "400", status: 400, typ: "invalid_request_error", code: "null"},
		{kind: "401", status: 401, typ: "invalid_request_error", code: `"invalid_api_key"`},
		{kind: "403", status: 403, typ: "request_forbidden", code: `"unsupported_country_region_territory"`},
		{kind: "404", status: 404, typ: "invalid_request_error", code: `"model_not_found"`},
		{kind: "429", status: 429, typ: "requests", code: `"rate_limit_exceeded"`, retry: "1", rateHead: true},
		{kind: "500", status: 500, typ: "server_error", code: "null"},
		{kind: "502", status: 502, typ: "cf_bad_gateway", code: "502"},
		{kind: "503", status: 503, typ: "server_error", code: "null"},
	}
	for _, tc := range tests {
		for _, via := range []string{"message", "user", "content part"} {
			t.Run(tc.kind+"/"+via, func(t *testing.T) {
				t.Parallel()
				req := map[string]any{"model": "chat", "stream": true}
				switch via {
				case "message":
					req["messages"] = []map[string]any{
						{"role": "user", "content": "[sim error=200]"}, // not the last user message: ignored
						{"role": "assistant", "content": "ok"},
						{"role": "user", "content": "hello\n  [sim error=" + tc.kind + "]  \nthanks"},
					}
				case "user":
					req["messages"] = userMsg("hello")
					req["user"] = "sim:error=" + tc.kind
				case "content part":
					req["messages"] = []map[string]any{{"role": "user", "content": []map[string]any{
						{"type": "text", "text": "hello"}, {"type": "text", "text": "[sim error=" + tc.kind + "]"},
					}}}
				}
				resp := post(t, c, context.Background(), req)
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				if resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("Content-Type %q", resp.Header.Get("Content-Type"))
				}
				if got := resp.Header.Get("Retry-After"); got != tc.retry {
					t.Errorf("Retry-After %q, want %q", got, tc.retry)
				}
				if tc.rateHead && resp.Header.Get("X-Ratelimit-Limit-Requests") == "" {
					t.Errorf("429 without x-ratelimit headers")
				}
				e := decodeErrorBody(t, resp)
				if e.Error.Type != tc.typ || string(e.Error.Code) != tc.code {
					t.Errorf("type %q code %s, want %q %s", e.Error.Type, e.Error.Code, tc.typ, tc.code)
				}
			})
		}
	}
}

func TestBadRequests(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	tools := `[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}]`
	tests := []struct {
		name   string
		body   string
		status int
		param  string // "" = null
		msg    string // substring
	}{
		{name: "invalid JSON", body: `{"model":`, status: 400, msg: "could not parse the JSON body"},
		{name: "not an object", body: `[1,2]`, status: 400, msg: "JSON"},
		{name: "empty body", body: ``, status: 400, msg: "could not parse"},
		{name: "missing model", body: `{"messages":[{"role":"user","content":"hi"}]}`, status: 400, msg: "you must provide a model parameter"},
		{name: "missing messages", body: `{"model":"fast"}`, status: 400, param: "messages", msg: "Missing required parameter: 'messages'"},
		{name: "null messages", body: `{"model":"fast","messages":null}`, status: 400, param: "messages", msg: "Missing required"},
		{name: "empty messages", body: `{"model":"fast","messages":[]}`, status: 400, param: "messages", msg: "empty array"},
		{name: "unknown model", body: `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, status: 404, msg: "The model `gpt-9` does not exist"},
		{name: "bad role", body: `{"model":"fast","messages":[{"role":"robot","content":"hi"}]}`, status: 400, param: "messages[0].role", msg: "Invalid value: 'robot'"},
		{name: "missing role", body: `{"model":"fast","messages":[{"content":"hi"}]}`, status: 400, param: "messages[0].role", msg: "Missing required"},
		{name: "wrong type", body: `{"model":5,"messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "model", msg: "Invalid type for 'model'"},
		{name: "content wrong type", body: `{"model":"fast","messages":[{"role":"user","content":5}]}`, status: 400, param: "messages[0].content", msg: "Invalid type for 'messages[0].content'"},
		{name: "max_tokens zero", body: `{"model":"fast","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "max_tokens", msg: "Expected a value >= 1"},
		{name: "max_tokens too large", body: `{"model":"fast","max_tokens":10000000,"messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "max_tokens", msg: "too large"},
		{name: "n above one", body: `{"model":"fast","n":2,"messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "n", msg: "n > 1"},
		{name: "unknown directive key", body: `{"model":"fast","messages":[{"role":"user","content":"[sim speed=9]"}]}`, status: 400, param: "messages", msg: `unknown key "speed"`},
		{name: "bad directive value", body: `{"model":"fast","messages":[{"role":"user","content":"[sim error=418]"}]}`, status: 400, param: "messages", msg: `error="418"`},
		{name: "bad user directive", body: `{"model":"fast","user":"sim:tps=-1","messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "user", msg: "tps"},
		{name: "required without tools", body: `{"model":"fast","tool_choice":"required","messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "tool_choice", msg: "only allowed when 'tools'"},
		{name: "named tool missing", body: `{"model":"fast","tools":` + tools + `,"tool_choice":{"type":"function","function":{"name":"g"}},"messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "tool_choice", msg: "'g' not found"},
		{name: "bad tool_choice", body: `{"model":"fast","tools":` + tools + `,"tool_choice":"sometimes","messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "tool_choice", msg: "'sometimes'"},
		{name: "tool without name", body: `{"model":"fast","tools":[{"type":"function","function":{}}],"messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "tools[0].function.name", msg: "Missing required"},
		{name: "bad response_format", body: `{"model":"fast","response_format":{"type":"yaml"},"messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "response_format.type", msg: "'yaml'"},
		{name: "bad effort", body: `{"model":"reasoning","reasoning_effort":"extreme","messages":[{"role":"user","content":"hi"}]}`, status: 400, param: "reasoning_effort", msg: "'extreme'"},
		{name: "context too long", body: `{"model":"fast","messages":[{"role":"user","content":"` + strings.Repeat("x", 4*130000) + `"}]}`, status: 400, param: "messages", msg: "maximum context length"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			resp := post(t, c, context.Background(), tc.body)
			if resp.StatusCode != tc.status {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			e := decodeErrorBody(t, resp)
			if !strings.Contains(e.Error.Message, tc.msg) {
				t.Errorf("message %q lacks %q", e.Error.Message, tc.msg)
			}
			param := ""
			if e.Error.Param != nil {
				param = *e.Error.Param
			}
			if param != tc.param {
				t.Errorf("param %q, want %q", param, tc.param)
			}
			if tc.status == 400 && e.Error.Type != "invalid_request_error" {
				t.Errorf("type %q", e.Error.Type)
			}
		})
	}
}

// TestParseChatRequest pins which fields the simulator reads from which
// request shapes, and which OpenAI error each bad shape gets. The JSON
// grammar itself is jsonx's, tested there; FuzzRequestParsing compares the
// two against encoding/json.
func TestParseChatRequest(t *testing.T) {
	t.Parallel()
	i64 := func(v int64) *int64 { return &v }
	tests := []struct {
		name      string
		body      string
		want      chatRequest
		wantErr   string // substring of the error message
		wantParam string
	}{
		{name: "minimal", body: `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`,
			want: chatRequest{Model: "fast", Messages: []message{{Role: "user", Content: "hi"}}}},
		{name: "whitespace everywhere", body: " \t\r\n{ \"model\" : \"fast\" , \"messages\" : [ ] } \n",
			want: chatRequest{Model: "fast", Messages: []message{}}},
		{name: "escapes", body: `{"model":"f\u0061st","messages":[{"role":"us\u0065r","content":"a\nb\"c\\\ud83d\ude00"}]}`,
			want: chatRequest{Model: "fast", Messages: []message{{Role: "user", Content: "a\nb\"c\\😀"}}}},
		{name: "invalid UTF-8 and lone surrogates", body: "{\"model\":\"f\xffst\",\"messages\":[{\"role\":\"user\",\"content\":\"\\ud800x\xc3\"}]}",
			want: chatRequest{Model: "f\ufffdst", Messages: []message{{Role: "user", Content: "\ufffdx\ufffd"}}}},
		{name: "escaped key", body: `{"mod\u0065l":"fast"}`, want: chatRequest{Model: "fast"}},
		{name: "case-variant key ignored", body: `{"Model":"fast"}`},
		{name: "duplicate key, last wins", body: `{"model":"a","model":"fast"}`, want: chatRequest{Model: "fast"}},
		{name: "nulls", body: `{"model":null,"messages":null,"stream":null,"max_tokens":null,"tools":null,"stream_options":null,"tool_choice":null}`,
			want: chatRequest{ToolChoice: json.RawMessage("null")}},
		{name: "numbers", body: `{"max_tokens":10,"max_completion_tokens":-0,"seed":-9223372036854775808,"n":1}`,
			want: chatRequest{MaxTokens: i64(10), MaxCompletionTokens: i64(0), Seed: i64(-9223372036854775808), N: i64(1)}},
		{name: "unknown fields of every type", body: `{"temperature":0.7,"stop":["a"],"metadata":{"x":[1,{"y":null}]},"logit_bias":{},"top_p":1e-3,"x":true,"y":false,"model":"fast"}`,
			want: chatRequest{Model: "fast"}},
		{name: "content parts", body: `{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"x"}},null,{"type":"text","text":"b"}]}]}`,
			want: chatRequest{Messages: []message{{Role: "user", Content: "a\nb"}}}},
		{name: "tool messages", body: `{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","name":"f","content":"ok"}]}`,
			want: chatRequest{Messages: []message{
				{Role: "assistant", ToolCalls: []toolCallMsg{{ID: "c1", Function: struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				}{"f", "{}"}}}},
				{Role: "tool", ToolCallID: "c1", Name: "f", Content: "ok"},
			}}},
		{name: "null elements", body: `{"messages":[null,{"role":"user","tool_calls":[null,{"function":null}]}],"tools":[null]}`,
			want: chatRequest{Messages: []message{{}, {Role: "user", ToolCalls: []toolCallMsg{{}, {}}}}, Tools: []tool{{}}}},
		{name: "tools and raw fields", body: `{"tools":[{"type":"function","function":{"name":"f","parameters": {"type":"object"} }}],"tool_choice": {"type":"function"} ,"stream":true,"stream_options":{"include_usage":true}}`,
			want: chatRequest{
				Tools:         []tool{{Type: "function", Function: &toolFunction{Name: "f", Parameters: json.RawMessage(`{"type":"object"}`)}}},
				ToolChoice:    json.RawMessage(`{"type":"function"}`),
				Stream:        true,
				StreamOptions: &streamOptions{IncludeUsage: true},
			}},
		{name: "lazy objects", body: `{"response_format":{"type":"json_schema","json_schema":{"schema":{}}},"reasoning":{"effort":"high","exclude":true},"include_reasoning":false,"reasoning_effort":"low"}`,
			want: chatRequest{
				ResponseFormat: &responseFormat{Type: "json_schema", JSONSchema: &struct {
					Schema json.RawMessage `json:"schema"`
				}{Schema: json.RawMessage(`{}`)}},
				Reasoning:        &reasoningOpts{Effort: "high", Exclude: true},
				IncludeReasoning: new(bool),
				ReasoningEffort:  "low",
			}},
		{name: "top-level null", body: ` null `},
		{name: "empty", body: ``, wantErr: "could not parse"},
		{name: "only whitespace", body: " \n", wantErr: "could not parse"},
		{name: "trailing garbage", body: `{"model":"fast"} x`, wantErr: "could not parse"},
		{name: "trailing NUL", body: "0\x00", wantErr: "could not parse"},
		{name: "two values", body: `{}{}`, wantErr: "could not parse"},
		{name: "trailing comma", body: `{"model":"fast",}`, wantErr: "could not parse"},
		{name: "bad string in nested value", body: `{"messages":[{"role":"user","content":"\q"}]}`, wantErr: "could not parse"},
		{name: "bad literal", body: `{"stream":tru}`, wantErr: "could not parse"},
		{name: "syntax error wins over type error", body: `{"model":5,"x":}`, wantErr: "could not parse"},
		{name: "syntax error in unread field wins", body: `{"messages":[{"role":5}],"metadata":{"a":[1,]}}`, wantErr: "could not parse"},
		{name: "not an object", body: `[]`, wantErr: "must be a JSON object"},
		{name: "string body", body: ` "hi" `, wantErr: "must be a JSON object"},
		{name: "string model", body: `{"model":5}`, wantErr: "Invalid type for 'model': expected a string, but got a number instead.", wantParam: "model"},
		{name: "kind names", body: `{"user":{}}`, wantErr: "expected a string, but got an object instead.", wantParam: "user"},
		{name: "bool stream", body: `{"stream":"yes"}`, wantErr: "Invalid type for 'stream': expected a boolean, but got a string instead.", wantParam: "stream"},
		{name: "bool include_usage", body: `{"stream_options":{"include_usage":1}}`, wantErr: "expected a boolean", wantParam: "stream_options.include_usage"},
		{name: "fractional max_tokens", body: `{"max_tokens":1.5}`, wantErr: "Invalid type for 'max_tokens': expected an integer, but got 1.5 instead.", wantParam: "max_tokens"},
		{name: "exponent n", body: `{"n":1e0}`, wantErr: "expected an integer, but got 1e0 instead.", wantParam: "n"},
		{name: "string seed", body: `{"seed":"1"}`, wantErr: "expected an integer, but got a string instead.", wantParam: "seed"},
		{name: "overflowing seed", body: `{"seed":9223372036854775808}`, wantErr: "expected an integer", wantParam: "seed"},
		{name: "first type error wins", body: `{"stream":1,"model":[]}`, wantErr: "expected a boolean, but got a number", wantParam: "stream"},
		{name: "messages not an array", body: `{"messages":{}}`, wantErr: "expected an array, but got an object", wantParam: "messages"},
		{name: "message not an object", body: `{"messages":[{"role":"user"},"hi"]}`, wantErr: "messages[1]", wantParam: "messages[1]"},
		{name: "role type", body: `{"messages":[{"role":true}]}`, wantErr: "expected a string, but got a boolean", wantParam: "messages[0].role"},
		{name: "nested type error path", body: `{"messages":[{"role":"assistant","tool_calls":[{"function":{"name":1}}]}]}`, wantErr: "messages[0].tool_calls[0].function.name", wantParam: "messages[0].tool_calls[0].function.name"},
		{name: "tool call not an object", body: `{"messages":[{"tool_calls":[null,1]}]}`, wantErr: "expected an object", wantParam: "messages[0].tool_calls[1]"},
		{name: "content part type", body: `{"messages":[{"role":"user","content":[{"text":["x"]}]}]}`, wantParam: "messages[0].content[0].text", wantErr: "expected a string, but got an array"},
		{name: "content type", body: `{"messages":[{"content":null},{"content":false}]}`, wantParam: "messages[1].content", wantErr: "expected a string or an array of content parts, but got a boolean"},
		{name: "tools not an array", body: `{"tools":"f"}`, wantParam: "tools", wantErr: "expected an array"},
		{name: "tool function type", body: `{"tools":[{"function":"f"}]}`, wantParam: "tools[0].function", wantErr: "expected an object"},
		{name: "lazy object type", body: `{"response_format":{"type":5}}`, wantParam: "response_format", wantErr: "Invalid type in 'response_format': json: cannot unmarshal number"},
		{name: "lazy object not an object", body: `{"reasoning":"high"}`, wantParam: "reasoning", wantErr: "Invalid type for 'reasoning': expected an object, but got a string instead."},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got chatRequest
			aerr := parseChatRequest([]byte(tc.body), &got)
			if tc.wantErr != "" {
				if aerr == nil {
					t.Fatalf("no error, got %+v", got)
				}
				if !strings.Contains(aerr.msg, tc.wantErr) || aerr.param != tc.wantParam || aerr.status != 400 {
					t.Errorf("error %d %q param %q, want %q param %q", aerr.status, aerr.msg, aerr.param, tc.wantErr, tc.wantParam)
				}
				return
			}
			if aerr != nil {
				t.Fatalf("error %q", aerr.msg)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %+v\nwant %+v", got, tc.want)
			}
			// Whatever we accept, encoding/json decodes to the same thing.
			var ref chatRequest
			if err := json.Unmarshal([]byte(tc.body), &ref); err == nil && plainKeys([]byte(tc.body)) && !reflect.DeepEqual(got, ref) {
				t.Errorf("encoding/json disagrees:\nsim  %+v\njson %+v", got, ref)
			}
		})
	}
}

// TestNestingLimit: the body is bounded at jsonx's depth, like every other
// body the node reads, so hostile nesting cannot drive the parser deep.
func TestNestingLimit(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	deep := func(n int) string {
		return `{"model":"fast","messages":[{"role":"user","content":"hi"}],"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`
	}
	decodeCompletion(t, post(t, c, context.Background(), deep(jsonx.MaxDepth-1)))
	resp := post(t, c, context.Background(), deep(jsonx.MaxDepth))
	if resp.StatusCode != http.StatusBadRequest {
		t.Errorf("status %d", resp.StatusCode)
	}
	if e := decodeErrorBody(t, resp); !strings.Contains(e.Error.Message, "could not parse the JSON body") {
		t.Errorf("message %q", e.Error.Message)
	}
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	tr := New(instant)
	tests := []struct {
		name   string
		method string
		url    string
		status int
		check  func(t *testing.T, body []byte)
	}{
		{name: "models list", method: "GET", url: "http://x/v1/models", status: 200, check: func(t *testing.T, body []byte) {
			var list struct {
				Object string `json:"object"`
				Data   []struct {
					ID      string `json:"id"`
					Object  string `json:"object"`
					Created int64  `json:"created"`
					OwnedBy string `json:"owned_by"`
				} `json:"data"`
			}
			if err := json.Unmarshal(body, &list); err != nil || list.Object != "list" || len(list.Data) != len(Models()) {
				t.Fatalf("bad list (%v): %s", err, body)
			}
			for i, m := range list.Data {
				if m.ID != Models()[i].ID || m.Object != "model" || m.Created == 0 || m.OwnedBy == "" {
					t.Errorf("entry %d: %+v", i, m)
				}
			}
		}},
		{name: "models any prefix", method: "GET", url: "http://x/api/v1/models/", status: 200},
		{name: "models bare", method: "GET", url: "http://x/models", status: 200},
		{name: "one model", method: "GET", url: "http://x/v1/models/reasoning", status: 200, check: func(t *testing.T, body []byte) {
			if !bytes.Contains(body, []byte(`"id":"reasoning"`)) {
				t.Errorf("body %s", body)
			}
		}},
		{name: "one model prefixed", method: "GET", url: "http://x/v1/models/sim/fast", status: 200},
		{name: "unknown model", method: "GET", url: "http://x/v1/models/nope", status: 404},
		{name: "chat via GET", method: "GET", url: "http://x/v1/chat/completions", status: 404},
		{name: "embeddings", method: "POST", url: "http://x/v1/embeddings", status: 404, check: func(t *testing.T, body []byte) {
			if !bytes.Contains(body, []byte("Invalid URL (POST /v1/embeddings)")) {
				t.Errorf("body %s", body)
			}
		}},
		{name: "root", method: "GET", url: "http://x/", status: 404},
		{name: "other host and prefix", method: "POST", url: "https://api.example.com/openai/deployments/x/chat/completions", status: 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := &trackingBody{r: strings.NewReader(`{"model":"fast","messages":[{"role":"user","content":"hi"}]}`)}
			req := must(http.NewRequest(tc.method, tc.url, body))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			if !body.closed || (tc.method == "POST" && !body.eof) {
				t.Errorf("request body eof=%v closed=%v", body.eof, body.closed)
			}
			if resp.StatusCode != tc.status || resp.Request != req {
				t.Errorf("status %d, want %d", resp.StatusCode, tc.status)
			}
			data, err := io.ReadAll(resp.Body)
			if err != nil || !json.Valid(data) {
				t.Fatalf("body (%v) %s", err, data)
			}
			if tc.status != 200 {
				var e errorBody
				if json.Unmarshal(data, &e) != nil || e.Error.Message == "" {
					t.Errorf("not an error body: %s", data)
				}
			}
			if tc.check != nil {
				tc.check(t, data)
			}
		})
	}
}

func TestRequestBodyConsumed(t *testing.T) {
	t.Parallel()
	tr := New(instant)
	tests := []struct {
		name string
		body string
	}{
		{name: "success", body: `{"model":"fast","messages":[{"role":"user","content":"hi"}]}`},
		{name: "stream", body: `{"model":"fast","stream":true,"messages":[{"role":"user","content":"hi"}]}`},
		{name: "invalid JSON", body: `{{{`},
		{name: "unknown model", body: `{"model":"x","messages":[{"role":"user","content":"hi"}]}`},
		{name: "fault", body: `{"model":"fast","user":"sim:error=503","messages":[{"role":"user","content":"hi"}]}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			body := &trackingBody{r: strings.NewReader(tc.body)}
			// ContentLength unknown: exercise the growing read path too.
			req := must(http.NewRequest("POST", "http://x/v1/chat/completions", body))
			resp, err := tr.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if !body.eof || !body.closed {
				t.Errorf("eof=%v closed=%v", body.eof, body.closed)
			}
		})
	}
}

func TestTimeoutDirective(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	for _, stream := range []bool{false, true} {
		t.Run(map[bool]string{false: "json", true: "stream"}[stream], func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			start := time.Now()
			resp, err := tryPost(c, ctx, map[string]any{"model": "fast", "stream": stream, "messages": userMsg("[sim error=timeout]")})
			if err == nil {
				resp.Body.Close()
				t.Fatal("want an error")
			}
			if !errors.Is(err, context.DeadlineExceeded) {
				t.Errorf("err %v, want deadline exceeded", err)
			}
			if el := time.Since(start); el < 40*time.Millisecond || el > 10*time.Second {
				t.Errorf("returned after %v", el)
			}
		})
	}
}

func TestCut(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		resp := post(t, c, context.Background(), map[string]any{"model": "fast", "stream": true, "messages": userMsg("[sim error=cut tokens=10]")})
		s := readStream(t, resp, false, true)
		if !errors.Is(s.err, io.ErrUnexpectedEOF) {
			t.Errorf("err %v, want io.ErrUnexpectedEOF", s.err)
		}
		// role + 10 tokens + finish = 12 events; half are sent.
		if s.done || len(s.chunks) != 6 || s.finish != "" {
			t.Errorf("done=%v chunks=%d finish=%q", s.done, len(s.chunks), s.finish)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		resp := post(t, c, context.Background(), map[string]any{"model": "fast", "messages": userMsg("[sim error=cut]")})
		data, err := io.ReadAll(resp.Body)
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("err %v, want io.ErrUnexpectedEOF", err)
		}
		if resp.StatusCode != 200 || int64(len(data)) >= resp.ContentLength || json.Valid(data) {
			t.Errorf("status %d, %d of %d bytes", resp.StatusCode, len(data), resp.ContentLength)
		}
	})
}

func TestMalformed(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		resp := post(t, c, context.Background(), map[string]any{"model": "fast", "stream": true, "messages": userMsg("[sim error=malformed]")})
		s := readStream(t, resp, false, true)
		if s.err != nil || s.done || len(s.raw) != 1 || s.raw[0] != `data: {"id":` {
			t.Errorf("err=%v done=%v events=%q", s.err, s.done, s.raw)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		resp := post(t, c, context.Background(), map[string]any{"model": "fast", "messages": userMsg("[sim error=malformed]")})
		data, err := io.ReadAll(resp.Body)
		if err != nil || resp.StatusCode != 200 || json.Valid(data) || int64(len(data)) != resp.ContentLength {
			t.Errorf("err=%v status=%d valid=%v", err, resp.StatusCode, json.Valid(data))
		}
	})
}

func TestStreamError(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	t.Run("stream", func(t *testing.T) {
		t.Parallel()
		resp := post(t, c, context.Background(), map[string]any{
			"model": "fast", "stream": true, "stream_options": map[string]any{"include_usage": true},
			"messages": userMsg("[sim error=stream-error tokens=8]"),
		})
		s := readStream(t, resp, true, true)
		if s.err != nil || s.done {
			t.Fatalf("err=%v done=%v", s.err, s.done)
		}
		last := s.raw[len(s.raw)-1]
		var e errorBody
		if err := json.Unmarshal([]byte(strings.TrimPrefix(last, "data: ")), &e); err != nil || e.Error.Type != "server_error" || string(e.Error.Code) != "500" {
			t.Errorf("last event %q", last)
		}
		if len(s.chunks) < 2 || s.finish != "" {
			t.Errorf("chunks=%d finish=%q", len(s.chunks), s.finish)
		}
	})
	t.Run("json", func(t *testing.T) {
		t.Parallel()
		resp := post(t, c, context.Background(), map[string]any{"model": "fast", "messages": userMsg("[sim error=stream-error]")})
		if resp.StatusCode != 500 {
			t.Errorf("status %d", resp.StatusCode)
		}
		decodeErrorBody(t, resp)
	})
}

func TestStreamTiming(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	start := time.Now()
	slow := post(t, c, context.Background(), map[string]any{"model": "fast", "stream": true, "messages": userMsg("[sim ttft=10s]")})
	slow.Body.Close()
	if el := time.Since(start); el > 5*time.Second {
		t.Errorf("stream headers took %v; they should not wait for the first token", el)
	}

	start = time.Now()
	resp := post(t, c, context.Background(), map[string]any{"model": "fast", "stream": true, "messages": userMsg("[sim ttft=100ms tps=50 tokens=10]")})
	buf := make([]byte, 64<<10)
	var firstContent time.Duration
	var all []byte
	for {
		n, err := resp.Body.Read(buf)
		all = append(all, buf[:n]...)
		if firstContent == 0 && bytes.Contains(all, []byte(`"content":"`)) && bytes.Count(all, []byte("data: ")) > 1 {
			firstContent = time.Since(start)
		}
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	total := time.Since(start)
	// 100ms TTFT, then 9 more tokens at 20ms: about 280ms. Loose bounds only.
	if firstContent < 90*time.Millisecond {
		t.Errorf("first token after %v, before TTFT", firstContent)
	}
	if total < 250*time.Millisecond || total > 10*time.Second {
		t.Errorf("stream took %v, want about 280ms", total)
	}
	t.Run("non-stream waits for the whole answer", func(t *testing.T) {
		start := time.Now()
		resp := post(t, c, context.Background(), map[string]any{"model": "chat", "messages": userMsg("[sim ttft=50ms tps=100 tokens=6]")})
		el := time.Since(start)
		decodeCompletion(t, resp)
		if el < 90*time.Millisecond || el > 10*time.Second {
			t.Errorf("non-stream took %v, want about 100ms", el)
		}
	})
	t.Run("config pacing", func(t *testing.T) {
		c := newClient(Config{TTFT: 60 * time.Millisecond, TokensPerSecond: 1000, MaxTokens: 5})
		start := time.Now()
		decodeCompletion(t, post(t, c, context.Background(), map[string]any{"model": "chat", "messages": userMsg("hi")}))
		if el := time.Since(start); el < 55*time.Millisecond {
			t.Errorf("chat answered in %v, before its TTFT", el)
		}
		start = time.Now()
		decodeCompletion(t, post(t, c, context.Background(), map[string]any{"model": "fast", "messages": userMsg("hi")}))
		if el := time.Since(start); el > 5*time.Second {
			t.Errorf("fast took %v", el)
		}
	})
}

func TestCancelUnblocksRead(t *testing.T) {
	t.Parallel()
	c := newClient(Config{TTFT: 5 * time.Second, TokensPerSecond: 1})
	tests := []struct {
		name  string
		model string
		stop  func(cancel context.CancelFunc, body io.Closer)
		want  error
	}{
		{name: "cancel before first token", model: "chat", stop: func(cancel context.CancelFunc, _ io.Closer) { cancel() }, want: context.Canceled},
		{name: "close before first token", model: "chat", stop: func(_ context.CancelFunc, b io.Closer) { b.Close() }, want: errBodyClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// The next event is seconds away, so a prompt return proves Read
			// selects on the stop. A loaded CI machine may deschedule us for
			// a while, so one prompt return out of three attempts suffices.
			var lags []time.Duration
			for range 3 {
				lag := stopDuringRead(t, c, tc.model, tc.stop, tc.want)
				if lag <= 100*time.Millisecond {
					return
				}
				lags = append(lags, lag)
			}
			t.Errorf("Read returned %v after the stop, want within 100ms", lags)
		})
	}
	t.Run("cancel mid stream", func(t *testing.T) {
		t.Parallel()
		c := newClient(instant)
		ctx, cancel := context.WithCancel(context.Background())
		resp := post(t, c, ctx, map[string]any{"model": "fast", "stream": true, "messages": userMsg("[sim ttft=0 tps=20 tokens=100]")})
		defer resp.Body.Close()
		buf := make([]byte, 4096)
		if _, err := resp.Body.Read(buf); err != nil {
			t.Fatal(err)
		}
		cancel()
		start := time.Now()
		_, err := resp.Body.Read(buf)
		if !errors.Is(err, context.Canceled) || time.Since(start) > time.Second {
			t.Errorf("err %v after %v", err, time.Since(start))
		}
	})
	t.Run("cancel during non-stream wait", func(t *testing.T) {
		t.Parallel()
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		start := time.Now()
		_, err := tryPost(c, ctx, map[string]any{"model": "chat", "messages": userMsg("slow")})
		if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 4*time.Second {
			t.Errorf("err %v after %v", err, time.Since(start))
		}
	})
	t.Run("closed json body", func(t *testing.T) {
		t.Parallel()
		resp := post(t, newClient(instant), context.Background(), map[string]any{"model": "fast", "messages": userMsg("x")})
		resp.Body.Close()
		if _, err := resp.Body.Read(make([]byte, 10)); err == nil {
			t.Errorf("Read after Close succeeded")
		}
	})
}

// stopDuringRead blocks a Read on a slow stream, stops it, and returns how
// long Read took to notice.
func stopDuringRead(t *testing.T, c *http.Client, model string, stop func(context.CancelFunc, io.Closer), want error) time.Duration {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	resp := post(t, c, ctx, map[string]any{"model": model, "stream": true, "messages": userMsg("slow")})
	defer resp.Body.Close()
	stopped := make(chan time.Time, 1)
	go func() {
		time.Sleep(50 * time.Millisecond)
		stopped <- time.Now()
		stop(cancel, resp.Body)
	}()
	_, err := resp.Body.Read(make([]byte, 4096))
	returned := time.Now()
	if !errors.Is(err, want) {
		t.Fatalf("Read error %v, want %v", err, want)
	}
	if _, err := resp.Body.Read(make([]byte, 10)); err == nil {
		t.Errorf("Read after stop succeeded")
	}
	return returned.Sub(<-stopped)
}

func TestSmallReads(t *testing.T) {
	t.Parallel()
	// A reader with a tiny buffer must see the same bytes as a big one.
	c := newClient(instant)
	req := map[string]any{"model": "reasoning", "stream": true, "seed": 3, "stream_options": map[string]any{"include_usage": true}, "messages": userMsg("x")}
	volatile := regexp.MustCompile(`"id":"chatcmpl-[0-9A-Za-z]+"|"created":[0-9]+`)
	strip := func(b []byte) string { return volatile.ReplaceAllString(string(b), "") }
	big := must(io.ReadAll(post(t, c, context.Background(), req).Body))
	resp := post(t, c, context.Background(), req)
	var small []byte
	buf := make([]byte, 7)
	for {
		n, err := resp.Body.Read(buf)
		small = append(small, buf[:n]...)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if strip(big) != strip(small) {
		t.Errorf("byte streams differ:\n%s\n%s", strip(big), strip(small))
	}
}

func TestConcurrentUse(t *testing.T) {
	t.Parallel()
	c := newClient(instant)
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			for j := range 20 {
				req := map[string]any{"model": "fast", "stream": (i+j)%2 == 0, "messages": userMsg("concurrent")}
				resp, err := tryPost(c, context.Background(), req)
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := io.Copy(io.Discard, resp.Body); err != nil {
					t.Error(err)
				}
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
}

func TestModelsCatalogue(t *testing.T) {
	t.Parallel()
	ms := Models()
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.ID)
		if strings.HasPrefix(m.ID, "sim/") || m.Name == "" || m.Description == "" || m.ContextLength == 0 || m.MaxCompletionTokens == 0 || m.Created == 0 || len(m.SupportedParameters) == 0 {
			t.Errorf("incomplete model %+v", m)
		}
	}
	for _, want := range []string{"chat", "fast", "tools", "reasoning"} {
		if !slices.Contains(ids, want) {
			t.Errorf("catalogue lacks %q", want)
		}
	}
	ms[0].SupportedParameters[0] = "mutated"
	ms[0].ID = "mutated"
	if again := Models(); again[0].ID == "mutated" || again[0].SupportedParameters[0] == "mutated" {
		t.Errorf("Models returned shared state")
	}
}

func TestNewDefaults(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		cfg          Config
		ttft         time.Duration
		interval     time.Duration
		maxTokens    int
		overMaxCheck bool
	}{
		{name: "zero", cfg: Config{}, ttft: 250 * time.Millisecond, interval: time.Second / 60},
		{name: "set", cfg: Config{TTFT: time.Second, TokensPerSecond: 10, MaxTokens: 5}, ttft: time.Second, interval: 100 * time.Millisecond, maxTokens: 5},
		{name: "negative disables", cfg: Config{TTFT: -1, TokensPerSecond: -1}},
		{name: "tiny rate is bounded", cfg: Config{TokensPerSecond: 1e-12}, ttft: 250 * time.Millisecond, interval: maxInterval},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tr := New(tc.cfg)
			if tr.ttft != tc.ttft || tr.interval != tc.interval || tr.maxTokens != tc.maxTokens {
				t.Errorf("got ttft=%v interval=%v max=%d", tr.ttft, tr.interval, tr.maxTokens)
			}
		})
	}
}

func TestRoundTripErrors(t *testing.T) {
	t.Parallel()
	tr := New(instant)
	t.Run("cancelled before", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		req := must(http.NewRequestWithContext(ctx, "POST", "http://x/v1/chat/completions", strings.NewReader(`{}`)))
		if _, err := tr.RoundTrip(req); !errors.Is(err, context.Canceled) {
			t.Errorf("err %v", err)
		}
	})
	t.Run("body read error", func(t *testing.T) {
		req := must(http.NewRequest("POST", "http://x/v1/chat/completions", io.NopCloser(errReader{})))
		if _, err := tr.RoundTrip(req); err == nil || !strings.HasPrefix(err.Error(), "sim: ") {
			t.Errorf("err %v", err)
		}
	})
	t.Run("too large", func(t *testing.T) {
		req := must(http.NewRequest("POST", "http://x/v1/chat/completions", io.LimitReader(zeroReader{}, maxRequestBody+10)))
		resp, err := tr.RoundTrip(req)
		if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("err %v resp %v", err, resp)
		}
	})
}

type errReader struct{}

func (errReader) Read([]byte) (int, error) { return 0, errors.New("boom") }

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) { clear(p); return len(p), nil }
