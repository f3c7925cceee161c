package edge_test

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
	"github.com/crossroads-llm/crossroads/edge"
)

// chaosModes are the misbehaving plugins of testdata/chaos_*.wat with the limits that stop
// them: "slow" is the infinite loop with the default fuel (~18 ms) and a 2 ms deadline, which
// ends it unless a garbage collection is waiting on it, when only fuel can.
var chaosModes = []struct{ name, file, limits string }{
	{"loop", "chaos_loop", "{fuel: 2000000, deadline: 1s}"},
	{"slow", "chaos_loop", "{deadline: 2ms}"},
	{"bomb", "chaos_bomb", "{memory_pages: 64}"},
	{"trap", "chaos_trap", "{}"},
	{"garbage", "chaos_garbage", "{}"},
	{"big", "chaos_big", "{}"},
}

// chaosNode serves victim/model with no plugin at all, and for every mode <mode>/model
// behind a misbehaving route and transform plugin, and fmt-<mode>/model whose cheap endpoint
// speaks through a misbehaving format plugin, with a sound endpoint to fail over to.
func chaosNode(t testing.TB) (*edge.Node, string) {
	fake := fakeupstream.New(fakeupstream.Config{Chunks: 8})
	srv := httptest.NewServer(fake)
	t.Cleanup(func() { fake.Close(); srv.Close() })
	abs, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "data_dir: %s\nlisten: {tls: off, plain: \"127.0.0.1:0\"}\nlog: {level: error}\nsim: {enabled: false}\n", t.TempDir())
	b.WriteString("routing: {sticky: {enabled: false}}\nplugins:\n")
	good := []string{"{id: victim/model, pricing: {prompt: 1, completion: 1}}"}
	var broken []string
	for _, m := range chaosModes {
		file := filepath.Join(abs, m.file+".wasm")
		fmt.Fprintf(&b, "  - {name: %s-route, kind: route, file: %s, models: [\"%s/*\"], limits: %s}\n", m.name, file, m.name, m.limits)
		fmt.Fprintf(&b, "  - {name: %s-transform, kind: transform, file: %s, models: [\"%s/*\"], limits: %s}\n", m.name, file, m.name, m.limits)
		fmt.Fprintf(&b, "  - {name: %s-format, kind: format, file: %s, providers: [broken-%s], limits: %s}\n", m.name, file, m.name, m.limits)
		good = append(good, fmt.Sprintf("{id: %s/model, pricing: {prompt: 1, completion: 1}}", m.name),
			fmt.Sprintf("{id: fmt-%s/model, pricing: {prompt: 1, completion: 1}}", m.name))
		broken = append(broken, fmt.Sprintf("  - {name: broken-%s, base_url: %q, models: [{id: fmt-%s/model, pricing: {prompt: 0.1, completion: 0.1}}]}\n",
			m.name, srv.URL+"/v1", m.name))
	}
	fmt.Fprintf(&b, "providers:\n  - {name: good, base_url: %q, models: [%s]}\n%s", srv.URL+"/v1", strings.Join(good, ", "), strings.Join(broken, ""))
	path := filepath.Join(t.TempDir(), "crossroads.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := edge.LoadConfig(path)
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return runNode(t, cfg)
}

// load sends n requests at concurrency c, cycling over bodies, and returns the latency of
// each and the failures.
func load(t testing.TB, base string, n, c int, bodies []string) (lat []time.Duration, failed []string) {
	var mu sync.Mutex
	var wg sync.WaitGroup
	next := make(chan int)
	go func() {
		for i := range n {
			next <- i
		}
		close(next)
	}()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				body := bodies[i%len(bodies)]
				start := time.Now()
				r := chat(t, http.DefaultClient, base, body)
				d := time.Since(start)
				ok := r.status == 200 && !strings.Contains(string(r.body), `"error"`) &&
					(!strings.Contains(body, `"stream":true`) || strings.Contains(string(r.body), "[DONE]"))
				mu.Lock()
				lat = append(lat, d)
				if !ok {
					failed = append(failed, fmt.Sprintf("%s -> %d %.300s", body, r.status, r.body))
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return lat, failed
}

func pct(lat []time.Duration, p float64) time.Duration {
	s := slices.Clone(lat)
	slices.Sort(s)
	if len(s) == 0 {
		return 0
	}
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

func chaosBodies() []string {
	var bodies []string
	for _, m := range chaosModes {
		for _, model := range []string{m.name + "/model", "fmt-" + m.name + "/model"} {
			bodies = append(bodies, `{"model":"`+model+`",`+hello+`}`, `{"model":"`+model+`","stream":true,`+hello+`}`)
		}
	}
	return bodies
}

// TestMisbehavingPluginsUnderLoad: plugins that loop, exhaust memory, trap, answer garbage,
// answer too much or run past their deadline, loaded as route, transform and format plugins,
// under load. The node stays up, every request succeeds under its hook's policy (default
// ranking, fail open, fail over), and requests that touch no plugin keep their latency.
// chaosRun measures requests that touch no plugin, alone and then beside requests through
// every misbehaving plugin, failing if any request fails.
func chaosRun(t testing.TB, base string, n int) (baseLat, lat []time.Duration) {
	victims := []string{`{"model":"victim/model",` + hello + `}`, `{"model":"victim/model","stream":true,` + hello + `}`}
	baseLat, failed := load(t, base, n, 4, victims)
	if len(failed) > 0 {
		t.Fatalf("baseline: %d failed; first: %s", len(failed), failed[0])
	}
	var chaosFailed []string
	var chaosN int
	done := make(chan struct{})
	go func() {
		defer close(done)
		l, f := load(t, base, n*6/5, 4, chaosBodies())
		chaosFailed, chaosN = f, len(l)
	}()
	lat, failed = load(t, base, n, 4, victims)
	<-done
	if len(failed) > 0 {
		t.Fatalf("victims under chaos: %d failed; first: %s", len(failed), failed[0])
	}
	if len(chaosFailed) > 0 {
		t.Fatalf("requests through misbehaving plugins: %d of %d failed; first: %s", len(chaosFailed), chaosN, chaosFailed[0])
	}
	return baseLat, lat
}

// BenchmarkMisbehavingPlugins reports the latency of requests that touch no plugin, alone
// and beside requests through every misbehaving plugin (run with -benchtime 1x).
func BenchmarkMisbehavingPlugins(b *testing.B) {
	_, base := chaosNode(b)
	var baseLat, lat []time.Duration
	for b.Loop() {
		bl, l := chaosRun(b, base, 400)
		baseLat, lat = append(baseLat, bl...), append(lat, l...)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(pct(baseLat, 0.5)), "alone-p50-ms")
	b.ReportMetric(ms(pct(baseLat, 0.99)), "alone-p99-ms")
	b.ReportMetric(ms(pct(lat, 0.5)), "beside-p50-ms")
	b.ReportMetric(ms(pct(lat, 0.99)), "beside-p99-ms")
}

func TestMisbehavingPluginsUnderLoad(t *testing.T) {
	_, base := chaosNode(t)
	baseLat, lat := chaosRun(t, base, 200)
	b50, b99, c50, c99 := pct(baseLat, 0.5), pct(baseLat, 0.99), pct(lat, 0.5), pct(lat, 0.99)
	t.Logf("victim latency: baseline p50 %v p99 %v; beside misbehaving plugins p50 %v p99 %v", b50, b99, c50, c99)
	// Budget: the misbehaving calls share the machine with the victims, and a garbage
	// collection waits for a spinning guest until its fuel runs out (~18 ms at the default),
	// so some of that shows; a node stalled by its plugins (11 s here, before fuel budgets
	// were cut and guests left a processor free) does not fit.
	// The budget is loose because CI machines are shared and run this under the race
	// detector; BenchmarkMisbehavingPlugins reports the real figures.
	if budget := max(4*b99, b99+500*time.Millisecond); c99 > budget {
		t.Errorf("victim p99 %v beside misbehaving plugins exceeds the budget %v (baseline p99 %v)", c99, budget, b99)
	}

	code, metrics := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, m := range chaosModes {
		for _, want := range []string{
			`crossroads_plugin_failures_total{plugin="` + m.name + `-route",hook="hook_route"} `,
			`crossroads_plugin_failures_total{plugin="` + m.name + `-transform",hook="hook_request"} `,
			`crossroads_plugin_failures_total{plugin="` + m.name + `-format",hook="hook_format_request"} `,
		} {
			i := strings.Index(metrics, want)
			if i < 0 || strings.HasPrefix(metrics[i+len(want):], "0\n") {
				t.Errorf("/metrics does not count failures as %s", want)
			}
		}
	}
	if code, _ := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz after the suite: %d", code)
	}
}
