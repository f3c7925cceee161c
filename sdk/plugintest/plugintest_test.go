package plugintest_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/sdk/plugintest"
	_ "github.com/crossroads-llm/crossroads/sdk/plugintest/internal/testplugin"
)

var opts = plugintest.Options{Dir: "testdata/plugin", Config: []byte(`{"prefix":"p/"}`)}

const routeIn = `{"request":{"model":%q,"stream":false},"candidates":[{"id":"a","circuit":"closed"},{"id":"b","circuit":"open"},{"id":"c"}]}`

func TestInfo(t *testing.T) {
	plugintest.Run(t, opts, func(t *testing.T, p plugintest.Plugin) {
		info := p.Info()
		want := []string{"hook_route", "hook_request", "hook_stream", "hook_stream_end"}
		if info.Name != "plugintest-fixture" || info.Version != "0.1.0" || !slices.Equal(info.Hooks, want) {
			t.Fatalf("info = %+v, want hooks %v", info, want)
		}
	})
}

func TestCall(t *testing.T) {
	cases := []struct {
		name, hook, in string
		want           string // "" means unchanged
		wantErr        bool
	}{
		{"route reversed with config prefix", "hook_route", fmt.Sprintf(routeIn, "m"), `{"order":["p/c","p/b","p/a"]}`, false},
		{"route unchanged", "hook_route", fmt.Sprintf(routeIn, "keep"), "", false},
		{"handler error becomes the error object", "hook_route", fmt.Sprintf(routeIn, "fail"), `{"error":{"code":"nope","message":"asked to fail"}}`, false},
		{"panic is a failed call", "hook_route", fmt.Sprintf(routeIn, "panic"), "", true},
		{"malformed input is a bad_input error", "hook_route", `{"candidates":[`, `{"error":{"code":"bad_input"`, false},
		{"request rewritten", "hook_request", `{"model":"upper"}`, `{"MODEL":"UPPER"}`, false},
		{"request unchanged", "hook_request", `{"model":"x"}`, "", false},
		{"invalid JSON output is refused", "hook_request", `{"x":"invalid-output"}`, "", true},
		{"empty input", "hook_request", ``, "", false},
		{"stream state", "hook_stream", `{"state":"2","events":[{"event":"","data":"ab"},{"event":"e","data":"c\"d"}]}`,
			`{"state":"4","events":[{"event":"","data":"AB"},{"event":"e","data":"C\"D"}]}`, false},
		{"stream end flushes", "hook_stream_end", `{"state":"7","events":[]}`, `{"state":"7","events":[{"event":"count","data":"7"}]}`, false},
		{"hook not exported", "hook_response", `{}`, "", true},
	}
	plugintest.Run(t, opts, func(t *testing.T, p plugintest.Plugin) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				out, changed, err := p.Call(c.hook, []byte(c.in))
				if (err != nil) != c.wantErr {
					t.Fatalf("err = %v, want error: %v", err, c.wantErr)
				}
				if c.want == "" {
					if changed {
						t.Fatalf("changed with %s, want unchanged", out)
					}
					return
				}
				if !changed || !strings.HasPrefix(string(out), c.want) {
					t.Fatalf("out = %s (changed %v), want %s", out, changed, c.want)
				}
			})
		}
	})
}

func TestConfig(t *testing.T) {
	cases := []struct {
		name    string
		config  string
		wantErr string
		want    string
	}{
		{"no config", "", "", `{"order":["c","b","a"]}`},
		{"prefix", `{"prefix":"z:"}`, "", `{"order":["z:c","z:b","z:a"]}`},
		{"refused", `{"reject":true}`, "rejected on request", ""},
		{"wrong type", `{"prefix":1}`, "prefix must be a string", ""},
	}
	plugintest.Each(t, opts, func(t *testing.T, load plugintest.Loader) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var cfg []byte
				if c.config != "" {
					cfg = []byte(c.config)
				}
				p, err := load(cfg)
				if c.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), c.wantErr) {
						t.Fatalf("load err = %v, want %q", err, c.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				out, _, err := p.Call("hook_route", []byte(fmt.Sprintf(routeIn, "m")))
				if err != nil || string(out) != c.want {
					t.Fatalf("out = %s, %v; want %s", out, err, c.want)
				}
			})
		}
	})
}

// TestWasmhostPlugin checks that the wasm run really goes through edge/wasmhost, metered.
func TestWasmhostPlugin(t *testing.T) {
	plugintest.Run(t, opts, func(t *testing.T, p plugintest.Plugin) {
		wp := plugintest.Wasmhost(p)
		if (t.Name() == "TestWasmhostPlugin/wasm") != (wp != nil) {
			t.Fatalf("%s: Wasmhost(p) = %v", t.Name(), wp)
		}
		if wp != nil && wp.Live() < 1 {
			t.Fatalf("no live instance")
		}
	})
}

func TestLoadBuiltFile(t *testing.T) {
	wasm := plugintest.Build(t, "testdata/plugin")
	path := filepath.Join(t.TempDir(), "fixture.wasm")
	if err := os.WriteFile(path, wasm, 0o600); err != nil {
		t.Fatal(err)
	}
	p := plugintest.Load(t, path, nil)
	out, changed, err := p.Call("hook_route", []byte(fmt.Sprintf(routeIn, "m")))
	if err != nil || !changed || string(out) != `{"order":["c","b","a"]}` {
		t.Fatalf("out = %s, %v, %v", out, changed, err)
	}
	if p.Info().Name != "plugintest-fixture" {
		t.Fatalf("info = %+v", p.Info())
	}

	ft := &fatalTB{TB: t}
	func() {
		defer func() {
			if r := recover(); r != nil && r != errFatal {
				panic(r)
			}
		}()
		plugintest.Load(ft, filepath.Join(t.TempDir(), "missing.wasm"), nil)
	}()
	if !strings.Contains(ft.msg, "run scripts/build-plugins.sh") {
		t.Fatalf("missing file: fatal message %q", ft.msg)
	}
}

var errFatal = errors.New("fatal")

// fatalTB records a Fatalf instead of ending the test, to check Load's message.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	panic(errFatal)
}

func (f *fatalTB) Helper() {}

// BenchmarkNewInstance measures what a pool pays for a fresh instance of a Go plugin:
// instantiate, _initialize (the Go runtime's start-up), plugin_init, then the first call.
// A trapping call discards the only instance (Instances: 1), so the timed call that follows
// must create a new one; the trap itself is not timed.
func BenchmarkNewInstance(b *testing.B) {
	p, err := plugintest.LoadBytes(b, "fixture", plugintest.Build(b, "testdata/plugin"), []byte(`{"prefix":"x"}`),
		wasmhost.Limits{Instances: 1, Deadline: plugintest.TestDeadline})
	if err != nil {
		b.Fatal(err)
	}
	panicIn, in := []byte(fmt.Sprintf(routeIn, "panic")), []byte(fmt.Sprintf(routeIn, "m"))
	for b.Loop() {
		b.StopTimer()
		if _, _, err := p.Call("hook_route", panicIn); err == nil {
			b.Fatal("the panic did not trap")
		}
		b.StartTimer()
		if _, _, err := p.Call("hook_route", in); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkWarmCall is the same first-call work on a warm instance, to subtract.
func BenchmarkWarmCall(b *testing.B) {
	p, err := plugintest.LoadBytes(b, "fixture", plugintest.Build(b, "testdata/plugin"), []byte(`{"prefix":"x"}`),
		wasmhost.Limits{Instances: 1, Deadline: plugintest.TestDeadline})
	if err != nil {
		b.Fatal(err)
	}
	in := []byte(fmt.Sprintf(routeIn, "m"))
	for b.Loop() {
		if _, _, err := p.Call("hook_route", in); err != nil {
			b.Fatal(err)
		}
	}
}
