package extension

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"github.com/crossroads-llm/crossroads/edge/internal/glob"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/route"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

// Plugin is a loaded plugin as the node uses it: the sandboxed module plus the counters
// /metrics shows. One Plugin is shared by every configuration generation that declares it
// unchanged, so a reload that does not touch a plugin does not recompile or re-instantiate it.
type Plugin struct {
	*wasmhost.Plugin
	name     string
	kind     string
	key      string
	refs     int // guarded by Registry.mu
	calls    [len(wasmhost.Hooks)]atomic.Int64
	failures [len(wasmhost.Hooks)]atomic.Int64
}

// Name is the plugin's name in the configuration (which its plugin_info may not share).
func (p *Plugin) Name() string {
	if p.name == "" {
		return p.Info().Name
	}
	return p.name
}

// Call runs a hook and counts it.
func (p *Plugin) Call(ctx context.Context, hook string, in []byte) ([]byte, bool, error) {
	if i := slices.Index(wasmhost.Hooks[:], hook); i >= 0 {
		p.calls[i].Add(1)
	}
	return p.Plugin.Call(ctx, hook, in)
}

// fail counts a call whose failure policy applied (the hook broke or answered garbage).
func (p *Plugin) fail(hook string) {
	if i := slices.Index(wasmhost.Hooks[:], hook); i >= 0 {
		p.failures[i].Add(1)
	}
}

// Decl is one declared plugin, read and resolved by the caller.
type Decl struct {
	Name string
	// Kind is route, transform or format.
	Kind   string
	Wasm   []byte
	Config []byte // JSON for plugin_init; nil when none
	Limits wasmhost.Limits
	Order  int
	// Models are globs over model ids the plugin applies to (route, transform); empty is all.
	Models []string
	// FailClosed makes a transform's failure fail the request instead of keeping the body.
	FailClosed bool
}

// Registry owns the node's loaded plugins across configuration generations: it loads a
// declared plugin once and hands out references; the last release closes it.
type Registry struct {
	host *wasmhost.Host
	log  *slog.Logger
	mu   sync.Mutex
	live map[string]*Plugin
}

// NewRegistry loads plugins into host.
func NewRegistry(host *wasmhost.Host, log *slog.Logger) *Registry {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Registry{host: host, log: log, live: map[string]*Plugin{}}
}

func declKey(d *Decl) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d\x00%d\x00%d\x00", d.Name, d.Kind, d.Limits.MemoryPages, d.Limits.Fuel,
		d.Limits.Deadline, d.Limits.MaxOutput, d.Limits.Instances)
	h.Write(d.Config)
	h.Write([]byte{0})
	h.Write(d.Wasm)
	return hex.EncodeToString(h.Sum(nil))
}

// acquire returns the loaded plugin for d, loading it if no generation holds it yet.
func (r *Registry) acquire(ctx context.Context, d *Decl) (*Plugin, error) {
	key := declKey(d)
	r.mu.Lock()
	if p, ok := r.live[key]; ok {
		p.refs++
		r.mu.Unlock()
		return p, nil
	}
	r.mu.Unlock()
	// Loading compiles and runs plugin_init; other reloads must not wait on it.
	wp, err := r.host.Load(ctx, d.Name, d.Wasm, d.Config, d.Limits)
	if err != nil {
		return nil, fmt.Errorf("extension: plugin %s: %w", d.Name, err)
	}
	if err := checkKind(wp, d.Kind); err != nil {
		wp.Close(ctx)
		return nil, fmt.Errorf("extension: plugin %s: %w", d.Name, err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if p, ok := r.live[key]; ok { // loaded concurrently: keep the first
		p.refs++
		wp.Close(ctx)
		return p, nil
	}
	p := &Plugin{Plugin: wp, name: d.Name, kind: d.Kind, key: key, refs: 1}
	r.live[key] = p
	return p, nil
}

func checkKind(p *wasmhost.Plugin, kind string) error {
	switch kind {
	case "route":
		if !p.Has(wasmhost.HookRoute) {
			return fmt.Errorf("declared kind route but does not export %s", wasmhost.HookRoute)
		}
	case "transform":
		if !p.Has(wasmhost.HookRequest) && !p.Has(wasmhost.HookResponse) && !p.Has(wasmhost.HookStream) {
			return fmt.Errorf("declared kind transform but exports none of %s, %s, %s", wasmhost.HookRequest, wasmhost.HookResponse, wasmhost.HookStream)
		}
	case "format":
		if !p.Has(wasmhost.HookFormatRequest) {
			return fmt.Errorf("declared kind format but does not export the %s hooks", "hook_format_*")
		}
	default:
		return fmt.Errorf("unknown kind %q", kind)
	}
	return nil
}

func (r *Registry) release(ctx context.Context, p *Plugin) {
	r.mu.Lock()
	p.refs--
	last := p.refs == 0
	if last {
		delete(r.live, p.key)
	}
	r.mu.Unlock()
	if last {
		if err := p.Close(ctx); err != nil {
			r.log.Warn("extension: closing plugin", slog.String("plugin", p.Name()), slog.Any("err", err))
		}
	}
}

// Loaded is how many distinct plugins are loaded.
func (r *Registry) Loaded() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.live)
}

// Set is one configuration generation's plugins, bound to their extension points. It holds
// a reference on each plugin until Close.
type Set struct {
	reg        *Registry
	log        *slog.Logger
	plugins    []*Plugin
	rankers    []route.Ranker
	transforms []*transform
	formats    map[string]*Plugin
	closed     atomic.Bool
}

// Build loads (or reuses) every declared plugin and binds it. On error nothing stays held.
func (r *Registry) Build(ctx context.Context, decls []Decl) (*Set, error) {
	s := &Set{reg: r, log: r.log, formats: map[string]*Plugin{}}
	order := make([]int, len(decls))
	for i := range order {
		order[i] = i
	}
	slices.SortStableFunc(order, func(a, b int) int { return decls[a].Order - decls[b].Order })
	for _, i := range order {
		d := &decls[i]
		p, err := r.acquire(ctx, d)
		if err != nil {
			s.Close(ctx)
			return nil, err
		}
		s.plugins = append(s.plugins, p)
		switch d.Kind {
		case "route":
			s.rankers = append(s.rankers, &boundRanker{models: d.Models, r: NewRoute(p, r.log)})
		case "transform":
			s.transforms = append(s.transforms, &transform{p: p, models: d.Models, failClosed: d.FailClosed})
		case "format":
			s.formats[d.Name] = p
		}
	}
	return s, nil
}

// Rankers are the route plugins, in order, for route.Options.
func (s *Set) Rankers() []route.Ranker { return s.rankers }

// Format returns the format plugin declared under name.
func (s *Set) Format(name string) (*Plugin, bool) {
	p, ok := s.formats[name]
	return p, ok
}

// Close releases the set's references; plugins no other generation holds are closed.
func (s *Set) Close(ctx context.Context) {
	if s == nil || s.closed.Swap(true) {
		return
	}
	for _, p := range s.plugins {
		s.reg.release(ctx, p)
	}
}

// WriteMetrics writes the plugins' call and failure counters in Prometheus text format.
func (s *Set) WriteMetrics(w io.Writer) {
	if s == nil || len(s.plugins) == 0 {
		return
	}
	b := []byte("# TYPE crossroads_plugin_calls_total counter\n")
	for _, p := range s.plugins {
		b = appendCounters(b, "crossroads_plugin_calls_total", p, &p.calls)
	}
	b = append(b, "# TYPE crossroads_plugin_failures_total counter\n"...)
	for _, p := range s.plugins {
		b = appendCounters(b, "crossroads_plugin_failures_total", p, &p.failures)
	}
	b = append(b, "# TYPE crossroads_plugin_instances gauge\n"...)
	for _, p := range s.plugins {
		b = append(b, `crossroads_plugin_instances{plugin="`...)
		b = append(b, p.Name()...)
		b = append(b, `"} `...)
		b = strconv.AppendInt(b, int64(p.Live()), 10)
		b = append(b, '\n')
	}
	_, _ = w.Write(b)
}

func appendCounters(b []byte, metric string, p *Plugin, c *[len(wasmhost.Hooks)]atomic.Int64) []byte {
	for i, h := range wasmhost.Hooks {
		if !p.Has(h) {
			continue
		}
		b = append(b, metric...)
		b = append(b, `{plugin="`...)
		b = append(b, p.Name()...)
		b = append(b, `",hook="`...)
		b = append(b, h...)
		b = append(b, `"} `...)
		b = strconv.AppendInt(b, c[i].Load(), 10)
		b = append(b, '\n')
	}
	return b
}

// matchModel reports whether a plugin bound to globs applies to model; no globs is all.
func matchModel(globs []string, model string) bool {
	return len(globs) == 0 || glob.Any(globs, model)
}

// boundRanker applies a route plugin only to the models it is declared for.
type boundRanker struct {
	models []string
	r      *Route
}

func (b *boundRanker) Rank(ctx context.Context, req *llm.Request, cands []route.Candidate) []route.Candidate {
	if len(cands) == 0 || (!matchModel(b.models, cands[0].Model.ID) && !matchModel(b.models, req.Model)) {
		return cands
	}
	return b.r.Rank(ctx, req, cands)
}
