package extension

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
	"github.com/crossroads-llm/crossroads/edge/internal/pipeline"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

// transform is one transform plugin bound to models.
type transform struct {
	p          *Plugin
	models     []string
	failClosed bool
}

// Reparse validates a rewritten body and summarises it as the HTTP layer would have: a
// request transform may change anything, the model included, and every later stage reads
// the summary, not the body.
type Reparse func(ctx context.Context, body []byte, prev *llm.Request) (*llm.Request, error)

// Transforms is the pipeline stage that runs the set's transform plugins: hook_request in
// declaration order before routing, hook_response and hook_stream in reverse order on the
// way back. With no transform plugins it is not in the chain at all.
func (s *Set) Transforms(reparse Reparse) pipeline.Middleware {
	if len(s.transforms) == 0 {
		return nil
	}
	return func(next pipeline.Handler) pipeline.Handler {
		return &transformStage{s: s, next: next, reparse: reparse}
	}
}

type transformStage struct {
	s       *Set
	next    pipeline.Handler
	reparse Reparse
}

func (t *transformStage) Serve(ctx context.Context, req *llm.Request) (*llm.Response, error) {
	var active [8]*transform
	ts := active[:0]
	for _, tr := range t.s.transforms {
		if matchModel(tr.models, req.Model) {
			ts = append(ts, tr)
		}
	}
	if len(ts) == 0 {
		return t.next.Serve(ctx, req)
	}
	for _, tr := range ts {
		if !tr.p.Has(wasmhost.HookRequest) {
			continue
		}
		out, ok, err := tr.p.Call(ctx, wasmhost.HookRequest, req.Body)
		if err == nil && ok {
			if e, refused := refusal(out); refused {
				// A deliberate refusal is the plugin's verdict on the request, not a failure.
				return nil, e
			}
			// Each rewrite is validated like a client's body before the next plugin sees it,
			// so a broken rewrite is blamed on the plugin that made it.
			var r2 *llm.Request
			if r2, err = t.reparse(ctx, out, req); err == nil {
				req = r2
			}
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			if ferr := t.failed(ctx, tr, wasmhost.HookRequest, err); ferr != nil {
				return nil, ferr
			}
		}
	}
	resp, err := t.next.Serve(ctx, req)
	if err != nil {
		return nil, err
	}
	for i := len(ts) - 1; i >= 0; i-- {
		tr := ts[i]
		switch {
		case resp.Stream != nil && tr.p.Has(wasmhost.HookStream):
			resp.Stream = &transformStream{ctx: ctx, tr: tr, log: t.s.log, in: resp.Stream, state: []byte(`""`)}
		case resp.Stream == nil && tr.p.Has(wasmhost.HookResponse):
			out, ok, err := tr.p.Call(ctx, wasmhost.HookResponse, resp.Body)
			if err == nil && ok && (jsonx.KindOfValue(out) != jsonx.KindObject || !jsonx.Valid(out)) {
				err = errors.New("answered something that is not a JSON object")
			}
			if err != nil {
				if ferr := t.failed(ctx, tr, wasmhost.HookResponse, err); ferr != nil {
					resp.Close()
					return nil, ferr
				}
				continue
			}
			if ok {
				if resp.Release != nil {
					resp.Release()
					resp.Release = nil
				}
				resp.Body = out
			}
		}
	}
	return resp, nil
}

// failed applies a transform's failure policy: fail open logs, counts and keeps the body;
// fail closed turns the failure into the client's 502.
func (t *transformStage) failed(ctx context.Context, tr *transform, hook string, err error) error {
	tr.p.fail(hook)
	policy := "open: the body is kept"
	if tr.failClosed {
		policy = "closed: the request fails"
	}
	t.s.log.LogAttrs(ctx, slog.LevelWarn, "extension: transform plugin failed; fail "+policy,
		slog.String("plugin", tr.p.Name()), slog.String("hook", hook), slog.Any("err", err))
	if !tr.failClosed {
		return nil
	}
	return &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeServer,
		Message: "transform plugin " + tr.p.Name() + " failed and is configured to fail closed", Err: err}
}

// transformStream runs hook_stream over each upstream read's batch of chunks and
// hook_stream_end before [DONE]. Its policy on failure is to pass events through: once a
// call fails the plugin's state is lost, so the rest of the stream passes unchanged.
type transformStream struct {
	ctx   context.Context
	tr    *transform
	log   *slog.Logger
	in    llm.Stream
	state []byte
	input []byte   // the call's JSON input
	orig  []byte   // the batch's events as read, for passing through
	offs  []int    // event boundaries in orig
	queue [][]byte // events to hand out, then possibly [DONE]
	off   bool     // disabled after a failure
	end   bool     // [DONE] is queued or the stream has ended
	err   error
}

var done = []byte("[DONE]")

func (s *transformStream) Next() ([]byte, error) {
	for len(s.queue) == 0 {
		if s.err != nil {
			return nil, s.err
		}
		if s.end {
			return nil, io.EOF
		}
		if s.off {
			b, err := s.in.Next()
			if err != nil {
				return nil, err
			}
			return b, nil
		}
		s.batch()
	}
	b := s.queue[0]
	s.queue = s.queue[1:]
	return b, nil
}

func (s *transformStream) batch() {
	s.orig, s.offs, s.queue = s.orig[:0], s.offs[:0], s.queue[:0]
	sawDone := false
	for {
		b, err := s.in.Next()
		if err != nil {
			s.err = err
			break
		}
		if string(b) == "[DONE]" {
			sawDone = true
			break
		}
		s.orig = append(s.orig, b...)
		s.offs = append(s.offs, len(s.orig))
		if !s.in.Buffered() {
			break
		}
	}
	if len(s.offs) > 0 {
		s.call(wasmhost.HookStream)
	}
	if sawDone {
		if !s.off && s.tr.p.Has(wasmhost.HookStreamEnd) {
			s.offs = s.offs[:0]
			s.call(wasmhost.HookStreamEnd)
		}
		s.queue = append(s.queue, done)
		s.end = true
	}
}

func (s *transformStream) passThrough() {
	start := 0
	for _, end := range s.offs {
		s.queue = append(s.queue, s.orig[start:end])
		start = end
	}
}

// call runs hook on the events in orig and queues what it returns; on failure, or when the
// plugin leaves them unchanged, the events themselves are queued.
func (s *transformStream) call(hook string) {
	in := append(s.input[:0], `{"state":`...)
	in = append(in, s.state...)
	in = append(in, `,"events":[`...)
	start := 0
	for i, end := range s.offs {
		if i > 0 {
			in = append(in, ',')
		}
		in = append(in, `{"event":"","data":`...)
		in = appendBytesString(in, s.orig[start:end])
		in = append(in, '}')
		start = end
	}
	in = append(in, "]}"...)
	s.input = in
	out, ok, err := s.tr.p.Call(s.ctx, hook, in)
	if err == nil && ok {
		err = s.apply(out)
	}
	if err != nil {
		s.tr.p.fail(hook)
		s.log.Warn("extension: stream plugin failed; events pass through unchanged",
			slog.String("plugin", s.tr.p.Name()), slog.String("hook", hook), slog.Any("err", err))
		s.off = true
	}
	if err != nil || !ok {
		s.passThrough()
	}
}

// apply reads {"state": "...", "events": [{"event","data"}]}.
func (s *transformStream) apply(out []byte) error {
	var events []byte
	it := jsonx.Object(out)
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("state"):
			if jsonx.KindOfValue(m.Value) != jsonx.KindString {
				return errors.New("state is not a string")
			}
			s.state = append(s.state[:0], m.Value...)
		case m.KeyIs("events"):
			if jsonx.KindOfValue(m.Value) != jsonx.KindArray {
				return errors.New("events is not an array")
			}
			events = m.Value
		}
	}
	if err := it.Err(); err != nil {
		return err
	}
	// A fresh buffer: events queued from an earlier call of this batch point into the old one.
	buf := make([]byte, 0, len(events))
	var ends []int
	es := jsonx.Array(events)
	for es.Next() {
		ev := jsonx.Object(es.Value())
		found := false
		for ev.Next() {
			if m := ev.Member(); m.KeyIs("data") {
				var ok bool
				buf, ok = jsonx.UnquoteBytes(buf, m.Value)
				if !ok {
					return errors.New("an event's data is not a string")
				}
				found = true
			}
		}
		if ev.Err() != nil || !found {
			return errors.New("an event is not {\"data\": string}")
		}
		ends = append(ends, len(buf))
	}
	if es.Err() != nil {
		return es.Err()
	}
	start := 0
	for _, end := range ends {
		s.queue = append(s.queue, buf[start:end:end])
		start = end
	}
	return nil
}

func (s *transformStream) Buffered() bool {
	return len(s.queue) > 0 || s.err != nil || s.in.Buffered()
}

func (s *transformStream) Close() error { return s.in.Close() }
