// Package wasmhost owns the WebAssembly plugin sandbox: it is the only package that imports
// wazero. It validates modules against plugin ABI v1 (sdk/ABI.md), compiles each plugin once,
// keeps a bounded pool of instances per plugin and runs one hook call at a time per instance,
// enforcing the memory, fuel, wall-clock and output limits. Failure policies (fail open or
// closed, default ranking) belong to the callers; this package only reports what went wrong
// as a *CallError.
//
// CPU limits come from fuel metering (see ../shared/reference/fuel.md): the module, usually
// rewritten by Config.Instrument, exports a mutable i64 global "__fuel" that its code
// decrements and traps on below its limit. wazero's WithCloseOnContextDone is deliberately
// not used: it makes loop-heavy guest code 5–40× slower. The price is that a module without
// "__fuel" is not CPU-bounded at all, so production hosts set Instrument to Metered.
package wasmhost

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/crossroads-llm/crossroads/edge/wasmhost/fuel"
)

// Config configures a Host.
type Config struct {
	// CacheDir is the wazero compilation cache directory, created 0700. Anyone who can write
	// it can inject native code into the node, so an existing directory that is group- or
	// world-accessible is refused. "" keeps compiled code in memory only.
	CacheDir string
	Logger   *slog.Logger
	// MaxRunning caps guest calls running at once across all plugins; further callers wait
	// (up to their deadline). Compiled wasm cannot be preempted, so guests running on every
	// processor would starve the rest of the node, its timers included, until their fuel ran
	// out; the default, GOMAXPROCS-1 (at least 1), always leaves one processor to the node.
	MaxRunning int
	// Instrument, when set, rewrites a module before compiling. The fuel package's rewriter
	// plugs in here: it adds an exported mutable i64 global "__fuel" decremented at function
	// entries and loop headers, trapping below 0 (or below "__fuel_limit" when it adds one).
	Instrument func(wasm []byte) ([]byte, error)
}

// Limits bound one plugin. Zero fields take the defaults below.
type Limits struct {
	MemoryPages uint32 // linear memory cap per instance, default 256 (16 MiB)
	// Fuel is per call, set into "__fuel" when the module exports it; default 10_000_000.
	// It is the hard bound on how long a call can hold up the whole process: a garbage
	// collection waits for a spinning guest to return. A unit costs ~1.8 ns in a tight loop
	// here (about 18 ms for the default), more in loops that do real work; real hooks spend
	// thousands of units (a 20-candidate route call, a 1 KB format translation).
	Fuel int64
	// FuelPerByte adds to Fuel for every input byte of a call, for hooks whose work grows
	// with their input (a format plugin copying a base64 image), so the flat budget can stay
	// small for everything else. Default 0.
	FuelPerByte int64
	// Deadline is the wall clock per call, default 50ms, enforced only when the module
	// exports "__fuel_limit": a timer raises the limit so the guest's next check traps. It is
	// a soft bound: while a garbage collection waits for a spinning guest to stop (compiled
	// wasm has no preemption points), the timer cannot run either, and only Fuel ends the call.
	Deadline  time.Duration
	MaxOutput int // bytes a hook may return, default 1 MiB
	Instances int // live instances per plugin, default 2*GOMAXPROCS
	// MaxCalls recycles an instance after that many hook calls, default 100_000: a guest
	// with its own garbage collector (Go) grows its heap over a long life, and a fresh
	// instance costs tens of microseconds. 1 gives every call a fresh instance.
	MaxCalls int
}

// Defaults applied by Load for zero fields.
const (
	DefaultMemoryPages = 256
	DefaultFuel        = 10_000_000
	DefaultDeadline    = 50 * time.Millisecond
	DefaultMaxOutput   = 1 << 20
	DefaultMaxCalls    = 100_000
)

func (l Limits) withDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = DefaultMemoryPages
	}
	if l.MemoryPages > 65536 {
		l.MemoryPages = 65536 // wazero panics above the wasm32 maximum
	}
	if l.Fuel <= 0 {
		l.Fuel = DefaultFuel
	}
	if l.Deadline <= 0 {
		l.Deadline = DefaultDeadline
	}
	if l.MaxOutput <= 0 {
		l.MaxOutput = DefaultMaxOutput
	}
	if l.MaxCalls <= 0 {
		l.MaxCalls = DefaultMaxCalls
	}
	if l.Instances <= 0 {
		l.Instances = 2 * runtime.GOMAXPROCS(0)
	}
	return l
}

// Host loads plugins. All plugins share one compilation cache, but each plugin gets its own
// wazero runtime: memory caps are per runtime in wazero, and modules in one runtime could
// otherwise import each other's exports, so one runtime per plugin is both the per-plugin
// memory cap and the trust boundary.
type Host struct {
	cfg   Config
	log   *slog.Logger
	cache wazero.CompilationCache

	// running holds one token per guest call in progress (Config.MaxRunning).
	running chan struct{}

	mu      sync.Mutex
	plugins map[*Plugin]struct{}
	closed  bool
}

// Metered is the Instrument of a production host: the fuel package's rewriter with the
// watchdog limit, so every plugin is CPU-bounded per call by fuel and stoppable at its
// deadline, whatever language it was written in. A module that exports the metering
// globals itself is refused: it could meter itself generously.
func Metered(wasm []byte) ([]byte, error) {
	return fuel.Instrument(wasm, fuel.Options{Limit: true})
}

// NewHost prepares the compilation cache. It blocks only on creating CacheDir.
func NewHost(ctx context.Context, c Config) (*Host, error) {
	_ = ctx // reserved: creating the cache does no cancellable work today
	if c.MaxRunning <= 0 {
		c.MaxRunning = max(1, runtime.GOMAXPROCS(0)-1)
	}
	h := &Host{cfg: c, log: c.Logger, plugins: map[*Plugin]struct{}{}, running: make(chan struct{}, c.MaxRunning)}
	if h.log == nil {
		h.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.CacheDir == "" {
		// Even in memory a shared cache lets plugins share one engine and reuse code when the
		// same module is loaded again on reload.
		h.cache = wazero.NewCompilationCache()
		return h, nil
	}
	if err := os.MkdirAll(c.CacheDir, 0o700); err != nil {
		return nil, fmt.Errorf("wasmhost: create cache dir: %w", err)
	}
	st, err := os.Stat(c.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: create cache dir: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("wasmhost: create cache dir: %s is not a directory", c.CacheDir)
	}
	if st.Mode().Perm()&0o077 != 0 {
		return nil, fmt.Errorf("wasmhost: create cache dir: %s has mode %v; it must be 0700 because whoever can write it can inject native code", c.CacheDir, st.Mode().Perm())
	}
	cache, err := wazero.NewCompilationCacheWithDir(c.CacheDir)
	if err != nil {
		return nil, fmt.Errorf("wasmhost: open cache dir: %w", err)
	}
	h.cache = cache
	return h, nil
}

// Close closes every plugin still loaded (waiting for their in-flight calls) and then the
// compilation cache, which must outlive every runtime that uses it.
func (h *Host) Close(ctx context.Context) error {
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		return nil
	}
	h.closed = true
	ps := make([]*Plugin, 0, len(h.plugins))
	for p := range h.plugins {
		ps = append(ps, p)
	}
	h.mu.Unlock()
	var errs []error
	for _, p := range ps {
		errs = append(errs, p.Close(ctx))
	}
	if err := h.cache.Close(ctx); err != nil {
		errs = append(errs, fmt.Errorf("wasmhost: close cache: %w", err))
	}
	return errors.Join(errs...)
}

func (h *Host) forget(p *Plugin) {
	h.mu.Lock()
	delete(h.plugins, p)
	h.mu.Unlock()
}

// Load instruments (if configured), compiles and validates wasm, then creates the first
// instance, running _initialize and plugin_init(config) and reading plugin_info, so that a
// broken plugin fails here rather than on the request path. name labels logs and errors.
func (h *Host) Load(ctx context.Context, name string, wasm []byte, config []byte, lim Limits) (*Plugin, error) {
	h.mu.Lock()
	closed := h.closed
	h.mu.Unlock()
	if closed {
		return nil, fmt.Errorf("wasmhost: load %s: host closed", name)
	}
	if h.cfg.Instrument != nil {
		var err error
		if wasm, err = h.cfg.Instrument(wasm); err != nil {
			return nil, fmt.Errorf("wasmhost: instrument %s: %w", name, err)
		}
	}
	p, err := newPlugin(ctx, h.cache, h.log.With("plugin", name), name, wasm, config, true, lim.withDefaults())
	if err != nil {
		return nil, err
	}
	p.host = h
	h.mu.Lock()
	if h.closed {
		h.mu.Unlock()
		_ = p.Close(ctx)
		return nil, fmt.Errorf("wasmhost: load %s: host closed", name)
	}
	h.plugins[p] = struct{}{}
	h.mu.Unlock()
	return p, nil
}

// Check validates a module against the ABI without a Host, as `crossroads plugin check`
// does: it compiles the module, checks imports and exports, instantiates it once (running
// _initialize, not plugin_init, since there is no config) and returns plugin_info. It uses
// an in-memory cache and the default limits; the module is not instrumented.
func Check(ctx context.Context, wasm []byte) (Info, error) {
	cache := wazero.NewCompilationCache()
	defer cache.Close(ctx)
	lim := Limits{Instances: 1}.withDefaults()
	p, err := newPlugin(ctx, cache, slog.New(slog.NewTextHandler(io.Discard, nil)), "check", wasm, nil, false, lim)
	if err != nil {
		return Info{}, err
	}
	info := p.Info()
	if err := p.Close(ctx); err != nil {
		return Info{}, err
	}
	return info, nil
}
