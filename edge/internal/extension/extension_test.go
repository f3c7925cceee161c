package extension

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/route"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

//go:generate sh -c "for f in testdata/*.wat; do wat2wasm \"$DOLLAR{f}\" -o \"$DOLLAR{f%.wat}.wasm\"; done"

func candidates() []route.Candidate {
	reg := health.NewRegistry(health.Config{})
	m := &catalog.Model{ID: "m/x"}
	var out []route.Candidate
	for i, p := range []string{"a", "b", "c"} {
		ep := &catalog.Endpoint{ID: i, Key: "m/x@" + p, Provider: p, Tag: p, Model: m, Region: "eu",
			Pricing: catalog.Pricing{Prompt: float64(i+1) / 1e6, Completion: 2 * float64(i+1) / 1e6}}
		h := reg.Get(ep.Key)
		h.FirstByte(time.Now().UnixNano(), time.Duration(100*(i+1))*time.Millisecond)
		out = append(out, route.Candidate{Endpoint: ep, Model: m, Health: h, Price: ep.Pricing.Blended(), TTFT: h.TTFT()})
	}
	return out
}

func plugin(t *testing.T, name string) *Plugin {
	t.Helper()
	cfg := wasmhost.Config{Instrument: wasmhost.Metered}
	if strings.HasSuffix(name, "misbehave.wasm") {
		cfg.Instrument = nil // it meters itself, as the rewriter would
	}
	h, err := wasmhost.NewHost(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	file := filepath.Join("testdata", name+".wasm")
	if strings.Contains(name, "/") {
		file = name
	}
	wasm, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	p, err := h.Load(context.Background(), name, wasm, nil, wasmhost.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	return &Plugin{Plugin: p}
}

func keys(c []route.Candidate) string {
	var k []string
	for _, x := range c {
		k = append(k, x.Endpoint.Provider)
	}
	return strings.Join(k, " ")
}

func TestRoutePlugin(t *testing.T) {
	tests := []struct {
		name, plugin, want string
		failures           int64
	}{
		{"the plugin's order, unlisted dropped, unknown ignored", "prefer_c", "c a", 0},
		{"an answer that is not a ranking keeps the default", "garbage_route", "a b c", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := NewRoute(plugin(t, tt.plugin), nil)
			got := r.Rank(context.Background(), &llm.Request{Model: "m/x"}, candidates())
			if keys(got) != tt.want || r.p.failures[0].Load() != tt.failures {
				t.Fatalf("ranked %q with %d failures, want %q and %d", keys(got), r.p.failures[0].Load(), tt.want, tt.failures)
			}
		})
	}
}

func TestRouteInputIsTheABIShape(t *testing.T) {
	b := appendRouteInput(nil, &llm.Request{Model: "m/x", Stream: true, MaxTokens: 64}, candidates(), time.Now().UnixNano())
	var in struct {
		Request struct {
			Model     string `json:"model"`
			Stream    bool   `json:"stream"`
			MaxTokens int    `json:"max_tokens"`
		} `json:"request"`
		Candidates []struct {
			ID       string             `json:"id"`
			Provider string             `json:"provider"`
			Price    map[string]float64 `json:"price"`
			TTFTms   float64            `json:"ttft_ms"`
			Circuit  string             `json:"circuit"`
			Region   string             `json:"region"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(b, &in); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	c := in.Candidates
	if in.Request.Model != "m/x" || !in.Request.Stream || in.Request.MaxTokens != 64 || len(c) != 3 ||
		c[1].ID != "m/x@b" || c[1].Price["prompt"] != 2 || c[1].Price["completion"] != 4 || c[1].TTFTms != 200 ||
		c[1].Circuit != "closed" || c[1].Region != "eu" {
		t.Fatalf("input %s", b)
	}
}

func TestApplyOrder(t *testing.T) {
	tests := []struct {
		name, out, want string
		ok              bool
	}{
		{"reorders", `{"order":["m/x@b","m/x@a","m/x@c"]}`, "b a c", true},
		{"drops unlisted", `{"order":["m/x@c"]}`, "c", true},
		{"duplicates count once", `{"order":["m/x@a","m/x@a"]}`, "a", true},
		{"empty order drops all", `{"order":[]}`, "", true},
		{"not an object", `["m/x@a"]`, "", false},
		{"order missing", `{"ranking":["m/x@a"]}`, "", false},
		{"ids not strings", `{"order":[1]}`, "", false},
		{"malformed", `{"order":["m/x@a"`, "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := applyOrder([]byte(tt.out), candidates())
			if ok != tt.ok || (ok && keys(got) != tt.want) {
				t.Fatalf("applyOrder = %q, %v", keys(got), ok)
			}
		})
	}
}

// FuzzApplyOrder: any plugin answer gives a subset of the candidates, or the default.
func FuzzApplyOrder(f *testing.F) {
	f.Add([]byte(`{"order":["m/x@b","m/x@a"]}`))
	f.Add([]byte(`{"order":"x"}`))
	f.Fuzz(func(t *testing.T, out []byte) {
		c := candidates()
		got, ok := applyOrder(out, c)
		if !ok {
			return
		}
		seen := map[string]bool{}
		for _, g := range got {
			if seen[g.Endpoint.Key] {
				t.Fatalf("%s listed twice", g.Endpoint.Key)
			}
			seen[g.Endpoint.Key] = true
		}
		if len(got) > len(c) {
			t.Fatal("more candidates than given")
		}
	})
}
