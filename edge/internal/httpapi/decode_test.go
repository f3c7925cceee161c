package httpapi

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

func TestDecodeChatValid(t *testing.T) {
	body := `{"model":"sim/chat","messages":[{"role":"system","content":"be brief"},{"role":"user","content":[{"type":"text","text":"hi"}]},` +
		`{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"42"}],` +
		`"stream":true,"stream_options":{"include_usage":true},"temperature":0.2,"max_tokens":64,"stop":["\n"],"seed":7,` +
		`"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":"auto",` +
		`"models":["sim/fast"],"session_id":"s1","provider":{"order":["sim"]},"unknown_future_field":{"x":1}}`
	var req llm.Request
	if err := decodeChat([]byte(body), &req); err != nil {
		t.Fatalf("decodeChat: %v", err)
	}
	if req.Model != "sim/chat" || !req.Stream || !req.IncludeUsage || req.Messages != 4 || !req.HasTools ||
		req.SessionID != "s1" || len(req.Models) != 1 || req.Models[0] != "sim/fast" {
		t.Fatalf("summary = %+v", req)
	}
}

func TestDecodeChatModelsOnly(t *testing.T) {
	var req llm.Request
	if err := decodeChat([]byte(`{"models":["a/b","c/d"],"messages":[{"role":"user","content":"x"}]}`), &req); err != nil {
		t.Fatal(err)
	}
	if req.Model != "" || len(req.Models) != 2 {
		t.Fatalf("summary = %+v", req)
	}
}

func TestDecodeChatErrors(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, body, param, want string
	}{
		{"empty body", ``, "", "empty"},
		{"malformed", `{"model":"m",`, "", "not valid JSON"},
		{"trailing garbage", `{"model":"m",` + msgs + `} x`, "", "not valid JSON"},
		{"not an object", `[1,2]`, "", "must be a JSON object"},
		{"missing messages", `{"model":"m"}`, "messages", "`messages` is required"},
		{"empty messages", `{"model":"m","messages":[]}`, "messages", "must not be empty"},
		{"messages not array", `{"model":"m","messages":"hi"}`, "messages", "`messages` must be a non-empty array"},
		{"message not object", `{"model":"m","messages":["hi"]}`, "messages[0]", "must be an object"},
		{"missing role", `{"model":"m","messages":[{"content":"x"}]}`, "messages[0].role", "is required"},
		{"bad role", `{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role", "must be one of"},
		{"role not string", `{"model":"m","messages":[{"role":1,"content":"x"}]}`, "messages[0].role", "must be a string"},
		{"content number", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content", "must be a string, an array"},
		{"user without content", `{"model":"m","messages":[{"role":"user"}]}`, "messages[0].content", "is required for user messages"},
		{"part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type", "is required"},
		{"second message bad", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"assistant"}]}`, "messages[1].content", "unless the assistant message has tool_calls"},
		{"missing model", `{` + msgs + `}`, "model", "`model` is required"},
		{"empty model", `{"model":"",` + msgs + `}`, "model", "must not be empty"},
		{"model not string", `{"model":4,` + msgs + `}`, "model", "`model` must be a string, got number"},
		{"stream not bool", `{"model":"m",` + msgs + `,"stream":"yes"}`, "stream", "`stream` must be a boolean, got string"},
		{"temperature string", `{"model":"m",` + msgs + `,"temperature":"hot"}`, "temperature", "`temperature` must be a number, got string"},
		{"temperature range", `{"model":"m",` + msgs + `,"temperature":3}`, "temperature", "between 0 and 2"},
		{"max_tokens float", `{"model":"m",` + msgs + `,"max_tokens":1.5}`, "max_tokens", "must be an integer"},
		{"max_tokens zero", `{"model":"m",` + msgs + `,"max_tokens":0}`, "max_tokens", "between 1 and"},
		{"n string", `{"model":"m",` + msgs + `,"n":"2"}`, "n", "`n` must be an integer, got string"},
		{"stop number", `{"model":"m",` + msgs + `,"stop":1}`, "stop", "a string or an array of strings"},
		{"stop element", `{"model":"m",` + msgs + `,"stop":["a",2]}`, "stop[1]", "must be a string"},
		{"tools object", `{"model":"m",` + msgs + `,"tools":{}}`, "tools", "`tools` must be an array"},
		{"tool without name", `{"model":"m",` + msgs + `,"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name", "is required"},
		{"tool_choice number", `{"model":"m",` + msgs + `,"tool_choice":1}`, "tool_choice", "a string or an object"},
		{"response_format string", `{"model":"m",` + msgs + `,"response_format":"json"}`, "response_format", "must be an object"},
		{"response_format no type", `{"model":"m",` + msgs + `,"response_format":{}}`, "response_format.type", "is required"},
		{"stream_options not object", `{"model":"m",` + msgs + `,"stream_options":true}`, "stream_options", "must be an object"},
		{"include_usage string", `{"model":"m",` + msgs + `,"stream_options":{"include_usage":"y"}}`, "stream_options.include_usage", "must be a boolean"},
		{"models not array", `{"model":"m",` + msgs + `,"models":"a"}`, "models", "an array of model ids"},
		{"models element", `{"model":"m",` + msgs + `,"models":["a",1]}`, "models[1]", "must be a string"},
		{"provider not object", `{"model":"m",` + msgs + `,"provider":[]}`, "provider", "`provider` must be an object"},
		{"session too long", `{"model":"m",` + msgs + `,"session_id":"` + strings.Repeat("x", 300) + `"}`, "session_id", "at most 256"},
		{"user number", `{"model":"m",` + msgs + `,"user":1}`, "user", "`user` must be a string"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.Request
			err := decodeChat([]byte(tt.body), &req)
			if err == nil {
				t.Fatalf("decodeChat(%s) succeeded", tt.body)
			}
			if err.Status != 400 || err.Param != tt.param || !strings.Contains(err.Message, tt.want) {
				t.Fatalf("error = %d param=%q %q; want 400 param=%q containing %q", err.Status, err.Param, err.Message, tt.param, tt.want)
			}
		})
	}
}

func TestDecodeChatNullsAccepted(t *testing.T) {
	body := `{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":null,"stop":null,"tools":null,"stream":null,"stream_options":null,"models":null,"user":null}`
	var req llm.Request
	if err := decodeChat([]byte(body), &req); err != nil {
		t.Fatal(err)
	}
}

func TestDecodeChatEscapedKeys(t *testing.T) {
	// A decoder downstream reads "mod\u0065l" as "model"; so must the node, or routing and
	// the upstream would disagree on the model.
	var req llm.Request
	if err := decodeChat([]byte(`{"mod\u0065l":"sim/x","messages":[{"role":"user","content":"x"}]}`), &req); err != nil {
		t.Fatal(err)
	}
	if req.Model != "sim/x" {
		t.Fatalf("model = %q", req.Model)
	}
}

// FuzzDecodeChat holds the decoder to three properties on arbitrary bytes: it never panics,
// it never accepts a body encoding/json rejects, and what it accepts has a model (or models)
// and non-empty messages.
func FuzzDecodeChat(f *testing.F) {
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"x"}]}],"stream":true,"stream_options":{"include_usage":true}}`))
	f.Add([]byte(`{"models":["a","b"],"messages":[{"role":"assistant","tool_calls":[{}]}],"temperature":1.5,"stop":["x"]}`))
	f.Add([]byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`))
	f.Add([]byte(`{"mod\u0065l":1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req llm.Request
		err := decodeChat(body, &req)
		if err != nil {
			if err.Status != 400 || err.Message == "" {
				t.Fatalf("bad error %+v", err)
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted invalid JSON %q", body)
		}
		// A map keeps keys exact (struct decoding would match them case-insensitively, which
		// upstream APIs do not do).
		var top map[string]json.RawMessage
		if json.Unmarshal(body, &top) != nil {
			t.Fatalf("accepted %q, which encoding/json cannot read as an object", body)
		}
		var msgs []json.RawMessage
		if json.Unmarshal(top["messages"], &msgs) != nil || len(msgs) == 0 || req.Messages != len(msgs) {
			t.Fatalf("accepted %q with %d messages (encoding/json sees %d)", body, req.Messages, len(msgs))
		}
		if req.Model == "" && len(req.Models) == 0 {
			t.Fatalf("accepted %q without a model", body)
		}
		if raw, ok := top["model"]; ok {
			var model string
			if json.Unmarshal(raw, &model) != nil || model != req.Model {
				t.Fatalf("model %q, encoding/json reads %s", req.Model, raw)
			}
		}
	})
}

var benchChat = []byte(`{"model":"fake/gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly."},{"role":"user","content":"What is the capital of France? Explain in one sentence, and mention one landmark."}],"max_tokens":64,"temperature":0.2}`)

func BenchmarkDecodeChat(b *testing.B) {
	b.SetBytes(int64(len(benchChat)))
	b.ReportAllocs()
	for b.Loop() {
		var req llm.Request
		if err := decodeChat(benchChat, &req); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDecodeChatRoutingSummary(t *testing.T) {
	const user = `{"role":"user","content":"hello"}`
	tests := []struct {
		name  string
		body  string
		check func(r *llm.Request) bool
	}{
		{"provider kept raw", `{"model":"m","messages":[` + user + `],"provider":{"order":["a"]}}`,
			func(r *llm.Request) bool { return string(r.Provider) == `{"order":["a"]}` }},
		{"null provider", `{"model":"m","messages":[` + user + `],"provider":null}`,
			func(r *llm.Request) bool { return r.Provider == nil }},
		{"legacy route", `{"model":"m","messages":[` + user + `],"route":"fallback"}`,
			func(r *llm.Request) bool { return r.Route == "fallback" }},
		{"params sent", `{"model":"m","messages":[` + user + `],"temperature":0,"top_k":3,"logit_bias":null}`,
			func(r *llm.Request) bool {
				return r.Params == llm.ParamSet(0).With(llm.ParamTemperature).With(llm.ParamTopK)
			}},
		{"json schema is structured outputs", `{"model":"m","messages":[` + user + `],"response_format":{"type":"json_schema","json_schema":{}}}`,
			func(r *llm.Request) bool {
				return r.Params.Has(llm.ParamStructuredOutputs) && r.Params.Has(llm.ParamResponseFormat)
			}},
		{"json object is not", `{"model":"m","messages":[` + user + `],"response_format":{"type":"json_object"}}`,
			func(r *llm.Request) bool { return !r.Params.Has(llm.ParamStructuredOutputs) }},
		{"max_completion_tokens wins", `{"model":"m","messages":[` + user + `],"max_completion_tokens":50,"max_tokens":10}`,
			func(r *llm.Request) bool { return r.MaxTokens == 50 }},
		{"max_tokens alone", `{"model":"m","messages":[` + user + `],"max_tokens":10}`,
			func(r *llm.Request) bool { return r.MaxTokens == 10 }},
		{"empty tools is no tools", `{"model":"m","messages":[` + user + `],"tools":[]}`,
			func(r *llm.Request) bool { return !r.Params.Has(llm.ParamTools) }},
		{"prompt cache key", `{"model":"m","messages":[` + user + `],"prompt_cache_key":"k1"}`,
			func(r *llm.Request) bool { return r.PromptCacheKey == "k1" }},
		{"no user or system, no hash", `{"model":"m","messages":[{"role":"assistant","content":"x"}]}`,
			func(r *llm.Request) bool { return r.PromptHash == 0 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.Request
			if err := decodeChat([]byte(tt.body), &req); err != nil {
				t.Fatal(err)
			}
			if !tt.check(&req) {
				t.Fatalf("summary = %+v", req)
			}
		})
	}
}

// TestPromptHashIdentifiesConversation: later turns keep the hash of the first system and
// user messages; another conversation gets another.
func TestPromptHashIdentifiesConversation(t *testing.T) {
	hash := func(msgs string) uint64 {
		var req llm.Request
		if err := decodeChat([]byte(`{"model":"m","messages":[`+msgs+`]}`), &req); err != nil {
			t.Fatal(err)
		}
		return req.PromptHash
	}
	sys, first := `{"role":"system","content":"be brief"}`, `{"role":"user","content":"plan a trip"}`
	h1 := hash(sys + "," + first)
	if h1 == 0 {
		t.Fatal("no hash")
	}
	if h2 := hash(sys + "," + first + `,{"role":"assistant","content":"ok"},{"role":"user","content":"to Rome"}`); h2 != h1 {
		t.Fatal("a later turn changed the conversation hash")
	}
	if hash(sys+`,{"role":"user","content":"plan a party"}`) == h1 {
		t.Fatal("another first message has the same hash")
	}
	if hash(`{"role":"system","content":"be verbose"},`+first) == h1 {
		t.Fatal("another system prompt has the same hash")
	}
}

// TestDecodeChatDeterministic: temperature 0 in any spelling, or a seed, makes a request
// deterministic (cacheable without an opt-in); anything else does not.
func TestDecodeChatDeterministic(t *testing.T) {
	const msgs = `"messages":[{"role":"user","content":"hi"}]`
	tests := []struct {
		name, extra string
		want        bool
	}{
		{"temperature 0", `"temperature":0`, true},
		{"temperature 0.0", `"temperature":0.0`, true},
		{"temperature 0e5", `"temperature":0e5`, true},
		{"a seed", `"temperature":1.2,"seed":42`, true},
		{"seed 0", `"seed":0`, true},
		{"sampled", `"temperature":0.7`, false},
		{"null temperature", `"temperature":null`, false},
		{"null seed", `"seed":null`, false},
		{"neither", `"top_p":0`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req llm.Request
			if err := decodeChat([]byte(`{"model":"m",`+msgs+`,`+tt.extra+`}`), &req); err != nil {
				t.Fatal(err)
			}
			if req.Deterministic != tt.want {
				t.Fatalf("Deterministic = %v", req.Deterministic)
			}
		})
	}
}

// TestReparseKeepsTheCaller: a body a transform plugin rewrote is decoded afresh, but it is
// still the same caller's request: the cache scopes by its headers.
func TestReparseKeepsTheCaller(t *testing.T) {
	prev := &llm.Request{SessionID: "s", Header: http.Header{"Authorization": {"Bearer sk-a"}}}
	req, err := Reparse(context.Background(), []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}],"seed":1}`), prev)
	if err != nil {
		t.Fatal(err)
	}
	if req.Header.Get("Authorization") != "Bearer sk-a" || req.SessionID != "s" || !req.Deterministic {
		t.Fatalf("reparsed %+v", req)
	}
}
