package wasmhost

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// Info is what a plugin says about itself in plugin_info. Hooks is what the module actually
// exports, which plugin_info must agree with.
type Info struct {
	Name, Version, Description string
	Hooks                      []string
}

// Plugin is one loaded module with its pool of instances. It is safe for concurrent use.
type Plugin struct {
	host     *Host
	name     string
	log      *slog.Logger
	lim      Limits
	config   []byte
	runInit  bool
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	modCfg   wazero.ModuleConfig
	info     Info
	hooks    [len(Hooks)]bool

	// idle holds warm instances; slots holds one token per live instance, so the pool never
	// exceeds lim.Instances even while instances are being created.
	idle    chan *instance
	slots   chan struct{}
	closing chan struct{}

	mu       sync.RWMutex // guards closed against Call's inflight.Add
	closed   bool
	inflight sync.WaitGroup
	live     atomic.Int64 // live instances, for tests and metrics
}

func newPlugin(ctx context.Context, cache wazero.CompilationCache, log *slog.Logger, name string, wasm, config []byte, runInit bool, lim Limits) (*Plugin, error) {
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfig().
		WithCompilationCache(cache).
		WithMemoryLimitPages(lim.MemoryPages).
		WithDebugInfoEnabled(false).   // DWARF parsing slows compiles and our traps need no line numbers
		WithCloseOnContextDone(false)) // fuel bounds CPU instead; see the package doc
	p := &Plugin{
		name: name, log: log, lim: lim, config: config, runInit: runInit, rt: rt,
		idle:    make(chan *instance, lim.Instances),
		slots:   make(chan struct{}, lim.Instances),
		closing: make(chan struct{}),
	}
	fail := func(action string, err error) (*Plugin, error) {
		_ = rt.Close(ctx)
		return nil, fmt.Errorf("wasmhost: %s %s: %w", action, name, err)
	}
	cm, err := rt.CompileModule(ctx, wasm)
	if err != nil {
		return fail("compile", err)
	}
	p.compiled = cm
	hooks, err := validate(cm)
	if err != nil {
		return fail("validate", err)
	}
	if len(hooks) == 0 {
		return fail("validate", fmt.Errorf("exports no hook; want at least one of %v", Hooks))
	}
	for _, h := range hooks {
		p.hooks[hookIndex(h)] = true
	}
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, rt); err != nil {
		return fail("instantiate wasi", err)
	}
	if err := instantiateHostModule(ctx, rt, log); err != nil {
		return fail("instantiate host module", err)
	}
	out := &logWriter{log: log, level: slog.LevelInfo, stream: "stdout"}
	errw := &logWriter{log: log, level: slog.LevelWarn, stream: "stderr"}
	// No FS, env or args: a fresh ModuleConfig grants none of them. Start functions are
	// disabled so that fuel can be set before _initialize runs (fuel.md §1.3).
	p.modCfg = wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions().
		WithStdout(out).WithStderr(errw).
		WithRandSource(rand.Reader)

	// The probe instance proves the module instantiates and initialises, and becomes the
	// first pooled instance.
	p.slots <- struct{}{}
	inst, err := p.newInstance(ctx)
	if err != nil {
		return fail("load", err)
	}
	info, err := p.readInfo(ctx, inst)
	if err != nil {
		inst.close(ctx)
		return fail("load", err)
	}
	info.Hooks = hooks
	p.info = info
	p.idle <- inst
	return p, nil
}

// Info returns the plugin's self-description.
func (p *Plugin) Info() Info {
	i := p.info
	i.Hooks = slices.Clone(i.Hooks)
	return i
}

// Has reports whether the module exports hook.
func (p *Plugin) Has(hook string) bool {
	i := hookIndex(hook)
	return i >= 0 && p.hooks[i]
}

// Live reports how many instances currently exist (pooled or in use).
func (p *Plugin) Live() int { return int(p.live.Load()) }

func (p *Plugin) readInfo(ctx context.Context, inst *instance) (Info, error) {
	raw, ok, err := inst.call(ctx, inst.info, true, nil, p.startLimits())
	if err != nil {
		return Info{}, fmt.Errorf("plugin_info: %w", err)
	}
	if !ok {
		return Info{}, errors.New("plugin_info returned 0, want JSON {\"name\",\"version\",\"hooks\",\"description\"}")
	}
	var v struct {
		Name        string   `json:"name"`
		Version     string   `json:"version"`
		Description string   `json:"description"`
		Hooks       []string `json:"hooks"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return Info{}, fmt.Errorf("plugin_info: %w", err)
	}
	if v.Name == "" {
		return Info{}, errors.New("plugin_info: name is empty")
	}
	for _, h := range v.Hooks {
		// Names this host does not know are skipped: they may be hooks of a later additive
		// revision of v1 (sdk/ABI.md §8).
		if i := hookIndex(h); i >= 0 && !p.hooks[i] {
			return Info{}, fmt.Errorf("plugin_info lists hook %q, which the module does not export", h)
		}
	}
	return Info{Name: v.Name, Version: v.Version, Description: v.Description}, nil
}

// startLimits bound the calls that set an instance up (_initialize, plugin_init,
// plugin_info): their fuel is the hook budget, but their wall clock is at least a second,
// since they run once per instance, often while the machine is busy starting things, and
// a tight per-hook deadline (a few ms) would refuse a sound plugin.
func (p *Plugin) startLimits() Limits {
	l := p.lim
	l.Deadline = max(l.Deadline, time.Second)
	return l
}

// Call runs one hook: copies in into the guest, calls, copies the result out. changed is
// false when the hook returned 0. It waits on ctx while every instance is busy; once the
// hook runs, ctx's deadline (if earlier than Limits.Deadline) bounds it, but plain
// cancellation is not observed until the hook returns, since watching ctx would cost a
// goroutine per call.
func (p *Plugin) Call(ctx context.Context, hook string, in []byte) (out []byte, changed bool, err error) {
	hi := hookIndex(hook)
	if hi < 0 || !p.hooks[hi] {
		return nil, false, &CallError{Plugin: p.name, Hook: hook, Kind: ABI, Err: errors.New("plugin does not export this hook")}
	}
	if err := ctx.Err(); err != nil {
		// Arming a timer that fires at once would cost an instance for nothing.
		return nil, false, &CallError{Plugin: p.name, Hook: hook, Kind: Deadline, Err: err}
	}
	p.mu.RLock()
	if p.closed {
		p.mu.RUnlock()
		return nil, false, &CallError{Plugin: p.name, Hook: hook, Kind: Closed, Err: errors.New("plugin closed")}
	}
	p.inflight.Add(1)
	p.mu.RUnlock()
	defer p.inflight.Done()

	inst, err := p.acquire(ctx)
	if err != nil {
		return nil, false, p.callError(hook, err)
	}
	// The running token is taken with an instance in hand, never the other way round: a
	// caller holding a token while waiting for an instance could wait on callers that wait
	// for its token.
	select {
	case p.host.running <- struct{}{}:
	default:
		select {
		case p.host.running <- struct{}{}:
		case <-ctx.Done():
			p.release(ctx, inst, true)
			return nil, false, &CallError{Plugin: p.name, Hook: hook, Kind: Deadline, Err: fmt.Errorf("waiting to run: %w", ctx.Err())}
		}
	}
	out, changed, err = inst.call(ctx, inst.hooks[hi], false, in, p.lim)
	<-p.host.running
	p.release(ctx, inst, err == nil)
	if err != nil {
		return nil, false, p.callError(hook, err)
	}
	return out, changed, nil
}

func (p *Plugin) callError(hook string, err error) error {
	var ke *kindError
	kind := Trap
	if errors.As(err, &ke) {
		kind, err = ke.kind, ke.err
	}
	p.log.Warn("wasm plugin call failed", "hook", hook, "kind", kind.String(), "err", err)
	return &CallError{Plugin: p.name, Hook: hook, Kind: kind, Err: err}
}

// acquire takes a warm instance, else creates one if under the bound, else waits.
func (p *Plugin) acquire(ctx context.Context) (*instance, error) {
	select {
	case inst := <-p.idle:
		return inst, nil
	default:
	}
	select {
	case inst := <-p.idle:
		return inst, nil
	case p.slots <- struct{}{}:
		inst, err := p.newInstance(ctx)
		if err != nil {
			var ke *kindError
			if !errors.As(err, &ke) {
				err = &kindError{ABI, fmt.Errorf("new instance: %w", err)}
			}
			return nil, err
		}
		return inst, nil
	case <-p.closing:
		return nil, &kindError{Closed, errors.New("plugin closed")}
	case <-ctx.Done():
		return nil, &kindError{Deadline, fmt.Errorf("waiting for an instance: %w", ctx.Err())}
	}
}

// release pools a healthy instance and closes a failed one: after a trap its state (heap,
// globals, a half-raised fuel limit) cannot be trusted.
func (p *Plugin) release(ctx context.Context, inst *instance, ok bool) {
	inst.calls++
	if ok && !inst.tainted && (p.lim.MaxCalls == 0 || inst.calls < p.lim.MaxCalls) {
		p.mu.RLock()
		closed := p.closed
		p.mu.RUnlock()
		if !closed {
			p.idle <- inst // cannot block: live instances <= cap(idle)
			return
		}
	}
	p.discard(ctx, inst)
}

func (p *Plugin) discard(ctx context.Context, inst *instance) {
	inst.close(ctx)
	p.live.Add(-1)
	<-p.slots
}

// Close waits for in-flight calls to finish, then closes every instance, the compiled
// module and the plugin's runtime. Calls after Close fail with Kind Closed.
func (p *Plugin) Close(ctx context.Context) error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	close(p.closing) // wakes calls waiting for an instance
	p.inflight.Wait()
	for {
		select {
		case inst := <-p.idle:
			p.discard(ctx, inst)
			continue
		default:
		}
		break
	}
	if p.host != nil {
		p.host.forget(p)
	}
	if err := p.rt.Close(ctx); err != nil {
		return fmt.Errorf("wasmhost: close %s: %w", p.name, err)
	}
	return nil
}

// kindError carries an ErrorKind from deep in a call up to Call, which wraps it into the
// public CallError.
type kindError struct {
	kind ErrorKind
	err  error
}

func (e *kindError) Error() string { return e.err.Error() }
func (e *kindError) Unwrap() error { return e.err }

// instance is one module instance with every handle resolved once: ExportedFunction builds a
// call engine per lookup (2.5 µs, 11.8 KB measured), far more than a call.
type instance struct {
	mod         api.Module
	mem         api.Memory
	alloc, free api.Function
	init, info  api.Function
	hooks       [len(Hooks)]api.Function
	fuel, limit api.MutableGlobal // nil when the module is not metered
	timer       *time.Timer       // raises limit; created on first armed call
	stack       [2]uint64
	tainted     bool // a deadline timer fired: the limit global stays raised
	calls       int  // hook calls served, for Limits.MaxCalls
}

func (p *Plugin) newInstance(ctx context.Context) (_ *instance, err error) {
	mod, err := p.rt.InstantiateModule(ctx, p.compiled, p.modCfg)
	if err != nil {
		<-p.slots
		return nil, fmt.Errorf("instantiate: %w", err)
	}
	p.live.Add(1)
	inst := &instance{mod: mod, mem: mod.Memory()}
	defer func() {
		if err != nil {
			p.discard(ctx, inst)
		}
	}()
	inst.alloc = mod.ExportedFunction("plugin_alloc")
	inst.free = mod.ExportedFunction("plugin_free")
	inst.init = mod.ExportedFunction("plugin_init")
	inst.info = mod.ExportedFunction("plugin_info")
	for i, h := range Hooks {
		if p.hooks[i] {
			inst.hooks[i] = mod.ExportedFunction(h)
		}
	}
	if inst.fuel, err = mutableI64(mod, "__fuel"); err != nil {
		return nil, err
	}
	if inst.limit, err = mutableI64(mod, "__fuel_limit"); err != nil {
		return nil, err
	}
	if inst.fuel != nil {
		inst.fuel.Set(uint64(p.lim.Fuel))
	}
	if initialize := mod.ExportedFunction("_initialize"); initialize != nil {
		if err := inst.run(ctx, initialize, p.startLimits()); err != nil {
			return nil, fmt.Errorf("_initialize: %w", err)
		}
	}
	if p.runInit {
		if inst.init == nil {
			if len(p.config) > 0 {
				return nil, &kindError{ABI, errors.New("config given but the module does not export plugin_init")}
			}
			return inst, nil
		}
		out, changed, err := inst.call(ctx, inst.init, false, p.config, p.startLimits())
		if err != nil {
			return nil, fmt.Errorf("plugin_init: %w", err)
		}
		if changed {
			return nil, &kindError{ABI, fmt.Errorf("plugin_init refused the config: %s", out)}
		}
	}
	return inst, nil
}

func mutableI64(mod api.Module, name string) (api.MutableGlobal, error) {
	g := mod.ExportedGlobal(name)
	if g == nil {
		return nil, nil
	}
	mg, ok := g.(api.MutableGlobal)
	if !ok || g.Type() != api.ValueTypeI64 {
		return nil, &kindError{ABI, fmt.Errorf("export %s must be a mutable i64 global", name)}
	}
	return mg, nil
}

func (inst *instance) close(ctx context.Context) {
	if inst.timer != nil {
		inst.timer.Stop()
	}
	_ = inst.mod.Close(ctx)
}

// call copies in into a plugin_alloc'd buffer, runs fn(ptr, len) (or fn() when noArgs, for
// plugin_info) and copies out the packed result. Any error leaves the instance unfit for
// reuse.
func (inst *instance) call(ctx context.Context, fn api.Function, noArgs bool, in []byte, lim Limits) ([]byte, bool, error) {
	if len(in) > math.MaxInt32 {
		return nil, false, &kindError{ABI, fmt.Errorf("input of %d bytes exceeds the wasm32 address space", len(in))}
	}
	lim.Fuel += lim.FuelPerByte * int64(len(in))
	if inst.fuel != nil {
		inst.fuel.Set(uint64(lim.Fuel))
	}
	armed := inst.arm(ctx, lim.Deadline)
	out, changed, err := inst.invoke(ctx, fn, noArgs, in, lim)
	if armed && inst.disarm() && err != nil {
		err = &kindError{Deadline, fmt.Errorf("exceeded %v: %w", lim.Deadline, err)}
	}
	return out, changed, err
}

func (inst *instance) invoke(ctx context.Context, fn api.Function, noArgs bool, in []byte, lim Limits) ([]byte, bool, error) {
	var inPtr uint32
	n := uint32(len(in))
	if n > 0 {
		inst.stack[0] = uint64(n)
		if err := inst.alloc.CallWithStack(ctx, inst.stack[:]); err != nil {
			return nil, false, inst.classify("plugin_alloc", err, lim)
		}
		inPtr = uint32(inst.stack[0])
		if inPtr == 0 {
			return nil, false, &kindError{OutOfMemory, fmt.Errorf("plugin_alloc(%d) returned 0", n)}
		}
		if !inst.mem.Write(inPtr, in) {
			return nil, false, &kindError{BadOutput, fmt.Errorf("plugin_alloc(%d) returned %#x, outside memory", n, inPtr)}
		}
	}
	if !noArgs {
		inst.stack[0], inst.stack[1] = uint64(inPtr), uint64(n)
	}
	if err := fn.CallWithStack(ctx, inst.stack[:]); err != nil {
		return nil, false, inst.classify(fn.Definition().ExportNames()[0], err, lim)
	}
	r := inst.stack[0]
	var out []byte
	if r != 0 {
		outPtr, outLen := uint32(r>>32), uint32(r)
		if int64(outLen) > int64(lim.MaxOutput) {
			return nil, false, &kindError{TooLarge, fmt.Errorf("returned %d bytes, limit %d", outLen, lim.MaxOutput)}
		}
		view, ok := inst.mem.Read(outPtr, outLen)
		if !ok {
			return nil, false, &kindError{BadOutput, fmt.Errorf("returned ptr %#x len %d beyond memory of %d bytes", outPtr, outLen, inst.mem.Size())}
		}
		// Copy now: the view aliases guest memory, which the next call or memory.grow changes.
		out = append([]byte(nil), view...)
		if !utf8.Valid(out) || !jsonx.Valid(out) {
			return nil, false, &kindError{BadOutput, fmt.Errorf("returned %d bytes that are not UTF-8 JSON", outLen)}
		}
		inst.stack[0], inst.stack[1] = uint64(outPtr), uint64(outLen)
		if err := inst.free.CallWithStack(ctx, inst.stack[:]); err != nil {
			return nil, false, inst.classify("plugin_free", err, lim)
		}
	}
	if n > 0 {
		inst.stack[0], inst.stack[1] = uint64(inPtr), uint64(n)
		if err := inst.free.CallWithStack(ctx, inst.stack[:]); err != nil {
			return nil, false, inst.classify("plugin_free", err, lim)
		}
	}
	return out, r != 0, nil
}

// run calls a () -> () export such as _initialize under the per-call limits.
func (inst *instance) run(ctx context.Context, fn api.Function, lim Limits) error {
	armed := inst.arm(ctx, lim.Deadline)
	err := fn.CallWithStack(ctx, inst.stack[:])
	if err != nil {
		err = inst.classify(fn.Definition().ExportNames()[0], err, lim)
	}
	if armed && inst.disarm() && err != nil {
		err = &kindError{Deadline, fmt.Errorf("exceeded %v: %w", lim.Deadline, err)}
	}
	return err
}

// arm starts the wall-clock watchdog when the module exports __fuel_limit, for the earlier
// of d and ctx's deadline, and reports whether it did.
func (inst *instance) arm(ctx context.Context, d time.Duration) bool {
	if inst.limit == nil {
		return false
	}
	if dl, ok := ctx.Deadline(); ok {
		if until := time.Until(dl); until < d {
			d = max(until, 0)
		}
	}
	if inst.timer == nil {
		limit := inst.limit
		// Raising the limit, rather than zeroing __fuel, is what reliably stops the guest: its
		// own load-sub-store of __fuel would overwrite a concurrent write (fuel.md §1.4).
		inst.timer = time.AfterFunc(d, func() { limit.Set(math.MaxInt64) })
	} else {
		inst.timer.Reset(d)
	}
	return true
}

// disarm stops the watchdog and reports whether it fired. If it did, the instance is
// tainted: the raised limit would stop its next call at once.
func (inst *instance) disarm() bool {
	if inst.timer.Stop() {
		return false
	}
	inst.tainted = true
	return true
}

// classify names the cause of a failed guest call. A negative __fuel after a trap can only
// come from the metering check; a trap with memory at the cap most likely followed a failed
// memory.grow, which guests report by trapping.
func (inst *instance) classify(what string, err error, lim Limits) error {
	err = fmt.Errorf("%s: %w", what, err)
	switch {
	case inst.fuel != nil && int64(inst.fuel.Get()) < 0:
		return &kindError{OutOfFuel, fmt.Errorf("budget %d spent: %w", lim.Fuel, err)}
	case inst.mem != nil && uint64(inst.mem.Size()) >= uint64(lim.MemoryPages)*65536:
		return &kindError{OutOfMemory, fmt.Errorf("memory at the %d-page cap: %w", lim.MemoryPages, err)}
	}
	return &kindError{Trap, err}
}
