package httpapi

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pool"
	"github.com/crossroads-llm/crossroads/edge/internal/sse"
)

func (a *API) chat(w http.ResponseWriter, r *http.Request) {
	buf := pool.GetSize(int(min(max(r.ContentLength, 0), a.maxBody)))
	// Streams give the body back as soon as the upstream answered (see serveStream); the
	// flag keeps it from going back twice.
	held := true
	release := func() {
		if held {
			held = false
			pool.Put(buf)
		}
	}
	defer release()
	body, err := readBody(r, a.maxBody, buf)
	if err != nil {
		if errors.Is(err, pool.ErrTooLarge) {
			a.writeError(w, &llm.Error{Status: http.StatusRequestEntityTooLarge, Type: llm.TypeTooLarge,
				Message: "request body is larger than the node's limit of " + strconv.FormatInt(a.maxBody, 10) + " bytes"})
			return
		}
		a.writeError(w, llm.BadRequest("", "could not read the request body: %v", err))
		return
	}
	now := time.Now()
	req := &llm.Request{Received: now, Header: r.Header}
	if e := decodeChat(body, req); e != nil {
		a.writeError(w, e)
		return
	}
	if req.SessionID == "" {
		// OpenRouter's header form of session_id; the body wins when both are sent.
		if s := r.Header.Get("X-Session-Id"); s != "" {
			if len(s) > 256 {
				a.writeError(w, llm.BadRequest("x-session-id", "the x-session-id header must be at most 256 characters"))
				return
			}
			req.SessionID = s
		}
	}
	id := newGenerationID(now)
	w.Header()["X-Generation-Id"] = []string{id}
	if req.Stream {
		a.serveStream(w, r, req, id, release)
		return
	}
	a.serveJSON(w, r, req, id)
}

// clientGone reports whether ctx ended because the client went away, as opposed to the
// server draining (cancelled with a cause of its own): only a departed client needs no
// answer.
func clientGone(ctx context.Context) bool {
	return ctx.Err() != nil && errors.Is(context.Cause(ctx), context.Canceled)
}

// shutdownError is what a request still running at the drain deadline is told.
func shutdownError(ctx context.Context) *llm.Error {
	return &llm.Error{Status: http.StatusServiceUnavailable, Type: llm.TypeUnavailable,
		Message: "the node is shutting down; retry the request", Err: context.Cause(ctx)}
}

func (a *API) serveJSON(w http.ResponseWriter, r *http.Request, req *llm.Request, id string) {
	ctx := r.Context()
	resp, err := a.pipe.Serve(ctx, req)
	if err != nil {
		switch {
		case clientGone(ctx):
		case ctx.Err() != nil:
			a.writeError(w, shutdownError(ctx))
		default:
			a.writeError(w, llm.AsError(err))
		}
		return
	}
	defer resp.Close()
	routeHeaders(w.Header(), resp)
	out := pool.Get()
	defer pool.Put(out)
	head := appendHead((*out)[:0], id, resp.Provider, resp.Model)
	o, info, err := rewriteObject(head[len(head):], resp.Body, head, false)
	*out = o
	if err != nil {
		a.writeError(w, malformedUpstream(resp.Provider, resp.Body, err))
		return
	}
	if info.errObj != nil && info.noChoices {
		// A 200 that carries only an error: some OpenAI-compatible upstreams do this.
		a.writeError(w, inBandError(resp.Provider, info.errObj))
		return
	}
	var u llm.Usage
	if info.usage != nil {
		u = parseUsage(info.usage)
	}
	h := w.Header()
	h["Content-Type"] = jsonCT
	h["Content-Length"] = []string{strconv.Itoa(len(o))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(o)
	a.metrics.Response(http.StatusOK)
	a.account(id, req, resp, u, http.StatusOK, true)
}

// account counts the tokens of an answer and hands its usage record to the sink. An answer
// the cache served cost no upstream tokens: the record carries what it saved instead.
func (a *API) account(id string, req *llm.Request, resp *llm.Response, u llm.Usage, status int, complete bool) {
	served := resp.Cache.Served()
	if !served {
		a.metrics.Tokens(u.PromptTokens, u.CompletionTokens)
	}
	if a.usage == nil {
		return
	}
	rec := &llm.UsageRecord{ID: id, Time: req.Received, Model: resp.Model, Provider: resp.Provider, Stream: req.Stream,
		Usage: u, Cache: resp.Cache, Status: status, Complete: complete}
	if cost := resp.Price.Cost(u); served {
		rec.SavedUSD = cost
	} else {
		rec.CostUSD = cost
	}
	a.usage(rec)
}

func malformedUpstream(provider string, raw []byte, err error) *llm.Error {
	s := string(raw)
	if len(s) > 512 {
		s = s[:512] + "…"
	}
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: provider,
		Message: "upstream " + provider + " sent a malformed response", Raw: s, Err: err}
}

func inBandError(provider string, errObj []byte) *llm.Error {
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: provider,
		Message: "upstream " + provider + " reported an error", Raw: errorText(errObj)}
}

// errorText reads the message of an upstream error value: a string, or an object with a
// message; anything else is passed on raw.
func errorText(v []byte) string {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindString:
		s, _ := jsonx.Unquote(v)
		return s
	case jsonx.KindObject:
		it := jsonx.Object(v)
		for it.Next() {
			if m := it.Member(); m.KeyIs("message") && jsonx.KindOfValue(m.Value) == jsonx.KindString {
				s, _ := jsonx.Unquote(m.Value)
				return s
			}
		}
	}
	return string(v)
}

// streamWriter owns the client side of a stream. The relay goroutine writes events; a
// timer writes keep-alive comments when the stream has been quiet for the keep-alive
// interval. The mutex orders the two, and the timer goes quiet once the stream ends.
type streamWriter struct {
	w         http.ResponseWriter
	rc        *http.ResponseController
	keepAlive time.Duration
	started   time.Time

	mu        sync.Mutex
	committed bool  // headers are written: the status can no longer change
	done      bool  // the stream ended; the timer must not write
	lastWrite int64 // nanoseconds since started
	failed    bool  // a write to the client failed
	timer     *time.Timer
}

func newStreamWriter(w http.ResponseWriter, keepAlive time.Duration) *streamWriter {
	sw := &streamWriter{w: w, rc: http.NewResponseController(w), keepAlive: keepAlive, started: time.Now()}
	// Held so tick, which may run on another goroutine, sees the timer assigned.
	sw.mu.Lock()
	sw.timer = time.AfterFunc(keepAlive, sw.tick)
	sw.mu.Unlock()
	return sw
}

func (sw *streamWriter) commitLocked() {
	if sw.committed {
		return
	}
	sw.committed = true
	h := sw.w.Header()
	h["Content-Type"] = sseCT
	h["Cache-Control"] = noCache
	h["X-Accel-Buffering"] = noBuf
	sw.w.WriteHeader(http.StatusOK)
}

// tick sends a keep-alive comment if nothing was written for a whole interval, so clients,
// proxies and QUIC idle timers see traffic while the upstream thinks.
func (sw *streamWriter) tick() {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	if sw.done {
		return
	}
	since := time.Duration(int64(time.Since(sw.started)) - sw.lastWrite)
	if since < sw.keepAlive {
		sw.timer.Reset(sw.keepAlive - since)
		return
	}
	sw.commitLocked()
	var b [32]byte
	sw.writeLocked(sse.AppendComment(b[:0], "keep-alive"))
	sw.timer.Reset(sw.keepAlive)
}

func (sw *streamWriter) writeLocked(p []byte) {
	if sw.failed {
		return
	}
	if _, err := sw.w.Write(p); err != nil {
		sw.failed = true
		return
	}
	if err := sw.rc.Flush(); err != nil {
		sw.failed = true
		return
	}
	sw.lastWrite = int64(time.Since(sw.started))
}

// write sends p to the client and flushes; it reports false once the client is gone.
func (sw *streamWriter) write(p []byte) bool {
	sw.mu.Lock()
	sw.commitLocked()
	sw.writeLocked(p)
	ok := !sw.failed
	sw.mu.Unlock()
	return ok
}

// stop ends keep-alives. It reports whether headers were committed.
func (sw *streamWriter) stop() bool {
	sw.mu.Lock()
	defer sw.mu.Unlock()
	sw.done = true
	sw.timer.Stop()
	return sw.committed
}

func (a *API) serveStream(w http.ResponseWriter, r *http.Request, req *llm.Request, id string, releaseBody func()) {
	ctx := r.Context()
	sw := newStreamWriter(w, a.keepAlive)
	// The keep-alive timer must never touch w after the handler returns, whatever path
	// ends it; stop is idempotent.
	defer sw.stop()
	resp, err := a.pipe.Serve(ctx, req)
	// Past this point nothing reads the request body (failover happens inside Serve), and a
	// stream may last minutes: its buffer serves other requests meanwhile.
	req.Body = nil
	releaseBody()
	if err != nil {
		e := llm.AsError(err)
		switch {
		case clientGone(ctx):
			sw.stop()
			return
		case ctx.Err() != nil:
			e = shutdownError(ctx)
		}
		if !sw.stop() {
			a.writeError(w, e)
			return
		}
		// Keep-alives already committed a 200: the failure goes in-band.
		var b []byte
		b = sse.AppendData(b, appendTerminalChunk(nil, id, "", req.Model, nil, e))
		b = sse.AppendDone(b)
		_, _ = w.Write(b)
		_ = sw.rc.Flush()
		a.metrics.Error(e.Status)
		return
	}
	defer resp.Close()
	sw.mu.Lock()
	routeHeaders(w.Header(), resp)
	sw.mu.Unlock()
	a.relay(ctx, sw, req, resp, id)
}

// flushAt bounds one write of buffered events: a pool buffer of the smallest class may grow
// to twice its size and still be kept.
const flushAt = 6 << 10

// relay copies the upstream's events to the client, rewriting each chunk's id, provider
// and model, and flushing whenever the next event would need another upstream read. It
// ends every stream with [DONE]; a stream that breaks first gets a terminal error chunk
// before it, never a clean end that looks like success.
func (a *API) relay(ctx context.Context, sw *streamWriter, req *llm.Request, resp *llm.Response, id string) {
	// The output buffer is taken from the pool per batch of events and returned after each
	// flush, so a slow stream holds no buffer while it waits for its next token.
	var out *[]byte
	var b []byte
	take := func() {
		if out == nil {
			out = pool.Get()
			b = (*out)[:0]
		}
	}
	give := func() {
		if out != nil {
			*out = b
			pool.Put(out)
			out, b = nil, nil
		}
	}
	defer give()

	head := appendHead(make([]byte, 0, 128), id, resp.Provider, resp.Model)
	a.metrics.StreamStarted()
	var (
		chunks  int64
		created []byte
		sawFin  bool
		fail    *llm.Error
		usage   llm.Usage
	)
	st := resp.Stream
	for {
		ev, err := st.Next()
		if err != nil {
			switch {
			case clientGone(ctx):
				sw.stop()
				a.metrics.StreamEnded(chunks, false)
				a.account(id, req, resp, usage, 499, false)
				return
			case ctx.Err() != nil:
				fail = shutdownError(ctx)
			case err == io.EOF && sawFin:
				// The upstream finished the generation but skipped [DONE]; nothing is lost.
			case err == io.EOF:
				fail = &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: resp.Provider,
					Message: "upstream " + resp.Provider + " closed the stream before the generation finished"}
			default:
				fail = llm.AsError(err)
				if fail.Status == http.StatusInternalServerError {
					fail = &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: resp.Provider,
						Message: "upstream " + resp.Provider + " broke the stream", Raw: err.Error(), Err: err}
				}
			}
			break
		}
		if sse.IsDone(ev) {
			break
		}
		take()
		mark := len(b)
		b = append(b, "data: "...)
		obj := len(b)
		var info objectInfo
		b, info, err = rewriteObject(b, ev, head, !req.IncludeUsage)
		if err != nil {
			b = b[:mark]
			fail = malformedUpstream(resp.Provider, ev, err)
			break
		}
		if info.errObj != nil {
			b = b[:mark]
			fail = inBandError(resp.Provider, info.errObj)
			break
		}
		if created == nil && info.created != nil {
			created = append([]byte(nil), info.created...)
		}
		if info.finish {
			sawFin = true
		}
		if info.usage != nil {
			usage = parseUsage(info.usage)
			if info.noChoices && !req.IncludeUsage {
				b = b[:mark] // the client did not ask for the usage chunk; the node did
				continue
			}
		}
		if bytes.IndexByte(b[obj:], '\n') >= 0 {
			// Pretty-printed upstream JSON: re-frame so each line is a data line.
			frame := append([]byte(nil), b[obj:]...)
			b = sse.AppendData(b[:mark], frame)
		} else {
			b = append(b, '\n', '\n')
		}
		chunks++
		// Flush when the next event needs another read, or before the batch outgrows what
		// the pool takes back (a replayed stream from the cache is all buffered at once).
		if !st.Buffered() || len(b) >= flushAt {
			ok := sw.write(b)
			give()
			if !ok {
				sw.stop()
				a.metrics.StreamEnded(chunks, false)
				a.account(id, req, resp, usage, 499, false)
				return
			}
		}
	}
	if fail != nil {
		// While nothing has been sent the status line is still open, and the client gets a
		// real HTTP error rather than an in-band one.
		if len(b) == 0 && !sw.stop() {
			a.writeError(sw.w, fail)
			a.metrics.StreamEnded(chunks, true)
			a.account(id, req, resp, usage, fail.Status, false)
			return
		}
		take()
		b = sse.AppendData(b, appendTerminalChunk(nil, id, resp.Provider, resp.Model, created, fail))
		a.log.LogAttrs(ctx, slog.LevelWarn, "stream failed", slog.String("id", id), slog.String("provider", resp.Provider),
			slog.Int("status", fail.Status), slog.String("msg", fail.Message), slog.String("raw", fail.Raw))
	}
	take()
	b = sse.AppendDone(b)
	sw.write(b)
	sw.stop()
	a.metrics.StreamEnded(chunks, fail != nil)
	if fail != nil {
		a.metrics.Error(fail.Status)
		a.account(id, req, resp, usage, fail.Status, false)
	} else {
		a.metrics.Response(http.StatusOK)
		a.account(id, req, resp, usage, http.StatusOK, true)
	}
}

// routeHeaders say how the request was routed: the attempt chain, and the parameters the
// serving endpoint does not support and so never saw (OpenRouter drops them silently).
func routeHeaders(h http.Header, resp *llm.Response) {
	if resp.Cache != "" {
		h["X-Crossroads-Cache"] = []string{string(resp.Cache)}
		// OpenRouter's header knows only HIT and MISS; a coalesced answer was not stored
		// when it was asked for, but it cost this caller no upstream call either.
		or := "MISS"
		if resp.Cache.Served() {
			or = "HIT"
		}
		h["X-Openrouter-Cache-Status"] = []string{or}
		if resp.Cache == llm.CacheHit {
			h["Age"] = []string{strconv.FormatInt(int64(resp.Age/time.Second), 10)}
		}
	}
	if resp.Route != "" {
		h["X-Crossroads-Route"] = []string{resp.Route}
	}
	if resp.Dropped != 0 {
		h["X-Crossroads-Dropped-Params"] = []string{string(resp.Dropped.AppendList(nil))}
	}
}
