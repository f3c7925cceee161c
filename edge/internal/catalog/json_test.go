package catalog

import (
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"slices"
	"strings"
	"testing"
)

// filterCatalog serves alpha/big (beta 1/4 cheapest, 100k context, text+image, 2025-01),
// beta/small (0.1/0.2, 8k, text, 2025-06) and own/code (1/1, 64k, text, no date: 1700000000).
func filterCatalog(t testing.TB) *Catalog {
	t.Helper()
	return mustBuild(t, `
providers:
  - name: own
    base_url: http://own/v1
    models:
      - {id: own/code, name: "Own Coder", context_length: 64000, pricing: {prompt: 1, completion: 1}, supported_parameters: [temperature, tools, seed]}
`, env("ALPHA_KEY", "a", "BETA_KEY", "b"))
}

func listIDs(t *testing.T, b []byte) []string {
	t.Helper()
	var doc struct {
		Object string `json:"object"`
		Data   []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("invalid JSON %s: %v", b, err)
	}
	if doc.Object != "list" || doc.Data == nil {
		t.Fatalf("not a list document: %s", b)
	}
	ids := []string{}
	for _, d := range doc.Data {
		ids = append(ids, d.ID)
	}
	return ids
}

func TestModelsJSONFiltered(t *testing.T) {
	c := filterCatalog(t)
	all := []string{"alpha/big", "beta/small", "own/code"}
	tests := []struct {
		name, query string
		want        []string
		errParam    string
	}{
		{name: "no filter", query: "", want: all},
		{name: "unknown parameters are ignored", query: "category=programming&limit=1", want: all},
		{name: "one supported parameter", query: "supported_parameters=tools", want: []string{"alpha/big", "own/code"}},
		{name: "every supported parameter is required", query: "supported_parameters=tools,top_k", want: []string{"alpha/big"}},
		{name: "repeated parameter adds up", query: "supported_parameters=tools&supported_parameters=seed", want: []string{"own/code"}},
		{name: "unsupported parameter", query: "supported_parameters=logit_bias", want: []string{}},
		{name: "unknown parameter name", query: "supported_parameters=tools,frobnicate", errParam: "supported_parameters"},
		{name: "input modality", query: "input_modalities=image", want: []string{"alpha/big"}},
		{name: "input modalities any", query: "input_modalities=audio,text", want: all},
		{name: "unknown input modality", query: "input_modalities=smell", errParam: "input_modalities"},
		{name: "output modality", query: "output_modalities=text", want: all},
		{name: "output modality none", query: "output_modalities=image", want: []string{}},
		{name: "output modality all", query: "output_modalities=all", want: all},
		{name: "unknown output modality", query: "output_modalities=hologram", errParam: "output_modalities"},
		{name: "provider slug", query: "providers=alpha", want: []string{"alpha/big"}},
		{name: "providers any", query: "providers=own,alpha", want: []string{"alpha/big", "own/code"}},
		{name: "provider tag", query: "providers=beta/turbo", want: []string{"alpha/big"}},
		{name: "provider any case", query: "providers=BETA", want: []string{"alpha/big", "beta/small"}},
		{name: "search id", query: "q=SMALL", want: []string{"beta/small"}},
		{name: "search name", query: "q=coder", want: []string{"own/code"}},
		{name: "search nothing", query: "q=zzz", want: []string{}},
		{name: "max price", query: "max_price=1", want: all},
		{name: "max price excludes dearer", query: "max_price=0.5", want: []string{"beta/small"}},
		{name: "max price exact decimal", query: "max_price=0.1", want: []string{"beta/small"}},
		{name: "max price zero", query: "max_price=0", want: []string{}},
		{name: "max price not a number", query: "max_price=cheap", errParam: "max_price"},
		{name: "max price negative", query: "max_price=-1", errParam: "max_price"},
		{name: "max price infinite", query: "max_price=Inf", errParam: "max_price"},
		{name: "model authors", query: "model_authors=beta,own", want: []string{"beta/small", "own/code"}},
		{name: "model authors any case", query: "model_authors=Alpha", want: []string{"alpha/big"}},
		{name: "sort price low to high", query: "sort=pricing-low-to-high", want: []string{"beta/small", "own/code", "alpha/big"}},
		{name: "sort price high to low", query: "sort=pricing-high-to-low", want: []string{"alpha/big", "own/code", "beta/small"}},
		{name: "sort context", query: "sort=context-high-to-low", want: []string{"alpha/big", "own/code", "beta/small"}},
		{name: "sort newest", query: "sort=newest", want: []string{"beta/small", "alpha/big", "own/code"}},
		{name: "unknown sort", query: "sort=most-popular", errParam: "sort"},
		{name: "filters combine", query: "supported_parameters=temperature&model_authors=alpha,beta&sort=pricing-low-to-high", want: []string{"beta/small", "alpha/big"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := url.ParseQuery(tt.query)
			if err != nil {
				t.Fatal(err)
			}
			b, err := c.ModelsJSONFiltered(q)
			if tt.errParam != "" {
				var fe *FilterError
				if !errors.As(err, &fe) || fe.Param != tt.errParam || !strings.Contains(err.Error(), tt.errParam) {
					t.Fatalf("err = %v, want one naming %s", err, tt.errParam)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := listIDs(t, b); !slices.Equal(got, tt.want) {
				t.Fatalf("ids = %v, want %v", got, tt.want)
			}
		})
	}
	// No filter is the unfiltered document, byte for byte.
	if b, _ := c.ModelsJSONFiltered(nil); string(b) != string(c.ModelsJSON()) {
		t.Fatalf("unfiltered:\n%s\nModelsJSON:\n%s", b, c.ModelsJSON())
	}
}

func FuzzModelsFilter(f *testing.F) {
	for _, s := range []string{"", "supported_parameters=tools,top_k", "sort=newest&max_price=0.5", "providers=beta/turbo&q=%00",
		"input_modalities=image&output_modalities=all", "max_price=1e400", "model_authors=,,,", "q=%ff%fe", "sort=%20newest"} {
		f.Add(s)
	}
	c := filterCatalog(f)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return // the HTTP layer refuses a malformed query before the catalog sees it
		}
		b, err := c.ModelsJSONFiltered(q)
		if err != nil {
			var fe *FilterError
			if !errors.As(err, &fe) || fe.Param == "" {
				t.Fatalf("error %v does not name a parameter", err)
			}
			return
		}
		if !json.Valid(b) {
			t.Fatalf("invalid JSON for %q: %s", raw, b)
		}
		if ids := listIDs(t, b); len(ids) > len(c.Models()) {
			t.Fatalf("%d models listed of %d", len(ids), len(c.Models()))
		}
	})
}

type endpointsJSONDoc struct {
	Data struct {
		ID           string `json:"id"`
		Name         string `json:"name"`
		Created      int64  `json:"created"`
		Description  string `json:"description"`
		Architecture struct {
			Modality        string   `json:"modality"`
			InputModalities []string `json:"input_modalities"`
			Tokenizer       string   `json:"tokenizer"`
		} `json:"architecture"`
		Endpoints []map[string]json.RawMessage `json:"endpoints"`
	} `json:"data"`
}

func field[T any](t *testing.T, ep map[string]json.RawMessage, key string) T {
	t.Helper()
	raw, ok := ep[key]
	if !ok {
		t.Fatalf("endpoint has no %q: %v", key, ep)
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatalf("%s = %s: %v", key, raw, err)
	}
	return v
}

func TestEndpointsJSON(t *testing.T) {
	c := mustBuild(t, "", env("ALPHA_KEY", "a", "BETA_KEY", "b"))
	up := 99.5
	live := func(ep *Endpoint) Live {
		if ep.Tag == "beta" {
			return Live{Status: -2, Circuit: "open", Uptime5m: &up, Latency: &Percentiles{P50: 120, P75: 150, P90: 200, P99: 900},
				Throughput: &Percentiles{P50: 80, P75: 70, P90: 60, P99: math.NaN()}}
		}
		return Live{}
	}
	b, ok := c.EndpointsJSON("big", live) // by alias
	if !ok {
		t.Fatal("alias not found")
	}
	var doc endpointsJSONDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	d := doc.Data
	if d.ID != "alpha/big" || d.Name != "Alpha: Big" || d.Created == 0 || d.Architecture.Modality != "text+image->text" ||
		d.Architecture.Tokenizer != "GPT" || len(d.Endpoints) != 3 {
		t.Fatalf("data = %+v", d)
	}
	a, beta, turbo := d.Endpoints[0], d.Endpoints[1], d.Endpoints[2]
	tests := []struct {
		name string
		ok   bool
	}{
		{"name", field[string](t, a, "name") == "Alpha | alpha/big"},
		{"model", field[string](t, a, "model_id") == "alpha/big" && field[string](t, a, "model_name") == "Alpha: Big"},
		{"context", field[int](t, a, "context_length") == 100000 && field[int](t, beta, "context_length") == 32000 && field[int](t, a, "max_completion_tokens") == 8000},
		{"max prompt tokens null", string(a["max_prompt_tokens"]) == "null"},
		{"pricing strings", field[map[string]string](t, a, "pricing")["prompt"] == "0.000002" && field[map[string]string](t, a, "pricing")["input_cache_read"] == "0.0000005"},
		{"provider and tag", field[string](t, turbo, "provider_name") == "Beta Cloud" && field[string](t, turbo, "tag") == "beta/turbo"},
		{"quantization", field[string](t, beta, "quantization") == "fp8" && string(a["quantization"]) == "null"},
		{"status", field[int](t, a, "status") == 0 && field[int](t, beta, "status") == -2},
		{"circuit", field[string](t, a, "circuit") == "closed" && field[string](t, beta, "circuit") == "open"},
		{"parameters", slices.Equal(field[[]string](t, beta, "supported_parameters"), []string{"temperature", "top_k"})},
		{"implicit caching", field[bool](t, a, "supports_implicit_caching") && !field[bool](t, beta, "supports_implicit_caching")},
		{"uptime", field[float64](t, beta, "uptime_last_5m") == 99.5 && string(beta["uptime_last_30m"]) == "null" && string(beta["uptime_last_1d"]) == "null"},
		{"no stats is null", string(a["latency_last_30m"]) == "null" && string(a["throughput_last_30m"]) == "null" && string(a["uptime_last_5m"]) == "null"},
		{"latency", field[map[string]float64](t, beta, "latency_last_30m")["p99"] == 900},
		{"NaN becomes 0", field[map[string]float64](t, beta, "throughput_last_30m")["p99"] == 0},
		{"region", field[string](t, a, "region") == "us" && field[string](t, turbo, "region") == "us" && field[string](t, beta, "region") == "eu"},
		{"data policy", field[map[string]bool](t, a, "data_policy")["retains"] && field[map[string]bool](t, beta, "data_policy")["trains"]},
	}
	for _, tt := range tests {
		if !tt.ok {
			t.Errorf("%s:\n%s", tt.name, b)
		}
	}

	b, ok = c.EndpointsJSON("alpha/big", nil)
	if !ok || !strings.Contains(string(b), `"circuit":"closed"`) || strings.Contains(string(b), `"circuit":"open"`) {
		t.Fatalf("nil live: %s", b)
	}
	for _, id := range []string{"nope/x", "alpha/unlisted", "alpha/big:nitro", ""} {
		if _, ok := c.EndpointsJSON(id, nil); ok {
			t.Errorf("EndpointsJSON(%q) found something", id)
		}
	}
}
