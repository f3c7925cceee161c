package edge_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream"
	"github.com/crossroads-llm/crossroads/edge"
)

// pluginNode runs a node from a configuration file in front of upstreams; write rewrites
// the file's plugins section (YAML) and the node notices by itself.
type pluginNode struct {
	node  *edge.Node
	base  string
	dir   string
	write func(plugins string)
}

func startPluginNode(t *testing.T, u *upstreams, plugins string) *pluginNode {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "crossroads.yaml")
	pn := &pluginNode{dir: dir}
	pn.write = func(plugins string) {
		var b strings.Builder
		fmt.Fprintf(&b, "data_dir: %s\nlisten: {tls: off, plain: \"127.0.0.1:0\"}\nlog: {level: error}\nsim: {enabled: false}\ntls: {reload_interval: 20ms}\nrouting: {sticky: {enabled: false}}\n", dir)
		if plugins != "" {
			fmt.Fprintf(&b, "plugins:\n%s\n", plugins)
		}
		b.WriteString("providers:\n")
		for _, n := range u.names {
			fmt.Fprintf(&b, "  - {name: %s, base_url: %q, models: [{id: bench/model, upstream_id: gpt-4o-mini, pricing: {prompt: 1, completion: 1}}]}\n", n, u.urls[n]+"/v1")
		}
		// Write beside and rename, as a deploy would: the node's file watch must never see
		// a half-written file (which might parse, as a configuration with fewer providers).
		if err := os.WriteFile(path+".tmp", []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	pn.write(plugins)
	cfg, err := edge.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	pn.node, pn.base = runNode(t, cfg, edge.WithConfigFile(path))
	return pn
}

// runNode starts a node on cfg's plain listener and stops it when the test ends.
func runNode(t testing.TB, cfg *edge.Config, opts ...edge.Option) (*edge.Node, string) {
	t.Helper()
	opts = append([]edge.Option{edge.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))}, opts...)
	node, err := edge.New(cfg, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- node.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return node, "http://" + node.PlainAddr().String()
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	// Write beside and rename, as a deploy would: the node never reads half a file.
	if err := os.WriteFile(to+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(to+".tmp", to); err != nil {
		t.Fatal(err)
	}
}

// servedBy sends n requests and counts which provider served each.
func servedBy(t *testing.T, base string, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for range n {
		r := chat(t, http.DefaultClient, base, `{"model":"bench/model",`+hello+`}`)
		if r.status != 200 {
			t.Fatalf("request failed: %d %s", r.status, r.body)
		}
		got[r.provider]++
	}
	return got
}

// eventually retries until every one of 10 requests is served by want. The deadline is
// generous: a Go plugin compiles for seconds under the race detector.
func eventually(t *testing.T, base, want string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		got := servedBy(t, base, 10)
		if got[want] == 10 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the node did not pick up the plugin change: served by %v, want all by %s", got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func orderPlugin(dir, provider string) string {
	return fmt.Sprintf("  - {name: steer, kind: route, file: %s, models: [\"bench/*\"], config: {order: [\"bench/model@%s\"]}}",
		filepath.Join(dir, "steer.wasm"), provider)
}

func TestRoutePluginDroppedIntoRunningNode(t *testing.T) {
	var u upstreams
	for _, n := range []string{"a", "b", "c"} {
		u.fake(t, n, fakeupstream.Config{})
	}
	pn := startPluginNode(t, &u, "")
	if got := servedBy(t, pn.base, 30); len(got) < 2 {
		t.Fatalf("without a plugin, load balancing should spread requests: %v", got)
	}

	// Dropping the plugin in: a file and a config entry, no restart.
	steer := filepath.Join(pn.dir, "steer.wasm")
	copyFile(t, "testdata/config_order.wasm", steer)
	pn.write(orderPlugin(pn.dir, "c"))
	eventually(t, pn.base, "c")

	// Changing its configuration.
	pn.write(orderPlugin(pn.dir, "a"))
	eventually(t, pn.base, "a")

	// Replacing its file alone: this module answers garbage, so its failure policy (the
	// default ranking) shows the new file is in use.
	copyFile(t, "internal/extension/testdata/garbage_route.wasm", steer)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if got := servedBy(t, pn.base, 30); len(got) >= 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the node did not pick up the replaced plugin file")
		}
		time.Sleep(20 * time.Millisecond)
	}
	r := chat(t, http.DefaultClient, pn.base, `{"model":"bench/model",`+hello+`}`)
	if r.status != 200 {
		t.Fatalf("a broken route plugin must not fail requests: %d %s", r.status, r.body)
	}
	code, metrics := get(t, pn.base+"/metrics")
	if code != 200 || !strings.Contains(metrics, `crossroads_plugin_failures_total{plugin="steer",hook="hook_route"}`) {
		t.Fatalf("/metrics does not count the plugin's failures:\n%s", metrics)
	}

	// A plugin that cannot load keeps the running generation.
	if err := os.WriteFile(steer, []byte("not wasm"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := pn.node.Reload(); err == nil || !strings.Contains(err.Error(), "steer") {
		t.Fatalf("reload with a broken plugin file: err = %v, want one naming the plugin", err)
	}
	if r := chat(t, http.DefaultClient, pn.base, `{"model":"bench/model",`+hello+`}`); r.status != 200 {
		t.Fatalf("after a refused reload: %d %s", r.status, r.body)
	}
}

// TestPluginReloadUnderLoad swaps the route plugin's configuration while requests, half of
// them streams, run at full speed: in-flight requests finish on the generation they started
// on and not one fails.
func TestPluginReloadUnderLoad(t *testing.T) {
	var u upstreams
	for _, n := range []string{"a", "b"} {
		u.fake(t, n, fakeupstream.Config{Chunks: 20, TokensPerSecond: 2000})
	}
	pn := startPluginNode(t, &u, "")
	copyFile(t, "testdata/config_order.wasm", filepath.Join(pn.dir, "steer.wasm"))
	pn.write(orderPlugin(pn.dir, "a"))
	if err := pn.node.Reload(); err != nil {
		t.Fatal(err)
	}

	var failed, total atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				body := `{"model":"bench/model",` + hello + `}`
				if (w+i)%2 == 0 {
					body = `{"model":"bench/model","stream":true,` + hello + `}`
				}
				r := chat(t, http.DefaultClient, pn.base, body)
				total.Add(1)
				if r.status != 200 || strings.Contains(string(r.body), `"error"`) || (strings.Contains(body, "stream") && !strings.Contains(string(r.body), "[DONE]")) {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, fmt.Sprintf("%d %s", r.status, r.body))
				}
			}
		}()
	}
	reloads := 0
	for i := range 20 {
		pn.write(orderPlugin(pn.dir, []string{"a", "b"}[i%2]))
		if err := pn.node.Reload(); err != nil {
			t.Fatal(err)
		}
		reloads++
		time.Sleep(15 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("%d requests across %d reloads", total.Load(), reloads)
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across plugin reloads; first: %v", failed.Load(), total.Load(), firstErr.Load())
	}
	if total.Load() < 50 {
		t.Fatalf("only %d requests ran during the reloads", total.Load())
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestPluginConfigMustBeReadable: a plugin without plugin_init loads with no config or an
// empty one, and is refused, by name, when given one it cannot read.
func TestPluginConfigMustBeReadable(t *testing.T) {
	file, err := filepath.Abs("testdata/chaos_trap.wasm")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		config string
		ok     bool
	}{{"", true}, {", config: {}", true}, {", config: {a: 1}", false}} {
		y := fmt.Sprintf("data_dir: %s\nlisten: {tls: off, plain: \"127.0.0.1:0\"}\nlog: {level: error}\n"+
			"plugins:\n  - {name: quiet, kind: route, file: %s%s}\n", t.TempDir(), file, tc.config)
		cfg, err := edge.ParseConfig([]byte(y), func(string) (string, bool) { return "", false })
		if err != nil {
			t.Fatal(err)
		}
		n, err := edge.New(cfg, edge.WithoutListeners(), edge.WithLogger(slog.New(slog.NewTextHandler(io.Discard, nil))))
		if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "quiet")) {
			t.Fatalf("config %q: err = %v, want ok=%v", tc.config, err, tc.ok)
		}
		if n != nil {
			n.Close()
		}
	}
}

// TestExampleRoutePluginsInRunningNode drops the example routing plugin, in each of its four
// languages, into a running node. Without it the node load-balances by price, so the cheap,
// slower endpoint takes nearly everything; fastest-healthy sends everything to the faster
// one. Each version takes effect without a restart, and taking it out restores the default.
func TestExampleRoutePluginsInRunningNode(t *testing.T) {
	var u upstreams
	u.fake(t, "fast", fakeupstream.Config{TTFT: 2 * time.Millisecond})
	u.fake(t, "slow", fakeupstream.Config{TTFT: 25 * time.Millisecond})
	dir := t.TempDir()
	path := filepath.Join(dir, "crossroads.yaml")
	write := func(plugins string) {
		y := fmt.Sprintf("data_dir: %s\nlisten: {tls: off, plain: \"127.0.0.1:0\"}\nlog: {level: error}\nsim: {enabled: false}\n"+
			"tls: {reload_interval: 20ms}\nrouting: {sticky: {enabled: false}, latency_outlier: 1000}\n%sproviders:\n"+
			"  - {name: fast, base_url: %q, models: [{id: bench/model, pricing: {prompt: 10, completion: 10}}]}\n"+
			"  - {name: slow, base_url: %q, models: [{id: bench/model, pricing: {prompt: 1, completion: 1}}]}\n",
			dir, plugins, u.urls["fast"]+"/v1", u.urls["slow"]+"/v1")
		if err := os.WriteFile(path+".tmp", []byte(y), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write("")
	cfg, err := edge.LoadConfig(path)
	if err != nil {
		t.Fatal(err)
	}
	_, base := runNode(t, cfg, edge.WithConfigFile(path))
	// The default ranking is price-weighted load balancing; latency demotion is set out of
	// reach so a loaded machine's noisy TTFTs cannot decide for it.
	byDefault := func() {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			if got := servedBy(t, base, 20); got["slow"] >= 15 {
				return
			} else if time.Now().After(deadline) {
				t.Fatalf("without a route plugin the cheap endpoint should take most requests: %v", got)
			}
		}
	}
	byDefault()
	for _, lang := range []string{"go", "c", "assemblyscript", "wat"} {
		t.Run(lang, func(t *testing.T) {
			built := filepath.Join("..", "examples", "route", lang, "plugin.wasm")
			if _, err := os.Stat(built); err != nil {
				t.Fatalf("%v (run scripts/build-plugins.sh)", err)
			}
			file := filepath.Join(dir, "fastest-healthy-"+lang+".wasm")
			copyFile(t, built, file)
			write(fmt.Sprintf("plugins:\n  - {name: fastest-healthy, kind: route, file: %s, models: [\"bench/*\"]}\n", file))
			eventually(t, base, "fast")
			write("")
			byDefault()
		})
	}
}
