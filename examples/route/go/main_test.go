package main

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/sdk/plugintest"
)

// cand renders one candidate as the host does (edge/internal/extension appendRouteInput).
func cand(id string, ttft float64, circuit string) string {
	return fmt.Sprintf(`{"id":%q,"provider":"p","model":"m","region":"eu","price":{"prompt":2.5,"completion":10},"ttft_ms":%v,"tokens_per_second":85.20,"error_rate":0.0040,"degraded":false,"circuit":%q}`, id, ttft, circuit)
}

func input(cands ...string) []byte {
	return []byte(`{"request":{"model":"gpt-4o","stream":true,"max_tokens":512,"tools":false},"candidates":[` + strings.Join(cands, ",") + `]}`)
}

func TestFastestHealthy(t *testing.T) {
	cases := []struct {
		name string
		in   []byte
		want string
	}{
		{"orders by ttft", input(cand("a", 300, "closed"), cand("b", 120, "closed"), cand("c", 200, "half_open")),
			`{"order":["b","c","a"]}`},
		{"drops open circuits", input(cand("a", 10, "open"), cand("b", 20, "closed"), cand("c", 5, "open")),
			`{"order":["b"]}`},
		{"whole milliseconds, ties keep input order", input(cand("a", 310.9, "closed"), cand("b", 310.1, "closed"), cand("c", 309.99, "closed"), cand("d", 310, "half_open")),
			`{"order":["c","a","b","d"]}`},
		{"all open", input(cand("a", 1, "open")), `{"order":[]}`},
		{"no candidates", input(), `{"order":[]}`},
		{"unknown fields and escapes", []byte(`{"future":{"x":[1,2]},"request":{},"candidates":[{"id":"x\"y","ttft_ms":2,"circuit":"closed","new":null},{"\u0069d":"z","ttft_ms":1,"circuit":"clos\u0065d"}]}`),
			`{"order":["z","x\"y"]}`},
		{"missing ttft counts as zero", []byte(`{"candidates":[{"id":"a","ttft_ms":3,"circuit":"closed"},{"id":"b","circuit":"closed"}]}`),
			`{"order":["b","a"]}`},
	}
	plugintest.Run(t, plugintest.Options{Dir: "."}, func(t *testing.T, p plugintest.Plugin) {
		info := p.Info()
		if info.Name != "fastest-healthy" || info.Version != "1.0.0" || !slices.Equal(info.Hooks, []string{"hook_route"}) {
			t.Fatalf("info = %+v", info)
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				out, changed, err := p.Call("hook_route", c.in)
				if err != nil || !changed || string(out) != c.want {
					t.Fatalf("hook_route = %s (changed %v, err %v), want %s", out, changed, err, c.want)
				}
			})
		}
	})
}

// routeInput20 is a realistic hook_route input: 20 candidates, a few with open circuits.
func routeInput20() []byte {
	var cs []string
	circuits := []string{"closed", "closed", "half_open", "closed", "open"}
	for i := range 20 {
		cs = append(cs, cand(fmt.Sprintf("provider-%d/gpt-4o@region-%d", i%4, i), float64((i*7919)%500)+0.25, circuits[i%len(circuits)]))
	}
	return input(cs...)
}

// BenchmarkRouteHook measures one hook_route call with 20 candidates, native and through
// edge/wasmhost (metered, default limits), and reports the median as p50-ns.
func BenchmarkRouteHook(b *testing.B) {
	in := routeInput20()
	b.Run("native", func(b *testing.B) {
		p, err := plugintest.Native(nil)
		if err != nil {
			b.Fatal(err)
		}
		benchCalls(b, func() error { _, _, err := p.Call("hook_route", in); return err })
	})
	b.Run("wasm", func(b *testing.B) {
		p, err := plugintest.LoadBytes(b, "fastest-healthy", plugintest.Build(b, "."), nil, wasmhost.Limits{})
		if err != nil {
			b.Fatal(err)
		}
		wp := plugintest.Wasmhost(p)
		ctx := context.Background()
		benchCalls(b, func() error { _, _, err := wp.Call(ctx, "hook_route", in); return err })
	})
}

func benchCalls(b *testing.B, call func() error) {
	for range 100 { // warm the instance's heap
		if err := call(); err != nil {
			b.Fatal(err)
		}
	}
	durs := make([]time.Duration, 0, 4096)
	b.ResetTimer()
	for b.Loop() {
		start := time.Now()
		if err := call(); err != nil {
			b.Fatal(err)
		}
		if len(durs) < cap(durs) {
			durs = append(durs, time.Since(start))
		}
	}
	b.StopTimer()
	slices.Sort(durs)
	b.ReportMetric(float64(durs[len(durs)/2].Nanoseconds()), "p50-ns")
	b.ReportMetric(float64(durs[len(durs)*99/100].Nanoseconds()), "p99-ns")
}
