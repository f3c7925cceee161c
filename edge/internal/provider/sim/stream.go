package sim

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// maxBatch bounds how many bytes of due events one Read generates, so the
// body's buffer stays small however large the caller's buffer is.
const maxBatch = 4096

type phase uint8

const (
	phRole phase = iota
	phReason
	phToolHead
	phToolArgs
	phContent
	phFinish
	phUsage
	phDone
)

// streamBody generates the SSE stream on Read, so a stream costs no
// goroutine and a consumer that stops reading stops generation. Read and
// Close may run concurrently (a client disconnect closes the body under a
// blocked Read); everything but closed and closeCh belongs to Read.
type streamBody struct {
	p       *plan
	ctx     context.Context
	start   time.Time
	paced   bool
	closed  atomic.Bool
	closeCh chan struct{} // wakes a Read blocked on the timer; nil when unpaced
	// timer only runs while Read is blocked on it, so no timer outlives a
	// Read and Close has nothing to stop.
	timer *time.Timer

	head []byte // `data: {"id":...,"choices":[`, shared by every chunk
	buf  []byte // generated, not yet read
	off  int

	phase     phase
	tokens    int // token events sent (and hidden reasoning tokens spent)
	events    int // events sent
	limit     int // events before an injected fault fires; -1 for none
	reason    textGen
	content   textGen
	argPos    int
	fragsSent int
	ended     bool
	endErr    error
}

func (t *Transport) streamResponse(req *http.Request, p *plan) *http.Response {
	b := &streamBody{
		p:       p,
		ctx:     req.Context(),
		start:   time.Now(),
		paced:   !t.noDelay && (p.ttft > 0 || p.interval > 0),
		limit:   -1,
		reason:  newTextGen(p.reasonSeed, p.reasonNat, nil),
		content: newTextGen(p.seed, p.contentNat, p.prefix),
		buf:     make([]byte, 0, maxBatch+512),
	}
	if b.paced {
		b.closeCh = make(chan struct{})
	}
	if !p.showReason {
		// Hidden reasoning still takes the model's time before the answer.
		b.tokens = p.reasonN
	}
	if p.fault == faultCut || p.fault == faultStreamError {
		total := 2 // role, finish
		if p.showReason {
			total += p.reasonN
		}
		if p.toolN > 0 {
			total += p.toolN
		} else {
			total += p.contentN
		}
		if p.includeUsage {
			total++
		}
		b.limit = max(total/2, 1)
	}

	h := make([]byte, 0, 160+len(p.model))
	h = append(h, `data: {"id":"chatcmpl-`...)
	h = appendRandomID(h, 29)
	h = append(h, `","object":"chat.completion.chunk","created":`...)
	h = appendInt(h, time.Now().Unix())
	h = append(h, `,"model":`...)
	h = jsonx.AppendString(h, p.model)
	h = append(h, `,"system_fingerprint":"fp_sim","choices":[`...)
	b.head = h

	return &http.Response{
		Status:     "200 OK",
		StatusCode: http.StatusOK,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header: http.Header{
			"Content-Type":  {"text/event-stream"},
			"Cache-Control": {"no-cache"},
			"X-Request-Id":  {requestID()},
		},
		Body:          b,
		ContentLength: -1,
		Request:       req,
	}
}

func (b *streamBody) Read(p []byte) (int, error) {
	if err := readable(&b.closed, b.ctx); err != nil {
		return 0, err
	}
	if b.off < len(b.buf) {
		n := copy(p, b.buf[b.off:])
		b.off += n
		return n, nil
	}
	if b.ended {
		return 0, b.endErr
	}
	if b.paced {
		if d := time.Until(b.start.Add(b.nextDue())); d > 0 {
			if err := b.wait(d); err != nil {
				return 0, err
			}
		}
	}
	b.buf, b.off = b.buf[:0], 0
	limit := min(len(p), maxBatch)
	for {
		b.buf = b.emit(b.buf)
		if b.ended || len(b.buf) >= limit {
			break
		}
		if b.paced && time.Since(b.start) < b.nextDue() {
			break
		}
	}
	if len(b.buf) == 0 {
		return 0, b.endErr
	}
	n := copy(p, b.buf)
	b.off = n
	return n, nil
}

func (b *streamBody) wait(d time.Duration) error {
	if b.timer == nil {
		b.timer = time.NewTimer(d)
	} else {
		b.timer.Reset(d)
	}
	select {
	case <-b.timer.C:
		return nil
	case <-b.ctx.Done():
		b.timer.Stop()
		return b.ctx.Err()
	case <-b.closeCh:
		b.timer.Stop()
		return errBodyClosed
	}
}

// Close ends the stream: later Reads fail and a blocked Read wakes up.
func (b *streamBody) Close() error {
	if b.closed.CompareAndSwap(false, true) && b.closeCh != nil {
		close(b.closeCh)
	}
	return nil
}

// nextDue is when the next event is scheduled, relative to start. Token i
// is due at TTFT + i intervals; other events ride with the previous token.
func (b *streamBody) nextDue() time.Duration {
	b.settle()
	k := b.tokens
	switch b.phase {
	case phReason, phToolHead, phToolArgs, phContent:
	default:
		k = max(k-1, 0)
	}
	return b.p.ttft + time.Duration(k)*b.p.interval
}

// settle moves phase past stages with nothing left to send.
func (b *streamBody) settle() {
	p := b.p
	for {
		switch b.phase {
		case phReason:
			if p.showReason && b.reason.i < p.reasonN {
				return
			}
			b.phase = phToolHead
		case phToolHead:
			if p.toolN > 0 {
				return
			}
			b.phase = phContent
		case phToolArgs:
			if b.fragsSent < p.toolFrags {
				return
			}
			b.phase = phFinish
		case phContent:
			if p.toolN == 0 && b.content.i < p.contentN {
				return
			}
			b.phase = phFinish
		case phUsage:
			if p.includeUsage {
				return
			}
			b.phase = phDone
		default:
			return
		}
	}
}

// emit appends the next event and advances the stream.
func (b *streamBody) emit(dst []byte) []byte {
	b.settle()
	p := b.p
	if b.events == b.limit {
		b.ended = true
		if p.fault == faultStreamError {
			b.endErr = io.EOF
			return append(dst, streamErrorEvent...)
		}
		b.endErr = io.ErrUnexpectedEOF
		return dst
	}
	b.events++
	switch b.phase {
	case phRole:
		b.phase = phReason
		if p.fault == faultMalformed {
			b.ended, b.endErr = true, io.EOF
			return append(dst, "data: {\"id\":\n\n"...)
		}
		dst = b.open(dst)
		dst = append(dst, `{"role":"assistant","content":""}`...)
		return b.closeChoice(dst, "")
	case phReason:
		b.tokens++
		dst = b.open(dst)
		dst = append(dst, `{"reasoning":"`...)
		dst = b.reason.appendNext(dst)
		dst = append(dst, `"}`...)
		return b.closeChoice(dst, "")
	case phToolHead:
		b.tokens++
		b.phase = phToolArgs
		dst = b.open(dst)
		dst = append(dst, `{"tool_calls":[{"index":0,"id":`...)
		dst = jsonx.AppendString(dst, p.toolID)
		dst = append(dst, `,"type":"function","function":{"name":`...)
		dst = jsonx.AppendString(dst, p.toolName)
		dst = append(dst, `,"arguments":""}}]}`...)
		return b.closeChoice(dst, "")
	case phToolArgs:
		b.tokens++
		b.fragsSent++
		end := nextFragment(p.toolArgs, b.argPos)
		dst = b.open(dst)
		dst = append(dst, `{"tool_calls":[{"index":0,"function":{"arguments":"`...)
		dst = jsonx.AppendStringContent(dst, p.toolArgs[b.argPos:end])
		dst = append(dst, `"}}]}`...)
		b.argPos = end
		return b.closeChoice(dst, "")
	case phContent:
		b.tokens++
		dst = b.open(dst)
		dst = append(dst, `{"content":"`...)
		dst = b.content.appendNext(dst)
		dst = append(dst, `"}`...)
		return b.closeChoice(dst, "")
	case phFinish:
		b.phase = phUsage
		dst = b.open(dst)
		dst = append(dst, `{}`...)
		return b.closeChoice(dst, p.finish)
	case phUsage:
		b.phase = phDone
		dst = append(dst, b.head...)
		dst = append(dst, `],"usage":`...)
		dst = p.appendUsage(dst)
		return append(dst, "}\n\n"...)
	default:
		b.ended, b.endErr = true, io.EOF
		return append(dst, "data: [DONE]\n\n"...)
	}
}

func (b *streamBody) open(dst []byte) []byte {
	dst = append(dst, b.head...)
	return append(dst, `{"index":0,"delta":`...)
}

func (b *streamBody) closeChoice(dst []byte, finish string) []byte {
	dst = append(dst, `,"logprobs":null,"finish_reason":`...)
	if finish == "" {
		dst = append(dst, "null"...)
	} else {
		dst = append(dst, '"')
		dst = append(dst, finish...)
		dst = append(dst, '"')
	}
	dst = append(dst, "}]"...)
	if b.p.includeUsage {
		// With include_usage OpenAI sends "usage":null on every chunk but
		// the last; clients key off its presence.
		dst = append(dst, `,"usage":null`...)
	}
	return append(dst, "}\n\n"...)
}
