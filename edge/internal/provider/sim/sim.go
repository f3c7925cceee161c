package sim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// Config sets the pacing of the realistic models. Zero values take the
// defaults; negative TTFT or TokensPerSecond mean no delay at all.
type Config struct {
	TTFT            time.Duration // time to first token (default 250ms)
	TokensPerSecond float64       // default 60
	MaxTokens       int           // natural completion length (default: 24..96 from the prompt hash)
}

// Transport is an http.RoundTripper that answers as an OpenAI-compatible
// server would. It holds no per-request state and is safe for concurrent use.
type Transport struct {
	ttft      time.Duration
	interval  time.Duration
	maxTokens int

	// noDelay turns every wait into an immediate one; fuzzing needs it so
	// that inputs asking for an hour of TTFT do not stall the fuzzer.
	noDelay bool
}

// maxRequestBody bounds what one request may make us hold in memory.
const maxRequestBody = 32 << 20

// New returns a Transport with cfg's defaults filled in.
func New(cfg Config) *Transport {
	t := &Transport{ttft: 250 * time.Millisecond, interval: time.Second / 60, maxTokens: cfg.MaxTokens}
	switch {
	case cfg.TTFT > 0:
		t.ttft = cfg.TTFT
	case cfg.TTFT < 0:
		t.ttft = 0
	}
	switch {
	case cfg.TokensPerSecond > 0:
		t.interval = intervalFor(cfg.TokensPerSecond)
	case cfg.TokensPerSecond < 0:
		t.interval = 0
	}
	return t
}

// RoundTrip serves req in process. Like any RoundTripper it consumes and
// closes the request body, and only returns an error when there is no
// response at all: a hung upstream (context ended) or an unreadable body.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	body, err := drainBody(req)
	if err != nil {
		return nil, err
	}
	if req.URL == nil {
		return nil, errors.New("sim: round trip: request has no URL")
	}
	ctx := req.Context()
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("sim: round trip: %w", err)
	}
	if len(body) > maxRequestBody {
		e := invalidRequest("", "", fmt.Sprintf("Request body too large: the limit is %d bytes.", maxRequestBody))
		e.status = http.StatusRequestEntityTooLarge
		return e.response(req), nil
	}

	path := strings.TrimSuffix(req.URL.Path, "/")
	switch {
	case strings.HasSuffix(path, "/chat/completions") || path == "chat/completions":
		if req.Method != http.MethodPost {
			return invalidURL(req), nil
		}
		return t.chat(req, body)
	case req.Method == http.MethodGet && (strings.HasSuffix(path, "/models") || path == "models"):
		return modelsResponse(req), nil
	case req.Method == http.MethodGet:
		if i := strings.LastIndex(path, "/models/"); i >= 0 {
			id := path[i+len("/models/"):]
			if j := strings.Index(path, "/models/sim/"); j >= 0 {
				id = path[j+len("/models/"):]
			}
			return modelResponse(req, id), nil
		}
	}
	return invalidURL(req), nil
}

func (t *Transport) chat(req *http.Request, body []byte) (*http.Response, error) {
	p, aerr := t.buildPlan(body)
	if aerr != nil {
		return aerr.response(req), nil
	}
	ctx := req.Context()
	if p.fault == faultTimeout {
		// A hung upstream: nothing comes back until the caller gives up.
		<-ctx.Done()
		return nil, fmt.Errorf("sim: await response: %w", ctx.Err())
	}
	if p.stream {
		return t.streamResponse(req, p), nil
	}
	// A real server sends a non-stream answer only once it is complete.
	if d := p.duration(); d > 0 && !t.noDelay {
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-ctx.Done():
			timer.Stop()
			return nil, fmt.Errorf("sim: await response: %w", ctx.Err())
		}
	}
	return nonStreamResponse(req, p), nil
}

// drainBody reads and closes the request body, as the RoundTripper contract
// requires even when the request turns out to be rejected.
func drainBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, nil
	}
	defer req.Body.Close()
	size := 512
	if req.ContentLength > 0 && req.ContentLength <= maxRequestBody {
		size = int(req.ContentLength) + 1 // +1 so the final Read sees EOF without growing
	}
	buf := make([]byte, 0, size)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := req.Body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return nil, fmt.Errorf("sim: read request body: %w", err)
		}
		if len(buf) > maxRequestBody {
			// Stop reading; the caller answers 413.
			return buf, nil
		}
	}
}

// nonStreamResponse writes the complete chat.completion object.
func nonStreamResponse(req *http.Request, p *plan) *http.Response {
	size := 512 + 8*(p.reasonN+p.contentN) + len(p.toolArgs) + 2*len(p.model)
	for _, s := range p.prefix {
		size += len(s)
	}
	b := make([]byte, 0, size)
	b = append(b, `{"id":"chatcmpl-`...)
	b = appendRandomID(b, 29)
	b = append(b, `","object":"chat.completion","created":`...)
	b = appendInt(b, time.Now().Unix())
	b = append(b, `,"model":`...)
	b = jsonx.AppendString(b, p.model)
	b = append(b, `,"choices":[{"index":0,"message":{"role":"assistant","content":`...)
	if p.toolN > 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		g := newTextGen(p.seed, p.contentNat, p.prefix)
		for range p.contentN {
			b = g.appendNext(b)
		}
		b = append(b, '"')
	}
	b = append(b, `,"refusal":null`...)
	if p.showReason && p.reasonN > 0 {
		b = append(b, `,"reasoning":"`...)
		g := newTextGen(p.reasonSeed, p.reasonNat, nil)
		for range p.reasonN {
			b = g.appendNext(b)
		}
		b = append(b, '"')
	}
	if p.toolN > 0 {
		b = append(b, `,"tool_calls":[{"id":`...)
		b = jsonx.AppendString(b, p.toolID)
		b = append(b, `,"type":"function","function":{"name":`...)
		b = jsonx.AppendString(b, p.toolName)
		b = append(b, `,"arguments":`...)
		b = jsonx.AppendString(b, p.toolArgs[:p.argsEnd()])
		b = append(b, "}}]"...)
	}
	b = append(b, `},"logprobs":null,"finish_reason":"`...)
	b = append(b, p.finish...)
	b = append(b, `"}],"usage":`...)
	b = p.appendUsage(b)
	b = append(b, `,"system_fingerprint":"fp_sim"}`...)

	switch p.fault {
	case faultMalformed:
		// Valid HTTP, broken JSON: what a crashing proxy in front of a
		// provider produces.
		b = b[:len(b)/2]
	case faultCut:
		resp := jsonResponse(req, http.StatusOK, b[:len(b)/2], nil)
		resp.ContentLength = int64(len(b))
		resp.Body.(*bytesBody).endErr = io.ErrUnexpectedEOF
		return resp
	case faultStreamError:
		// Mid-generation failure without a stream to carry it in band.
		return serverError().response(req)
	}
	return jsonResponse(req, http.StatusOK, b, nil)
}

// argsEnd is the byte length of the arguments actually generated, which is
// shorter than toolArgs when max_tokens cut the call.
func (p *plan) argsEnd() int {
	end := 0
	for range p.toolFrags {
		end = nextFragment(p.toolArgs, end)
	}
	return end
}

func (p *plan) appendUsage(b []byte) []byte {
	c := p.completionTokens()
	b = append(b, `{"prompt_tokens":`...)
	b = appendInt(b, int64(p.promptTokens))
	b = append(b, `,"completion_tokens":`...)
	b = appendInt(b, int64(c))
	b = append(b, `,"total_tokens":`...)
	b = appendInt(b, int64(p.promptTokens+c))
	b = append(b, `,"prompt_tokens_details":{"cached_tokens":0},"completion_tokens_details":{"reasoning_tokens":`...)
	b = appendInt(b, int64(p.reasonN))
	return append(b, "}}"...)
}

// bytesBody is a complete response body. It still honours the request
// context and Close, as a network body would.
type bytesBody struct {
	data   []byte
	off    int
	ctx    context.Context
	closed atomic.Bool
	endErr error // returned after data instead of io.EOF
}

func (b *bytesBody) Read(p []byte) (int, error) {
	if err := readable(&b.closed, b.ctx); err != nil {
		return 0, err
	}
	if b.off >= len(b.data) {
		if b.endErr != nil {
			return 0, b.endErr
		}
		return 0, io.EOF
	}
	n := copy(p, b.data[b.off:])
	b.off += n
	return n, nil
}

func (b *bytesBody) Close() error {
	b.closed.Store(true)
	return nil
}

var errBodyClosed = errors.New("sim: read: response body closed")

// readable is the check both response bodies make before every Read: a closed body, or a
// cancelled request, ends reading at once. The context's own error is returned unwrapped, as
// net/http does, because callers compare it with context.Canceled.
func readable(closed *atomic.Bool, ctx context.Context) error {
	if closed.Load() {
		return errBodyClosed
	}
	if done := ctx.Done(); done != nil {
		select {
		case <-done:
			return ctx.Err()
		default:
		}
	}
	return nil
}

func appendInt(b []byte, v int64) []byte { return strconv.AppendInt(b, v, 10) }

// intervalFor converts a token rate to the gap between tokens, bounded so
// that absurdly small rates cannot overflow a Duration.
func intervalFor(tps float64) time.Duration {
	iv := float64(time.Second) / tps
	if iv > float64(maxInterval) || iv != iv {
		return maxInterval
	}
	return time.Duration(iv)
}
