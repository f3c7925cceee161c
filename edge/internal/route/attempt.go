package route

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/provider"
	"github.com/crossroads-llm/crossroads/edge/internal/route/health"
	"github.com/crossroads-llm/crossroads/edge/internal/sse"
	"github.com/crossroads-llm/crossroads/edge/internal/telemetry"
)

// served is a winning attempt: the response and the endpoint that produced it.
type served struct {
	*llm.Response
	endpointKey string
}

var (
	errFirstByte = errors.New("route: no first byte within the attempt's deadline")
	errHedgeLost = errors.New("route: another hedged attempt answered first")
)

// outcome is how one attempt ended, for the attempt chain and the final error.
type outcome struct {
	c   *Candidate
	err *llm.Error // nil on success
}

// run tries the candidates one after another.
func (r *Router) run(ctx context.Context, req *llm.Request, cands []Candidate) (served, error) {
	deadline := req.Received.Add(r.total)
	if req.Received.IsZero() {
		deadline = time.Now().Add(r.total)
	}
	var tried []outcome
	for i := range cands {
		c := &cands[i]
		if len(tried) >= r.attempts {
			break
		}
		if !c.Health.Admit(time.Now().UnixNano()) {
			// Half-open with its one probe already out: not this request's turn.
			continue
		}
		if !time.Now().Before(deadline) {
			tried = append(tried, outcome{c, totalTimeout(r.total)})
			break
		}
		resp, err := r.attempt(ctx, req, c, deadline)
		if err == nil {
			return r.win(resp, c, tried), nil
		}
		if ctx.Err() != nil {
			return served{}, ctx.Err()
		}
		e := llm.AsError(err)
		tried = append(tried, outcome{c, e})
		if !retryable(e) {
			break
		}
		r.log.LogAttrs(ctx, slog.LevelDebug, "route: attempt failed, trying the next endpoint",
			slog.String("endpoint", c.Endpoint.Key), slog.Int("status", e.Status), slog.String("msg", e.Message))
	}
	return served{}, r.failure(req, cands, tried)
}

type result struct {
	i    int
	resp *llm.Response
	err  error
}

func (r result) close() {
	if r.err == nil {
		r.resp.Close()
	}
}

// runHedged starts the next candidate when the running one is slow to answer, and keeps
// whichever answers first. At most two attempts run at once; a failure starts the next
// candidate at once, as without hedging.
func (r *Router) runHedged(ctx context.Context, req *llm.Request, cands []Candidate) (served, error) {
	deadline := req.Received.Add(r.total)
	if req.Received.IsZero() {
		deadline = time.Now().Add(r.total)
	}
	results := make(chan result, len(cands))
	// Each attempt has its own context: cancelling the losers must not touch the winner,
	// whose stream lives on that context after this returns.
	cancels := make([]context.CancelCauseFunc, len(cands))
	cancelOthers := func(keep int, cause error) {
		for i, c := range cancels {
			if c != nil && i != keep {
				c(cause)
			}
		}
	}
	running, next, started := 0, 0, 0
	var tried []outcome
	var hedgeTimer *time.Timer
	var hedgeC <-chan time.Time
	start := func() bool {
		for next < len(cands) && started < r.attempts {
			i := next
			next++
			c := &cands[i]
			if !c.Health.Admit(time.Now().UnixNano()) {
				continue
			}
			started++
			running++
			actx, cancel := context.WithCancelCause(ctx)
			cancels[i] = cancel
			go func() {
				resp, err := r.attempt(actx, req, c, deadline)
				results <- result{i, resp, err}
			}()
			if hedgeTimer != nil {
				hedgeTimer.Stop()
			}
			hedgeTimer = time.NewTimer(r.hedgeDelay(c))
			hedgeC = hedgeTimer.C
			return true
		}
		return false
	}
	defer func() {
		if hedgeTimer != nil {
			hedgeTimer.Stop()
		}
	}()
	if !start() {
		return served{}, r.failure(req, cands, tried)
	}
	firstStarted := next - 1
	for running > 0 {
		select {
		case <-hedgeC:
			hedgeC = nil
			if running < 2 && start() {
				r.metrics.Hedge(false)
			}
		case res := <-results:
			running--
			c := &cands[res.i]
			if res.err == nil {
				// The other attempt is cancelled (its upstream sees the connection close) and
				// waited for: it may not have copied the request body yet, and the body's
				// buffer goes back to its pool once this returns. A cancelled attempt ends
				// within a scheduling delay, so the winner hardly waits.
				cancelOthers(res.i, errHedgeLost)
				drain(results, running)
				if started > 1 && res.i != firstStarted {
					r.metrics.Hedge(true)
				}
				return r.win(res.resp, c, tried), nil
			}
			cancels[res.i](nil)
			cancels[res.i] = nil
			if ctx.Err() != nil {
				continue
			}
			e := llm.AsError(res.err)
			tried = append(tried, outcome{c, e})
			if !retryable(e) {
				cancelOthers(-1, res.err)
				drain(results, running)
				return served{}, r.failure(req, cands, tried)
			}
			if running == 0 || hedgeC == nil {
				start()
			}
		}
	}
	cancelOthers(-1, nil)
	if ctx.Err() != nil {
		return served{}, ctx.Err()
	}
	return served{}, r.failure(req, cands, tried)
}

// drain waits for the attempts still running after a hedge was decided, closing any that
// answered anyway.
func drain(results <-chan result, n int) {
	for ; n > 0; n-- {
		(<-results).close()
	}
}

// hedgeDelay is how long the attempt at c may go without a first byte before the next
// candidate starts alongside it.
func (r *Router) hedgeDelay(c *Candidate) time.Duration {
	if r.hedge.Delay > 0 {
		return r.hedge.Delay
	}
	d := c.Health.TTFTQuantile(time.Now().UnixNano(), 0.95)
	if d == 0 {
		return r.hedge.MaxDelay
	}
	return min(max(d, r.hedge.MinDelay), r.hedge.MaxDelay)
}

// win labels a successful response with where it came from.
func (r *Router) win(resp *llm.Response, c *Candidate, tried []outcome) served {
	if len(tried) > 0 {
		r.metrics.Failover()
	}
	resp.Model = c.Model.ID
	resp.Provider = c.Endpoint.ProviderName
	resp.Dropped = c.Drop
	pr := c.Endpoint.Pricing
	resp.Price = llm.Price{Prompt: pr.Prompt, Completion: pr.Completion, Request: pr.Request, CacheRead: pr.InputCacheRead}
	resp.Route = r.routeHeader(tried, c)
	return served{Response: resp, endpointKey: c.Endpoint.Key}
}

// routeHeader renders the attempt chain: "model@tag=status" per attempt, the winner last
// with 200.
func (r *Router) routeHeader(tried []outcome, winner *Candidate) string {
	if len(tried) == 0 {
		return r.routeOK[winner.Endpoint.ID]
	}
	var b strings.Builder
	for _, t := range tried {
		b.WriteString(t.c.Endpoint.Key)
		b.WriteByte('=')
		b.WriteString(strconv.Itoa(t.err.Status))
		b.WriteString(", ")
	}
	b.WriteString(winner.Endpoint.Key)
	b.WriteString("=200")
	return b.String()
}

// failure builds the error a client sees when no attempt succeeded: the last error, with
// every attempt listed in metadata. A run of 429s stays a 429 (with the shortest
// Retry-After), so clients back off rather than treat it as an outage.
func (r *Router) failure(req *llm.Request, cands []Candidate, tried []outcome) error {
	if len(tried) == 0 {
		// Every candidate was refused at attempt time: breakers that opened since the
		// snapshot, or half-open ones whose single probe is already out.
		eps := make([]*catalog.Endpoint, len(cands))
		for i := range cands {
			eps[i] = cands[i].Endpoint
		}
		return r.circuitOpen(eps, time.Now().UnixNano())
	}
	last := *tried[len(tried)-1].err
	all429 := true
	for _, t := range tried {
		if t.err.Status != http.StatusTooManyRequests {
			all429 = false
		} else if t.err.RetryAfter != "" && (last.RetryAfter == "" || shorter(t.err.RetryAfter, last.RetryAfter)) {
			last.RetryAfter = t.err.RetryAfter
		}
		last.Attempts = append(last.Attempts, llm.Attempt{
			Model: t.c.Model.ID, Provider: t.c.Endpoint.ProviderName, Status: t.err.Status, Reason: t.err.Message,
		})
	}
	if all429 {
		last.Status, last.Type = http.StatusTooManyRequests, llm.TypeRateLimit
	}
	if len(tried) > 1 && retryable(&last) {
		last.Message = fmt.Sprintf("all %d attempts failed; the last: %s", len(tried), last.Message)
	}
	return &last
}

func shorter(a, b string) bool {
	x, err1 := strconv.Atoi(a)
	y, err2 := strconv.Atoi(b)
	return err1 == nil && err2 == nil && x < y
}

func totalTimeout(d time.Duration) *llm.Error {
	return &llm.Error{Status: http.StatusRequestTimeout, Type: llm.TypeTimeout,
		Message: fmt.Sprintf("no endpoint answered within the routing total_timeout of %s", d)}
}

// retryable reports whether another endpoint might succeed where this one failed.
func retryable(e *llm.Error) bool {
	return e.Status == http.StatusRequestTimeout || e.Status == http.StatusTooManyRequests || e.Status >= 500
}

// attempt sends req to one candidate and waits for its first byte: the whole body of a
// non-streamed call, the first event of a stream. Until then the attempt can still fail
// over, so a stream's first event is read here and handed on by a wrapper.
func (r *Router) attempt(ctx context.Context, req *llm.Request, c *Candidate, deadline time.Time) (*llm.Response, error) {
	ep, h := c.Endpoint, c.Health
	timeout := min(r.firstByte[ep.ID], time.Until(deadline))
	t := provider.Target{Model: ep.UpstreamID, Drop: c.Drop}
	h.Begin()
	start := time.Now()
	var (
		resp   *llm.Response
		err    error
		first  []byte
		cause  error
		cancel context.CancelCauseFunc
	)
	if req.Stream {
		// The stream lives on after its first event, so the first-byte deadline is a timer
		// that is stopped then, not a deadline on the stream's context.
		var actx context.Context
		actx, cancel = context.WithCancelCause(ctx)
		timer := time.AfterFunc(timeout, func() { cancel(errFirstByte) })
		resp, err = r.adapters[ep.ID].Chat(actx, req, t)
		if err == nil {
			if first, err = firstEvent(resp.Stream, ep.ProviderName); err != nil {
				resp.Close()
			}
		}
		if err == nil && !timer.Stop() {
			// The deadline fired as the answer arrived: the stream is already being torn down.
			resp.Close()
			err = errFirstByte
		}
		if err != nil {
			timer.Stop()
			cause = context.Cause(actx)
			cancel(nil)
		}
	} else {
		// A non-streamed answer's first byte is its whole body: the adapter's own deadline
		// is the first-byte deadline, and no timer of ours is needed.
		t.Timeout = timeout
		resp, err = r.adapters[ep.ID].Chat(ctx, req, t)
		if err == nil {
			if err = bodyError(resp.Body, ep.ProviderName); err != nil {
				resp.Close()
			}
		}
		cause = context.Cause(ctx)
	}
	if err != nil {
		return nil, r.failed(ctx, h, ep, err, cause, timeout)
	}
	ttft := time.Since(start)
	h.FirstByte(time.Now().UnixNano(), ttft)
	r.metrics.Attempt(telemetry.AttemptOK)
	if resp.Stream == nil {
		// Throughput needs the generation's duration apart from its first byte, which a
		// non-streamed answer does not show; its attempt is over once the body is read.
		h.End()
		return resp, nil
	}
	resp.Stream = &peeked{Stream: resp.Stream, first: first, h: h, cancel: cancel, firstAt: time.Now()}
	return resp, nil
}

// failed records a failed attempt in the endpoint's health and metrics and returns the
// error the router reasons about.
func (r *Router) failed(ctx context.Context, h *health.Endpoint, ep *catalog.Endpoint, err, cause error, timeout time.Duration) error {
	if ctx.Err() != nil || errors.Is(cause, errHedgeLost) {
		// The client left, or a hedged sibling won: nothing about the endpoint's health.
		h.ReleaseProbe()
		h.End()
		r.metrics.Attempt(telemetry.AttemptCancelled)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return &llm.Error{Status: 499, Type: llm.TypeUpstream, Message: "cancelled: " + errHedgeLost.Error(), Err: cause}
	}
	if errors.Is(cause, errFirstByte) || errors.Is(err, errFirstByte) {
		err = &llm.Error{Status: http.StatusRequestTimeout, Type: llm.TypeTimeout, Provider: ep.ProviderName,
			Message: fmt.Sprintf("upstream %s sent nothing within %s", ep.ProviderName, timeout.Round(time.Millisecond))}
	}
	e := llm.AsError(err)
	now := time.Now().UnixNano()
	switch {
	case e.Status == http.StatusTooManyRequests:
		h.Fail(now, health.RateLimited, retryAfter(e.RetryAfter))
		r.metrics.Attempt(telemetry.AttemptRateLimited)
	case e.Status == http.StatusRequestTimeout:
		h.Fail(now, health.Failure, 0)
		r.metrics.Attempt(telemetry.AttemptTimeout)
	case retryable(e):
		h.Fail(now, health.Failure, 0)
		r.metrics.Attempt(telemetry.AttemptFailed)
	default:
		h.Fail(now, health.ClientError, 0)
		r.metrics.Attempt(telemetry.AttemptClientError)
	}
	h.End()
	return e
}

func retryAfter(v string) time.Duration {
	if s, err := strconv.Atoi(strings.TrimSpace(v)); err == nil && s > 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return time.Until(t)
	}
	return 0
}

// firstEvent reads a stream's first event. A stream that ends or fails before its first
// chunk, or whose first chunk is an error, failed as a whole: nothing reached the client,
// so the next endpoint can still serve it.
func firstEvent(st llm.Stream, provider string) ([]byte, error) {
	ev, err := st.Next()
	if err == io.EOF || (err == nil && sse.IsDone(ev)) {
		return nil, &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: provider,
			Message: "upstream " + provider + " ended the stream without a single chunk"}
	}
	if err != nil {
		return nil, err
	}
	if e := inBandError(ev, provider); e != nil {
		return nil, e
	}
	return ev, nil
}

// bodyError recognises a non-streamed 200 that is no answer: an error object without
// choices, or no choices at all. Both deserve the next endpoint rather than a client
// that parses an "empty success".
func bodyError(body []byte, provider string) error {
	// Nearly every body is a plain answer; substring searches run an order of magnitude
	// faster than a validating walk, so the walk is kept for bodies that might be bad: an
	// error, no or empty choices, or a truncated body (the usual malformation; the HTTP
	// layer still rejects any other as a 502, only without failover). `"error"` with its
	// quotes cannot occur inside a JSON string's content, where quotes are escaped, so
	// generated text about errors does not trigger the walk.
	if endsObject(body) && bytes.Contains(body, choicesKey) && !bytes.Contains(body, errorKey) && !bytes.Contains(body, emptyChoices) {
		return nil
	}
	var errObj, choices []byte
	it := jsonx.Object(body)
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("error"):
			if jsonx.KindOfValue(m.Value) == jsonx.KindObject {
				errObj = m.Value
			}
		case m.KeyIs("choices"):
			choices = m.Value
		}
	}
	if err := it.Err(); err != nil {
		// Nothing reached the client yet, so a broken body is one more reason to try the
		// next endpoint rather than hand the client garbage.
		return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: provider,
			Message: "upstream " + provider + " sent a malformed response", Raw: truncate(body, 512), Err: err}
	}
	if len(choices) > 0 && jsonx.KindOfValue(choices) == jsonx.KindArray && string(choices) != "[]" && !isEmptyArray(choices) {
		return nil
	}
	if errObj != nil {
		return inBandError([]byte(`{"error":`+string(errObj)+`}`), provider)
	}
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: provider,
		Message: "upstream " + provider + " answered without any choices"}
}

func endsObject(b []byte) bool {
	b = bytes.TrimRight(b, " \t\r\n")
	return len(b) > 0 && b[len(b)-1] == '}'
}

func truncate(b []byte, n int) string {
	if len(b) > n {
		return string(b[:n])
	}
	return string(b)
}

func isEmptyArray(v []byte) bool {
	it := jsonx.Array(v)
	return !it.Next()
}

// inBandError recognises a chunk that is an error object ({"error":{...}}), as providers
// send when they fail after answering 200.
func inBandError(ev []byte, provider string) *llm.Error {
	if !bytes.Contains(ev, []byte(`"error"`)) {
		return nil
	}
	it := jsonx.Object(ev)
	for it.Next() {
		m := it.Member()
		if !m.KeyIs("error") || jsonx.KindOfValue(m.Value) != jsonx.KindObject {
			continue
		}
		e := &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeUpstream, Provider: provider,
			Message: "upstream " + provider + " reported an error", Raw: string(m.Value)}
		inner := jsonx.Object(m.Value)
		for inner.Next() {
			im := inner.Member()
			switch {
			case im.KeyIs("code"):
				if n, ok := jsonx.ParseInt(im.Value); ok && n == http.StatusTooManyRequests {
					e.Status, e.Type = http.StatusTooManyRequests, llm.TypeRateLimit
				}
			case im.KeyIs("message"):
				if s, ok := jsonx.Unquote(im.Value); ok {
					e.Raw = s
				}
			}
		}
		return e
	}
	return nil
}

// completionTokens reads usage.completion_tokens from a chunk or a completion, 0 if absent.
func completionTokens(obj []byte) int64 {
	it := jsonx.Object(obj)
	for it.Next() {
		m := it.Member()
		if !m.KeyIs("usage") || jsonx.KindOfValue(m.Value) != jsonx.KindObject {
			continue
		}
		u := jsonx.Object(m.Value)
		for u.Next() {
			if um := u.Member(); um.KeyIs("completion_tokens") {
				n, _ := jsonx.ParseInt(um.Value)
				return n
			}
		}
	}
	return 0
}

// peeked hands on a stream whose first event the router already read, watches the rest
// for the usage that measures the endpoint's throughput, and reports the attempt's end to
// the endpoint's health when the stream is closed.
type peeked struct {
	llm.Stream
	first   []byte
	h       *health.Endpoint
	cancel  context.CancelCauseFunc
	firstAt time.Time
	tokens  int64
	done    bool // the generation completed: only complete ones count toward throughput
	ended   bool
}

var (
	// Chunks carry "usage":null until the last; only a chunk with token counts is parsed.
	usageKey     = []byte(`"completion_tokens"`)
	choicesKey   = []byte(`"choices"`)
	errorKey     = []byte(`"error"`)
	emptyChoices = []byte(`"choices":[]`)
)

func (p *peeked) Next() ([]byte, error) {
	if p.first != nil {
		ev := p.first
		p.first = nil
		p.observe(ev)
		return ev, nil
	}
	ev, err := p.Stream.Next()
	if err != nil {
		return ev, err
	}
	if sse.IsDone(ev) {
		p.done = true
		return ev, nil
	}
	p.observe(ev)
	return ev, nil
}

func (p *peeked) observe(ev []byte) {
	if bytes.Contains(ev, usageKey) {
		if n := completionTokens(ev); n > 0 {
			p.tokens = n
		}
	}
}

func (p *peeked) Buffered() bool { return p.first != nil || p.Stream.Buffered() }

// Close is called once by the stream's one user (llm.Stream's contract), so ended needs
// no synchronisation; it only guards against a second Close.
func (p *peeked) Close() error {
	err := p.Stream.Close()
	if !p.ended {
		p.ended = true
		if p.done {
			p.h.Done(time.Now().UnixNano(), time.Since(p.firstAt), p.tokens)
		}
		p.h.End()
		p.cancel(nil)
	}
	return err
}
