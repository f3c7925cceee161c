package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strings"
	"time"
)

// Message is the Messages API response object.
type Message struct {
	ID           string  `json:"id"`
	Type         string  `json:"type"`
	Role         string  `json:"role"`
	Model        string  `json:"model"`
	Content      []Block `json:"content"`
	StopReason   *string `json:"stop_reason"`
	StopSequence *string `json:"stop_sequence"`
	Usage        Usage   `json:"usage"`
}

// Block is one content block of a response. Pointer fields keep each block
// type's own fields only, in the API's order.
type Block struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature *string         `json:"signature,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
}

// Usage is the token accounting of a response.
type Usage struct {
	InputTokens              int `json:"input_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
	OutputTokens             int `json:"output_tokens"`
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func newID(prefix string) string {
	b := []byte(prefix + "01")
	for range 22 {
		b = append(b, idAlphabet[rand.IntN(len(idAlphabet))])
	}
	return string(b)
}

// compose builds the whole response; the stream is cut from it so both modes
// always agree on content and usage.
func (s *Server) compose(req *request, d Directives) *Message {
	m := &Message{ID: newID("msg_"), Type: "message", Role: "assistant", Model: req.Model}
	m.Usage.InputTokens = max(1, req.promptChars/4)
	m.Usage.CacheReadInputTokens = d.Cached
	budget := req.MaxTokens
	stop := "end_turn"
	var stopSeq *string

	if d.Thinking {
		words := strings.Fields(Reply("thinking:"+req.lastUserText, 8))
		if len(words) > budget {
			words, stop = words[:budget], "max_tokens"
		}
		budget -= len(words)
		th := strings.Join(words, " ")
		h := fnv.New64a()
		_, _ = h.Write([]byte(th))
		sig := base64.StdEncoding.EncodeToString(h.Sum(nil)) + "EqQBCkYIBhgCKkDfake"
		m.Content = append(m.Content, Block{Type: "thinking", Thinking: &th, Signature: &sig})
		m.Usage.OutputTokens += len(words)
	}
	n := d.Words
	if n < 0 {
		n = DefaultWords
	}
	if n > 0 && budget > 0 {
		words := strings.Fields(Reply(req.lastUserText, n))
		if len(words) > budget {
			words, stop = words[:budget], "max_tokens"
		}
		text := strings.Join(words, " ")
		if i, seq := firstStop(text, req.StopSequences); i >= 0 {
			text, stop, stopSeq = text[:i], "stop_sequence", &seq
			words = strings.Fields(text)
		}
		budget -= len(words)
		m.Usage.OutputTokens += len(words)
		if text != "" {
			m.Content = append(m.Content, Block{Type: "text", Text: &text})
		}
	}
	if d.Tool != "" && stop == "end_turn" {
		in := toolInput(d.Tool, req.Tools[d.Tool])
		m.Content = append(m.Content, Block{Type: "tool_use", ID: newID("toolu_"), Name: d.Tool, Input: in})
		m.Usage.OutputTokens += max(1, len(in)/4)
		stop = "tool_use"
	}
	if m.Content == nil {
		m.Content = []Block{}
	}
	m.StopReason, m.StopSequence = &stop, stopSeq
	return m
}

func firstStop(text string, seqs []string) (int, string) {
	at, which := -1, ""
	for _, s := range seqs {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at, which = i, s
		}
	}
	return at, which
}

// toolInput fills the declared schema's properties with deterministic values
// so the arguments validate against what the client declared.
func toolInput(name string, schema json.RawMessage) json.RawMessage {
	return json.RawMessage(FillSchema(name, schema))
}

// FillSchema returns a JSON value that satisfies the common subset of JSON
// Schema (object properties, required, enum, scalar types, arrays): strings
// are words derived from the property path. A missing schema yields
// {"location":"Paris"}, the argument of the canonical get_weather tool.
func FillSchema(path string, schema []byte) []byte {
	if len(schema) == 0 {
		return []byte(`{"location":"Paris"}`)
	}
	var sc map[string]any
	if json.Unmarshal(schema, &sc) != nil {
		return []byte(`{}`)
	}
	b, _ := json.Marshal(fill(path, sc, 0))
	return b
}

func fill(path string, sc map[string]any, depth int) any {
	if e, ok := sc["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	typ, _ := sc["type"].(string)
	if ts, ok := sc["type"].([]any); ok && len(ts) > 0 {
		typ, _ = ts[0].(string)
	}
	if typ == "" && sc["properties"] != nil {
		typ = "object"
	}
	switch strings.ToLower(typ) {
	case "string":
		return Reply(path, 1)
	case "integer":
		return 3
	case "number":
		return 1.5
	case "boolean":
		return true
	case "array":
		if it, ok := sc["items"].(map[string]any); ok && depth < 8 {
			return []any{fill(path+"[]", it, depth+1)}
		}
		return []any{}
	case "object":
		out := map[string]any{}
		props, _ := sc["properties"].(map[string]any)
		if depth >= 8 {
			return out
		}
		for k, v := range props {
			if p, ok := v.(map[string]any); ok {
				out[k] = fill(path+"."+k, p, depth+1)
			}
		}
		return out
	}
	return nil
}

// sse writes Anthropic's named events.
type sse struct {
	w     http.ResponseWriter
	f     http.Flusher
	delay time.Duration
	r     *http.Request
	n     int // delta events written, for [[stream_error]] and [[cut]]
}

func (e *sse) event(name string, v any) bool {
	b, _ := json.Marshal(v)
	var buf bytes.Buffer
	buf.WriteString("event: ")
	buf.WriteString(name)
	buf.WriteString("\ndata: ")
	buf.Write(b)
	buf.WriteString("\n\n")
	if _, err := e.w.Write(buf.Bytes()); err != nil {
		return false
	}
	if e.f != nil {
		e.f.Flush()
	}
	if e.delay > 0 {
		t := time.NewTimer(e.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-e.r.Context().Done():
			return false
		}
	}
	return true
}

type obj = map[string]any

// failAfter is the number of delta events sent before [[stream_error]] or
// [[cut]] strike, so a client has already forwarded some content.
const failAfter = 2

func (s *Server) stream(w http.ResponseWriter, r *http.Request, m *Message, d Directives) {
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("Request-Id", "req_"+m.ID[4:])
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	e := &sse{w: w, f: f, delay: s.opt.StreamDelay, r: r}

	start := *m
	start.Content = []Block{}
	start.StopReason, start.StopSequence = nil, nil
	start.Usage.OutputTokens = 1
	if !e.event("message_start", obj{"type": "message_start", "message": start}) {
		return
	}
	delta := func(i int, dl obj) bool {
		if e.n == failAfter {
			if d.StreamError {
				e.event("error", obj{"type": "error", "error": obj{"type": "overloaded_error", "message": "Overloaded"}})
				return false
			}
			if d.Cut {
				panic(http.ErrAbortHandler)
			}
		}
		e.n++
		return e.event("content_block_delta", obj{"type": "content_block_delta", "index": i, "delta": dl})
	}
	for i, b := range m.Content {
		var first Block
		var deltas []obj
		switch b.Type {
		case "text":
			empty := ""
			first = Block{Type: "text", Text: &empty}
			for _, p := range pieces(*b.Text) {
				deltas = append(deltas, obj{"type": "text_delta", "text": p})
			}
		case "thinking":
			empty := ""
			first = Block{Type: "thinking", Thinking: &empty, Signature: &empty}
			for _, p := range pieces(*b.Thinking) {
				deltas = append(deltas, obj{"type": "thinking_delta", "thinking": p})
			}
			deltas = append(deltas, obj{"type": "signature_delta", "signature": *b.Signature})
		case "tool_use":
			first = Block{Type: "tool_use", ID: b.ID, Name: b.Name, Input: json.RawMessage(`{}`)}
			deltas = append(deltas, obj{"type": "input_json_delta", "partial_json": ""})
			for in := string(b.Input); in != ""; {
				k := min(len(in), 7)
				deltas = append(deltas, obj{"type": "input_json_delta", "partial_json": in[:k]})
				in = in[k:]
			}
		}
		if !e.event("content_block_start", obj{"type": "content_block_start", "index": i, "content_block": first}) {
			return
		}
		if i == 0 && !e.event("ping", obj{"type": "ping"}) {
			return
		}
		for _, dl := range deltas {
			if !delta(i, dl) {
				return
			}
		}
		if !e.event("content_block_stop", obj{"type": "content_block_stop", "index": i}) {
			return
		}
	}
	if e.n < failAfter && (d.StreamError || d.Cut) {
		// Too little content to fail mid-way: fail before the end instead.
		if d.StreamError {
			e.event("error", obj{"type": "error", "error": obj{"type": "overloaded_error", "message": "Overloaded"}})
			return
		}
		panic(http.ErrAbortHandler)
	}
	if !e.event("message_delta", obj{"type": "message_delta",
		"delta": obj{"stop_reason": m.StopReason, "stop_sequence": m.StopSequence},
		"usage": obj{"output_tokens": m.Usage.OutputTokens}}) {
		return
	}
	e.event("message_stop", obj{"type": "message_stop"})
}

// pieces splits text into the word-sized deltas the model streams, each
// but the first carrying its leading space.
func pieces(text string) []string {
	var out []string
	for i, w := range strings.Split(text, " ") {
		if i > 0 {
			w = " " + w
		}
		out = append(out, w)
	}
	return out
}
