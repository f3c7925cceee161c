package fuel

//go:generate sh testdata/gen.sh

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
)

// features is what the fixtures need; the fuel checks themselves need only
// MVP + mutable globals.
const features = api.CoreFeaturesV2 | experimental.CoreFeaturesTailCall | experimental.CoreFeaturesThreads

func fixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name+".wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func instrument(t testing.TB, wasm []byte, o Options) []byte {
	t.Helper()
	out, err := Instrument(wasm, o)
	if err != nil {
		t.Fatalf("Instrument: %v", err)
	}
	return out
}

func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().WithCoreFeatures(features))
	t.Cleanup(func() { r.Close(ctx) })
	return r
}

// instantiate compiles and instantiates wasm anonymously in r.
func instantiate(t testing.TB, r wazero.Runtime, wasm []byte) api.Module {
	t.Helper()
	ctx := context.Background()
	m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
	if err != nil {
		t.Fatalf("instantiate: %v", err)
	}
	return m
}

func fuelGlobal(t testing.TB, m api.Module, name string) api.MutableGlobal {
	t.Helper()
	g, ok := m.ExportedGlobal(name).(api.MutableGlobal)
	if !ok {
		t.Fatalf("export %q is not a mutable global", name)
	}
	return g
}

// TestSameResults runs each fixture plain and instrumented (with and without
// Limit) and compares results, and checks that fuel was charged.
func TestSameResults(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		env     bool // needs the "env" module providing globals
		fn      string
		args    []uint64
	}{
		{name: "arithmetic", fixture: "arith", fn: "calc", args: []uint64{6, 7}},
		{name: "recursive fib", fixture: "fib", fn: "fib", args: []uint64{20}},
		{name: "loop sum", fixture: "sum", fn: "sum", args: []uint64{1000}},
		{name: "multi-value loop param", fixture: "multivalue", fn: "count", args: []uint64{50}},
		{name: "imported globals", fixture: "imports", env: true, fn: "run", args: []uint64{100}},
		{name: "memory data and start", fixture: "memstart", fn: "checksum"},
		{name: "post-MVP features", fixture: "features", fn: "run", args: []uint64{20}},
	}
	ctx := context.Background()
	run := func(t *testing.T, wasm []byte, env bool, fn string, args []uint64) ([]uint64, api.Module) {
		r := newRuntime(t)
		if env {
			if _, err := r.InstantiateWithConfig(ctx, fixture(t, "env"), wazero.NewModuleConfig().WithName("env")); err != nil {
				t.Fatal(err)
			}
		}
		m := instantiate(t, r, wasm)
		res, err := m.ExportedFunction(fn).Call(ctx, args...)
		if err != nil {
			t.Fatalf("call %s: %v", fn, err)
		}
		return res, m
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := fixture(t, tt.fixture)
			want, _ := run(t, orig, tt.env, tt.fn, tt.args)
			for _, limit := range []bool{false, true} {
				got, m := run(t, instrument(t, orig, Options{Limit: limit}), tt.env, tt.fn, tt.args)
				if !equalU64(got, want) {
					t.Errorf("limit=%v: got %v, want %v", limit, got, want)
				}
				if left := fuelGlobal(t, m, FuelExport).Get(); int64(left) >= DefaultInitialFuel || int64(left) < 0 {
					t.Errorf("limit=%v: fuel after call = %d, want charged but not exhausted", limit, int64(left))
				}
			}
		})
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNoGlobalNoExport covers a module where both sections are created; its
// only output is a host call from the start function, which runs on
// InitialFuel.
func TestNoGlobalNoExport(t *testing.T) {
	ctx := context.Background()
	orig := fixture(t, "noglobals")
	run := func(wasm []byte) (int32, api.Module, error) {
		r := newRuntime(t)
		var got int32
		_, err := r.NewHostModuleBuilder("host").NewFunctionBuilder().
			WithFunc(func(v int32) { got = v }).Export("report").Instantiate(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithName(""))
		return got, m, err
	}
	want, _, err := run(orig)
	if err != nil {
		t.Fatal(err)
	}
	got, m, err := run(instrument(t, orig, Options{InitialFuel: 1000}))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("got %d, want %d", got, want)
	}
	// start + work entries, 10 loop headers.
	if used := 1000 - int64(fuelGlobal(t, m, FuelExport).Get()); used != 12 {
		t.Errorf("start function used %d fuel, want 12", used)
	}
	// Too little initial fuel makes instantiation itself trap.
	if _, _, err := run(instrument(t, orig, Options{InitialFuel: 5})); err == nil {
		t.Error("instantiate with InitialFuel 5: want a trap")
	}
}

// TestFuelUsed checks the exact count: one unit per function entry and per
// loop header executed.
func TestFuelUsed(t *testing.T) {
	tests := []struct {
		name string
		n    uint64
		want int64
	}{
		{name: "one iteration", n: 1, want: 2},
		{name: "thousand iterations", n: 1000, want: 1001},
		{name: "100k iterations", n: 100_000, want: 100_001},
	}
	ctx := context.Background()
	m := instantiate(t, newRuntime(t), instrument(t, fixture(t, "sum"), Options{}))
	fuel := fuelGlobal(t, m, FuelExport)
	sum := m.ExportedFunction("sum")
	const budget = 1 << 40
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fuel.Set(budget)
			res, err := sum.Call(ctx, tt.n)
			if err != nil {
				t.Fatal(err)
			}
			if res[0] != tt.n*(tt.n+1)/2 {
				t.Errorf("sum(%d) = %d", tt.n, res[0])
			}
			if used := budget - int64(fuel.Get()); used != tt.want {
				t.Errorf("used %d fuel, want %d", used, tt.want)
			}
		})
	}
	// Exactly enough fuel succeeds; one unit less traps with fuel at -1.
	fuel.Set(1001)
	if _, err := sum.Call(ctx, 1000); err != nil {
		t.Errorf("budget 1001: %v", err)
	}
	fuel.Set(1000)
	if _, err := sum.Call(ctx, 1000); err == nil {
		t.Error("budget 1000: want a trap")
	} else if left := int64(fuel.Get()); left != -1 {
		t.Errorf("fuel after trap = %d, want -1", left)
	}
}

// TestRunawayTraps checks that every shape of unbounded run is stopped, that
// the budget comes from the exported global, and that the global tells fuel
// exhaustion apart from the guest's own trap.
func TestRunawayTraps(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		fn      string
		args    []uint64
		budget  uint64
	}{
		{name: "loop br 0", fixture: "spin", fn: "spin", budget: 1_000_000},
		{name: "loop br 0 zero budget", fixture: "spin", fn: "spin", budget: 0},
		{name: "infinite recursion", fixture: "spin", fn: "rec", budget: 1000},
		{name: "infinite return_call", fixture: "tailcall", fn: "tail", args: []uint64{0}, budget: 1_000_000},
	}
	ctx := context.Background()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			for _, limit := range []bool{false, true} {
				m := instantiate(t, newRuntime(t), instrument(t, fixture(t, tt.fixture), Options{Limit: limit}))
				fuel := fuelGlobal(t, m, FuelExport)
				fuel.Set(tt.budget)
				start := time.Now()
				_, err := m.ExportedFunction(tt.fn).Call(ctx, tt.args...)
				if err == nil || !strings.Contains(err.Error(), "unreachable") {
					t.Fatalf("limit=%v: err = %v, want an unreachable trap", limit, err)
				}
				if left := int64(fuel.Get()); left >= 0 {
					t.Errorf("limit=%v: fuel after trap = %d, want negative", limit, left)
				}
				t.Logf("limit=%v: budget %d stopped after %v", limit, tt.budget, time.Since(start))
			}
		})
	}
	t.Run("guest unreachable leaves fuel", func(t *testing.T) {
		m := instantiate(t, newRuntime(t), instrument(t, fixture(t, "sum"), Options{}))
		fuel := fuelGlobal(t, m, FuelExport)
		fuel.Set(100)
		if _, err := m.ExportedFunction("trap").Call(ctx); err == nil {
			t.Fatal("want a trap")
		}
		if left := int64(fuel.Get()); left != 99 {
			t.Errorf("fuel after guest trap = %d, want 99", left)
		}
	})
}

// TestLimitWatchdog stops a spin with a practically unlimited budget by
// raising __fuel_limit from another goroutine, as a host deadline would.
func TestLimitWatchdog(t *testing.T) {
	ctx := context.Background()
	m := instantiate(t, newRuntime(t), instrument(t, fixture(t, "spin"), Options{Limit: true}))
	fuel := fuelGlobal(t, m, FuelExport)
	limit := fuelGlobal(t, m, LimitExport)
	if got := limit.Get(); got != 0 {
		t.Fatalf("initial limit = %d, want 0", got)
	}
	// The budget is bounded (a few seconds of spinning) rather than endless: a GC that
	// starts while the guest spins waits for it, and no timer fires until it stops, so an
	// endless budget could hang the test binary. GC is settled first to make that rare.
	const budget = 2_000_000_000
	fuel.Set(budget)
	runtime.GC()
	raised := make(chan time.Time, 1)
	timer := time.AfterFunc(20*time.Millisecond, func() {
		limit.Set(budget) // the whole budget: the next check falls below it
		raised <- time.Now()
	})
	defer timer.Stop()
	_, err := m.ExportedFunction("spin").Call(ctx)
	returned := time.Now()
	if err == nil {
		t.Fatal("spin returned without a trap")
	}
	at := <-raised
	lag := returned.Sub(at)
	t.Logf("stopped %v after the limit was raised", lag)
	if lag > 500*time.Millisecond {
		t.Errorf("stopped %v after the limit was raised, want milliseconds", lag)
	}
	if int64(fuel.Get()) >= int64(limit.Get()) {
		t.Errorf("fuel %d not below limit %d after the trap", int64(fuel.Get()), int64(limit.Get()))
	}
}

// TestStructure checks the rewritten module's layout: index of the new
// global, export, section order, debug sections.
func TestStructure(t *testing.T) {
	custom := func(name string) []byte {
		var c []byte
		c = appendName(c, name)
		c = append(c, 1, 2, 3)
		return append(append([]byte{0}, appendU32(nil, uint32(len(c)))...), c...)
	}
	withCustom := func(wasm []byte, names ...string) []byte {
		out := append([]byte(nil), wasm...)
		for _, n := range names {
			out = append(out, custom(n)...)
		}
		return out
	}
	tests := []struct {
		name       string
		in         []byte
		opt        Options
		wantGlobal uint32 // index of __fuel
		wantCustom []string
	}{
		{name: "imported and defined globals", in: fixture(t, "imports"), wantGlobal: 3},
		{name: "imported globals with limit", in: fixture(t, "imports"), opt: Options{Limit: true}, wantGlobal: 3},
		{name: "no globals", in: fixture(t, "noglobals"), wantGlobal: 0},
		{name: "debug dropped", in: withCustom(fixture(t, "sum"), ".debug_info", "note", "sourceMappingURL"), wantCustom: []string{"note"}},
		{name: "debug kept", in: withCustom(fixture(t, "sum"), ".debug_info", "note"), opt: Options{KeepDebug: true}, wantCustom: []string{".debug_info", "note"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := instrument(t, tt.in, tt.opt)
			secs, err := splitSections(out) // also checks order
			if err != nil {
				t.Fatal(err)
			}
			var customs []string
			exports := map[string]uint32{}
			for _, s := range secs {
				r := reader{b: out[:s.end], off: s.body}
				switch s.id {
				case secCustom:
					customs = append(customs, r.name())
				case secExport:
					n := r.u32()
					for i := uint32(0); i < n; i++ {
						name := r.name()
						if kind := r.byte(); kind != 3 {
							r.u32()
							continue
						}
						exports[name] = r.u32()
					}
				}
			}
			if idx, ok := exports[FuelExport]; !ok || idx != tt.wantGlobal {
				t.Errorf("%s exported as global %d (present %v), want %d", FuelExport, idx, ok, tt.wantGlobal)
			}
			if idx, ok := exports[LimitExport]; ok != tt.opt.Limit || (ok && idx != tt.wantGlobal+1) {
				t.Errorf("%s: present %v index %d, want present %v index %d", LimitExport, ok, idx, tt.opt.Limit, tt.wantGlobal+1)
			}
			if strings.Join(customs, ",") != strings.Join(tt.wantCustom, ",") {
				t.Errorf("custom sections %q, want %q", customs, tt.wantCustom)
			}
			if _, err := newRuntime(t).CompileModule(context.Background(), out); err != nil {
				t.Errorf("compile: %v", err)
			}
		})
	}
}

// TestDecoder feeds hand-assembled bodies (locals vector + code) through the
// rewrite, covering opcodes wat2wasm 1.0.32 cannot produce for wazero.
func TestDecoder(t *testing.T) {
	tests := []struct {
		name      string
		code      []byte // after the empty locals vector
		wantLoops int
		wantErr   string
	}{
		{name: "empty", code: []byte{0x0b}},
		{name: "loop with type index", code: []byte{0x03, 0x00, 0x0b, 0x0b}, wantLoops: 1},
		{name: "loop ref null func result", code: []byte{0x03, 0x63, 0x70, 0x0b, 0x0b}, wantLoops: 1},
		{name: "nested loops", code: []byte{0x03, 0x40, 0x03, 0x40, 0x0b, 0x0b, 0x0b}, wantLoops: 2},
		{name: "call_ref and br_on_null", code: []byte{0x14, 0x00, 0xd5, 0x00, 0xd6, 0x00, 0xd4, 0x15, 0x00, 0x0b}},
		{name: "try_table catches", code: []byte{0x1f, 0x40, 0x04, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x02, 0x00, 0x03, 0x00, 0x0b, 0x0b}},
		{name: "legacy try delegate", code: []byte{0x06, 0x40, 0x18, 0x00, 0x0b}},
		{name: "multi-memory memarg", code: []byte{0x28, 0x42, 0x01, 0x08, 0x1a, 0x0b}},
		{name: "simd lane memarg", code: []byte{0xfd, 0x54, 0x00, 0x00, 0x03, 0x0b}},
		{name: "threads fence", code: []byte{0xfe, 0x03, 0x00, 0x0b}},
		{name: "table.copy", code: []byte{0xfc, 0x0e, 0x00, 0x00, 0x0b}},
		{name: "i64.const max", code: []byte{0x42, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x00, 0x0b}},
		{name: "unknown opcode", code: []byte{0xff, 0x0b}, wantErr: "unknown opcode 0xff"},
		{name: "unknown 0xfc", code: []byte{0xfc, 0x12, 0x0b}, wantErr: "unknown opcode 0xfc 18"},
		{name: "relaxed simd", code: []byte{0xfd, 0x80, 0x02, 0x0b}, wantErr: "unknown opcode 0xfd 256"},
		{name: "unknown 0xfe", code: []byte{0xfe, 0x04, 0x0b}, wantErr: "unknown opcode 0xfe 4"},
		{name: "i32.const overflow", code: []byte{0x41, 0xff, 0xff, 0xff, 0xff, 0x0f, 0x0b}, wantErr: "LEB128 overflows 32 bits"},
		{name: "i64.const too long", code: []byte{0x42, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00, 0x0b}, wantErr: "LEB128 overflows 64 bits"},
		{name: "missing end", code: []byte{0x02, 0x40, 0x0b}, wantErr: "ends inside a block"},
		{name: "bytes after end", code: []byte{0x0b, 0x01}, wantErr: "after the final end"},
		{name: "global.get of the fuel index", code: []byte{0x23, 0x00, 0x1a, 0x0b}, wantErr: "global index 0 out of range"},
		{name: "global.set of the fuel index", code: []byte{0x42, 0x00, 0x24, 0x00, 0x0b}, wantErr: "global index 0 out of range"},
		{name: "truncated memarg", code: []byte{0x28, 0x02}, wantErr: "unexpected end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			body := append([]byte{0x00}, tt.code...)
			out, err := Instrument(moduleWithBody(body), Options{})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				if !errors.Is(err, ErrMalformed) {
					t.Errorf("err = %v does not wrap ErrMalformed", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			check := checkSequence(0, 1, false)
			if n := bytes.Count(out, check); n != 1+tt.wantLoops {
				t.Errorf("%d checks inserted, want %d", n, 1+tt.wantLoops)
			}
		})
	}
}

// moduleWithBody builds a module with one type, one function and the given
// body (locals + code); it need not be valid beyond what the rewriter reads.
func moduleWithBody(body []byte) []byte {
	m := append([]byte(nil), header...)
	m = append(m, secType, 4, 1, 0x60, 0, 0)
	m = append(m, secFunction, 2, 1, 0)
	code := appendU32([]byte{1}, uint32(len(body)))
	code = append(code, body...)
	m = append(m, secCode)
	m = appendU32(m, uint32(len(code)))
	return append(m, code...)
}

func TestErrors(t *testing.T) {
	sum := fixture(t, "sum")
	exportFuel := func(name string) []byte {
		// One export section exporting function 0 under name.
		var e []byte
		e = append(e, 1)
		e = appendName(e, name)
		e = append(e, 0, 0)
		m := append([]byte(nil), header...)
		m = append(m, secType, 4, 1, 0x60, 0, 0, secFunction, 2, 1, 0, secExport)
		m = appendU32(m, uint32(len(e)))
		m = append(m, e...)
		return append(m, secCode, 4, 1, 2, 0, 0x0b)
	}
	tests := []struct {
		name    string
		in      []byte
		wantErr string
	}{
		{name: "empty", in: nil, wantErr: "not a wasm binary"},
		{name: "bad magic", in: []byte("\x00asn\x01\x00\x00\x00"), wantErr: "not a wasm binary"},
		{name: "bad version", in: []byte("\x00asm\x02\x00\x00\x00"), wantErr: "unsupported version"},
		{name: "truncated", in: sum[:len(sum)-3], wantErr: "runs past the end"},
		{name: "truncated section header", in: append(append([]byte(nil), header...), secType), wantErr: "unexpected end"},
		{name: "bad section size LEB", in: append(append([]byte(nil), header...), secType, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), wantErr: "LEB128 overflows 32 bits"},
		{name: "section overflow", in: append(append([]byte(nil), header...), secType, 0xff, 0xff, 0xff, 0xff, 0x0f, 0), wantErr: "runs past the end"},
		{name: "unknown section id", in: append(append([]byte(nil), header...), 14, 0), wantErr: "unknown section id 14"},
		{name: "duplicate section", in: append(append([]byte(nil), header...), secType, 1, 0, secType, 1, 0), wantErr: "duplicate or out of order"},
		{name: "unknown opcode in body", in: moduleWithBody([]byte{0, 0xff, 0x0b}), wantErr: "unknown opcode 0xff"},
		{name: "duplicate fuel export", in: exportFuel(FuelExport), wantErr: `already exports "__fuel"`},
		{name: "duplicate limit export", in: exportFuel(LimitExport), wantErr: `already exports "__fuel_limit"`},
		{name: "function count mismatch", in: append(append([]byte(nil), header...), secFunction, 2, 1, 0, secCode, 1, 0), wantErr: "0 bodies for 1 declared functions"},
		{name: "functions without code", in: append(append([]byte(nil), header...), secFunction, 2, 1, 0), wantErr: "no code section"},
		{name: "body past section", in: append(append([]byte(nil), header...), secFunction, 2, 1, 0, secCode, 3, 1, 9, 0), wantErr: "runs past the section"},
		{name: "bad import kind", in: append(append([]byte(nil), header...), secImport, 4, 1, 0, 0, 9), wantErr: "unknown import kind"},
		{name: "custom name past section", in: append(append([]byte(nil), header...), secCustom, 1, 5), wantErr: "runs past the end"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := Instrument(tt.in, Options{})
			if err == nil {
				t.Fatalf("no error, output % x", out)
			}
			if !strings.HasPrefix(err.Error(), "fuel: ") || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("err = %v, want fuel: ... %q", err, tt.wantErr)
			}
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrReservedExport) {
				t.Errorf("err = %v wraps neither ErrMalformed nor ErrReservedExport", err)
			}
		})
	}
}

// TestFixturesUpToDate regenerates the committed .wasm files and compares.
func TestFixturesUpToDate(t *testing.T) {
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm not on PATH; cannot check testdata/*.wasm against the .wat sources")
	}
	dir := t.TempDir()
	if out, err := exec.Command("sh", "testdata/gen.sh", dir).CombinedOutput(); err != nil {
		t.Fatalf("gen.sh: %v\n%s", err, out)
	}
	wats, _ := filepath.Glob("testdata/*.wat")
	if len(wats) == 0 {
		t.Fatal("no fixtures")
	}
	for _, w := range wats {
		name := strings.TrimSuffix(filepath.Base(w), ".wat") + ".wasm"
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if got := fixture(t, strings.TrimSuffix(name, ".wasm")); !bytes.Equal(got, want) {
			t.Errorf("testdata/%s is stale: run go generate", name)
		}
	}
}

// TestExceptionsDecode covers legacy exception handling, which wazero cannot
// run: the rewrite must find the one loop, and wasm-validate (when present)
// must accept the output.
func TestExceptionsDecode(t *testing.T) {
	out := instrument(t, fixture(t, "exceptions"), Options{})
	if n := bytes.Count(out, checkSequence(0, 1, false)); n != 2 {
		t.Errorf("%d checks, want 2 (entry + loop)", n)
	}
	if _, err := exec.LookPath("wasm-validate"); err != nil {
		t.Skip("wasm-validate not on PATH")
	}
	f := filepath.Join(t.TempDir(), "out.wasm")
	if err := os.WriteFile(f, out, 0o644); err != nil {
		t.Fatal(err)
	}
	if b, err := exec.Command("wasm-validate", "--enable-exceptions", f).CombinedOutput(); err != nil {
		t.Errorf("wasm-validate: %v\n%s", err, b)
	}
}

var goModule = struct {
	once sync.Once
	wasm []byte
	err  error
}{}

// goModuleBytes compiles testdata/goprog for wasip1 once per process.
func goModuleBytes() ([]byte, error) {
	goModule.once.Do(func() {
		dir, err := os.MkdirTemp("", "fuel-goprog")
		if err != nil {
			goModule.err = err
			return
		}
		defer os.RemoveAll(dir)
		out := filepath.Join(dir, "goprog.wasm")
		cmd := exec.Command("go", "build", "-o", out, "./testdata/goprog")
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm")
		if b, err := cmd.CombinedOutput(); err != nil {
			goModule.err = fmt.Errorf("%w: %s", err, b)
			return
		}
		goModule.wasm, goModule.err = os.ReadFile(out)
	})
	return goModule.wasm, goModule.err
}

// TestGoModule proves the decoder handles real Go compiler output.
func TestGoModule(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and compiles a 2.6 MB module")
	}
	orig, err := goModuleBytes()
	if err != nil {
		t.Skipf("cannot build the wasip1 test program: %v", err)
	}
	ctx := context.Background()
	cfg := wazero.NewRuntimeConfig()
	if raceEnabled {
		cfg = wazero.NewRuntimeConfigInterpreter()
	}
	run := func(wasm []byte) (string, api.Module) {
		r := wazero.NewRuntimeWithConfig(ctx, cfg.WithCoreFeatures(features))
		t.Cleanup(func() { r.Close(ctx) })
		wasi_snapshot_preview1.MustInstantiate(ctx, r)
		var stdout bytes.Buffer
		m, err := r.InstantiateWithConfig(ctx, wasm, wazero.NewModuleConfig().WithStdout(&stdout).WithName(""))
		if err != nil {
			t.Fatalf("run: %v\n%s", err, stdout.String())
		}
		return stdout.String(), m
	}
	want, _ := run(orig)
	out := instrument(t, orig, Options{InitialFuel: 1 << 40})
	t.Logf("%d -> %d bytes (+%.1f%%)", len(orig), len(out), 100*float64(len(out)-len(orig))/float64(len(orig)))
	got, m := run(out)
	if got != want || !strings.HasPrefix(want, "collatz=") {
		t.Errorf("output %q, want %q", got, want)
	}
	t.Logf("output %q; fuel used %d", got, 1<<40-int64(fuelGlobal(t, m, FuelExport).Get()))
}

func FuzzInstrument(f *testing.F) {
	wasms, _ := filepath.Glob("testdata/*.wasm")
	for _, w := range wasms {
		b, err := os.ReadFile(w)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b, false)
	}
	f.Add(moduleWithBody([]byte{0, 0x03, 0x40, 0x0b, 0x0b}), true)
	ctx := context.Background()
	// The interpreter validates exactly like the compiler but compiles much
	// faster, which keeps the fuzz body cheap.
	r := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigInterpreter().WithCoreFeatures(features))
	defer r.Close(ctx)
	f.Fuzz(func(t *testing.T, in []byte, limit bool) {
		out, err := Instrument(in, Options{Limit: limit})
		if err != nil {
			return
		}
		cm, err := r.CompileModule(ctx, in)
		if err != nil {
			return // not our business: the engine rejects the input too
		}
		cm.Close(ctx)
		cm, err = r.CompileModule(ctx, out)
		if err != nil {
			t.Fatalf("input compiles but instrumented output does not: %v", err)
		}
		cm.Close(ctx)
	})
}

// TestInputUntouchedAndTwice checks that the input slice is not modified and
// that an instrumented module cannot be instrumented again.
func TestInputUntouchedAndTwice(t *testing.T) {
	orig := fixture(t, "imports")
	keep := bytes.Clone(orig)
	out := instrument(t, orig, Options{Limit: true})
	if !bytes.Equal(orig, keep) {
		t.Fatal("Instrument modified its input")
	}
	if _, err := Instrument(out, Options{}); !errors.Is(err, ErrReservedExport) {
		t.Errorf("second Instrument: err = %v, want ErrReservedExport", err)
	}
}
