// Package plugintest owns the test harness for Crossroads plugins: it runs one test body
// against a plugin both natively (the registered Go handlers called in-process through the
// same JSON boundary as the wasm exports) and as a compiled .wasm module loaded by the
// node's own sandbox, edge/wasmhost, with fuel metering and default limits. A difference
// between the two runs is a bug in the SDK or the plugin (a retained input, a dependence on
// the native runtime), which is why every test body runs in both.
//
// Plugins in other languages share test bodies through Load, which loads an already built
// .wasm file as a Plugin.
//
//	func TestRoute(t *testing.T) {
//		plugintest.Run(t, plugintest.Options{Dir: "."}, func(t *testing.T, p plugintest.Plugin) {
//			out, changed, err := p.Call("hook_route", in)
//			...
//		})
//	}
package plugintest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin"
)

// Plugin is a loaded plugin, native or wasm.
type Plugin interface {
	// Call runs one hook (or any export of the hook kind) on in. changed is false when the
	// plugin answered 0 ("unchanged"). A handler's error is not err: it is the §6 error
	// object in out, as the host sees it. err is a failed call: a trap (a panic natively),
	// running out of fuel, or an output the host would refuse (not UTF-8, not JSON, too big).
	Call(hook string, in []byte) (out []byte, changed bool, err error)
	// Info is what plugin_info said, with Hooks as the module exports them.
	Info() wasmhost.Info
}

// Loader loads the plugin under test with a config (nil for none), as the node would: a
// config the plugin refuses, or a config given to a plugin without plugin_init, is an error.
type Loader func(config []byte) (Plugin, error)

// Options configure Run and Each.
type Options struct {
	// Dir is the plugin's main package, "." for the package under test. The native run calls
	// the handlers registered in this test binary, so Dir must be the package whose tests
	// call Run (or one that registers the same handlers).
	Dir string
	// Config is given to plugin_init; nil for none.
	Config []byte
	// Limits for the wasm run; zero fields take wasmhost's defaults, except Deadline (see
	// TestDeadline).
	Limits wasmhost.Limits
}

// TestDeadline is the wall-clock limit per call in wasm runs when Options.Limits leaves it
// zero. Fuel, the deterministic CPU bound, keeps its production default; the wall clock is
// relaxed because test machines are shared and run packages in parallel, where a Go
// plugin's _initialize alone was measured past the production 50 ms. Set Limits.Deadline
// to test the production deadline.
const TestDeadline = time.Second

// Run runs body twice, in subtests "native" and "wasm", each with the plugin loaded with
// o.Config. Loading failures fail the test.
func Run(t *testing.T, o Options, body func(t *testing.T, p Plugin)) {
	t.Helper()
	Each(t, o, func(t *testing.T, load Loader) {
		p, err := load(o.Config)
		if err != nil {
			t.Fatal(err)
		}
		body(t, p)
	})
}

// Each runs body in subtests "native" and "wasm" with a Loader of each kind, for tests that
// load the plugin with several configs or expect a load to fail.
func Each(t *testing.T, o Options, body func(t *testing.T, load Loader)) {
	t.Helper()
	t.Run("native", func(t *testing.T) {
		body(t, func(config []byte) (Plugin, error) { return Native(config) })
	})
	t.Run("wasm", func(t *testing.T) {
		wasm := Build(t, o.Dir)
		name := filepath.Base(absDir(t, o.Dir))
		lim := o.Limits
		if lim.Deadline == 0 {
			lim.Deadline = TestDeadline
		}
		body(t, func(config []byte) (Plugin, error) { return LoadBytes(t, name, wasm, config, lim) })
	})
}

// native is the in-process plugin of this test binary.
type native struct{ info wasmhost.Info }

// Native loads the handlers registered in this process, checking what wasmhost would check
// at load and what only the SDK can see: a hook package linked in without a handler.
func Native(config []byte) (Plugin, error) {
	var v struct {
		Name, Version, Description string
		Hooks                      []string
	}
	if err := json.Unmarshal(plugin.InfoJSON(), &v); err != nil {
		return nil, fmt.Errorf("plugintest: native: plugin_info: %w", err)
	}
	exports := plugin.Exports()
	switch {
	case v.Name == "":
		return nil, errors.New("plugintest: native: plugin_info: name is empty (call plugin.Describe in init)")
	case len(v.Hooks) == 0:
		return nil, errors.New("plugintest: native: the plugin exports no hook (import a package under sdk/go/plugin and call its Handle)")
	}
	for _, e := range exports {
		if !plugin.Registered(e) {
			return nil, fmt.Errorf("plugintest: native: %s is exported but has no handler: its package is imported but its Handle is never called", e)
		}
	}
	hasInit := slices.Contains(exports, "plugin_init")
	if !hasInit && len(config) > 0 {
		return nil, errors.New("plugintest: native: config given but the module does not export plugin_init")
	}
	if hasInit {
		out, changed, err := plugin.Call("plugin_init", config)
		if err != nil {
			return nil, fmt.Errorf("plugintest: native: plugin_init: %w", err)
		}
		if changed {
			return nil, fmt.Errorf("plugintest: native: plugin_init refused the config: %s", out)
		}
	}
	return &native{info: wasmhost.Info{Name: v.Name, Version: v.Version, Description: v.Description, Hooks: v.Hooks}}, nil
}

func (n *native) Info() wasmhost.Info { return n.info }

// Call checks the output as wasmhost does, so a plugin that writes invalid JSON fails
// natively too, not only once compiled.
func (n *native) Call(hook string, in []byte) ([]byte, bool, error) {
	if !slices.Contains(n.info.Hooks, hook) {
		return nil, false, fmt.Errorf("plugintest: native: call %s: plugin does not export this hook", hook)
	}
	out, changed, err := plugin.Call(hook, in)
	if err != nil || !changed {
		return nil, false, err
	}
	switch {
	case len(out) > wasmhost.DefaultMaxOutput:
		return nil, false, fmt.Errorf("plugintest: native: call %s: output of %d bytes is over the %d-byte cap", hook, len(out), wasmhost.DefaultMaxOutput)
	case !utf8.Valid(out):
		return nil, false, fmt.Errorf("plugintest: native: call %s: output is not valid UTF-8", hook)
	case !json.Valid(out):
		return nil, false, fmt.Errorf("plugintest: native: call %s: output is not valid JSON: %.200q", hook, out)
	}
	return out, true, nil
}

// wasmPlugin is a module loaded by wasmhost.
type wasmPlugin struct{ p *wasmhost.Plugin }

func (w wasmPlugin) Call(hook string, in []byte) ([]byte, bool, error) {
	return w.p.Call(context.Background(), hook, in)
}

func (w wasmPlugin) Info() wasmhost.Info { return w.p.Info() }

// Wasmhost returns the wasmhost plugin behind p, for benchmarks that call the host directly,
// or nil for a native plugin.
func Wasmhost(p Plugin) *wasmhost.Plugin {
	if w, ok := p.(wasmPlugin); ok {
		return w.p
	}
	return nil
}

var (
	hostOnce sync.Once
	host     *wasmhost.Host
	hostErr  error

	meteredMu sync.Mutex
	metered   = map[[sha256.Size]byte]*meteredModule{}
)

type meteredModule struct {
	once sync.Once
	wasm []byte
	err  error
}

// sharedHost is one host per test process: its compilation cache makes every load of a
// module after the first skip the compile (about a second for a Go plugin). It has no
// Instrument because LoadBytes meters each module once itself (see meter).
func sharedHost() (*wasmhost.Host, error) {
	hostOnce.Do(func() {
		host, hostErr = wasmhost.NewHost(context.Background(), wasmhost.Config{})
	})
	return host, hostErr
}

// meter runs wasmhost.Metered once per distinct module. A host with Instrument set would
// rewrite the module on every Load, which for a 2 MB Go module under the race detector
// took seconds per load; the rewritten module exports the fuel globals, which the host
// then drives exactly as it drives a module it instrumented itself.
func meter(wasm []byte) ([]byte, error) {
	key := sha256.Sum256(wasm)
	meteredMu.Lock()
	m := metered[key]
	if m == nil {
		m = &meteredModule{}
		metered[key] = m
	}
	meteredMu.Unlock()
	m.once.Do(func() { m.wasm, m.err = wasmhost.Metered(wasm) })
	return m.wasm, m.err
}

// LoadBytes loads a module through edge/wasmhost, as the node loads it (metered with
// wasmhost.Metered, with lim, and config given to plugin_init), and closes it when tb ends.
func LoadBytes(tb testing.TB, name string, wasm, config []byte, lim wasmhost.Limits) (Plugin, error) {
	tb.Helper()
	h, err := sharedHost()
	if err != nil {
		return nil, fmt.Errorf("plugintest: %w", err)
	}
	inst, err := meter(wasm)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: instrument %s: %w", name, err)
	}
	p, err := h.Load(context.Background(), name, inst, config, lim)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { _ = p.Close(context.Background()) })
	return wasmPlugin{p}, nil
}

// Load loads an already built .wasm file (any language) with config and default limits
// (but TestDeadline), failing tb if the file is missing (telling how to build it) or does
// not load.
func Load(tb testing.TB, path string, config []byte) Plugin {
	tb.Helper()
	wasm, err := os.ReadFile(path)
	if err != nil {
		tb.Fatalf("plugintest: %v: run scripts/build-plugins.sh", err)
	}
	p, err := LoadBytes(tb, filepath.Base(path), wasm, config, wasmhost.Limits{Deadline: TestDeadline})
	if err != nil {
		tb.Fatalf("plugintest: load %s: %v", path, err)
	}
	return p
}

var (
	buildMu sync.Mutex
	builds  = map[string]*buildResult{}
)

type buildResult struct {
	once sync.Once
	wasm []byte
	err  error
}

// Build compiles the Go plugin in dir with GOOS=wasip1 (as scripts/build-plugins.sh does)
// and returns the module. Each dir is built once per test process; the bytes are kept in
// memory, the file in tb's temporary directory.
func Build(tb testing.TB, dir string) []byte {
	tb.Helper()
	abs := absDir(tb, dir)
	buildMu.Lock()
	r := builds[abs]
	if r == nil {
		r = &buildResult{}
		builds[abs] = r
	}
	buildMu.Unlock()
	r.once.Do(func() { r.wasm, r.err = build(abs, tb.TempDir()) })
	if r.err != nil {
		tb.Fatal(r.err)
	}
	return r.wasm
}

func absDir(tb testing.TB, dir string) string {
	if dir == "" {
		dir = "."
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		tb.Fatalf("plugintest: %v", err)
	}
	return abs
}

func build(dir, tmp string) ([]byte, error) {
	out := filepath.Join(tmp, "plugin.wasm")
	goBin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(goBin); err != nil {
		goBin = "go"
	}
	cmd := exec.Command(goBin, "build", "-trimpath", "-buildmode=c-shared", "-ldflags=-s -w", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(buildEnv(os.Environ()), "GOOS=wasip1", "GOARCH=wasm")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("plugintest: build %s for wasip1: %v\n%s", dir, err, stderr.Bytes())
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		return nil, fmt.Errorf("plugintest: build %s: %w", dir, err)
	}
	return wasm, nil
}

// buildEnv drops what would break a wasip1 build inherited from `go test`'s environment:
// the race detector and cgo exist only natively.
func buildEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		switch k {
		case "GOOS", "GOARCH", "CGO_ENABLED":
			continue
		case "GOFLAGS":
			var keep []string
			for _, f := range strings.Fields(v) {
				if f != "-race" && f != "-msan" && f != "-asan" {
					keep = append(keep, f)
				}
			}
			kv = "GOFLAGS=" + strings.Join(keep, " ")
		}
		out = append(out, kv)
	}
	return out
}
