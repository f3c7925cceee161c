package catalog

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/config"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// testCatalog is a small catalog file, so the tests do not move when default.yaml's prices do.
const testCatalog = `
updated: 2026-01-02
providers:
  - {slug: alpha, name: Alpha, base_url: "https://alpha.example/v1", api_key_env: ALPHA_KEY, base_url_env: ALPHA_BASE_URL,
     passthrough: "alpha/", data_policy: {retains: true}, region: us, headers: {X-From: catalog}}
  - {slug: beta, name: Beta Cloud, base_url: "https://beta.example/v1", api_key_env: BETA_KEY, data_policy: {trains: true}, region: eu}
  - {slug: agg, name: Aggregator, base_url: "https://agg.example/v1", api_key_env: AGG_KEY, passthrough: "*", serves_catalog: true}
models:
  - id: alpha/big
    name: "Alpha: Big"
    aliases: [big]
    created: 2025-01-02
    context_length: 100000
    max_completion_tokens: 8000
    input_modalities: [text, image]
    tokenizer: GPT
    supported_parameters: [temperature, tools, max_tokens]
    endpoints:
      - {provider: alpha, upstream_id: big-1, pricing: {prompt: 2, completion: 8, input_cache_read: 0.5}}
      - {provider: beta, upstream_id: Alpha/Big, quantization: fp8, context_length: 32000, pricing: {prompt: 1, completion: 4},
         supported_parameters: [temperature, top_k]}
      - {provider: beta, tag: turbo, upstream_id: Alpha/Big-Turbo, region: us, pricing: {prompt: 3, completion: 3}}
  - id: beta/small
    name: "Beta: Small"
    created: 2025-06-01
    context_length: 8000
    supported_parameters: [temperature]
    endpoints:
      - {provider: beta, upstream_id: small, pricing: {prompt: 0.1, completion: 0.2}}
`

func env(kv ...string) func(string) (string, bool) {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return func(k string) (string, bool) { v, ok := m[k]; return v, ok }
}

// build parses a configuration with a fake environment and builds it over testCatalog.
func build(t testing.TB, cfgYAML string, lookup func(string) (string, bool)) (*Catalog, error) {
	t.Helper()
	cfg, err := config.Parse([]byte(cfgYAML), lookup)
	if err != nil {
		t.Fatal(err)
	}
	return Build(cfg, Options{Defaults: []byte(testCatalog), Created: time.Unix(1700000000, 0)})
}

func mustBuild(t testing.TB, cfgYAML string, lookup func(string) (string, bool)) *Catalog {
	t.Helper()
	c, err := build(t, cfgYAML, lookup)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func slugs(c *Catalog) []string {
	var out []string
	for _, p := range c.Providers() {
		out = append(out, p.Slug)
	}
	return out
}

func tags(m *Model) []string {
	var out []string
	for _, ep := range m.Endpoints {
		out = append(out, ep.Tag)
	}
	return out
}

func TestBuildProviders(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		env    []string
		slugs  []string
		check  func(t *testing.T, c *Catalog)
		errHas string
	}{
		{name: "no key and no entry leaves every catalog provider inactive", slugs: nil,
			check: func(t *testing.T, c *Catalog) {
				if len(c.Models()) != 0 || string(c.ModelsJSON()) != `{"object":"list","data":[]}` {
					t.Fatalf("models = %v, %s", c.Models(), c.ModelsJSON())
				}
			}},
		{name: "a key in the environment activates its provider", env: []string{"ALPHA_KEY", "sk-a", "BETA_KEY", ""}, slugs: []string{"alpha"},
			check: func(t *testing.T, c *Catalog) {
				p := c.Provider("alpha")
				if p.APIKey != "sk-a" || p.BaseURL != "https://alpha.example/v1" || p.Name != "Alpha" || p.Format != "openai" ||
					!p.Retains || p.Trains || p.Region != "us" || p.Passthrough != "alpha/" || p.Timeout != 10*time.Minute ||
					p.ConnectTimeout != 10*time.Second || p.Headers["X-From"] != "catalog" {
					t.Fatalf("alpha = %+v", p)
				}
				if c.Provider("beta") != nil {
					t.Fatal("an empty key activated beta")
				}
			}},
		{name: "base url variable overrides the catalog's", env: []string{"ALPHA_KEY", "k", "ALPHA_BASE_URL", "http://127.0.0.1:9/v1"}, slugs: []string{"alpha"},
			check: func(t *testing.T, c *Catalog) {
				if got := c.Provider("alpha").BaseURL; got != "http://127.0.0.1:9/v1" {
					t.Fatalf("base url = %q", got)
				}
			}},
		{name: "configuration wins over the catalog",
			cfg: `providers:
  - {name: alpha, display_name: A, api_key: k2, region: eu, data_policy: {retains: false}, headers: {X-Mine: "1"}, timeout: 1m, first_byte_timeout: 5s}`,
			env: []string{"ALPHA_KEY", "k1"}, slugs: []string{"alpha"},
			check: func(t *testing.T, c *Catalog) {
				p := c.Provider("alpha")
				if p.Name != "A" || p.APIKey != "k2" || p.Region != "eu" || p.Retains || p.BaseURL != "https://alpha.example/v1" ||
					p.Timeout != time.Minute || p.FirstByteTimeout != 5*time.Second || p.Headers["X-Mine"] != "1" || p.Headers["X-From"] != "catalog" {
					t.Fatalf("alpha = %+v", p)
				}
			}},
		{name: "a configured catalog provider is active without a key", cfg: "providers:\n  - name: beta\n", slugs: []string{"beta"},
			check: func(t *testing.T, c *Catalog) {
				if p := c.Provider("beta"); p.APIKey != "" || p.Name != "Beta Cloud" || !p.Trains {
					t.Fatalf("beta = %+v", p)
				}
			}},
		{name: "a provider the catalog does not know",
			cfg:   "providers:\n  - {name: own, base_url: 'http://own/v1', models: [{id: own/m}]}\n",
			slugs: []string{"own"},
			check: func(t *testing.T, c *Catalog) {
				if p := c.Provider("own"); p.Name != "own" || p.Format != "openai" || p.BaseURL != "http://own/v1" {
					t.Fatalf("own = %+v", p)
				}
			}},
		{name: "an aggregator the catalog does not know needs only serves_catalog",
			cfg:   "providers:\n  - {name: own, base_url: 'http://own/v1', serves_catalog: true}\n",
			slugs: []string{"own"},
			check: func(t *testing.T, c *Catalog) {
				if m, ok := c.Resolve("beta/small"); !ok || m.Endpoints[0].Provider != "own" || m.Endpoints[0].Pricing.Prompt != 0.0000001 {
					t.Fatalf("beta/small = %+v", m)
				}
			}},
		{name: "providers are sorted by slug", env: []string{"BETA_KEY", "b", "AGG_KEY", "g", "ALPHA_KEY", "a"}, slugs: []string{"agg", "alpha", "beta"}},
		{name: "unknown provider without base url", cfg: "providers:\n  - {name: own, models: [{id: own/m}]}\n",
			errHas: "catalog: provider own: not in the catalog: set base_url and models or passthrough"},
		{name: "unknown provider without models", cfg: "providers:\n  - {name: own, base_url: 'http://own/v1'}\n",
			errHas: "provider own: not in the catalog"},
		{name: "bad base url variable", env: []string{"ALPHA_KEY", "k", "ALPHA_BASE_URL", "nope"}, errHas: "catalog: provider alpha: ALPHA_BASE_URL: want an absolute"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := build(t, tt.cfg, env(tt.env...))
			if tt.errHas != "" {
				if err == nil || !strings.Contains(err.Error(), tt.errHas) {
					t.Fatalf("err = %v, want %q", err, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := slugs(c); !slices.Equal(got, tt.slugs) {
				t.Fatalf("active = %v, want %v", got, tt.slugs)
			}
			if tt.check != nil {
				tt.check(t, c)
			}
		})
	}
}

func TestBuildEndpoints(t *testing.T) {
	c := mustBuild(t, "", env("ALPHA_KEY", "a", "BETA_KEY", "b"))
	if c.Updated() != "2026-01-02" {
		t.Fatalf("updated = %q", c.Updated())
	}
	for i, ep := range c.Endpoints() {
		if ep.ID != i {
			t.Fatalf("endpoint %s has ID %d at index %d", ep.Key, ep.ID, i)
		}
	}
	m, ok := c.Resolve("alpha/big")
	if !ok {
		t.Fatal("alpha/big not served")
	}
	if got := tags(m); !slices.Equal(got, []string{"alpha", "beta", "beta/turbo"}) {
		t.Fatalf("tags = %v", got)
	}
	a, b, turbo := m.Endpoints[0], m.Endpoints[1], m.Endpoints[2]
	tests := []struct {
		name string
		ok   bool
	}{
		{"keys", a.Key == "alpha/big@alpha" && b.Key == "alpha/big@beta" && turbo.Key == "alpha/big@beta/turbo"},
		{"back-pointers", a.Model == m && b.Model == m && turbo.Model == m},
		{"provider names", a.Provider == "alpha" && a.ProviderName == "Alpha" && turbo.Provider == "beta" && turbo.ProviderName == "Beta Cloud"},
		{"upstream ids", a.UpstreamID == "big-1" && b.UpstreamID == "Alpha/Big" && turbo.UpstreamID == "Alpha/Big-Turbo"},
		{"data policy from the provider", a.Retains && !a.Trains && !b.Retains && b.Trains},
		{"region from the provider unless the endpoint has one", a.Region == "us" && b.Region == "eu" && turbo.Region == "us"},
		{"context inherited unless declared", a.ContextLength == 100000 && b.ContextLength == 32000 && turbo.MaxCompletionTokens == 8000},
		{"quantization", b.Quantization == "fp8" && a.Quantization == ""},
		{"endpoint parameters replace the model's", slices.Equal(b.SupportedParameters, []string{"temperature", "top_k"}) &&
			b.Params.Has(llm.ParamTopK) && !b.Params.Has(llm.ParamTools)},
		{"model parameters inherited", slices.Equal(a.SupportedParameters, []string{"temperature", "tools", "max_tokens"}) && a.Params.Has(llm.ParamTools)},
		{"model parameters are the union", slices.Equal(m.SupportedParameters, []string{"temperature", "tools", "max_tokens", "top_k"})},
		{"model price is the cheapest endpoint's", m.Pricing == b.Pricing && m.Pricing.Prompt == 0.000001},
		{"model context is the largest endpoint's", m.ContextLength == 100000 && m.MaxCompletionTokens == 8000},
		{"created from the file", m.Created == time.Date(2025, 1, 2, 0, 0, 0, 0, time.UTC).Unix()},
		{"modalities and tokenizer", slices.Equal(m.InputModalities, []string{"text", "image"}) && slices.Equal(m.OutputModalities, []string{"text"}) && m.Tokenizer == "GPT"},
		{"endpoints index", c.Endpoints()[b.ID] == b},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: endpoints = %+v %+v %+v", tt.name, a, b, turbo)
		}
	}
	pt := c.Endpoints()[len(c.Endpoints())-1]
	if !pt.Passthrough || pt.Key != "*@alpha" || pt.Provider != "alpha" || pt.Params != llm.AllParams {
		t.Fatalf("passthrough endpoint = %+v", pt)
	}
}

func TestInactiveEndpointsHidden(t *testing.T) {
	c := mustBuild(t, "", env("ALPHA_KEY", "a"))
	if _, ok := c.Resolve("beta/small"); ok {
		t.Fatal("a model without an active endpoint resolves")
	}
	if strings.Contains(string(c.ModelsJSON()), "beta/small") {
		t.Fatal("a model without an active endpoint is listed")
	}
	m, _ := c.Resolve("big")
	if got := tags(m); !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("tags = %v", got)
	}
	// With beta's endpoints gone, alpha's is the model's price and parameters.
	if m.Pricing.Prompt != 0.000002 || len(m.SupportedParameters) != 3 {
		t.Fatalf("model = %+v", m)
	}
}

func TestServesCatalog(t *testing.T) {
	tests := []struct {
		name  string
		cfg   string
		env   []string
		check func(t *testing.T, c *Catalog)
	}{
		{name: "an aggregator serves every catalog model at its list price", env: []string{"AGG_KEY", "g"},
			check: func(t *testing.T, c *Catalog) {
				if len(c.Models()) != 2 {
					t.Fatalf("models = %d", len(c.Models()))
				}
				m, _ := c.Resolve("alpha/big")
				ep := m.Endpoints[0]
				if len(m.Endpoints) != 1 || ep.Provider != "agg" || ep.Tag != "agg" || ep.UpstreamID != "alpha/big" ||
					ep.Pricing.Prompt != 0.000001 || ep.Pricing.Completion != 0.000004 || ep.ContextLength != 100000 ||
					!slices.Equal(ep.SupportedParameters, []string{"temperature", "tools", "max_tokens"}) {
					t.Fatalf("aggregator endpoint = %+v", ep)
				}
			}},
		{name: "after the provider's own endpoints", env: []string{"AGG_KEY", "g", "BETA_KEY", "b"},
			check: func(t *testing.T, c *Catalog) {
				m, _ := c.Resolve("alpha/big")
				if got := tags(m); !slices.Equal(got, []string{"beta", "beta/turbo", "agg"}) {
					t.Fatalf("tags = %v", got)
				}
			}},
		{name: "a configured endpoint is not doubled", env: []string{"AGG_KEY", "g"},
			cfg: "providers:\n  - {name: agg, models: [{id: beta/small, upstream_id: vendor/small}]}\n",
			check: func(t *testing.T, c *Catalog) {
				m, _ := c.Resolve("beta/small")
				if len(m.Endpoints) != 1 || m.Endpoints[0].UpstreamID != "vendor/small" {
					t.Fatalf("endpoints = %+v", m.Endpoints)
				}
			}},
		{name: "configuration turns it off", env: []string{"AGG_KEY", "g"}, cfg: "providers:\n  - {name: agg, serves_catalog: false}\n",
			check: func(t *testing.T, c *Catalog) {
				if len(c.Models()) != 0 {
					t.Fatalf("models = %d", len(c.Models()))
				}
				if m, ok := c.Resolve("alpha/big"); !ok || !m.Endpoints[0].Passthrough {
					t.Fatal("passthrough lost")
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.check(t, mustBuild(t, tt.cfg, env(tt.env...))) })
	}
}

func TestConfigMerge(t *testing.T) {
	c := mustBuild(t, `
providers:
  - name: beta
    models:
      - {id: alpha/big, upstream_id: Alpha/Big-v2, pricing: {prompt: 0.5, completion: 1}, aliases: [big-model]}
      - {id: alpha/big, tag: new, quantization: int4, tags: [cheap]}
      - {id: beta/small, name: "Small (ours)", input_modalities: [text, audio], context_length: 4000}
  - name: own
    base_url: http://own/v1
    models:
      - {id: alpha/big, context_length: 200000}
      - {id: own/m, max_completion_tokens: 100, supported_parameters: [seed, frobnicate]}
`, env())
	big, ok := c.Resolve("big-model")
	if !ok || big.ID != "alpha/big" {
		t.Fatal("configured alias not resolved")
	}
	if got := tags(big); !slices.Equal(got, []string{"beta", "beta/turbo", "beta/new", "own"}) {
		t.Fatalf("tags = %v", got)
	}
	b, turbo, nw, own := big.Endpoints[0], big.Endpoints[1], big.Endpoints[2], big.Endpoints[3]
	tests := []struct {
		name string
		ok   bool
	}{
		{"config overrides the catalog endpoint", b.UpstreamID == "Alpha/Big-v2" && b.Pricing.Prompt == 0.0000005},
		{"fields the config leaves out stay the catalog's", b.Quantization == "fp8" && b.ContextLength == 32000},
		{"other endpoints untouched", turbo.UpstreamID == "Alpha/Big-Turbo"},
		{"a new tag adds an endpoint", nw.Key == "alpha/big@beta/new" && nw.UpstreamID == "alpha/big" && nw.Quantization == "int4" &&
			slices.Equal(nw.Tags, []string{"cheap"}) && nw.ContextLength == 100000},
		{"a provider outside the catalog adds one", own.Provider == "own" && own.ContextLength == 200000 && own.Pricing == (Pricing{})},
		{"model-level fields stay the catalog's", big.Name == "Alpha: Big" && big.ContextLength == 200000 && big.Pricing == own.Pricing},
		{"catalog alias kept", c.byID["big"] == big},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s: %+v", tt.name, big.Endpoints)
		}
	}
	small, _ := c.Resolve("beta/small")
	if small.Name != "Small (ours)" || !slices.Equal(small.InputModalities, []string{"text", "audio"}) || small.ContextLength != 4000 {
		t.Fatalf("small = %+v", small)
	}
	m, ok := c.Resolve("own/m")
	if !ok || m.Name != "own/m" || m.MaxCompletionTokens != 100 || m.Created != 1700000000 ||
		!m.Endpoints[0].Params.Has(llm.ParamSeed) || m.Endpoints[0].Params.Has(llm.ParamTools) {
		t.Fatalf("own/m = %+v %+v", m, m.Endpoints[0])
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name, cfg string
		opts      Options
		errHas    string
	}{
		{name: "alias collides with a catalog id", cfg: "providers:\n  - {name: beta, models: [{id: x/y, aliases: [alpha/big]}]}\n",
			errHas: `catalog: add model x/y: "alpha/big" already names model alpha/big`},
		{name: "extra model id taken", cfg: "providers:\n  - {name: beta}\n",
			opts:   Options{Extra: []*Model{{ID: "beta/small", Endpoints: []*Endpoint{{Provider: "sim"}}}}, ExtraProviders: []*Provider{{Slug: "sim"}}},
			errHas: "catalog: add model beta/small: the id is a built-in model's"},
		{name: "configured model id taken by an extra", cfg: "providers:\n  - {name: beta, models: [{id: own/x}]}\n",
			opts:   Options{Extra: []*Model{{ID: "own/x", Endpoints: []*Endpoint{{Provider: "sim"}}}}, ExtraProviders: []*Provider{{Slug: "sim"}}},
			errHas: "catalog: add model own/x of provider beta: the id is a built-in model's"},
		{name: "extra endpoint without its provider", opts: Options{Extra: []*Model{{ID: "sim/a", Endpoints: []*Endpoint{{Provider: "sim"}}}}},
			errHas: `catalog: add extra model sim/a: provider "sim" is not among the extra providers`},
		{name: "extra provider twice", cfg: "providers:\n  - {name: beta}\n", opts: Options{ExtraProviders: []*Provider{{Slug: "beta"}}},
			errHas: "catalog: activate provider beta: declared twice"},
		{name: "catalog file unknown field", opts: Options{Defaults: []byte("providers: []\nmodels: []\nprice: 1\n")},
			errHas: "catalog: load defaults: parse: yaml: unmarshal errors:\n  line 3: field price not found"},
		{name: "catalog endpoint names an undeclared provider", opts: Options{Defaults: []byte("models:\n- {id: a/b, endpoints: [{provider: nope}]}\n")},
			errHas: `provider "nope" is not declared`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := config.Parse([]byte(tt.cfg), env())
			if err != nil {
				t.Fatal(err)
			}
			if tt.opts.Defaults == nil {
				tt.opts.Defaults = []byte(testCatalog)
			}
			if _, err := Build(cfg, tt.opts); err == nil || !strings.Contains(err.Error(), tt.errHas) {
				t.Fatalf("err = %v, want %q", err, tt.errHas)
			}
		})
	}
}

func TestExtraModelsCopied(t *testing.T) {
	extra := []*Model{{ID: "sim/chat", Name: "Sim", ContextLength: 4096, SupportedParameters: []string{"temperature"},
		Endpoints: []*Endpoint{{Provider: "sim", UpstreamID: "chat"}}}}
	providers := []*Provider{{Slug: "sim", Name: "Crossroads Sim"}}
	cfg, _ := config.Default(env("ALPHA_KEY", "a"))
	var first *Endpoint
	for range 2 {
		c, err := Build(cfg, Options{Extra: extra, ExtraProviders: providers, Defaults: []byte(testCatalog)})
		if err != nil {
			t.Fatal(err)
		}
		m, _ := c.Resolve("sim/chat")
		ep := m.Endpoints[0]
		if c.Models()[0] != m || ep.ID != 0 || ep.Key != "sim/chat@sim" || ep.Tag != "sim" || ep.ProviderName != "Crossroads Sim" ||
			ep.ContextLength != 4096 || ep.Params != llm.ParamSet(0).With(llm.ParamTemperature) || ep.Model != m {
			t.Fatalf("sim endpoint = %+v", ep)
		}
		if first == nil {
			first = ep
		} else if first == ep || first.Model == m {
			t.Fatal("two generations share an endpoint")
		}
	}
	if e := extra[0].Endpoints[0]; e.Model != nil || e.Key != "" {
		t.Fatalf("Build wrote to the caller's extra endpoint: %+v", e)
	}
}

func TestCatalogFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "catalog.yaml")
	if err := os.WriteFile(path, []byte(testCatalog), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Parse([]byte("catalog_file: "+path+"\n"), env("BETA_KEY", "b"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := Build(cfg, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if c.Updated() != "2026-01-02" || len(c.Models()) != 2 {
		t.Fatalf("catalog file not used: %s %d", c.Updated(), len(c.Models()))
	}
	cfg.CatalogFile = filepath.Join(t.TempDir(), "missing.yaml")
	if _, err := Build(cfg, Options{}); err == nil || !strings.Contains(err.Error(), "catalog: read catalog_file") {
		t.Fatalf("missing file err = %v", err)
	}
}

func TestResolve(t *testing.T) {
	c := mustBuild(t, `
providers:
  - {name: oa, base_url: 'http://x/v1', passthrough: "openai/", models: [{id: openai/gpt-4o-mini, upstream_id: gpt-4o-mini, aliases: [gpt-4o-mini]}]}
  - {name: or, base_url: 'http://y/v1', passthrough: "*"}
`, env("ALPHA_KEY", "a"))
	tests := []struct {
		name, id, provider, upstream string
		ok                           bool
	}{
		{"listed", "openai/gpt-4o-mini", "oa", "gpt-4o-mini", true},
		{"alias", "gpt-4o-mini", "oa", "gpt-4o-mini", true},
		{"catalog alias", "big", "alpha", "big-1", true},
		{"prefix passthrough wins over star", "openai/o3", "oa", "o3", true},
		{"catalog prefix passthrough", "alpha/other", "alpha", "other", true},
		{"star passthrough", "anthropic/claude-sonnet-4", "or", "anthropic/claude-sonnet-4", true},
		{"bare unknown id is not passed through", "mystery", "", "", false},
		{"bare prefix falls to the catch-all", "openai/", "or", "openai/", true},
		{"variant suffix is not resolved by Resolve to the base", "gpt-4o-mini:nitro", "", "", false},
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

func TestPassthroughEndpoint(t *testing.T) {
	c := mustBuild(t, "", env("ALPHA_KEY", "a", "AGG_KEY", "g"))
	shared := c.Endpoints()[len(c.Endpoints())-2:]
	if shared[0].Key != "*@agg" || shared[1].Key != "*@alpha" {
		t.Fatalf("passthrough endpoints = %+v %+v", shared[0], shared[1])
	}
	m1, _ := c.Resolve("alpha/one")
	m2, _ := c.Resolve("alpha/two")
	e1, e2 := m1.Endpoints[0], m2.Endpoints[0]
	if e1 == e2 || e1 == shared[1] || e1.ID != shared[1].ID || e2.ID != shared[1].ID || !e1.Passthrough || e1.Key != "*@alpha" {
		t.Fatalf("passthrough copies = %+v %+v", e1, e2)
	}
	if e1.UpstreamID != "one" || e2.UpstreamID != "two" || e1.Model != m1 || m1.ID != "alpha/one" || shared[1].UpstreamID != "" || shared[1].Model != nil {
		t.Fatalf("passthrough = %+v %+v shared %+v", e1, e2, shared[1])
	}
	if e, _ := c.Resolve("x/y"); e.Endpoints[0].ID != shared[0].ID || e.Endpoints[0].ProviderName != "Aggregator" {
		t.Fatalf("star passthrough = %+v", e.Endpoints[0])
	}
}

func TestResolveVariant(t *testing.T) {
	c := mustBuild(t, `
providers:
  - {name: beta, models: [{id: "beta/small:free", upstream_id: small-free}]}
`, env("ALPHA_KEY", "a", "BETA_KEY", "b", "AGG_KEY", "g"))
	tests := []struct {
		name, id, model, variant, upstream string
		ok                                 bool
	}{
		{"plain id", "alpha/big", "alpha/big", "", "big-1", true},
		{"nitro on a listed id", "alpha/big:nitro", "alpha/big", "nitro", "big-1", true},
		{"floor on an alias", "big:floor", "alpha/big", "floor", "big-1", true},
		{"a listed suffixed id is its own model", "beta/small:free", "beta/small:free", "", "small-free", true},
		{"prefix passthrough gets the base id", "alpha/unlisted:nitro", "alpha/unlisted", "nitro", "unlisted", true},
		{"star passthrough keeps the suffix", "x/y:free", "x/y:free", "", "x/y:free", true},
		{"unknown bare id", "nothing:nitro", "", "", "", false},
		{"an empty suffix is no variant", "alpha/big:", "alpha/big:", "", "big:", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, v, ok := c.ResolveVariant(tt.id)
			if ok != tt.ok {
				t.Fatalf("ResolveVariant(%q) ok = %v", tt.id, ok)
			}
			if !ok {
				return
			}
			if m.ID != tt.model || v != tt.variant || m.Endpoints[0].UpstreamID != tt.upstream {
				t.Fatalf("ResolveVariant(%q) = %s %q %+v", tt.id, m.ID, v, m.Endpoints[0])
			}
		})
	}
	if _, ok := c.Resolve("big:nitro"); ok {
		t.Fatal("Resolve resolved a variant")
	}
}

// emptyCatalog builds configurations alone, the way the tests before the catalog file did.
var emptyCatalog = []byte("providers: []\nmodels: []\n")

func TestModelsJSON(t *testing.T) {
	cfg, err := config.Parse([]byte(`
providers:
  - name: oa
    base_url: http://x/v1
    passthrough: "openai/"
    models:
      - {id: openai/gpt-4o-mini, upstream_id: gpt-4o-mini, aliases: [gpt-4o-mini], context_length: 128000, max_completion_tokens: 16384,
         pricing: {prompt: 0.15, completion: 0.6, input_cache_read: 0.075}, supported_parameters: [tools, temperature]}
`), env())
	if err != nil {
		t.Fatal(err)
	}
	c, err := Build(cfg, Options{Defaults: emptyCatalog, Created: time.Unix(1700000000, 0)})
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Object string `json:"object"`
		Data   []struct {
			ID            string            `json:"id"`
			Object        string            `json:"object"`
			OwnedBy       string            `json:"owned_by"`
			Name          string            `json:"name"`
			Created       int64             `json:"created"`
			ContextLength int               `json:"context_length"`
			Pricing       map[string]string `json:"pricing"`
			Architecture  struct {
				Modality  string `json:"modality"`
				Tokenizer string `json:"tokenizer"`
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
	if m.ID != "openai/gpt-4o-mini" || m.Object != "model" || m.OwnedBy != "openai" || m.Name != "openai/gpt-4o-mini" ||
		m.Created != 1700000000 || m.ContextLength != 128000 || m.TopProvider.MaxCompletionTokens != 16384 ||
		m.Architecture.Modality != "text->text" || m.Architecture.Tokenizer != "Other" || len(m.SupportedParameters) != 2 {
		t.Fatalf("model = %+v", m)
	}
	want := map[string]string{"prompt": "0.00000015", "completion": "0.0000006", "input_cache_read": "0.000000075", "request": "0", "image": "0"}
	for k, v := range want {
		if m.Pricing[k] != v {
			t.Errorf("pricing.%s = %q, want %q", k, m.Pricing[k], v)
		}
	}
	if strings.Contains(string(c.ModelsJSON()), `\u003e`) {
		t.Error("modality is HTML-escaped")
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
	cfg, _ := config.Parse([]byte("providers:\n- {name: oa, base_url: 'http://x/v1', models: [{id: openai/gpt-4o-mini}]}\n"), env())
	extra := []*Model{{ID: "openai/gpt-4o-mini", Endpoints: []*Endpoint{{Provider: "sim"}}}}
	if _, err := Build(cfg, Options{Extra: extra, ExtraProviders: []*Provider{{Slug: "sim"}}, Defaults: emptyCatalog}); err == nil {
		t.Fatal("a model id claimed twice was accepted")
	}
}
