package edge_test

import (
	"bytes"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
	"github.com/crossroads-llm/crossroads/edge"
)

// benchNode is a node without listeners in front of a loopback fake upstream: the
// benchmarks below measure the node's handler, from decoded request to written response,
// with a real upstream round trip over TCP.
func benchNode(b *testing.B, fc fakeupstream.Config) http.Handler {
	b.Helper()
	fake := fakeupstream.New(fc)
	srv := httptest.NewServer(fake)
	b.Cleanup(func() { fake.Close(); srv.Close() })
	cfg, err := edge.ParseConfig([]byte(`
sim: {enabled: false}
providers:
  - {name: fake, base_url: "${FAKE_URL}/v1", models: [{id: fake/gpt-4o-mini, upstream_id: gpt-4o-mini}]}
`), func(k string) (string, bool) { return srv.URL, k == "FAKE_URL" })
	if err != nil {
		b.Fatal(err)
	}
	node, err := edge.New(cfg, edge.WithoutListeners(), edge.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { node.Close() })
	return node.Handler()
}

// discard is a ResponseWriter and Flusher that keeps nothing.
type discard struct {
	h      http.Header
	status int
	n      int
}

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) WriteHeader(s int)           { d.status = s }
func (d *discard) Write(p []byte) (int, error) { d.n += len(p); return len(p), nil }
func (d *discard) Flush()                      {}

func benchChat(b *testing.B, h http.Handler, body []byte) {
	b.ReportAllocs()
	rd := bytes.NewReader(body)
	req, _ := http.NewRequest(http.MethodPost, "/v1/chat/completions", rd)
	w := &discard{h: http.Header{}}
	for b.Loop() {
		rd.Reset(body)
		req.Body = io.NopCloser(rd)
		req.ContentLength = int64(len(body))
		clear(w.h)
		w.status, w.n = 0, 0
		h.ServeHTTP(w, req)
		if w.status != 200 || w.n == 0 {
			b.Fatalf("status %d, %d bytes", w.status, w.n)
		}
	}
}

func BenchmarkHandlerNonStream(b *testing.B) {
	benchChat(b, benchNode(b, fakeupstream.Config{}),
		[]byte(`{"model":"fake/gpt-4o-mini","messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hi."}],"max_tokens":64,"temperature":0.2}`))
}

func BenchmarkHandlerStream20(b *testing.B) {
	benchChat(b, benchNode(b, fakeupstream.Config{Chunks: 20}),
		[]byte(`{"model":"fake/gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are terse."},{"role":"user","content":"Say hi."}],"max_tokens":64}`))
}
