// Package server owns the edge node's listeners: TLS over TCP (HTTP/1.1 and
// HTTP/2) and QUIC over UDP (HTTP/3) on the same port, an optional plain port
// (HTTP/1.1 and h2c), the TLS certificate (files reloaded on change, or a
// self-signed one kept in the data directory), Alt-Svc advertising, the
// RFC 8470 early-data guard, and graceful shutdown with a drain deadline.
//
// It serves one http.Handler and knows nothing about what it does. It is the
// only package of the node that imports quic-go's server side.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// ErrShutdown is the cause of request contexts cancelled when a Shutdown
// deadline passes (or on Close): a streaming handler that sees it should end
// its stream with a terminal event instead of a silent cut.
var ErrShutdown = errors.New("server: shutting down")

// Defaults for the zero values of Config.
const (
	DefaultCertReloadInterval   = 5 * time.Second
	DefaultReadHeaderTimeout    = 10 * time.Second
	DefaultIdleTimeout          = 120 * time.Second
	DefaultMaxHeaderBytes       = 64 << 10
	DefaultMaxConcurrentStreams = 1000
	DefaultQUICIdleTimeout      = 120 * time.Second
	DefaultShutdownGrace        = 2 * time.Second
)

const (
	// portAttempts bounds the search for a port free on both TCP and UDP
	// when the port is 0; a collision needs another process to grab the UDP
	// twin of our TCP port in between, so a few tries are plenty.
	portAttempts = 16
	// h3IdleQuiet is how long no HTTP/3 handler may run during a drain before
	// the remaining QUIC connections are closed. Well-behaved clients close
	// on GOAWAY themselves; this stops one that keeps an idle connection open
	// from holding a drain until its (minutes-long) deadline. It is long
	// enough for responses of finished handlers to leave the send buffers.
	h3IdleQuiet = time.Second
	// h3PollInterval is how often the drain checks for idle HTTP/3 handlers.
	h3PollInterval = 50 * time.Millisecond
	// h3CloseWait bounds Close: http3.Server.Close waits for every handler to
	// return, and one that ignores its context must not hang the process.
	h3CloseWait = 5 * time.Second
)

// Config describes the listeners. The zero value of every field is usable
// and means what its comment says.
type Config struct {
	// TLSAddr is the address of TLS over TCP (HTTP/1.1 and HTTP/2) and, with
	// HTTP3, of QUIC over UDP on the same port, e.g. "127.0.0.1:8443".
	// Port 0 picks a port free on both TCP and UDP. "" disables TLS (and so
	// HTTP/3).
	TLSAddr string
	// PlainAddr is the address of cleartext HTTP/1.1 and h2c (prior
	// knowledge), e.g. "127.0.0.1:8080". "" disables it.
	PlainAddr string
	// HTTP3 serves HTTP/3 on TLSAddr's UDP port and advertises it with
	// Alt-Svc on TLS responses. false (the zero value; the node's config
	// defaults it to true) serves TCP only and binds no UDP port.
	HTTP3 bool

	// CertFile and KeyFile are PEM files. Both "" means a self-signed ECDSA
	// P-256 certificate for localhost, 127.0.0.1 and ::1, generated once into
	// DataDir/tls/{cert.pem,key.pem} and reused (regenerated when expired or
	// unreadable). Setting only one of them is an error.
	CertFile, KeyFile string
	// DataDir holds the generated certificate. "" is an error only when the
	// certificate has to be generated.
	DataDir string
	// CertReloadInterval is how often the certificate files are checked for
	// changes. 0 means DefaultCertReloadInterval; negative disables polling
	// (ReloadCert still works).
	CertReloadInterval time.Duration

	// ReadHeaderTimeout bounds reading HTTP/1 request headers. 0 means
	// DefaultReadHeaderTimeout; negative means none.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes HTTP/1 keep-alive, HTTP/2 and HTTP/3 connections
	// without requests for this long. 0 means DefaultIdleTimeout; negative
	// means none. There is deliberately no write timeout: LLM streams last
	// minutes.
	IdleTimeout time.Duration
	// MaxHeaderBytes limits request headers on HTTP/1, HTTP/2 and HTTP/3.
	// 0 or negative means DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// MaxConcurrentStreams caps concurrent requests per HTTP/2 or HTTP/3
	// connection. 0 or negative means DefaultMaxConcurrentStreams.
	MaxConcurrentStreams int
	// QUICIdleTimeout closes a QUIC connection after this long without any
	// packet. It must exceed the gaps of long LLM streams (the node sends SSE
	// keep-alive comments every 15 s). 0 or negative means
	// DefaultQUICIdleTimeout.
	QUICIdleTimeout time.Duration
	// Allow0RTT accepts QUIC 0-RTT. false (the default) refuses it. Either
	// way, early-data requests other than GET and HEAD get 425 Too Early.
	Allow0RTT bool
	// ShutdownGrace is how long handlers get, after the Shutdown deadline
	// cancelled their contexts, to write their final bytes before
	// connections are closed. 0 or negative means DefaultShutdownGrace.
	ShutdownGrace time.Duration

	// Logger receives listener events; net/http's error log (mostly TLS
	// handshake noise from scanners) goes to it at debug level. nil means
	// slog.Default().
	Logger *slog.Logger
}

func (c *Config) setDefaults() {
	if c.CertReloadInterval == 0 {
		c.CertReloadInterval = DefaultCertReloadInterval
	}
	if c.ReadHeaderTimeout == 0 {
		c.ReadHeaderTimeout = DefaultReadHeaderTimeout
	}
	if c.IdleTimeout == 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.MaxConcurrentStreams <= 0 {
		c.MaxConcurrentStreams = DefaultMaxConcurrentStreams
	}
	if c.QUICIdleTimeout <= 0 {
		c.QUICIdleTimeout = DefaultQUICIdleTimeout
	}
	if c.ShutdownGrace <= 0 {
		c.ShutdownGrace = DefaultShutdownGrace
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
}

// Server serves one handler on every configured listener.
type Server struct {
	cfg Config
	log *slog.Logger

	certs    *certStore // nil without TLS
	certFile string

	tcpLn    net.Listener // TLS over TCP; nil when disabled
	plainLn  net.Listener // nil when disabled
	udpConn  *net.UDPConn // kept unwrapped so quic-go can use GSO, ECN and recvmmsg
	tr       *quic.Transport
	quicLn   *quic.EarlyListener
	quicConf *quic.Config

	tlsSrv   *http.Server
	plainSrv *http.Server
	h3Srv    *http3.Server

	// baseCtx is the root of every request context on every protocol, so
	// cancelling it with ErrShutdown reaches all in-flight handlers at once.
	baseCtx    context.Context
	cancelBase context.CancelCauseFunc

	activeTCP atomic.Int64 // handlers in flight on HTTP/1 and HTTP/2
	activeH3  atomic.Int64 // handlers in flight on HTTP/3

	reloadStop chan struct{}
	reloadDone chan struct{}

	mu       sync.Mutex
	serving  bool
	stopOnce sync.Once
	stopping chan struct{} // closed when Shutdown or Close begins

	closeOnce sync.Once
	closeErr  error
	done      chan struct{} // closed once every listener and connection is closed
}

// New loads or generates the certificate and binds every listener, so the
// ports are known (and port conflicts reported) before Serve.
func New(cfg Config, h http.Handler) (*Server, error) {
	if h == nil {
		return nil, errors.New("server: new: nil handler")
	}
	if cfg.TLSAddr == "" && cfg.PlainAddr == "" {
		return nil, errors.New("server: new: no listener configured (TLSAddr and PlainAddr are empty)")
	}
	if (cfg.CertFile == "") != (cfg.KeyFile == "") {
		return nil, errors.New("server: new: CertFile and KeyFile must be set together")
	}
	cfg.setDefaults()
	s := &Server{
		cfg:        cfg,
		log:        cfg.Logger,
		reloadStop: make(chan struct{}),
		reloadDone: make(chan struct{}),
		stopping:   make(chan struct{}),
		done:       make(chan struct{}),
	}
	s.baseCtx, s.cancelBase = context.WithCancelCause(context.Background())
	if err := s.init(h); err != nil {
		s.cancelBase(ErrShutdown)
		s.closeListeners()
		return nil, err
	}
	if s.certs != nil && cfg.CertReloadInterval > 0 {
		go func() {
			defer close(s.reloadDone)
			s.certs.poll(cfg.CertReloadInterval, s.reloadStop)
		}()
	} else {
		close(s.reloadDone)
	}
	return s, nil
}

func (s *Server) init(h http.Handler) error {
	cfg := &s.cfg
	// net/http logs every failed TLS handshake; on a public port that is a
	// scanner per second, which must not drown the info log.
	errorLog := slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)
	baseContext := func(net.Listener) context.Context { return s.baseCtx }

	if cfg.PlainAddr != "" {
		ln, err := net.Listen("tcp", cfg.PlainAddr)
		if err != nil {
			return fmt.Errorf("server: listen plain %s: %w", cfg.PlainAddr, err)
		}
		s.plainLn = ln
		var protos http.Protocols
		protos.SetHTTP1(true)
		protos.SetUnencryptedHTTP2(true)
		s.plainSrv = s.newHTTPServer(&edgeHandler{next: h, active: &s.activeTCP}, protos, errorLog, baseContext)
	}
	if cfg.TLSAddr == "" {
		return nil
	}

	certFile, keyFile := cfg.CertFile, cfg.KeyFile
	if certFile == "" {
		var err error
		if certFile, keyFile, err = ensureSelfSigned(cfg.DataDir, s.log); err != nil {
			return fmt.Errorf("server: self-signed certificate: %w", err)
		}
	}
	certs, err := newCertStore(certFile, keyFile, s.log)
	if err != nil {
		return fmt.Errorf("server: load certificate: %w", err)
	}
	s.certs, s.certFile = certs, certFile

	tcpLn, udpConn, err := listenPair(cfg.TLSAddr, cfg.HTTP3)
	if err != nil {
		return fmt.Errorf("server: listen tls %s: %w", cfg.TLSAddr, err)
	}
	s.tcpLn, s.udpConn = tcpLn, udpConn
	port := tcpLn.Addr().(*net.TCPAddr).Port

	tlsConf := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		NextProtos:     []string{"h2", "http/1.1"},
		GetCertificate: certs.getCertificate,
	}
	tcpHandler := &edgeHandler{next: h, active: &s.activeTCP}
	if cfg.HTTP3 {
		tcpHandler.altSvc = altSvcValue(port)
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetHTTP2(true)
	s.tlsSrv = s.newHTTPServer(tcpHandler, protos, errorLog, baseContext)
	s.tlsSrv.TLSConfig = tlsConf

	if !cfg.HTTP3 {
		return nil
	}
	// Always explicit: with a nil QUICConfig http3.Server would turn 0-RTT on.
	s.quicConf = &quic.Config{
		Allow0RTT:          cfg.Allow0RTT,
		MaxIncomingStreams: int64(cfg.MaxConcurrentStreams),
		MaxIdleTimeout:     cfg.QUICIdleTimeout,
	}
	// Our own Transport (Caddy's pattern) rather than http3.Server.Serve:
	// the listener exists before Serve, and the Transport is where stateless
	// reset and Retry policy will be configured.
	s.tr = &quic.Transport{Conn: udpConn}
	s.quicLn, err = s.tr.ListenEarly(http3.ConfigureTLSConfig(tlsConf), s.quicConf)
	if err != nil {
		return fmt.Errorf("server: listen quic %s: %w", udpConn.LocalAddr(), err)
	}
	idle := cfg.IdleTimeout
	if idle < 0 {
		idle = 0 // http3: zero or negative is "none"
	}
	s.h3Srv = &http3.Server{
		Handler:        &edgeHandler{next: h, active: &s.activeH3},
		Port:           port,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		IdleTimeout:    idle,
		QUICConfig:     s.quicConf, // unused by ServeListener; set so no code path sees nil
		ConnContext:    s.h3ConnContext,
		// Logger stays nil: http3 logs every request at debug level with
		// arguments boxed before the level check, which allocates per
		// request even when debug is off.
	}
	return nil
}

func (s *Server) newHTTPServer(h http.Handler, protos http.Protocols, errorLog *log.Logger, base func(net.Listener) context.Context) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		HTTP2:             &http.HTTP2Config{MaxConcurrentStreams: s.cfg.MaxConcurrentStreams},
		Protocols:         &protos,
		BaseContext:       base,
		ErrorLog:          errorLog,
	}
}

// h3ConnContext makes request contexts on HTTP/3 children of baseCtx as far as
// cancellation goes. http3 derives each request context from what ConnContext
// returns (server_conn.go: context.WithCancel(connCtx)), and passes in a
// context derived from the QUIC connection that carries http3's values, so we
// keep that parent and add cancellation from baseCtx, with its cause.
func (s *Server) h3ConnContext(ctx context.Context, _ *quic.Conn) context.Context {
	ctx, cancel := context.WithCancelCause(ctx)
	stop := context.AfterFunc(s.baseCtx, func() { cancel(context.Cause(s.baseCtx)) })
	// Deregister from baseCtx when the connection ends, or a long-running
	// node would accumulate one callback per connection ever served.
	context.AfterFunc(ctx, func() { stop() })
	return ctx
}

// listenPair binds TCP and, when udp is set, UDP on the same port.
func listenPair(addr string, udp bool) (net.Listener, *net.UDPConn, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, nil, err
	}
	if !udp {
		ln, err := net.Listen("tcp", addr)
		return ln, nil, err
	}
	attempts := 1
	if p, err := strconv.Atoi(port); err == nil && p == 0 {
		attempts = portAttempts
	}
	var lastErr error
	for range attempts {
		// TCP first: the kernel picks a port free on TCP, then we try its
		// UDP twin; the port spaces are separate, so it is usually free.
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return nil, nil, err
		}
		udpAddr := net.JoinHostPort(host, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
		pc, err := net.ListenPacket("udp", udpAddr)
		if err != nil {
			_ = ln.Close()
			lastErr = err
			continue
		}
		uc, ok := pc.(*net.UDPConn)
		if !ok {
			_ = pc.Close()
			_ = ln.Close()
			return nil, nil, fmt.Errorf("udp listener is %T, not *net.UDPConn", pc)
		}
		return ln, uc, nil
	}
	return nil, nil, fmt.Errorf("no port free on both TCP and UDP after %d attempts: %w", attempts, lastErr)
}

// TLSAddr is the address of the TLS listener (its UDP twin has the same
// port), or nil when TLS is disabled.
func (s *Server) TLSAddr() net.Addr {
	if s.tcpLn == nil {
		return nil
	}
	return s.tcpLn.Addr()
}

// PlainAddr is the address of the cleartext listener, or nil when disabled.
func (s *Server) PlainAddr() net.Addr {
	if s.plainLn == nil {
		return nil
	}
	return s.plainLn.Addr()
}

// CertFile is the path of the PEM certificate in use, "" without TLS. A
// generated certificate is self-signed, so clients can trust this file as a
// root.
func (s *Server) CertFile() string { return s.certFile }

// ReloadCert loads the certificate files now (for SIGHUP). On failure the
// previous certificate stays in use.
func (s *Server) ReloadCert() error {
	if s.certs == nil {
		return nil
	}
	if err := s.certs.reload(); err != nil {
		return fmt.Errorf("server: reload certificate: %w", err)
	}
	return nil
}

// Serve serves on every listener and blocks until Shutdown or Close has
// finished. It returns nil after a shutdown, or the error of a listener that
// failed on its own (which closes all the others: half a node is worse than
// none, because Alt-Svc and health checks would point clients at it).
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.serving {
		s.mu.Unlock()
		return errors.New("server: serve: already serving")
	}
	s.serving = true
	s.mu.Unlock()

	type result struct {
		proto string
		err   error
	}
	results := make(chan result, 3)
	n := 0
	if s.tlsSrv != nil {
		n++
		go func() { results <- result{"tls", s.tlsSrv.ServeTLS(s.tcpLn, "", "")} }()
	}
	if s.plainSrv != nil {
		n++
		go func() { results <- result{"plain", s.plainSrv.Serve(s.plainLn)} }()
	}
	if s.h3Srv != nil {
		n++
		go func() { results <- result{"http3", s.h3Srv.ServeListener(s.quicLn)} }()
	}
	s.log.Info("server: serving", "tls", addrString(s.TLSAddr()), "http3", s.h3Srv != nil, "plain", addrString(s.PlainAddr()))

	var firstErr error
	for range n {
		r := <-results
		if r.err == nil || errors.Is(r.err, http.ErrServerClosed) || errors.Is(r.err, quic.ErrServerClosed) || s.isStopping() {
			continue
		}
		if firstErr == nil {
			firstErr = fmt.Errorf("server: serve %s: %w", r.proto, r.err)
			s.log.Error("server: listener failed, closing all listeners", "proto", r.proto, "err", r.err)
			_ = s.Close()
		}
	}
	<-s.done
	return firstErr
}

func addrString(a net.Addr) string {
	if a == nil {
		return ""
	}
	return a.String()
}

func (s *Server) isStopping() bool {
	select {
	case <-s.stopping:
		return true
	default:
		return false
	}
}

// beginStop reports whether this call is the first to stop the server.
func (s *Server) beginStop() bool {
	first := false
	s.stopOnce.Do(func() {
		first = true
		close(s.stopping)
	})
	return first
}

// Shutdown stops accepting connections, sends GOAWAY on HTTP/2 and HTTP/3,
// and waits for in-flight handlers. If ctx ends first, it cancels every
// request context with cause ErrShutdown, gives handlers Config.ShutdownGrace
// to write their final bytes, closes everything and returns ctx.Err().
func (s *Server) Shutdown(ctx context.Context) error {
	if !s.beginStop() {
		select {
		case <-s.done:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}

	// Caddy's order: stop accepting QUIC first so no handshake completes into
	// a server that is already draining, then drain all servers in parallel.
	if s.quicLn != nil {
		_ = s.quicLn.Close()
	}
	// The sub-servers get their own context: cancelling it is our decision,
	// taken after the grace period, not when the caller's deadline passes.
	drainCtx, stopDrain := context.WithCancel(context.Background())
	defer stopDrain()
	var wg sync.WaitGroup
	for _, hs := range []*http.Server{s.tlsSrv, s.plainSrv} {
		if hs != nil {
			wg.Go(func() { _ = hs.Shutdown(drainCtx) })
		}
	}
	if s.h3Srv != nil {
		wg.Go(func() { s.drainH3(drainCtx) })
	}
	drained := make(chan struct{})
	go func() {
		wg.Wait()
		close(drained)
	}()

	var err error
	select {
	case <-drained:
	case <-ctx.Done():
		err = ctx.Err()
		s.cancelBase(ErrShutdown)
		grace := time.NewTimer(s.cfg.ShutdownGrace)
		select {
		case <-drained:
		case <-grace.C:
			s.log.Warn("server: drain deadline and grace period passed, closing connections with requests in flight",
				"in_flight", s.activeTCP.Load()+s.activeH3.Load())
		}
		grace.Stop()
	}
	stopDrain()
	closeErr := s.hardClose()
	// The sub-shutdowns return promptly now; the bound only matters if a
	// handler ignores its context, which closeH3 has already logged.
	wait := time.NewTimer(h3CloseWait)
	select {
	case <-drained:
	case <-wait.C:
	}
	wait.Stop()
	if err != nil {
		return err
	}
	return closeErr
}

// drainH3 gracefully shuts the HTTP/3 server down and, once no HTTP/3
// handler has run for h3IdleQuiet, closes the connections clients keep open
// despite GOAWAY.
func (s *Server) drainH3(drainCtx context.Context) {
	h3Done := make(chan struct{})
	go func() {
		defer close(h3Done)
		_ = s.h3Srv.Shutdown(drainCtx)
	}()
	t := time.NewTicker(h3PollInterval)
	defer t.Stop()
	var idleSince time.Time
	for {
		select {
		case <-h3Done:
			return
		case <-drainCtx.Done():
			<-h3Done
			return
		case now := <-t.C:
			if s.activeH3.Load() != 0 {
				idleSince = time.Time{}
				continue
			}
			if idleSince.IsZero() {
				idleSince = now
				continue
			}
			if now.Sub(idleSince) >= h3IdleQuiet {
				s.closeH3()
				<-h3Done
				return
			}
		}
	}
}

// closeH3 closes the HTTP/3 server, bounded by h3CloseWait because
// http3.Server.Close blocks until every handler returns.
func (s *Server) closeH3() {
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.h3Srv.Close()
	}()
	t := time.NewTimer(h3CloseWait)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		s.log.Warn("server: HTTP/3 handlers did not return after their connections closed", "in_flight", s.activeH3.Load())
	}
}

// Close closes every listener and connection at once. Request contexts are
// cancelled with cause ErrShutdown. It is safe to call more than once and
// concurrently with Shutdown.
func (s *Server) Close() error {
	s.beginStop()
	return s.hardClose()
}

func (s *Server) hardClose() error {
	s.closeOnce.Do(func() {
		close(s.reloadStop)
		<-s.reloadDone
		s.cancelBase(ErrShutdown)
		if s.quicLn != nil {
			_ = s.quicLn.Close()
		}
		var wg sync.WaitGroup
		if s.h3Srv != nil {
			// CONNECTION_CLOSE goes out here, before the Transport is torn
			// down, so clients learn at once instead of by idle timeout.
			wg.Go(s.closeH3)
		}
		var errs [2]error
		for i, hs := range []*http.Server{s.tlsSrv, s.plainSrv} {
			if hs != nil {
				wg.Go(func() { errs[i] = hs.Close() })
			}
		}
		wg.Wait()
		s.closeListeners()
		s.closeErr = errors.Join(errs[:]...)
		if s.closeErr != nil {
			s.closeErr = fmt.Errorf("server: close: %w", s.closeErr)
		}
		close(s.done)
	})
	return s.closeErr
}

// closeListeners closes the raw sockets. http.Server only closes listeners
// it has started serving, so without this a server closed before (or
// without) Serve would leak them. Errors are from double closes.
func (s *Server) closeListeners() {
	if s.tcpLn != nil {
		_ = s.tcpLn.Close()
	}
	if s.plainLn != nil {
		_ = s.plainLn.Close()
	}
	if s.tr != nil {
		// Does not close udpConn (we passed it in), hence the next step.
		_ = s.tr.Close()
	}
	if s.udpConn != nil {
		_ = s.udpConn.Close()
	}
}
