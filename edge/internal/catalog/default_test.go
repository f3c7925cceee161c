package catalog

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/crossroads-llm/crossroads/edge/internal/config"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// TestDefaultCatalog keeps the embedded catalog valid: parsed strictly, every endpoint on
// a declared provider, no negative price, no model without an endpoint, no id or alias
// naming two models, and every name a request can carry known to routing.
func TestDefaultCatalog(t *testing.T) {
	var doc fileDoc
	dec := yaml.NewDecoder(bytes.NewReader(Default()))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatalf("strict parse: %v", err)
	}
	if err := doc.validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := time.Parse(time.DateOnly, doc.Updated); err != nil {
		t.Fatalf("updated = %q: %v", doc.Updated, err)
	}
	providers := map[string]bool{}
	for _, p := range doc.Providers {
		if p.Name == "" || p.APIKeyEnv == "" || p.Region == "" || p.Pricing == "" {
			t.Errorf("provider %s: name, api_key_env, region and pricing are expected: %+v", p.Slug, p)
		}
		providers[p.Slug] = true
	}
	names := map[string]string{}
	for _, m := range doc.Models {
		if len(m.Endpoints) == 0 {
			t.Errorf("model %s has no endpoint", m.ID)
		}
		if m.Name == "" || m.Created == "" || m.ContextLength <= 0 || !strings.Contains(m.ID, "/") {
			t.Errorf("model %s: name, created, context_length and an author/slug id are expected", m.ID)
		}
		for _, n := range append([]string{m.ID}, m.Aliases...) {
			if prev, dup := names[n]; dup {
				t.Errorf("%q names both %s and %s", n, prev, m.ID)
			}
			names[n] = m.ID
		}
		lists := [][]string{m.SupportedParameters}
		for _, e := range m.Endpoints {
			if !providers[e.Provider] {
				t.Errorf("model %s: endpoint on undeclared provider %q", m.ID, e.Provider)
			}
			if e.UpstreamID == "" {
				t.Errorf("model %s: endpoint %s has no upstream_id", m.ID, e.Provider)
			}
			if p := e.Pricing; p == nil || p.Prompt < 0 || p.Completion < 0 || p.Request < 0 || p.InputCacheRead < 0 || p.InputCacheWrite < 0 {
				t.Errorf("model %s: endpoint %s: missing or negative price %+v", m.ID, e.Provider, e.Pricing)
			} else if p.Prompt == 0 && p.Completion == 0 {
				t.Errorf("model %s: endpoint %s is free: a missing price?", m.ID, e.Provider)
			}
			lists = append(lists, e.SupportedParameters)
		}
		for _, l := range lists {
			if _, unknown := llm.ParamSetOf(l); len(unknown) > 0 {
				t.Errorf("model %s: parameters routing does not know: %v", m.ID, unknown)
			}
		}
	}
}

// TestDefaultCatalogBuilds activates every default provider and checks the result: all
// models served, OpenRouter on every model, and a key activating exactly its provider.
func TestDefaultCatalogBuilds(t *testing.T) {
	var doc fileDoc
	if err := yaml.Unmarshal(Default(), &doc); err != nil {
		t.Fatal(err)
	}
	var kv []string
	for _, p := range doc.Providers {
		kv = append(kv, p.APIKeyEnv, "sk-"+p.Slug)
	}
	cfg, err := config.Default(env(kv...))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Build(cfg, Options{Created: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers()) != len(doc.Providers) || len(c.Models()) != len(doc.Models) || c.Updated() != doc.Updated {
		t.Fatalf("%d providers, %d models, updated %q", len(c.Providers()), len(c.Models()), c.Updated())
	}
	for _, m := range c.Models() {
		last := m.Endpoints[len(m.Endpoints)-1]
		if last.Provider != "openrouter" || last.UpstreamID != m.ID || last.Pricing != m.Pricing {
			t.Errorf("model %s: last endpoint %+v", m.ID, last)
		}
	}
	if m, ok := c.Resolve("gpt-4o-mini"); !ok || m.ID != "openai/gpt-4o-mini" || m.Endpoints[0].UpstreamID != "gpt-4o-mini" || m.Pricing.Prompt != 0.00000015 {
		t.Fatalf("gpt-4o-mini = %+v", m)
	}
	if m, ok := c.Resolve("openai/gpt-3.5-turbo"); !ok || m.Endpoints[0].Provider != "openai" || m.Endpoints[0].UpstreamID != "gpt-3.5-turbo" {
		t.Fatalf("openai passthrough = %+v", m)
	}
	if m, ok := c.Resolve("x-ai/grok-4"); !ok || m.Endpoints[0].Provider != "openrouter" {
		t.Fatalf("openrouter passthrough = %+v", m)
	}

	// One key: only that provider and its models.
	cfg, _ = config.Default(env("GROQ_API_KEY", "g"))
	c, err = Build(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Providers()) != 1 || c.Providers()[0].Slug != "groq" || c.Providers()[0].BaseURL != "https://api.groq.com/openai/v1" {
		t.Fatalf("providers = %+v", c.Providers())
	}
	for _, m := range c.Models() {
		if len(m.Endpoints) != 1 || m.Endpoints[0].Provider != "groq" {
			t.Errorf("model %s endpoints = %+v", m.ID, m.Endpoints)
		}
	}
	if m, ok := c.Resolve("llama-3.3-70b"); !ok || m.Endpoints[0].UpstreamID != "llama-3.3-70b-versatile" || m.Endpoints[0].Params.Has(llm.ParamTopK) {
		t.Fatalf("llama on groq = %+v", m)
	}
}
