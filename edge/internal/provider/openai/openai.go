// Package openai owns the native adapter for OpenAI-compatible upstreams (OpenAI itself,
// OpenRouter, and the many APIs that copy OpenAI's chat completions): it forwards the
// client's body with only the model rewritten, asks streams for their usage chunk, and maps
// the upstream's failures onto the node's error shape.
package openai

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pool"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/sse"
)

// Config describes one OpenAI-compatible upstream.
type Config struct {
	// Name is the provider's slug; DisplayName is shown to clients (default Name).
	Name, DisplayName string
	// BaseURL is the API root, e.g. https://api.openai.com/v1.
	BaseURL string
	// APIKey is sent as a bearer token when set.
	APIKey string
	// Headers are added to every upstream request.
	Headers map[string]string
	// Timeout bounds a call from send to last byte; 0 means no bound beyond the client's.
	Timeout time.Duration
	// ConnectTimeout bounds dialing; 0 leaves the transport's default.
	ConnectTimeout time.Duration
	// MaxResponseBytes bounds a non-streamed body (default 32 MiB).
	MaxResponseBytes int64
}

// Provider is an OpenAI-compatible upstream. It is safe for concurrent use.
type Provider struct {
	cfg       Config
	rt        http.RoundTripper
	url       *url.URL
	modelsURL *url.URL
	hdrJSON   http.Header // shared, read-only: the transport never modifies request headers
	hdrStream http.Header
}

var _ provider.Provider = (*Provider)(nil)

// New returns an adapter sending through rt, normally the node's shared transport.
func New(cfg Config, rt http.RoundTripper) (*Provider, error) {
	u, err := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/") + "/chat/completions")
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("openai: provider %s: bad base URL %q", cfg.Name, cfg.BaseURL)
	}
	if cfg.DisplayName == "" {
		cfg.DisplayName = cfg.Name
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 32 << 20
	}
	base := http.Header{"Content-Type": {"application/json"}, "User-Agent": {"crossroads/0"}}
	if cfg.APIKey != "" {
		base.Set("Authorization", "Bearer "+cfg.APIKey)
	}
	for k, v := range cfg.Headers {
		base.Set(k, v)
	}
	mu, _ := url.Parse(strings.TrimSuffix(cfg.BaseURL, "/") + "/models")
	p := &Provider{cfg: cfg, rt: rt, url: u, modelsURL: mu, hdrJSON: base.Clone(), hdrStream: base.Clone()}
	p.hdrJSON.Set("Accept", "application/json")
	p.hdrStream.Set("Accept", "text/event-stream")
	return p, nil
}

var _ provider.Prober = (*Provider)(nil)

// Probe lists the upstream's models: an authenticated request that costs nothing and
// answers only when the API is up, which is what an active health check needs to know.
func (p *Provider) Probe(ctx context.Context) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.modelsURL.String(), nil)
	if err != nil {
		return fmt.Errorf("openai: probe: %w", err)
	}
	req.Header = p.hdrJSON.Clone()
	req.Header.Del("Content-Type")
	resp, err := p.rt.RoundTrip(req)
	if err != nil {
		return fmt.Errorf("openai: probe %s: %w", p.cfg.Name, err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("openai: probe %s: HTTP %d", p.cfg.Name, resp.StatusCode)
	}
	return nil
}

// Name returns the provider's slug.
func (p *Provider) Name() string { return p.cfg.Name }

// DisplayName returns the name shown to clients.
func (p *Provider) DisplayName() string { return p.cfg.DisplayName }

// Chat sends req upstream. See provider.Provider.
func (p *Provider) Chat(ctx context.Context, req *llm.Request, t provider.Target) (*llm.Response, error) {
	body := newBody(len(req.Body) + 256)
	var err error
	*body.buf, err = RewriteRequest((*body.buf)[:0], req.Body, t, req.Stream)
	if err != nil {
		body.release()
		return nil, &llm.Error{Status: http.StatusBadRequest, Type: llm.TypeInvalidRequest, Message: "request body could not be rewritten for the upstream", Err: err}
	}

	parent := ctx
	cancel := context.CancelFunc(func() {})
	timeout := p.cfg.Timeout
	if t.Timeout > 0 && (timeout == 0 || t.Timeout < timeout) {
		timeout = t.Timeout
	}
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	if p.cfg.ConnectTimeout > 0 {
		ctx = provider.WithConnectTimeout(ctx, p.cfg.ConnectTimeout)
	}
	hdr := p.hdrJSON
	if req.Stream {
		hdr = p.hdrStream
	}
	hreq := (&http.Request{
		Method:        http.MethodPost,
		URL:           p.url,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		Body:          body.reader(),
		GetBody:       body.getBody,
		ContentLength: int64(len(*body.buf)),
		Host:          p.url.Host,
	}).WithContext(ctx)

	resp, err := p.rt.RoundTrip(hreq)
	body.release()
	if err != nil {
		err = p.transportError(parent, ctx, err)
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer cancel()
		return nil, p.statusError(resp)
	}
	if req.Stream {
		if !isEventStream(resp.Header.Get("Content-Type")) {
			defer cancel()
			return nil, p.unexpectedBody(resp, "answered a streaming request without an event stream")
		}
		return &llm.Response{Stream: newStream(p, parent, ctx, resp.Body, cancel)}, nil
	}
	defer cancel()
	return p.readBody(parent, ctx, resp)
}

// body is a pooled upstream request body. The transport may still be writing it after
// RoundTrip returns (an upstream that answers before reading everything), and may ask for a
// fresh reader to retry on a dead pooled connection, so the buffer goes back to the pool
// only when RoundTrip has returned and every reader handed out is closed.
type body struct {
	buf  *[]byte
	refs atomic.Int32
}

func newBody(n int) *body {
	b := &body{buf: pool.GetSize(n)}
	b.refs.Store(1) // held by Chat until RoundTrip returns
	return b
}

func (b *body) reader() io.ReadCloser {
	b.refs.Add(1)
	return &bodyReader{b: b, Reader: bytes.NewReader(*b.buf)}
}

func (b *body) getBody() (io.ReadCloser, error) { return b.reader(), nil }

func (b *body) release() {
	if b.refs.Add(-1) == 0 {
		pool.Put(b.buf)
	}
}

type bodyReader struct {
	*bytes.Reader
	b    *body
	once sync.Once
}

func (r *bodyReader) Close() error {
	r.once.Do(r.b.release)
	return nil
}

func (p *Provider) readBody(parent, ctx context.Context, resp *http.Response) (*llm.Response, error) {
	defer resp.Body.Close()
	buf := pool.GetSize(int(min(max(resp.ContentLength, 0), p.cfg.MaxResponseBytes)))
	b, err := pool.ReadAll(resp.Body, buf, p.cfg.MaxResponseBytes)
	if err != nil {
		pool.Put(buf)
		if errors.Is(err, pool.ErrTooLarge) {
			return nil, &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: p.cfg.DisplayName,
				Message: fmt.Sprintf("upstream %s sent a response larger than %d bytes", p.cfg.DisplayName, p.cfg.MaxResponseBytes)}
		}
		return nil, p.transportError(parent, ctx, err)
	}
	return &llm.Response{Body: b, Release: func() { pool.Put(buf) }}, nil
}

func (p *Provider) transportError(parent, ctx context.Context, err error) error {
	return provider.TransportError(p.cfg.DisplayName, parent, ctx, err)
}

func (p *Provider) statusError(resp *http.Response) error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return provider.StatusError(p.cfg.DisplayName, resp.StatusCode, upstreamMessage(raw), resp.Header.Get("Retry-After"))
}

func (p *Provider) unexpectedBody(resp *http.Response, what string) error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: p.cfg.DisplayName,
		Message: fmt.Sprintf("upstream %s %s", p.cfg.DisplayName, what), Raw: upstreamMessage(raw)}
}

// upstreamMessage extracts error.message from an OpenAI-style error body, or returns the
// body itself (trimmed) when it is not one.
func upstreamMessage(raw []byte) string {
	if msg, ok := ErrorMessage(raw); ok {
		return msg
	}
	s := strings.TrimSpace(string(raw))
	if len(s) > 2048 {
		s = s[:2048] + "…"
	}
	return s
}

// ErrorMessage reads error.message (or a string error) from an OpenAI-style error object.
func ErrorMessage(raw []byte) (string, bool) {
	it := jsonx.Object(raw)
	for it.Next() {
		m := it.Member()
		if !m.KeyIs("error") {
			continue
		}
		if jsonx.KindOfValue(m.Value) == jsonx.KindString {
			return jsonx.Unquote(m.Value)
		}
		inner := jsonx.Object(m.Value)
		for inner.Next() {
			if im := inner.Member(); im.KeyIs("message") && jsonx.KindOfValue(im.Value) == jsonx.KindString {
				return jsonx.Unquote(im.Value)
			}
		}
	}
	return "", false
}

func isEventStream(ct string) bool {
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "text/event-stream"
}

// stream adapts an upstream event stream to llm.Stream.
type stream struct {
	p      *Provider
	parent context.Context
	ctx    context.Context
	body   io.ReadCloser
	cancel context.CancelFunc
	buf    *[]byte
	dec    *sse.Decoder
	closed bool
}

func newStream(p *Provider, parent, ctx context.Context, body io.ReadCloser, cancel context.CancelFunc) *stream {
	buf := pool.GetStream()
	return &stream{p: p, parent: parent, ctx: ctx, body: body, cancel: cancel, buf: buf, dec: sse.NewDecoder(body, *buf)}
}

func (s *stream) Next() ([]byte, error) {
	ev, err := s.dec.Next()
	if err == nil {
		return ev, nil
	}
	if err == io.EOF {
		return nil, io.EOF
	}
	err = s.p.transportError(s.parent, s.ctx, err)
	var e *llm.Error
	if errors.As(err, &e) && e.Status == http.StatusBadGateway {
		e.Message = fmt.Sprintf("upstream %s broke the stream", s.p.cfg.DisplayName)
	}
	return nil, err
}

func (s *stream) Buffered() bool { return s.dec.Buffered() }

func (s *stream) Close() error {
	if s.closed {
		return nil
	}
	s.closed = true
	err := s.body.Close()
	s.cancel()
	s.dec = nil
	pool.PutStream(s.buf)
	return err
}

// routerOnly lists request fields that steer the router (OpenRouter's extensions). They
// are consumed here and never sent upstream, where strict APIs reject unknown fields.
var routerOnly = []string{"models", "provider", "route", "transforms", "plugins", "session_id", "usage", "debug", "preset"}

// RewriteRequest appends to dst the client's body as the upstream should see it: model
// replaced by t.Model, router-only fields and t.Drop removed, and, for streams,
// stream_options.include_usage forced on so the node always learns the usage. Every other
// byte is copied as the client sent it.
func RewriteRequest(dst, body []byte, t provider.Target, stream bool) ([]byte, error) {
	upstreamModel := t.Model
	dst = append(dst, '{')
	n := 0
	sep := func() {
		if n > 0 {
			dst = append(dst, ',')
		}
		n++
	}
	sawOptions, sawModel := false, false
	it := jsonx.Object(body)
members:
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("model"):
			// A duplicated key is written once: decoders disagree on which copy wins.
			if !sawModel {
				sawModel = true
				sep()
				dst = append(dst, `"model":`...)
				dst = jsonx.AppendString(dst, upstreamModel)
			}
			continue
		case stream && m.KeyIs("stream_options"):
			if sawOptions {
				continue
			}
			sawOptions = true
			sep()
			dst = appendStreamOptions(dst, m.Value)
			continue
		}
		for _, k := range routerOnly {
			if m.KeyIs(k) {
				continue members
			}
		}
		if t.Drop != 0 && dropped(t.Drop, m) {
			continue
		}
		sep()
		dst = append(dst, body[m.Start:m.End]...)
	}
	if err := it.Err(); err != nil {
		return dst, fmt.Errorf("openai: rewrite request: %w", err)
	}
	if !sawModel {
		sep()
		dst = append(dst, `"model":`...)
		dst = jsonx.AppendString(dst, upstreamModel)
	}
	if stream && !sawOptions {
		sep()
		dst = append(dst, `"stream_options":{"include_usage":true}`...)
	}
	return append(dst, '}'), nil
}

func appendStreamOptions(dst, v []byte) []byte {
	dst = append(dst, `"stream_options":{"include_usage":true`...)
	if jsonx.KindOfValue(v) == jsonx.KindObject {
		it := jsonx.Object(v)
		for it.Next() {
			m := it.Member()
			if m.KeyIs("include_usage") {
				continue
			}
			dst = append(dst, ',')
			dst = append(dst, v[m.Start:m.End]...)
		}
	}
	return append(dst, '}')
}

// dropped reports whether member m carries a parameter of drop.
func dropped(drop llm.ParamSet, m *jsonx.Member) bool {
	var buf [64]byte
	p, ok := llm.ParamByName(string(m.Name(&buf)))
	if !ok {
		return false
	}
	if drop.Has(p) {
		return true
	}
	// Structured outputs travel in response_format: an endpoint without them loses the
	// json_schema format but keeps a plain json_object one.
	return p == llm.ParamResponseFormat && drop.Has(llm.ParamStructuredOutputs) && isJSONSchema(m.Value)
}

func isJSONSchema(v []byte) bool {
	it := jsonx.Object(v)
	for it.Next() {
		if m := it.Member(); m.KeyIs("type") {
			return string(m.Value) == `"json_schema"`
		}
	}
	return false
}
