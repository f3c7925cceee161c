// Package httpapi owns the node's HTTP surface: the OpenAI- and OpenRouter-compatible
// endpoints, request decoding and validation, JSON and server-sent-event encoding of
// responses, and the error catalog clients see. It speaks HTTP only; everything about
// where a request goes happens behind the pipeline.Handler it is given.
package httpapi

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
	"github.com/crossroads-llm/crossroads/edge/internal/pool"
	"github.com/crossroads-llm/crossroads/edge/internal/telemetry"
)

// Options configures an API.
type Options struct {
	// Pipeline serves chat requests.
	Pipeline pipeline.Handler
	// Models returns the /models document (built once per catalog generation).
	Models func() []byte
	// ModelsFiltered returns the /models document filtered by query parameters
	// (supported_parameters=tools, …); its error names the bad parameter.
	ModelsFiltered func(q url.Values) ([]byte, error)
	// Endpoints returns OpenRouter's /models/{author}/{slug}/endpoints document for a
	// model id, with live stats, and false for an unknown model.
	Endpoints func(id string) ([]byte, bool)
	// Ready reports whether the node should receive traffic (/readyz).
	Ready func() bool
	// MaxBodyBytes bounds request bodies; larger ones get 413. Default 8 MiB.
	MaxBodyBytes int64
	// KeepAlive is the interval of SSE keep-alive comments while a stream waits. Default 15s.
	KeepAlive time.Duration
	// Metrics receives counters; nil disables them.
	Metrics *telemetry.Metrics
	// Logger defaults to slog.Default().
	Logger *slog.Logger
	// Usage receives the accounting of every answered chat request once its response is
	// complete (a stream: when it ended); nil discards it. It runs on the request's
	// goroutine and must not block.
	Usage func(*llm.UsageRecord)
}

// API is the HTTP handler of the node.
type API struct {
	pipe      pipeline.Handler
	models    func() []byte
	filtered  func(url.Values) ([]byte, error)
	endpoints func(string) ([]byte, bool)
	ready     func() bool
	maxBody   int64
	keepAlive time.Duration
	metrics   *telemetry.Metrics
	log       *slog.Logger
	usage     func(*llm.UsageRecord)
}

// New returns the API handler.
func New(o Options) *API {
	if o.MaxBodyBytes <= 0 {
		o.MaxBodyBytes = 8 << 20
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = 15 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	if o.Ready == nil {
		o.Ready = func() bool { return true }
	}
	if o.Models == nil {
		o.Models = func() []byte { return []byte(`{"object":"list","data":[]}`) }
	}
	if o.Metrics == nil {
		o.Metrics = telemetry.NewMetrics()
	}
	return &API{pipe: o.Pipeline, models: o.Models, filtered: o.ModelsFiltered, endpoints: o.Endpoints, ready: o.Ready, maxBody: o.MaxBodyBytes,
		keepAlive: o.KeepAlive, metrics: o.Metrics, log: o.Logger, usage: o.Usage}
}

var (
	jsonCT  = []string{"application/json"}
	sseCT   = []string{"text/event-stream; charset=utf-8"}
	noCache = []string{"no-cache"}
	noBuf   = []string{"no"}
	okBody  = []byte(`{"status":"ok"}`)
)

// ServeHTTP routes by exact path: the surface is small, and a switch is cheaper and
// clearer than a pattern mux, and lets every miss answer in the API's error shape.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/v1/chat/completions", "/api/v1/chat/completions":
		if r.Method != http.MethodPost {
			a.methodNotAllowed(w, r, "POST")
			return
		}
		a.chat(w, r)
	case "/v1/models", "/api/v1/models":
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			a.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		a.listModels(w, r)
	case "/healthz":
		writeRaw(w, http.StatusOK, okBody)
	case "/readyz":
		if !a.ready() {
			a.writeError(w, &llm.Error{Status: http.StatusServiceUnavailable, Type: llm.TypeUnavailable, Message: "the node is not ready: starting or draining"})
			return
		}
		writeRaw(w, http.StatusOK, okBody)
	case "/metrics":
		w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
		a.metrics.WriteText(w)
	default:
		if id, ok := endpointsPath(r.URL.Path); ok {
			a.modelEndpoints(w, r, id)
			return
		}
		a.writeError(w, &llm.Error{Status: http.StatusNotFound, Type: llm.TypeNotFound,
			Message: "no endpoint " + r.Method + " " + r.URL.Path + "; see POST /v1/chat/completions and GET /v1/models"})
	}
}

func (a *API) listModels(w http.ResponseWriter, r *http.Request) {
	if r.URL.RawQuery == "" || a.filtered == nil {
		writeRaw(w, http.StatusOK, a.models())
		return
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		a.writeError(w, llm.BadRequest("", "the query string is malformed: %v", err))
		return
	}
	doc, err := a.filtered(q)
	if err != nil {
		e, ok := err.(*llm.Error)
		if !ok {
			e = llm.BadRequest("", "%v", err)
		}
		a.writeError(w, e)
		return
	}
	writeRaw(w, http.StatusOK, doc)
}

// endpointsPath matches /api/v1/models/{author}/{slug}/endpoints (and the /v1 form) and
// returns the model id.
func endpointsPath(path string) (string, bool) {
	rest, ok := strings.CutPrefix(path, "/api/v1/models/")
	if !ok {
		if rest, ok = strings.CutPrefix(path, "/v1/models/"); !ok {
			return "", false
		}
	}
	id, ok := strings.CutSuffix(rest, "/endpoints")
	if !ok || strings.Count(id, "/") != 1 || strings.HasPrefix(id, "/") || strings.HasSuffix(id, "/") {
		return "", false
	}
	return id, true
}

func (a *API) modelEndpoints(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		a.methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	if a.endpoints == nil {
		a.writeError(w, &llm.Error{Status: http.StatusNotFound, Type: llm.TypeNotFound, Message: "model endpoints are not served"})
		return
	}
	doc, ok := a.endpoints(id)
	if !ok {
		a.writeError(w, &llm.Error{Status: http.StatusNotFound, Type: llm.TypeNotFound, Param: "model",
			Message: "model " + strconv.Quote(id) + " is not served by this node; GET /v1/models lists the models it serves"})
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeRaw(w, http.StatusOK, doc)
}

func (a *API) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	a.writeError(w, &llm.Error{Status: http.StatusMethodNotAllowed, Type: llm.TypeInvalidRequest,
		Message: "method " + r.Method + " is not allowed on " + r.URL.Path + "; use " + allow})
}

func writeRaw(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h["Content-Type"] = jsonCT
	h["Content-Length"] = []string{strconv.Itoa(len(body))}
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// writeError writes e as the response, with Retry-After passed on from the upstream.
func (a *API) writeError(w http.ResponseWriter, e *llm.Error) {
	if e.RetryAfter != "" {
		w.Header().Set("Retry-After", e.RetryAfter)
	}
	buf := pool.Get()
	*buf = appendErrorBody((*buf)[:0], e)
	writeRaw(w, e.Status, *buf)
	pool.Put(buf)
	a.metrics.Error(e.Status)
	if e.Status >= 500 {
		a.log.Warn("request failed", "status", e.Status, "msg", e.Message, "err", e.Err)
	}
}

// readBody reads the request body into *buf, up to max bytes.
func readBody(r *http.Request, max int64, buf *[]byte) ([]byte, error) {
	if r.ContentLength > max {
		return nil, pool.ErrTooLarge
	}
	if r.ContentLength > int64(cap(*buf)) {
		*buf = make([]byte, 0, r.ContentLength)
	}
	return pool.ReadAll(r.Body, buf, max)
}
