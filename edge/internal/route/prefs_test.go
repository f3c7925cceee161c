package route

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestParsePrefsFields(t *testing.T) {
	tests := []struct {
		name  string
		raw   string
		route string
		check func(p *Prefs) bool
	}{
		{"defaults", ``, "", func(p *Prefs) bool { return p.AllowFallbacks && p.MaxPrice.Prompt < 0 && p.loadBalanced() }},
		{"null", `null`, "", func(p *Prefs) bool { return p.AllowFallbacks }},
		{"order lowercased", `{"order":["Together","deepinfra/turbo"]}`, "", func(p *Prefs) bool {
			return strings.Join(p.Order, ",") == "together,deepinfra/turbo" && !p.loadBalanced()
		}},
		{"only and ignore", `{"only":["a"],"ignore":["b","c"]}`, "", func(p *Prefs) bool { return len(p.Only) == 1 && len(p.Ignore) == 2 }},
		{"no fallbacks", `{"allow_fallbacks":false}`, "", func(p *Prefs) bool { return !p.AllowFallbacks }},
		{"require parameters", `{"require_parameters":true}`, "", func(p *Prefs) bool { return p.RequireParameters }},
		{"deny data collection", `{"data_collection":"deny"}`, "", func(p *Prefs) bool { return p.DenyDataCollection }},
		{"zdr", `{"zdr":true}`, "", func(p *Prefs) bool { return p.ZDR }},
		{"quantizations", `{"quantizations":["fp8","bf16"]}`, "", func(p *Prefs) bool { return len(p.Quantizations) == 2 }},
		{"sort string", `{"sort":"latency"}`, "", func(p *Prefs) bool { return p.Sort == SortLatency && !p.loadBalanced() }},
		{"sort object", `{"sort":{"by":"throughput","partition":"none"}}`, "", func(p *Prefs) bool { return p.Sort == SortThroughput && p.PartitionNone }},
		{"legacy route sort", ``, "sort", func(p *Prefs) bool { return p.PartitionNone }},
		{"max price per million", `{"max_price":{"prompt":1.5,"completion":3,"request":0.01,"image":1}}`, "", func(p *Prefs) bool {
			return p.MaxPrice.Prompt == 1.5e-6 && p.MaxPrice.Completion == 3e-6 && p.MaxPrice.Request == 0.01
		}},
		{"latency number is p50", `{"preferred_max_latency":2}`, "", func(p *Prefs) bool {
			return p.PreferredMaxLatency.Set && p.PreferredMaxLatency.P50 == 2
		}},
		{"throughput percentiles", `{"preferred_min_throughput":{"p90":50,"p99":10}}`, "", func(p *Prefs) bool {
			return p.PreferredMinThroughput.P90 == 50 && p.PreferredMinThroughput.P99 == 10
		}},
		{"escaped key", `{"s\u006frt":"price"}`, "", func(p *Prefs) bool { return p.Sort == SortPrice }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPrefs()
			if err := ParsePrefs(&p, []byte(tt.raw), tt.route); err != nil {
				t.Fatal(err)
			}
			if !tt.check(&p) {
				t.Fatalf("%s parsed to %+v", tt.raw, p)
			}
		})
	}
}

func TestParsePrefsErrors(t *testing.T) {
	tests := []struct{ name, raw, route, param string }{
		{"not an object", `[1]`, "", "provider"},
		{"bad route", ``, "random", "route"},
		{"distillable not supported", `{"enforce_distillable_text":true}`, "", "provider.enforce_distillable_text"},
		{"sort by", `{"sort":{"by":1}}`, "", "provider.sort.by"},
		{"sort extra key", `{"sort":{"order":"x"}}`, "", "provider.sort.order"},
		{"latency negative", `{"preferred_max_latency":{"p50":-1}}`, "", "provider.preferred_max_latency.p50"},
		{"empty provider name", `{"only":[""]}`, "", "provider.only[0]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := DefaultPrefs()
			err := ParsePrefs(&p, []byte(tt.raw), tt.route)
			if err == nil || err.Param != tt.param || err.Status != 400 {
				t.Fatalf("err = %+v, want a 400 naming %s", err, tt.param)
			}
		})
	}
}

// FuzzParsePrefs: any bytes give preferences or a 400 naming a field, never a panic; and
// whatever parses was valid JSON.
func FuzzParsePrefs(f *testing.F) {
	for _, s := range []string{`{}`, `{"order":["a"],"sort":{"by":"price","partition":"none"}}`,
		`{"max_price":{"prompt":1}}`, `{"preferred_max_latency":{"p90":1}}`, `{"quantizations":["fp8"]}`, `{"x":1}`, `{"only":[1]}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		p := DefaultPrefs()
		err := ParsePrefs(&p, raw, "")
		if err != nil {
			if err.Status != 400 || err.Param == "" || err.Message == "" {
				t.Fatalf("error without a field: %+v", err)
			}
			return
		}
		if len(raw) > 0 && string(raw) != "null" && !json.Valid(raw) {
			t.Fatalf("accepted invalid JSON %q", raw)
		}
	})
}
