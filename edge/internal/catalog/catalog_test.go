package catalog

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/config"
)

func testConfig(t *testing.T) *config.Config {
	t.Helper()
	cfg, err := config.Parse([]byte(`
providers:
  - name: oa
    base_url: http://x/v1
    passthrough: "openai/"
    models:
      - {id: openai/gpt-4o-mini, upstream_id: gpt-4o-mini, aliases: [gpt-4o-mini], context_length: 128000, max_completion_tokens: 16384,
         pricing: {prompt: 0.15, completion: 0.6, input_cache_read: 0.075}, supported_parameters: [tools, temperature]}
  - name: or
    base_url: http://y/v1
    passthrough: "*"
`), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestResolve(t *testing.T) {
	extra := []*Model{{ID: "sim/chat", Endpoints: []Endpoint{{Provider: "sim", UpstreamID: "chat"}}}}
	c, err := Build(testConfig(t), extra, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, id, provider, upstream string
		ok                           bool
	}{
		{"listed", "openai/gpt-4o-mini", "oa", "gpt-4o-mini", true},
		{"alias", "gpt-4o-mini", "oa", "gpt-4o-mini", true},
		{"extra", "sim/chat", "sim", "chat", true},
		{"prefix passthrough wins over star", "openai/o3", "oa", "o3", true},
		{"star passthrough", "anthropic/claude-sonnet-4", "or", "anthropic/claude-sonnet-4", true},
		{"bare unknown id is not passed through", "mystery", "", "", false},
		{"bare prefix falls to the catch-all", "openai/", "or", "openai/", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, ok := c.Resolve(tt.id)
			if ok != tt.ok {
				t.Fatalf("Resolve(%q) ok = %v", tt.id, ok)
			}
			if !ok {
				return
			}
			if ep := m.Endpoints[0]; ep.Provider != tt.provider || ep.UpstreamID != tt.upstream {
				t.Fatalf("Resolve(%q) = %+v", tt.id, ep)
			}
		})
	}
}

func TestModelsJSON(t *testing.T) {
	c, err := Build(testConfig(t), nil, time.Unix(1700000000, 0))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Object string `json:"object"`
		Data   []struct {
			ID            string            `json:"id"`
			Object        string            `json:"object"`
			Created       int64             `json:"created"`
			ContextLength int               `json:"context_length"`
			Pricing       map[string]string `json:"pricing"`
			Architecture  struct {
				Modality string `json:"modality"`
			} `json:"architecture"`
			TopProvider struct {
				MaxCompletionTokens int `json:"max_completion_tokens"`
			} `json:"top_provider"`
			SupportedParameters []string `json:"supported_parameters"`
		} `json:"data"`
	}
	if err := json.Unmarshal(c.ModelsJSON(), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Object != "list" || len(doc.Data) != 1 {
		t.Fatalf("doc = %+v", doc)
	}
	m := doc.Data[0]
	if m.ID != "openai/gpt-4o-mini" || m.Object != "model" || m.Created != 1700000000 || m.ContextLength != 128000 ||
		m.TopProvider.MaxCompletionTokens != 16384 || m.Architecture.Modality != "text->text" || len(m.SupportedParameters) != 2 {
		t.Fatalf("model = %+v", m)
	}
	want := map[string]string{"prompt": "0.00000015", "completion": "0.0000006", "input_cache_read": "0.000000075", "request": "0", "image": "0"}
	for k, v := range want {
		if m.Pricing[k] != v {
			t.Errorf("pricing.%s = %q, want %q", k, m.Pricing[k], v)
		}
	}
}

func TestPerToken(t *testing.T) {
	tests := map[float64]string{0: "0", 0.15: "0.00000015", 2.5: "0.0000025", 10: "0.00001", 1500000: "1.5", 0.075: "0.000000075", 15: "0.000015"}
	for in, want := range tests {
		if got := PriceString(perToken(in)); got != want {
			t.Errorf("perToken(%g) = %s, want %s", in, got, want)
		}
	}
}

func TestDuplicateIDRejected(t *testing.T) {
	extra := []*Model{{ID: "openai/gpt-4o-mini"}}
	if _, err := Build(testConfig(t), extra, time.Now()); err == nil {
		t.Fatal("a model id claimed twice was accepted")
	}
}
