package route

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/config"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
)

// scripted is a provider that answers from a script keyed by upstream model id.
type scripted struct {
	name  string
	fails map[string]error
	calls []string
}

func (s *scripted) Name() string        { return s.name }
func (s *scripted) DisplayName() string { return strings.ToUpper(s.name) }
func (s *scripted) Chat(ctx context.Context, req *llm.Request, model string) (*llm.Response, error) {
	s.calls = append(s.calls, s.name+":"+model)
	if err := s.fails[model]; err != nil {
		return nil, err
	}
	return &llm.Response{Body: []byte(`{}`)}, nil
}

func newRouter(t *testing.T, a, b *scripted) *Router {
	t.Helper()
	cfg, err := config.Parse([]byte(`
providers:
  - {name: a, base_url: "http://a", models: [{id: a/one, upstream_id: one}, {id: a/two, upstream_id: two}]}
  - {name: b, base_url: "http://b", models: [{id: b/three, upstream_id: three}]}
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	cat, err := catalog.Build(cfg, nil, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cat, map[string]provider.Provider{"a": a, "b": b}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestServe(t *testing.T) {
	e429 := &llm.Error{Status: http.StatusTooManyRequests}
	e502 := &llm.Error{Status: http.StatusBadGateway}
	e400 := &llm.Error{Status: http.StatusBadRequest, Message: "context too long"}
	tests := []struct {
		name      string
		model     string
		models    []string
		fails     map[string]error
		wantModel string
		wantCalls string
		wantErr   int
	}{
		{"first endpoint answers", "a/one", nil, nil, "a/one", "a:one", 0},
		{"fallback list after 429", "a/one", []string{"b/three"}, map[string]error{"one": e429}, "b/three", "a:one b:three", 0},
		{"fallback list after 5xx", "a/one", []string{"a/two"}, map[string]error{"one": e502}, "a/two", "a:one a:two", 0},
		{"client errors stop the search", "a/one", []string{"b/three"}, map[string]error{"one": e400}, "", "a:one", 400},
		{"unknown primary falls to the list", "x/unknown", []string{"b/three"}, nil, "b/three", "b:three", 0},
		{"models only", "", []string{"a/two"}, nil, "a/two", "a:two", 0},
		{"all fail reports the last error", "a/one", []string{"b/three"}, map[string]error{"one": e429, "three": e502}, "", "a:one b:three", 502},
		{"unknown everywhere is 404", "x/y", []string{"z/w"}, nil, "", "", 404},
		{"duplicate in list not retried", "a/one", []string{"a/one"}, map[string]error{"one": e502}, "", "a:one", 502},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := &scripted{name: "a", fails: tt.fails}
			b := &scripted{name: "b", fails: tt.fails}
			r := newRouter(t, a, b)
			resp, err := r.Serve(context.Background(), &llm.Request{Model: tt.model, Models: tt.models})
			calls := strings.TrimSpace(strings.Join(append(a.calls, b.calls...), " "))
			if calls != tt.wantCalls {
				t.Fatalf("calls = %q, want %q", calls, tt.wantCalls)
			}
			if tt.wantErr != 0 {
				var e *llm.Error
				if !errors.As(err, &e) || e.Status != tt.wantErr {
					t.Fatalf("err = %v, want status %d", err, tt.wantErr)
				}
				return
			}
			if err != nil || resp.Model != tt.wantModel || resp.Provider == "" {
				t.Fatalf("Serve = %+v, %v; want model %s", resp, err, tt.wantModel)
			}
		})
	}
}

func TestServeStopsWhenCallerLeaves(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a := &scripted{name: "a", fails: map[string]error{"one": context.Canceled}}
	b := &scripted{name: "b"}
	r := newRouter(t, a, b)
	cancel()
	if _, err := r.Serve(ctx, &llm.Request{Model: "a/one", Models: []string{"b/three"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
	if len(b.calls) != 0 {
		t.Fatal("tried another provider for a caller that left")
	}
}

func TestNewRejectsUnknownProvider(t *testing.T) {
	cfg, _ := config.Parse([]byte(`providers: [{name: a, base_url: "http://a", models: [{id: a/one}]}]`), func(string) (string, bool) { return "", false })
	cat, _ := catalog.Build(cfg, nil, time.Now())
	if _, err := New(cat, map[string]provider.Provider{}, slog.Default()); err == nil {
		t.Fatal("router built over a provider that does not exist")
	}
}
