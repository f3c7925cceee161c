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
	"sync"
	"sync/atomic"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/config"
	"github.com/crossroads-llm/crossroads/edge/internal/httpapi"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/provider/openai"
	"github.com/crossroads-llm/crossroads/edge/internal/provider/sim"
	"github.com/crossroads-llm/crossroads/edge/internal/route"
	"github.com/crossroads-llm/crossroads/edge/internal/server"
	"github.com/crossroads-llm/crossroads/edge/internal/telemetry"
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
}

// Option adjusts how New builds a node.
type Option func(*options)

type options struct {
	logger *slog.Logger
	noNet  bool
}

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
	n := &Node{cfg: cfg, log: log, metrics: telemetry.NewMetrics(), upTr: provider.NewTransport()}

	providers := map[string]provider.Provider{}
	var extra []*catalog.Model
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
		for _, m := range sim.Models() {
			extra = append(extra, &catalog.Model{
				ID: "sim/" + m.ID, Name: m.Name, Description: m.Description, Created: m.Created,
				ContextLength: m.ContextLength, MaxCompletionTokens: m.MaxCompletionTokens,
				SupportedParameters: m.SupportedParameters, InputModalities: []string{"text"},
				Endpoints: []catalog.Endpoint{{Provider: "sim", UpstreamID: m.ID,
					ContextLength: m.ContextLength, MaxCompletionTokens: m.MaxCompletionTokens}},
			})
		}
	}
	for _, pc := range cfg.Providers {
		p, err := openai.New(openai.Config{
			Name: pc.Name, DisplayName: pc.DisplayName, BaseURL: pc.BaseURL, APIKey: pc.APIKey,
			Headers: pc.Headers, Timeout: pc.Timeout.D(), ConnectTimeout: pc.ConnectTimeout.D(),
			MaxResponseBytes: int64(cfg.Limits.MaxResponseBytes),
		}, n.upTr)
		if err != nil {
			return nil, err
		}
		providers[pc.Name] = p
	}
	cat, err := catalog.Build(cfg, extra, time.Now())
	if err != nil {
		return nil, err
	}
	router, err := route.New(cat, providers, log)
	if err != nil {
		return nil, err
	}
	n.api = httpapi.New(httpapi.Options{
		Pipeline:     pipeline.Chain(router),
		Models:       cat.ModelsJSON,
		Ready:        n.ready.Load,
		MaxBodyBytes: int64(cfg.Limits.MaxBodyBytes),
		KeepAlive:    cfg.Stream.KeepAlive.D(),
		Metrics:      n.metrics,
		Logger:       log,
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
	if n.srv != nil {
		return n.srv.Close()
	}
	return nil
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
