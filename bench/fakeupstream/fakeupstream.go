// Package fakeupstream owns the fake OpenAI chat-completions upstream that
// tests across the repository and the load benchmarks talk to instead of a
// real provider.
//
// It speaks the OpenAI wire format byte for byte where clients care (JSON
// bodies, SSE framing, tool-call deltas, include_usage, error bodies and
// rate-limit headers) and injects the failures real providers produce: 429
// with Retry-After, 5xx, a hang, a connection cut mid-stream, malformed JSON or
// SSE, and in-band stream errors. Behaviour is set by Config for the whole
// server and can be overridden per request with X-Fake-* headers or a
// "fake:..." directive in the request body's "user" field, because a gateway
// in front may drop unknown headers but forwards the body.
//
// Because it is the upstream of the load benchmarks it must never be the
// bottleneck: response bytes are precomputed per (model, shape) and only the
// id, timestamp and token counts are spliced in per request.
package fakeupstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config sets the server-wide behaviour. The zero value is a fast, healthy
// upstream.
type Config struct {
	// TTFT is the delay before the response headers (non-stream, and every
	// error status) or before the first chunk (stream: headers go out at
	// once, then TTFT, then the chunks).
	TTFT time.Duration
	// TokensPerSecond paces stream chunks after the first; 0 = no pacing.
	TokensPerSecond float64
	// Chunks is the number of content chunks per stream (default 20); it is
	// also the completion_tokens count.
	Chunks int
	// ContentBytes is the approximate total size of the assistant content
	// (default 600); non-stream bodies carry the same text.
	ContentBytes int
	// Fail is injected on every request ("" = none) unless FailRate is set.
	Fail FailMode
	// FailRate, if > 0, injects Fail on this fraction of requests, spread
	// evenly and deterministically (rate 0.25 fails every 4th request).
	FailRate float64
	// RetryAfter is the Retry-After value sent with 429 and 503 (default "1").
	RetryAfter string
	// CutAfter is the number of content chunks FailCut sends before cutting
	// the connection (default Chunks/2).
	CutAfter int
	// Record keeps the last 64 chat requests for Requests(); off by default so
	// benchmarks do not pay for copying headers and bodies.
	Record bool
	// Models are listed by GET /v1/models (default gpt-4o-mini, gpt-4o).
	// Chat requests are accepted for any model name.
	Models []string
}

// FailMode selects an injected failure.
type FailMode string

// Failure modes. Error bodies use OpenAI's shape:
// {"error":{"message":...,"type":...,"param":...,"code":...}}.
const (
	FailNone FailMode = ""
	// Fail429 answers 429 with Retry-After, x-ratelimit-* headers and a
	// rate_limit_exceeded error.
	Fail429 FailMode = "429"
	// Fail500 answers 500 with OpenAI's server_error body.
	Fail500 FailMode = "500"
	// Fail503 answers 503 (overloaded) with Retry-After.
	Fail503 FailMode = "503"
	// FailHang never sends headers; the handler returns only when the
	// request context is cancelled (or Close is called).
	FailHang FailMode = "hang"
	// FailCut aborts the connection mid-response: a stream after CutAfter
	// content chunks, a non-stream body after half of its announced
	// Content-Length. The client sees an unexpected EOF or a stream reset,
	// never a clean end.
	FailCut FailMode = "cut"
	// FailMalformedJSON answers 200 application/json with a truncated body
	// (Content-Length matches what is sent, so only the JSON is broken). For
	// a stream request it is sent instead of the stream.
	FailMalformedJSON FailMode = "malformed-json"
	// FailMalformedSSE sends a stream with two good chunks, then an event
	// whose data is invalid JSON, then [DONE]. A non-stream request gets
	// FailMalformedJSON.
	FailMalformedSSE FailMode = "malformed-sse"
	// FailStreamError sends a few chunks, then an in-band
	// data: {"error":{...}} event, and ends the stream without [DONE]. A
	// non-stream request gets 200 with an OpenAI error object as the body,
	// as some providers do.
	FailStreamError FailMode = "stream-error"
)

// Valid reports whether m is one of the defined modes.
func (m FailMode) Valid() bool {
	switch m {
	case FailNone, Fail429, Fail500, Fail503, FailHang, FailCut,
		FailMalformedJSON, FailMalformedSSE, FailStreamError:
		return true
	}
	return false
}

// Stats are cumulative counters. Requests counts chat-completion requests
// (not /models); each of them ends as exactly one of Completed (full success
// response written), Failed (injected failure or 4xx) or Canceled (the client
// went away first).
type Stats struct {
	Requests  int64
	Streams   int64
	Completed int64
	Canceled  int64
	Failed    int64
}

// Recorded is one chat request as received (Config.Record).
type Recorded struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
	At     time.Time
}

const (
	recordN      = 64
	maxBody      = 16 << 20
	maxShapes    = 4096
	cancelBuffer = 256
)

// Server is the fake upstream; it implements http.Handler.
type Server struct {
	cfg        Config
	modelsBody []byte

	requests, streams, completed, canceled, failed atomic.Int64
	failSeq                                        atomic.Uint64

	cancelCh  chan time.Time
	done      chan struct{}
	closeOnce sync.Once

	shapeMu sync.RWMutex
	shapes  map[shapeKey]*shape

	recMu sync.Mutex
	rec   [recordN]Recorded
	recN  int
}

// New returns a Server for cfg with defaults applied.
func New(cfg Config) *Server {
	if cfg.Chunks <= 0 {
		cfg.Chunks = 20
	}
	if cfg.ContentBytes <= 0 {
		cfg.ContentBytes = 600
	}
	if cfg.RetryAfter == "" {
		cfg.RetryAfter = "1"
	}
	if cfg.CutAfter <= 0 {
		cfg.CutAfter = cfg.Chunks / 2
	}
	if len(cfg.Models) == 0 {
		cfg.Models = []string{"gpt-4o-mini", "gpt-4o"}
	}
	s := &Server{
		cfg:      cfg,
		cancelCh: make(chan time.Time, cancelBuffer),
		done:     make(chan struct{}),
		shapes:   make(map[shapeKey]*shape),
	}
	s.modelsBody = modelsList(cfg.Models)
	return s
}

// Stats returns a snapshot of the counters.
func (s *Server) Stats() Stats {
	return Stats{
		Requests:  s.requests.Load(),
		Streams:   s.streams.Load(),
		Completed: s.completed.Load(),
		Canceled:  s.canceled.Load(),
		Failed:    s.failed.Load(),
	}
}

// Canceled delivers the time at which a handler observed its request context
// cancelled (or a write fail) before it finished. The channel is buffered;
// events beyond its capacity are dropped, Stats().Canceled still counts them.
func (s *Server) Canceled() <-chan time.Time { return s.cancelCh }

// Requests returns up to the last 64 recorded chat requests, oldest first.
// It is empty unless Config.Record is set.
func (s *Server) Requests() []Recorded {
	s.recMu.Lock()
	defer s.recMu.Unlock()
	n := min(s.recN, recordN)
	out := make([]Recorded, 0, n)
	for i := s.recN - n; i < s.recN; i++ {
		out = append(out, s.rec[i%recordN])
	}
	return out
}

// Close releases every handler that is hanging or pacing a stream by aborting
// its connection, so an httptest.Server in front can shut down even when a
// test never cancels its client. The Server keeps answering new requests.
func (s *Server) Close() {
	s.closeOnce.Do(func() { close(s.done) })
}

var (
	hdrJSON  = []string{"application/json"}
	hdrSSE   = []string{"text/event-stream; charset=utf-8"}
	hdrNoCch = []string{"no-cache"}
	hdrOAIV  = []string{"2020-10-01"}
)

// ServeHTTP routes the OpenAI endpoints the fake implements.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch p := r.URL.Path; p {
	case "/v1/chat/completions", "/chat/completions":
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			writeError(w, http.StatusMethodNotAllowed, errorBody("Invalid method for URL ("+r.Method+" "+p+")", "invalid_request_error", "", ""))
			return
		}
		s.chat(w, r)
	case "/v1/models", "/models":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, errorBody("Invalid method for URL ("+r.Method+" "+p+")", "invalid_request_error", "", ""))
			return
		}
		writeJSON(w, http.StatusOK, s.modelsBody)
	default:
		id, ok := strings.CutPrefix(p, "/v1/models/")
		if !ok {
			id, ok = strings.CutPrefix(p, "/models/")
		}
		if ok && id != "" && (r.Method == http.MethodGet || r.Method == http.MethodHead) {
			s.model(w, id)
			return
		}
		writeError(w, http.StatusNotFound, errorBody("Invalid URL ("+r.Method+" "+p+")", "invalid_request_error", "", ""))
	}
}

func (s *Server) model(w http.ResponseWriter, id string) {
	for _, m := range s.cfg.Models {
		if m == id {
			writeJSON(w, http.StatusOK, modelJSON(nil, m))
			return
		}
	}
	writeError(w, http.StatusNotFound, errorBody("The model '"+id+"' does not exist", "invalid_request_error", "model", "model_not_found"))
}

// chatRequest is the little of a chat request the fake needs. Messages
// decode into zero-size elements: we only count them, and []struct{} costs no
// allocation per element.
type chatRequest struct {
	Model         string     `json:"model"`
	Stream        bool       `json:"stream"`
	Messages      []struct{} `json:"messages"`
	MaxTokens     *int       `json:"max_tokens"`
	User          string     `json:"user"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Tools []struct {
		Function struct {
			Name string `json:"name"`
		} `json:"function"`
	} `json:"tools"`
}

// params is the effective behaviour of one request after overrides.
type params struct {
	fail       FailMode
	forced     bool // fail came from an override: FailRate does not apply
	ttft       time.Duration
	tps        float64
	chunks     int
	size       int
	cut        int
	tools      bool
	retryAfter string
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 8<<10); return &b }}

func (s *Server) chat(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	start := time.Now()

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	body, err := readBody(r, (*bp)[:0])
	if cap(body) <= 1<<20 { // don't let one huge request pin memory in the pool
		*bp = body[:0]
	}
	if err != nil {
		s.failed.Add(1)
		if errors.Is(err, errTooLarge) {
			writeError(w, http.StatusRequestEntityTooLarge, errorBody("Request body too large (limit 16 MiB).", "invalid_request_error", "", ""))
			return
		}
		s.noteCancel()
		return
	}
	if s.cfg.Record {
		s.record(r, body, start)
	}

	var req chatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		s.failed.Add(1)
		writeError(w, http.StatusBadRequest, errInvalidJSON)
		return
	}
	if req.Stream {
		s.streams.Add(1)
	}

	p := params{
		fail:       s.cfg.Fail,
		ttft:       s.cfg.TTFT,
		tps:        s.cfg.TokensPerSecond,
		chunks:     s.cfg.Chunks,
		size:       s.cfg.ContentBytes,
		cut:        -1,
		retryAfter: s.cfg.RetryAfter,
	}
	if err := p.fromHeader(r.Header); err != nil {
		s.failed.Add(1)
		writeError(w, http.StatusBadRequest, errorBody(err.Error(), "invalid_request_error", "", ""))
		return
	}
	if strings.Contains(req.User, directivePrefix) {
		if err := p.fromDirective(req.User); err != nil {
			s.failed.Add(1)
			writeError(w, http.StatusBadRequest, errorBody(err.Error(), "invalid_request_error", "user", ""))
			return
		}
	}

	switch {
	case req.Model == "":
		s.failed.Add(1)
		writeError(w, http.StatusBadRequest, errorBody("you must provide a model parameter", "invalid_request_error", "", ""))
		return
	case req.Messages == nil:
		s.failed.Add(1)
		writeError(w, http.StatusBadRequest, errorBody("Missing required parameter: 'messages'.", "invalid_request_error", "messages", "missing_required_parameter"))
		return
	case len(req.Messages) == 0:
		s.failed.Add(1)
		writeError(w, http.StatusBadRequest, errorBody("Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.", "invalid_request_error", "messages", "empty_array"))
		return
	}

	fail := p.fail
	if fail != FailNone && !p.forced && s.cfg.FailRate > 0 && !s.pickFailure() {
		fail = FailNone
	}
	if p.cut < 0 {
		p.cut = s.cfg.CutAfter
		if p.chunks != s.cfg.Chunks {
			p.cut = p.chunks / 2
		}
	}

	key := shapeKey{
		model:  req.Model,
		chunks: p.chunks,
		size:   p.size,
		stream: req.Stream,
		usage:  req.Stream && req.StreamOptions != nil && req.StreamOptions.IncludeUsage,
	}
	if p.tools {
		key.toolName = "get_weather"
		if len(req.Tools) > 0 && req.Tools[0].Function.Name != "" {
			key.toolName = req.Tools[0].Function.Name
		}
	}
	x := exchange{
		s: s, w: w, r: r, p: &p, start: start, buf: bp,
	}
	newID(&x.v.id)
	x.v.created = start.Unix()
	x.v.prompt = max(len(body)/4, 1)
	x.v.total = x.v.prompt + max(p.chunks, 1)
	x.serve(fail, key)
}

// pickFailure spreads FailRate evenly over the request sequence: request n
// fails when floor((n+1)*rate) > floor(n*rate). Deterministic, so a test can
// count on "every 4th".
func (s *Server) pickFailure() bool {
	rate := s.cfg.FailRate
	if rate >= 1 {
		return true
	}
	n := float64(s.failSeq.Add(1) - 1)
	return uint64((n+1)*rate) > uint64(n*rate)
}

func (s *Server) shape(k shapeKey) *shape {
	s.shapeMu.RLock()
	sh := s.shapes[k]
	s.shapeMu.RUnlock()
	if sh != nil {
		return sh
	}
	sh = buildShape(k)
	s.shapeMu.Lock()
	if old := s.shapes[k]; old != nil {
		sh = old
	} else if len(s.shapes) < maxShapes {
		s.shapes[k] = sh
	}
	s.shapeMu.Unlock()
	return sh
}

func (s *Server) noteCancel() {
	s.canceled.Add(1)
	select {
	case s.cancelCh <- time.Now():
	default:
	}
}

func (s *Server) record(r *http.Request, body []byte, at time.Time) {
	rec := Recorded{
		Method: r.Method,
		Path:   r.URL.Path,
		Header: r.Header.Clone(),
		Body:   bytes.Clone(body),
		At:     at,
	}
	s.recMu.Lock()
	s.rec[s.recN%recordN] = rec
	s.recN++
	s.recMu.Unlock()
}

var errTooLarge = errors.New("fakeupstream: request body over 16 MiB")

// readBody appends the request body to buf so the handler reuses one pooled
// buffer instead of io.ReadAll's growth steps.
func readBody(r *http.Request, buf []byte) ([]byte, error) {
	if r.ContentLength > maxBody {
		return buf, errTooLarge
	}
	if r.ContentLength > 0 && int(r.ContentLength) > cap(buf) {
		buf = make([]byte, 0, r.ContentLength+1)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if len(buf) > maxBody {
			return buf, errTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}
