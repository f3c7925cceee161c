package weighted_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

const wasmPath = "../../dist/route-weighted.wasm"

func newHost(tb testing.TB) *wasmhost.Host {
	tb.Helper()
	ctx := context.Background()
	h, err := wasmhost.NewHost(ctx, wasmhost.Config{Instrument: wasmhost.Metered})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close(ctx) })
	return h
}

func wasm(tb testing.TB) []byte {
	tb.Helper()
	b, err := os.ReadFile(wasmPath)
	if err != nil {
		tb.Fatalf("weighted: read %s: %v (run scripts/build-plugins.sh)", wasmPath, err)
	}
	return b
}

func load(tb testing.TB, h *wasmhost.Host, config string) *wasmhost.Plugin {
	tb.Helper()
	var cfg []byte
	if config != "" {
		cfg = []byte(config)
	}
	// The deadline is relaxed because a loaded test machine can deschedule one call past the
	// default 50ms; fuel still bounds every call.
	p, err := h.Load(context.Background(), "route-weighted", wasm(tb), cfg, wasmhost.Limits{Deadline: 10 * time.Second})
	if err != nil {
		tb.Fatalf("weighted: load with %s: %v", config, err)
	}
	return p
}

// cand is a candidate as the host renders it. A nil pointer leaves the field out.
type cand struct {
	id              string
	prompt, compl   *float64
	ttft, errRate   *float64
	region, circuit string
	degraded        bool
}

func f(v float64) *float64 { return &v }

func c(id string, price, ttft, errRate float64) cand {
	return cand{id: id, prompt: f(price / 5), compl: f(price * 4 / 5), ttft: f(ttft), errRate: f(errRate), region: "us-east", circuit: "closed"}
}

func (x cand) with(fn func(*cand)) cand { fn(&x); return x }

func input(cands ...cand) []byte {
	var b bytes.Buffer
	b.WriteString(`{"request":{"model":"gpt-4o","stream":false,"tools":false},"candidates":[`)
	for i, x := range cands {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"id":%q,"provider":"p","model":"m","region":%q`, x.id, x.region)
		if x.prompt != nil {
			fmt.Fprintf(&b, `,"price":{"prompt":%v,"completion":%v}`, *x.prompt, *x.compl)
		}
		if x.ttft != nil {
			fmt.Fprintf(&b, `,"ttft_ms":%v`, *x.ttft)
		}
		b.WriteString(`,"tokens_per_second":80.00`)
		if x.errRate != nil {
			fmt.Fprintf(&b, `,"error_rate":%v`, *x.errRate)
		}
		fmt.Fprintf(&b, `,"degraded":%v,"circuit":%q,"future_field":{"a":[1,"]"]}}`, x.degraded, x.circuit)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func order(tb testing.TB, p *wasmhost.Plugin, in []byte) []string {
	tb.Helper()
	out, changed, err := p.Call(context.Background(), wasmhost.HookRoute, in)
	if err != nil || !changed {
		tb.Fatalf("hook_route: changed=%v err=%v", changed, err)
	}
	var v struct{ Order []string }
	if err := json.Unmarshal(out, &v); err != nil || v.Order == nil {
		tb.Fatalf("hook_route answered %s (%v)", out, err)
	}
	return v.Order
}

func TestOrder(t *testing.T) {
	h := newHost(t)
	degraded := func(x *cand) { x.degraded = true }
	open := func(x *cand) { x.circuit = "open" }
	region := func(r string) func(*cand) { return func(x *cand) { x.region = r } }
	for _, tc := range []struct {
		name, config string
		in           []byte
		want         []string
	}{
		{"cost only: cheapest first", `{"weights":{"cost":1}}`,
			input(c("a", 40, 100, 0), c("b", 3, 300, 0.5), c("c", 10, 200, 0.1)), []string{"b", "c", "a"}},
		{"latency only: fastest first", `{"weights":{"latency":1}}`,
			input(c("a", 1, 300, 0), c("b", 50, 100, 0.5), c("c", 10, 200, 0)), []string{"b", "c", "a"}},
		{"errors only", `{"weights":{"errors":1}}`,
			input(c("a", 1, 100, 0.1), c("b", 9, 900, 0.01), c("c", 5, 500, 0.05)), []string{"b", "c", "a"}},
		{"open circuits dropped", "",
			input(c("a", 1, 100, 0), c("b", 1, 100, 0).with(open), c("c", 2, 200, 0)), []string{"a", "c"}},
		{"half_open kept", `{"weights":{"latency":1}}`,
			input(c("a", 1, 300, 0), c("b", 1, 100, 0).with(func(x *cand) { x.circuit = "half_open" })), []string{"b", "a"}},
		{"region bonus lifts a slower candidate", `{"weights":{"latency":1},"prefer_region":"eu","region_bonus":0.6}`,
			input(c("a", 1, 100, 0), c("b", 1, 200, 0).with(region("eu-west")), c("c", 1, 300, 0)), []string{"b", "a", "c"}},
		{"region matches whole name or prefix and dash", `{"weights":{"latency":1},"prefer_region":"eu","region_bonus":0.6}`,
			input(c("a", 1, 100, 0), c("b", 1, 200, 0).with(region("eux")), c("c", 1, 200, 0).with(region("eu")), c("d", 1, 300, 0).with(region("europe"))),
			[]string{"c", "a", "b", "d"}},
		{"degraded penalty", `{"weights":{"latency":1}}`,
			input(c("a", 1, 100, 0).with(degraded), c("b", 1, 150, 0), c("c", 1, 300, 0)), []string{"b", "a", "c"}},
		{"degraded penalty configurable", `{"weights":{"latency":1},"degraded_penalty":0}`,
			input(c("a", 1, 100, 0).with(degraded), c("b", 1, 150, 0)), []string{"a", "b"}},
		{"ties keep input order", "",
			input(c("z", 5, 100, 0), c("y", 5, 100, 0), c("x", 5, 100, 0)), []string{"z", "y", "x"}},
		{"missing numbers count as the worst", `{"weights":{"cost":1,"latency":1}}`,
			input(c("a", 1, 100, 0).with(func(x *cand) { x.prompt, x.compl = nil, nil }), c("b", 3, 100, 0), c("c", 2, 100, 0), c("d", 10, 100, 0)),
			[]string{"c", "b", "a", "d"}}, // a ties with the dearest, d, and keeps its place before it
		{"empty candidate list", "", input(), []string{}},
		{"all open", "", input(c("a", 1, 1, 0).with(open)), []string{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := load(t, h, tc.config)
			defer p.Close(context.Background())
			if got := order(t, p, tc.in); !slices.Equal(got, tc.want) {
				t.Errorf("order %q, want %q", got, tc.want)
			}
		})
	}
}

// config mirrors the plugin's config, for nativeOrder.
type config struct {
	Weights         struct{ Cost, Latency, Errors float64 }
	PreferRegion    string  `json:"prefer_region"`
	RegionBonus     float64 `json:"region_bonus"`
	DegradedPenalty float64 `json:"degraded_penalty"`
}

// nativeOrder is the rule stated natively, for the cases too large to work out by hand.
func nativeOrder(cfg config, cands []cand) []string {
	type scored struct {
		id    string
		score float64
	}
	var live []cand
	lo, hi := [2]float64{math.Inf(1), math.Inf(1)}, [2]float64{math.Inf(-1), math.Inf(-1)}
	for _, x := range cands {
		if x.circuit == "open" {
			continue
		}
		live = append(live, x)
		p := *x.prompt + *x.compl
		lo[0], hi[0] = min(lo[0], p), max(hi[0], p)
		lo[1], hi[1] = min(lo[1], *x.ttft), max(hi[1], *x.ttft)
	}
	norm := func(v float64, i int) float64 {
		if hi[i] > lo[i] {
			return (v - lo[i]) / (hi[i] - lo[i])
		}
		return 0
	}
	var s []scored
	for _, x := range live {
		v := cfg.Weights.Cost*norm(*x.prompt+*x.compl, 0) + cfg.Weights.Latency*norm(*x.ttft, 1) + cfg.Weights.Errors**x.errRate
		if cfg.PreferRegion != "" && (x.region == cfg.PreferRegion || strings.HasPrefix(x.region, cfg.PreferRegion+"-")) {
			v -= cfg.RegionBonus
		}
		if x.degraded {
			v += cfg.DegradedPenalty
		}
		s = append(s, scored{x.id, v})
	}
	sort.SliceStable(s, func(i, j int) bool { return s[i].score < s[j].score })
	ids := []string{}
	for _, x := range s {
		ids = append(ids, x.id)
	}
	return ids
}

func twenty() []cand {
	regions := []string{"us-east", "eu-west", "eu", "ap-south", "europe-1"}
	var cs []cand
	for i := range 20 {
		x := c(fmt.Sprintf("p%02d/model@%s", i, regions[i%5]), float64((i*7)%13)+0.25*float64(i%3), float64(100+(i*53)%400)+0.5, float64((i*3)%10)/100)
		x.region = regions[i%5]
		x.degraded = i%6 == 5
		if i%7 == 3 {
			x.circuit = "open"
		}
		cs = append(cs, x)
	}
	return cs
}

func TestMatchesNativeRule(t *testing.T) {
	h := newHost(t)
	for _, raw := range []string{
		`{"weights":{"cost":0.5,"latency":0.3,"errors":0.2},"prefer_region":"eu","region_bonus":0.2}`,
		`{"weights":{"cost":0.1,"latency":2,"errors":5},"degraded_penalty":0.05}`,
		`{"weights":{"cost":1},"prefer_region":"ap","region_bonus":0.3}`,
	} {
		t.Run(raw, func(t *testing.T) {
			// weights left out of the config count as 0; the others keep their defaults
			cfg := config{RegionBonus: 0.2, DegradedPenalty: 0.5}
			if err := json.Unmarshal([]byte(raw), &cfg); err != nil {
				t.Fatal(err)
			}
			p := load(t, h, raw)
			defer p.Close(context.Background())
			cs := twenty()
			if got, want := order(t, p, input(cs...)), nativeOrder(cfg, cs); !slices.Equal(got, want) {
				t.Errorf("order\n%q\nwant\n%q", got, want)
			}
		})
	}
}

func TestDefaultConfig(t *testing.T) {
	h := newHost(t)
	cs := twenty()
	var cfg config
	cfg.Weights.Cost, cfg.Weights.Latency, cfg.Weights.Errors = 0.5, 0.3, 0.2
	cfg.RegionBonus, cfg.DegradedPenalty = 0.2, 0.5
	want := nativeOrder(cfg, cs)
	for _, raw := range []string{"", "{}"} {
		p := load(t, h, raw)
		if got := order(t, p, input(cs...)); !slices.Equal(got, want) {
			t.Errorf("config %q: order %q, want %q", raw, got, want)
		}
		_ = p.Close(context.Background())
	}
}

func TestConfigErrors(t *testing.T) {
	h := newHost(t)
	for _, tc := range []struct{ name, config, want string }{
		{"not an object", `[]`, `config must be a JSON object`},
		{"unknown key", `{"weight":{"cost":1}}`, `unknown config key \"weight\"`},
		{"unknown weight", `{"weights":{"cost":1,"speed":1}}`, `unknown weight \"speed\"`},
		{"negative weight", `{"weights":{"cost":-0.5,"latency":1}}`, `weights.cost must not be negative`},
		{"weight not a number", `{"weights":{"latency":"high"}}`, `weights.latency must be a number`},
		{"weights all zero", `{"weights":{"cost":0,"latency":0,"errors":0}}`, `weights are all zero`},
		{"weights empty", `{"weights":{}}`, `weights are all zero`},
		{"weights not an object", `{"weights":[0.5,0.5]}`, `weights must be an object`},
		{"prefer_region not a string", `{"prefer_region":1}`, `prefer_region must be a string`},
		{"negative region_bonus", `{"region_bonus":-0.1}`, `region_bonus must not be negative`},
		{"negative degraded_penalty", `{"degraded_penalty":-1}`, `degraded_penalty must not be negative`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := h.Load(context.Background(), "route-weighted", wasm(t), []byte(tc.config), wasmhost.Limits{})
			if err == nil {
				_ = p.Close(context.Background())
				t.Fatalf("loaded with %s", tc.config)
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "bad_config") {
				t.Errorf("error %q, want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestInfo(t *testing.T) {
	info := load(t, newHost(t), "").Info()
	if info.Name != "weighted" || !slices.Equal(info.Hooks, []string{wasmhost.HookRoute}) {
		t.Errorf("info %+v", info)
	}
}

// BenchmarkRoute is one hook_route call with 20 candidates and the documented config.
func BenchmarkRoute(b *testing.B) {
	p := load(b, newHost(b), `{"weights":{"cost":0.5,"latency":0.3,"errors":0.2},"prefer_region":"eu","region_bonus":0.2}`)
	in := input(twenty()...)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Call(ctx, wasmhost.HookRoute, in); err != nil {
			b.Fatal(err)
		}
	}
}
