package fakeupstream

import (
	"net/http"
	"strconv"
	"time"
)

// exchange is one chat request being answered. It lives on the handler's
// stack frame; the single timer is reused for TTFT and every pacing gap.
type exchange struct {
	s     *Server
	w     http.ResponseWriter
	r     *http.Request
	p     *params
	start time.Time
	buf   *[]byte // pooled render buffer
	v     vals
	timer *time.Timer
}

func (x *exchange) serve(fail FailMode, key shapeKey) {
	defer func() {
		if x.timer != nil {
			x.timer.Stop()
		}
	}()
	if fail == FailHang {
		x.hang()
		return
	}
	streamed := key.stream && (fail == FailNone || fail == FailCut || fail == FailMalformedSSE || fail == FailStreamError)
	if !streamed {
		// Errors, like non-stream answers, commit to a status only after TTFT.
		if !x.waitUntil(x.start.Add(x.p.ttft)) {
			return
		}
	}
	switch fail {
	case Fail429:
		x.s.failed.Add(1)
		x.rateLimited(key.model)
		return
	case Fail500:
		x.s.failed.Add(1)
		writeError(x.w, http.StatusInternalServerError, err500)
		return
	case Fail503:
		x.s.failed.Add(1)
		x.w.Header()["Retry-After"] = []string{x.p.retryAfter}
		writeError(x.w, http.StatusServiceUnavailable, err503)
		return
	case FailMalformedJSON:
		x.malformedJSON(key)
		return
	case FailMalformedSSE:
		if !key.stream {
			x.malformedJSON(key)
			return
		}
	case FailStreamError:
		if !key.stream {
			x.s.failed.Add(1)
			writeJSON(x.w, http.StatusOK, []byte(streamErrorBody))
			return
		}
	}
	if key.stream {
		x.stream(fail, key)
		return
	}
	x.nonStream(fail, key)
}

// waitUntil sleeps until t unless the client goes away first. It reports
// whether the handler should go on.
func (x *exchange) waitUntil(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return true
	}
	if x.timer == nil {
		x.timer = time.NewTimer(d)
	} else {
		x.timer.Reset(d)
	}
	select {
	case <-x.timer.C:
		return true
	case <-x.r.Context().Done():
		x.s.noteCancel()
		return false
	case <-x.s.done:
		x.s.canceled.Add(1)
		panic(http.ErrAbortHandler)
	}
}

func (x *exchange) hang() {
	select {
	case <-x.r.Context().Done():
		x.s.noteCancel()
	case <-x.s.done:
		x.s.canceled.Add(1)
		// Returning normally would send an empty 200; abort instead.
		panic(http.ErrAbortHandler)
	}
}

func (x *exchange) setCommon(h http.Header) {
	h["X-Request-Id"] = []string{"req_" + string(x.v.id[:])}
	h["Openai-Version"] = hdrOAIV
}

func (x *exchange) render(t tmpl) []byte {
	b := t.appendTo((*x.buf)[:0], &x.v)
	*x.buf = b[:0]
	return b
}

func (x *exchange) nonStream(fail FailMode, key shapeKey) {
	b := x.render(x.s.shape(key).body)
	h := x.w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	x.setCommon(h)
	x.w.WriteHeader(http.StatusOK)
	if fail == FailCut {
		x.s.failed.Add(1)
		_, _ = x.w.Write(b[:len(b)/2])
		_ = http.NewResponseController(x.w).Flush()
		panic(http.ErrAbortHandler)
	}
	if _, err := x.w.Write(b); err != nil {
		x.s.noteCancel()
		return
	}
	x.s.completed.Add(1)
}

func (x *exchange) malformedJSON(key shapeKey) {
	x.s.failed.Add(1)
	key.stream, key.usage = false, false
	b := x.render(x.s.shape(key).body)
	b = b[:len(b)/2]
	h := x.w.Header()
	h["Content-Type"] = hdrJSON
	h["Content-Length"] = []string{strconv.Itoa(len(b))}
	x.setCommon(h)
	x.w.WriteHeader(http.StatusOK)
	_, _ = x.w.Write(b)
}

func (x *exchange) rateLimited(model string) {
	h := x.w.Header()
	ra := x.p.retryAfter
	h["Retry-After"] = []string{ra}
	h["X-Ratelimit-Limit-Requests"] = []string{"500"}
	h["X-Ratelimit-Limit-Tokens"] = []string{"200000"}
	h["X-Ratelimit-Remaining-Requests"] = []string{"0"}
	h["X-Ratelimit-Remaining-Tokens"] = []string{"199880"}
	reset := ra
	if _, err := strconv.Atoi(ra); err == nil {
		reset = ra + "s"
	}
	h["X-Ratelimit-Reset-Requests"] = []string{reset}
	h["X-Ratelimit-Reset-Tokens"] = []string{"36ms"}
	writeError(x.w, http.StatusTooManyRequests, errorBody(
		"Rate limit reached for "+model+" in organization org-fake on requests per min (RPM): Limit 500, Used 500, Requested 1. Please try again in "+reset+". Visit https://platform.openai.com/account/rate-limits to learn more.",
		"requests", "", "rate_limit_exceeded"))
}

func (x *exchange) stream(fail FailMode, key shapeKey) {
	sh := x.s.shape(key)
	h := x.w.Header()
	h["Content-Type"] = hdrSSE
	h["Cache-Control"] = hdrNoCch
	x.setCommon(h)
	x.w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(x.w)
	if err := rc.Flush(); err != nil {
		x.s.noteCancel()
		return
	}

	n := len(sh.content)
	switch fail {
	case FailCut:
		n = min(n, x.p.cut)
	case FailMalformedSSE:
		n = min(n, 2)
	case FailStreamError:
		n = min(n, 3)
	}
	var gap time.Duration
	if x.p.tps > 0 {
		gap = time.Duration(float64(time.Second) / x.p.tps)
	}
	// Deadlines are absolute so a slow write never makes the stream drift.
	first := x.start.Add(x.p.ttft)
	if !x.waitUntil(first) || !x.send(rc, x.render(sh.first)) {
		return
	}
	for i := range n {
		if i > 0 && gap > 0 && !x.waitUntil(first.Add(time.Duration(i)*gap)) {
			return
		}
		if !x.send(rc, x.render(sh.content[i])) {
			return
		}
	}

	switch fail {
	case FailCut:
		x.s.failed.Add(1)
		panic(http.ErrAbortHandler)
	case FailMalformedSSE:
		if x.send(rc, malformedEvent) && x.send(rc, doneEvent) {
			x.s.failed.Add(1)
		}
		return
	case FailStreamError:
		if x.send(rc, streamErrEvent) {
			x.s.failed.Add(1)
		}
		return
	}
	if !x.send(rc, x.render(sh.finish)) {
		return
	}
	if sh.usageEv != nil && !x.send(rc, x.render(sh.usageEv)) {
		return
	}
	if x.send(rc, doneEvent) {
		x.s.completed.Add(1)
	}
}

// send writes one whole SSE event and flushes it, as a provider does; a
// failure means the client is gone.
func (x *exchange) send(rc *http.ResponseController, ev []byte) bool {
	if _, err := x.w.Write(ev); err != nil {
		x.s.noteCancel()
		return false
	}
	if err := rc.Flush(); err != nil {
		x.s.noteCancel()
		return false
	}
	return true
}
