package edge_test

import (
	"bytes"
	"context"
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
data_dir: `+b.TempDir()+`
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

func benchChat(b *testing.B, h http.Handler, body []byte, header ...string) {
	b.ReportAllocs()
	rd := bytes.NewReader(body)
	// A served request's context can always be cancelled (the client may leave), and the
	// upstream transport watches such a context: a background one would skip that cost.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, "/v1/chat/completions", rd)
	for i := 0; i+1 < len(header); i += 2 {
		req.Header.Set(header[i], header[i+1])
	}
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

// BenchmarkHandlerCacheHit is a hit through the whole handler: request read and decoded,
// the cache stage, the response written, for the same request each time (after a first
// call that stores the ~2 KB answer). BenchmarkHandlerCacheMiss forces the upstream round
// trip (Cache-Control: no-cache) on the same path, for comparison.
func BenchmarkHandlerCacheHit(b *testing.B) {
	benchChat(b, benchNode(b, fakeupstream.Config{ContentBytes: 1700}), cachedRequest)
}

func BenchmarkHandlerCacheHitStream(b *testing.B) {
	benchChat(b, benchNode(b, fakeupstream.Config{ContentBytes: 1700, Chunks: 20}), cachedStreamRequest)
}

func BenchmarkHandlerCacheMiss(b *testing.B) {
	benchChat(b, benchNode(b, fakeupstream.Config{ContentBytes: 1700}), cachedRequest, "Cache-Control", "no-cache")
}

// BenchmarkHandlerCacheBypass is the same request sampled (temperature 0.7): the cache
// stage looks at it and steps aside, so this is the upstream path with the stage's policy
// check, the baseline a miss is compared with.
func BenchmarkHandlerCacheBypass(b *testing.B) {
	benchChat(b, benchNode(b, fakeupstream.Config{ContentBytes: 1700}), bytes.Replace(cachedRequest, []byte(`"temperature":0`), []byte(`"temperature":0.7`), 1))
}

var (
	cachedRequest = []byte(`{"model":"fake/gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant for a travel site."},` +
		`{"role":"user","content":"What is the weather usually like in Paris in early spring?"}],"max_tokens":512,"temperature":0}`)
	cachedStreamRequest = []byte(`{"model":"fake/gpt-4o-mini","stream":true,"messages":[{"role":"system","content":"You are a concise assistant for a travel site."},` +
		`{"role":"user","content":"What is the weather usually like in Paris in early spring?"}],"max_tokens":512,"temperature":0}`)
)
