package format_test

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/sdk/go/plugin"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/format"
)

// A toy provider: POST /echo with the OpenAI body wrapped as {"prompt":...}; its answers
// are {"text":...}, its stream events {"t":...} ending with event "end", its errors
// {"why":...}.
func init() {
	format.HandleRequest(func(in *format.RequestInput) (*format.HTTPRequest, error) {
		if strings.Contains(string(in.Request), `"audio"`) {
			return nil, &plugin.Error{Code: "unsupported", Message: "no audio", Status: 400}
		}
		path := "/echo"
		if in.Stream {
			path = "/echo/stream"
		}
		return &format.HTTPRequest{Path: path, Query: "v=1", Headers: []format.Header{{Name: "x-key", Value: format.APIKey}},
			Body: append(append([]byte(`{"prompt":`), in.Request...), '}')}, nil
	})
	format.HandleResponse(func(in *format.ResponseInput) ([]byte, error) {
		var v struct{ Text string }
		if err := json.Unmarshal(in.Body, &v); err != nil {
			return nil, err
		}
		return json.Marshal(map[string]any{"object": "chat.completion", "model": in.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": v.Text}, "finish_reason": "stop"}}})
	})
	format.HandleStream(func(in *format.StreamInput) (*format.StreamOutput, error) {
		out := &format.StreamOutput{State: append(in.State, 'x')}
		for _, e := range in.Events {
			if e.Event == "end" {
				out.Done = true
				continue
			}
			if e.Event == "oops" {
				out.Error = &format.StreamError{Status: 503, Type: "overloaded", Message: e.Data}
				continue
			}
			c, _ := json.Marshal(map[string]any{"object": "chat.completion.chunk", "choices": []any{map[string]any{"index": 0, "delta": map[string]any{"content": e.Data}}}})
			out.Chunks = append(out.Chunks, c)
		}
		return out, nil
	})
	format.HandleError(func(in *format.ErrorInput) (*format.ErrorOutput, error) {
		if in.Status == 418 {
			return nil, nil
		}
		var v struct{ Why string }
		_ = json.Unmarshal(in.Body, &v)
		return &format.ErrorOutput{Status: in.Status, Type: "upstream", Code: "why", Message: v.Why, RetryAfter: in.RetryAfter}, nil
	})
}

func call(t *testing.T, hook, in string) map[string]any {
	t.Helper()
	out, changed, err := plugin.Call(hook, []byte(in))
	if err != nil || !changed {
		t.Fatalf("%s: changed=%v err=%v", hook, changed, err)
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("%s answered invalid JSON %s: %v", hook, out, err)
	}
	return v
}

func TestFormatHooks(t *testing.T) {
	tests := []struct {
		name, hook, in string
		want           map[string]any
	}{
		{"request", "hook_format_request", `{"model":"toy-1","stream":false,"request":{"model":"toy-1","messages":[]}}`,
			map[string]any{"method": "POST", "path": "/echo", "query": "v=1", "headers": map[string]any{"x-key": "{{api_key}}"},
				"body": map[string]any{"prompt": map[string]any{"model": "toy-1", "messages": []any{}}}}},
		{"streamed request", "hook_format_request", `{"model":"toy-1","stream":true,"request":{}}`,
			map[string]any{"method": "POST", "path": "/echo/stream", "query": "v=1", "headers": map[string]any{"x-key": "{{api_key}}"},
				"body": map[string]any{"prompt": map[string]any{}}}},
		{"refusal carries its status", "hook_format_request", `{"model":"m","request":{"audio":1}}`,
			map[string]any{"error": map[string]any{"code": "unsupported", "message": "no audio", "status": 400.0}}},
		{"response", "hook_format_response", `{"model":"toy-1","status":200,"body":{"text":"hi"}}`,
			map[string]any{"object": "chat.completion", "model": "toy-1", "choices": []any{map[string]any{"index": 0.0,
				"message": map[string]any{"role": "assistant", "content": "hi"}, "finish_reason": "stop"}}}},
		{"stream batch", "hook_format_stream", `{"model":"m","state":"ab","events":[{"event":"","data":"one"},{"event":"end","data":""}]}`,
			map[string]any{"state": "abx", "done": true, "chunks": []any{map[string]any{"object": "chat.completion.chunk",
				"choices": []any{map[string]any{"index": 0.0, "delta": map[string]any{"content": "one"}}}}}}},
		{"JSON event data arrives as text", "hook_format_stream", `{"model":"m","state":"","events":[{"event":"","json":{"a": [1]}}]}`,
			map[string]any{"state": "x", "done": false, "chunks": []any{map[string]any{"object": "chat.completion.chunk",
				"choices": []any{map[string]any{"index": 0.0, "delta": map[string]any{"content": `{"a": [1]}`}}}}}}},
		{"stream error event", "hook_format_stream", `{"model":"m","state":"","events":[{"event":"oops","data":"busy"}]}`,
			map[string]any{"state": "x", "done": false, "chunks": []any{}, "error": map[string]any{"status": 503.0, "type": "overloaded", "message": "busy"}}},
		{"error", "hook_format_error", `{"status":429,"retry_after":"7","body":{"why":"slow down"}}`,
			map[string]any{"status": 429.0, "type": "upstream", "code": "why", "message": "slow down", "retry_after": "7"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := call(t, tt.hook, tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %v\nwant %v", got, tt.want)
			}
		})
	}
}

func TestFormatUnchangedAndBadInput(t *testing.T) {
	if out, changed, err := plugin.Call("hook_format_error", []byte(`{"status":418,"body":""}`)); err != nil || changed || out != nil {
		t.Fatalf("nil output must be 0 (unchanged): %s %v %v", out, changed, err)
	}
	for _, hook := range []string{"hook_format_request", "hook_format_response", "hook_format_stream", "hook_format_error"} {
		out, _, err := plugin.Call(hook, []byte(`{"model":`))
		if err != nil || !strings.Contains(string(out), `"code":"bad_input"`) {
			t.Errorf("%s on truncated input: %s %v", hook, out, err)
		}
	}
	if _, _, err := plugin.Call("hook_route", nil); !errors.Is(err, plugin.ErrNotExported) {
		t.Fatalf("hook_route is not linked in, err = %v", err)
	}
}
