package httpapi

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

func TestEndpointsPath(t *testing.T) {
	tests := []struct {
		path, id string
		ok       bool
	}{
		{"/api/v1/models/openai/gpt-4o/endpoints", "openai/gpt-4o", true},
		{"/v1/models/meta-llama/llama-3.3-70b-instruct/endpoints", "meta-llama/llama-3.3-70b-instruct", true},
		{"/api/v1/models/gpt-4o/endpoints", "", false},
		{"/api/v1/models/a/b/c/endpoints", "", false},
		{"/api/v1/models//b/endpoints", "", false},
		{"/api/v1/models/a/b", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			id, ok := endpointsPath(tt.path)
			if id != tt.id || ok != tt.ok {
				t.Fatalf("endpointsPath = %q, %v", id, ok)
			}
		})
	}
}

func TestModelsQueries(t *testing.T) {
	a := New(Options{
		Models: func() []byte { return []byte(`{"object":"list","data":["all"]}`) },
		ModelsFiltered: func(q url.Values) ([]byte, error) {
			if q.Get("supported_parameters") == "bogus" {
				return nil, errors.New("supported_parameters: unknown parameter \"bogus\"")
			}
			return []byte(`{"object":"list","data":["filtered"]}`), nil
		},
		Endpoints: func(id string) ([]byte, bool) { return []byte(`{"data":{"id":"` + id + `"}}`), id == "a/b" },
	})
	tests := []struct {
		name, target string
		status       int
		contains     string
	}{
		{"unfiltered", "/v1/models", 200, "all"},
		{"filtered", "/v1/models?supported_parameters=tools", 200, "filtered"},
		{"bad filter is a 400", "/api/v1/models?supported_parameters=bogus", 400, "bogus"},
		{"malformed query", "/v1/models?%zz", 400, "malformed"},
		{"endpoints", "/api/v1/models/a/b/endpoints", 200, `"id":"a/b"`},
		{"unknown model endpoints", "/api/v1/models/x/y/endpoints", 404, "not served"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			a.ServeHTTP(w, httptest.NewRequest(http.MethodGet, tt.target, nil))
			if w.Code != tt.status || !strings.Contains(w.Body.String(), tt.contains) {
				t.Fatalf("%d %s", w.Code, w.Body.String())
			}
		})
	}
}
