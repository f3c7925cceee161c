package extension

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/edge/internal/httpapi"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
)

const misbehave = "../../wasmhost/testdata/misbehave.wasm"

// sliceStream is an upstream stream of fixed chunks; Buffered says every chunk is one read.
type sliceStream struct {
	chunks []string
	closed bool
}

func (s *sliceStream) Next() ([]byte, error) {
	if len(s.chunks) == 0 {
		return nil, io.EOF
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return []byte(c), nil
}
func (s *sliceStream) Buffered() bool { return false }
func (s *sliceStream) Close() error   { s.closed = true; return nil }

func drain(t *testing.T, st llm.Stream) []string {
	t.Helper()
	var got []string
	for {
		b, err := st.Next()
		if err == io.EOF {
			return got
		}
		if err != nil {
			t.Fatalf("stream: %v", err)
		}
		got = append(got, string(b))
	}
}

func request(t *testing.T, body string) *llm.Request {
	t.Helper()
	req, err := httpapi.Reparse(context.Background(), []byte(body), &llm.Request{SessionID: "s-1"})
	if err != nil {
		t.Fatal(err)
	}
	return req
}

// upstream answers like the router: a body, or a stream of chunks ending in [DONE].
func upstream(seen **llm.Request, stream bool) pipeline.Handler {
	return pipeline.HandlerFunc(func(ctx context.Context, req *llm.Request) (*llm.Response, error) {
		*seen = req
		if stream {
			return &llm.Response{Stream: &sliceStream{chunks: []string{`{"n":1}`, `{"n":2}`, "[DONE]"}}}, nil
		}
		return &llm.Response{Body: []byte(`{"id":"orig","choices":[]}`)}, nil
	})
}

func TestTransformStage(t *testing.T) {
	ctx := context.Background()
	const client = `{"model":"a/b","messages":[{"role":"user","content":"hi"}]}`
	const clientStream = `{"model":"a/b","messages":[{"role":"user","content":"hi"}],"stream":true}`
	tests := []struct {
		name       string
		plugin     string
		models     []string
		failClosed bool
		body       string
		stream     bool     // the upstream answers with a stream
		wantModel  string   // the model the next stage saw
		wantBody   string   // non-streamed response
		wantChunks []string // streamed response
		wantErr    int      // status of the error, 0 for none
		failures   int64
	}{
		{name: "rewrites request and response", plugin: "rewrite", body: client, wantModel: "m/x"},
		{name: "rewrites a stream batch by batch and flushes at the end", plugin: "rewrite", body: clientStream, stream: true,
			wantModel: "m/x", wantChunks: []string{`{"rewritten":true}`, `{"rewritten":true}`, `{"end":true}`, "[DONE]"}},
		{name: "not bound to this model", plugin: "rewrite", models: []string{"other/*"}, body: client, wantModel: "a/b",
			wantBody: `{"id":"orig","choices":[]}`},
		{name: "bound by glob", plugin: "rewrite", models: []string{"a/*"}, body: client, wantModel: "m/x"},
		{name: "fail open keeps an invalid rewrite's original and an oversized response", plugin: misbehave, body: client,
			wantModel: "a/b", wantBody: `{"id":"orig","choices":[]}`, failures: 2},
		{name: "fail open passes a trapping stream through", plugin: misbehave, body: clientStream, stream: true,
			wantModel: "a/b", wantChunks: []string{`{"n":1}`, `{"n":2}`, "[DONE]"}, failures: 2},
		{name: "fail closed", plugin: misbehave, failClosed: true, body: client, wantErr: 502, failures: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := plugin(t, tt.plugin)
			s := &Set{transforms: []*transform{{p: p, models: tt.models, failClosed: tt.failClosed}}, log: discard()}
			var seen *llm.Request
			h := s.Transforms(httpapi.Reparse)(upstream(&seen, tt.stream))
			resp, err := h.Serve(ctx, request(t, tt.body))
			defer func() {
				var failures int64
				for i := range p.failures {
					failures += p.failures[i].Load()
				}
				if failures != tt.failures {
					t.Errorf("failures counted = %d, want %d", failures, tt.failures)
				}
			}()
			if tt.wantErr != 0 {
				var e *llm.Error
				if !errors.As(err, &e) || e.Status != tt.wantErr {
					t.Fatalf("err = %v, want status %d", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Close()
			if seen.Model != tt.wantModel {
				t.Errorf("next stage saw model %q, want %q", seen.Model, tt.wantModel)
			}
			if seen.SessionID != "s-1" {
				t.Errorf("session id from the headers was lost: %q", seen.SessionID)
			}
			if resp.Stream != nil {
				got := strings.Join(drain(t, resp.Stream), " ")
				if want := strings.Join(tt.wantChunks, " "); got != want {
					t.Errorf("chunks = %s, want %s", got, want)
				}
				return
			}
			want := tt.wantBody
			if want == "" {
				want = `{"id":"r","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"REWRITTEN"},"finish_reason":"stop"}]}`
			}
			if string(resp.Body) != want {
				t.Errorf("body = %s, want %s", resp.Body, want)
			}
		})
	}
}

func TestNoTransformsNoStage(t *testing.T) {
	if mw := (&Set{}).Transforms(httpapi.Reparse); mw != nil {
		t.Fatal("a set without transform plugins must not add a pipeline stage")
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
