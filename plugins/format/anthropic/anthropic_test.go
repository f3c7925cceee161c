package anthropic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/plugins/internal/formattest"
)

const wasmPath = "../../dist/format-anthropic.wasm"

func load(t testing.TB) *wasmhost.Plugin {
	t.Helper()
	return loadWith(t, wasmhost.Limits{})
}

// loadWith loads the built plugin with the given limits; Deadline defaults to a generous one.
func loadWith(t testing.TB, lim wasmhost.Limits) *wasmhost.Plugin {
	t.Helper()
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		t.Fatalf("anthropic: read %s: %v (run scripts/build-plugins.sh)", wasmPath, err)
	}
	ctx := context.Background()
	h, err := wasmhost.NewHost(ctx, wasmhost.Config{Instrument: wasmhost.Metered})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	// A generous deadline: on a loaded machine a descheduled call would otherwise fail the
	// test; fuel (the default limit) still bounds the guest.
	if lim.Deadline == 0 {
		lim.Deadline = 2 * time.Second
	}
	p, err := h.Load(ctx, "format-anthropic", wasm, nil, lim)
	if err != nil {
		t.Fatalf("anthropic: load: %v", err)
	}
	return p
}

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func call(t testing.TB, p *wasmhost.Plugin, hook string, in []byte) []byte {
	t.Helper()
	out, changed, err := p.Call(context.Background(), hook, in)
	if err != nil {
		t.Fatalf("%s: %v", hook, err)
	}
	if !changed {
		t.Fatalf("%s returned 0 (unchanged)", hook)
	}
	return out
}

func decode(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, b)
	}
	return v
}

// sameJSON compares two JSON texts as values, so key order and spacing do not matter.
func sameJSON(t testing.TB, got, want []byte) {
	t.Helper()
	g, w := decode(t, got), decode(t, want)
	if !reflect.DeepEqual(g, w) {
		gi, _ := json.MarshalIndent(g, "", "  ")
		wi, _ := json.MarshalIndent(w, "", "  ")
		t.Errorf("got:\n%s\nwant:\n%s", gi, wi)
	}
}

// ---------------------------------------------------------------- hook_format_request

func formatRequest(model string, stream bool, req string) []byte {
	return []byte(`{"model":"` + model + `","stream":` + map[bool]string{true: "true", false: "false"}[stream] + `,"request":` + req + `}`)
}

func TestFormatRequestFixture(t *testing.T) {
	p := load(t)
	out := call(t, p, wasmhost.HookFormatRequest, formatRequest("claude-sonnet-4-5", false, string(fixture(t, "request_chat.json"))))
	sameJSON(t, out, fixture(t, "request_chat.want.json"))
}

func TestFormatRequest(t *testing.T) {
	p := load(t)
	cases := []struct {
		name   string
		stream bool
		req    string
		want   string // the body
	}{
		{"string content, provider model and default max_tokens", false,
			`{"model":"gpt-4o","messages":[{"role":"user","content":"Hi"}]}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096}`},
		{"stream from the payload", true,
			`{"model":"claude-x","messages":[{"role":"user","content":"Hi"}],"max_tokens":300}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":300,"stream":true}`},
		{"stream from the request", false,
			`{"messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096,"stream":true}`},
		{"max_completion_tokens wins over max_tokens", false,
			`{"messages":[{"role":"user","content":"Hi"}],"max_tokens":10,"max_completion_tokens":20}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":20}`},
		{"images: data URL and http URL", false,
			`{"messages":[{"role":"user","content":[{"type":"text","text":"What is in these?"},
			 {"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"high"}},
			 {"type":"image_url","image_url":{"url":"https:\/\/example.com\/cat.jpg"}}]}]}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"What is in these?"},
			 {"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},
			 {"type":"image","source":{"type":"url","url":"https://example.com/cat.jpg"}}]}],"max_tokens":4096}`},
		{"pdf file part", false,
			`{"messages":[{"role":"user","content":[{"type":"file","file":{"filename":"a.pdf","file_data":"data:application/pdf;base64,JVBERi0x"}}]}]}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"document","source":{"type":"base64","media_type":"application/pdf","data":"JVBERi0x"}}]}],"max_tokens":4096}`},
		{"same-role turns merged, empty text dropped", false,
			`{"messages":[{"role":"user","content":"a"},{"role":"user","content":""},{"role":"user","content":[{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]},
			 {"role":"assistant","content":"c"},{"role":"assistant","content":[{"type":"text","text":"d"},{"type":"refusal","refusal":"no"}]}]}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b","cache_control":{"type":"ephemeral"}}]},
			 {"role":"assistant","content":[{"type":"text","text":"c"},{"type":"text","text":"d"},{"type":"text","text":"no"}]}],"max_tokens":4096}`},
		{"assistant text with tool calls; odd ids mapped; empty and object arguments", false,
			`{"messages":[{"role":"user","content":"go"},{"role":"assistant","content":"Calling.","tool_calls":[
			 {"id":"call.1:x","type":"function","function":{"name":"f","arguments":""}},
			 {"id":"c2","type":"function","function":{"name":"g","arguments":" {\"a\": [1, {\"b\": null}]} "}},
			 {"id":"c3","function":{"name":"h","arguments":{"k":"v"}}}]},
			 {"role":"tool","tool_call_id":"call.1:x","content":[{"type":"text","text":"r1"}]},
			 {"role":"tool","tool_call_id":"c2","content":"r2"},{"role":"tool","tool_call_id":"c3"}]}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"go"}]},
			 {"role":"assistant","content":[{"type":"text","text":"Calling."},
			  {"type":"tool_use","id":"call_1_x","name":"f","input":{}},
			  {"type":"tool_use","id":"c2","name":"g","input":{"a":[1,{"b":null}]}},
			  {"type":"tool_use","id":"c3","name":"h","input":{"k":"v"}}]},
			 {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1_x","content":[{"type":"text","text":"r1"}]},
			  {"type":"tool_result","tool_use_id":"c2","content":"r2"},{"type":"tool_result","tool_use_id":"c3"}]}],"max_tokens":4096}`},
		{"sampling, stop string, user", false,
			`{"messages":[{"role":"user","content":"Hi"}],"temperature":0,"top_p":0.9,"stop":"END","user":"u1","seed":7,"frequency_penalty":0.5}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096,"temperature":0,"top_p":0.9,"stop_sequences":["END"],"metadata":{"user_id":"u1"}}`},
		{"stop array, nulls ignored", false,
			`{"messages":[{"role":"user","content":"Hi"}],"stop":["a","\n\n"],"temperature":null,"tools":null,"tool_choice":null}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096,"stop_sequences":["a","\n\n"]}`},
		{"tool_choice required without parallel calls", false,
			`{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","parallel_tool_calls":false}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096,
			 "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"any","disable_parallel_tool_use":true}}`},
		{"parallel_tool_calls false alone", false,
			`{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"parallel_tool_calls":false}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096,
			 "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"auto","disable_parallel_tool_use":true}}`},
		{"tool_choice function", false,
			`{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object"}}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096,
			 "tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"tool","name":"f"}}`},
		{"tool_choice none", false,
			`{"messages":[{"role":"user","content":"Hi"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"none","parallel_tool_calls":false}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096,
			 "tools":[{"name":"f","input_schema":{"type":"object","properties":{}}}],"tool_choice":{"type":"none"}}`},
		{"tool_choice without tools dropped", false,
			`{"messages":[{"role":"user","content":"Hi"}],"tools":[],"tool_choice":"required"}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096}`},
		{"reasoning effort with default max_tokens", false,
			`{"messages":[{"role":"user","content":"Hi"}],"reasoning_effort":"medium"}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":8192,"thinking":{"type":"enabled","budget_tokens":4096}}`},
		{"reasoning effort capped by max_completion_tokens", false,
			`{"messages":[{"role":"user","content":"Hi"}],"reasoning_effort":"high","max_completion_tokens":2000,"temperature":1}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1999},"temperature":1}`},
		{"escaped keys", false,
			`{"m\u0065ssages":[{"r\u006fle":"user","content":"Hi"}]}`,
			`{"model":"claude-x","messages":[{"role":"user","content":[{"type":"text","text":"Hi"}]}],"max_tokens":4096}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := call(t, p, wasmhost.HookFormatRequest, formatRequest("claude-x", c.stream, c.req))
			var got struct {
				Method  string            `json:"method"`
				Path    string            `json:"path"`
				Headers map[string]string `json:"headers"`
				Body    json.RawMessage   `json:"body"`
				Error   json.RawMessage   `json:"error"`
			}
			if err := json.Unmarshal(out, &got); err != nil || got.Error != nil {
				t.Fatalf("output %s: %v", out, err)
			}
			wantHeaders := map[string]string{"anthropic-version": "2023-06-01", "x-api-key": "{{api_key}}"}
			if got.Method != "POST" || got.Path != "/messages" || !reflect.DeepEqual(got.Headers, wantHeaders) {
				t.Errorf("method %q path %q headers %v", got.Method, got.Path, got.Headers)
			}
			sameJSON(t, got.Body, []byte(c.want))
		})
	}
}

// errorObject is the §6 error object as the plugin writes it.
type errorObject struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Type    string `json:"type"`
		Status  int    `json:"status"`
	} `json:"error"`
}

func TestFormatRequestRefused(t *testing.T) {
	p := load(t)
	cases := []struct{ name, req, code, msg string }{
		{"invalid tool arguments", `{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{\"a\":"}}]}]}`, "unsupported_message", "arguments"},
		{"array tool arguments", `{"messages":[{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"[1]"}}]}]}`, "unsupported_message", "arguments"},
		{"n > 1", `{"messages":[{"role":"user","content":"x"}],"n":2}`, "unsupported_parameter", "n other than 1"},
		{"logprobs", `{"messages":[{"role":"user","content":"x"}],"logprobs":true}`, "unsupported_parameter", "logprobs"},
		{"json schema", `{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{}}}`, "unsupported_parameter", "response_format"},
		{"audio output", `{"messages":[{"role":"user","content":"x"}],"modalities":["text","audio"]}`, "unsupported_parameter", "modality"},
		{"audio input", `{"messages":[{"role":"user","content":[{"type":"input_audio","input_audio":{"data":"AA==","format":"wav"}}]}]}`, "unsupported_message", "audio"},
		{"unknown part", `{"messages":[{"role":"user","content":[{"type":"video"}]}]}`, "unsupported_message", "content part"},
		{"plain data URL", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:text/plain,hello"}}]}]}`, "unsupported_message", "base64"},
		{"ftp image", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"ftp://x/y.png"}}]}]}`, "unsupported_message", "URL"},
		{"file id", `{"messages":[{"role":"user","content":[{"type":"file","file":{"file_id":"file-1"}}]}]}`, "unsupported_message", "file_id"},
		{"function role", `{"messages":[{"role":"function","name":"f","content":"x"}]}`, "unsupported_message", "function role"},
		{"unknown role", `{"messages":[{"role":"robot","content":"x"}]}`, "unsupported_message", "role"},
		{"tool result without id", `{"messages":[{"role":"tool","content":"x"}]}`, "unsupported_message", "tool_call_id"},
		{"only system", `{"messages":[{"role":"system","content":"x"}]}`, "unsupported_message", "no user or assistant"},
		{"messages missing", `{"model":"m"}`, "missing_messages", "messages"},
		{"custom tool", `{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}`, "unsupported_parameter", "function tools"},
		{"thinking with temperature", `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"low","temperature":0.2}`, "unsupported_parameter", "temperature"},
		{"thinking budget too small", `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"low","max_tokens":800}`, "unsupported_parameter", "1024"},
		{"bad effort", `{"messages":[{"role":"user","content":"x"}],"reasoning_effort":"max"}`, "unsupported_parameter", "reasoning_effort"},
		{"bad max_tokens", `{"messages":[{"role":"user","content":"x"}],"max_tokens":-1}`, "invalid_max_tokens", "max_tokens"},
		{"request not an object", `[1]`, "bad_input", "input"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := call(t, p, wasmhost.HookFormatRequest, formatRequest("claude-x", false, c.req))
			var e errorObject
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatal(err)
			}
			if e.Error.Code != c.code || e.Error.Status != 400 || !strings.Contains(e.Error.Message, c.msg) {
				t.Errorf("got %s; want code %s, status 400, message containing %q", out, c.code, c.msg)
			}
		})
	}
}

// ---------------------------------------------------------------- hook_format_response

func TestFormatResponse(t *testing.T) {
	p := load(t)
	cases := []struct{ name, fixture, want string }{
		{"text with cache usage", "response_text.json", `{"id":"msg_01XFDUDYJgAACzvnptvVoYEL","object":"chat.completion","created":0,"model":"claude-sonnet-4-5-20250929",
			"choices":[{"index":0,"message":{"role":"assistant","content":"Hello! The capital of France is **Paris**.\n\nIt’s also its largest city — \"la Ville Lumière\"."},"finish_reason":"stop"}],
			"usage":{"prompt_tokens":2257,"completion_tokens":31,"total_tokens":2288,"prompt_tokens_details":{"cached_tokens":2048}}}`},
		{"tool use", "response_tool_use.json", `{"id":"msg_01Aq9w938a90dw8q","object":"chat.completion","created":0,"model":"claude-sonnet-4-5-20250929",
			"choices":[{"index":0,"message":{"role":"assistant","content":"I'll check the current weather in both cities.","tool_calls":[
			 {"id":"toolu_01A09q90qw90lq917835lq9","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"San Francisco, CA\", \"unit\": \"celsius\"}"}},
			 {"id":"toolu_01B7x2kLmN3pQ4rS5tU6vW7","type":"function","function":{"name":"get_weather","arguments":"{\"location\": \"Tokyo, Japan\", \"unit\": \"celsius\"}"}}]},
			 "finish_reason":"tool_calls"}],
			"usage":{"prompt_tokens":384,"completion_tokens":104,"total_tokens":488,"prompt_tokens_details":{"cached_tokens":0}}}`},
		{"thinking and max_tokens", "response_thinking.json", `{"id":"msg_01Hk8vQ2fRZcYpT6mS3nXbWd","object":"chat.completion","created":0,"model":"claude-sonnet-4-5-20250929",
			"choices":[{"index":0,"message":{"role":"assistant","content":"27 × 453 = **12,231**","reasoning":"To multiply 27 by 453, split 453 into 400 + 53.\n27 × 400 = 10800, 27 × 53 = 1431.\nSum: 12231."},"finish_reason":"length"}],
			"usage":{"prompt_tokens":46,"completion_tokens":512,"total_tokens":558,"prompt_tokens_details":{"cached_tokens":0}}}`},
		{"refusal", "response_refusal.json", `{"id":"msg_01RefusalX","object":"chat.completion","created":0,"model":"claude-sonnet-4-5-20250929",
			"choices":[{"index":0,"message":{"role":"assistant","content":""},"finish_reason":"content_filter"}],
			"usage":{"prompt_tokens":12,"completion_tokens":0,"total_tokens":12,"prompt_tokens_details":{"cached_tokens":0}}}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(`{"model":"claude-sonnet-4-5","status":200,"body":` + string(fixture(t, c.fixture)) + `}`)
			sameJSON(t, call(t, p, wasmhost.HookFormatResponse, in), []byte(c.want))
		})
	}
}

func TestFormatResponseErrors(t *testing.T) {
	p := load(t)
	cases := []struct {
		name, body  string
		status      int
		code, msg   string
		errorStatus int
	}{
		{"in-band overloaded error", string(fixture(t, "response_inband_error.json")), 200, "overloaded", "Overloaded", 503},
		{"body not JSON", `"<html>oops</html>"`, 200, "bad_response", "not a JSON object", 502},
		{"no content", `{"id":"x","type":"message"}`, 200, "bad_response", "no content", 502},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(`{"model":"m","status":` + mustStr(c.status) + `,"body":` + c.body + `}`)
			out := call(t, p, wasmhost.HookFormatResponse, in)
			var e errorObject
			if err := json.Unmarshal(out, &e); err != nil {
				t.Fatal(err)
			}
			if e.Error.Code != c.code || e.Error.Status != c.errorStatus || !strings.Contains(e.Error.Message, c.msg) {
				t.Errorf("got %s", out)
			}
		})
	}
}

func mustStr(i int) string { b, _ := json.Marshal(i); return string(b) }

// ---------------------------------------------------------------- hook_format_error

func TestFormatError(t *testing.T) {
	p := load(t)
	cases := []struct {
		name    string
		status  int
		body    []byte // raw JSON, or text that the host would pass as a string
		isJSON  bool
		want    string
		message string // checked when want leaves it out
	}{
		{"invalid request", 400, fixture(t, "error_invalid_request.json"), true,
			`{"status":400,"type":"invalid_request_error","code":"invalid_request_error"}`, "unexpected `tool_use_id` found in `tool_result` blocks"},
		{"authentication", 401, fixture(t, "error_authentication.json"), true,
			`{"status":401,"type":"authentication_error","code":"invalid_api_key","message":"invalid x-api-key"}`, ""},
		{"permission", 403, fixture(t, "error_permission.json"), true,
			`{"status":403,"type":"permission_error","code":"permission_denied"}`, "does not have permission"},
		{"not found", 404, fixture(t, "error_not_found.json"), true,
			`{"status":404,"type":"not_found_error","code":"not_found","message":"model: claude-3-opus-latest"}`, ""},
		{"request too large", 413, fixture(t, "error_too_large.json"), true,
			`{"status":413,"type":"invalid_request_error","code":"request_too_large"}`, "maximum allowed number of bytes"},
		{"rate limit", 429, fixture(t, "error_rate_limit.json"), true,
			`{"status":429,"type":"rate_limit_error","code":"rate_limit_exceeded"}`, "exceed the rate limit"},
		{"api error", 500, fixture(t, "error_api.json"), true,
			`{"status":500,"type":"server_error","code":"api_error","message":"Internal server error"}`, ""},
		{"overloaded 529", 529, fixture(t, "error_overloaded.json"), true,
			`{"status":503,"type":"overloaded","code":"overloaded","message":"Overloaded"}`, ""},
		{"unknown type keeps the status and names itself", 418, []byte(`{"type":"error","error":{"type":"teapot_error","message":"short and stout"}}`), true,
			`{"status":418,"type":"invalid_request_error","code":"teapot_error","message":"short and stout"}`, ""},
		{"proxy HTML from a 502", 502, fixture(t, "error_proxy.html"), false,
			`{"status":502,"type":"server_error","code":"upstream_error"}`, "502 Bad Gateway"},
		{"529 without a body", 529, []byte(``), false,
			`{"status":503,"type":"overloaded","code":"overloaded","message":"Anthropic returned HTTP 529"}`, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			body := c.body
			if !c.isJSON {
				body = mustJSON(t, string(c.body))
			}
			in := []byte(`{"status":` + mustStr(c.status) + `,"retry_after":"30","body":` + string(body) + `}`)
			out := call(t, p, wasmhost.HookFormatError, in)
			var got map[string]any
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatal(err)
			}
			var want map[string]any
			if err := json.Unmarshal([]byte(c.want), &want); err != nil {
				t.Fatal(err)
			}
			if c.message != "" {
				msg, _ := got["message"].(string)
				if !strings.Contains(msg, c.message) {
					t.Errorf("message %q does not contain %q", msg, c.message)
				}
				delete(got, "message")
			}
			if !reflect.DeepEqual(got, want) {
				t.Errorf("got %s, want %s", out, c.want)
			}
		})
	}
}

// ---------------------------------------------------------------- hook_format_stream

type sseEvent = formattest.Event

// readSSE decodes a recorded stream the way the host does.
func readSSE(t testing.TB, name string) []sseEvent {
	t.Helper()
	return formattest.ParseSSE(fixture(t, name))
}

type streamOut struct {
	State  string            `json:"state"`
	Chunks []json.RawMessage `json:"chunks"`
	Done   bool              `json:"done"`
	Error  *struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Status  int    `json:"status"`
	} `json:"error"`
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      *string `json:"role"`
			Content   *string `json:"content"`
			Reasoning *string `json:"reasoning"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *struct {
		PromptTokens        int `json:"prompt_tokens"`
		CompletionTokens    int `json:"completion_tokens"`
		TotalTokens         int `json:"total_tokens"`
		PromptTokensDetails struct {
			CachedTokens int `json:"cached_tokens"`
		} `json:"prompt_tokens_details"`
	} `json:"usage"`
}

type toolCall struct{ ID, Name, Args string }

// assembled is what a client rebuilds from the chunks.
type assembled struct {
	ID, Model, Role, Content, Reasoning, Finish string
	Tools                                       []toolCall
	Usage                                       [4]int // prompt, completion, total, cached
	Done                                        bool
	ErrStatus                                   int
	ErrType, ErrMessage                         string
}

// runStream feeds the events in batches of the given size, carrying the state as the host
// does, and assembles the chunks.
func runStream(t testing.TB, p *wasmhost.Plugin, events []sseEvent, batch int) assembled {
	t.Helper()
	var a assembled
	state := ""
	for i := 0; i < len(events); i += batch {
		j := min(i+batch, len(events))
		in := mustJSON(t, map[string]any{"model": "claude-sonnet-4-5", "state": state, "events": events[i:j]})
		state = a.add(t, call(t, p, wasmhost.HookFormatStream, in))
	}
	return a
}

// add folds one hook_format_stream result into what the client has rebuilt so far and
// returns the state the result carries.
func (a *assembled) add(t testing.TB, raw []byte) string {
	t.Helper()
	var out streamOut
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%v: %s", err, raw)
	}
	if len(out.State) > 4096 {
		t.Errorf("state of %d bytes", len(out.State))
	}
	if a.Done {
		t.Errorf("events after done produced %s", raw)
	}
	for _, rc := range out.Chunks {
		var c chunk
		if err := json.Unmarshal(rc, &c); err != nil {
			t.Fatal(err)
		}
		if c.Object != "chat.completion.chunk" {
			t.Errorf("object %q", c.Object)
		}
		a.ID, a.Model = c.ID, c.Model
		if c.Usage != nil {
			if len(c.Choices) != 0 {
				t.Errorf("usage chunk with choices: %s", rc)
			}
			a.Usage = [4]int{c.Usage.PromptTokens, c.Usage.CompletionTokens, c.Usage.TotalTokens, c.Usage.PromptTokensDetails.CachedTokens}
		}
		for _, ch := range c.Choices {
			d := ch.Delta
			if d.Role != nil {
				if a.Role != "" {
					t.Errorf("role sent twice")
				}
				a.Role = *d.Role
			}
			if d.Content != nil {
				a.Content += *d.Content
			}
			if d.Reasoning != nil {
				a.Reasoning += *d.Reasoning
			}
			for _, tc := range d.ToolCalls {
				for len(a.Tools) <= tc.Index {
					a.Tools = append(a.Tools, toolCall{})
				}
				if tc.ID != "" {
					if tc.Type != "function" {
						t.Errorf("tool call type %q", tc.Type)
					}
					a.Tools[tc.Index].ID, a.Tools[tc.Index].Name = tc.ID, tc.Function.Name
				}
				a.Tools[tc.Index].Args += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				a.Finish = *ch.FinishReason
			}
		}
	}
	if out.Error != nil {
		a.ErrStatus, a.ErrType, a.ErrMessage = out.Error.Status, out.Error.Type, out.Error.Message
	}
	a.Done = a.Done || out.Done
	return out.State
}

func TestFormatStream(t *testing.T) {
	p := load(t)
	const model = "claude-sonnet-4-5-20250929"
	cases := []struct {
		name, fixture string
		want          assembled
	}{
		{"text with cache read", "stream_text.sse", assembled{ID: "msg_01XFDUDYJgAACzvnptvVoYEL", Model: model, Role: "assistant",
			Content: "Hello! The capital of France is **Paris** — \"la Ville Lumière\".\n\nAnything else? 🗼", Finish: "stop",
			Usage: [4]int{2520, 15, 2535, 2048}, Done: true}},
		{"text and two tool calls", "stream_tool_use.sse", assembled{ID: "msg_014p7gG3wDgGV9EUtLvnow3U", Model: model, Role: "assistant",
			Content: "Okay, let's check the weather for San Francisco, CA:", Finish: "tool_calls",
			Tools: []toolCall{
				{"toolu_01T1x1fJ34qAmk2tNTrN7Up6", "get_weather", `{"location": "San Francisco, CA", "unit": "fahrenheit"}`},
				{"toolu_01Vm4sXo8HMBzGkX2o1YeKAb", "get_time", `{"timezone": "America/Los_Angeles"}`},
			},
			Usage: [4]int{472, 89, 561, 0}, Done: true}},
		{"thinking, cache creation, max_tokens", "stream_thinking.sse", assembled{ID: "msg_01R4Xwmx9xUZ5DNb9oVvUq2x", Model: model, Role: "assistant",
			Content: "27 * 453 = 12,231", Reasoning: "Let me solve this step by step:\n\n1. First break down 27 * 453\n2. 453 = 400 + 50 + 3",
			Finish: "length", Usage: [4]int{1112, 301, 1413, 0}, Done: true}},
		{"overloaded mid-stream", "stream_error.sse", assembled{ID: "msg_01Dp3wPc5KVaz2nUR2YsMf9E", Model: model, Role: "assistant",
			Content: "Once upon", ErrStatus: 503, ErrType: "overloaded_error", ErrMessage: "Overloaded"}},
	}
	for _, c := range cases {
		events := readSSE(t, c.fixture)
		for _, batch := range []int{1, 2, 3, len(events)} {
			t.Run(c.name+"/batch "+mustStr(batch), func(t *testing.T) {
				got := runStream(t, p, events, batch)
				if !reflect.DeepEqual(got, c.want) {
					t.Errorf("got  %+v\nwant %+v", got, c.want)
				}
			})
		}
	}
}

func TestFormatStreamEdges(t *testing.T) {
	p := load(t)
	cases := []struct {
		name, in, want string // want: a substring of the output
	}{
		{"ping only gives nothing", `{"model":"m","state":"","events":[{"event":"ping","data":"{\"type\": \"ping\"}"}]}`, `"chunks":[]`},
		{"event name used when data has no type", `{"model":"m","state":"","events":[{"event":"message_stop","data":"{}"}]}`, `"done":true`},
		{"unknown event ignored", `{"model":"m","state":"","events":[{"event":"future_event","data":"{\"type\":\"future_event\"}"}]}`, `"chunks":[]`},
		{"model from the payload before message_start", `{"model":"claude-x","state":"","events":[{"event":"content_block_delta","data":"{\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\"a\"}}"}]}`, `"model":"claude-x"`},
		{"input_json_delta for an unknown block dropped", `{"model":"m","state":"","events":[{"event":"content_block_delta","data":"{\"type\":\"content_block_delta\",\"index\":5,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"{}\"}}"}]}`, `"chunks":[]`},
		{"data not JSON", `{"model":"m","state":"","events":[{"event":"content_block_delta","data":"{oops"}]}`, `"status":502`},
		{"error of another type", `{"model":"m","state":"","events":[{"event":"error","data":"{\"type\":\"error\",\"error\":{\"type\":\"invalid_request_error\",\"message\":\"bad\"}}"}]}`, `"status":502`},
		{"rate limit error", `{"model":"m","state":"","events":[{"event":"error","data":"{\"type\":\"error\",\"error\":{\"type\":\"rate_limit_error\",\"message\":\"slow down\"}}"}]}`, `"status":429`},
		{"api error", `{"model":"m","state":"","events":[{"event":"error","data":"{\"type\":\"error\",\"error\":{\"type\":\"api_error\",\"message\":\"x\"}}"}]}`, `"status":500`},
		{"corrupt state", `{"model":"m","state":"{not json","events":[{"event":"ping","data":"{}"}]}`, `"code":"bad_state"`},
		{"events missing", `{"model":"m","state":""}`, `"code":"bad_input"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out := call(t, p, wasmhost.HookFormatStream, []byte(c.in))
			if !bytes.Contains(out, []byte(c.want)) {
				t.Errorf("got %s, want it to contain %s", out, c.want)
			}
		})
	}
}

// ---------------------------------------------------------------- robustness

var hooks = []string{wasmhost.HookFormatRequest, wasmhost.HookFormatResponse, wasmhost.HookFormatStream, wasmhost.HookFormatError}

// validInputs are one realistic input per hook, the seeds of truncation and fuzzing.
func validInputs(t testing.TB) map[string][]byte {
	events := readSSE(t, "stream_tool_use.sse")
	return map[string][]byte{
		wasmhost.HookFormatRequest:  formatRequest("claude-sonnet-4-5", true, string(fixture(t, "request_chat.json"))),
		wasmhost.HookFormatResponse: []byte(`{"model":"m","status":200,"body":` + string(fixture(t, "response_tool_use.json")) + `}`),
		wasmhost.HookFormatStream:   mustJSON(t, map[string]any{"model": "m", "state": "", "events": events}),
		wasmhost.HookFormatError:    []byte(`{"status":429,"retry_after":"","body":` + string(fixture(t, "error_rate_limit.json")) + `}`),
	}
}

// checkBounded calls hook and requires a result that is a failed call or JSON, in bounded
// time and size.
func checkBounded(t *testing.T, p *wasmhost.Plugin, hook string, in []byte) []byte {
	t.Helper()
	start := time.Now()
	out, _, err := p.Call(context.Background(), hook, in)
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("%s took %v on %q", hook, d, in)
	}
	if err != nil {
		var ce *wasmhost.CallError
		if !errors.As(err, &ce) {
			t.Fatalf("%s: %v", hook, err)
		}
		return nil
	}
	if len(out) > 8*len(in)+4096 {
		t.Fatalf("%s: %d bytes out for %d in", hook, len(out), len(in))
	}
	return out
}

func TestGarbageAndTruncated(t *testing.T) {
	p := load(t)
	garbage := []string{"", "null", "{", "}", "[]", `"x"`, "{\"model\":", "\xff\xfe", strings.Repeat("[", 5000), `{"request":{"messages":[` + strings.Repeat(`{"role":"user","content":"x"},`, 3) + `]}}`}
	for _, hook := range hooks {
		for _, g := range garbage {
			out := checkBounded(t, p, hook, []byte(g))
			if out != nil && !bytes.Contains(out, []byte(`"error"`)) {
				t.Errorf("%s(%q) = %s; want an error object", hook, g, out)
			}
		}
	}
	for hook, in := range validInputs(t) {
		t.Run(hook, func(t *testing.T) {
			for n := 0; n < len(in); n += 1 + n/40 {
				out := checkBounded(t, p, hook, in[:n])
				if out != nil && !bytes.Contains(out, []byte(`"error"`)) {
					t.Fatalf("truncated at %d: %s; want an error object", n, out)
				}
			}
		})
	}
}

func FuzzFormatHooks(f *testing.F) {
	p := load(f)
	for _, in := range validInputs(f) {
		f.Add(in)
	}
	for _, name := range []string{"response_text.json", "response_thinking.json", "error_overloaded.json"} {
		f.Add(fixture(f, name))
	}
	f.Add([]byte(`{"type":"message_start","message":{"id":"x"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, hook := range hooks {
			checkBounded(t, p, hook, in)
		}
		// Wrapped in valid envelopes, the bytes reach the body, request and event parsers.
		var body any = string(in)
		if json.Valid(in) {
			body = json.RawMessage(in)
		}
		checkBounded(t, p, wasmhost.HookFormatResponse, mustJSON(t, map[string]any{"model": "m", "status": 200, "body": body}))
		checkBounded(t, p, wasmhost.HookFormatError, mustJSON(t, map[string]any{"status": 500, "retry_after": "", "body": body}))
		checkBounded(t, p, wasmhost.HookFormatRequest, mustJSON(t, map[string]any{"model": "m", "request": body}))
		checkBounded(t, p, wasmhost.HookFormatStream, mustJSON(t, map[string]any{"model": "m", "state": "",
			"events": []sseEvent{{Event: "message_start", Data: string(in)}, {Event: "", Data: string(in)}}}))
		checkBounded(t, p, wasmhost.HookFormatStream, mustJSON(t, map[string]any{"model": "m", "state": string(in), "events": []sseEvent{{Data: "{}"}}}))
	})
}

// ---------------------------------------------------------------- benchmarks

func bench(b *testing.B, hook string, in []byte) {
	p := load(b)
	ctx := context.Background()
	b.SetBytes(int64(len(in)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := p.Call(ctx, hook, in); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkFormatRequest(b *testing.B) {
	bench(b, wasmhost.HookFormatRequest, formatRequest("claude-sonnet-4-5", false, string(fixture(b, "request_chat.json"))))
}

func BenchmarkFormatResponse(b *testing.B) {
	bench(b, wasmhost.HookFormatResponse, []byte(`{"model":"claude-sonnet-4-5","status":200,"body":`+string(fixture(b, "response_tool_use.json"))+`}`))
}

// BenchmarkFormatStreamEvent feeds batches of typical text deltas mid-stream (state carried
// from message_start) and reports the cost per event.
func BenchmarkFormatStreamEvent(b *testing.B) {
	const perBatch = 8
	p := load(b)
	start := readSSE(b, "stream_text.sse")[:2]
	var first streamOut
	if err := json.Unmarshal(call(b, p, wasmhost.HookFormatStream, mustJSON(b, map[string]any{"model": "m", "state": "", "events": start})), &first); err != nil {
		b.Fatal(err)
	}
	events := make([]sseEvent, perBatch)
	for i := range events {
		events[i] = sseEvent{Event: "content_block_delta", Data: `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the quick brown fox"}}`}
	}
	in := mustJSON(b, map[string]any{"model": "m", "state": first.State, "events": events})
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := p.Call(ctx, wasmhost.HookFormatStream, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/event")
}

// TestStreamJSONEvents: events whose data the host sends as JSON ("json") translate exactly
// as the same events sent as strings ("data").
func TestStreamJSONEvents(t *testing.T) {
	p := load(t)
	for _, name := range []string{"stream_text.sse", "stream_thinking.sse", "stream_tool_use.sse", "stream_error.sse"} {
		t.Run(name, func(t *testing.T) {
			events := readSSE(t, name)
			var got [2][]byte
			for i, asJSON := range []bool{false, true} {
				got[i] = call(t, p, "hook_format_stream", formattest.HostStreamInput("m", "", events, asJSON))
			}
			if !bytes.Equal(got[0], got[1]) {
				t.Fatalf("as strings:\n%s\nas JSON:\n%s", got[0], got[1])
			}
		})
	}
}

// BenchmarkFormatStreamEventJSON is BenchmarkFormatStreamEvent with the events as the node
// sends them: JSON data as the value itself ("json") rather than a string to unescape.
func BenchmarkFormatStreamEventJSON(b *testing.B) {
	const perBatch = 8
	p := load(b)
	start := readSSE(b, "stream_text.sse")[:2]
	var first streamOut
	if err := json.Unmarshal(call(b, p, wasmhost.HookFormatStream, mustJSON(b, map[string]any{"model": "m", "state": "", "events": start})), &first); err != nil {
		b.Fatal(err)
	}
	events := make([]sseEvent, perBatch)
	for i := range events {
		events[i] = sseEvent{Event: "content_block_delta", Data: `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" the quick brown fox"}}`}
	}
	in := formattest.HostStreamInput("m", first.State, events, true)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if _, _, err := p.Call(ctx, wasmhost.HookFormatStream, in); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/event")
}
