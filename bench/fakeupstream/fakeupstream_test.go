package fakeupstream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

const (
	plainBody  = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"}],"max_tokens":64}`
	streamBody = `{"model":"gpt-4o-mini","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	usageBody  = `{"model":"gpt-4o-mini","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}]}`
)

type oaiError struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

type completion struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
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
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

type chunk struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Delta struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
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
	Usage json.RawMessage `json:"usage"`
}

func newTestServer(t *testing.T, cfg Config) (*Server, *httptest.Server) {
	t.Helper()
	fake := New(cfg)
	ts := httptest.NewServer(fake)
	t.Cleanup(func() {
		fake.Close()
		ts.Close()
	})
	return fake, ts
}

func post(t *testing.T, ctx context.Context, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer sk-test")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// sseResult is what a strict SSE reader saw.
type sseResult struct {
	events  []string // data payloads except [DONE], in order
	invalid []string // payloads that were not valid JSON
	done    bool     // saw data: [DONE]
	err     error    // read error, nil on clean EOF
}

// readSSE enforces the framing the fake promises: every event is exactly one
// "data: " line followed by a blank line, and nothing follows [DONE].
func readSSE(t *testing.T, r io.Reader) sseResult {
	t.Helper()
	var res sseResult
	br := bufio.NewReader(r)
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			if line != "" {
				t.Errorf("partial line at end: %q", line)
			}
			if !errors.Is(err, io.EOF) {
				res.err = err
			}
			return res
		}
		if res.done {
			t.Errorf("data after [DONE]: %q", line)
		}
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok {
			t.Fatalf("line is not a data line: %q", line)
		}
		data = strings.TrimSuffix(data, "\n")
		blank, err := br.ReadString('\n')
		if err != nil || blank != "\n" {
			if err != nil && !errors.Is(err, io.EOF) {
				res.err = err
				return res
			}
			t.Fatalf("event %q not followed by a blank line (got %q, %v)", data, blank, err)
		}
		switch {
		case data == "[DONE]":
			res.done = true
		case json.Valid([]byte(data)):
			res.events = append(res.events, data)
		default:
			res.invalid = append(res.invalid, data)
		}
	}
}

func decodeError(t *testing.T, body []byte) oaiError {
	t.Helper()
	var e oaiError
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&e); err != nil {
		t.Fatalf("error body %q is not OpenAI's shape: %v", body, err)
	}
	if e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("error body %q lacks message or type", body)
	}
	return e
}

func TestFailModes(t *testing.T) {
	_, ts := newTestServer(t, Config{Chunks: 6})
	tests := []struct {
		name   string
		mode   FailMode
		body   string
		check  func(t *testing.T, resp *http.Response)
		status int
	}{
		{
			name: "none/non-stream", mode: FailNone, body: plainBody, status: 200,
			check: func(t *testing.T, resp *http.Response) {
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				if got := resp.Header.Get("Content-Length"); got != fmt.Sprint(len(b)) {
					t.Errorf("Content-Length %s, body %d", got, len(b))
				}
				var c completion
				if err := json.Unmarshal(b, &c); err != nil {
					t.Fatal(err)
				}
				if !strings.HasPrefix(c.ID, "chatcmpl-") || c.Object != "chat.completion" || c.Model != "gpt-4o-mini" {
					t.Errorf("bad envelope: %+v", c)
				}
				if len(c.Choices) != 1 || c.Choices[0].Message.Content == nil || *c.Choices[0].Message.Content == "" || c.Choices[0].FinishReason != "stop" {
					t.Errorf("bad choices: %s", b)
				}
				if c.Usage == nil || c.Usage.CompletionTokens != 6 || c.Usage.TotalTokens != c.Usage.PromptTokens+6 || c.Usage.PromptTokens != len(plainBody)/4 {
					t.Errorf("bad usage: %+v", c.Usage)
				}
			},
		},
		{
			name: "429", mode: Fail429, body: plainBody, status: 429,
			check: func(t *testing.T, resp *http.Response) {
				for _, h := range []string{"Retry-After", "X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens"} {
					if resp.Header.Get(h) == "" {
						t.Errorf("missing %s", h)
					}
				}
				if got := resp.Header.Get("Retry-After"); got != "1" {
					t.Errorf("Retry-After %q", got)
				}
				b, _ := io.ReadAll(resp.Body)
				e := decodeError(t, b)
				if e.Error.Type != "requests" || e.Error.Code == nil || *e.Error.Code != "rate_limit_exceeded" || e.Error.Param != nil {
					t.Errorf("bad 429 body %s", b)
				}
				if !strings.Contains(e.Error.Message, "gpt-4o-mini") {
					t.Errorf("429 message does not name the model: %q", e.Error.Message)
				}
			},
		},
		{
			name: "500", mode: Fail500, body: streamBody, status: 500,
			check: func(t *testing.T, resp *http.Response) {
				b, _ := io.ReadAll(resp.Body)
				if e := decodeError(t, b); e.Error.Type != "server_error" || e.Error.Code != nil {
					t.Errorf("bad 500 body %s", b)
				}
			},
		},
		{
			name: "503", mode: Fail503, body: plainBody, status: 503,
			check: func(t *testing.T, resp *http.Response) {
				if resp.Header.Get("Retry-After") != "1" {
					t.Errorf("503 without Retry-After")
				}
				b, _ := io.ReadAll(resp.Body)
				decodeError(t, b)
			},
		},
		{
			name: "malformed-json", mode: FailMalformedJSON, body: plainBody, status: 200,
			check: func(t *testing.T, resp *http.Response) {
				b, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatalf("transport must end cleanly: %v", err)
				}
				if resp.Header.Get("Content-Type") != "application/json" {
					t.Errorf("content type %q", resp.Header.Get("Content-Type"))
				}
				if json.Valid(b) || len(b) == 0 {
					t.Errorf("body should be invalid JSON: %q", b)
				}
			},
		},
		{
			name: "stream-error/non-stream", mode: FailStreamError, body: plainBody, status: 200,
			check: func(t *testing.T, resp *http.Response) {
				b, _ := io.ReadAll(resp.Body)
				decodeError(t, b)
			},
		},
		{
			name: "cut/non-stream", mode: FailCut, body: plainBody, status: 200,
			check: func(t *testing.T, resp *http.Response) {
				_, err := io.ReadAll(resp.Body)
				if !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Errorf("want unexpected EOF, got %v", err)
				}
			},
		},
		{
			name: "cut/stream", mode: FailCut, body: streamBody, status: 200,
			check: func(t *testing.T, resp *http.Response) {
				res := readSSE(t, resp.Body)
				if res.err == nil || res.done {
					t.Errorf("want an abrupt end, got err=%v done=%v", res.err, res.done)
				}
				if len(res.events) != 1+3 { // role + Chunks/2
					t.Errorf("got %d events before the cut, want 4", len(res.events))
				}
			},
		},
		{
			name: "malformed-sse", mode: FailMalformedSSE, body: streamBody, status: 200,
			check: func(t *testing.T, resp *http.Response) {
				res := readSSE(t, resp.Body)
				if res.err != nil || !res.done || len(res.invalid) != 1 || len(res.events) != 3 {
					t.Errorf("got %+v", res)
				}
			},
		},
		{
			name: "stream-error/stream", mode: FailStreamError, body: streamBody, status: 200,
			check: func(t *testing.T, resp *http.Response) {
				res := readSSE(t, resp.Body)
				if res.err != nil || res.done || len(res.events) == 0 {
					t.Fatalf("got %+v", res)
				}
				last := res.events[len(res.events)-1]
				if decodeError(t, []byte(last)).Error.Type != "server_error" {
					t.Errorf("last event %s", last)
				}
			},
		},
	}
	for _, tc := range tests {
		for _, via := range []string{"header", "directive"} {
			t.Run(tc.name+"/"+via, func(t *testing.T) {
				body, hdr := tc.body, map[string]string{}
				if tc.mode != FailNone {
					if via == "header" {
						hdr["X-Fake-Fail"] = string(tc.mode)
					} else {
						body = strings.Replace(body, `{`, `{"user":"fake:fail=`+string(tc.mode)+`",`, 1)
					}
				}
				resp := post(t, t.Context(), ts.URL, body, hdr)
				defer resp.Body.Close()
				if resp.StatusCode != tc.status {
					t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
				}
				tc.check(t, resp)
			})
		}
	}
}

func TestHangReturnsOnCancel(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		hdr  map[string]string
		body string
	}{
		{name: "hang/config", cfg: Config{Fail: FailHang}, body: plainBody},
		{name: "hang/stream", cfg: Config{}, hdr: map[string]string{"X-Fake-Fail": "hang"}, body: streamBody},
		{name: "slow-ttft", cfg: Config{TTFT: time.Hour}, body: plainBody},
		{name: "mid-stream", cfg: Config{TokensPerSecond: 2}, body: streamBody},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake, ts := newTestServer(t, tc.cfg)
			ctx, cancel := context.WithCancel(t.Context())
			errc := make(chan error, 1)
			go func() {
				req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+"/v1/chat/completions", strings.NewReader(tc.body))
				for k, v := range tc.hdr {
					req.Header.Set(k, v)
				}
				resp, err := http.DefaultClient.Do(req)
				if err == nil {
					_, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				errc <- err
			}()
			time.Sleep(100 * time.Millisecond)
			cancelled := time.Now()
			cancel()
			select {
			case at := <-fake.Canceled():
				if d := at.Sub(cancelled); d > 100*time.Millisecond {
					t.Errorf("handler saw the cancel after %v", d)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("handler never observed the cancel")
			}
			if err := <-errc; err == nil {
				t.Error("client request should fail after cancel")
			}
			if s := fake.Stats(); s.Canceled != 1 || s.Completed != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestCloseReleasesHangingHandlers(t *testing.T) {
	fake := New(Config{Fail: FailHang})
	ts := httptest.NewServer(fake)
	errc := make(chan error, 1)
	go func() {
		resp, err := http.Post(ts.URL+"/v1/chat/completions", "application/json", strings.NewReader(plainBody))
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	time.Sleep(50 * time.Millisecond)
	fake.Close()
	select {
	case err := <-errc:
		if err == nil {
			t.Error("a released hang must not look like a response")
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not release the handler")
	}
	ts.Close()
}

func TestStreamFraming(t *testing.T) {
	tests := []struct {
		name  string
		body  string
		usage bool
	}{
		{name: "include_usage off", body: streamBody},
		{name: "include_usage on", body: usageBody, usage: true},
		{name: "include_usage false", body: strings.Replace(usageBody, "true}", "false}", 1)},
	}
	_, ts := newTestServer(t, Config{Chunks: 5, ContentBytes: 100})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, t.Context(), ts.URL, tc.body, nil)
			defer resp.Body.Close()
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			res := readSSE(t, resp.Body)
			if res.err != nil || !res.done || len(res.invalid) > 0 {
				t.Fatalf("bad stream %+v", res)
			}
			want := 1 + 5 + 1
			if tc.usage {
				want++
			}
			if len(res.events) != want {
				t.Fatalf("%d events, want %d", len(res.events), want)
			}
			var text strings.Builder
			var first chunk
			for i, ev := range res.events {
				var c chunk
				if err := json.Unmarshal([]byte(ev), &c); err != nil {
					t.Fatal(err)
				}
				if i == 0 {
					first = c
					if c.Choices[0].Delta.Role != "assistant" {
						t.Errorf("first chunk has no role: %s", ev)
					}
				}
				if c.ID != first.ID || c.Created != first.Created || c.Object != "chat.completion.chunk" || c.Model != "gpt-4o-mini" {
					t.Errorf("envelope differs: %s", ev)
				}
				hasUsageKey := strings.Contains(ev, `"usage":`)
				if hasUsageKey != tc.usage {
					t.Errorf("usage key present=%v in %s", hasUsageKey, ev)
				}
				isUsage := tc.usage && i == len(res.events)-1
				switch {
				case isUsage:
					if len(c.Choices) != 0 || string(c.Usage) == "null" {
						t.Errorf("bad usage chunk %s", ev)
					}
				case tc.usage && string(c.Usage) != "null":
					t.Errorf("non-usage chunk must carry usage:null: %s", ev)
				}
				if !isUsage && c.Choices[0].Delta.Content != nil {
					text.WriteString(*c.Choices[0].Delta.Content)
				}
				last := i == want-1 || (tc.usage && i == want-2)
				if last && !isUsage {
					if fr := c.Choices[0].FinishReason; fr == nil || *fr != "stop" {
						t.Errorf("finish chunk %s", ev)
					}
				}
			}
			// The stream carries the same text as the non-stream answer.
			resp2 := post(t, t.Context(), ts.URL, plainBody, nil)
			defer resp2.Body.Close()
			var c completion
			if err := json.NewDecoder(resp2.Body).Decode(&c); err != nil {
				t.Fatal(err)
			}
			if got := *c.Choices[0].Message.Content; got != text.String() {
				t.Errorf("stream text %q != message %q", text.String(), got)
			}
		})
	}
}

func TestToolCalls(t *testing.T) {
	withTools := `{"model":"gpt-4o","messages":[{"role":"user","content":"weather?"}],"tools":[{"type":"function","function":{"name":"lookup","parameters":{"type":"object"}}}]`
	tests := []struct {
		name     string
		body     string
		hdr      map[string]string
		toolName string
	}{
		{name: "stream/header", body: withTools + `,"stream":true}`, hdr: map[string]string{"X-Fake-Tools": "1"}, toolName: "lookup"},
		{name: "stream/directive", body: `{"model":"m","stream":true,"user":"fake:tools=1,chunks=9","messages":[{"role":"user","content":"x"}]}`, toolName: "get_weather"},
		{name: "non-stream", body: withTools + `,"user":"fake:tools=true"}`, toolName: "lookup"},
	}
	_, ts := newTestServer(t, Config{})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, t.Context(), ts.URL, tc.body, tc.hdr)
			defer resp.Body.Close()
			if !strings.Contains(tc.body, `"stream":true`) {
				var c completion
				if err := json.NewDecoder(resp.Body).Decode(&c); err != nil {
					t.Fatal(err)
				}
				m := c.Choices[0].Message
				if m.Content != nil || len(m.ToolCalls) != 1 || m.ToolCalls[0].Function.Name != tc.toolName || c.Choices[0].FinishReason != "tool_calls" {
					t.Fatalf("bad tool answer %+v", c)
				}
				if !json.Valid([]byte(m.ToolCalls[0].Function.Arguments)) {
					t.Errorf("arguments not JSON: %q", m.ToolCalls[0].Function.Arguments)
				}
				return
			}
			res := readSSE(t, resp.Body)
			if res.err != nil || !res.done {
				t.Fatalf("bad stream %+v", res)
			}
			var args strings.Builder
			var name, id, finish string
			for i, ev := range res.events {
				var c chunk
				if err := json.Unmarshal([]byte(ev), &c); err != nil {
					t.Fatal(err)
				}
				d := c.Choices[0].Delta
				if c.Choices[0].FinishReason != nil {
					finish = *c.Choices[0].FinishReason
				}
				if len(d.ToolCalls) == 0 {
					continue
				}
				tcall := d.ToolCalls[0]
				if i == 0 {
					if tcall.ID == "" || tcall.Type != "function" || tcall.Function.Arguments != "" || d.Content != nil {
						t.Errorf("first tool delta %s", ev)
					}
					name, id = tcall.Function.Name, tcall.ID
				} else if tcall.ID != "" || tcall.Function.Name != "" || tcall.Index != 0 {
					t.Errorf("later delta repeats header: %s", ev)
				}
				args.WriteString(tcall.Function.Arguments)
			}
			if name != tc.toolName || id == "" || finish != "tool_calls" {
				t.Errorf("name %q id %q finish %q", name, id, finish)
			}
			if !json.Valid([]byte(args.String())) {
				t.Errorf("reassembled arguments are not JSON: %q", args.String())
			}
		})
	}
}

func TestOverrides(t *testing.T) {
	tests := []struct {
		name       string
		body       string
		hdr        map[string]string
		wantChunks int
		minTime    time.Duration
		status     int
	}{
		{name: "default", body: streamBody, wantChunks: 4, status: 200},
		{name: "header chunks", body: streamBody, hdr: map[string]string{"X-Fake-Chunks": "7"}, wantChunks: 7, status: 200},
		{name: "directive chunks", body: strings.Replace(streamBody, "{", `{"user":"fake:chunks=9",`, 1), wantChunks: 9, status: 200},
		{name: "directive after user id", body: strings.Replace(streamBody, "{", `{"user":"alice fake:chunks=2",`, 1), wantChunks: 2, status: 200},
		{name: "header ttft", body: streamBody, hdr: map[string]string{"X-Fake-TTFT": "150ms"}, wantChunks: 4, minTime: 150 * time.Millisecond, status: 200},
		{name: "directive ttft non-stream", body: strings.Replace(plainBody, "{", `{"user":"fake:ttft=150ms",`, 1), minTime: 150 * time.Millisecond, status: 200},
		{name: "header tps", body: streamBody, hdr: map[string]string{"X-Fake-TPS": "50", "X-Fake-Chunks": "6"}, wantChunks: 6, minTime: 100 * time.Millisecond, status: 200},
		{name: "directive tps", body: strings.Replace(streamBody, "{", `{"user":"fake:tps=50,chunks=6",`, 1), wantChunks: 6, minTime: 100 * time.Millisecond, status: 200},
		{name: "retry-after", body: plainBody, hdr: map[string]string{"X-Fake-Fail": "503", "X-Fake-Retry-After": "7"}, status: 503},
		{name: "bad header", body: plainBody, hdr: map[string]string{"X-Fake-TTFT": "soon"}, status: 400},
		{name: "bad directive key", body: strings.Replace(plainBody, "{", `{"user":"fake:nope=1",`, 1), status: 400},
		{name: "bad fail mode", body: strings.Replace(plainBody, "{", `{"user":"fake:fail=teapot",`, 1), status: 400},
	}
	_, ts := newTestServer(t, Config{Chunks: 4})
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			start := time.Now()
			resp := post(t, t.Context(), ts.URL, tc.body, tc.hdr)
			defer resp.Body.Close()
			if resp.StatusCode != tc.status {
				b, _ := io.ReadAll(resp.Body)
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tc.status != 200 {
				b, _ := io.ReadAll(resp.Body)
				decodeError(t, b)
				if ra := tc.hdr["X-Fake-Retry-After"]; ra != "" && resp.Header.Get("Retry-After") != ra {
					t.Errorf("Retry-After %q", resp.Header.Get("Retry-After"))
				}
				return
			}
			if tc.wantChunks > 0 {
				res := readSSE(t, resp.Body)
				if got := len(res.events) - 2; got != tc.wantChunks || !res.done {
					t.Errorf("%d content chunks, want %d", got, tc.wantChunks)
				}
			} else {
				_, _ = io.ReadAll(resp.Body)
			}
			if el := time.Since(start); el < tc.minTime {
				t.Errorf("took %v, want at least %v", el, tc.minTime)
			}
		})
	}
}

func TestFailRateIsDeterministic(t *testing.T) {
	_, ts := newTestServer(t, Config{Fail: Fail500, FailRate: 0.25})
	var got []int
	for range 8 {
		resp := post(t, t.Context(), ts.URL, plainBody, nil)
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		got = append(got, resp.StatusCode)
	}
	want := []int{200, 200, 200, 500, 200, 200, 200, 500}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("statuses %v, want %v", got, want)
	}
}

func TestRoutes(t *testing.T) {
	_, ts := newTestServer(t, Config{Models: []string{"gpt-4o-mini", "o3"}})
	tests := []struct {
		name, method, path, body string
		status                   int
		check                    func(t *testing.T, b []byte)
	}{
		{name: "models", method: "GET", path: "/v1/models", status: 200, check: func(t *testing.T, b []byte) {
			var l struct {
				Object string `json:"object"`
				Data   []struct {
					ID      string `json:"id"`
					Object  string `json:"object"`
					Created int64  `json:"created"`
					OwnedBy string `json:"owned_by"`
				} `json:"data"`
			}
			if err := json.Unmarshal(b, &l); err != nil {
				t.Fatal(err)
			}
			if l.Object != "list" || len(l.Data) != 2 || l.Data[1].ID != "o3" || l.Data[0].Object != "model" || l.Data[0].Created == 0 || l.Data[0].OwnedBy == "" {
				t.Errorf("bad list %s", b)
			}
		}},
		{name: "models without v1", method: "GET", path: "/models", status: 200},
		{name: "model", method: "GET", path: "/v1/models/o3", status: 200},
		{name: "unknown model", method: "GET", path: "/v1/models/nope", status: 404, check: func(t *testing.T, b []byte) {
			if e := decodeError(t, b); e.Error.Code == nil || *e.Error.Code != "model_not_found" {
				t.Errorf("bad body %s", b)
			}
		}},
		{name: "chat without v1", method: "POST", path: "/chat/completions", body: plainBody, status: 200},
		{name: "unknown path", method: "POST", path: "/v1/embeddings", body: "{}", status: 404},
		{name: "wrong method", method: "GET", path: "/v1/chat/completions", status: 405},
		{name: "wrong method models", method: "POST", path: "/v1/models", status: 405},
		{name: "invalid json", method: "POST", path: "/v1/chat/completions", body: `{"model":`, status: 400, check: func(t *testing.T, b []byte) {
			if e := decodeError(t, b); e.Error.Type != "invalid_request_error" || !strings.HasPrefix(e.Error.Message, "We could not parse the JSON body") {
				t.Errorf("bad body %s", b)
			}
		}},
		{name: "missing model", method: "POST", path: "/v1/chat/completions", body: `{"messages":[{"role":"user","content":"x"}]}`, status: 400},
		{name: "missing messages", method: "POST", path: "/v1/chat/completions", body: `{"model":"m"}`, status: 400, check: func(t *testing.T, b []byte) {
			if e := decodeError(t, b); e.Error.Param == nil || *e.Error.Param != "messages" {
				t.Errorf("bad body %s", b)
			}
		}},
		{name: "empty messages", method: "POST", path: "/v1/chat/completions", body: `{"model":"m","messages":[]}`, status: 400},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(t.Context(), tc.method, ts.URL+tc.path, strings.NewReader(tc.body))
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
			if tc.status >= 400 {
				decodeError(t, b)
			}
			if tc.check != nil {
				tc.check(t, b)
			}
		})
	}
}

func TestRecord(t *testing.T) {
	tests := []struct {
		name   string
		record bool
		want   int
	}{
		{name: "off", record: false, want: 0},
		{name: "on", record: true, want: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fake, ts := newTestServer(t, Config{Record: tc.record})
			for range 2 {
				resp := post(t, t.Context(), ts.URL, plainBody, map[string]string{"X-Trace": "1"})
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			recs := fake.Requests()
			if len(recs) != tc.want {
				t.Fatalf("%d records, want %d", len(recs), tc.want)
			}
			for _, r := range recs {
				if string(r.Body) != plainBody || r.Header.Get("Authorization") != "Bearer sk-test" || r.Path != "/v1/chat/completions" || r.Method != "POST" || r.At.IsZero() {
					t.Errorf("bad record %+v", r)
				}
			}
			if s := fake.Stats(); s.Requests != 2 || s.Completed != 2 || s.Failed != 0 {
				t.Errorf("stats %+v", s)
			}
		})
	}
}

func TestRecordRingKeepsNewest(t *testing.T) {
	fake := New(Config{Record: true})
	for i := range recordN + 5 {
		body := fmt.Sprintf(`{"model":"m%d","messages":[{}]}`, i)
		fake.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("POST", "/v1/chat/completions", strings.NewReader(body)))
	}
	recs := fake.Requests()
	if len(recs) != recordN || !strings.Contains(string(recs[0].Body), `"m5"`) || !strings.Contains(string(recs[recordN-1].Body), fmt.Sprintf(`"m%d"`, recordN+4)) {
		t.Errorf("ring order wrong: first %s last %s", recs[0].Body, recs[len(recs)-1].Body)
	}
}

// discardWriter is a ResponseWriter that costs nothing, so the benchmarks
// measure the handler alone.
type discardWriter struct {
	h http.Header
	n int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) WriteHeader(int)             {}
func (d *discardWriter) Write(b []byte) (int, error) { d.n += len(b); return len(b), nil }
func (d *discardWriter) Flush()                      {}

type rewindBody struct{ bytes.Reader }

func (*rewindBody) Close() error { return nil }

func benchServe(b *testing.B, body string) {
	fake := New(Config{})
	req := httptest.NewRequest(http.MethodPost, "/v1/chat/completions", nil)
	rb := &rewindBody{}
	req.Body = rb
	req.ContentLength = int64(len(body))
	w := &discardWriter{h: make(http.Header, 8)}
	b.ReportAllocs()
	for b.Loop() {
		rb.Reset([]byte(body))
		clear(w.h)
		fake.ServeHTTP(w, req)
	}
	if s := fake.Stats(); s.Completed != s.Requests {
		b.Fatalf("not every request completed: %+v", s)
	}
	b.SetBytes(int64(w.n) / int64(b.N))
}

func BenchmarkServeNonStream(b *testing.B) { benchServe(b, plainBody) }
func BenchmarkServeStream(b *testing.B)    { benchServe(b, usageBody) }
