package gemini_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/plugins/internal/formattest"
)

const wasmPath = "../../dist/format-gemini.wasm"

// load runs the built plugin in a metered host, as the node does.
func load(tb testing.TB) *wasmhost.Plugin {
	tb.Helper()
	return loadWith(tb, wasmhost.Limits{})
}

func loadWith(tb testing.TB, lim wasmhost.Limits) *wasmhost.Plugin {
	tb.Helper()
	wasm, err := os.ReadFile(wasmPath)
	if err != nil {
		tb.Fatalf("format-gemini: %v (run scripts/build-plugins.sh)", err)
	}
	ctx := context.Background()
	h, err := wasmhost.NewHost(ctx, wasmhost.Config{Instrument: wasmhost.Metered})
	if err != nil {
		tb.Fatal(err)
	}
	p, err := h.Load(ctx, "format-gemini", wasm, nil, lim)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() {
		_ = p.Close(ctx)
		_ = h.Close(ctx)
	})
	return p
}

func call(tb testing.TB, p *wasmhost.Plugin, hook string, in []byte) []byte {
	tb.Helper()
	out, changed, err := p.Call(context.Background(), hook, in)
	if err != nil {
		tb.Fatalf("%s: %v", hook, err)
	}
	if !changed {
		tb.Fatalf("%s returned no output", hook)
	}
	return out
}

func mustJSON(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func decode(tb testing.TB, b []byte) any {
	tb.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		tb.Fatalf("output is not JSON: %v\n%s", err, b)
	}
	return v
}

func readFile(tb testing.TB, name string) []byte {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// get walks a dotted path (object keys and array indexes) through decoded JSON.
func get(v any, path string) (any, bool) {
	if path == "" {
		return v, true
	}
	for _, k := range strings.Split(path, ".") {
		switch x := v.(type) {
		case map[string]any:
			var ok bool
			if v, ok = x[k]; !ok {
				return nil, false
			}
		case []any:
			i, err := strconv.Atoi(k)
			if err != nil || i < 0 || i >= len(x) {
				return nil, false
			}
			v = x[i]
		default:
			return nil, false
		}
	}
	return v, true
}

// expect checks path -> JSON value pairs; the value "<absent>" asserts the path is missing.
func expect(t *testing.T, out []byte, want map[string]string) {
	t.Helper()
	v := decode(t, out)
	for path, w := range want {
		got, ok := get(v, path)
		if w == "<absent>" {
			if ok {
				t.Errorf("%s = %s, want it absent", path, mustJSON(t, got))
			}
			continue
		}
		if !ok {
			t.Errorf("%s missing in %s", path, out)
			continue
		}
		if !reflect.DeepEqual(got, decode(t, []byte(w))) {
			t.Errorf("%s = %s, want %s", path, mustJSON(t, got), w)
		}
	}
}

func formatRequest(tb testing.TB, model string, stream bool, req map[string]any) []byte {
	tb.Helper()
	req["model"] = model
	return mustJSON(tb, map[string]any{"model": model, "stream": stream, "request": req})
}

func TestFormatRequestFixture(t *testing.T) {
	p := load(t)
	out := call(t, p, "hook_format_request", readFile(t, "request_chat.json"))
	got, want := decode(t, out), decode(t, readFile(t, "request_chat.want.json"))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("format_request:\n%s\nwant\n%s", out, mustJSON(t, want))
	}
}

func msgs(m ...map[string]any) []any {
	out := make([]any, len(m))
	for i := range m {
		out[i] = m[i]
	}
	return out
}

func userMsg(content any) map[string]any { return map[string]any{"role": "user", "content": content} }

func TestFormatRequest(t *testing.T) {
	p := load(t)
	hi := msgs(userMsg("hi"))
	weather := []any{map[string]any{"type": "function", "function": map[string]any{"name": "get_weather",
		"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}}}}
	cases := []struct {
		name   string
		model  string
		stream bool
		req    map[string]any
		want   map[string]string
	}{
		{"stream path and query", "gemini-2.5-flash", true, map[string]any{"messages": hi, "stream": true}, map[string]string{
			"path": `"/models/gemini-2.5-flash:streamGenerateContent"`, "query": `"alt=sse"`, "method": `"POST"`,
			"headers": `{"x-goog-api-key":"{{api_key}}"}`, "body.contents": `[{"role":"user","parts":[{"text":"hi"}]}]`,
			"body.generationConfig": "<absent>", "body.systemInstruction": "<absent>", "body.tools": "<absent>",
		}},
		{"non-stream has no query", "gemini-2.5-flash", false, map[string]any{"messages": hi}, map[string]string{
			"path": `"/models/gemini-2.5-flash:generateContent"`, "query": "<absent>",
		}},
		{"models/ prefix and hostile model id", "models/gem ini/../x?y", false, map[string]any{"messages": hi}, map[string]string{
			"path": `"/models/gem%20ini%2F..%2Fx%3Fy:generateContent"`,
		}},
		{"tool_choice required", "g", false, map[string]any{"messages": hi, "tools": weather, "tool_choice": "required"}, map[string]string{
			"body.toolConfig": `{"functionCallingConfig":{"mode":"ANY"}}`,
			"body.tools":      `[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"}}}}]}]`,
		}},
		{"tool_choice none", "g", false, map[string]any{"messages": hi, "tools": weather, "tool_choice": "none"}, map[string]string{
			"body.toolConfig": `{"functionCallingConfig":{"mode":"NONE"}}`,
		}},
		{"tool_choice named", "g", false, map[string]any{"messages": hi, "tools": weather, "tool_choice": map[string]any{"type": "function", "function": map[string]any{"name": "get_weather"}}}, map[string]string{
			"body.toolConfig": `{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["get_weather"]}}`,
		}},
		{"json_object", "g", false, map[string]any{"messages": hi, "response_format": map[string]any{"type": "json_object"}}, map[string]string{
			"body.generationConfig": `{"responseMimeType":"application/json"}`,
		}},
		{"json_schema", "g", false, map[string]any{"messages": hi, "response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "x", "strict": true,
			"schema": map[string]any{"type": "object", "properties": map[string]any{"n": map[string]any{"type": "integer"}}, "required": []any{"n"}, "additionalProperties": false}}}}, map[string]string{
			"body.generationConfig": `{"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"n":{"type":"INTEGER"}},"required":["n"]}}`,
		}},
		{"stop string and max_tokens", "g", false, map[string]any{"messages": hi, "stop": "END", "max_tokens": 5}, map[string]string{
			"body.generationConfig": `{"maxOutputTokens":5,"stopSequences":["END"]}`,
		}},
		{"reasoning effort", "g", false, map[string]any{"messages": hi, "reasoning_effort": "low", "logprobs": true, "top_logprobs": 3}, map[string]string{
			"body.generationConfig": `{"responseLogprobs":true,"logprobs":3,"thinkingConfig":{"thinkingBudget":1024,"includeThoughts":true}}`,
		}},
		{"consecutive users merge", "g", false, map[string]any{"messages": msgs(userMsg("a"), userMsg([]any{map[string]any{"type": "text", "text": "b"}}), map[string]any{"role": "assistant", "content": ""}, userMsg("c"))}, map[string]string{
			"body.contents": `[{"role":"user","parts":[{"text":"a"},{"text":"b"},{"text":"c"}]}]`,
		}},
		{"repeated call ids resolve to the nearest call", "g", false, map[string]any{"messages": msgs(userMsg("a"),
			map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"id": "call_0", "type": "function", "function": map[string]any{"name": "first", "arguments": ""}}}},
			map[string]any{"role": "tool", "tool_call_id": "call_0", "content": []any{map[string]any{"type": "text", "text": "r1"}}},
			map[string]any{"role": "assistant", "tool_calls": []any{map[string]any{"id": "call_0", "type": "function", "function": map[string]any{"name": "second", "arguments": "{}"}}}},
			map[string]any{"role": "tool", "tool_call_id": "call_0", "content": "[1,2]"})}, map[string]string{
			"body.contents.1.parts.0": `{"functionCall":{"name":"first","args":{}}}`,
			"body.contents.2.parts.0": `{"functionResponse":{"name":"first","response":{"content":"r1"}}}`,
			"body.contents.4.parts.0": `{"functionResponse":{"name":"second","response":{"content":"[1,2]"}}}`,
		}},
		{"thought signatures return to their calls", "g", false, map[string]any{"messages": msgs(userMsg("a"),
			map[string]any{"role": "assistant", "tool_calls": []any{
				map[string]any{"id": "call_0__thought__CiQB0e2K+/=", "type": "function", "function": map[string]any{"name": "f", "arguments": "{}"}},
				map[string]any{"id": "x", "type": "function", "function": map[string]any{"name": "g", "arguments": "{}"}, "extra_content": map[string]any{"google": map[string]any{"thought_signature": "U2ln"}}},
				map[string]any{"id": "__thought__", "type": "function", "function": map[string]any{"name": "h", "arguments": "{}"}}}},
			map[string]any{"role": "tool", "tool_call_id": "call_0__thought__CiQB0e2K+/=", "content": "1"},
			map[string]any{"role": "tool", "tool_call_id": "x", "content": "2"},
			map[string]any{"role": "tool", "tool_call_id": "__thought__", "content": "3"})}, map[string]string{
			"body.contents.1.parts":                         `[{"functionCall":{"name":"f","args":{}},"thoughtSignature":"CiQB0e2K+/="},{"functionCall":{"name":"g","args":{}},"thoughtSignature":"U2ln"},{"functionCall":{"name":"h","args":{}}}]`,
			"body.contents.2.parts.0.functionResponse.name": `"f"`,
			"body.contents.2.parts.2.functionResponse.name": `"h"`,
		}},
		{"audio and pdf", "g", false, map[string]any{"messages": msgs(userMsg([]any{
			map[string]any{"type": "input_audio", "input_audio": map[string]any{"data": "UklGRg==", "format": "mp3"}},
			map[string]any{"type": "file", "file": map[string]any{"file_data": "data:application/pdf;base64,JVBERi0=", "filename": "a.pdf"}},
			map[string]any{"type": "image_url", "image_url": "https://x.test/a.PNG"},
		}))}, map[string]string{
			"body.contents.0.parts": `[{"inlineData":{"mimeType":"audio/mp3","data":"UklGRg=="}},{"inlineData":{"mimeType":"application/pdf","data":"JVBERi0="}},{"fileData":{"mimeType":"image/png","fileUri":"https://x.test/a.PNG"}}]`,
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := call(t, p, "hook_format_request", formatRequest(t, tc.model, tc.stream, tc.req))
			if _, isErr := get(decode(t, out), "error"); isErr {
				t.Fatalf("refused: %s", out)
			}
			expect(t, out, tc.want)
		})
	}
}

func TestFormatRequestRefused(t *testing.T) {
	p := load(t)
	cases := []struct {
		name string
		in   string
		msg  string
	}{
		{"not json", `{"model":`, "not a format_request"},
		{"no request", `{"model":"g"}`, "request is not an object"},
		{"no messages", `{"model":"g","request":{"model":"g"}}`, "no messages"},
		{"only system", `{"model":"g","request":{"messages":[{"role":"system","content":"x"}]}}`, "no user or assistant"},
		{"tool without call", `{"model":"g","request":{"messages":[{"role":"user","content":"x"},{"role":"tool","tool_call_id":"call_9","content":"1"}]}}`, "does not answer"},
		{"bad arguments", `{"model":"g","request":{"messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}}`, "not a JSON object"},
		{"plain data url", `{"model":"g","request":{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:text/plain,hello"}}]}]}}`, "base64"},
		{"unknown part", `{"model":"g","request":{"messages":[{"role":"user","content":[{"type":"video","video":{}}]}]}}`, "unsupported content part"},
		{"unknown role", `{"model":"g","request":{"messages":[{"role":"robot","content":"x"}]}}`, "unknown message role"},
		{"custom tool", `{"model":"g","request":{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"custom","custom":{"name":"x"}}]}}`, "only function tools"},
		{"bad tool_choice", `{"model":"g","request":{"messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}}`, "unknown tool_choice"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out := call(t, p, "hook_format_request", []byte(tc.in))
			expect(t, out, map[string]string{"error.status": "400"})
			msg, _ := get(decode(t, out), "error.message")
			if s, _ := msg.(string); !strings.Contains(s, tc.msg) {
				t.Fatalf("message %q, want %q", s, tc.msg)
			}
		})
	}
}

func responseIn(tb testing.TB, body []byte) []byte {
	return []byte(`{"model":"gemini-2.5-flash","status":200,"body":` + string(body) + `}`)
}

func TestFormatResponse(t *testing.T) {
	p := load(t)
	cases := []struct {
		file string
		want map[string]string
	}{
		{"response_text.json", map[string]string{
			"id": `"9FAgaaX1Ncfy7M8Pv4aF-Qo"`, "object": `"chat.completion"`, "model": `"gemini-2.0-flash"`,
			"choices.0.index": "0", "choices.0.message.role": `"assistant"`,
			"choices.0.message.content":    `"Tokyo, if you want sun: 22°C and clear skies.\nParis will be rainy \"all week\"."`,
			"choices.0.message.reasoning":  "<absent>",
			"choices.0.message.tool_calls": "<absent>",
			"choices.0.finish_reason":      `"stop"`,
			"usage":                        `{"prompt_tokens":112,"completion_tokens":31,"total_tokens":143}`,
		}},
		{"response_thinking.json", map[string]string{
			"choices.0.message.content":   `"Pick Tokyo."`,
			"choices.0.message.reasoning": `"**Weighing the options**\n\nSun beats rain for sightseeing."`,
			"usage": `{"prompt_tokens":8,"completion_tokens":1182,"total_tokens":1190,
				"prompt_tokens_details":{"cached_tokens":4},"completion_tokens_details":{"reasoning_tokens":967}}`,
		}},
		{"response_tool_call.json", map[string]string{
			"choices.0.message.content": "null",
			"choices.0.message.tool_calls": `[{"id":"call_0__thought__CiQB0e2Kb1x2zvvWmY3vQ4+5YQ==","type":"function","function":{"name":"get_weather","arguments":"{\n                \"city\": \"Paris\",\n                \"unit\": \"celsius\"\n              }"}},
				{"id":"call_1","type":"function","function":{"name":"get_time","arguments":"{}"}}]`,
			"choices.0.finish_reason": `"tool_calls"`,
		}},
		{"response_max_tokens.json", map[string]string{"choices.0.finish_reason": `"length"`, "choices.0.message.content": `"Tokyo is"`}},
		{"response_safety.json", map[string]string{"choices.0.finish_reason": `"content_filter"`, "choices.0.message.content": "null",
			"usage": `{"prompt_tokens":17,"completion_tokens":0,"total_tokens":17}`}},
		{"response_blocked.json", map[string]string{"choices.0.finish_reason": `"content_filter"`, "choices.0.message.content": "null", "usage.prompt_tokens": "20"}},
		{"response_inband_error.json", map[string]string{"error.status": "500", "error.type": `"server_error"`,
			"error.message": `"An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting"`}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			out := call(t, p, "hook_format_response", responseIn(t, readFile(t, tc.file)))
			expect(t, out, tc.want)
			if _, isErr := tc.want["error.status"]; !isErr {
				var c struct {
					Created int64 `json:"created"`
				}
				if json.Unmarshal(out, &c) != nil || c.Created < 1_700_000_000 {
					t.Fatalf("created %d is not a unix time", c.Created)
				}
				// the tool-call arguments must be the args object's JSON text
				var r struct {
					Choices []struct {
						Message struct {
							ToolCalls []struct {
								Function struct{ Arguments string } `json:"function"`
							} `json:"tool_calls"`
						} `json:"message"`
					} `json:"choices"`
				}
				_ = json.Unmarshal(out, &r)
				for _, tcall := range r.Choices[0].Message.ToolCalls {
					if !json.Valid([]byte(tcall.Function.Arguments)) {
						t.Fatalf("arguments %q are not JSON", tcall.Function.Arguments)
					}
				}
			}
		})
	}
	t.Run("non-json body", func(t *testing.T) {
		out := call(t, p, "hook_format_response", []byte(`{"status":200,"body":"<html>"}`))
		expect(t, out, map[string]string{"error.status": "502"})
	})
}

type sseEvent = formattest.Event

// parseSSE splits a recorded stream as the host does.
func parseSSE(tb testing.TB, b []byte) []sseEvent {
	tb.Helper()
	return formattest.ParseSSE(b)
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index int `json:"index"`
		Delta struct {
			Role      string  `json:"role"`
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
		PromptTokens            int `json:"prompt_tokens"`
		CompletionTokens        int `json:"completion_tokens"`
		TotalTokens             int `json:"total_tokens"`
		CompletionTokensDetails *struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		} `json:"completion_tokens_details"`
	} `json:"usage"`
}

type streamOut struct {
	State  string          `json:"state"`
	Chunks []chunk         `json:"chunks"`
	Done   bool            `json:"done"`
	Error  *streamErrorOut `json:"error"`
}

type streamErrorOut struct {
	Status  int    `json:"status"`
	Type    string `json:"type"`
	Message string `json:"message"`
}

// summary is what a client would assemble from a stream of chunks.
type summary struct {
	Content, Reasoning, Finish, Tools string
	Roles, Usage, Chunks              int
	Done                              bool
	Err                               *streamErrorOut
	Prompt, Completion, Reasoned      int
	ID                                string
}

// runStream feeds events to format_stream in batches of size batch, carrying the state as
// the host does, and assembles the result.
func runStream(tb testing.TB, p *wasmhost.Plugin, evs []sseEvent, batch int) summary {
	tb.Helper()
	var a assembler
	state := ""
	for i := 0; i < len(evs); i += batch {
		in := mustJSON(tb, map[string]any{"model": "gemini-2.5-flash", "state": state, "events": evs[i:min(i+batch, len(evs))]})
		state = a.add(tb, call(tb, p, "hook_format_stream", in), i+batch >= len(evs))
	}
	return a.summary()
}

// assembler rebuilds what a client sees from format_stream's results, one call at a time.
type assembler struct {
	s     summary
	tools []string
}

// add folds in one call's result (last: the call had the stream's last event) and returns
// the state it carries.
func (a *assembler) add(tb testing.TB, out []byte, last bool) string {
	tb.Helper()
	s := &a.s
	var o streamOut
	if err := json.Unmarshal(out, &o); err != nil {
		tb.Fatalf("stream output %s: %v", out, err)
	}
	if len(o.State) > 4096 {
		tb.Fatalf("state of %d bytes", len(o.State))
	}
	for _, c := range o.Chunks {
		s.Chunks++
		if c.Object != "chat.completion.chunk" || c.Created < 1_700_000_000 {
			tb.Fatalf("chunk header %+v", c)
		}
		if s.ID == "" {
			s.ID = c.ID
		} else if c.ID != s.ID {
			tb.Fatalf("chunk ids %q and %q differ", s.ID, c.ID)
		}
		if c.Usage != nil {
			if len(c.Choices) != 0 {
				tb.Fatalf("usage chunk with choices: %+v", c)
			}
			s.Usage++
			s.Prompt, s.Completion = c.Usage.PromptTokens, c.Usage.CompletionTokens
			if c.Usage.CompletionTokensDetails != nil {
				s.Reasoned = c.Usage.CompletionTokensDetails.ReasoningTokens
			}
		}
		for _, ch := range c.Choices {
			if ch.Delta.Role != "" {
				s.Roles++
			}
			if ch.Delta.Content != nil {
				s.Content += *ch.Delta.Content
			}
			if ch.Delta.Reasoning != nil {
				s.Reasoning += *ch.Delta.Reasoning
			}
			for _, tc := range ch.Delta.ToolCalls {
				a.tools = append(a.tools, strconv.Itoa(tc.Index)+":"+tc.ID+":"+tc.Function.Name+":"+tc.Function.Arguments)
			}
			if ch.FinishReason != nil {
				s.Finish = *ch.FinishReason
			}
		}
	}
	if o.Error != nil {
		s.Err = o.Error
	}
	if o.Done {
		s.Done = true
		if !last {
			tb.Fatalf("done before the last event")
		}
	}
	return o.State
}

func (a *assembler) summary() summary {
	s := a.s
	s.Tools = strings.Join(a.tools, " ")
	return s
}

func TestFormatStream(t *testing.T) {
	p := load(t)
	cases := []struct {
		file string
		want summary
	}{
		{"stream_text.sse", summary{
			Content: "Tokyo, if you want sun: 22°C and clear skies versus light rain in Paris.\nPack an umbrella \"just in case\".",
			Finish:  "stop", Roles: 1, Usage: 1, Chunks: 5, Done: true, Prompt: 112, Completion: 278, Reasoned: 247, ID: "9FAgaaX1Ncfy7M8Pv4aF-Qo",
		}},
		{"stream_tool.sse", summary{
			Reasoning: "**Checking both cities**\n\nThe user wants a comparison, so I need the weather in each.",
			Tools:     `0:call_0__thought__CiQB0e2Kb1x2zvvW:get_weather:{"city": "Paris"} 1:call_1:get_weather:{"city": "Tokyo","unit": "celsius"}`,
			Finish:    "tool_calls", Roles: 1, Usage: 1, Chunks: 4, Done: true, Prompt: 64, Completion: 118, Reasoned: 88, ID: "XlIgaeKZEpqs7M8PgLSGgAw",
		}},
		{"stream_error.sse", summary{
			Content: "Here is a long", Roles: 1, Chunks: 1, ID: "aVIgaZ6aHoGd7M8P3cKj8Ag",
			Err: &streamErrorOut{Status: 503, Type: "overloaded", Message: "The model is overloaded. Please try again later."},
		}},
		{"stream_blocked.sse", summary{Finish: "content_filter", Roles: 1, Usage: 1, Chunks: 2, Done: true, Prompt: 20, ID: "cVIgaf2jFfDb7M8Pk_Cu0AU"}},
	}
	for _, tc := range cases {
		evs := parseSSE(t, readFile(t, tc.file))
		for _, batch := range []int{1, 2, len(evs)} {
			t.Run(tc.file+"/batch"+strconv.Itoa(batch), func(t *testing.T) {
				got := runStream(t, p, evs, batch)
				if !reflect.DeepEqual(got, tc.want) {
					t.Fatalf("got  %+v\nwant %+v", got, tc.want)
				}
			})
		}
	}
}

func TestFormatStreamBadEvent(t *testing.T) {
	p := load(t)
	for _, data := range []string{"not json", `[1]`, `{"candidates":`} {
		t.Run(data, func(t *testing.T) {
			s := runStream(t, p, []sseEvent{{Data: data}}, 1)
			if s.Err == nil || s.Err.Status != 502 || s.Done {
				t.Fatalf("got %+v", s)
			}
		})
	}
	t.Run("garbage state restarts", func(t *testing.T) {
		in := mustJSON(t, map[string]any{"state": "g1 x", "events": parseSSE(t, readFile(t, "stream_text.sse"))[:1]})
		var o streamOut
		if err := json.Unmarshal(call(t, p, "hook_format_stream", in), &o); err != nil || len(o.Chunks) != 1 || o.Chunks[0].Choices[0].Delta.Role != "assistant" {
			t.Fatalf("got %+v %v", o, err)
		}
	})
}

func TestFormatError(t *testing.T) {
	p := load(t)
	cases := []struct {
		name   string
		file   string
		status int
		want   map[string]string
	}{
		{"invalid key", "error_invalid_key.json", 400, map[string]string{"status": "401", "type": `"authentication_error"`, "code": `"invalid_api_key"`, "message": `"API key not valid. Please pass a valid API key."`}},
		{"invalid argument", "error_invalid_argument.json", 400, map[string]string{"status": "400", "type": `"invalid_request_error"`, "code": `"invalid_argument"`}},
		{"permission", "error_permission.json", 403, map[string]string{"status": "403", "type": `"permission_error"`}},
		{"not found", "error_not_found.json", 404, map[string]string{"status": "404", "type": `"not_found_error"`, "code": `"model_not_found"`}},
		{"quota", "error_quota.json", 429, map[string]string{"status": "429", "type": `"rate_limit_error"`, "code": `"rate_limit_exceeded"`}},
		{"internal", "error_internal.json", 500, map[string]string{"status": "500", "type": `"server_error"`}},
		{"overloaded", "error_overloaded.json", 503, map[string]string{"status": "503", "type": `"overloaded"`, "code": `"overloaded"`, "message": `"The model is overloaded. Please try again later."`}},
		{"proxy html", "error_proxy.html", 502, map[string]string{"status": "502", "type": `"server_error"`}},
		{"empty body", "", 504, map[string]string{"status": "504", "message": `"gemini: upstream returned status 504"`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var body any = ""
			if tc.file != "" {
				raw := readFile(t, tc.file)
				if json.Valid(raw) {
					body = json.RawMessage(raw)
				} else {
					body = string(raw)
				}
			}
			out := call(t, p, "hook_format_error", mustJSON(t, map[string]any{"status": tc.status, "retry_after": "", "body": body}))
			expect(t, out, tc.want)
			if tc.file == "error_proxy.html" {
				msg, _ := get(decode(t, out), "message")
				if s, _ := msg.(string); !strings.HasPrefix(s, "<!DOCTYPE html>") || len(s) > 600 {
					t.Fatalf("message %q", s)
				}
			}
		})
	}
}

// FuzzHooks feeds arbitrary bytes to every hook, raw and wrapped in each hook's envelope: a
// call must never trap, run out of fuel or return anything but bounded, valid JSON. Fuel is
// the bound that matters; the wall-clock deadline is raised because the fuzzer's parallel
// workers on a loaded machine would trip the default 50ms without any fault of the plugin.
func FuzzHooks(f *testing.F) {
	p := loadWith(f, wasmhost.Limits{Deadline: 10 * time.Second})
	for _, name := range []string{"request_chat.json", "response_text.json", "response_tool_call.json", "error_quota.json"} {
		f.Add(readFile(f, name))
	}
	for _, ev := range parseSSE(f, readFile(f, "stream_tool.sse")) {
		f.Add([]byte(ev.Data))
	}
	f.Add([]byte(`{"candidates":[{"content":{"parts":[{"text":"\ud83d"},{"functionCall":{"name":1}}]}}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		str := mustJSON(t, string(data))
		body := str
		if json.Valid(data) {
			body = data
		}
		inputs := []struct{ hook, in string }{
			{"hook_format_request", string(data)},
			{"hook_format_response", string(data)},
			{"hook_format_stream", string(data)},
			{"hook_format_error", string(data)},
			{"hook_format_request", `{"model":"g","request":` + string(body) + `}`},
			{"hook_format_request", `{"model":"g","request":{"messages":[{"role":"user","content":` + string(body) + `}],"tools":[{"type":"function","function":{"name":"f","parameters":` + string(body) + `}}]}}`},
			{"hook_format_response", `{"status":200,"body":` + string(body) + `}`},
			{"hook_format_stream", `{"state":` + string(str) + `,"events":[{"event":"","data":` + string(str) + `}]}`},
			{"hook_format_error", `{"status":500,"body":` + string(body) + `}`},
		}
		for _, c := range inputs {
			out, _, err := p.Call(context.Background(), c.hook, []byte(c.in))
			if err != nil {
				var ce *wasmhost.CallError
				errors.As(err, &ce)
				t.Fatalf("%s(%q): %v (%+v)", c.hook, c.in, err, ce)
			}
			if len(out) > 64*len(c.in)+4096 {
				t.Fatalf("%s: %d bytes out for %d in", c.hook, len(out), len(c.in))
			}
		}
	})
}

func BenchmarkFormatRequest(b *testing.B) {
	p := load(b)
	in := readFile(b, "request_chat.json")
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		call(b, p, "hook_format_request", in)
	}
}

func BenchmarkFormatResponse(b *testing.B) {
	p := load(b)
	in := responseIn(b, readFile(b, "response_text.json"))
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		call(b, p, "hook_format_response", in)
	}
}

// BenchmarkFormatStreamEvent measures one call per upstream event, the common batch size
// when tokens trickle in; ns/op is ns per event.
func BenchmarkFormatStreamEvent(b *testing.B) {
	p := load(b)
	evs := parseSSE(b, readFile(b, "stream_text.sse"))
	in := mustJSON(b, map[string]any{"model": "gemini-2.5-flash", "state": "g1 1763785200 0 1", "events": evs[1:2]})
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		call(b, p, "hook_format_stream", in)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/event")
}

// BenchmarkFormatStreamBatch feeds batches of eight text events, what one upstream read
// delivers when tokens arrive faster than the router reads; the per-call cost of the host is
// shared by the batch, so ns/event is the plugin's own cost per event.
func BenchmarkFormatStreamBatch(b *testing.B) {
	const perBatch = 8
	p := load(b)
	ev := parseSSE(b, readFile(b, "stream_text.sse"))[1]
	evs := make([]sseEvent, perBatch)
	for i := range evs {
		evs[i] = ev
	}
	in := mustJSON(b, map[string]any{"model": "gemini-2.5-flash", "state": "g1 1763785200 0 1", "events": evs})
	b.SetBytes(int64(len(in)))
	for b.Loop() {
		call(b, p, "hook_format_stream", in)
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBatch), "ns/event")
}

// TestStreamJSONEvents: events whose data the host sends as JSON ("json") translate exactly
// as the same events sent as strings ("data").
func TestStreamJSONEvents(t *testing.T) {
	p := load(t)
	for _, name := range []string{"stream_text.sse", "stream_tool.sse", "stream_blocked.sse", "stream_error.sse"} {
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			events := parseSSE(t, b)
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
