package httpapi

import (
	"context"
	"fmt"
	"hash/maphash"
	"math/bits"
	"net/http"
	"strconv"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// decodeChat validates a chat-completion body in one pass and fills the summary in req.
// It checks the type (and, where OpenAI does, the range) of every field it knows, naming
// the field in the error, and passes unknown fields through untouched: providers add
// parameters faster than any gateway can list them.
func decodeChat(body []byte, req *llm.Request) *llm.Error {
	req.Body = body
	start := jsonx.SkipSpace(body, 0)
	if start >= len(body) {
		return llm.BadRequest("", "request body is empty; send a JSON object with `model` and `messages`")
	}
	if body[start] != '{' {
		if err := jsonx.Validate(body); err != nil {
			return malformed(err)
		}
		return llm.BadRequest("", "request body must be a JSON object, got %s", jsonx.KindOf(body[start]))
	}
	sawMessages, sawModel := false, false
	it := jsonx.Object(body)
	for it.Next() {
		m := it.Member()
		key := m.Key
		var scratch [64]byte
		if hasBackslash(key) {
			k, ok := jsonx.UnquoteBytes(scratch[:0], body[m.Start:m.Start+len(key)+2])
			if !ok {
				return llm.BadRequest("", "request body has an invalid object key")
			}
			key = k
		}
		v := m.Value
		switch string(key) {
		case "model":
			s, err := stringField("model", v, false)
			if err != nil {
				return err
			}
			req.Model, sawModel = s, true
		case "messages":
			n, hash, err := checkMessages(v)
			if err != nil {
				return err
			}
			req.Messages, req.PromptHash, sawMessages = n, hash, true
		case "stream":
			b, err := boolField("stream", v)
			if err != nil {
				return err
			}
			req.Stream = b
		case "stream_options":
			inc, err := checkStreamOptions(v)
			if err != nil {
				return err
			}
			req.IncludeUsage = inc
		case "models":
			models, err := checkModels(v)
			if err != nil {
				return err
			}
			req.Models = models
		case "session_id":
			s, err := stringField("session_id", v, true)
			if err != nil {
				return err
			}
			if len(s) > 256 {
				return llm.BadRequest("session_id", "`session_id` must be at most 256 characters")
			}
			req.SessionID = s
		case "tools":
			n, err := checkTools(v)
			if err != nil {
				return err
			}
			req.HasTools = n > 0
			if n > 0 {
				req.Params = req.Params.With(llm.ParamTools)
			}
		case "provider":
			if !jsonx.IsNull(v) {
				if err := isObject("provider", v); err != nil {
					return err
				}
				req.Provider = v
			}
		case "route":
			s, err := stringField("route", v, true)
			if err != nil {
				return err
			}
			req.Route = s
		case "prompt_cache_key":
			s, err := stringField("prompt_cache_key", v, true)
			if err != nil {
				return err
			}
			req.PromptCacheKey = s
		default:
			if check, ok := fieldChecks[string(key)]; ok {
				if err := check(string(key), v); err != nil {
					return err
				}
			}
			if p, ok := paramOf[string(key)]; ok && !jsonx.IsNull(v) {
				req.Params = req.Params.With(p)
				switch p {
				case llm.ParamMaxCompletionTokens:
					n, _ := jsonx.ParseInt(v)
					req.MaxTokens = int(n)
				case llm.ParamMaxTokens:
					if n, _ := jsonx.ParseInt(v); req.MaxTokens == 0 || !req.Params.Has(llm.ParamMaxCompletionTokens) {
						req.MaxTokens = int(n)
					}
				case llm.ParamResponseFormat:
					if responseFormatIs(v, "json_schema") {
						req.Params = req.Params.With(llm.ParamStructuredOutputs)
					}
				case llm.ParamSeed:
					req.Deterministic = true
				case llm.ParamTemperature:
					if f, err := strconv.ParseFloat(string(v), 64); err == nil && f == 0 {
						req.Deterministic = true
					}
				}
			}
		}
	}
	if err := it.Err(); err != nil {
		return malformed(err)
	}
	if end := jsonx.SkipSpace(body, it.End()); end != len(body) {
		return malformed(fmt.Errorf("unexpected data after the JSON object at offset %d", end))
	}
	if !sawMessages {
		return llm.BadRequest("messages", "`messages` is required: a non-empty array of chat messages")
	}
	if !sawModel && len(req.Models) == 0 {
		return llm.BadRequest("model", "`model` is required (or `models`, a fallback list)")
	}
	if sawModel && req.Model == "" {
		return llm.BadRequest("model", "`model` must not be empty")
	}
	return nil
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}

func malformed(err error) *llm.Error {
	return &llm.Error{Status: 400, Type: llm.TypeInvalidRequest,
		Message: "request body is not valid JSON: " + err.Error(), Err: err}
}

func typeErr(field string, v []byte, want string) *llm.Error {
	return llm.BadRequest(field, "`%s` must be %s, got %s", field, want, jsonx.KindOfValue(v))
}

func stringField(field string, v []byte, nullable bool) (string, *llm.Error) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindString:
		s, _ := jsonx.Unquote(v)
		return s, nil
	case jsonx.KindNull:
		if nullable {
			return "", nil
		}
	}
	return "", typeErr(field, v, "a string")
}

func boolField(field string, v []byte) (bool, *llm.Error) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindBool:
		return jsonx.IsTrue(v), nil
	case jsonx.KindNull:
		return false, nil
	}
	return false, typeErr(field, v, "a boolean")
}

type fieldCheck func(field string, v []byte) *llm.Error

// number returns a check for a number within [lo, hi].
func number(lo, hi float64) fieldCheck {
	return func(field string, v []byte) *llm.Error {
		switch jsonx.KindOfValue(v) {
		case jsonx.KindNull:
			return nil
		case jsonx.KindNumber:
			f, err := strconv.ParseFloat(string(v), 64)
			if err != nil || f < lo || f > hi {
				return llm.BadRequest(field, "`%s` must be between %g and %g, got %s", field, lo, hi, v)
			}
			return nil
		}
		return typeErr(field, v, "a number")
	}
}

// integer returns a check for an integer within [lo, hi].
func integer(lo, hi int64) fieldCheck {
	return func(field string, v []byte) *llm.Error {
		switch jsonx.KindOfValue(v) {
		case jsonx.KindNull:
			return nil
		case jsonx.KindNumber:
			n, ok := jsonx.ParseInt(v)
			if !ok {
				return llm.BadRequest(field, "`%s` must be an integer, got %s", field, v)
			}
			if n < lo || n > hi {
				return llm.BadRequest(field, "`%s` must be between %d and %d, got %d", field, lo, hi, n)
			}
			return nil
		}
		return typeErr(field, v, "an integer")
	}
}

func kinds(want string, ks ...jsonx.Kind) fieldCheck {
	return func(field string, v []byte) *llm.Error {
		k := jsonx.KindOfValue(v)
		if k == jsonx.KindNull {
			return nil
		}
		for _, ok := range ks {
			if k == ok {
				return nil
			}
		}
		return typeErr(field, v, want)
	}
}

var (
	isString  = kinds("a string", jsonx.KindString)
	isBool    = kinds("a boolean", jsonx.KindBool)
	isObject  = kinds("an object", jsonx.KindObject)
	isArray   = kinds("an array", jsonx.KindArray)
	isStrOrOb = kinds("a string or an object", jsonx.KindString, jsonx.KindObject)
)

// fieldChecks covers the OpenAI and OpenRouter request fields that are not part of the
// summary. Ranges are OpenAI's; OpenRouter's extra samplers get OpenRouter's.
var fieldChecks = map[string]fieldCheck{
	"temperature":           number(0, 2),
	"top_p":                 number(0, 1),
	"frequency_penalty":     number(-2, 2),
	"presence_penalty":      number(-2, 2),
	"repetition_penalty":    number(0, 2),
	"top_k":                 number(0, 1e9),
	"min_p":                 number(0, 1),
	"top_a":                 number(0, 1),
	"n":                     integer(1, 128),
	"max_tokens":            integer(1, 1<<31-1),
	"max_completion_tokens": integer(1, 1<<31-1),
	"seed":                  integer(-1<<63, 1<<63-1),
	"top_logprobs":          integer(0, 20),
	"logprobs":              isBool,
	"parallel_tool_calls":   isBool,
	"include_reasoning":     isBool,
	"store":                 isBool,
	"user":                  isString,
	"prompt_cache_key":      isString,
	"reasoning_effort":      isString,
	"service_tier":          isString,
	"verbosity":             isString,
	"route":                 isString,
	"tool_choice":           isStrOrOb,
	"response_format":       checkResponseFormat,
	"stop":                  checkStop,
	"logit_bias":            isObject,
	"metadata":              isObject,
	"provider":              isObject,
	"reasoning":             isObject,
	"prediction":            isObject,
	"usage":                 isObject,
	"debug":                 isObject,
	"web_search_options":    isObject,
	"modalities":            isArray,
	"transforms":            isArray,
	"plugins":               isArray,
}

func checkResponseFormat(field string, v []byte) *llm.Error {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return nil
	case jsonx.KindObject:
	default:
		return typeErr(field, v, "an object")
	}
	it := jsonx.Object(v)
	for it.Next() {
		if m := it.Member(); m.KeyIs("type") {
			if _, err := stringField("response_format.type", m.Value, false); err != nil {
				return err
			}
			return nil
		}
	}
	return llm.BadRequest("response_format.type", "`response_format.type` is required")
}

func checkStop(field string, v []byte) *llm.Error {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull, jsonx.KindString:
		return nil
	case jsonx.KindArray:
		it := jsonx.Array(v)
		for i := 0; it.Next(); i++ {
			if jsonx.KindOfValue(it.Value()) != jsonx.KindString {
				return typeErr(fmt.Sprintf("stop[%d]", i), it.Value(), "a string")
			}
		}
		return nil
	}
	return typeErr(field, v, "a string or an array of strings")
}

func checkStreamOptions(v []byte) (bool, *llm.Error) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return false, nil
	case jsonx.KindObject:
	default:
		return false, typeErr("stream_options", v, "an object")
	}
	include := false
	it := jsonx.Object(v)
	for it.Next() {
		if m := it.Member(); m.KeyIs("include_usage") {
			b, err := boolField("stream_options.include_usage", m.Value)
			if err != nil {
				return false, err
			}
			include = b
		}
	}
	return include, nil
}

func checkModels(v []byte) ([]string, *llm.Error) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return nil, nil
	case jsonx.KindArray:
	default:
		return nil, typeErr("models", v, "an array of model ids")
	}
	var out []string
	it := jsonx.Array(v)
	for i := 0; it.Next(); i++ {
		s, err := stringField(fmt.Sprintf("models[%d]", i), it.Value(), false)
		if err != nil {
			return nil, err
		}
		if s == "" {
			return nil, llm.BadRequest(fmt.Sprintf("models[%d]", i), "`models[%d]` must not be empty", i)
		}
		out = append(out, s)
	}
	if len(out) > 16 {
		return nil, llm.BadRequest("models", "`models` may list at most 16 models, got %d", len(out))
	}
	return out, nil
}

func checkTools(v []byte) (int, *llm.Error) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return 0, nil
	case jsonx.KindArray:
	default:
		return 0, typeErr("tools", v, "an array")
	}
	n := 0
	it := jsonx.Array(v)
	for ; it.Next(); n++ {
		tool := it.Value()
		field := fmt.Sprintf("tools[%d]", n) // tools are few; the name is cheap here
		if jsonx.KindOfValue(tool) != jsonx.KindObject {
			return 0, typeErr(field, tool, "an object")
		}
		ti := jsonx.Object(tool)
		for ti.Next() {
			m := ti.Member()
			switch {
			case m.KeyIs("type"):
				if _, err := stringField(field+".type", m.Value, false); err != nil {
					return 0, err
				}
			case m.KeyIs("function"):
				if jsonx.KindOfValue(m.Value) != jsonx.KindObject {
					return 0, typeErr(field+".function", m.Value, "an object")
				}
				if err := checkFunction(field+".function", m.Value); err != nil {
					return 0, err
				}
			}
		}
	}
	return n, nil
}

func checkFunction(field string, v []byte) *llm.Error {
	named := false
	it := jsonx.Object(v)
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("name"):
			s, err := stringField(field+".name", m.Value, false)
			if err != nil {
				return err
			}
			named = s != ""
		case m.KeyIs("parameters"):
			if k := jsonx.KindOfValue(m.Value); k != jsonx.KindObject && k != jsonx.KindNull {
				return typeErr(field+".parameters", m.Value, "a JSON Schema object")
			}
		}
	}
	if !named {
		return llm.BadRequest(field+".name", "`%s.name` is required", field)
	}
	return nil
}

var roles = map[string]bool{"system": true, "developer": true, "user": true, "assistant": true, "tool": true, "function": true}

// checkMessages validates the messages array and returns its length.
// checkMessages validates the messages and returns their number and the conversation's
// hash: the first system message and the first user message as sent, which stay the same
// turn after turn and so identify a conversation for sticky routing.
func checkMessages(v []byte) (int, uint64, *llm.Error) {
	if jsonx.KindOfValue(v) != jsonx.KindArray {
		return 0, 0, typeErr("messages", v, "a non-empty array of chat messages")
	}
	var sys, user []byte
	n := 0
	it := jsonx.Array(v)
	for ; it.Next(); n++ {
		role, err := checkMessage(n, it.Value())
		if err != nil {
			return 0, 0, err
		}
		switch {
		case sys == nil && (string(role) == "system" || string(role) == "developer"):
			sys = it.Value()
		case user == nil && string(role) == "user":
			user = it.Value()
		}
	}
	if n == 0 {
		return 0, 0, llm.BadRequest("messages", "`messages` must not be empty")
	}
	if sys == nil && user == nil {
		return n, 0, nil
	}
	// Two one-shot hashes combined (the rotation keeps a system prompt from cancelling an
	// identical user message) cost no allocation, where a maphash.Hash would escape.
	h := maphash.Bytes(promptSeed, sys) ^ bits.RotateLeft64(maphash.Bytes(promptSeed, user), 31)
	return n, h | 1, nil
}

// promptSeed keys conversation hashes; sticky pins live in this process, so a per-process
// seed is enough and keeps the hash unpredictable.
var promptSeed = maphash.MakeSeed()

// paramOf maps body keys to the parameters routing matches against endpoints.
var paramOf = func() map[string]llm.Param {
	m := map[string]llm.Param{}
	for p := llm.Param(0); p.String() != "unknown"; p++ {
		if p != llm.ParamStructuredOutputs && p != llm.ParamTools {
			m[p.String()] = p
		}
	}
	return m
}()

func responseFormatIs(v []byte, typ string) bool {
	it := jsonx.Object(v)
	for it.Next() {
		if m := it.Member(); m.KeyIs("type") {
			s, _ := jsonx.Unquote(m.Value)
			return s == typ
		}
	}
	return false
}

func checkMessage(i int, msg []byte) ([]byte, *llm.Error) {
	// Field names are built only on the error path: this runs for every message of every
	// request.
	field := func(name string) string {
		if name == "" {
			return fmt.Sprintf("messages[%d]", i)
		}
		return fmt.Sprintf("messages[%d].%s", i, name)
	}
	if jsonx.KindOfValue(msg) != jsonx.KindObject {
		return nil, typeErr(field(""), msg, "an object")
	}
	var role, content []byte
	hasToolCalls := false
	it := jsonx.Object(msg)
	for it.Next() {
		m := it.Member()
		switch k := jsonx.KindOfValue(m.Value); {
		case m.KeyIs("role"):
			if k != jsonx.KindString {
				return nil, typeErr(field("role"), m.Value, "a string")
			}
			role = m.Value[1 : len(m.Value)-1]
		case m.KeyIs("content"):
			content = m.Value
			switch k {
			case jsonx.KindString, jsonx.KindNull:
			case jsonx.KindArray:
				if err := checkParts(i, m.Value); err != nil {
					return nil, err
				}
			default:
				return nil, typeErr(field("content"), m.Value, "a string, an array of content parts, or null")
			}
		case m.KeyIs("name"), m.KeyIs("tool_call_id"):
			if k != jsonx.KindString {
				return nil, typeErr(field(string(m.Key)), m.Value, "a string")
			}
		case m.KeyIs("tool_calls"):
			if k != jsonx.KindArray && k != jsonx.KindNull {
				return nil, typeErr(field("tool_calls"), m.Value, "an array")
			}
			hasToolCalls = k == jsonx.KindArray && len(m.Value) > 2
		}
	}
	noContent := content == nil || jsonx.IsNull(content)
	switch {
	case role == nil:
		return nil, llm.BadRequest(field("role"), "`%s` is required", field("role"))
	case !roles[string(role)]:
		return nil, llm.BadRequest(field("role"), "`%s` must be one of system, developer, user, assistant, tool; got %q", field("role"), role)
	case string(role) != "assistant" && noContent:
		return nil, llm.BadRequest(field("content"), "`%s` is required for %s messages", field("content"), role)
	case string(role) == "assistant" && noContent && !hasToolCalls:
		return nil, llm.BadRequest(field("content"), "`%s` is required unless the assistant message has tool_calls", field("content"))
	}
	return role, nil
}

// checkParts validates multi-part content: each part is an object with a string type.
func checkParts(msg int, v []byte) *llm.Error {
	it := jsonx.Array(v)
	for i := 0; it.Next(); i++ {
		part := it.Value()
		pf := func() string { return fmt.Sprintf("messages[%d].content[%d]", msg, i) }
		if jsonx.KindOfValue(part) != jsonx.KindObject {
			return typeErr(pf(), part, "an object")
		}
		typed := false
		pi := jsonx.Object(part)
		for pi.Next() {
			if m := pi.Member(); m.KeyIs("type") {
				if jsonx.KindOfValue(m.Value) != jsonx.KindString {
					return typeErr(pf()+".type", m.Value, "a string")
				}
				typed = true
			}
		}
		if !typed {
			return llm.BadRequest(pf()+".type", "`%s.type` is required", pf())
		}
	}
	return nil
}

// Reparse validates and summarises a body rewritten by a request transform, exactly as a
// client's body is, so a plugin cannot slip past validation what a client could not. What
// came from headers rather than the body (the session id) and the arrival time carry over.
func Reparse(_ context.Context, body []byte, prev *llm.Request) (*llm.Request, error) {
	req := &llm.Request{Received: prev.Received}
	if e := decodeChat(body, req); e != nil {
		return nil, &llm.Error{Status: http.StatusBadGateway, Type: llm.TypeServer, Param: e.Param,
			Message: "a request transform plugin produced an invalid request: " + e.Message, Err: e}
	}
	if req.SessionID == "" {
		req.SessionID = prev.SessionID
	}
	req.Header = prev.Header
	return req, nil
}
