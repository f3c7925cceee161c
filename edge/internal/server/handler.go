package server

import (
	"net/http"
	"strconv"
	"sync/atomic"
)

// altSvcKey is already in canonical form, so the wrapper can index the header
// map directly instead of paying for canonicalisation on every request.
const altSvcKey = "Alt-Svc"

// edgeHandler is the only code every request passes through before the
// application handler, so it must stay allocation-free.
type edgeHandler struct {
	next http.Handler
	// altSvc is shared by all responses and has len == cap == 1: a later
	// Header().Add must reallocate rather than append into the shared array.
	// Nil means "do not advertise HTTP/3" (plain listener, HTTP/3 off).
	altSvc []string
	// active counts handlers in flight so Shutdown can tell a busy connection
	// from one a client merely keeps open.
	active *atomic.Int64
}

// altSvcValue mirrors what http3.Server.SetQUICHeaders emits. It is computed
// once in New because SetQUICHeaders allocates on every call and returns
// nothing until the QUIC listener has been registered by Serve, so the first
// responses on a freshly started node would lack the header.
func altSvcValue(port int) []string {
	return []string{`h3=":` + strconv.Itoa(port) + `"; ma=2592000`}
}

func (h *edgeHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	// RFC 8470: early data can be replayed by an attacker, and nearly every
	// request to an LLM router is a POST that costs money. Checked even when
	// 0-RTT is off, because the check is one branch and it keeps a future
	// Allow0RTT=true from silently admitting replayable POSTs.
	if r.TLS != nil && !r.TLS.HandshakeComplete && r.Method != http.MethodGet && r.Method != http.MethodHead {
		tooEarly(w)
		return
	}
	if h.altSvc != nil && r.ProtoMajor < 3 {
		w.Header()[altSvcKey] = h.altSvc
	}
	h.active.Add(1)
	defer h.active.Add(-1)
	h.next.ServeHTTP(w, r)
}

// tooEarlyBody is the API's error shape, written here because this package
// must not depend on the HTTP API; clients see one error format everywhere.
const tooEarlyBody = `{"error":{"code":425,"message":"request sent in TLS early data; retry after the handshake completes","type":"too_early","param":null}}`

// tooEarly is kept out of ServeHTTP so the rare rejection path does not
// weigh on the inlining budget of the hot path.
func tooEarly(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Length", strconv.Itoa(len(tooEarlyBody)))
	w.WriteHeader(http.StatusTooEarly)
	_, _ = w.Write([]byte(tooEarlyBody))
}
