package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
)

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
		{name: "escapes", body: `{"model":"f\u0061st","messages":[{"role":"user","content":"a\nb\"c\\\ud83d\ude00"}]}`,
			want: chatRequest{Model: "fast", Messages: []message{{Role: "user", Content: "a\nb\"c\\😀"}}}},
		{name: "escaped key", body: `{"mod\u0065l":"fast"}`, want: chatRequest{Model: "fast"}},
		{name: "case-variant key ignored", body: `{"Model":"fast"}`},
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
		{name: "top-level null", body: `null`},
		{name: "empty", body: ``, wantErr: "could not parse"},
		{name: "trailing garbage", body: `{"model":"fast"} x`, wantErr: "could not parse"},
		{name: "two values", body: `{}{}`, wantErr: "could not parse"},
		{name: "trailing comma", body: `{"model":"fast",}`, wantErr: "could not parse"},
		{name: "leading zero", body: `{"n":01}`, wantErr: "could not parse"},
		{name: "bare minus", body: `{"x":-}`, wantErr: "could not parse"},
		{name: "bad exponent", body: `{"x":1e}`, wantErr: "could not parse"},
		{name: "bad escape", body: `{"x":"\q"}`, wantErr: "could not parse"},
		{name: "short unicode escape", body: `{"x":"\u12"}`, wantErr: "could not parse"},
		{name: "control character", body: "{\"x\":\"a\x01\"}", wantErr: "could not parse"},
		{name: "unterminated string", body: `{"x":"abc`, wantErr: "could not parse"},
		{name: "bad literal", body: `{"stream":tru}`, wantErr: "could not parse"},
		{name: "syntax error wins over type error", body: `{"model":5,"x":}`, wantErr: "could not parse"},
		{name: "not an object", body: `[]`, wantErr: "must be a JSON object"},
		{name: "string model", body: `{"model":5}`, wantErr: "Invalid type for 'model': expected a string, but got a number instead.", wantParam: "model"},
		{name: "bool stream", body: `{"stream":"yes"}`, wantErr: "expected a boolean", wantParam: "stream"},
		{name: "fractional max_tokens", body: `{"max_tokens":1.5}`, wantErr: "expected an integer", wantParam: "max_tokens"},
		{name: "overflowing seed", body: `{"seed":9223372036854775808}`, wantErr: "expected an integer", wantParam: "seed"},
		{name: "message not an object", body: `{"messages":[{"role":"user"},"hi"]}`, wantErr: "messages[1]", wantParam: "messages[1]"},
		{name: "nested type error path", body: `{"messages":[{"role":"assistant","tool_calls":[{"function":{"name":1}}]}]}`, wantErr: "messages[0].tool_calls[0].function.name", wantParam: "messages[0].tool_calls[0].function.name"},
		{name: "content part type", body: `{"messages":[{"role":"user","content":[{"text":["x"]}]}]}`, wantParam: "messages[0].content[0].text", wantErr: "expected a string"},
		{name: "tool function type", body: `{"tools":[{"function":"f"}]}`, wantParam: "tools[0].function", wantErr: "expected an object"},
		{name: "lazy object type", body: `{"response_format":{"type":5}}`, wantParam: "response_format", wantErr: "response_format"},
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
				t.Errorf("encoding/json disagrees:\nscan %+v\njson %+v", got, ref)
			}
		})
	}
}

func TestParseDeepNesting(t *testing.T) {
	t.Parallel()
	deep := func(n int) []byte {
		return []byte(`{"x":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
	}
	for _, n := range []int{maxDepth - 1, maxDepth, maxDepth + 5} {
		var r chatRequest
		aerr := parseChatRequest(deep(n), &r)
		if (aerr == nil) != json.Valid(deep(n)) {
			t.Errorf("depth %d: scanner ok=%v, encoding/json valid=%v", n, aerr == nil, json.Valid(deep(n)))
		}
	}
}

// FuzzParseChatRequest checks the scanner against encoding/json: the same
// documents are valid, and accepted documents decode to the same request.
func FuzzParseChatRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"fast","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"messages":[{"role":"user","content":[{"type":"text","text":"a\u00e9\ud800"},null]},{"role":"tool","tool_call_id":"x","content":null}]}`,
		`{"tools":[{"type":"function","function":{"name":"f","parameters":{"a":[1,2.5e-3,true,null]}}},null],"tool_choice":"auto"}`,
		`{"max_tokens":12,"seed":-1,"n":null,"user":"sim:error=429","reasoning":{"effort":"low"},"response_format":{"type":"json_object"}}`,
		`{"messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\":1}"}}]}]}`,
		"{\"x\":\"\xff\xfe\"}", `[1,2]`, `"s"`, `null`, `{"a":{"b":{"c":[[[]]]}}}`, `{"model":"x","model":"y"}`,
		`{"max_tokens":1e2}`, `{"stream":0}`, `{"content":{}}`, `{"messages":[{"content":true}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var got chatRequest
		aerr := parseChatRequest(body, &got)
		valid := json.Valid(body)
		syntaxErr := aerr != nil && strings.Contains(aerr.msg, "could not parse the JSON body of your request. (HINT")
		if syntaxErr == valid {
			t.Fatalf("json.Valid=%v but scanner syntax error=%v for %q", valid, syntaxErr, body)
		}
		if !valid || !plainKeys(body) {
			return
		}
		var ref chatRequest
		refErr := json.Unmarshal(body, &ref)
		if (refErr == nil) != (aerr == nil) {
			t.Fatalf("encoding/json err %v, scanner err %v, for %q", refErr, aerr, body)
		}
		if aerr == nil && !reflect.DeepEqual(got, ref) {
			t.Fatalf("decodings differ for %q:\nscan %+v\njson %+v", body, got, ref)
		}
	})
}

// plainKeys reports whether every object key in a valid document is
// lower-case ASCII and unique within its object. encoding/json matches keys
// case-insensitively and merges duplicates into earlier values; the scanner
// deliberately does neither, so only such documents compare.
func plainKeys(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		object    bool
		expectKey bool
		keys      map[string]bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			k, _ := tok.(string)
			for i := 0; i < len(k); i++ {
				if k[i] >= 0x80 || 'A' <= k[i] && k[i] <= 'Z' {
					return false
				}
			}
			if stack[n-1].keys[k] {
				return false
			}
			stack[n-1].keys[k] = true
			stack[n-1].expectKey = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{':
			stack = append(stack, &frame{object: true, expectKey: true, keys: map[string]bool{}})
		case '[':
			stack = append(stack, &frame{})
		case ']':
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}
