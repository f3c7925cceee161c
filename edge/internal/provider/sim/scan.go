package sim

import (
	"bytes"
	"encoding/json"
	"strconv"
	"unicode/utf8"
)

// jsonScanner reads a request body in one pass, validating it as JSON and
// picking out only the fields the simulator uses. encoding/json's
// reflection and its separate validation pass cost more than the whole
// rest of a fast-model request, and DESIGN asks the hot path to scan rather
// than decode.
//
// Errors are sticky: a syntax error moves the cursor to the end, so every
// later step fails fast and every loop ends. A type error (valid JSON, wrong
// shape) is recorded and scanning goes on, because a syntax error anywhere
// in the body takes precedence, as it does in encoding/json.
//
// Keys match exactly (OpenAI's API is case-sensitive), unlike encoding/json.
type jsonScanner struct {
	b       []byte
	i       int
	depth   int
	syntax  bool
	typeErr *apiError
}

// maxDepth matches encoding/json's nesting limit, so both accept the same
// documents.
const maxDepth = 10000

func (s *jsonScanner) fail() {
	s.syntax = true
	s.i = len(s.b)
}

// next skips whitespace and returns the next byte, or 0 at the end. A NUL
// byte is never valid JSON, so the two need not be told apart.
func (s *jsonScanner) next() byte {
	for s.i < len(s.b) {
		switch c := s.b[s.i]; c {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return c
		}
	}
	return 0
}

// object scans an object at the cursor, calling member for each key with
// the cursor on the value; member must consume the value.
func (s *jsonScanner) object(member func(key []byte)) {
	s.i++ // '{'
	if s.depth++; s.depth > maxDepth {
		s.fail()
		return
	}
	if s.next() == '}' {
		s.i++
		s.depth--
		return
	}
	for {
		if s.next() != '"' {
			s.fail()
			return
		}
		key := s.key()
		if s.next() != ':' {
			s.fail()
			return
		}
		s.i++
		s.next()
		member(key)
		switch s.next() {
		case ',':
			s.i++
		case '}':
			s.i++
			s.depth--
			return
		default:
			s.fail()
			return
		}
	}
}

// array scans an array at the cursor, calling elem for each element with
// the cursor on it; elem must consume the element.
func (s *jsonScanner) array(elem func(i int)) {
	s.i++ // '['
	if s.depth++; s.depth > maxDepth {
		s.fail()
		return
	}
	if s.next() == ']' {
		s.i++
		s.depth--
		return
	}
	for i := 0; ; i++ {
		s.next()
		elem(i)
		switch s.next() {
		case ',':
			s.i++
		case ']':
			s.i++
			s.depth--
			return
		default:
			s.fail()
			return
		}
	}
}

// skip validates and consumes one value.
func (s *jsonScanner) skip() {
	switch c := s.next(); {
	case c == '{':
		s.object(func([]byte) { s.skip() })
	case c == '[':
		s.array(func(int) { s.skip() })
	case c == '"':
		s.rawString()
	case c == 't':
		s.literal("true")
	case c == 'f':
		s.literal("false")
	case c == 'n':
		s.literal("null")
	case c == '-' || c >= '0' && c <= '9':
		s.number()
	default:
		s.fail()
	}
}

// raw consumes one value and returns its bytes.
func (s *jsonScanner) raw() []byte {
	start := s.i
	s.skip()
	if s.syntax {
		return nil
	}
	return s.b[start:s.i]
}

func (s *jsonScanner) literal(word string) {
	if !bytes.HasPrefix(s.b[s.i:], []byte(word)) {
		s.fail()
		return
	}
	s.i += len(word)
}

// rawString consumes a string literal and returns it with its quotes, and
// whether it contains escapes.
func (s *jsonScanner) rawString() ([]byte, bool) {
	start := s.i
	s.i++ // opening quote
	escaped := false
	for s.i < len(s.b) {
		c := s.b[s.i]
		switch {
		case c == '"':
			s.i++
			return s.b[start:s.i], escaped
		case c == '\\':
			escaped = true
			if s.i+1 >= len(s.b) {
				s.fail()
				return nil, false
			}
			switch s.b[s.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				s.i += 2
			case 'u':
				if s.i+6 > len(s.b) {
					s.fail()
					return nil, false
				}
				for _, h := range s.b[s.i+2 : s.i+6] {
					if !('0' <= h && h <= '9' || 'a' <= h && h <= 'f' || 'A' <= h && h <= 'F') {
						s.fail()
						return nil, false
					}
				}
				s.i += 6
			default:
				s.fail()
				return nil, false
			}
		case c < 0x20:
			s.fail()
			return nil, false
		default:
			s.i++
		}
	}
	s.fail()
	return nil, false
}

// stringBytes consumes a string and returns its decoded bytes. The common
// case (no escapes, valid UTF-8) aliases the input; the rest goes through
// encoding/json so that escapes, surrogates and invalid UTF-8 decode
// exactly as they would there.
func (s *jsonScanner) stringBytes() []byte {
	lit, escaped := s.rawString()
	if s.syntax {
		return nil
	}
	body := lit[1 : len(lit)-1]
	if !escaped && utf8.Valid(body) {
		return body
	}
	var v string
	if err := json.Unmarshal(lit, &v); err != nil {
		s.fail()
		return nil
	}
	return []byte(v)
}

func (s *jsonScanner) key() []byte { return s.stringBytes() }

func (s *jsonScanner) number() []byte {
	start := s.i
	digits := func() bool {
		n := s.i
		for s.i < len(s.b) && '0' <= s.b[s.i] && s.b[s.i] <= '9' {
			s.i++
		}
		return s.i > n
	}
	if s.b[s.i] == '-' {
		s.i++
	}
	switch {
	case s.i < len(s.b) && s.b[s.i] == '0':
		s.i++
	case !digits():
		s.fail()
		return nil
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if !digits() {
			s.fail()
			return nil
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if !digits() {
			s.fail()
			return nil
		}
	}
	return s.b[start:s.i]
}

// kind names the JSON type at the cursor, for error messages.
func (s *jsonScanner) kind() string {
	switch s.next() {
	case '{':
		return "an object"
	case '[':
		return "an array"
	case '"':
		return "a string"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// wrongType records a type error for the value at the cursor and skips it.
func (s *jsonScanner) wrongType(path, want string) {
	if s.typeErr == nil {
		s.typeErr = invalidRequest(path, "invalid_type", "Invalid type for '"+path+"': expected "+want+", but got "+s.kind()+" instead.")
	}
	s.skip()
}

// isNull consumes a null at the cursor and reports whether there was one.
func (s *jsonScanner) isNull() bool {
	if s.next() != 'n' {
		return false
	}
	s.literal("null")
	return true
}

// internRole returns the canonical copy of a known role, so that the
// per-message role strings do not stay on the heap for every request.
func internRole(r []byte) string {
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

// str reads a string or null (as ""), recording a type error otherwise.
func (s *jsonScanner) str(path func() string) string {
	switch s.next() {
	case '"':
		return string(s.stringBytes())
	case 'n':
		s.literal("null")
		return ""
	}
	s.wrongType(path(), "a string")
	return ""
}

// boolean reads true, false or null (as false).
func (s *jsonScanner) boolean(path string) bool {
	switch s.next() {
	case 't':
		s.literal("true")
		return true
	case 'f':
		s.literal("false")
		return false
	case 'n':
		s.literal("null")
		return false
	}
	s.wrongType(path, "a boolean")
	return false
}

// optBool reads a boolean, or null as nil.
func (s *jsonScanner) optBool(path string) *bool {
	if s.isNull() {
		return nil
	}
	v := s.boolean(path)
	return &v
}

// optInt reads an integer, or null as nil. Like encoding/json into an
// int64, fractions and exponents are type errors.
func (s *jsonScanner) optInt(path string) *int64 {
	c := s.next()
	if c == 'n' {
		s.literal("null")
		return nil
	}
	if c != '-' && (c < '0' || c > '9') {
		s.wrongType(path, "an integer")
		return nil
	}
	lit := s.number()
	if s.syntax {
		return nil
	}
	v, ok := parseInt(lit)
	if !ok {
		if s.typeErr == nil {
			s.typeErr = invalidRequest(path, "invalid_type", "Invalid type for '"+path+"': expected an integer, but got "+string(lit)+" instead.")
		}
		return nil
	}
	return &v
}

// parseInt parses a JSON integer literal without allocating.
func parseInt(lit []byte) (int64, bool) {
	neg := false
	if len(lit) > 0 && lit[0] == '-' {
		neg, lit = true, lit[1:]
	}
	if len(lit) == 0 || len(lit) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range lit {
		if c < '0' || c > '9' {
			return 0, false
		}
		u = u*10 + uint64(c-'0')
	}
	switch {
	case neg && u <= 1<<63:
		return int64(-u), true
	case !neg && u < 1<<63:
		return int64(u), true
	}
	return 0, false
}

// errNotJSON is OpenAI's answer to a body that does not parse.
func errNotJSON() *apiError {
	return invalidRequest("", "", "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)")
}

// parseChatRequest fills r from body. It accepts exactly the documents
// encoding/json accepts and fills r as json.Unmarshal would (for bodies
// without duplicate or case-variant keys); FuzzParseChatRequest checks both.
func parseChatRequest(body []byte, r *chatRequest) *apiError {
	s := jsonScanner{b: body}
	switch c := s.next(); c {
	case '{':
		s.object(func(key []byte) { s.topField(r, key) })
	case 'n':
		s.literal("null")
	default:
		s.skip()
		if !s.syntax && s.typeErr == nil {
			s.typeErr = invalidRequest("", "", "We could not parse the JSON body of your request: the body must be a JSON object.")
		}
	}
	if s.next(); s.i < len(s.b) {
		s.fail() // trailing data, including a NUL that next reports as the end
	}
	if s.syntax {
		return errNotJSON()
	}
	return s.typeErr
}

func (s *jsonScanner) topField(r *chatRequest, key []byte) {
	switch string(key) {
	case "model":
		r.Model = s.str(func() string { return "model" })
	case "messages":
		switch s.next() {
		case 'n':
			s.literal("null")
			r.Messages = nil
		case '[':
			r.Messages = make([]message, 0, 4)
			s.array(func(i int) {
				r.Messages = append(r.Messages, message{})
				m := &r.Messages[len(r.Messages)-1]
				switch s.next() {
				case 'n':
					s.literal("null")
				case '{':
					s.object(func(key []byte) { s.messageField(m, i, key) })
				default:
					s.wrongType(indexPath("messages", i, ""), "an object")
				}
			})
		default:
			s.wrongType("messages", "an array")
		}
	case "stream":
		r.Stream = s.boolean("stream")
	case "stream_options":
		switch s.next() {
		case 'n':
			s.literal("null")
			r.StreamOptions = nil
		case '{':
			r.StreamOptions = new(streamOptions)
			s.object(func(key []byte) {
				if string(key) == "include_usage" {
					r.StreamOptions.IncludeUsage = s.boolean("stream_options.include_usage")
					return
				}
				s.skip()
			})
		default:
			s.wrongType("stream_options", "an object")
		}
	case "max_tokens":
		r.MaxTokens = s.optInt("max_tokens")
	case "max_completion_tokens":
		r.MaxCompletionTokens = s.optInt("max_completion_tokens")
	case "n":
		r.N = s.optInt("n")
	case "seed":
		r.Seed = s.optInt("seed")
	case "user":
		r.User = s.str(func() string { return "user" })
	case "tools":
		s.tools(r)
	case "tool_choice":
		r.ToolChoice = s.raw()
	case "response_format":
		r.ResponseFormat = decodeLazy[responseFormat](s, "response_format")
	case "reasoning":
		r.Reasoning = decodeLazy[reasoningOpts](s, "reasoning")
	case "reasoning_effort":
		r.ReasoningEffort = s.str(func() string { return "reasoning_effort" })
	case "include_reasoning":
		r.IncludeReasoning = s.optBool("include_reasoning")
	default:
		s.skip()
	}
}

func (s *jsonScanner) messageField(m *message, i int, key []byte) {
	switch string(key) {
	case "role":
		if s.next() == '"' {
			m.Role = internRole(s.stringBytes())
			return
		}
		m.Role = s.str(func() string { return indexPath("messages", i, ".role") })
	case "name":
		m.Name = s.str(func() string { return indexPath("messages", i, ".name") })
	case "tool_call_id":
		m.ToolCallID = s.str(func() string { return indexPath("messages", i, ".tool_call_id") })
	case "content":
		switch s.next() {
		case '"':
			m.Content = content(s.stringBytes())
		case 'n':
			s.literal("null")
			m.Content = ""
		case '[':
			m.Content = s.contentParts(i)
		default:
			s.wrongType(indexPath("messages", i, ".content"), "a string or an array of content parts")
		}
	case "tool_calls":
		switch s.next() {
		case 'n':
			s.literal("null")
			m.ToolCalls = nil
		case '[':
			m.ToolCalls = make([]toolCallMsg, 0, 1)
			s.array(func(j int) {
				m.ToolCalls = append(m.ToolCalls, toolCallMsg{})
				tc := &m.ToolCalls[len(m.ToolCalls)-1]
				path := func(sub string) string { return indexPath("messages", i, ".tool_calls") + indexPath("", j, sub) }
				switch s.next() {
				case 'n':
					s.literal("null")
				case '{':
					s.object(func(key []byte) {
						switch string(key) {
						case "id":
							tc.ID = s.str(func() string { return path(".id") })
						case "function":
							switch s.next() {
							case 'n':
								s.literal("null")
							case '{':
								s.object(func(key []byte) {
									switch string(key) {
									case "name":
										tc.Function.Name = s.str(func() string { return path(".function.name") })
									case "arguments":
										tc.Function.Arguments = s.str(func() string { return path(".function.arguments") })
									default:
										s.skip()
									}
								})
							default:
								s.wrongType(path(".function"), "an object")
							}
						default:
							s.skip()
						}
					})
				default:
					s.wrongType(path(""), "an object")
				}
			})
		default:
			s.wrongType(indexPath("messages", i, ".tool_calls"), "an array")
		}
	default:
		s.skip()
	}
}

// contentParts joins the text of content parts with newlines, so that a
// directive in a part of its own is a line of its own.
func (s *jsonScanner) contentParts(i int) content {
	var out []byte
	s.array(func(j int) {
		path := func(sub string) string { return indexPath("messages", i, ".content") + indexPath("", j, sub) }
		switch s.next() {
		case 'n':
			s.literal("null")
		case '{':
			var text string
			s.object(func(key []byte) {
				switch string(key) {
				case "text":
					text = s.str(func() string { return path(".text") })
				case "type":
					s.str(func() string { return path(".type") })
				default:
					s.skip()
				}
			})
			if text != "" {
				if len(out) > 0 {
					out = append(out, '\n')
				}
				out = append(out, text...)
			}
		default:
			s.wrongType(path(""), "an object")
		}
	})
	return content(out)
}

func (s *jsonScanner) tools(r *chatRequest) {
	switch s.next() {
	case 'n':
		s.literal("null")
		r.Tools = nil
		return
	case '[':
	default:
		s.wrongType("tools", "an array")
		return
	}
	r.Tools = make([]tool, 0, 2)
	s.array(func(i int) {
		r.Tools = append(r.Tools, tool{})
		t := &r.Tools[len(r.Tools)-1]
		switch s.next() {
		case 'n':
			s.literal("null")
			return
		case '{':
		default:
			s.wrongType(indexPath("tools", i, ""), "an object")
			return
		}
		s.object(func(key []byte) {
			switch string(key) {
			case "type":
				t.Type = s.str(func() string { return indexPath("tools", i, ".type") })
			case "function":
				switch s.next() {
				case 'n':
					s.literal("null")
					t.Function = nil
				case '{':
					t.Function = new(toolFunction)
					s.object(func(key []byte) {
						switch string(key) {
						case "name":
							t.Function.Name = s.str(func() string { return indexPath("tools", i, ".function.name") })
						case "parameters":
							t.Function.Parameters = s.raw()
						default:
							s.skip()
						}
					})
				default:
					s.wrongType(indexPath("tools", i, ".function"), "an object")
				}
			default:
				s.skip()
			}
		})
	})
}

// decodeLazy decodes a rarely used object field with encoding/json: its
// cost only matters to requests that use it.
func decodeLazy[T any](s *jsonScanner, path string) *T {
	switch s.next() {
	case 'n':
		s.literal("null")
		return nil
	case '{':
		raw := s.raw()
		if s.syntax {
			return nil
		}
		v := new(T)
		if err := json.Unmarshal(raw, v); err != nil {
			if s.typeErr == nil {
				s.typeErr = invalidRequest(path, "invalid_type", "Invalid type in '"+path+"': "+err.Error())
			}
			return nil
		}
		return v
	}
	s.wrongType(path, "an object")
	return nil
}

func indexPath(name string, i int, sub string) string {
	return name + "[" + strconv.Itoa(i) + "]" + sub
}
