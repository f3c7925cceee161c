// Package anthropic owns the fake Anthropic Messages API upstream used by the
// node's end-to-end tests and by the Anthropic format plugin's tests.
//
// It validates requests the way the real API does (x-api-key,
// anthropic-version, body fields, role alternation, tool_result pairing) and
// answers with Anthropic's exact JSON and SSE shapes, so a format plugin that
// passes against it speaks the real wire format. Content is derived
// deterministically from the prompt (see Reply), and [[directives]] in the
// last user message script failures: error statuses, tool calls, thinking
// blocks, in-band stream errors, cut connections and delays.
package anthropic

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream/script"
)

// Options configure a Server. The zero value accepts any non-empty key.
type Options struct {
	// APIKey is the key x-api-key must carry; "" accepts any non-empty key.
	APIKey string
	// RetryAfter is the retry-after header sent with 429 and 529 (default "1").
	RetryAfter string
	// StreamDelay paces stream events; 0 sends them back to back.
	StreamDelay time.Duration
}

// Recorded is one request as the fake received it.
type Recorded struct {
	Method string
	Path   string
	Query  string
	Header http.Header
	Body   []byte
}

// Server is the fake Messages API; it implements http.Handler and answers
// POST {base}/messages for any base path.
type Server struct {
	opt Options
	script.Log[Recorded]
}

// New returns a Server with defaults applied.
func New(o Options) *Server {
	if o.RetryAfter == "" {
		o.RetryAfter = "1"
	}
	return &Server{opt: o}
}

// Start serves s on a local httptest server that is closed when tb ends and
// returns its base URL (requests go to URL + "/v1/messages" or URL +
// "/messages").
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
	if !strings.HasSuffix(r.URL.Path, "/messages") {
		writeError(w, http.StatusNotFound, "not_found_error", "Not Found")
		return
	}
	if r.Method != http.MethodPost {
		writeError(w, http.StatusMethodNotAllowed, "invalid_request_error", "Method Not Allowed")
		return
	}
	s.Count()
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBody+1))
	if err != nil {
		return // client went away; nothing to answer
	}
	s.Record(Recorded{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Header: r.Header.Clone(), Body: bytes.Clone(body)})
	if len(body) > maxBody {
		writeError(w, http.StatusRequestEntityTooLarge, "request_too_large", "Request exceeds the maximum allowed number of bytes.")
		return
	}

	switch key := r.Header.Get("X-Api-Key"); {
	case key == "":
		writeError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
		return
	case s.opt.APIKey != "" && key != s.opt.APIKey:
		writeError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	}
	if r.Header.Get("Anthropic-Version") == "" {
		writeError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	req, err := parseRequest(body)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
		return
	}
	d, err := ParseDirectives(req.lastUserText)
	if err != nil {
		writeError(w, http.StatusBadRequest, "invalid_request_error", err.Error())
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
	m := s.compose(req, d)
	if req.Stream {
		s.stream(w, r, m, d)
		return
	}
	b, err := json.Marshal(m)
	if err != nil {
		writeError(w, http.StatusInternalServerError, "api_error", "anthropic fake: encode response: "+err.Error())
		return
	}
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Request-Id", "req_"+m.ID[4:])
	if d.Cut {
		// Announce the whole body, send half, then abort: the client sees an
		// unexpected EOF rather than a clean short body.
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b[:len(b)/2])
		if f, ok := w.(http.Flusher); ok {
			f.Flush()
		}
		panic(http.ErrAbortHandler)
	}
	h.Set("Content-Length", strconv.Itoa(len(b)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
}

// scriptedError answers [[status:N]] with the error type and message the real
// API uses for that status.
func (s *Server) scriptedError(w http.ResponseWriter, status int) {
	typ, msg := "api_error", "Internal server error"
	switch status {
	case 400:
		typ, msg = "invalid_request_error", "Invalid request"
	case 401:
		typ, msg = "authentication_error", "invalid x-api-key"
	case 403:
		typ, msg = "permission_error", "Your API key does not have permission to use the specified resource."
	case 404:
		typ, msg = "not_found_error", "Not Found"
	case 413:
		typ, msg = "request_too_large", "Request exceeds the maximum allowed number of bytes."
	case 429:
		typ, msg = "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit (https://docs.anthropic.com/en/api/rate-limits); see the response headers for current usage. Please reduce the prompt length or the maximum tokens requested, or try again later. You may also contact sales at https://www.anthropic.com/contact-sales to discuss your options for a rate limit increase."
		w.Header().Set("Retry-After", s.opt.RetryAfter)
		w.Header().Set("Anthropic-Ratelimit-Requests-Remaining", "0")
	case 529:
		typ, msg = "overloaded_error", "Overloaded"
		w.Header().Set("Retry-After", s.opt.RetryAfter)
	}
	writeError(w, status, typ, msg)
}

// ErrorBody is Anthropic's error envelope.
type ErrorBody struct {
	Type  string `json:"type"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

func errorJSON(typ, msg string) []byte {
	var e ErrorBody
	e.Type = "error"
	e.Error.Type, e.Error.Message = typ, msg
	b, _ := json.Marshal(e) // only strings: cannot fail
	return b
}

func writeError(w http.ResponseWriter, status int, typ, msg string) {
	b := errorJSON(typ, msg)
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(b)))
	h.Set("X-Should-Retry", strconv.FormatBool(status == 429 || status >= 500))
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var errFieldRequired = errors.New("Field required")
