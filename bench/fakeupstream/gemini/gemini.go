// Package gemini owns the fake Google Gemini API (generativelanguage
// v1beta generateContent / streamGenerateContent) used by the node's
// end-to-end tests and by the Gemini format plugin's tests.
//
// It decodes requests as strictly as the real API (unknown JSON fields,
// invalid roles, empty parts, function call/response ordering and unsupported
// schema keys are 400 INVALID_ARGUMENT), authenticates by x-goog-api-key or
// ?key=, and answers with Google's JSON and SSE shapes, including their
// quirks: pretty-printed JSON bodies, CRLF-terminated SSE events, zero
// counters left out of usageMetadata, and in-band stream errors as a data
// event holding {"error":{...}}. Content is derived deterministically from
// the prompt (see Reply) and [[directives]] in the last user turn script
// failures, as in the sibling anthropic fake.
package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream/script"
)

// Options configure a Server. The zero value accepts any non-empty key and
// any model.
type Options struct {
	// APIKey is the key requests must carry; "" accepts any non-empty key.
	APIKey string
	// Models, if set, are the only model ids served; others get 404.
	Models []string
	// RetryDelay is the RetryInfo.retryDelay of a 429, in seconds (default 1).
	RetryDelay int
	// StreamDelay paces stream events; 0 sends them back to back.
	StreamDelay time.Duration
	// RequireThoughtSignatures refuses, as Gemini 3 models do, a function call
	// of the current turn sent back without the thoughtSignature the model
	// attached to it ([[thinking]] with [[tool:...]] attaches one).
	RequireThoughtSignatures bool
}

// Recorded is one request as the fake received it.
type Recorded struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
	Model  string
	Stream bool
}

// Server is the fake Gemini API; it implements http.Handler and answers
// POST {base}/models/{model}:generateContent and :streamGenerateContent for
// any base path (for example /v1beta).
type Server struct {
	opt Options
	script.Log[Recorded]
}

// New returns a Server with defaults applied.
func New(o Options) *Server {
	if o.RetryDelay <= 0 {
		o.RetryDelay = 1
	}
	return &Server{opt: o}
}

// Start serves s on a local httptest server closed when tb ends and returns
// its base URL (requests go to URL + "/v1beta/models/...").
func Start(tb testing.TB, o Options) (*Server, string) {
	tb.Helper()
	s := New(o)
	ts := httptest.NewServer(s)
	tb.Cleanup(ts.Close)
	return s, ts.URL
}

const maxBody = 32 << 20

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i := strings.LastIndex(r.URL.Path, "/models/")
	if i < 0 {
		writeStatus(w, http.StatusNotFound, "Requested entity was not found.")
		return
	}
	model, method, ok := strings.Cut(r.URL.Path[i+len("/models/"):], ":")
	if !ok || model == "" || (method != "generateContent" && method != "streamGenerateContent") {
		writeStatus(w, http.StatusNotFound, "Requested entity was not found.")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "INVALID_ARGUMENT", "Method not allowed: "+r.Method, nil)
		return
	}
	s.Count()
	stream := method == "streamGenerateContent"
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return
	}
	s.Record(Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: bytes.Clone(body), Model: model, Stream: stream})
	if len(body) > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "INVALID_ARGUMENT", "Request payload size exceeds the limit: 33554432 bytes.", nil)
		return
	}

	key := r.Header.Get("X-Goog-Api-Key")
	if key == "" {
		key = r.URL.Query().Get("key")
	}
	switch {
	case key == "":
		writeError(w, http.StatusForbidden, "PERMISSION_DENIED", "Method doesn't allow unregistered callers (callers without established identity). Please use API Key or other form of API consumer identity to call this API.", nil)
		return
	case s.opt.APIKey != "" && key != s.opt.APIKey:
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.", []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID", "domain": "googleapis.com",
				"metadata": map[string]string{"service": "generativelanguage.googleapis.com"}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.LocalizedMessage", "locale": "en-US", "message": "API key not valid. Please pass a valid API key."},
		})
		return
	}
	if len(s.opt.Models) > 0 && !slices.Contains(s.opt.Models, model) {
		writeError(w, http.StatusNotFound, "NOT_FOUND", "models/"+model+" is not found for API version v1beta, or is not supported for "+method+". Call ListModels to see the list of available models and their supported methods.", nil)
		return
	}
	req, err := parseRequest(body)
	if err == nil && s.opt.RequireThoughtSignatures && req.unsignedCall != "" {
		err = fmt.Errorf("Function call is missing a thought_signature in functionCall parts. This is required for tools to work correctly, and missing thought_signature may lead to degraded model performance. Additional data, function call `default_api:%s` , position %d. Please refer to https://ai.google.dev/gemini-api/docs/thought-signatures for more details.", req.unsignedCall, req.unsignedPos)
	}
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error(), nil)
		return
	}
	d, err := ParseDirectives(req.lastUserText)
	if err != nil {
		writeError(w, http.StatusBadRequest, "INVALID_ARGUMENT", err.Error(), nil)
		return
	}
	if d.Delay > 0 {
		t := time.NewTimer(d.Delay)
		select {
		case <-t.C:
		case <-r.Context().Done():
			t.Stop()
			return
		}
	}
	if d.Status != 0 {
		s.scriptedError(w, d.Status)
		return
	}
	resp := compose(req, model, d)
	if stream {
		s.stream(w, r, resp, d, r.URL.Query().Get("alt") == "sse")
		return
	}
	b, _ := json.MarshalIndent(resp, "", "  ")
	b = append(b, '\n')
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("Server-Timing", "gfet4t7; dur=42")
	w.WriteHeader(http.StatusOK)
	if d.Cut {
		// Announce the whole body, send half, abort: an unexpected EOF.
		_, _ = w.Write(b[:len(b)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	_, _ = w.Write(b)
}

// Status is google.rpc.Code's JSON name for an HTTP status, as the API's
// error bodies carry it.
func Status(code int) string {
	switch code {
	case 400:
		return "INVALID_ARGUMENT"
	case 401:
		return "UNAUTHENTICATED"
	case 403:
		return "PERMISSION_DENIED"
	case 404:
		return "NOT_FOUND"
	case 409:
		return "ABORTED"
	case 429:
		return "RESOURCE_EXHAUSTED"
	case 499:
		return "CANCELLED"
	case 501:
		return "UNIMPLEMENTED"
	case 503:
		return "UNAVAILABLE"
	case 504:
		return "DEADLINE_EXCEEDED"
	}
	return "INTERNAL"
}

// Messages the API sends with each scripted status.
var statusMessages = map[int]string{
	400: "Request contains an invalid argument.",
	401: "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie or other valid authentication credential.",
	403: "The caller does not have permission",
	404: "Requested entity was not found.",
	429: "You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.",
	500: "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting",
	503: "The model is overloaded. Please try again later.",
	504: "Deadline expired before operation could complete.",
}

func (s *Server) scriptedError(w http.ResponseWriter, code int) {
	if code == 429 {
		writeError(w, code, "RESOURCE_EXHAUSTED", statusMessages[429], []any{
			map[string]any{"@type": "type.googleapis.com/google.rpc.QuotaFailure", "violations": []any{map[string]any{
				"quotaMetric": "generativelanguage.googleapis.com/generate_content_free_tier_requests", "quotaId": "GenerateRequestsPerMinutePerProjectPerModel-FreeTier"}}},
			map[string]any{"@type": "type.googleapis.com/google.rpc.RetryInfo", "retryDelay": strconv.Itoa(s.opt.RetryDelay) + "s"},
		})
		return
	}
	writeStatus(w, code, "")
}

func writeStatus(w http.ResponseWriter, code int, msg string) {
	if msg == "" {
		msg = statusMessages[code]
		if msg == "" {
			msg = statusMessages[500]
		}
	}
	writeError(w, code, Status(code), msg, nil)
}

// ErrorBody is Google's error envelope.
type ErrorBody struct {
	Error struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
		Status  string `json:"status"`
		Details []any  `json:"details,omitempty"`
	} `json:"error"`
}

func errorJSON(code int, status, msg string, details []any, indent bool) []byte {
	var e ErrorBody
	e.Error.Code, e.Error.Message, e.Error.Status, e.Error.Details = code, msg, status, details
	if indent {
		b, _ := json.MarshalIndent(e, "", "  ")
		return append(b, '\n')
	}
	b, _ := json.Marshal(e)
	return b
}

func writeError(w http.ResponseWriter, code int, status, msg string, details []any) {
	b := errorJSON(code, status, msg, details, true)
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=UTF-8")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(code)
	_, _ = w.Write(b)
}
