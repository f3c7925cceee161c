package extension

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
	"unsafe"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pool"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/provider/openai"
	"github.com/crossroads-llm/crossroads/edge/internal/sse"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

// FormatConfig is one provider served through a format plugin.
type FormatConfig struct {
	Name        string // slug
	DisplayName string
	// BaseURL is the API root; the plugin's path is appended to it.
	BaseURL string
	// APIKey replaces "{{api_key}}" in the headers the plugin asks for. The plugin never
	// sees it: a plugin is code from outside the node, and keys are the node's to guard.
	APIKey         string
	Headers        map[string]string
	Timeout        time.Duration
	ConnectTimeout time.Duration
	// MaxResponseBytes bounds a non-streamed body, as for OpenAI-format providers.
	MaxResponseBytes int64
}

// Format is a provider.Provider whose wire format is a plugin's: the plugin turns the
// OpenAI-shaped request into the provider's HTTP request and the provider's answers back,
// while the node keeps transport, timeouts, keys and failover. A plugin that breaks fails
// the attempt with a 502, so routing moves on to the next endpoint.
type Format struct {
	cfg  FormatConfig
	p    *Plugin
	rt   http.RoundTripper
	base string
	log  *slog.Logger
}

var _ provider.Provider = (*Format)(nil)

// NewFormat binds a loaded format plugin to one provider's settings.
func NewFormat(cfg FormatConfig, p *Plugin, rt http.RoundTripper, log *slog.Logger) (*Format, error) {
	for _, h := range wasmhost.FormatHooks {
		if !p.Has(h) {
			return nil, fmt.Errorf("extension: provider %s: plugin %s does not export %s", cfg.Name, p.Name(), h)
		}
	}
	u, err := url.Parse(cfg.BaseURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("extension: provider %s: base_url %q is not an http(s) URL", cfg.Name, cfg.BaseURL)
	}
	if cfg.DisplayName == "" {
		cfg.DisplayName = cfg.Name
	}
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 32 << 20
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Format{cfg: cfg, p: p, rt: rt, base: strings.TrimRight(cfg.BaseURL, "/"), log: log}, nil
}

// Name returns the provider's slug.
func (f *Format) Name() string { return f.cfg.Name }

// DisplayName returns the name shown to clients.
func (f *Format) DisplayName() string { return f.cfg.DisplayName }

// Chat translates req with the plugin, sends it, and translates the answer back.
func (f *Format) Chat(ctx context.Context, req *llm.Request, t provider.Target) (*llm.Response, error) {
	// The OpenAI rewrite does the model swap and parameter drops the router decided; the
	// plugin then sees exactly what an OpenAI-format upstream would have been sent.
	body := pool.GetSize(len(req.Body) + 256)
	defer pool.Put(body)
	var err error
	*body, err = openai.RewriteRequest((*body)[:0], req.Body, t, req.Stream)
	if err != nil {
		return nil, &llm.Error{Status: http.StatusBadRequest, Type: llm.TypeInvalidRequest, Message: "request body could not be rewritten for the upstream", Err: err}
	}
	in := make([]byte, 0, len(*body)+len(t.Model)+64)
	in = append(in, `{"model":`...)
	in = jsonx.AppendString(in, t.Model)
	in = append(in, `,"stream":`...)
	in = strconv.AppendBool(in, req.Stream)
	in = append(in, `,"request":`...)
	in = append(in, *body...)
	in = append(in, '}')
	out, err := f.call(ctx, wasmhost.HookFormatRequest, in)
	if err != nil {
		return nil, err
	}
	hreq, err := f.httpRequest(out, req.Stream)
	if err != nil {
		return nil, err
	}

	parent := ctx
	cancel := context.CancelFunc(func() {})
	timeout := f.cfg.Timeout
	if t.Timeout > 0 && (timeout == 0 || t.Timeout < timeout) {
		timeout = t.Timeout
	}
	if timeout > 0 {
		ctx, cancel = context.WithTimeout(ctx, timeout)
	}
	if f.cfg.ConnectTimeout > 0 {
		ctx = provider.WithConnectTimeout(ctx, f.cfg.ConnectTimeout)
	}
	resp, err := f.rt.RoundTrip(hreq.WithContext(ctx))
	if err != nil {
		err = provider.TransportError(f.cfg.DisplayName, parent, ctx, err)
		cancel()
		return nil, err
	}
	if resp.StatusCode/100 != 2 {
		defer cancel()
		return nil, f.statusError(parent, resp)
	}
	if req.Stream {
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(strings.ToLower(ct), "text/event-stream") {
			defer cancel()
			raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			return nil, &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: f.cfg.DisplayName,
				Message: fmt.Sprintf("upstream %s answered a streaming request without an event stream", f.cfg.DisplayName), Raw: string(raw)}
		}
		return &llm.Response{Stream: newFormatStream(f, parent, ctx, t.Model, resp.Body, cancel)}, nil
	}
	defer cancel()
	defer resp.Body.Close()
	buf := pool.GetSize(int(min(max(resp.ContentLength, 0), f.cfg.MaxResponseBytes)))
	defer pool.Put(buf)
	raw, err := pool.ReadAll(resp.Body, buf, f.cfg.MaxResponseBytes)
	if err != nil {
		if errors.Is(err, pool.ErrTooLarge) {
			return nil, &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: f.cfg.DisplayName,
				Message: fmt.Sprintf("upstream %s sent a response larger than %d bytes", f.cfg.DisplayName, f.cfg.MaxResponseBytes)}
		}
		return nil, provider.TransportError(f.cfg.DisplayName, parent, ctx, err)
	}
	in = in[:0]
	in = append(in, `{"model":`...)
	in = jsonx.AppendString(in, t.Model)
	in = append(in, `,"status":`...)
	in = strconv.AppendInt(in, int64(resp.StatusCode), 10)
	in = append(in, `,"body":`...)
	in = appendJSONOrString(in, raw)
	in = append(in, '}')
	out, err = f.call(parent, wasmhost.HookFormatResponse, in)
	if err != nil {
		return nil, err
	}
	if jsonx.KindOfValue(out) != jsonx.KindObject || !jsonx.Valid(out) {
		return nil, f.broken(wasmhost.HookFormatResponse, "answered something that is not a JSON object", nil)
	}
	return &llm.Response{Body: out}, nil
}

// call runs one format hook. A deliberate refusal ({"error":...}) becomes an error with the
// plugin's status (default 400); a broken call becomes a 502 so the router fails over.
func (f *Format) call(ctx context.Context, hook string, in []byte) ([]byte, error) {
	out, changed, err := f.p.Call(ctx, hook, in)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, f.broken(hook, "failed", err)
	}
	if !changed {
		return nil, f.broken(hook, "returned nothing", nil)
	}
	if e, ok := refusal(out); ok {
		e.Provider = f.cfg.DisplayName
		return nil, e
	}
	return out, nil
}

func (f *Format) broken(hook, what string, err error) *llm.Error {
	f.p.fail(hook)
	f.log.Warn("extension: format plugin "+what+"; the attempt fails over",
		slog.String("plugin", f.p.Name()), slog.String("provider", f.cfg.Name), slog.String("hook", hook), slog.Any("err", err))
	msg := fmt.Sprintf("format plugin %s for %s %s in %s", f.p.Name(), f.cfg.DisplayName, what, hook)
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: f.cfg.DisplayName, Message: msg, Err: err}
}

// refusal reads a §6 error object {"error":{"code","message","status"}} a plugin returned
// on purpose.
func refusal(out []byte) (*llm.Error, bool) {
	if !bytes.HasPrefix(out, []byte(`{"error"`)) && !bytes.Contains(out[:min(len(out), 64)], []byte(`"error"`)) {
		return nil, false
	}
	var errObj []byte
	n := 0
	it := jsonx.Object(out)
	for it.Next() {
		n++
		if m := it.Member(); m.KeyIs("error") && jsonx.KindOfValue(m.Value) == jsonx.KindObject {
			errObj = m.Value
		}
	}
	if errObj == nil || it.Err() != nil || n != 1 {
		return nil, false
	}
	e := &llm.Error{Status: http.StatusBadRequest, Type: llm.TypeInvalidRequest}
	eo := jsonx.Object(errObj)
	for eo.Next() {
		m := eo.Member()
		switch {
		case m.KeyIs("message"):
			e.Message, _ = jsonx.Unquote(m.Value)
		case m.KeyIs("code"):
			e.Raw, _ = jsonx.Unquote(m.Value)
		case m.KeyIs("status"):
			if s, err := strconv.Atoi(string(m.Value)); err == nil && s >= 400 && s <= 599 {
				e.Status = s
			}
		}
	}
	if e.Status >= 500 {
		e.Type = llm.TypeUpstream
	}
	if e.Message == "" {
		e.Message = "the provider's format cannot express this request"
	}
	return e, true
}

// headerDeny are headers the host owns: a plugin must not smuggle framing or a second
// host into the upstream request.
var headerDeny = map[string]bool{"Host": true, "Connection": true, "Transfer-Encoding": true, "Content-Length": true,
	"Content-Type": true, "Accept": true, "User-Agent": true, "Te": true, "Trailer": true, "Upgrade": true, "Keep-Alive": true,
	"Proxy-Connection": true}

// httpRequest builds the upstream request hook_format_request described.
func (f *Format) httpRequest(out []byte, stream bool) (*http.Request, error) {
	if jsonx.KindOfValue(out) != jsonx.KindObject {
		return nil, f.broken(wasmhost.HookFormatRequest, "answered something that is not a JSON object", nil)
	}
	method, path, query := http.MethodPost, "", ""
	var body []byte
	hdr := make(http.Header, 4+len(f.cfg.Headers))
	for k, v := range f.cfg.Headers {
		hdr.Set(k, v)
	}
	bad := func(what string) (*http.Request, error) {
		return nil, f.broken(wasmhost.HookFormatRequest, "asked for "+what, nil)
	}
	it := jsonx.Object(out)
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("method"):
			s, ok := jsonx.Unquote(m.Value)
			if !ok || !isToken(s) {
				return bad("an invalid method")
			}
			method = s
		case m.KeyIs("path"):
			s, ok := jsonx.Unquote(m.Value)
			if !ok || !strings.HasPrefix(s, "/") || strings.ContainsAny(s, "?# \r\n") || strings.Contains(s, "..") {
				return bad("an invalid path")
			}
			path = s
		case m.KeyIs("query"):
			s, ok := jsonx.Unquote(m.Value)
			if !ok || strings.ContainsAny(s, "# \r\n") {
				return bad("an invalid query")
			}
			query = s
		case m.KeyIs("headers"):
			if jsonx.KindOfValue(m.Value) != jsonx.KindObject {
				return bad("headers that are not an object")
			}
			hs := jsonx.Object(m.Value)
			for hs.Next() {
				h := hs.Member()
				var kb [64]byte
				name := http.CanonicalHeaderKey(string(h.Name(&kb)))
				val, ok := jsonx.Unquote(h.Value)
				if !ok || !isToken(name) || headerDeny[name] || strings.ContainsAny(val, "\r\n\x00") {
					return bad(fmt.Sprintf("header %q, which is invalid or the host's own", name))
				}
				hdr.Set(name, strings.ReplaceAll(val, "{{api_key}}", f.cfg.APIKey))
			}
			if hs.Err() != nil {
				return bad("malformed headers")
			}
		case m.KeyIs("body"):
			if jsonx.KindOfValue(m.Value) == jsonx.KindString {
				body, _ = jsonx.UnquoteBytes(nil, m.Value)
			} else {
				body = append([]byte(nil), m.Value...)
			}
		}
	}
	if it.Err() != nil || path == "" {
		return bad("no path")
	}
	raw := f.base + path
	if query != "" {
		raw += "?" + query
	}
	u, err := url.Parse(raw)
	if err != nil {
		return bad("a URL that does not parse")
	}
	hdr.Set("Content-Type", "application/json")
	hdr.Set("User-Agent", "crossroads")
	if stream {
		hdr.Set("Accept", "text/event-stream")
	} else {
		hdr.Set("Accept", "application/json")
	}
	hreq := &http.Request{Method: method, URL: u, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: hdr, Host: u.Host, ContentLength: int64(len(body))}
	if len(body) > 0 {
		hreq.Body = io.NopCloser(bytes.NewReader(body))
		hreq.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	}
	return hreq, nil
}

func isSeconds(s string) bool {
	n, err := strconv.Atoi(s)
	return err == nil && n >= 0 && n < 1e6
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// statusError turns a non-2xx answer into the client's error, in the provider's words as
// hook_format_error reads them; the status policy is the node's, as for any upstream.
func (f *Format) statusError(ctx context.Context, resp *http.Response) error {
	defer resp.Body.Close()
	raw, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	retry := resp.Header.Get("Retry-After")
	in := make([]byte, 0, len(raw)+64)
	in = append(in, `{"status":`...)
	in = strconv.AppendInt(in, int64(resp.StatusCode), 10)
	in = append(in, `,"retry_after":`...)
	in = jsonx.AppendString(in, retry)
	in = append(in, `,"body":`...)
	in = appendJSONOrString(in, raw)
	in = append(in, '}')
	status, msg := resp.StatusCode, strings.TrimSpace(string(raw))
	out, changed, err := f.p.Call(ctx, wasmhost.HookFormatError, in)
	switch {
	case err != nil:
		f.p.fail(wasmhost.HookFormatError)
		f.log.Warn("extension: format plugin failed on an error response; reporting the status alone",
			slog.String("plugin", f.p.Name()), slog.String("provider", f.cfg.Name), slog.Any("err", err))
	case changed:
		it := jsonx.Object(out)
		for it.Next() {
			m := it.Member()
			switch {
			case m.KeyIs("status"):
				if s, err := strconv.Atoi(string(m.Value)); err == nil && s >= 400 && s <= 599 {
					status = s
				}
			case m.KeyIs("message"):
				if s, ok := jsonx.Unquote(m.Value); ok && s != "" {
					msg = s
				}
			case m.KeyIs("retry_after"):
				if s, ok := jsonx.Unquote(m.Value); ok && retry == "" && isSeconds(s) {
					retry = s
				}
			}
		}
	}
	if len(msg) > 2048 {
		msg = msg[:2048] + "…"
	}
	return provider.StatusError(f.cfg.DisplayName, status, msg, retry)
}

// appendJSONOrString appends raw as it is when it is JSON, else as a JSON string, so a
// plugin always receives valid JSON whatever the upstream sent.
func appendJSONOrString(dst, raw []byte) []byte {
	t := bytes.TrimSpace(raw)
	if len(t) > 0 && jsonx.Valid(t) {
		return append(dst, t...)
	}
	return appendBytesString(dst, raw)
}

func appendBytesString(dst, b []byte) []byte {
	if len(b) == 0 {
		return append(dst, `""`...)
	}
	return jsonx.AppendString(dst, unsafe.String(&b[0], len(b)))
}

// formatStream reads the provider's events, hands each upstream read's batch to
// hook_format_stream, and yields the OpenAI chunks it returns.
type formatStream struct {
	f      *Format
	parent context.Context
	ctx    context.Context
	cancel context.CancelFunc
	body   io.ReadCloser
	dec    *sse.Decoder
	model  string

	in     []byte
	state  []byte // the plugin's state as its raw JSON string token
	chunks [][]byte
	out    []byte // owns the bytes chunks point into
	done   bool   // the plugin said done: [DONE] is next
	ended  bool   // [DONE] returned
	err    error  // reported after the queued chunks
}

func newFormatStream(f *Format, parent, ctx context.Context, model string, body io.ReadCloser, cancel context.CancelFunc) *formatStream {
	return &formatStream{f: f, parent: parent, ctx: ctx, cancel: cancel, body: body, model: model,
		dec: sse.NewDecoder(body, nil), state: []byte(`""`)}
}

func (s *formatStream) Next() ([]byte, error) {
	for len(s.chunks) == 0 {
		switch {
		case s.err != nil:
			return nil, s.err
		case s.ended:
			return nil, io.EOF
		case s.done:
			s.ended = true
			return []byte("[DONE]"), nil
		}
		if err := s.batch(); err != nil {
			return nil, err
		}
	}
	c := s.chunks[0]
	s.chunks = s.chunks[1:]
	return c, nil
}

// batch reads at least one event, and every event already buffered with it, and
// translates them in one plugin call: the call's fixed cost is paid per read, not per event.
func (s *formatStream) batch() error {
	in := append(s.in[:0], `{"model":`...)
	in = jsonx.AppendString(in, s.model)
	in = append(in, `,"state":`...)
	in = append(in, s.state...)
	in = append(in, `,"events":[`...)
	n := 0
	for n == 0 || s.dec.Buffered() {
		data, err := s.dec.Next()
		if err != nil {
			if n > 0 && err == io.EOF {
				break
			}
			if err == io.EOF {
				return io.EOF // cut before the plugin said done
			}
			return provider.TransportError(s.f.cfg.DisplayName, s.parent, s.ctx, err)
		}
		if n > 0 {
			in = append(in, ',')
		}
		in = append(in, `{"event":`...)
		in = appendBytesString(in, s.dec.Event())
		// JSON data goes in as JSON: the plugin reads it in place instead of unescaping a
		// string and validating what it held, which was most of a stream event's cost.
		// Invalid UTF-8 goes the string way, where it is replaced, as a client would see it.
		if k := jsonx.KindOfValue(data); (k == jsonx.KindObject || k == jsonx.KindArray) && jsonx.Valid(data) && utf8.Valid(data) {
			in = append(in, `,"json":`...)
			in = append(in, data...)
		} else {
			in = append(in, `,"data":`...)
			in = appendBytesString(in, data)
		}
		in = append(in, '}')
		n++
	}
	in = append(in, "]}"...)
	s.in = in
	out, changed, err := s.f.p.Call(s.parent, wasmhost.HookFormatStream, in)
	if err != nil {
		if s.parent.Err() != nil {
			return s.parent.Err()
		}
		return s.f.broken(wasmhost.HookFormatStream, "failed", err)
	}
	if !changed {
		return nil // nothing to say about these events (pings)
	}
	return s.apply(out)
}

func (s *formatStream) apply(out []byte) error {
	s.out = out
	s.chunks = s.chunks[:0]
	it := jsonx.Object(out)
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("state"):
			if jsonx.KindOfValue(m.Value) != jsonx.KindString {
				return s.f.broken(wasmhost.HookFormatStream, "returned a state that is not a string", nil)
			}
			s.state = append(s.state[:0], m.Value...)
		case m.KeyIs("chunks"):
			if jsonx.KindOfValue(m.Value) != jsonx.KindArray {
				return s.f.broken(wasmhost.HookFormatStream, "returned chunks that are not an array", nil)
			}
			cs := jsonx.Array(m.Value)
			for cs.Next() {
				if jsonx.KindOfValue(cs.Value()) != jsonx.KindObject {
					return s.f.broken(wasmhost.HookFormatStream, "returned a chunk that is not an object", nil)
				}
				s.chunks = append(s.chunks, cs.Value())
			}
		case m.KeyIs("done"):
			s.done = string(m.Value) == "true"
		case m.KeyIs("error"):
			if jsonx.KindOfValue(m.Value) == jsonx.KindObject {
				s.err = s.streamError(m.Value)
			}
		}
	}
	if it.Err() != nil {
		s.chunks = s.chunks[:0]
		return s.f.broken(wasmhost.HookFormatStream, "returned malformed JSON", it.Err())
	}
	return nil
}

// streamError is an error event the provider sent inside its stream.
func (s *formatStream) streamError(obj []byte) error {
	status, msg := http.StatusBadGateway, ""
	it := jsonx.Object(obj)
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("status"):
			if n, err := strconv.Atoi(string(m.Value)); err == nil && n >= 400 && n <= 599 {
				status = n
			}
		case m.KeyIs("message"):
			msg, _ = jsonx.Unquote(m.Value)
		}
	}
	e := provider.StatusError(s.f.cfg.DisplayName, status, msg, "")
	e.Message = fmt.Sprintf("upstream %s reported an error mid-stream: %s", s.f.cfg.DisplayName, msg)
	return e
}

// Buffered reports whether Next can answer without reading the network.
func (s *formatStream) Buffered() bool {
	return len(s.chunks) > 0 || s.done || s.err != nil || s.dec.Buffered()
}

// Close releases the upstream connection.
func (s *formatStream) Close() error {
	s.cancel()
	return s.body.Close()
}
