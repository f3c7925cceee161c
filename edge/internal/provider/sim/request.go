package sim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// chatRequest holds only what the simulator reads. Everything else
// (temperature, top_p, stop, ...) is accepted and ignored, as a model that
// does not change its output for them would. parseChatRequest fills it; the
// json tags (and content.UnmarshalJSON) define the reference decoding it must
// agree with, which the differential fuzz test checks.
type chatRequest struct {
	Model               string          `json:"model"`
	Messages            []message       `json:"messages"`
	Stream              bool            `json:"stream"`
	StreamOptions       *streamOptions  `json:"stream_options"`
	MaxTokens           *int64          `json:"max_tokens"`
	MaxCompletionTokens *int64          `json:"max_completion_tokens"`
	N                   *int64          `json:"n"`
	Seed                *int64          `json:"seed"`
	User                string          `json:"user"`
	Tools               []tool          `json:"tools"`
	ToolChoice          json.RawMessage `json:"tool_choice"`
	ResponseFormat      *responseFormat `json:"response_format"`
	Reasoning           *reasoningOpts  `json:"reasoning"`
	ReasoningEffort     string          `json:"reasoning_effort"`
	IncludeReasoning    *bool           `json:"include_reasoning"`
}

type streamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

type message struct {
	Role       string        `json:"role"`
	Content    content       `json:"content"`
	Name       string        `json:"name"`
	ToolCalls  []toolCallMsg `json:"tool_calls"`
	ToolCallID string        `json:"tool_call_id"`
}

type toolCallMsg struct {
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type tool struct {
	Type     string        `json:"type"`
	Function *toolFunction `json:"function"`
}

type toolFunction struct {
	Name       string          `json:"name"`
	Parameters json.RawMessage `json:"parameters"`
}

type responseFormat struct {
	Type       string `json:"type"`
	JSONSchema *struct {
		Schema json.RawMessage `json:"schema"`
	} `json:"json_schema"`
}

// reasoningOpts is OpenRouter's unified "reasoning" request object.
type reasoningOpts struct {
	Effort    string `json:"effort"`
	MaxTokens *int64 `json:"max_tokens"`
	Exclude   bool   `json:"exclude"`
	Enabled   *bool  `json:"enabled"`
}

// content is a message's text: a string, or the text parts of an array
// joined by newlines (so a directive in its own part is its own line).
type content string

func (c *content) UnmarshalJSON(b []byte) error {
	switch b[0] {
	case 'n':
		*c = ""
		return nil
	case '"':
		if bytes.IndexByte(b, '\\') < 0 && utf8.Valid(b) {
			*c = content(b[1 : len(b)-1])
			return nil
		}
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return fmt.Errorf("sim: decode content: %w", err)
		}
		*c = content(s)
		return nil
	case '[':
		var parts []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		}
		if err := json.Unmarshal(b, &parts); err != nil {
			return fmt.Errorf("sim: decode content parts: %w", err)
		}
		var sb strings.Builder
		for _, p := range parts {
			if p.Text == "" {
				continue
			}
			if sb.Len() > 0 {
				sb.WriteByte('\n')
			}
			sb.WriteString(p.Text)
		}
		*c = content(sb.String())
		return nil
	}
	return errBadContent
}

var errBadContent = errors.New("content must be a string or an array of content parts")

// plan is everything needed to produce a response, decided up front so the
// body can be generated lazily on Read with no further parsing.
type plan struct {
	model        string
	stream       bool
	includeUsage bool
	fault        fault
	ttft         time.Duration
	interval     time.Duration // between tokens; 0 = unpaced
	promptTokens int
	seed         uint64

	reasonSeed uint64
	reasonNat  int
	reasonN    int
	showReason bool

	contentNat int
	contentN   int
	prefix     []string

	toolName  string
	toolID    string
	toolArgs  string
	toolN     int // tool tokens sent: 1 for the header, then argument fragments
	toolFrags int // fragments sent, toolN-1 when the header went out

	finish string
}

func (p *plan) completionTokens() int { return p.reasonN + p.contentN + p.toolN }

// duration is the time from request to last token: TTFT, then one interval
// per token after the first.
func (p *plan) duration() time.Duration {
	n := p.completionTokens()
	if n <= 1 || p.interval == 0 {
		return p.ttft
	}
	return p.ttft + time.Duration(n-1)*p.interval
}

func validRole(role string) bool {
	switch role {
	case "system", "developer", "user", "assistant", "tool", "function":
		return true
	}
	return false
}

const maxInterval = time.Hour

// buildPlan parses and validates a chat-completions body the way OpenAI
// does, then decides the whole response. A returned apiError is the
// response to send instead.
func (t *Transport) buildPlan(body []byte) (*plan, *apiError) {
	var r chatRequest
	if aerr := parseChatRequest(body, &r); aerr != nil {
		return nil, aerr
	}
	if r.Model == "" {
		return nil, invalidRequest("", "", "you must provide a model parameter")
	}
	if r.Messages == nil {
		return nil, invalidRequest("messages", "missing_required_parameter", "Missing required parameter: 'messages'.")
	}
	if len(r.Messages) == 0 {
		return nil, invalidRequest("messages", "empty_array", "Invalid 'messages': empty array. Expected an array with minimum length 1, but got an empty array instead.")
	}

	h := uint64(fnvOffset)
	textBytes := 0
	lastUser := -1
	for i := range r.Messages {
		m := &r.Messages[i]
		if !validRole(m.Role) {
			param := "messages[" + strconv.Itoa(i) + "].role"
			if m.Role == "" {
				return nil, invalidRequest(param, "missing_required_parameter", "Missing required parameter: '"+param+"'.")
			}
			return nil, invalidRequest(param, "invalid_value", "Invalid value: '"+m.Role+"'. Supported values are: 'system', 'assistant', 'user', 'function', 'tool', and 'developer'.")
		}
		if m.Role == "user" {
			lastUser = i
		}
		h = fnvByte(fnvString(fnvByte(fnvString(h, m.Role), 0), string(m.Content)), 0)
		textBytes += len(m.Content)
		for _, tc := range m.ToolCalls {
			h = fnvByte(fnvString(fnvByte(fnvString(h, tc.Function.Name), 0), tc.Function.Arguments), 0)
			textBytes += len(tc.Function.Name) + len(tc.Function.Arguments)
		}
	}
	if r.Seed != nil {
		for s := uint64(*r.Seed); s != 0; s >>= 8 {
			h = fnvByte(h, byte(s))
		}
		h = fnvByte(h, 0xff)
	}
	seed := mix64(h)

	spec := lookupModel(r.Model)
	if spec == nil {
		return nil, &apiError{
			status: 404, typ: "invalid_request_error", code: `"model_not_found"`,
			msg: "The model `" + r.Model + "` does not exist or you do not have access to it.",
		}
	}

	var d directives
	if err := parseUserDirectives(r.User, &d); err != nil {
		return nil, invalidRequest("user", "invalid_value", err.Error())
	}
	if lastUser >= 0 {
		if err := parseMessageDirectives(string(r.Messages[lastUser].Content), &d); err != nil {
			return nil, invalidRequest("messages", "invalid_value", err.Error())
		}
	}

	capTokens := math.MaxInt
	for _, mt := range []struct {
		name string
		v    *int64
	}{{"max_tokens", r.MaxTokens}, {"max_completion_tokens", r.MaxCompletionTokens}} {
		if mt.v == nil {
			continue
		}
		if *mt.v < 1 {
			return nil, invalidRequest(mt.name, "integer_below_min_value", fmt.Sprintf("Invalid '%s': integer below minimum value. Expected a value >= 1, but got %d instead.", mt.name, *mt.v))
		}
		if *mt.v > int64(spec.MaxCompletionTokens) {
			return nil, invalidRequest(mt.name, "invalid_value", fmt.Sprintf("%s is too large: %d. This model supports at most %d completion tokens, whereas you provided %d.", mt.name, *mt.v, spec.MaxCompletionTokens, *mt.v))
		}
		// max_completion_tokens supersedes the deprecated max_tokens.
		capTokens = int(*mt.v)
	}
	if r.N != nil && *r.N != 1 {
		if *r.N < 1 {
			return nil, invalidRequest("n", "integer_below_min_value", fmt.Sprintf("Invalid 'n': integer below minimum value. Expected a value >= 1, but got %d instead.", *r.N))
		}
		return nil, invalidRequest("n", "unsupported_value", "sim: n > 1 is not supported by the simulated provider.")
	}

	p := &plan{
		model:        r.Model,
		stream:       r.Stream,
		includeUsage: r.Stream && r.StreamOptions != nil && r.StreamOptions.IncludeUsage,
		fault:        d.fault,
		promptTokens: (textBytes+3)/4 + 4*len(r.Messages),
		seed:         seed,
		finish:       "stop",
	}
	if p.promptTokens > spec.ContextLength {
		return nil, invalidRequest("messages", "context_length_exceeded", fmt.Sprintf("This model's maximum context length is %d tokens. However, your messages resulted in %d tokens. Please reduce the length of the messages.", spec.ContextLength, p.promptTokens))
	}

	choice, aerr := parseToolChoice(r.ToolChoice, r.Tools)
	if aerr != nil {
		return nil, aerr
	}
	var structured []string
	if rf := r.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", "text":
		case "json_object":
			structured = fragments(`{"answer":"` + word(seed) + " " + word(seed+1) + " " + word(seed+2) + `"}`)
		case "json_schema":
			var sch json.RawMessage
			if rf.JSONSchema != nil {
				sch = rf.JSONSchema.Schema
			}
			out, err := generateArguments(sch, seed)
			if err != nil {
				return nil, invalidRequest("response_format", "invalid_json_schema", "Invalid schema for response_format: "+err.Error())
			}
			structured = fragments(out)
		default:
			return nil, invalidRequest("response_format.type", "invalid_value", "Invalid value: '"+rf.Type+"'. Supported values are: 'json_object', 'json_schema', and 'text'.")
		}
	}

	if f := faultError(d.fault, r.Model); f != nil {
		return nil, f
	}

	// Pacing: the model's default, then the user's directives.
	if spec.pacing == pacingConfig {
		p.ttft, p.interval = t.ttft, t.interval
	}
	if d.set&setTTFT != 0 {
		p.ttft = d.ttft
	}
	if d.set&setTPS != 0 {
		p.interval = 0
		if d.tps > 0 {
			p.interval = intervalFor(d.tps)
		}
	}

	natural := t.maxTokens
	if natural <= 0 {
		natural = 24 + int(seed%73)
	}
	if d.set&setTokens != 0 {
		natural = d.tokens
	}

	budget := capTokens
	if spec.kind == kindReasoning {
		nat, show, aerr := reasoningLength(&r, seed)
		if aerr != nil {
			return nil, aerr
		}
		p.reasonSeed, p.reasonNat, p.showReason = seed^0x5eed5eed5eed5eed, nat, show
		p.reasonN = min(nat, budget)
		budget -= p.reasonN
		if p.reasonN < nat {
			p.finish = "length"
		}
	}

	last := &r.Messages[len(r.Messages)-1]
	var call *tool
	switch choice.mode {
	case "none":
	case "required":
		call = firstFunction(r.Tools)
	case "named":
		call = choice.tool
	default:
		if spec.kind == kindTools && last.Role != "tool" {
			call = firstFunction(r.Tools)
		}
	}

	switch {
	case call != nil:
		name := call.Function.Name
		args, err := generateArguments(call.Function.Parameters, seed^fnvString(fnvOffset, name))
		if err != nil {
			return nil, invalidRequest("tools", "invalid_function_parameters", "Invalid schema for function '"+name+"': "+err.Error())
		}
		p.toolName = name
		p.toolArgs = strings.ToValidUTF8(args, "\uFFFD")
		p.toolID = string(appendHashID([]byte("call_"), seed^0xca11, 24))
		total := 1 + countFragments(p.toolArgs)
		p.toolN = min(total, budget)
		p.toolFrags = max(p.toolN-1, 0)
		if p.toolN < total {
			p.finish = "length"
		} else if p.finish == "stop" {
			p.finish = "tool_calls"
		}
	case structured != nil:
		p.prefix, p.contentNat = structured, len(structured)
	case last.Role == "tool":
		p.prefix = toolResultMention(r.Messages, last)
		if d.set&setTokens == 0 {
			natural += len(p.prefix)
		}
		p.contentNat = natural
	default:
		p.contentNat = natural
	}
	if call == nil {
		p.contentN = min(p.contentNat, budget)
		if p.contentN < p.contentNat {
			p.finish = "length"
		}
	}
	return p, nil
}

type toolChoice struct {
	mode string // "", "auto", "none", "required", "named"
	tool *tool
}

func parseToolChoice(raw json.RawMessage, tools []tool) (toolChoice, *apiError) {
	for i := range tools {
		t := &tools[i]
		if t.Type != "function" && t.Type != "" {
			continue // custom and hosted tools exist; the simulator never calls them
		}
		if t.Function == nil || t.Function.Name == "" {
			param := "tools[" + strconv.Itoa(i) + "].function.name"
			return toolChoice{}, invalidRequest(param, "missing_required_parameter", "Missing required parameter: '"+param+"'.")
		}
	}
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return toolChoice{}, nil
	}
	const onlyWithTools = "Invalid value for 'tool_choice': 'tool_choice' is only allowed when 'tools' are specified."
	if raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return toolChoice{}, invalidRequest("tool_choice", "invalid_value", "Invalid value for 'tool_choice'.")
		}
		switch s {
		case "none", "auto":
			return toolChoice{mode: s}, nil
		case "required":
			if firstFunction(tools) == nil {
				return toolChoice{}, invalidRequest("tool_choice", "invalid_value", onlyWithTools)
			}
			return toolChoice{mode: s}, nil
		}
		return toolChoice{}, invalidRequest("tool_choice", "invalid_value", "Invalid value: '"+s+"'. Supported values are: 'none', 'auto', and 'required'.")
	}
	var obj struct {
		Type     string `json:"type"`
		Function *struct {
			Name string `json:"name"`
		} `json:"function"`
	}
	if err := json.Unmarshal(raw, &obj); err != nil {
		return toolChoice{}, invalidRequest("tool_choice", "invalid_type", "Invalid type for 'tool_choice': expected a string or an object.")
	}
	if obj.Type != "function" {
		return toolChoice{mode: "auto"}, nil // allowed_tools and friends: let the model decide
	}
	if obj.Function == nil || obj.Function.Name == "" {
		return toolChoice{}, invalidRequest("tool_choice.function.name", "missing_required_parameter", "Missing required parameter: 'tool_choice.function.name'.")
	}
	if len(tools) == 0 {
		return toolChoice{}, invalidRequest("tool_choice", "invalid_value", onlyWithTools)
	}
	for i := range tools {
		t := &tools[i]
		if t.Function != nil && t.Function.Name == obj.Function.Name && (t.Type == "function" || t.Type == "") {
			return toolChoice{mode: "named", tool: t}, nil
		}
	}
	return toolChoice{}, invalidRequest("tool_choice", "invalid_value", "Tool choice 'function' name '"+obj.Function.Name+"' not found in 'tools' parameter.")
}

func firstFunction(tools []tool) *tool {
	for i := range tools {
		if (tools[i].Type == "function" || tools[i].Type == "") && tools[i].Function != nil && tools[i].Function.Name != "" {
			return &tools[i]
		}
	}
	return nil
}

var effortScale = map[string]float64{
	"minimal": 0.25, "low": 0.5, "": 1, "medium": 1, "high": 2, "xhigh": 3, "none": 0,
}

// reasoningLength decides how many reasoning tokens the reasoning model
// spends (16..64 at medium effort) and whether their text is returned.
func reasoningLength(r *chatRequest, seed uint64) (n int, show bool, _ *apiError) {
	effort, param := r.ReasoningEffort, "reasoning_effort"
	show = r.IncludeReasoning == nil || *r.IncludeReasoning
	var maxReason int64 = -1
	if o := r.Reasoning; o != nil {
		if o.Effort != "" {
			effort, param = o.Effort, "reasoning.effort"
		}
		if o.Exclude {
			show = false
		}
		if o.Enabled != nil && !*o.Enabled {
			effort = "none"
		}
		if o.MaxTokens != nil {
			maxReason = max(*o.MaxTokens, 0)
		}
	}
	scale, ok := effortScale[effort]
	if !ok {
		return 0, false, invalidRequest(param, "invalid_value", "Invalid value: '"+effort+"'. Supported values are: 'none', 'minimal', 'low', 'medium', 'high', and 'xhigh'.")
	}
	n = int(float64(16+(seed>>8)%49) * scale)
	if maxReason >= 0 {
		n = int(min(int64(n), maxReason))
	}
	return n, show, nil
}

// toolResultMention is the start of an answer that visibly uses the tool
// result, so a user can see the round trip worked.
func toolResultMention(msgs []message, last *message) []string {
	name := last.Name
	for i := len(msgs) - 1; i >= 0 && name == ""; i-- {
		for _, tc := range msgs[i].ToolCalls {
			if tc.ID == last.ToolCallID {
				name = tc.Function.Name
				break
			}
		}
	}
	if name == "" {
		name = "tool"
	}
	result := strings.Join(strings.Fields(string(last.Content)), " ")
	const maxExcerpt = 200
	if len(result) > maxExcerpt {
		cut := maxExcerpt
		for cut > 0 && !utf8.RuneStart(result[cut]) {
			cut--
		}
		result = result[:cut] + "…"
	}
	if result == "" {
		result = "nothing"
	}
	words := strings.Fields("The " + name + " tool returned " + result + ".")
	for i := 1; i < len(words); i++ {
		words[i] = " " + words[i]
	}
	return words
}

// fragmentSize approximates a model token of JSON text in bytes.
const fragmentSize = 4

// nextFragment returns the end of the fragment starting at pos, never
// splitting a UTF-8 sequence, so every fragment encodes on its own.
func nextFragment(s string, pos int) int {
	end := pos + fragmentSize
	if end >= len(s) {
		return len(s)
	}
	for end < len(s) && !utf8.RuneStart(s[end]) {
		end++
	}
	return end
}

func countFragments(s string) int {
	n := 0
	for pos := 0; pos < len(s); pos = nextFragment(s, pos) {
		n++
	}
	return n
}

func fragments(s string) []string {
	out := make([]string, 0, countFragments(s))
	for pos := 0; pos < len(s); {
		end := nextFragment(s, pos)
		out = append(out, s[pos:end])
		pos = end
	}
	return out
}
