package wasmhost

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func module(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// syncBuffer collects log output from guest goroutines safely.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newHost(t testing.TB) (*Host, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	h, err := NewHost(context.Background(), Config{
		CacheDir: filepath.Join(t.TempDir(), "cache"),
		Logger:   slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Close(context.Background()); err != nil {
			t.Error(err)
		}
	})
	return h, logs
}

func load(t testing.TB, h *Host, name string, lim Limits) *Plugin {
	t.Helper()
	p, err := h.Load(context.Background(), name, module(t, name), nil, lim)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// spinFuel lets the spinning hook run for about a second or more, far past the deadlines
// the tests set, while still bounding it: a GC that starts during the spin cannot finish,
// and so no timer can fire, until the guest stops.
const spinFuel = 1_000_000_000

// settleGC finishes any GC cycle in progress before a test that relies on a timer firing
// while a guest spins, so a stop-the-world is unlikely to start during the spin.
func settleGC() { runtime.GC() }

func kindOf(err error) ErrorKind {
	var ce *CallError
	if errors.As(err, &ce) {
		return ce.Kind
	}
	return 0
}

func TestEcho(t *testing.T) {
	h, logs := newHost(t)
	p := load(t, h, "echo", Limits{})
	ctx := context.Background()

	info := p.Info()
	if info.Name != "echo" || info.Version != "1.0.0" || info.Description != "uppercases" ||
		strings.Join(info.Hooks, ",") != "hook_request,hook_response,hook_stream" {
		t.Fatalf("info = %+v", info)
	}
	if !p.Has(HookRequest) || !p.Has(HookResponse) || p.Has(HookRoute) || p.Has("nope") {
		t.Fatal("Has disagrees with the exports")
	}
	if !strings.Contains(logs.String(), "echo initialised") {
		t.Fatalf("crossroads.log from plugin_init missing from the node log:\n%s", logs)
	}

	tests := []struct {
		name, hook, in, want string
		changed              bool
	}{
		{"uppercased", HookRequest, `{"model":"gpt"}`, `{"MODEL":"GPT"}`, true},
		{"empty object", HookRequest, `{}`, `{}`, true},
		{"unchanged", HookResponse, `{"a":1}`, "", false},
		{"empty input unchanged", HookResponse, ``, "", false},
		{"verbatim", HookStream, `{"state":"","events":[]}`, `{"state":"","events":[]}`, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, changed, err := p.Call(ctx, tc.hook, []byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			if changed != tc.changed || string(out) != tc.want {
				t.Fatalf("got %q changed=%v, want %q changed=%v", out, changed, tc.want, tc.changed)
			}
		})
	}
	if _, _, err := p.Call(ctx, HookRoute, []byte(`{}`)); kindOf(err) != ABI {
		t.Fatalf("calling an unexported hook: %v", err)
	}
	if p.Live() != 1 {
		t.Fatalf("%d live instances after sequential calls, want the one instance reused", p.Live())
	}
}

func TestHostFunctions(t *testing.T) {
	h, _ := newHost(t)
	p := load(t, h, "hostfuncs", Limits{})
	tests := []struct {
		name, hook string
		want       string
		kind       ErrorKind
	}{
		{"clock and random are real", HookRoute, `{"ok":1}`, 0},
		{"log outside memory traps", HookRequest, "", Trap},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out, _, err := p.Call(context.Background(), tc.hook, []byte(`{}`))
			if kindOf(err) != tc.kind || string(out) != tc.want {
				t.Fatalf("got %q, %v; want %q, kind %v", out, err, tc.want, tc.kind)
			}
		})
	}
}

func TestABIConformance(t *testing.T) {
	tests := []struct {
		module string
		want   []string // substrings of the error
	}{
		{"abi_no_memory", []string{"missing export memory"}},
		{"abi_no_alloc", []string{"missing export plugin_alloc", "(i32) -> (i32)"}},
		{"abi_no_marker", []string{"missing export plugin_abi_v1", "() -> ()"}},
		{"abi_bad_hook", []string{"export hook_route has signature (i32, i32) -> (i32)", "want (i32, i32) -> (i64)"}},
		{"abi_bad_import", []string{"imports env.abort", "crossroads", "wasi_snapshot_preview1"}},
		{"abi_no_hooks", []string{"exports no hook"}},
		{"abi_unknown_host_func", []string{"imports unknown function crossroads.sleep"}},
		{"abi_info_lies", []string{`plugin_info lists hook "hook_stream"`}},
		{"abi_half_format", []string{"missing export hook_format_response", "a format plugin must export all of"}},
	}
	h, _ := newHost(t)
	for _, tc := range tests {
		t.Run(tc.module, func(t *testing.T) {
			_, err := h.Load(context.Background(), tc.module, module(t, tc.module), nil, Limits{})
			if err == nil {
				t.Fatal("Load accepted a non-conforming module")
			}
			_, cerr := Check(context.Background(), module(t, tc.module))
			if cerr == nil {
				t.Fatal("Check accepted a non-conforming module")
			}
			for _, e := range []error{err, cerr} {
				if !strings.HasPrefix(e.Error(), "wasmhost: ") {
					t.Errorf("error not prefixed: %v", e)
				}
				for _, w := range tc.want {
					if !strings.Contains(e.Error(), w) {
						t.Errorf("error %q does not mention %q", e, w)
					}
				}
			}
		})
	}
}

func TestCheck(t *testing.T) {
	info, err := Check(context.Background(), module(t, "echo"))
	if err != nil {
		t.Fatal(err)
	}
	if info.Name != "echo" || len(info.Hooks) != 3 {
		t.Fatalf("info = %+v", info)
	}
}

func TestInitError(t *testing.T) {
	h, _ := newHost(t)
	_, err := h.Load(context.Background(), "initerr", module(t, "init_error"), []byte(`{"w":2}`), Limits{})
	if err == nil || !strings.Contains(err.Error(), "weights must sum to 1") {
		t.Fatalf("Load = %v, want the plugin's error message", err)
	}
	// Check does not run plugin_init: there is no config to give it.
	if _, err := Check(context.Background(), module(t, "init_error")); err != nil {
		t.Fatal(err)
	}
	// A config for a plugin without plugin_init is a configuration mistake, not ignored.
	if _, err := h.Load(context.Background(), "misbehave", module(t, "misbehave"), []byte(`{}`), Limits{}); err == nil ||
		!strings.Contains(err.Error(), "plugin_init") {
		t.Fatalf("Load with config and no plugin_init = %v", err)
	}
}

// TestMisbehaviour checks each failure mode is reported with its kind, that the failed
// instance is discarded, and that the plugin keeps serving afterwards.
func TestMisbehaviour(t *testing.T) {
	tests := []struct {
		name string
		hook string
		lim  Limits
		want ErrorKind
		msg  string
	}{
		{"trap", HookStream, Limits{}, Trap, "unreachable"},
		{"pointer beyond memory", HookRoute, Limits{}, BadOutput, "beyond memory"},
		{"not json", HookFormatRequest, Limits{}, BadOutput, "not UTF-8 JSON"},
		{"oversized", HookResponse, Limits{MaxOutput: 1 << 20}, TooLarge, "limit 1048576"},
		{"memory bomb", HookStreamEnd, Limits{MemoryPages: 64, Deadline: 10 * time.Second}, OutOfMemory, "64-page cap"},
		{"infinite loop, fuel", HookFormatError, Limits{Fuel: 100_000, Deadline: 10 * time.Second}, OutOfFuel, "budget 100000"},
		{"infinite loop, deadline", HookFormatError, Limits{Fuel: spinFuel, Deadline: 20 * time.Millisecond}, Deadline, "exceeded 20ms"},
	}
	h, _ := newHost(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.lim.Instances = 1
			p := load(t, h, "misbehave", tc.lim)
			defer p.Close(context.Background())
			settleGC()
			start := time.Now()
			_, _, err := p.Call(context.Background(), tc.hook, []byte(`{"x":1}`))
			if kindOf(err) != tc.want {
				t.Fatalf("err = %v (kind %v), want kind %v", err, kindOf(err), tc.want)
			}
			if !strings.Contains(err.Error(), tc.msg) || !strings.Contains(err.Error(), "misbehave."+tc.hook) {
				t.Fatalf("err = %v, want it to name the plugin, hook and %q", err, tc.msg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("failure took %v", d)
			}
			if p.Live() != 0 {
				t.Fatalf("%d live instances after a failure, want the instance discarded", p.Live())
			}
			out, changed, err := p.Call(context.Background(), HookRequest, []byte(`{}`))
			if err != nil || !changed || string(out) != `{"ok":true}` {
				t.Fatalf("call after failure: %q %v %v", out, changed, err)
			}
		})
	}
}

// TestDeadlineFromContext checks a ctx deadline shorter than Limits.Deadline stops the guest.
func TestDeadlineFromContext(t *testing.T) {
	h, _ := newHost(t)
	p := load(t, h, "misbehave", Limits{Fuel: spinFuel, Deadline: time.Minute})
	settleGC()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := p.Call(ctx, HookFormatError, nil)
	if kindOf(err) != Deadline || time.Since(start) > 5*time.Second {
		t.Fatalf("err = %v after %v", err, time.Since(start))
	}
}

// TestGCWhileSpinning checks the property fuel exists for: a GC requested while a guest
// loops completes once the fuel runs out, instead of hanging the process. The stop-the-world
// also holds back the deadline timer, so only fuel can end this call.
func TestGCWhileSpinning(t *testing.T) {
	h, _ := newHost(t)
	p := load(t, h, "misbehave", Limits{Fuel: 20_000_000, Deadline: time.Minute})
	errc := make(chan error, 1)
	go func() {
		_, _, err := p.Call(context.Background(), HookFormatError, nil)
		errc <- err
	}()
	time.Sleep(2 * time.Millisecond)
	done := make(chan struct{})
	go func() { runtime.GC(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("GC did not complete while a guest spun")
	}
	if err := <-errc; kindOf(err) != OutOfFuel {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrency(t *testing.T) {
	h, _ := newHost(t)
	const instances = 3
	p := load(t, h, "echo", Limits{Instances: instances})
	var (
		wg      sync.WaitGroup
		maxLive atomic.Int64
		failed  atomic.Int64
	)
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 40 {
				in := []byte(`{"g":"abc","i":"xyz"}`)
				out, _, err := p.Call(context.Background(), HookRequest, in)
				if err != nil || string(out) != `{"G":"ABC","I":"XYZ"}` {
					t.Errorf("goroutine %d call %d: %q %v", g, i, out, err)
					failed.Add(1)
					return
				}
				if l := int64(p.Live()); l > maxLive.Load() {
					maxLive.Store(l) // racy max is fine: any value above the bound is a failure
				}
			}
		}()
	}
	wg.Wait()
	if m := maxLive.Load(); m > instances || m < 1 {
		t.Fatalf("max live instances %d, bound %d", m, instances)
	}
}

// TestFailuresUnderLoad mixes trapping and healthy calls from many goroutines: every
// healthy call succeeds, every trap is reported, and the pool stays within its bound.
func TestFailuresUnderLoad(t *testing.T) {
	h, _ := newHost(t)
	const instances = 4
	p := load(t, h, "misbehave", Limits{Instances: instances})
	var wg sync.WaitGroup
	var over atomic.Bool
	for g := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 20 {
				hook, want := HookRequest, ErrorKind(0)
				if (g+i)%3 == 0 {
					hook, want = HookStream, Trap
				}
				out, _, err := p.Call(context.Background(), hook, []byte(`{}`))
				if kindOf(err) != want || (want == 0 && string(out) != `{"ok":true}`) {
					t.Errorf("%s: %q %v", hook, out, err)
					return
				}
				if p.Live() > instances {
					over.Store(true)
				}
			}
		}()
	}
	wg.Wait()
	if over.Load() {
		t.Fatalf("more than %d live instances", instances)
	}
}

func TestHostCloseClosesPlugins(t *testing.T) {
	h, err := NewHost(context.Background(), Config{})
	if err != nil {
		t.Fatal(err)
	}
	p := load(t, h, "echo", Limits{})
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, _, err := p.Call(context.Background(), HookRequest, []byte(`{}`)); kindOf(err) != Closed {
		t.Fatalf("call after Host.Close: %v", err)
	}
	if _, err := h.Load(context.Background(), "echo", module(t, "echo"), nil, Limits{}); err == nil {
		t.Fatal("Load after Host.Close succeeded")
	}
}

func TestCloseWhileInFlight(t *testing.T) {
	h, _ := newHost(t)
	p := load(t, h, "misbehave", Limits{Fuel: spinFuel, Deadline: 50 * time.Millisecond, Instances: 1})
	var wg sync.WaitGroup
	results := make(chan error, 4)
	settleGC()
	wg.Add(1)
	go func() { // holds the only instance until its deadline
		defer wg.Done()
		_, _, err := p.Call(context.Background(), HookFormatError, nil)
		results <- err
	}()
	time.Sleep(5 * time.Millisecond)
	for range 3 { // these wait for the instance and must be woken by Close
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := p.Call(context.Background(), HookRequest, []byte(`{}`))
			results <- err
		}()
	}
	time.Sleep(5 * time.Millisecond)
	if err := p.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(results)
	for err := range results {
		if k := kindOf(err); k != Deadline && k != Closed && err != nil {
			t.Errorf("in-flight call: %v", err)
		}
	}
	if p.Live() != 0 {
		t.Fatalf("%d instances alive after Close", p.Live())
	}
	if _, _, err := p.Call(context.Background(), HookRequest, []byte(`{}`)); kindOf(err) != Closed {
		t.Fatalf("call after Close: %v", err)
	}
	if err := p.Close(context.Background()); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestWaitForInstanceHonoursContext(t *testing.T) {
	h, _ := newHost(t)
	p := load(t, h, "misbehave", Limits{Fuel: spinFuel, Deadline: 200 * time.Millisecond, Instances: 1})
	settleGC()
	go p.Call(context.Background(), HookFormatError, nil)
	time.Sleep(5 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	_, _, err := p.Call(ctx, HookRequest, []byte(`{}`))
	if kindOf(err) != Deadline || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v", err)
	}
}

func TestCacheDirPermissions(t *testing.T) {
	tests := []struct {
		name    string
		mode    os.FileMode // of an existing dir; 0 = let NewHost create it
		wantErr bool
	}{
		{"created", 0, false},
		{"existing private", 0o700, false},
		{"existing group writable", 0o770, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "c")
			if tc.mode != 0 {
				if err := os.Mkdir(dir, tc.mode); err != nil {
					t.Fatal(err)
				}
				if err := os.Chmod(dir, tc.mode); err != nil {
					t.Fatal(err)
				}
			}
			h, err := NewHost(context.Background(), Config{CacheDir: dir})
			if (err != nil) != tc.wantErr {
				t.Fatalf("NewHost = %v, wantErr %v", err, tc.wantErr)
			}
			if err != nil {
				return
			}
			defer h.Close(context.Background())
			st, err := os.Stat(dir)
			if err != nil || st.Mode().Perm() != 0o700 {
				t.Fatalf("cache dir mode %v %v", st.Mode().Perm(), err)
			}
		})
	}
}

func TestInstrumentIsApplied(t *testing.T) {
	var calls atomic.Int64
	h, err := NewHost(context.Background(), Config{Instrument: func(b []byte) ([]byte, error) {
		calls.Add(1)
		return b, nil
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	if _, err := h.Load(context.Background(), "echo", module(t, "echo"), nil, Limits{}); err != nil || calls.Load() != 1 {
		t.Fatalf("Load = %v, Instrument called %d times", err, calls.Load())
	}
	h2, _ := NewHost(context.Background(), Config{Instrument: func([]byte) ([]byte, error) { return nil, errors.New("boom") }})
	defer h2.Close(context.Background())
	if _, err := h2.Load(context.Background(), "echo", module(t, "echo"), nil, Limits{}); err == nil || !strings.Contains(err.Error(), "wasmhost: instrument echo: boom") {
		t.Fatalf("Load = %v", err)
	}
}

// TestGoPlugin builds a Go wasip1 reactor and runs it end to end.
func TestGoPlugin(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a Go plugin")
	}
	out := filepath.Join(t.TempDir(), "goecho.wasm")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "build", "-buildmode=c-shared", "-o", out, "./testdata/goplugin")
	cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Skipf("cannot build the Go plugin here: %v\n%s", err, b)
	}
	wasm, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := newHost(t)
	p, err := h.Load(context.Background(), "goecho", wasm, nil, Limits{Instances: 2, Deadline: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if p.Info().Name != "goecho" {
		t.Fatalf("info = %+v", p.Info())
	}
	for i := range 100 {
		got, changed, err := p.Call(context.Background(), HookRequest, []byte(`{"model":"gpt"}`))
		if err != nil || !changed || string(got) != `{"MODEL":"GPT"}` {
			t.Fatalf("call %d: %q %v %v", i, got, changed, err)
		}
	}
}

// TestTestdataUpToDate regenerates each committed .wasm from its .wat and compares.
func TestTestdataUpToDate(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not on PATH; the committed .wasm files are used as they are")
	}
	srcs, _ := filepath.Glob("testdata/*.wat")
	if len(srcs) == 0 {
		t.Fatal("no .wat sources")
	}
	for _, src := range srcs {
		name := strings.TrimSuffix(filepath.Base(src), ".wat")
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name+".wasm")
			if b, err := exec.Command("wat2wasm", src, "-o", out).CombinedOutput(); err != nil {
				t.Fatalf("wat2wasm: %v\n%s", err, b)
			}
			want, _ := os.ReadFile(out)
			if !bytes.Equal(want, module(t, name)) {
				t.Fatalf("testdata/%s.wasm is stale: run go generate ./edge/wasmhost/", name)
			}
		})
	}
}

// TestMeteredStopsAnUnmeteredSpin: a plugin with no metering of its own is stopped by the
// fuel the production host injects, and a well-behaved one still works instrumented.
func TestMeteredStopsAnUnmeteredSpin(t *testing.T) {
	h, err := NewHost(context.Background(), Config{Instrument: Metered})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(context.Background())
	spin := load(t, h, "spin_plain", Limits{Fuel: 1_000_000, Deadline: time.Second})
	start := time.Now()
	if _, _, err := spin.Call(context.Background(), HookRoute, []byte(`{}`)); kindOf(err) != OutOfFuel {
		t.Fatalf("spin: %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Fatalf("a 1M-unit budget took %s to stop the spin", d)
	}
	echo := load(t, h, "echo", Limits{})
	out, changed, err := echo.Call(context.Background(), HookRequest, []byte(`{"a":"b"}`))
	if err != nil || !changed || string(out) != `{"A":"B"}` {
		t.Fatalf("instrumented echo = %q, %v, %v", out, changed, err)
	}
	// A module exporting the metering global itself is refused.
	if _, err := h.Load(context.Background(), "misbehave", module(t, "misbehave"), nil, Limits{}); err == nil {
		t.Fatal("loaded a module that meters itself")
	}
}

// TestMaxCallsRecycles: an instance is replaced after MaxCalls calls; echo's plugin_init
// logs once per instance, so the log counts instantiations.
func TestMaxCallsRecycles(t *testing.T) {
	for _, tc := range []struct {
		name           string
		maxCalls       int
		calls, wantNew int
	}{
		{"default keeps one instance", 0, 5, 1},
		{"every call fresh", 1, 5, 5}, // the instance that answered plugin_info serves the first call
		{"every other call", 2, 5, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h, logs := newHost(t)
			p := load(t, h, "echo", Limits{MaxCalls: tc.maxCalls})
			for range tc.calls {
				if _, _, err := p.Call(context.Background(), HookRequest, []byte(`{}`)); err != nil {
					t.Fatal(err)
				}
			}
			if n := strings.Count(logs.String(), "echo initialised"); n != tc.wantNew {
				t.Fatalf("%d instances created for %d calls, want %d", n, tc.calls, tc.wantNew)
			}
		})
	}
}
