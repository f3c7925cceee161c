package httpapi

import (
	"context"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
)

type chunks struct {
	evs []string
	i   int
}

func (s *chunks) Next() ([]byte, error) {
	if s.i == len(s.evs) {
		return []byte("[DONE]"), nil
	}
	s.i++
	return []byte(s.evs[s.i-1]), nil
}
func (s *chunks) Buffered() bool { return true }
func (s *chunks) Close() error   { return nil }

// TestUsageRecords: every answered request yields one usage record when its response
// completes; an answer the cache served costs nothing and records what it saved, and the
// cache headers say how it was answered.
func TestUsageRecords(t *testing.T) {
	const usage = `"usage":{"prompt_tokens":1000,"completion_tokens":500,"total_tokens":1500}`
	body := `{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],` + usage + `}`
	evs := []string{
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"hi"},"finish_reason":"stop"}]}`,
		`{"id":"x","object":"chat.completion.chunk","created":1,"model":"m","choices":[],` + usage + `}`,
	}
	price := llm.Price{Prompt: 1e-6, Completion: 4e-6, Request: 0.01}
	const cost = 1000*1e-6 + 500*4e-6 + 0.01
	tests := []struct {
		name        string
		stream      bool
		cache       llm.CacheStatus
		age         time.Duration
		cost, saved float64
		headers     map[string]string
	}{
		{"upstream answer", false, "", 0, cost, 0, map[string]string{"X-Crossroads-Cache": "", "X-Openrouter-Cache-Status": ""}},
		{"miss", true, llm.CacheMiss, 0, cost, 0, map[string]string{"X-Crossroads-Cache": "MISS", "X-Openrouter-Cache-Status": "MISS", "Age": ""}},
		{"hit", false, llm.CacheHit, 90 * time.Second, 0, cost, map[string]string{"X-Crossroads-Cache": "HIT", "X-Openrouter-Cache-Status": "HIT", "Age": "90"}},
		{"streamed hit", true, llm.CacheHit, time.Second, 0, cost, map[string]string{"X-Crossroads-Cache": "HIT", "Age": "1"}},
		{"coalesced", true, llm.CacheCoalesced, 0, 0, cost, map[string]string{"X-Crossroads-Cache": "COALESCED", "X-Openrouter-Cache-Status": "HIT", "Age": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var recs []*llm.UsageRecord
			a := New(Options{
				Pipeline: pipeline.HandlerFunc(func(context.Context, *llm.Request) (*llm.Response, error) {
					resp := &llm.Response{Provider: "P", Model: "m", Price: price, Cache: tt.cache, Age: tt.age}
					if tt.stream {
						resp.Stream = &chunks{evs: evs}
					} else {
						resp.Body = []byte(body)
					}
					return resp, nil
				}),
				Usage: func(r *llm.UsageRecord) { recs = append(recs, r) },
			})
			req := `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":` + map[bool]string{true: "true", false: "false"}[tt.stream] + `}`
			w := httptest.NewRecorder()
			a.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/v1/chat/completions", strings.NewReader(req)))
			if w.Code != 200 {
				t.Fatalf("%d %s", w.Code, w.Body)
			}
			for k, v := range tt.headers {
				if got := w.Header().Get(k); got != v {
					t.Errorf("%s: %q, want %q", k, got, v)
				}
			}
			if len(recs) != 1 {
				t.Fatalf("%d usage records", len(recs))
			}
			r := recs[0]
			if r.ID != w.Header().Get("X-Generation-Id") || r.Model != "m" || r.Provider != "P" || r.Stream != tt.stream ||
				r.Cache != tt.cache || r.Status != 200 || !r.Complete || r.Usage.PromptTokens != 1000 || r.Usage.CompletionTokens != 500 {
				t.Fatalf("record %+v", r)
			}
			if math.Abs(r.CostUSD-tt.cost) > 1e-12 || math.Abs(r.SavedUSD-tt.saved) > 1e-12 {
				t.Fatalf("cost %g saved %g, want %g and %g", r.CostUSD, r.SavedUSD, tt.cost, tt.saved)
			}
		})
	}
}
