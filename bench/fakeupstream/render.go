package fakeupstream

import (
	"encoding/json"
	"math/rand/v2"
	"strconv"
)

// Response bytes are built once per (model, shape) as templates: literal byte
// runs separated by holes for the few values that change per request. A hole
// is written into the template source as a NUL byte followed by a letter;
// encoding/json escapes control characters, so a NUL can never come from a
// quoted value.
const (
	holeID      = 'I' // random part of the completion id
	holeCreated = 'C' // unix seconds
	holePrompt  = 'P' // prompt_tokens
	holeTotal   = 'T' // total_tokens
)

type part struct {
	lit  []byte
	hole byte // 0 after the last literal
}

type tmpl []part

// vals are the per-request values spliced into a template.
type vals struct {
	id      [idLen]byte
	created int64
	prompt  int
	total   int
}

const idLen = 24

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

// newID fills id from the runtime's per-P generator: no lock, no allocation,
// and unique enough that caches and loggers downstream never see a repeat.
func newID(id *[idLen]byte) {
	var x uint64
	for i := range id {
		if i%10 == 0 {
			x = rand.Uint64()
		}
		id[i] = idAlphabet[x%uint64(len(idAlphabet))]
		x /= uint64(len(idAlphabet))
	}
}

func compile(src []byte) tmpl {
	var t tmpl
	start := 0
	for i := 0; i < len(src); i++ {
		if src[i] == 0 && i+1 < len(src) {
			t = append(t, part{lit: src[start:i:i], hole: src[i+1]})
			i++
			start = i + 1
		}
	}
	return append(t, part{lit: src[start:len(src):len(src)]})
}

func (t tmpl) appendTo(dst []byte, v *vals) []byte {
	for i := range t {
		p := &t[i]
		dst = append(dst, p.lit...)
		switch p.hole {
		case holeID:
			dst = append(dst, v.id[:]...)
		case holeCreated:
			dst = strconv.AppendInt(dst, v.created, 10)
		case holePrompt:
			dst = strconv.AppendInt(dst, int64(v.prompt), 10)
		case holeTotal:
			dst = strconv.AppendInt(dst, int64(v.total), 10)
		}
	}
	return dst
}

// src accumulates template source.
type src []byte

func (s src) raw(x string) src { return append(s, x...) }
func (s src) hole(h byte) src  { return append(s, 0, h) }

func (s src) quote(x string) src {
	b, err := json.Marshal(x)
	if err != nil { // cannot happen for a Go string
		panic("fakeupstream: quote: " + err.Error())
	}
	return append(s, b...)
}

// shapeKey names one precomputed response shape.
type shapeKey struct {
	model    string
	toolName string // "" = text answer
	chunks   int
	size     int
	stream   bool
	usage    bool // stream_options.include_usage
}

// shape is everything needed to answer one shapeKey.
type shape struct {
	body tmpl // non-stream: whole JSON body

	// stream events, each a complete "data: ...\n\n" frame
	first   tmpl   // role (and, for tool calls, the call header)
	content []tmpl // one per chunk
	finish  tmpl
	usageEv tmpl // nil unless include_usage
}

var (
	doneEvent       = []byte("data: [DONE]\n\n")
	malformedEvent  = []byte("data: {\"id\":\n\n")
	streamErrorBody = `{"error":{"message":"The server had an error while processing your request. Sorry about that!","type":"server_error","param":null,"code":null}}`
	streamErrEvent  = []byte("data: " + streamErrorBody + "\n\n")
)

const lorem = "Crossroads routes every request to the nearest healthy provider, answers repeated prompts from its cache, " +
	"and meters each token against the caller's credits. The quick brown fox jumps over the lazy dog while the " +
	"router keeps the stream flowing one token at a time, flushing after every event so that nothing waits in a buffer. "

func text(n int) string {
	b := make([]byte, 0, n+len(lorem))
	for len(b) < n {
		b = append(b, lorem...)
	}
	return string(b[:n])
}

// split cuts s into n pieces of near-equal byte length; the text is ASCII, so
// any byte boundary is a valid UTF-8 boundary.
func split(s string, n int) []string {
	out := make([]string, n)
	for i := range n {
		out[i] = s[i*len(s)/n : (i+1)*len(s)/n]
	}
	return out
}

func usageJSON(s src, completion int) src {
	s = s.raw(`{"prompt_tokens":`).hole(holePrompt).
		raw(`,"completion_tokens":` + strconv.Itoa(completion)).
		raw(`,"total_tokens":`).hole(holeTotal).
		raw(`,"prompt_tokens_details":{"cached_tokens":0,"audio_tokens":0},"completion_tokens_details":{"reasoning_tokens":0,"audio_tokens":0,"accepted_prediction_tokens":0,"rejected_prediction_tokens":0}}`)
	return s
}

func toolArguments(size, chunks int) string {
	const head = `{"location":"Paris, France","unit":"celsius","notes":"`
	n := max(size-len(head)-2, chunks, 8)
	return head + text(n) + `"}`
}

func buildShape(k shapeKey) *shape {
	sh := &shape{}
	size := max(k.size, k.chunks, 1)
	completion := max(k.chunks, 1)

	if !k.stream {
		s := src(nil).raw(`{"id":"chatcmpl-`).hole(holeID).
			raw(`","object":"chat.completion","created":`).hole(holeCreated).
			raw(`,"model":`).quote(k.model).
			raw(`,"choices":[{"index":0,"message":`)
		finish := "stop"
		if k.toolName != "" {
			s = s.raw(`{"role":"assistant","content":null,"tool_calls":[{"id":"call_`).hole(holeID).
				raw(`","type":"function","function":{"name":`).quote(k.toolName).
				raw(`,"arguments":`).quote(toolArguments(size, k.chunks)).
				raw(`}}],"refusal":null,"annotations":[]}`)
			finish = "tool_calls"
		} else {
			s = s.raw(`{"role":"assistant","content":`).quote(text(size)).raw(`,"refusal":null,"annotations":[]}`)
		}
		s = s.raw(`,"logprobs":null,"finish_reason":"` + finish + `"}],"usage":`)
		s = usageJSON(s, completion)
		s = s.raw(`,"service_tier":"default","system_fingerprint":"fp_fake"}`)
		sh.body = compile(s)
		return sh
	}

	head := src(nil).raw(`data: {"id":"chatcmpl-`).hole(holeID).
		raw(`","object":"chat.completion.chunk","created":`).hole(holeCreated).
		raw(`,"model":`).quote(k.model).
		raw(`,"service_tier":"default","system_fingerprint":"fp_fake","choices":`)
	tail := "}\n\n"
	if k.usage {
		tail = `,"usage":null}` + "\n\n"
	}
	event := func(choice func(src) src) tmpl {
		s := append(src(nil), head...)
		s = s.raw(`[{"index":0,"delta":`)
		s = choice(s)
		s = s.raw(`}]`).raw(tail)
		return compile(s)
	}

	var pieces []string
	finish := "stop"
	if k.toolName != "" {
		finish = "tool_calls"
		pieces = split(toolArguments(size, k.chunks), k.chunks)
		sh.first = event(func(s src) src {
			return s.raw(`{"role":"assistant","content":null,"tool_calls":[{"index":0,"id":"call_`).hole(holeID).
				raw(`","type":"function","function":{"name":`).quote(k.toolName).
				raw(`,"arguments":""}}],"refusal":null},"logprobs":null,"finish_reason":null`)
		})
		for _, p := range pieces {
			sh.content = append(sh.content, event(func(s src) src {
				return s.raw(`{"tool_calls":[{"index":0,"function":{"arguments":`).quote(p).
					raw(`}}]},"logprobs":null,"finish_reason":null`)
			}))
		}
	} else {
		pieces = split(text(size), k.chunks)
		sh.first = event(func(s src) src {
			return s.raw(`{"role":"assistant","content":"","refusal":null},"logprobs":null,"finish_reason":null`)
		})
		for _, p := range pieces {
			sh.content = append(sh.content, event(func(s src) src {
				return s.raw(`{"content":`).quote(p).raw(`},"logprobs":null,"finish_reason":null`)
			}))
		}
	}
	sh.finish = event(func(s src) src {
		return s.raw(`{},"logprobs":null,"finish_reason":"` + finish + `"`)
	})
	if k.usage {
		s := append(src(nil), head...)
		s = s.raw(`[],"usage":`)
		s = usageJSON(s, completion)
		s = s.raw("}\n\n")
		sh.usageEv = compile(s)
	}
	return sh
}
