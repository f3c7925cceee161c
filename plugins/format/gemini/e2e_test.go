package gemini_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream/gemini"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

const apiKey = "AIza-e2e-key"

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Message struct {
			Content   *string `json:"content"`
			Reasoning *string `json:"reasoning"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

type formatErr struct {
	Status  int    `json:"status"`
	Type    string `json:"type"`
	Code    string `json:"code"`
	Message string `json:"message"`
}

// result is one attempt as the node would see it after the plugin's translation.
type result struct {
	completion *completion
	stream     *summary
	err        *formatErr
	upstream   int
}

// attempt does what the node does for one endpoint: format_request, send the HTTP request
// (the host substitutes {{api_key}}), then format_error, format_response or format_stream.
func attempt(t *testing.T, p *wasmhost.Plugin, base, key string, stream bool, req map[string]any) result {
	t.Helper()
	out := call(t, p, "hook_format_request", formatRequest(t, "gemini-2.5-flash", stream, req))
	var hr struct {
		Method  string            `json:"method"`
		Path    string            `json:"path"`
		Query   string            `json:"query"`
		Headers map[string]string `json:"headers"`
		Body    json.RawMessage   `json:"body"`
	}
	if err := json.Unmarshal(out, &hr); err != nil || hr.Path == "" {
		t.Fatalf("format_request: %s (%v)", out, err)
	}
	url := base + "/v1beta" + hr.Path
	if hr.Query != "" {
		url += "?" + hr.Query
	}
	hreq, err := http.NewRequest(hr.Method, url, bytes.NewReader(hr.Body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hr.Headers {
		hreq.Header.Set(k, strings.ReplaceAll(v, "{{api_key}}", key))
	}
	hreq.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, readErr := io.ReadAll(resp.Body) // a cut stream ends in an error after partial data
	r := result{upstream: resp.StatusCode}
	if resp.StatusCode >= 300 {
		var b any = string(body)
		if json.Valid(body) {
			b = json.RawMessage(body)
		}
		out := call(t, p, "hook_format_error", mustJSON(t, map[string]any{"status": resp.StatusCode, "retry_after": resp.Header.Get("Retry-After"), "body": b}))
		r.err = new(formatErr)
		if err := json.Unmarshal(out, r.err); err != nil {
			t.Fatal(err)
		}
		return r
	}
	if stream {
		s := runStream(t, p, parseSSE(t, body), 1)
		r.stream = &s
		if readErr == nil && !s.Done && s.Err == nil {
			t.Fatalf("complete stream never reached done: %+v", s)
		}
		return r
	}
	if readErr != nil {
		t.Fatalf("read body: %v", readErr)
	}
	out = call(t, p, "hook_format_response", mustJSON(t, map[string]any{"model": "gemini-2.5-flash", "status": resp.StatusCode, "body": json.RawMessage(body)}))
	r.completion = new(completion)
	if err := json.Unmarshal(out, r.completion); err != nil {
		t.Fatal(err)
	}
	return r
}

var weatherTool = []any{map[string]any{"type": "function", "function": map[string]any{
	"name": "get_weather", "description": "Current weather",
	"parameters": map[string]any{"$schema": "https://json-schema.org/draft/2020-12/schema", "type": "object", "additionalProperties": false,
		"properties": map[string]any{"city": map[string]any{"type": "string"}, "unit": map[string]any{"type": []any{"string", "null"}, "enum": []any{"celsius", "fahrenheit"}}},
		"required":   []any{"city"}},
}}}

func TestEndToEnd(t *testing.T) {
	p := load(t)
	srv, base := gemini.Start(t, gemini.Options{APIKey: apiKey})
	wantArgs := `{"city":"` + gemini.Reply("get_weather.city", 1) + `","unit":"celsius"}`
	cases := []struct {
		name   string
		key    string
		prompt string
		extra  map[string]any
		check  func(t *testing.T, stream bool, r result)
	}{
		{"text", apiKey, "Where should I fly?", nil, func(t *testing.T, stream bool, r result) {
			want := gemini.Reply("Where should I fly?", gemini.DefaultWords)
			if stream {
				if r.stream.Content != want || r.stream.Finish != "stop" || r.stream.Usage != 1 || r.stream.Completion != gemini.DefaultWords {
					t.Fatalf("stream %+v, want content %q", r.stream, want)
				}
				return
			}
			c := r.completion
			if *c.Choices[0].Message.Content != want || c.Choices[0].FinishReason != "stop" || c.Usage.CompletionTokens != gemini.DefaultWords || c.Usage.PromptTokens < 1 || c.Model != "gemini-2.5-flash" {
				t.Fatalf("completion %+v", c)
			}
		}},
		{"system, image and json schema", apiKey, "describe", map[string]any{
			"messages": msgs(map[string]any{"role": "system", "content": "be terse"},
				userMsg([]any{map[string]any{"type": "text", "text": "describe"}, map[string]any{"type": "image_url", "image_url": map[string]any{"url": "data:image/png;base64,iVBORw0KGgo="}}})),
			"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "d", "schema": map[string]any{
				"type": "object", "additionalProperties": false, "properties": map[string]any{"n": map[string]any{"type": "integer"}}}}},
		}, func(t *testing.T, stream bool, r result) {
			var got string
			if stream {
				got = r.stream.Content
			} else {
				got = *r.completion.Choices[0].Message.Content
			}
			if got != `{"n":3}` {
				t.Fatalf("content %q", got)
			}
		}},
		{"max tokens", apiKey, "long answer please", map[string]any{"max_completion_tokens": 4}, func(t *testing.T, stream bool, r result) {
			var finish string
			if stream {
				finish = r.stream.Finish
			} else {
				finish = r.completion.Choices[0].FinishReason
			}
			if finish != "length" {
				t.Fatalf("finish %q", finish)
			}
		}},
		{"thinking", apiKey, "think first [[thinking]] [[words:3]]", nil, func(t *testing.T, stream bool, r result) {
			var reasoning string
			if stream {
				reasoning = r.stream.Reasoning
			}
			if !stream {
				reasoning = *r.completion.Choices[0].Message.Reasoning
			} else if r.stream.Reasoned == 0 {
				t.Fatalf("no reasoning tokens: %+v", r.stream)
			}
			if !strings.Contains(reasoning, gemini.Reply("thought:think first [[thinking]] [[words:3]]", 8)) {
				t.Fatalf("reasoning %q", reasoning)
			}
		}},
		{"tool call", apiKey, "weather in Paris? [[tool:get_weather]]", map[string]any{"tools": weatherTool, "tool_choice": "required"}, func(t *testing.T, stream bool, r result) {
			if stream {
				if r.stream.Tools != "0:call_0:get_weather:"+wantArgs || r.stream.Finish != "tool_calls" {
					t.Fatalf("stream %+v", r.stream)
				}
				return
			}
			tc := r.completion.Choices[0].Message.ToolCalls
			if len(tc) != 1 || tc[0].ID != "call_0" || tc[0].Function.Name != "get_weather" || tc[0].Function.Arguments != wantArgs || r.completion.Choices[0].FinishReason != "tool_calls" {
				t.Fatalf("completion %+v", r.completion)
			}
		}},
		{"rate limited", apiKey, "[[status:429]]", nil, func(t *testing.T, stream bool, r result) {
			if r.err == nil || r.err.Status != 429 || r.err.Type != "rate_limit_error" || !strings.Contains(r.err.Message, "quota") {
				t.Fatalf("result %+v", r.err)
			}
		}},
		{"overloaded", apiKey, "[[status:503]]", nil, func(t *testing.T, stream bool, r result) {
			if r.err == nil || r.err.Status != 503 || r.err.Type != "overloaded" {
				t.Fatalf("result %+v", r.err)
			}
		}},
		{"server error", apiKey, "[[status:500]]", nil, func(t *testing.T, stream bool, r result) {
			if r.err == nil || r.err.Status != 500 || r.err.Type != "server_error" {
				t.Fatalf("result %+v", r.err)
			}
		}},
		{"wrong key", "AIza-wrong", "hi", nil, func(t *testing.T, stream bool, r result) {
			if r.upstream != 400 || r.err == nil || r.err.Status != 401 || r.err.Code != "invalid_api_key" {
				t.Fatalf("upstream %d result %+v", r.upstream, r.err)
			}
		}},
	}
	for _, tc := range cases {
		for _, stream := range []bool{false, true} {
			name := tc.name
			if stream {
				name += "/stream"
			}
			t.Run(name, func(t *testing.T) {
				req := map[string]any{"messages": msgs(userMsg(tc.prompt))}
				for k, v := range tc.extra {
					req[k] = v
				}
				before := srv.Calls()
				r := attempt(t, p, base, tc.key, stream, req)
				if r.err != nil && r.upstream < 401 && tc.key == apiKey {
					t.Fatalf("upstream refused the translated request: %+v", r.err)
				}
				tc.check(t, stream, r)
				if srv.Calls() != before+1 {
					t.Fatalf("upstream calls %d -> %d", before, srv.Calls())
				}
			})
		}
	}
}

func TestEndToEndStreamFailures(t *testing.T) {
	p := load(t)
	_, base := gemini.Start(t, gemini.Options{APIKey: apiKey})
	t.Run("in-band error", func(t *testing.T) {
		r := attempt(t, p, base, apiKey, true, map[string]any{"messages": msgs(userMsg("hi [[stream_error]]"))})
		s := r.stream
		if s.Err == nil || s.Err.Status != 503 || s.Err.Type != "overloaded" || s.Done || s.Content == "" {
			t.Fatalf("stream %+v err %+v", s, s.Err)
		}
	})
	t.Run("cut", func(t *testing.T) {
		r := attempt(t, p, base, apiKey, true, map[string]any{"messages": msgs(userMsg("hi [[cut]]"))})
		if s := r.stream; s.Done || s.Err != nil || s.Content == "" || s.Finish != "" {
			t.Fatalf("cut stream %+v", s)
		}
	})
}

// TestEndToEndToolLoop runs a whole tool round: the fake calls a tool while thinking, so the
// call is signed; the client answers with the result (the tool_call_id must map back to the
// function's name, and the signature must come back on the call, which the fake demands as
// Gemini 3 does), and the fake, which checks call/response pairing, answers in text.
func TestEndToEndToolLoop(t *testing.T) {
	p := load(t)
	srv, base := gemini.Start(t, gemini.Options{APIKey: apiKey, RequireThoughtSignatures: true})
	const prompt = "weather in Paris? [[thinking]] [[tool:get_weather]]"
	for _, stream := range []bool{false, true} {
		msgsSoFar := msgs(map[string]any{"role": "system", "content": "use tools"}, userMsg(prompt))
		r := attempt(t, p, base, apiKey, stream, map[string]any{"messages": msgsSoFar, "tools": weatherTool})
		var id, name, args string
		if stream {
			parts := strings.SplitN(r.stream.Tools, ":", 4)
			if len(parts) != 4 {
				t.Fatalf("stream %+v", r.stream)
			}
			id, name, args = parts[1], parts[2], parts[3]
		} else {
			tc := r.completion.Choices[0].Message.ToolCalls[0]
			id, name, args = tc.ID, tc.Function.Name, tc.Function.Arguments
		}
		if want := "call_0__thought__" + gemini.ThoughtSignature(prompt); id != want {
			t.Fatalf("tool call id %q, want %q", id, want)
		}
		msgsSoFar = append(msgsSoFar,
			map[string]any{"role": "assistant", "content": nil, "tool_calls": []any{map[string]any{"id": id, "type": "function", "function": map[string]any{"name": name, "arguments": args}}}},
			map[string]any{"role": "tool", "tool_call_id": id, "content": `{"temperature":14}`})
		r = attempt(t, p, base, apiKey, stream, map[string]any{"messages": msgsSoFar, "tools": weatherTool})
		if r.err != nil {
			t.Fatalf("second turn refused: %+v", r.err)
		}
		content := ""
		if stream {
			content = r.stream.Content
		} else {
			content = *r.completion.Choices[0].Message.Content
		}
		if content != gemini.Reply("", gemini.DefaultWords) {
			t.Fatalf("second turn content %q", content)
		}
		last, _ := srv.Last()
		var body struct {
			Contents []struct {
				Role  string `json:"role"`
				Parts []struct {
					FunctionResponse *struct {
						Name     string          `json:"name"`
						Response json.RawMessage `json:"response"`
					} `json:"functionResponse"`
				} `json:"parts"`
			} `json:"contents"`
		}
		if err := json.Unmarshal(last.Body, &body); err != nil || len(body.Contents) != 3 {
			t.Fatalf("sent %s", last.Body)
		}
		fr := body.Contents[2].Parts[0].FunctionResponse
		if body.Contents[2].Role != "user" || fr == nil || fr.Name != "get_weather" || string(fr.Response) != `{"temperature":14}` {
			t.Fatalf("function response %s", last.Body)
		}
		if last.Header.Get("X-Goog-Api-Key") != apiKey {
			t.Fatalf("key header %q", last.Header.Get("X-Goog-Api-Key"))
		}
	}
}
