package route

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// fiftyEndpoints is one model served by 50 providers at different prices.
func fiftyEndpoints(tb testing.TB) (*Router, []*scripted) {
	var b strings.Builder
	b.WriteString("providers:\n")
	var ps []*scripted
	for i := range 50 {
		fmt.Fprintf(&b, "  - {name: p%02d, base_url: \"http://p%02d\", models: [{id: m/x, upstream_id: x, pricing: {prompt: %g, completion: %g}, supported_parameters: [temperature, tools, top_p]}]}\n",
			i, i, 0.1+float64(i%7)*0.3, 0.4+float64(i%5))
		ps = append(ps, &scripted{name: fmt.Sprintf("p%02d", i)})
	}
	r := testRouter(tb, testCatalog(tb, b.String()), Options{LatencyOutlier: 3, Sticky: NewSticky(1000, time.Hour)}, ps...)
	now := time.Now().UnixNano()
	for i, ep := range r.cat.Endpoints() {
		r.health[ep.ID].FirstByte(now, time.Duration(100+i*7)*time.Millisecond)
		r.health[ep.ID].Done(now, time.Second, int64(50+i))
	}
	return r, ps
}

// BenchmarkDecide is one routing decision over 50 candidates: parse preferences, resolve,
// filter, order (load balanced or sorted) and apply the sticky pin. The steady path must
// not allocate.
func BenchmarkDecide(b *testing.B) {
	r, _ := fiftyEndpoints(b)
	cases := []struct {
		name string
		req  llm.Request
	}{
		{"load-balanced", llm.Request{Model: "m/x", Params: llm.ParamSet(0).With(llm.ParamTemperature)}},
		{"sticky", llm.Request{Model: "m/x", SessionID: "conversation-1"}},
		{"sort-throughput", llm.Request{Model: "m/x", Provider: []byte(`{"sort":"throughput"}`)}},
		{"nitro", llm.Request{Model: "m/x:nitro"}},
		{"filters", llm.Request{Model: "m/x", Provider: []byte(`{"max_price":{"prompt":1},"data_collection":"deny","sort":"price"}`)}},
		// The general path: provider.order and latency preferences reorder per request.
		{"order", llm.Request{Model: "m/x", Provider: []byte(`{"order":["p07","p31"]}`)}},
		{"preferred-latency", llm.Request{Model: "m/x", Provider: []byte(`{"preferred_max_latency":0.3}`)}},
	}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			req := c.req
			p := r.plans.Get().(*plan)
			if r.sticky != nil && req.SessionID != "" {
				p.reset()
				p.now = time.Now().UnixNano()
				_ = r.decide(p, &req)
				conv, _ := r.sticky.conversation(&req, "m/x")
				r.sticky.remember(conv, p.cands[3].Endpoint.Key, p.now)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				decideOnce(r, p, &req)
			}
			r.plans.Put(p)
		})
	}
}

func decideOnce(r *Router, p *plan, req *llm.Request) {
	p.reset()
	p.now = time.Now().UnixNano()
	if err := ParsePrefs(&p.prefs, req.Provider, req.Route); err != nil {
		panic(err)
	}
	if err := r.decide(p, req); err != nil {
		panic(err)
	}
	if r.sticky != nil && p.prefs.loadBalanced() {
		if conv, ok := r.sticky.conversation(req, p.cands[0].Model.ID); ok {
			r.applyPin(p, conv)
		}
	}
}

func TestDecideDoesNotAllocate(t *testing.T) {
	r, _ := fiftyEndpoints(t)
	p := r.plans.Get().(*plan)
	for _, req := range []llm.Request{
		{Model: "m/x"},
		{Model: "m/x", SessionID: "s"},
		{Model: "m/x:floor"},
	} {
		decideOnce(r, p, &req) // warm: the candidate slice grows to 50 once
		if n := testing.AllocsPerRun(100, func() { decideOnce(r, p, &req) }); n != 0 {
			t.Errorf("%+v: %.0f allocations per decision, want 0", req, n)
		}
	}
}

// TestFastPathMatchesFullDecision: the snapshot path orders exactly as the full decision
// does on the same data, for every sort and any filter.
func TestFastPathMatchesFullDecision(t *testing.T) {
	r, _ := fiftyEndpoints(t)
	rnd := newRand(7)
	for i := range 500 {
		sort := []string{"price", "throughput", "latency"}[rnd.IntN(3)]
		body := fmt.Sprintf(`{"sort":%q,"max_price":{"prompt":%g},"ignore":["p%02d","p%02d"],"order":["p%02d","p%02d","p%02d"]}`,
			sort, 0.2+rnd.Float64()*2, rnd.IntN(50), rnd.IntN(50), rnd.IntN(50), rnd.IntN(50), rnd.IntN(50))
		if i%2 == 0 {
			body = strings.Replace(body, `"sort":"`+sort+`",`, "", 1)
		}
		req := &llm.Request{Model: "m/x", Provider: []byte(body), Params: llm.ParamSet(rnd.Uint64()) & llm.ParamSet(0).With(llm.ParamTools).With(llm.ParamTopK)}
		fast := r.plans.Get().(*plan)
		fast.reset()
		fast.now = time.Now().UnixNano()
		if err := ParsePrefs(&fast.prefs, req.Provider, ""); err != nil {
			t.Fatal(err)
		}
		// A fresh snapshot, so both paths see the same health.
		r.snaps[0].cur.Store(nil)
		fast.filters = fast.prefs.filtering()
		fast.orderH, fast.onlyH, fast.ignoreH = hashNames(nil, fast.prefs.Order), hashNames(nil, fast.prefs.Only), hashNames(nil, fast.prefs.Ignore)
		r.resolve(fast, req)
		if !r.decideFast(fast, req) {
			t.Fatalf("case %d %s: fast path not taken", i, body)
		}
		slow := &plan{}
		slow.reset()
		slow.now = fast.now
		_ = ParsePrefs(&slow.prefs, req.Provider, "")
		slow.filters = slow.prefs.filtering()
		slow.orderH, slow.onlyH, slow.ignoreH = fast.orderH, fast.onlyH, fast.ignoreH
		r.resolve(slow, req)
		for g, m := range slow.models {
			for _, ep := range m.Endpoints {
				r.admit(slow, req, m, ep, g)
			}
		}
		r.order(slow)
		if len(fast.cands) != len(slow.cands) {
			t.Fatalf("case %d %s: %d candidates fast, %d full", i, body, len(fast.cands), len(slow.cands))
		}
		// The full decision orders only its first topK (the rest are never reached); past
		// them, compare the sets.
		set := map[string]llm.ParamSet{}
		for j := range fast.cands {
			set[fast.cands[j].Endpoint.Key] = fast.cands[j].Drop
		}
		for j := range slow.cands {
			if d, ok := set[slow.cands[j].Endpoint.Key]; !ok || d != slow.cands[j].Drop {
				t.Fatalf("case %d %s: %s differs between the paths", i, body, slow.cands[j].Endpoint.Key)
			}
		}
		for j := range min(topK, len(fast.cands)) {
			if fast.cands[j].Endpoint != slow.cands[j].Endpoint {
				t.Fatalf("case %d %s: position %d is %s fast, %s full", i, body, j, fast.cands[j].Endpoint.Key, slow.cands[j].Endpoint.Key)
			}
		}
		r.plans.Put(fast)
	}
}
