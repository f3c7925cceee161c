package httpapi

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

func TestRewriteObject(t *testing.T) {
	tests := []struct {
		name      string
		in        string
		noChoices bool
		usage     bool
		errObj    bool
		finish    bool
	}{
		{"content chunk", `{"id":"chatcmpl-1","object":"chat.completion.chunk","created":5,"model":"gpt-4o-mini","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":null}]}`, false, false, false, false},
		{"finish chunk", `{"id":"x","model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":null}`, false, false, false, true},
		{"usage chunk", `{"id":"x","model":"m","choices":[],"usage":{"prompt_tokens":3,"completion_tokens":4,"total_tokens":7}}`, true, true, false, false},
		{"in-band error", `{"error":{"message":"overloaded","type":"server_error"}}`, true, false, true, false},
		{"upstream provider field replaced", `{"id":"x","provider":"OpenAI","model":"m","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}]}`, false, false, false, false},
		{"whitespace", " {\n \"id\" : \"x\" , \"choices\" : [ ] }\n", true, false, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, info, err := rewriteObject(nil, []byte(tt.in), appendHead(nil, "gen-1-abc", "Sim", "sim/chat"), false)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output %s is not JSON: %v", out, err)
			}
			if got["id"] != "gen-1-abc" || got["provider"] != "Sim" || got["model"] != "sim/chat" {
				t.Fatalf("output %s lacks the node's id/provider/model", out)
			}
			var in map[string]any
			_ = json.Unmarshal([]byte(tt.in), &in)
			for k, v := range in {
				if k == "id" || k == "provider" || k == "model" {
					continue
				}
				a, _ := json.Marshal(v)
				b, _ := json.Marshal(got[k])
				if string(a) != string(b) {
					t.Fatalf("member %q changed: %s -> %s", k, a, b)
				}
			}
			if info.noChoices != tt.noChoices || (info.usage != nil) != tt.usage || (info.errObj != nil) != tt.errObj || info.finish != tt.finish {
				t.Fatalf("info = %+v", info)
			}
		})
	}
	for _, bad := range []string{`{"id":`, `[1]`, `{"a":1} {`} {
		if _, _, err := rewriteObject(nil, []byte(bad), appendHead(nil, "g", "p", "m"), false); err == nil {
			t.Errorf("rewriteObject(%q) accepted malformed input", bad)
		}
	}
}

func TestRewriteDropsNullUsage(t *testing.T) {
	in := []byte(`{"id":"x","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":null}],"usage":null}`)
	head := appendHead(nil, "g", "p", "m")
	out, _, _ := rewriteObject(nil, in, head, true)
	if strings.Contains(string(out), "usage") {
		t.Fatalf("null usage kept: %s", out)
	}
	out, _, _ = rewriteObject(nil, in, head, false)
	if !strings.Contains(string(out), `"usage":null`) {
		t.Fatalf("null usage dropped when asked to keep it: %s", out)
	}
	usage := []byte(`{"id":"x","choices":[],"usage":{"prompt_tokens":1}}`)
	if out, info, _ := rewriteObject(nil, usage, head, true); info.usage == nil || !strings.Contains(string(out), "prompt_tokens") {
		t.Fatalf("a real usage object was dropped: %s", out)
	}
}

func TestParseUsage(t *testing.T) {
	u := parseUsage([]byte(`{"prompt_tokens":10,"completion_tokens":20,"total_tokens":30,"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":5}}`))
	if u != (llm.Usage{PromptTokens: 10, CompletionTokens: 20, TotalTokens: 30, CachedTokens: 4, ReasoningTokens: 5}) {
		t.Fatalf("usage = %+v", u)
	}
}

func TestErrorBodies(t *testing.T) {
	e := &llm.Error{Status: 502, Type: llm.TypeUpstream, Message: "upstream \"x\" failed", Provider: "X", Raw: "boom\n"}
	var body struct {
		Error struct {
			Code     int               `json:"code"`
			Message  string            `json:"message"`
			Type     string            `json:"type"`
			Param    *string           `json:"param"`
			Metadata map[string]string `json:"metadata"`
		} `json:"error"`
	}
	if err := json.Unmarshal(appendErrorBody(nil, e), &body); err != nil {
		t.Fatal(err)
	}
	if body.Error.Code != 502 || body.Error.Message != e.Message || body.Error.Type != llm.TypeUpstream ||
		body.Error.Param != nil || body.Error.Metadata["raw"] != "boom\n" || body.Error.Metadata["provider_name"] != "X" {
		t.Fatalf("body = %+v", body)
	}

	var chunk struct {
		ID      string         `json:"id"`
		Object  string         `json:"object"`
		Created int64          `json:"created"`
		Error   map[string]any `json:"error"`
		Choices []struct {
			FinishReason string `json:"finish_reason"`
		} `json:"choices"`
	}
	if err := json.Unmarshal(appendTerminalChunk(nil, "gen-1", "X", "m", []byte("123"), e), &chunk); err != nil {
		t.Fatal(err)
	}
	if chunk.ID != "gen-1" || chunk.Object != "chat.completion.chunk" || chunk.Created != 123 || chunk.Error["code"] != float64(502) ||
		len(chunk.Choices) != 1 || chunk.Choices[0].FinishReason != "error" {
		t.Fatalf("terminal chunk = %+v", chunk)
	}
}

func TestGenerationID(t *testing.T) {
	re := regexp.MustCompile(`^gen-1700000000-[A-Za-z0-9]{20}$`)
	seen := map[string]bool{}
	for range 1000 {
		id := newGenerationID(time.Unix(1700000000, 0))
		if !re.MatchString(id) {
			t.Fatalf("id %q does not match %s", id, re)
		}
		if seen[id] {
			t.Fatalf("duplicate id %q", id)
		}
		seen[id] = true
	}
}

func BenchmarkRewriteChunk(b *testing.B) {
	chunk := []byte(`{"id":"chatcmpl-AbC123","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini-2024-07-18","system_fingerprint":"fp_1","choices":[{"index":0,"delta":{"content":" hello"},"logprobs":null,"finish_reason":null}]}`)
	dst := make([]byte, 0, 1024)
	head := appendHead(nil, "gen-1700000000-abcdefghijklmnopqrst", "OpenAI", "openai/gpt-4o-mini")
	b.SetBytes(int64(len(chunk)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		dst, _, err = rewriteObject(dst[:0], chunk, head, true)
		if err != nil {
			b.Fatal(err)
		}
	}
}
