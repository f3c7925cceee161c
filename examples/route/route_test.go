// Package route_test checks that the four versions of the example routing plugin
// "fastest-healthy" (examples/route/{go,c,assemblyscript,wat}) behave identically, and match
// a native Go statement of the rule, when run through the real plugin host. It also holds the
// benchmarks that compare the languages.
package route_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

var langs = []string{"go", "c", "assemblyscript", "wat"}

// wasmFile reads examples/route/<lang>/plugin.wasm, which scripts/build-plugins.sh builds.
func wasmFile(tb testing.TB, lang string) []byte {
	tb.Helper()
	path := filepath.Join(lang, "plugin.wasm")
	b, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("examples/route/%s: %v: run scripts/build-plugins.sh", path, err)
	}
	return b
}

func newHost(tb testing.TB, instrument func([]byte) ([]byte, error)) *wasmhost.Host {
	tb.Helper()
	ctx := context.Background()
	h, err := wasmhost.NewHost(ctx, wasmhost.Config{Instrument: instrument})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = h.Close(ctx) })
	return h
}

func load(tb testing.TB, h *wasmhost.Host, lang string, lim wasmhost.Limits) *wasmhost.Plugin {
	tb.Helper()
	p, err := h.Load(context.Background(), "fastest-healthy-"+lang, wasmFile(tb, lang), nil, lim)
	if err != nil {
		tb.Fatalf("%s: %v", lang, err)
	}
	return p
}

// cand is one candidate as the host renders it (edge/internal/extension appendRouteInput).
type cand struct {
	id, circuit string
	ttft        float64
}

// routeInput renders a hook_route input with every field the host sends, plus extra for
// fields a plugin must skip.
func routeInput(cands []cand, extra string) []byte {
	var b bytes.Buffer
	b.WriteString(`{"request":{"model":"gpt-4o","stream":true,"max_tokens":512,"tools":false},"candidates":[`)
	for i, c := range cands {
		if i > 0 {
			b.WriteByte(',')
		}
		id, _ := json.Marshal(c.id)
		fmt.Fprintf(&b, `{"id":%s,"provider":"openai","model":"gpt-4o","region":"us-east","price":{"prompt":2.5,"completion":10},`+
			`"ttft_ms":%s,"tokens_per_second":85.20,"error_rate":0.0040,"degraded":false,"circuit":%q%s}`,
			id, jsonNumber(c.ttft), c.circuit, extra)
	}
	b.WriteString("]}")
	return b.Bytes()
}

func jsonNumber(f float64) string {
	b, _ := json.Marshal(f)
	return string(b)
}

// fastestHealthy is the rule, stated natively: drop open circuits, order by the integer part
// of ttft_ms, stable for ties.
func fastestHealthy(in []byte) ([]string, error) {
	var v struct {
		Candidates []struct {
			ID      string  `json:"id"`
			Circuit string  `json:"circuit"`
			TTFT    float64 `json:"ttft_ms"`
		} `json:"candidates"`
	}
	if err := json.Unmarshal(in, &v); err != nil {
		return nil, err
	}
	c := slices.DeleteFunc(v.Candidates, func(c struct {
		ID      string  `json:"id"`
		Circuit string  `json:"circuit"`
		TTFT    float64 `json:"ttft_ms"`
	}) bool {
		return c.Circuit == "open"
	})
	sort.SliceStable(c, func(i, j int) bool { return int64(c[i].TTFT) < int64(c[j].TTFT) })
	ids := make([]string, 0, len(c))
	for _, x := range c {
		ids = append(ids, x.ID)
	}
	return ids, nil
}

func twenty() []cand {
	cs := make([]cand, 20)
	for i := range cs {
		circuit := []string{"closed", "closed", "half_open", "open"}[i%4]
		cs[i] = cand{id: fmt.Sprintf("provider-%02d/gpt-4o@eu-west", i), circuit: circuit, ttft: float64((i*37)%11)*41.5 + 120}
	}
	return cs
}

var cases = []struct {
	name string
	in   []byte
}{
	{"sorted by ttft", routeInput([]cand{{"a", "closed", 300}, {"b", "closed", 100}, {"c", "closed", 200}}, "")},
	{"open circuits dropped", routeInput([]cand{{"a", "open", 10}, {"b", "closed", 300}, {"c", "open", 5}, {"d", "half_open", 200}}, "")},
	{"all open", routeInput([]cand{{"a", "open", 10}, {"b", "open", 20}}, "")},
	{"ties keep input order", routeInput([]cand{{"z", "closed", 150}, {"y", "closed", 150}, {"x", "closed", 90}, {"w", "closed", 150}}, "")},
	{"decimals truncate", routeInput([]cand{{"a", "closed", 310.9}, {"b", "closed", 310.1}, {"c", "closed", 309.999}, {"d", "closed", 0.5}, {"e", "closed", 0}}, "")},
	{"unknown fields", routeInput([]cand{{"a", "closed", 300}, {"b", "closed", 100}},
		`,"meta":{"circuit":"open","ttft_ms":1,"id":"not-me","tags":["]}",{"x":[1,2,{"y":"\"}"}]}]},"ids":["q"],"later":null`)},
	{"key order and whitespace", []byte(`{ "candidates" : [
		{ "circuit" : "closed" , "ttft_ms" : 250.5 , "id" : "late" } ,
		{ "ttft_ms" : 12 , "circuit" : "open" , "id" : "dead" } ,
		{ "id" : "early" , "ttft_ms" : 40 , "circuit" : "half_open" }
	] , "request" : { "model" : "m" } , "now_ms" : 1763784000000 }`)},
	{"escaped ids", routeInput([]cand{{`eu/west "1"`, "closed", 20}, {"é\\x", "closed", 10}}, "")},
	{"empty candidate list", routeInput(nil, "")},
	{"20 candidates", routeInput(twenty(), "")},
}

// order decodes a plugin's answer, which must be exactly {"order":[ids]}.
func order(out []byte) ([]string, error) {
	var m map[string]json.RawMessage
	if err := json.Unmarshal(out, &m); err != nil {
		return nil, err
	}
	if len(m) != 1 || m["order"] == nil {
		return nil, fmt.Errorf("want only \"order\", got %s", out)
	}
	var ids []string
	if err := json.Unmarshal(m["order"], &ids); err != nil {
		return nil, err
	}
	if ids == nil {
		return nil, fmt.Errorf("order is null: %s", out)
	}
	return ids, nil
}

func TestSameOrderInEveryLanguage(t *testing.T) {
	h := newHost(t, wasmhost.Metered)
	plugins := make(map[string]*wasmhost.Plugin)
	for _, lang := range langs {
		plugins[lang] = load(t, h, lang, relaxed)
	}
	ctx := context.Background()
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			want, err := fastestHealthy(tc.in)
			if err != nil {
				t.Fatalf("native: %v", err)
			}
			got := make(map[string][]string)
			raw := make(map[string][]byte)
			for _, lang := range langs {
				out, changed, err := plugins[lang].Call(ctx, wasmhost.HookRoute, tc.in)
				if err != nil || !changed {
					t.Fatalf("%s: changed=%v err=%v", lang, changed, err)
				}
				raw[lang] = out
				ids, err := order(out)
				if err != nil {
					t.Fatalf("%s: %v", lang, err)
				}
				if !slices.Equal(ids, want) {
					t.Errorf("%s: order %q, want %q", lang, ids, want)
				}
				got[lang] = ids
			}
			for _, lang := range langs[1:] {
				if !slices.Equal(got[lang], got[langs[0]]) {
					t.Errorf("%s and %s disagree: %q vs %q", lang, langs[0], got[lang], got[langs[0]])
				}
				// Byte for byte too, except where an id holds escapes: some versions copy the
				// id as it came and others re-encode it, which JSON allows.
				if !bytes.Contains(tc.in, []byte(`\`)) && !bytes.Equal(raw[lang], raw[langs[0]]) {
					t.Errorf("%s and %s differ in bytes: %s vs %s", lang, langs[0], raw[lang], raw[langs[0]])
				}
			}
		})
	}
}

func TestPluginInfo(t *testing.T) {
	h := newHost(t, wasmhost.Metered)
	for _, lang := range langs {
		info := load(t, h, lang, relaxed).Info()
		if info.Name != "fastest-healthy" || info.Version != "1.0.0" || !slices.Equal(info.Hooks, []string{wasmhost.HookRoute}) || info.Description == "" {
			t.Errorf("%s: info %+v", lang, info)
		}
	}
}

// TestNoPluginInit: the rule takes no config, so a config must make the load fail.
func TestNoPluginInit(t *testing.T) {
	h := newHost(t, wasmhost.Metered)
	for _, lang := range langs {
		p, err := h.Load(context.Background(), lang, wasmFile(t, lang), []byte(`{"x":1}`), relaxed)
		if err == nil {
			_ = p.Close(context.Background())
			t.Errorf("%s: loaded with a config, want refusal", lang)
		}
	}
}

// TestNotRouteInput: input that is not a route payload must neither trap nor name a
// candidate. The versions may answer 0 (keep the host's order), a §6 error object (the host
// treats it as a failed call and keeps its order) or an empty order (there was nothing to
// keep).
func TestNotRouteInput(t *testing.T) {
	h := newHost(t, wasmhost.Metered)
	ctx := context.Background()
	for _, lang := range langs {
		p := load(t, h, lang, relaxed)
		for _, in := range []string{`[]`, `"candidates"`, `{"request":{}}`, `{"candidates":{"id":"a"}}`, `{"candidates":[`, `{"candidates":[{"id":"a","ttft_ms":1}`} {
			out, changed, err := p.Call(ctx, wasmhost.HookRoute, []byte(in))
			if err != nil {
				t.Errorf("%s %s: %v", lang, in, err)
				continue
			}
			if !changed {
				continue
			}
			var v struct {
				Order *[]string       `json:"order"`
				Error json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(out, &v); err != nil || (v.Error == nil && (v.Order == nil || len(*v.Order) > 0)) {
				t.Errorf("%s %s: answered %s", lang, in, out)
			}
		}
	}
}

// TestManyCallsOneInstance runs enough calls on one instance that a leak of the input, the
// scratch table or the result would exhaust the 16 MiB memory cap. The deadline is relaxed
// because this is about memory, and a loaded test machine can stall one call (a Go guest's
// garbage collection) past the default 50ms; fuel still bounds every call.
func TestManyCallsOneInstance(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	h := newHost(t, wasmhost.Metered)
	ctx := context.Background()
	in := routeInput(twenty(), "")
	want, _ := fastestHealthy(in)
	for _, lang := range langs {
		p := load(t, h, lang, wasmhost.Limits{Instances: 1, Deadline: 10 * time.Second})
		for i := range 5000 {
			out, _, err := p.Call(ctx, wasmhost.HookRoute, in)
			if err != nil {
				t.Fatalf("%s: call %d: %v", lang, i, err)
			}
			if i%1000 == 0 {
				if ids, err := order(out); err != nil || !slices.Equal(ids, want) {
					t.Fatalf("%s: call %d: %s %v", lang, i, out, err)
				}
			}
		}
	}
}

// BenchmarkRouteHook is one hook_route call with 20 candidates through the metered host; p50
// is measured per call.
func BenchmarkRouteHook(b *testing.B) {
	for _, lang := range langs {
		b.Run(lang, func(b *testing.B) {
			benchRoute(b, newHost(b, wasmhost.Metered), lang)
		})
	}
}

// relaxed relaxes the deadline for tests and benchmarks: on a loaded machine a
// descheduled call can pass the default 50ms and fail for no fault of the plugin. Fuel still
// bounds every call.
var relaxed = wasmhost.Limits{Deadline: 10 * time.Second}

func benchRoute(b *testing.B, h *wasmhost.Host, lang string) {
	p := load(b, h, lang, relaxed)
	ctx := context.Background()
	in := routeInput(twenty(), "")
	if _, _, err := p.Call(ctx, wasmhost.HookRoute, in); err != nil {
		b.Fatal(err)
	}
	lat := make([]time.Duration, 0, 1<<16)
	b.ReportAllocs()
	for b.Loop() {
		t0 := time.Now()
		if _, _, err := p.Call(ctx, wasmhost.HookRoute, in); err != nil {
			b.Fatal(err)
		}
		if len(lat) < cap(lat) {
			lat = append(lat, time.Since(t0))
		}
	}
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(lat[len(lat)*99/100].Nanoseconds()), "p99-ns")
}

// BenchmarkFuelOverhead is BenchmarkRouteHook with and without fuel metering.
func BenchmarkFuelOverhead(b *testing.B) {
	for _, lang := range langs {
		for _, m := range []struct {
			name string
			fn   func([]byte) ([]byte, error)
		}{{"metered", wasmhost.Metered}, {"unmetered", nil}} {
			b.Run(lang+"/"+m.name, func(b *testing.B) {
				benchRoute(b, newHost(b, m.fn), lang)
			})
		}
	}
}

// BenchmarkInstantiate measures a fresh instance per call (Limits.MaxCalls 1: instantiate,
// _initialize, the call, close) on an empty candidate list, beside the same call on a
// reused instance; instantiation is the difference.
func BenchmarkInstantiate(b *testing.B) {
	in := []byte(`{"request":{"model":"m"},"candidates":[]}`)
	for _, lang := range langs {
		for _, mode := range []struct {
			name     string
			maxCalls int
		}{{"fresh", 1}, {"reused", 0}} {
			b.Run(lang+"/"+mode.name, func(b *testing.B) {
				h := newHost(b, wasmhost.Metered)
				ctx := context.Background()
				p, err := h.Load(ctx, lang, wasmFile(b, lang), nil, wasmhost.Limits{Instances: 1, MaxCalls: mode.maxCalls, Deadline: 10 * time.Second})
				if err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				for b.Loop() {
					if _, _, err := p.Call(ctx, wasmhost.HookRoute, in); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// FuzzRouteHook feeds arbitrary bytes to every version: each call must succeed (a trap or a
// runaway loop would be a bug in the plugin or its SDK's JSON reader) and answer either
// nothing, a §6 error or {"order":[...]} naming only ids that occur in the input. The host
// only sends UTF-8; on other bytes a version that copies ids as they came may answer
// non-UTF-8, which the host refuses (BadOutput) and routes by its own order, so that is
// allowed there.
func FuzzRouteHook(f *testing.F) {
	for _, tc := range cases {
		f.Add(tc.in)
	}
	f.Add([]byte(`{"candidates":[{"id":"a","circuit":"open"},{"id":"b","ttft_ms":-3.5e2}]}`))
	f.Add([]byte(`{"candidates":[{"id":"\u0061","ttft_ms":1},[],"x",{"id":1}]}`))
	h := newHost(f, wasmhost.Metered)
	plugins := make(map[string]*wasmhost.Plugin)
	for _, lang := range langs {
		plugins[lang] = load(f, h, lang, relaxed)
	}
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, in []byte) {
		for _, lang := range langs {
			out, changed, err := plugins[lang].Call(ctx, wasmhost.HookRoute, in)
			var ce *wasmhost.CallError
			if err != nil && !utf8.Valid(in) && errors.As(err, &ce) && ce.Kind == wasmhost.BadOutput {
				continue
			}
			if err != nil {
				t.Fatalf("%s: %q: %v", lang, in, err)
			}
			if !changed {
				continue
			}
			var v struct {
				Order []string        `json:"order"`
				Error json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("%s: %q: answered %s: %v", lang, in, out, err)
			}
			if v.Error != nil {
				continue
			}
			for _, id := range v.Order {
				quoted, _ := json.Marshal(id)
				// ids come from the input, raw or re-encoded
				if !bytes.Contains(in, []byte(id)) && !bytes.Contains(in, quoted[1:len(quoted)-1]) && !utf8EscapedIn(in, id) {
					t.Fatalf("%s: %q: invented id %q", lang, in, id)
				}
			}
		}
	})
}

// utf8EscapedIn reports whether id occurs in in once in's JSON escapes are decoded, by
// decoding every string token of in.
func utf8EscapedIn(in []byte, id string) bool {
	d := json.NewDecoder(bytes.NewReader(in))
	for {
		tok, err := d.Token()
		if err != nil {
			return false
		}
		if s, ok := tok.(string); ok && s == id {
			return true
		}
	}
}

// BenchmarkNativeRule is the rule in native Go with encoding/json on the same input as
// BenchmarkRouteHook: a yardstick for how fast the machine running the benchmarks is.
func BenchmarkNativeRule(b *testing.B) {
	in := routeInput(twenty(), "")
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fastestHealthy(in); err != nil {
			b.Fatal(err)
		}
	}
}
