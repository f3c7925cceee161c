package anthropic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
)

// request is what the fake keeps of a validated Messages request.
type request struct {
	Model         string
	MaxTokens     int
	Stream        bool
	StopSequences []string
	Tools         map[string]json.RawMessage // name -> input_schema
	lastUserText  string
	promptChars   int
}

type wireRequest struct {
	Model         *string           `json:"model"`
	MaxTokens     *json.Number      `json:"max_tokens"`
	Messages      []json.RawMessage `json:"messages"`
	System        json.RawMessage   `json:"system"`
	Stream        bool              `json:"stream"`
	StopSequences []string          `json:"stop_sequences"`
	Tools         []struct {
		Type        string          `json:"type"`
		Name        string          `json:"name"`
		InputSchema json.RawMessage `json:"input_schema"`
	} `json:"tools"`
	ToolChoice *struct {
		Type string `json:"type"`
		Name string `json:"name"`
	} `json:"tool_choice"`
}

type wireMessage struct {
	Role    string          `json:"role"`
	Content json.RawMessage `json:"content"`
}

type wireBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
	ToolUseID string          `json:"tool_use_id"`
	Content   json.RawMessage `json:"content"`
	Source    *struct {
		Type      string `json:"type"`
		MediaType string `json:"media_type"`
		Data      string `json:"data"`
		URL       string `json:"url"`
	} `json:"source"`
}

func fieldErr(path, msg string, args ...any) error {
	return fmt.Errorf("%s: %s", path, fmt.Sprintf(msg, args...))
}

// parseRequest validates body with the checks and messages of the real API.
func parseRequest(body []byte) (*request, error) {
	var w wireRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&w); err != nil {
		return nil, fmt.Errorf("There was an error parsing the body of your request. Please make sure it is valid JSON: %v", err)
	}
	if w.Model == nil || *w.Model == "" {
		return nil, fieldErr("model", "%v", errFieldRequired)
	}
	if w.MaxTokens == nil {
		return nil, fieldErr("max_tokens", "%v", errFieldRequired)
	}
	mt, err := w.MaxTokens.Int64()
	if err != nil {
		return nil, fieldErr("max_tokens", "Input should be a valid integer")
	}
	if mt < 1 {
		return nil, fieldErr("max_tokens", "Input should be greater than or equal to 1")
	}
	if w.Messages == nil {
		return nil, fieldErr("messages", "%v", errFieldRequired)
	}
	if len(w.Messages) == 0 {
		return nil, fieldErr("messages", "at least one message is required")
	}
	r := &request{Model: *w.Model, MaxTokens: int(mt), Stream: w.Stream, StopSequences: w.StopSequences, Tools: map[string]json.RawMessage{}}

	if n, err := systemChars(w.System); err != nil {
		return nil, err
	} else {
		r.promptChars += n
	}
	for i, t := range w.Tools {
		if t.Type != "" && t.Type != "custom" {
			continue // server tools (web_search_..., bash_...) carry no schema
		}
		if t.Name == "" {
			return nil, fieldErr(fmt.Sprintf("tools.%d.custom.name", i), "%v", errFieldRequired)
		}
		if len(t.InputSchema) == 0 {
			return nil, fieldErr(fmt.Sprintf("tools.%d.custom.input_schema", i), "%v", errFieldRequired)
		}
		r.Tools[t.Name] = t.InputSchema
		r.promptChars += len(t.Name) + len(t.InputSchema)
	}
	if tc := w.ToolChoice; tc != nil {
		switch tc.Type {
		case "auto", "any", "none":
		case "tool":
			if tc.Name == "" {
				return nil, fieldErr("tool_choice.tool.name", "%v", errFieldRequired)
			}
		default:
			return nil, fieldErr("tool_choice", "Input tag '%s' found using 'type' does not match any of the expected tags: 'auto', 'any', 'tool', 'none'", tc.Type)
		}
	}

	var pendingToolUse []string // tool_use ids of the previous assistant turn
	for i, raw := range w.Messages {
		var m wireMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fieldErr(fmt.Sprintf("messages.%d", i), "Input should be a valid dictionary")
		}
		switch m.Role {
		case "user", "assistant":
		case "":
			return nil, fieldErr(fmt.Sprintf("messages.%d.role", i), "%v", errFieldRequired)
		default:
			return nil, fieldErr(fmt.Sprintf("messages.%d.role", i), "Input should be 'user' or 'assistant'")
		}
		if i == 0 && m.Role != "user" {
			return nil, fieldErr("messages", `first message must use the "user" role`)
		}
		if i > 0 && (i%2 == 1) != (m.Role == "assistant") {
			return nil, fieldErr("messages", `roles must alternate between "user" and "assistant", but found multiple %q roles in a row`, m.Role)
		}
		blocks, text, err := parseContent(fmt.Sprintf("messages.%d", i), m.Content, m.Role, i == len(w.Messages)-1)
		if err != nil {
			return nil, err
		}
		r.promptChars += len(m.Content)
		if m.Role == "user" {
			r.lastUserText = text
			seen := map[string]bool{}
			for j, b := range blocks {
				if b.Type != "tool_result" {
					continue
				}
				if !contains(pendingToolUse, b.ToolUseID) {
					return nil, fieldErr(fmt.Sprintf("messages.%d.content.%d", i, j), "unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", b.ToolUseID)
				}
				seen[b.ToolUseID] = true
			}
			var missing []string
			for _, id := range pendingToolUse {
				if !seen[id] {
					missing = append(missing, id)
				}
			}
			if len(missing) > 0 {
				return nil, fieldErr(fmt.Sprintf("messages.%d", i-1), "`tool_use` ids were found without `tool_result` blocks immediately after: %s. Each `tool_use` block must have a corresponding `tool_result` block in the next message.", strings.Join(missing, ", "))
			}
			pendingToolUse = nil
		} else {
			pendingToolUse = nil
			for _, b := range blocks {
				if b.Type == "tool_use" {
					pendingToolUse = append(pendingToolUse, b.ID)
				}
			}
		}
	}
	return r, nil
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

func systemChars(raw json.RawMessage) (int, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return len(s), nil
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return 0, fieldErr("system", "Input should be a valid list")
	}
	n := 0
	for i, b := range blocks {
		if b.Type != "text" {
			return 0, fieldErr(fmt.Sprintf("system.%d.type", i), "Input should be 'text'")
		}
		if b.Text == nil {
			return 0, fieldErr(fmt.Sprintf("system.%d.text", i), "%v", errFieldRequired)
		}
		n += len(*b.Text)
	}
	return n, nil
}

// parseContent checks one message's content and returns its blocks and the
// concatenation of its text.
func parseContent(path string, raw json.RawMessage, role string, last bool) ([]wireBlock, string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", fieldErr(path+".content", "%v", errFieldRequired)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if s == "" && !(last && role == "assistant") {
			return nil, "", fieldErr("messages", "text content blocks must be non-empty")
		}
		return nil, s, nil
	}
	var blocks []wireBlock
	if err := json.Unmarshal(raw, &blocks); err != nil {
		return nil, "", fieldErr(path+".content", "Input should be a valid list")
	}
	if len(blocks) == 0 && !(last && role == "assistant") {
		return nil, "", fieldErr(path, "all messages must have non-empty content except for the optional final assistant message")
	}
	var text strings.Builder
	for j, b := range blocks {
		bp := fmt.Sprintf("%s.content.%d", path, j)
		switch b.Type {
		case "text":
			if b.Text == nil {
				return nil, "", fieldErr(bp+".text.text", "%v", errFieldRequired)
			}
			if *b.Text == "" {
				return nil, "", fieldErr("messages", "text content blocks must be non-empty")
			}
			if text.Len() > 0 {
				text.WriteByte('\n')
			}
			text.WriteString(*b.Text)
		case "image", "document":
			if b.Source == nil {
				return nil, "", fieldErr(bp+"."+b.Type+".source", "%v", errFieldRequired)
			}
			switch b.Source.Type {
			case "base64":
				if b.Source.MediaType == "" || b.Source.Data == "" {
					return nil, "", fieldErr(bp+"."+b.Type+".source.base64", "media_type and data are required")
				}
			case "url":
				if b.Source.URL == "" {
					return nil, "", fieldErr(bp+"."+b.Type+".source.url.url", "%v", errFieldRequired)
				}
			default:
				return nil, "", fieldErr(bp+"."+b.Type+".source", "Input tag '%s' found using 'type' does not match any of the expected tags: 'base64', 'url'", b.Source.Type)
			}
		case "tool_use":
			if role != "assistant" {
				return nil, "", fieldErr(bp, "tool_use blocks are only allowed in assistant messages")
			}
			if b.ID == "" || b.Name == "" {
				return nil, "", fieldErr(bp+".tool_use", "id and name are required")
			}
			if len(b.Input) == 0 || b.Input[0] != '{' {
				return nil, "", fieldErr(bp+".tool_use.input", "Input should be a valid dictionary")
			}
		case "tool_result":
			if role != "user" {
				return nil, "", fieldErr(bp, "tool_result blocks are only allowed in user messages")
			}
			if b.ToolUseID == "" {
				return nil, "", fieldErr(bp+".tool_result.tool_use_id", "%v", errFieldRequired)
			}
		case "thinking", "redacted_thinking":
			if role != "assistant" {
				return nil, "", fieldErr(bp, "thinking blocks are only allowed in assistant messages")
			}
		default:
			return nil, "", fieldErr(bp, "Input tag '%s' found using 'type' does not match any of the expected tags: 'text', 'image', 'document', 'tool_use', 'tool_result', 'thinking', 'redacted_thinking'", b.Type)
		}
	}
	return blocks, text.String(), nil
}
