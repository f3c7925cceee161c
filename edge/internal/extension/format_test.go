package extension

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

// recorder is an upstream that records the request it got and answers a fixed response.
type recorder struct {
	got    *http.Request
	body   []byte
	status int
	resp   string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.got = req
	if req.Body != nil {
		r.body, _ = io.ReadAll(req.Body)
	}
	st := r.status
	if st == 0 {
		st = 200
	}
	return &http.Response{StatusCode: st, Header: http.Header{"Content-Type": {"application/json"}},
		Body: io.NopCloser(strings.NewReader(r.resp)), Request: req}, nil
}

// configFormat loads format_config, whose hook_format_request answers config.
func configFormat(t *testing.T, config string, rt http.RoundTripper) *Format {
	t.Helper()
	h, err := wasmhost.NewHost(context.Background(), wasmhost.Config{Instrument: wasmhost.Metered})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	wasm, err := os.ReadFile("testdata/format_config.wasm")
	if err != nil {
		t.Fatal(err)
	}
	wp, err := h.Load(context.Background(), "fc", wasm, []byte(config), wasmhost.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFormat(FormatConfig{Name: "up", DisplayName: "Up", BaseURL: "https://up.example/v2/", APIKey: "sk-secret",
		Headers: map[string]string{"X-Org": "acme"}}, &Plugin{Plugin: wp, name: "fc"}, rt, nil)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestFormatRequestFromPlugin checks how the host turns hook_format_request's answer into
// the upstream request: the URL under the provider's base, the key substituted and never
// shown to the plugin, host-owned headers refused, and deliberate refusals passed on.
func TestFormatRequestFromPlugin(t *testing.T) {
	tests := []struct {
		name       string
		answer     string
		wantURL    string
		wantHeader map[string]string
		wantBody   string
		wantStatus int // of the error; 0 when the call goes through
	}{
		{name: "sound request", answer: `{"method":"POST","path":"/messages","query":"beta=true","headers":{"x-api-key":"{{api_key}}","anthropic-version":"2023-06-01"},"body":{"a":1}}`,
			wantURL: "https://up.example/v2/messages?beta=true", wantBody: `{"a":1}`,
			wantHeader: map[string]string{"X-Api-Key": "sk-secret", "Anthropic-Version": "2023-06-01", "X-Org": "acme", "Content-Type": "application/json"}},
		{name: "key inside a value", answer: `{"path":"/m","headers":{"authorization":"Bearer {{api_key}}"},"body":"raw text"}`,
			wantURL: "https://up.example/v2/m", wantBody: "raw text", wantHeader: map[string]string{"Authorization": "Bearer sk-secret"}},
		{name: "host header refused", answer: `{"path":"/m","headers":{"Host":"evil.example"},"body":{}}`, wantStatus: 502},
		{name: "content-length refused", answer: `{"path":"/m","headers":{"content-length":"1"},"body":{}}`, wantStatus: 502},
		{name: "header injection refused", answer: `{"path":"/m","headers":{"x-a":"v\r\nX-Evil: 1"},"body":{}}`, wantStatus: 502},
		{name: "bad header name refused", answer: `{"path":"/m","headers":{"x a":"v"},"body":{}}`, wantStatus: 502},
		{name: "path escaping the base refused", answer: `{"path":"/../admin","body":{}}`, wantStatus: 502},
		{name: "path with a query refused", answer: `{"path":"/m?x=1","body":{}}`, wantStatus: 502},
		{name: "no path", answer: `{"method":"POST","body":{}}`, wantStatus: 502},
		{name: "bad method", answer: `{"method":"PO ST","path":"/m"}`, wantStatus: 502},
		{name: "not an object", answer: `["path","/m"]`, wantStatus: 502},
		{name: "refusal, default status", answer: `{"error":{"code":"unsupported","message":"audio input is not supported"}}`, wantStatus: 400},
		{name: "refusal with a status", answer: `{"error":{"code":"x","message":"busy","status":503}}`, wantStatus: 503},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rec := &recorder{resp: `{"id":"x"}`}
			f := configFormat(t, tt.answer, rec)
			_, err := f.Chat(context.Background(), &llm.Request{Body: []byte(`{"model":"a/b","messages":[{"role":"user","content":"hi"}]}`)},
				provider.Target{Model: "b"})
			if tt.wantStatus != 0 {
				var e *llm.Error
				if !errors.As(err, &e) || e.Status != tt.wantStatus {
					t.Fatalf("err = %v, want status %d", err, tt.wantStatus)
				}
				if rec.got != nil {
					t.Fatal("a refused request reached the upstream")
				}
				return
			}
			// format_config answers 0 to hook_format_response, which the host refuses:
			// a format plugin must translate the answer.
			var e *llm.Error
			if !errors.As(err, &e) || e.Status != 502 || !strings.Contains(e.Message, "hook_format_response") {
				t.Fatalf("err = %v, want the 502 for an untranslated response", err)
			}
			if rec.got == nil {
				t.Fatal("nothing reached the upstream")
			}
			if u := rec.got.URL.String(); u != tt.wantURL {
				t.Errorf("URL = %s, want %s", u, tt.wantURL)
			}
			for k, v := range tt.wantHeader {
				if got := rec.got.Header.Get(k); got != v {
					t.Errorf("header %s = %q, want %q", k, got, v)
				}
			}
			if !bytes.Equal(rec.body, []byte(tt.wantBody)) {
				t.Errorf("body = %s, want %s", rec.body, tt.wantBody)
			}
		})
	}
}

// TestFormatErrorStatus checks that an upstream error keeps the node's status policy when
// the plugin's error hook says nothing: 429 stays 429, a 5xx becomes the 502 that fails over.
func TestFormatErrorStatus(t *testing.T) {
	for _, tc := range []struct {
		upstream, want int
	}{{429, 429}, {500, 502}, {529, 502}, {400, 400}, {401, 502}} {
		rec := &recorder{status: tc.upstream, resp: `{"type":"error","error":{"type":"x","message":"nope"}}`}
		f := configFormat(t, `{"path":"/m","body":{}}`, rec)
		_, err := f.Chat(context.Background(), &llm.Request{Body: []byte(`{"model":"a/b","messages":[{"role":"user","content":"hi"}]}`)},
			provider.Target{Model: "b"})
		var e *llm.Error
		if !errors.As(err, &e) || e.Status != tc.want {
			t.Errorf("upstream %d: err = %v, want status %d", tc.upstream, err, tc.want)
		}
	}
}
