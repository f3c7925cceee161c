package openai

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
)

func TestRewriteRequest(t *testing.T) {
	tests := []struct {
		name   string
		in     string
		stream bool
		want   map[string]string // member -> expected raw JSON; "" means absent
		drop   llm.ParamSet
	}{
		{"model replaced", `{"model":"openai/gpt-4o","messages":[{"role":"user","content":"hi"}],"temperature":0.5}`, false,
			map[string]string{"model": `"gpt-4o"`, "temperature": `0.5`, "messages": `[{"role":"user","content":"hi"}]`, "stream_options": ""}, 0},
		{"router fields dropped", `{"model":"a","messages":[],"models":["b"],"provider":{"order":["x"]},"session_id":"s","usage":{"include":true},"transforms":[],"route":"fallback","plugins":[],"user":"u"}`, false,
			map[string]string{"models": "", "provider": "", "session_id": "", "usage": "", "transforms": "", "route": "", "plugins": "", "user": `"u"`}, 0},
		{"stream adds include_usage", `{"model":"a","messages":[],"stream":true}`, true,
			map[string]string{"stream_options": `{"include_usage":true}`, "stream": "true"}, 0},
		{"stream keeps other options", `{"model":"a","stream":true,"stream_options":{"include_usage":false,"include_obfuscation":false}}`, true,
			map[string]string{"stream_options": `{"include_usage":true,"include_obfuscation":false}`}, 0},
		{"stream_options null", `{"model":"a","stream":true,"stream_options":null}`, true,
			map[string]string{"stream_options": `{"include_usage":true}`}, 0},
		{"escaped model key", `{"mod\u0065l":"x","messages":[]}`, false, map[string]string{"model": `"up"`}, 0},
		{"duplicate model keys both replaced", `{"model":"x","model":"y"}`, false, map[string]string{"model": `"up"`}, 0},
		{"unsupported parameters dropped", `{"model":"a","top_k":3,"min_p":0.1,"temperature":0}`, false,
			map[string]string{"top_k": "", "min_p": "", "temperature": "0"}, llm.ParamSet(0).With(llm.ParamTopK).With(llm.ParamMinP)},
		{"structured outputs dropped, json_object kept", `{"model":"a","response_format":{"type":"json_object"}}`, false,
			map[string]string{"response_format": `{"type":"json_object"}`}, llm.ParamSet(0).With(llm.ParamStructuredOutputs)},
		{"structured outputs dropped, json_schema removed", `{"model":"a","response_format":{"type":"json_schema","json_schema":{}}}`, false,
			map[string]string{"response_format": ""}, llm.ParamSet(0).With(llm.ParamStructuredOutputs)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			model := "up"
			if want := tt.want["model"]; want != "" && want != `"up"` {
				model = strings.Trim(want, `"`)
			}
			out, err := RewriteRequest(nil, []byte(tt.in), provider.Target{Model: model, Drop: tt.drop}, tt.stream)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]json.RawMessage
			if err := json.Unmarshal(out, &got); err != nil {
				t.Fatalf("output %s is not JSON: %v", out, err)
			}
			for k, want := range tt.want {
				raw, ok := got[k]
				if want == "" {
					if ok {
						t.Errorf("%s should be absent, got %s", k, raw)
					}
					continue
				}
				if string(raw) != want {
					t.Errorf("%s = %s, want %s", k, raw, want)
				}
			}
			if strings.Count(string(out), `"model"`) != 1 {
				t.Errorf("output %s must carry exactly one model", out)
			}
		})
	}
	if _, err := RewriteRequest(nil, []byte(`{"model":`), provider.Target{Model: "x"}, false); err == nil {
		t.Fatal("malformed body accepted")
	}
}

// upstream answers with handler and returns a provider pointed at it.
func upstream(t *testing.T, timeout time.Duration, h http.HandlerFunc) *Provider {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	tr := provider.NewTransport()
	t.Cleanup(tr.CloseIdleConnections)
	p, err := New(Config{Name: "up", DisplayName: "Up", BaseURL: srv.URL + "/v1", APIKey: "sk-test", Headers: map[string]string{"X-Extra": "1"}, Timeout: timeout}, tr)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func chatReq(stream bool) *llm.Request {
	body := `{"model":"up/m","messages":[{"role":"user","content":"hi"}]}`
	if stream {
		body = `{"model":"up/m","stream":true,"messages":[{"role":"user","content":"hi"}]}`
	}
	return &llm.Request{Body: []byte(body), Model: "up/m", Stream: stream}
}

func TestChatSendsRewrittenBody(t *testing.T) {
	var gotPath, gotAuth, gotExtra, gotAccept string
	var gotBody map[string]any
	p := upstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		gotPath, gotAuth, gotExtra, gotAccept = r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("X-Extra"), r.Header.Get("Accept")
		_ = json.NewDecoder(r.Body).Decode(&gotBody)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"c","object":"chat.completion","choices":[]}`)
	})
	resp, err := p.Chat(context.Background(), chatReq(false), provider.Target{Model: "m-upstream"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	if string(resp.Body) != `{"id":"c","object":"chat.completion","choices":[]}` {
		t.Fatalf("body = %s", resp.Body)
	}
	if gotPath != "/v1/chat/completions" || gotAuth != "Bearer sk-test" || gotExtra != "1" || gotAccept != "application/json" || gotBody["model"] != "m-upstream" {
		t.Fatalf("upstream saw path=%s auth=%s extra=%s accept=%s body=%v", gotPath, gotAuth, gotExtra, gotAccept, gotBody)
	}
}

func TestChatErrors(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		body       string
		header     map[string]string
		wantStatus int
		wantRaw    string
		retryAfter string
	}{
		{"429 passes retry-after", 429, `{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}`, map[string]string{"Retry-After": "7"}, 429, "Rate limit reached", "7"},
		{"500 becomes 502", 500, `{"error":{"message":"The server had an error"}}`, nil, 502, "The server had an error", ""},
		{"503 becomes 502", 503, `{"error":{"message":"overloaded"}}`, nil, 502, "overloaded", ""},
		{"400 passes with message", 400, `{"error":{"message":"context length exceeded","type":"invalid_request_error"}}`, nil, 400, "context length exceeded", ""},
		{"401 is the node's problem", 401, `{"error":{"message":"Incorrect API key"}}`, nil, 502, "Incorrect API key", ""},
		{"non-JSON error body", 502, `<html>bad gateway</html>`, nil, 502, "<html>bad gateway</html>", ""},
		{"string error", 500, `{"error":"boom"}`, nil, 502, "boom", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := upstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			_, err := p.Chat(context.Background(), chatReq(false), provider.Target{Model: "m"})
			var e *llm.Error
			if !errors.As(err, &e) {
				t.Fatalf("err = %v, want *llm.Error", err)
			}
			if e.Status != tt.wantStatus || e.Raw != tt.wantRaw || e.RetryAfter != tt.retryAfter || e.Provider != "Up" {
				t.Fatalf("error = %+v", e)
			}
		})
	}
}

func TestChatTimeoutIs408(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	p := upstream(t, 100*time.Millisecond, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	start := time.Now()
	_, err := p.Chat(context.Background(), chatReq(false), provider.Target{Model: "m"})
	var e *llm.Error
	if !errors.As(err, &e) || e.Status != http.StatusRequestTimeout {
		t.Fatalf("err = %v, want 408", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %s", d)
	}
}

func TestChatCallerCancelReturnsContextError(t *testing.T) {
	p := upstream(t, time.Minute, func(w http.ResponseWriter, r *http.Request) {
		// net/http notices a client hang-up only once the body has been read.
		_, _ = io.Copy(io.Discard, r.Body)
		<-r.Context().Done()
	})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := p.Chat(ctx, chatReq(false), provider.Target{Model: "m"})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

func TestChatUnreachableIs502(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	p, err := New(Config{Name: "dead", BaseURL: "http://" + addr + "/v1"}, provider.NewTransport())
	if err != nil {
		t.Fatal(err)
	}
	_, err = p.Chat(context.Background(), chatReq(false), provider.Target{Model: "m"})
	var e *llm.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || !strings.Contains(e.Raw, "refused") {
		t.Fatalf("err = %v, want 502 with the dial error as raw", err)
	}
}

func TestChatStream(t *testing.T) {
	p := upstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		var body map[string]any
		_ = json.NewDecoder(r.Body).Decode(&body)
		if so, _ := body["stream_options"].(map[string]any); so["include_usage"] != true {
			http.Error(w, "include_usage missing", 400)
			return
		}
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: {\"a\":1}\n\n: comment\n\ndata: [DONE]\n\n")
	})
	resp, err := p.Chat(context.Background(), chatReq(true), provider.Target{Model: "m"})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Close()
	var events []string
	for {
		ev, err := resp.Stream.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		events = append(events, string(ev))
	}
	if strings.Join(events, "|") != `{"a":1}|[DONE]` {
		t.Fatalf("events = %q", events)
	}
}

func TestChatStreamWithoutEventStream(t *testing.T) {
	p := upstream(t, 0, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"x"}`)
	})
	_, err := p.Chat(context.Background(), chatReq(true), provider.Target{Model: "m"})
	var e *llm.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway {
		t.Fatalf("err = %v, want 502", err)
	}
}

func TestChatResponseTooLarge(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, `{"x":"`+strings.Repeat("a", 5000)+`"}`)
	}))
	defer srv.Close()
	p, _ := New(Config{Name: "big", BaseURL: srv.URL, MaxResponseBytes: 1024}, provider.NewTransport())
	_, err := p.Chat(context.Background(), chatReq(false), provider.Target{Model: "m"})
	var e *llm.Error
	if !errors.As(err, &e) || e.Status != http.StatusBadGateway || !strings.Contains(e.Message, "larger than") {
		t.Fatalf("err = %v", err)
	}
}

func BenchmarkRewriteRequest(b *testing.B) {
	body := []byte(`{"model":"openai/gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant. Answer briefly."},{"role":"user","content":"What is the capital of France? Explain in one sentence, and mention one landmark."}],"max_tokens":64,"temperature":0.2,"stream":true}`)
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for b.Loop() {
		dst, _ = RewriteRequest(dst[:0], body, provider.Target{Model: "gpt-4o-mini"}, true)
	}
}

func TestProbe(t *testing.T) {
	tests := []struct {
		name   string
		status int
		ok     bool
	}{
		{"models listed", http.StatusOK, true},
		{"bad key", http.StatusUnauthorized, false},
		{"down", http.StatusServiceUnavailable, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var path, auth string
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				path, auth = r.URL.Path, r.Header.Get("Authorization")
				w.WriteHeader(tt.status)
				_, _ = io.WriteString(w, `{"object":"list","data":[]}`)
			}))
			defer srv.Close()
			p, err := New(Config{Name: "p", BaseURL: srv.URL + "/v1", APIKey: "sk-x"}, http.DefaultTransport)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Probe(context.Background())
			if (err == nil) != tt.ok || path != "/v1/models" || auth != "Bearer sk-x" {
				t.Fatalf("Probe = %v (path %s, auth %q)", err, path, auth)
			}
		})
	}
}
