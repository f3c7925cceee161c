package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// FuzzRoundTrip feeds arbitrary bodies to the chat endpoint. Whatever the
// input, RoundTrip must not panic, and must give either an error (only for
// a hung upstream) or a well-formed response whose body is valid JSON or a
// valid SSE stream, unless the request asked for a broken one.
func FuzzRoundTrip(f *testing.F) {
	seeds := []string{
		`{"model":"fast","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"max_tokens":3}`,
		`{"model":"reasoning","stream":true,"reasoning":{"effort":"high","exclude":true},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"tools","stream":true,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"array","items":{"enum":["\u00e9t\u00e9",1]}}},"required":["a","b"]}}}]}`,
		`{"model":"tools","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"\u2028\"quoted\"\ud800"}]}`,
		`{"model":"fast","response_format":{"type":"json_schema","json_schema":{"schema":{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}}},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"fast","stream":true,"messages":[{"role":"user","content":"[sim error=cut tokens=5]"}]}`,
		`{"model":"fast","stream":true,"messages":[{"role":"user","content":"[sim error=malformed]"}]}`,
		`{"model":"fast","stream":true,"messages":[{"role":"user","content":"[sim error=stream-error]"}]}`,
		`{"model":"fast","messages":[{"role":"user","content":"[sim error=timeout]"}]}`,
		`{"model":"fast","user":"sim:error=429","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}]}`,
		`{"model":"fast","messages":[{"role":"user","content":"[sim ttft=1h tps=0.001 tokens=100000]"}],"max_tokens":2}`,
		`{"model":"fast","tools":[{"type":"function","function":{"name":"f","parameters":true}}],"tool_choice":"required","messages":[{"role":"user","content":"x"}]}`,
		`{"model":"fast","seed":-9223372036854775808,"n":1,"messages":[{"role":"system","content":null},{"role":"user","content":"x"}]}`,
		`{"model":"fast","messages":[{"role":"user","content":5}]}`,
		`null`, `[]`, `{}`, `{"model":"fast","messages":[null]}`, "\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	tr := New(Config{})
	tr.noDelay = true
	f.Fuzz(func(t *testing.T, body []byte) {
		// Knowing the plan tells us which broken outputs were asked for.
		p, _ := tr.buildPlan(body)
		broken := p != nil && p.fault != faultNone

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sim/v1/chat/completions", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			if p == nil || p.fault != faultTimeout || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("RoundTrip error %v for %q", err, body)
			}
			return
		}
		defer resp.Body.Close()
		if resp.Request != req || resp.Body == nil || resp.Header == nil || resp.Proto != "HTTP/1.1" {
			t.Fatalf("incomplete response %+v", resp)
		}
		data, rerr := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode != http.StatusOK:
			var e errorBody
			if rerr != nil || json.Unmarshal(data, &e) != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("status %d with body %q (%v)", resp.StatusCode, data, rerr)
			}
		case resp.Header.Get("Content-Type") == "application/json":
			if !broken && (rerr != nil || !json.Valid(data) || int64(len(data)) != resp.ContentLength) {
				t.Fatalf("bad JSON body %q (%v)", data, rerr)
			}
		default:
			if broken {
				return
			}
			if rerr != nil {
				t.Fatalf("stream read: %v", rerr)
			}
			events := strings.Split(string(data), "\n\n")
			if events[len(events)-1] != "" || events[len(events)-2] != "data: [DONE]" {
				t.Fatalf("stream does not end with [DONE]: %q", data)
			}
			for _, ev := range events[:len(events)-2] {
				payload, ok := strings.CutPrefix(ev, "data: ")
				if !ok || !json.Valid([]byte(payload)) {
					t.Fatalf("bad event %q", ev)
				}
			}
		}
	})
}
