package sim

import (
	"encoding/json"
	"strconv"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// reqParser picks the fields the simulator uses out of a request body with
// jsonx's iterators: encoding/json's reflection costs more than the whole
// rest of a fast-model request, and DESIGN asks the hot path to scan rather
// than decode.
//
// The top-level iterator validates each member before the parser looks
// inside it, so the nested walks never meet a syntax error. A type error
// (valid JSON, wrong shape) is recorded and the walk goes on, because a
// syntax error anywhere in the body takes precedence, as it does in
// encoding/json. Keys match exactly (OpenAI's API is case-sensitive),
// unlike encoding/json.
type reqParser struct {
	typeErr *apiError
}

// errNotJSON is OpenAI's answer to a body that does not parse.
func errNotJSON() *apiError {
	return invalidRequest("", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
}

// parseChatRequest fills r from body. It accepts exactly the documents
// jsonx accepts and fills r as json.Unmarshal would (for bodies without
// duplicate or case-variant keys); FuzzRequestParsing checks both.
func parseChatRequest(body []byte, r *chatRequest) *apiError {
	start := jsonx.SkipSpace(body, 0)
	if start >= len(body) || body[start] != '{' {
		if jsonx.Validate(body) != nil {
			return errNotJSON()
		}
		if jsonx.KindOf(body[start]) == jsonx.KindNull {
			return nil // encoding/json leaves the struct alone, so OpenAI's checks see no model
		}
		return invalidRequest("", "", "We could not parse the JSON body of your request: the body must be a JSON object.")
	}
	var p reqParser
	var buf [64]byte
	it := jsonx.Object(body)
	for it.Next() {
		m := it.Member()
		p.topField(r, m.Name(&buf), m.Value)
	}
	if it.Err() != nil || jsonx.SkipSpace(body, it.End()) != len(body) {
		return errNotJSON()
	}
	return p.typeErr
}

func (p *reqParser) topField(r *chatRequest, key, v []byte) {
	switch string(key) {
	case "model":
		r.Model = p.str(v, func() string { return "model" })
	case "messages":
		switch jsonx.KindOfValue(v) {
		case jsonx.KindNull:
			r.Messages = nil
		case jsonx.KindArray:
			r.Messages = make([]message, 0, 4)
			it := jsonx.Array(v)
			for i := 0; it.Next(); i++ {
				r.Messages = append(r.Messages, message{})
				m := &r.Messages[len(r.Messages)-1]
				switch ev := it.Value(); jsonx.KindOfValue(ev) {
				case jsonx.KindNull:
				case jsonx.KindObject:
					p.message(m, i, ev)
				default:
					p.wrongType(indexPath("messages", i, ""), "an object", ev)
				}
			}
		default:
			p.wrongType("messages", "an array", v)
		}
	case "stream":
		r.Stream = p.boolean(v, "stream")
	case "stream_options":
		switch jsonx.KindOfValue(v) {
		case jsonx.KindNull:
			r.StreamOptions = nil
		case jsonx.KindObject:
			r.StreamOptions = new(streamOptions)
			it := jsonx.Object(v)
			for it.Next() {
				if m := it.Member(); m.KeyIs("include_usage") {
					r.StreamOptions.IncludeUsage = p.boolean(m.Value, "stream_options.include_usage")
				}
			}
		default:
			p.wrongType("stream_options", "an object", v)
		}
	case "max_tokens":
		r.MaxTokens = p.optInt(v, "max_tokens")
	case "max_completion_tokens":
		r.MaxCompletionTokens = p.optInt(v, "max_completion_tokens")
	case "n":
		r.N = p.optInt(v, "n")
	case "seed":
		r.Seed = p.optInt(v, "seed")
	case "user":
		r.User = p.str(v, func() string { return "user" })
	case "tools":
		p.tools(r, v)
	case "tool_choice":
		r.ToolChoice = v
	case "response_format":
		r.ResponseFormat = decodeLazy[responseFormat](p, v, "response_format")
	case "reasoning":
		r.Reasoning = decodeLazy[reasoningOpts](p, v, "reasoning")
	case "reasoning_effort":
		r.ReasoningEffort = p.str(v, func() string { return "reasoning_effort" })
	case "include_reasoning":
		r.IncludeReasoning = p.optBool(v, "include_reasoning")
	}
}

// message fills m from the object v, the i'th element of messages.
func (p *reqParser) message(m *message, i int, v []byte) {
	var buf [64]byte
	it := jsonx.Object(v)
	for it.Next() {
		mb := it.Member()
		fv := mb.Value
		switch string(mb.Name(&buf)) {
		case "role":
			if jsonx.KindOfValue(fv) == jsonx.KindString {
				m.Role = internRole(fv)
				continue
			}
			m.Role = p.str(fv, func() string { return indexPath("messages", i, ".role") })
		case "name":
			m.Name = p.str(fv, func() string { return indexPath("messages", i, ".name") })
		case "tool_call_id":
			m.ToolCallID = p.str(fv, func() string { return indexPath("messages", i, ".tool_call_id") })
		case "content":
			switch jsonx.KindOfValue(fv) {
			case jsonx.KindString:
				s, _ := jsonx.Unquote(fv)
				m.Content = content(s)
			case jsonx.KindNull:
				m.Content = ""
			case jsonx.KindArray:
				m.Content = p.contentParts(i, fv)
			default:
				p.wrongType(indexPath("messages", i, ".content"), "a string or an array of content parts", fv)
			}
		case "tool_calls":
			switch jsonx.KindOfValue(fv) {
			case jsonx.KindNull:
				m.ToolCalls = nil
			case jsonx.KindArray:
				m.ToolCalls = make([]toolCallMsg, 0, 1)
				calls := jsonx.Array(fv)
				for j := 0; calls.Next(); j++ {
					m.ToolCalls = append(m.ToolCalls, toolCallMsg{})
					p.toolCall(&m.ToolCalls[len(m.ToolCalls)-1], i, j, calls.Value())
				}
			default:
				p.wrongType(indexPath("messages", i, ".tool_calls"), "an array", fv)
			}
		}
	}
}

// toolCall fills tc from v, element j of messages[i].tool_calls.
func (p *reqParser) toolCall(tc *toolCallMsg, i, j int, v []byte) {
	path := func(sub string) string { return indexPath("messages", i, ".tool_calls") + indexPath("", j, sub) }
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return
	case jsonx.KindObject:
	default:
		p.wrongType(path(""), "an object", v)
		return
	}
	var buf [64]byte
	it := jsonx.Object(v)
	for it.Next() {
		m := it.Member()
		switch string(m.Name(&buf)) {
		case "id":
			tc.ID = p.str(m.Value, func() string { return path(".id") })
		case "function":
			switch jsonx.KindOfValue(m.Value) {
			case jsonx.KindNull:
			case jsonx.KindObject:
				fn := jsonx.Object(m.Value)
				for fn.Next() {
					f := fn.Member()
					switch string(f.Name(&buf)) {
					case "name":
						tc.Function.Name = p.str(f.Value, func() string { return path(".function.name") })
					case "arguments":
						tc.Function.Arguments = p.str(f.Value, func() string { return path(".function.arguments") })
					}
				}
			default:
				p.wrongType(path(".function"), "an object", m.Value)
			}
		}
	}
}

// contentParts joins the text of content parts with newlines, so that a
// directive in a part of its own is a line of its own.
func (p *reqParser) contentParts(i int, v []byte) content {
	var out []byte
	var buf [64]byte
	parts := jsonx.Array(v)
	for j := 0; parts.Next(); j++ {
		path := func(sub string) string { return indexPath("messages", i, ".content") + indexPath("", j, sub) }
		switch pv := parts.Value(); jsonx.KindOfValue(pv) {
		case jsonx.KindNull:
		case jsonx.KindObject:
			var text string
			it := jsonx.Object(pv)
			for it.Next() {
				m := it.Member()
				switch string(m.Name(&buf)) {
				case "text":
					text = p.str(m.Value, func() string { return path(".text") })
				case "type":
					p.str(m.Value, func() string { return path(".type") })
				}
			}
			if text != "" {
				if len(out) > 0 {
					out = append(out, '\n')
				}
				out = append(out, text...)
			}
		default:
			p.wrongType(path(""), "an object", pv)
		}
	}
	return content(out)
}

func (p *reqParser) tools(r *chatRequest, v []byte) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		r.Tools = nil
		return
	case jsonx.KindArray:
	default:
		p.wrongType("tools", "an array", v)
		return
	}
	r.Tools = make([]tool, 0, 2)
	var buf [64]byte
	tools := jsonx.Array(v)
	for i := 0; tools.Next(); i++ {
		r.Tools = append(r.Tools, tool{})
		t := &r.Tools[len(r.Tools)-1]
		switch tv := tools.Value(); jsonx.KindOfValue(tv) {
		case jsonx.KindNull:
			continue
		case jsonx.KindObject:
		default:
			p.wrongType(indexPath("tools", i, ""), "an object", tv)
			continue
		}
		it := jsonx.Object(tools.Value())
		for it.Next() {
			m := it.Member()
			switch string(m.Name(&buf)) {
			case "type":
				t.Type = p.str(m.Value, func() string { return indexPath("tools", i, ".type") })
			case "function":
				switch jsonx.KindOfValue(m.Value) {
				case jsonx.KindNull:
					t.Function = nil
				case jsonx.KindObject:
					t.Function = new(toolFunction)
					fn := jsonx.Object(m.Value)
					for fn.Next() {
						f := fn.Member()
						switch string(f.Name(&buf)) {
						case "name":
							t.Function.Name = p.str(f.Value, func() string { return indexPath("tools", i, ".function.name") })
						case "parameters":
							t.Function.Parameters = f.Value
						}
					}
				default:
					p.wrongType(indexPath("tools", i, ".function"), "an object", m.Value)
				}
			}
		}
	}
}

// decodeLazy decodes a rarely used object field with encoding/json: its
// cost only matters to requests that use it, and its error text is part of
// the error body clients see.
func decodeLazy[T any](p *reqParser, v []byte, path string) *T {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return nil
	case jsonx.KindObject:
		out := new(T)
		if err := json.Unmarshal(v, out); err != nil {
			if p.typeErr == nil {
				p.typeErr = invalidRequest(path, "invalid_type", "Invalid type in '"+path+"': "+err.Error())
			}
			return nil
		}
		return out
	}
	p.wrongType(path, "an object", v)
	return nil
}

// kindName names the JSON type of v as OpenAI's type errors do.
func kindName(v []byte) string {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindObject:
		return "an object"
	case jsonx.KindArray:
		return "an array"
	case jsonx.KindString:
		return "a string"
	case jsonx.KindBool:
		return "a boolean"
	case jsonx.KindNull:
		return "null"
	}
	return "a number"
}

// wrongType records a type error for v unless an earlier field already
// failed: OpenAI reports the first bad field in document order.
func (p *reqParser) wrongType(path, want string, v []byte) {
	if p.typeErr == nil {
		p.typeErr = invalidRequest(path, "invalid_type", "Invalid type for '"+path+"': expected "+want+", but got "+kindName(v)+" instead.")
	}
}

// str reads a string or null (as ""), recording a type error otherwise.
// path is a function so that the common case builds no path string.
func (p *reqParser) str(v []byte, path func() string) string {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindString:
		s, _ := jsonx.Unquote(v)
		return s
	case jsonx.KindNull:
		return ""
	}
	p.wrongType(path(), "a string", v)
	return ""
}

// boolean reads true, false or null (as false).
func (p *reqParser) boolean(v []byte, path string) bool {
	if jsonx.KindOfValue(v) == jsonx.KindBool {
		return jsonx.IsTrue(v)
	}
	if !jsonx.IsNull(v) {
		p.wrongType(path, "a boolean", v)
	}
	return false
}

// optBool reads a boolean, or null as nil.
func (p *reqParser) optBool(v []byte, path string) *bool {
	if jsonx.IsNull(v) {
		return nil
	}
	b := p.boolean(v, path)
	return &b
}

// optInt reads an integer, or null as nil. Like encoding/json into an
// int64, fractions and exponents are type errors.
func (p *reqParser) optInt(v []byte, path string) *int64 {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return nil
	case jsonx.KindNumber:
	default:
		p.wrongType(path, "an integer", v)
		return nil
	}
	n, ok := jsonx.ParseInt(v)
	if !ok {
		if p.typeErr == nil {
			p.typeErr = invalidRequest(path, "invalid_type", "Invalid type for '"+path+"': expected an integer, but got "+string(v)+" instead.")
		}
		return nil
	}
	return &n
}

// internRole decodes the role string v and returns the canonical copy of a
// known role, so that the per-message role strings do not stay on the heap
// for every request.
func internRole(v []byte) string {
	var buf [16]byte
	r, _ := jsonx.UnquoteBytes(buf[:0], v)
	switch string(r) {
	case "user":
		return "user"
	case "system":
		return "system"
	case "assistant":
		return "assistant"
	case "tool":
		return "tool"
	case "developer":
		return "developer"
	}
	return string(r)
}

func indexPath(name string, i int, sub string) string {
	return name + "[" + strconv.Itoa(i) + "]" + sub
}
