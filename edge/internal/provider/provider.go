// Package provider owns the upstream side of the node: the Provider interface every
// upstream adapter implements and the one shared, pooled HTTP transport they all send
// through. Adapters live in subpackages (provider/openai for OpenAI-compatible APIs).
package provider

import (
	"context"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Provider sends chat calls to one upstream.
//
// Chat sends req to the upstream with the model field set to t.Model and returns as
// soon as the upstream answered: with the whole body for a non-streamed call, or with a
// stream positioned before its first event. The node can still fail over until it writes
// to its client, so Chat never writes anywhere itself. Failures are *llm.Error values
// whose status is what the client should see; when ctx is cancelled Chat returns ctx's error.
// Implementations are safe for concurrent use.
type Provider interface {
	// Name is the provider's slug from the configuration.
	Name() string
	// DisplayName is what responses show as `provider`.
	DisplayName() string
	Chat(ctx context.Context, req *llm.Request, t Target) (*llm.Response, error)
}

// Prober is a Provider that can check its upstream is up without serving a request; the
// router's active health checks use it to close circuit breakers before clients pay for
// the probe.
type Prober interface {
	Probe(ctx context.Context) error
}

// Target is what the router decided for one attempt at one endpoint.
type Target struct {
	// Model is the model id the upstream expects.
	Model string
	// Drop are parameters the endpoint does not support: they are left out of the body
	// rather than sent to an upstream that would reject or silently ignore them.
	Drop llm.ParamSet
	// Timeout, when set, bounds this call more tightly than the provider's own timeout:
	// the router's first-byte deadline for a non-streamed call, whose first byte is its
	// whole body.
	Timeout time.Duration
}

type connectTimeoutKey struct{}

// WithConnectTimeout makes the shared transport give up dialing (and the TLS handshake)
// after d for requests sent with the returned context; providers differ in how long a
// connection may take, while the transport and its pool are shared.
func WithConnectTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, connectTimeoutKey{}, d)
}

// Transport is the one transport all upstream calls share. Plain-http upstreams go through
// an HTTP/1.1 client that works on the caller's goroutine (see h1); TLS upstreams go through
// net/http, which negotiates HTTP/2 where the upstream offers it. Either way one pool of warm
// connections per upstream host serves every provider.
type Transport struct {
	h1       *h1
	tls      *http.Transport
	proxyEnv bool // HTTP_PROXY is set: plain-http requests may have to go through it
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport returns the node's upstream transport.
func NewTransport() *Transport {
	dialer := &net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		if d, ok := ctx.Value(connectTimeoutKey{}).(time.Duration); ok && d > 0 {
			var cancel context.CancelFunc
			ctx, cancel = context.WithTimeout(ctx, d)
			defer cancel()
		}
		return dialer.DialContext(ctx, network, addr)
	}
	return &Transport{
		proxyEnv: os.Getenv("HTTP_PROXY") != "" || os.Getenv("http_proxy") != "",
		h1:       newH1(dial),
		tls: &http.Transport{
			Proxy:               http.ProxyFromEnvironment,
			DialContext:         dial,
			ForceAttemptHTTP2:   true,
			MaxIdleConnsPerHost: 1024,
			IdleConnTimeout:     90 * time.Second,
			TLSHandshakeTimeout: 10 * time.Second,
			// Upstream bodies are relayed as they arrive; transparent gzip would make every
			// stream wait on a decompressor's buffering and costs CPU on the hot path.
			DisableCompression: true,
		},
	}
}

// RoundTrip sends req over the path for its scheme.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == "http" && (!t.proxyEnv || !useProxy(req)) {
		return t.h1.RoundTrip(req)
	}
	return t.tls.RoundTrip(req)
}

// useProxy reports whether an HTTP proxy from the environment applies to req; such requests
// stay on net/http, which speaks the proxy protocol.
func useProxy(req *http.Request) bool {
	u, err := http.ProxyFromEnvironment(req)
	return err == nil && u != nil
}

// CloseIdleConnections closes every idle upstream connection.
func (t *Transport) CloseIdleConnections() {
	t.h1.CloseIdleConnections()
	t.tls.CloseIdleConnections()
}
