// Package edge is the public embedding API of a Crossroads edge node: build a Node from a
// Config, serve it with Run, or mount its Handler in a server of your own.
//
// A Node wires the internal packages together: the catalog of models, the provider
// adapters over one shared upstream transport, the request pipeline, the HTTP API and the
// listeners (TLS over TCP for HTTP/1.1 and HTTP/2, UDP for HTTP/3, and a plain port).
package edge

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/cache"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/redisstore"
	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/config"
	"github.com/crossroads-llm/crossroads/edge/internal/extension"
	"github.com/crossroads-llm/crossroads/edge/internal/httpapi"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/provider/openai"
	"github.com/crossroads-llm/crossroads/edge/internal/provider/sim"
	"github.com/crossroads-llm/crossroads/edge/internal/route"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
	"github.com/crossroads-llm/crossroads/edge/internal/server"
	"github.com/crossroads-llm/crossroads/edge/internal/telemetry"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

// Config is the node's configuration. Build one with LoadConfig or DefaultConfig; its
// fields can be adjusted before New.
type Config = config.Config

// LoadConfig reads a YAML configuration file, expanding ${ENV} references, and validates
// it. Providers found in the environment (OPENAI_API_KEY, OPENROUTER_API_KEY) are added.
func LoadConfig(path string) (*Config, error) { return config.LoadFile(path) }

// ParseConfig is LoadConfig for YAML already in memory, with env as the variable lookup.
func ParseConfig(yaml []byte, env func(string) (string, bool)) (*Config, error) {
	return config.Parse(yaml, env)
}

// DefaultConfig is the embedded default: local listeners, the simulated provider, and
// providers from the environment.
func DefaultConfig(env func(string) (string, bool)) (*Config, error) { return config.Default(env) }

// Node is one edge node.
type Node struct {
	cfg     *Config
	log     *slog.Logger
	api     *httpapi.API
	srv     *server.Server
	ready   atomic.Bool
	metrics *telemetry.Metrics
	closeMu sync.Mutex
	closed  bool
	upTr    *provider.Transport

	// gen is the current catalog and router; a reload swaps it. Requests hold the
	// generation they started on until they finish, so a reload drops nothing in flight.
	gen     atomic.Pointer[generation]
	health  *health.Registry
	sticky  *route.Sticky
	cfgFile string
	watch   *fileWatch
	reload  sync.Mutex
	// plugins loads WebAssembly plugins into the node's one sandbox host and shares them
	// between generations that declare them unchanged.
	host    *wasmhost.Host
	plugins *extension.Registry
	// cache is the prompt cache; its stores outlive generations. Nil when disabled.
	cache *cache.Cache
	usage func(*UsageRecord)
	// l2 is the cache's shared store once connected; l2Mu orders connecting and closing.
	l2       *redisstore.Store
	l2Mu     sync.Mutex
	l2Warned bool
	l2Closed bool
	l2Stop   context.CancelFunc // ends the background connection attempts
}

// generation is everything a configuration reload rebuilds.
type generation struct {
	cfg    *Config
	cat    *catalog.Catalog
	router *route.Router
	// handler is the request pipeline: transform plugins around the router.
	handler pipeline.Handler
	plugins *extension.Set
	// files are the plugin files this generation was built from, watched for changes.
	files []string
	refs  genRefs
}

// build makes a generation from a configuration: provider adapters, catalog and router.
// Health and sticky pins are the node's and carry over.
func (n *Node) build(cfg *Config) (*generation, error) {
	providers := map[string]provider.Provider{}
	var extra []*catalog.Model
	var extraProviders []*catalog.Provider
	if config.Enabled(cfg.Sim.Enabled) {
		simTr := sim.New(sim.Config{TTFT: cfg.Sim.TTFT.D(), TokensPerSecond: cfg.Sim.TokensPerSecond})
		// The sim's timeout directive hangs like a dead upstream; two minutes turns that into
		// the 408 a user exercising it expects to see, while leaving room for long sim streams.
		p, err := openai.New(openai.Config{Name: "sim", DisplayName: "Crossroads Sim", BaseURL: "http://sim.invalid/v1",
			Timeout: 2 * time.Minute, MaxResponseBytes: int64(cfg.Limits.MaxResponseBytes)}, simTr)
		if err != nil {
			return nil, err
		}
		providers["sim"] = p
		extraProviders = append(extraProviders, &catalog.Provider{Slug: "sim", Name: "Crossroads Sim", Format: "openai",
			BaseURL: "http://sim.invalid/v1", Timeout: 2 * time.Minute})
		for _, m := range sim.Models() {
			extra = append(extra, &catalog.Model{
				ID: "sim/" + m.ID, Name: m.Name, Description: m.Description, Created: m.Created,
				ContextLength: m.ContextLength, MaxCompletionTokens: m.MaxCompletionTokens,
				SupportedParameters: m.SupportedParameters, InputModalities: []string{"text"},
				Endpoints: []*catalog.Endpoint{{Provider: "sim", UpstreamID: m.ID,
					ContextLength: m.ContextLength, MaxCompletionTokens: m.MaxCompletionTokens,
					SupportedParameters: m.SupportedParameters}},
			})
		}
	}
	cat, err := catalog.Build(cfg, catalog.Options{Extra: extra, ExtraProviders: extraProviders, Created: time.Now()})
	if err != nil {
		return nil, err
	}
	// A provider's wire format is a format plugin that lists it, else its own `format`.
	formatOf := map[string]string{}
	for _, pc := range cfg.Plugins {
		if pc.Kind == "format" {
			for _, slug := range pc.Providers {
				formatOf[slug] = pc.Name
			}
		}
	}
	var formats []string
	for _, pc := range cat.Providers() {
		if _, ok := formatOf[pc.Slug]; !ok && pc.Format != "" && pc.Format != "openai" {
			formatOf[pc.Slug] = pc.Format
		}
		if f := formatOf[pc.Slug]; f != "" && !slices.Contains(formats, f) {
			formats = append(formats, f)
		}
	}
	decls, files, err := pluginDecls(cfg, formats)
	if err != nil {
		return nil, err
	}
	set, err := n.plugins.Build(context.Background(), decls)
	if err != nil {
		return nil, fmt.Errorf("edge: %w", err)
	}
	ok := false
	defer func() {
		if !ok {
			set.Close(context.Background())
		}
	}()
	for _, pc := range cat.Providers() {
		if _, ok := providers[pc.Slug]; ok {
			continue
		}
		if f := formatOf[pc.Slug]; f != "" {
			fp, found := set.Format(f)
			if !found {
				return nil, fmt.Errorf("edge: provider %s: format %q: no format plugin of that name", pc.Slug, f)
			}
			p, err := extension.NewFormat(extension.FormatConfig{
				Name: pc.Slug, DisplayName: pc.Name, BaseURL: pc.BaseURL, APIKey: pc.APIKey,
				Headers: pc.Headers, Timeout: pc.Timeout, ConnectTimeout: pc.ConnectTimeout,
				MaxResponseBytes: int64(cfg.Limits.MaxResponseBytes),
			}, fp, n.upTr, n.log)
			if err != nil {
				return nil, err
			}
			providers[pc.Slug] = p
			continue
		}
		p, err := openai.New(openai.Config{
			Name: pc.Slug, DisplayName: pc.Name, BaseURL: pc.BaseURL, APIKey: pc.APIKey,
			Headers: pc.Headers, Timeout: pc.Timeout, ConnectTimeout: pc.ConnectTimeout,
			MaxResponseBytes: int64(cfg.Limits.MaxResponseBytes),
		}, n.upTr)
		if err != nil {
			return nil, err
		}
		providers[pc.Slug] = p
	}
	rc := cfg.Routing
	router, err := route.New(route.Options{
		Catalog: cat, Providers: providers, Health: n.health, Sticky: n.sticky,
		FirstByteTimeout: rc.FirstByteTimeout.D(), TotalTimeout: rc.TotalTimeout.D(), MaxAttempts: rc.MaxAttempts,
		LatencyOutlier: rc.LatencyOutlier,
		Hedge: route.Hedge{Enabled: rc.Hedge.Enabled, Delay: rc.Hedge.Delay.D(), MinDelay: rc.Hedge.MinDelay.D(),
			MaxDelay: rc.Hedge.MaxDelay.D()},
		Rankers: set.Rankers(),
		Log:     n.log, Metrics: n.metrics,
	})
	if err != nil {
		return nil, err
	}
	ok = true
	g := &generation{cfg: cfg, cat: cat, router: router, plugins: set, files: files}
	var mws []pipeline.Middleware
	// Request transforms run before the cache, so the key is what goes upstream, and
	// response transforms after it, so a hit is transformed like a fresh answer.
	if mw := set.Transforms(httpapi.Reparse); mw != nil {
		mws = append(mws, mw)
	}
	if n.cache != nil && config.Enabled(cfg.Cache.Enabled) {
		mws = append(mws, n.cache.Stage(cacheStage(cfg, cat, &g.refs)))
	}
	g.handler = pipeline.Chain(router, mws...)
	g.refs.n.Store(1) // the node's own reference while the generation is current
	g.refs.release = func() { set.Close(context.Background()) }
	return g, nil
}

// every runs f each period until ctx ends: the node's background chores (percentile
// refresh, active probes, file watching) are all this loop.
func every(ctx context.Context, period time.Duration, f func()) {
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			f()
		}
	}
}

// Reload re-reads the configuration file (when the node was built from one) and the
// catalog file, and swaps in the new catalog and router. New requests take the new
// generation; requests in flight finish on the one they started on. On any error the
// node keeps serving the old generation. Listener, TLS and limit settings need a restart.
func (n *Node) Reload() error {
	n.reload.Lock()
	defer n.reload.Unlock()
	cfg := n.gen.Load().cfg
	if n.cfgFile != "" {
		var err error
		if cfg, err = config.LoadFile(n.cfgFile); err != nil {
			return fmt.Errorf("edge: reload: %w", err)
		}
	}
	g, err := n.build(cfg)
	if err != nil {
		return fmt.Errorf("edge: reload: %w", err)
	}
	// Requests in flight keep the old generation (and its plugins) until they finish.
	n.gen.Swap(g).refs.done()
	n.watch.update(append([]string{n.cfgFile, cfg.CatalogFile}, g.files...)...)
	n.log.Info("configuration reloaded", "models", len(g.cat.Models()), "providers", len(g.cat.Providers()))
	return nil
}

// Option adjusts how New builds a node.
type Option func(*options)

type options struct {
	logger     *slog.Logger
	noNet      bool
	configFile string
	usage      func(*UsageRecord)
}

// UsageRecord is the accounting of one answered chat request: tokens, the upstream's cost,
// and for an answer the prompt cache served, what it saved.
type UsageRecord = llm.UsageRecord

// WithUsage hands every usage record to f when its response completes, on the request's
// goroutine: f must not block (queue the record to a ledger, do not write it there).
func WithUsage(f func(*UsageRecord)) Option { return func(o *options) { o.usage = f } }

// WithConfigFile names the file the configuration came from, so Reload (SIGHUP, or the
// file changing) re-reads it.
func WithConfigFile(path string) Option { return func(o *options) { o.configFile = path } }

// WithLogger sets the node's logger (default: built from the configuration's log section).
func WithLogger(l *slog.Logger) Option { return func(o *options) { o.logger = l } }

// WithoutListeners builds a node that only serves through Handler: no ports are bound.
func WithoutListeners() Option { return func(o *options) { o.noNet = true } }

// New builds a node and binds its listeners, so its addresses are known before Run.
func New(cfg *Config, opts ...Option) (*Node, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errs
	}
	log := o.logger
	if log == nil {
		log = telemetry.NewLogger(cfg.Log.Level, cfg.Log.Format)
	}
	n := &Node{cfg: cfg, log: log, metrics: telemetry.NewMetrics(), upTr: provider.NewTransport(), cfgFile: o.configFile}
	rc := cfg.Routing
	n.health = health.NewRegistry(health.Config{
		FailuresToOpen: rc.Breaker.Failures, Cooldown: rc.Breaker.Cooldown.D(), MaxCooldown: rc.Breaker.MaxCooldown.D(),
		DegradedWindow: rc.Degraded.Window.D(), DegradedMinFailures: rc.Degraded.MinFailures, DegradedRatio: rc.Degraded.Ratio,
		BreakerDisabled: !config.Enabled(rc.Breaker.Enabled),
	})
	if config.Enabled(rc.Sticky.Enabled) {
		n.sticky = route.NewSticky(rc.Sticky.MaxSessions, rc.Sticky.TTL.D())
	}
	host, err := newPluginHost(cfg, log)
	if err != nil {
		return nil, err
	}
	n.host = host
	n.plugins = extension.NewRegistry(n.host, log)
	n.usage = o.usage
	if n.cache, err = newCache(cfg, log); err != nil {
		n.host.Close(context.Background())
		return nil, err
	}
	g, err := n.build(cfg)
	if err != nil {
		n.host.Close(context.Background())
		return nil, err
	}
	n.startL2()
	n.gen.Store(g)
	n.metrics.SetCollector(n.writeEndpointMetrics)
	n.watch = newFileWatch(append([]string{n.cfgFile, cfg.CatalogFile}, g.files...)...)
	n.api = httpapi.New(httpapi.Options{
		Pipeline: pipeline.HandlerFunc(n.serve),
		Models:   func() []byte { return n.gen.Load().cat.ModelsJSON() },
		ModelsFiltered: func(q url.Values) ([]byte, error) {
			doc, err := n.gen.Load().cat.ModelsJSONFiltered(q)
			var fe *catalog.FilterError
			if errors.As(err, &fe) {
				return nil, llm.BadRequest(fe.Param, "query parameter `%s`: %s", fe.Param, fe.Msg)
			}
			return doc, err
		},
		Endpoints: func(id string) ([]byte, bool) {
			g := n.gen.Load()
			return g.cat.EndpointsJSON(id, g.router.Live)
		},
		Ready:        n.ready.Load,
		MaxBodyBytes: int64(cfg.Limits.MaxBodyBytes),
		KeepAlive:    cfg.Stream.KeepAlive.D(),
		Metrics:      n.metrics,
		Logger:       log,
		Usage:        n.account,
	})
	if o.noNet {
		n.ready.Store(true)
		return n, nil
	}
	addr := func(a string) string {
		if a == "off" {
			return ""
		}
		return a
	}
	n.srv, err = server.New(server.Config{
		TLSAddr:              addr(cfg.Listen.TLS),
		PlainAddr:            addr(cfg.Listen.Plain),
		HTTP3:                config.Enabled(cfg.HTTP3.Enabled),
		CertFile:             cfg.TLS.CertFile,
		KeyFile:              cfg.TLS.KeyFile,
		DataDir:              cfg.DataDir,
		CertReloadInterval:   cfg.TLS.ReloadInterval.D(),
		ReadHeaderTimeout:    cfg.Timeouts.ReadHeader.D(),
		IdleTimeout:          cfg.Timeouts.Idle.D(),
		MaxHeaderBytes:       int(cfg.Limits.MaxHeaderBytes),
		MaxConcurrentStreams: cfg.HTTP3.MaxStreamsPerConn,
		QUICIdleTimeout:      cfg.HTTP3.IdleTimeout.D(),
		Allow0RTT:            cfg.HTTP3.Allow0RTT,
		Logger:               log,
	}, n.api)
	if err != nil {
		return nil, fmt.Errorf("edge: listen: %w", err)
	}
	return n, nil
}

// serve runs one request on the current generation, holding it until the response is
// closed: a reload meanwhile neither drops the request nor closes a plugin it uses.
func (n *Node) serve(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	var g *generation
	for g = n.gen.Load(); !g.refs.acquire(); g = n.gen.Load() {
	}
	resp, err := g.handler.Serve(ctx, req)
	if err != nil || resp == nil {
		g.refs.done()
		return resp, err
	}
	prev := resp.Release
	resp.Release = func() {
		if prev != nil {
			prev()
		}
		g.refs.done()
	}
	return resp, nil
}

// Handler returns the node's HTTP handler, for embedding in another server.
func (n *Node) Handler() http.Handler { return n.api }

// TLSAddr is the bound TLS address (TCP and UDP share its port), nil when disabled.
func (n *Node) TLSAddr() net.Addr {
	if n.srv == nil {
		return nil
	}
	return n.srv.TLSAddr()
}

// PlainAddr is the bound plain-HTTP address, nil when disabled.
func (n *Node) PlainAddr() net.Addr {
	if n.srv == nil {
		return nil
	}
	return n.srv.PlainAddr()
}

// CertFile is the PEM certificate the TLS listeners present; a self-signed one is its
// own CA, so clients can trust it directly.
func (n *Node) CertFile() string {
	if n.srv == nil {
		return ""
	}
	return n.srv.CertFile()
}

// ReloadCert re-reads the certificate files now (the node also polls them).
func (n *Node) ReloadCert() error {
	if n.srv == nil {
		return nil
	}
	return n.srv.ReloadCert()
}

// Run serves until ctx is cancelled, then drains: /readyz turns 503, listeners stop
// accepting, in-flight requests get the configured shutdown deadline, after which streams
// are ended with an error event and connections closed. Run returns nil after a clean
// drain.
func (n *Node) Run(ctx context.Context) error {
	if n.srv == nil {
		return errors.New("edge: run: node was built without listeners")
	}
	errc := make(chan error, 1)
	go func() { errc <- n.srv.Serve() }()
	if addr := n.cfg.Debug.PprofAddr; addr != "" {
		stop, err := servePprof(addr, n.log)
		if err != nil {
			_ = n.srv.Close()
			<-errc
			return err
		}
		defer stop()
	}
	wctx, stopWatch := context.WithCancel(context.Background())
	defer stopWatch()
	go every(wctx, n.cfg.TLS.ReloadInterval.D(), n.reloadIfChanged)
	if d := n.cfg.Routing.ProbeInterval.D(); d > 0 {
		// Active probes of endpoints whose circuit waits for one: recovery costs no client
		// request.
		go every(wctx, d, func() { n.gen.Load().router.ProbeOpen(wctx, min(d, 10*time.Second)) })
	}
	// Percentile caches are refreshed here, off the request path.
	go every(wctx, health.RefreshEvery, func() { n.health.Refresh(time.Now().UnixNano()) })
	n.ready.Store(true)
	n.log.Info("crossroads serving", "tls", addrString(n.TLSAddr()), "http3", config.Enabled(n.cfg.HTTP3.Enabled),
		"plain", addrString(n.PlainAddr()), "cert", n.CertFile())
	select {
	case err := <-errc:
		n.ready.Store(false)
		return fmt.Errorf("edge: serve: %w", err)
	case <-ctx.Done():
	}
	n.ready.Store(false)
	n.log.Info("crossroads draining", "deadline", n.cfg.Timeouts.Shutdown.D(), "streams", n.metrics.StreamsActive())
	dctx, cancel := context.WithTimeout(context.Background(), n.cfg.Timeouts.Shutdown.D())
	defer cancel()
	err := n.srv.Shutdown(dctx)
	<-errc
	n.upTr.CloseIdleConnections()
	if err != nil && !errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("edge: shutdown: %w", err)
	}
	n.log.Info("crossroads stopped")
	return nil
}

// Close stops the node at once, without draining.
func (n *Node) Close() error {
	n.closeMu.Lock()
	defer n.closeMu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	n.ready.Store(false)
	n.upTr.CloseIdleConnections()
	var err error
	if n.srv != nil {
		err = n.srv.Close()
	}
	n.host.Close(context.Background())
	n.closeL2()
	return err
}

// servePprof serves the runtime profiles on their own listener, away from client traffic.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("edge: pprof listen: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	log.Info("pprof serving", "addr", ln.Addr().String())
	return func() { _ = srv.Close() }, nil
}

func addrString(a net.Addr) string {
	if a == nil {
		return "off"
	}
	return a.String()
}
