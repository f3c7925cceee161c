package cache

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// A cached answer is kept in the form it arrived in (the chunks of a stream, or a
// chat.completion body) and converted when a request asks for the other: Assemble builds the
// body a non-streamed request would have got from a recorded stream, Synthesize the chunks a
// streamed request would have got from a recorded body. Conversions happen on hits of the
// other kind only, so they favour fidelity over speed and use encoding/json.

type chunkJSON struct {
	ID                string          `json:"id,omitempty"`
	Object            string          `json:"object,omitempty"`
	Created           int64           `json:"created,omitempty"`
	Model             string          `json:"model,omitempty"`
	Provider          string          `json:"provider,omitempty"`
	SystemFingerprint string          `json:"system_fingerprint,omitempty"`
	Choices           []choiceJSON    `json:"choices"`
	Usage             json.RawMessage `json:"usage,omitempty"`
}

type choiceJSON struct {
	Index        int             `json:"index"`
	Delta        *messageJSON    `json:"delta,omitempty"`
	Message      *messageJSON    `json:"message,omitempty"`
	FinishReason *string         `json:"finish_reason"`
	Logprobs     json.RawMessage `json:"logprobs,omitempty"`
}

type messageJSON struct {
	Role      string         `json:"role,omitempty"`
	Content   *string        `json:"content,omitempty"`
	Reasoning *string        `json:"reasoning,omitempty"`
	Refusal   *string        `json:"refusal,omitempty"`
	ToolCalls []toolCallJSON `json:"tool_calls,omitempty"`
}

type toolCallJSON struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// Assemble merges the chunks of a complete stream into the chat.completion a non-streamed
// request gets: content, reasoning and refusal concatenated per choice, tool calls merged by
// index with their arguments concatenated, the last finish_reason, and the usage chunk.
func Assemble(chunks [][]byte) ([]byte, error) {
	type acc struct {
		role                        string
		content, reasoning, refusal strings.Builder
		hasContent, hasReasoning    bool
		hasRefusal                  bool
		calls                       []toolCallJSON
		finish                      *string
	}
	var out chunkJSON
	var choices []*acc
	for i, raw := range chunks {
		var c chunkJSON
		if err := json.Unmarshal(raw, &c); err != nil {
			return nil, fmt.Errorf("cache: assemble: chunk %d: %w", i, err)
		}
		if out.ID == "" {
			out.ID, out.Created, out.Model, out.Provider, out.SystemFingerprint = c.ID, c.Created, c.Model, c.Provider, c.SystemFingerprint
		}
		if len(c.Usage) > 0 && string(c.Usage) != "null" {
			out.Usage = c.Usage
		}
		for _, ch := range c.Choices {
			if ch.Index < 0 || ch.Index > 128 {
				return nil, fmt.Errorf("cache: assemble: chunk %d: choice index %d", i, ch.Index)
			}
			for len(choices) <= ch.Index {
				choices = append(choices, &acc{})
			}
			a := choices[ch.Index]
			if ch.FinishReason != nil {
				a.finish = ch.FinishReason
			}
			d := ch.Delta
			if d == nil {
				continue
			}
			if d.Role != "" {
				a.role = d.Role
			}
			if d.Content != nil {
				a.content.WriteString(*d.Content)
				a.hasContent = true
			}
			if d.Reasoning != nil {
				a.reasoning.WriteString(*d.Reasoning)
				a.hasReasoning = true
			}
			if d.Refusal != nil {
				a.refusal.WriteString(*d.Refusal)
				a.hasRefusal = true
			}
			for _, tc := range d.ToolCalls {
				idx := len(a.calls)
				if tc.Index != nil {
					idx = *tc.Index
				}
				if idx < 0 || idx > 1024 {
					return nil, fmt.Errorf("cache: assemble: chunk %d: tool call index %d", i, idx)
				}
				for len(a.calls) <= idx {
					a.calls = append(a.calls, toolCallJSON{Type: "function"})
				}
				call := &a.calls[idx]
				if tc.ID != "" {
					call.ID = tc.ID
				}
				if tc.Type != "" {
					call.Type = tc.Type
				}
				call.Function.Name += tc.Function.Name
				call.Function.Arguments += tc.Function.Arguments
			}
		}
	}
	if len(choices) == 0 {
		return nil, errors.New("cache: assemble: the stream has no choices")
	}
	out.Object = "chat.completion"
	for i, a := range choices {
		m := &messageJSON{Role: a.role, ToolCalls: a.calls}
		if m.Role == "" {
			m.Role = "assistant"
		}
		content := a.content.String()
		if a.hasContent || len(a.calls) == 0 {
			m.Content = &content
		}
		if a.hasReasoning {
			r := a.reasoning.String()
			m.Reasoning = &r
		}
		if a.hasRefusal {
			r := a.refusal.String()
			m.Refusal = &r
		}
		for j := range m.ToolCalls {
			m.ToolCalls[j].Index = nil
		}
		out.Choices = append(out.Choices, choiceJSON{Index: i, Message: m, FinishReason: a.finish})
	}
	return json.Marshal(out)
}

// Synthesize turns a chat.completion into the chunks a streamed request gets: per choice a
// role chunk, the reasoning, the content, each tool call whole, then the finish_reason; and
// the usage chunk last, with no choices, as OpenAI sends it.
func Synthesize(body []byte) ([][]byte, error) {
	var c chunkJSON
	if err := json.Unmarshal(body, &c); err != nil {
		return nil, fmt.Errorf("cache: synthesize: %w", err)
	}
	if len(c.Choices) == 0 {
		return nil, errors.New("cache: synthesize: the completion has no choices")
	}
	head := chunkJSON{ID: c.ID, Object: "chat.completion.chunk", Created: c.Created, Model: c.Model, Provider: c.Provider,
		SystemFingerprint: c.SystemFingerprint}
	var out [][]byte
	emit := func(ch choiceJSON) error {
		k := head
		k.Choices = []choiceJSON{ch}
		b, err := json.Marshal(k)
		out = append(out, b)
		return err
	}
	empty := ""
	for _, ch := range slices.Clone(c.Choices) {
		m := ch.Message
		if m == nil {
			m = &messageJSON{}
		}
		role := m.Role
		if role == "" {
			role = "assistant"
		}
		if err := emit(choiceJSON{Index: ch.Index, Delta: &messageJSON{Role: role, Content: &empty}}); err != nil {
			return nil, err
		}
		if m.Reasoning != nil && *m.Reasoning != "" {
			if err := emit(choiceJSON{Index: ch.Index, Delta: &messageJSON{Reasoning: m.Reasoning}}); err != nil {
				return nil, err
			}
		}
		if m.Content != nil && *m.Content != "" {
			if err := emit(choiceJSON{Index: ch.Index, Delta: &messageJSON{Content: m.Content}}); err != nil {
				return nil, err
			}
		}
		if m.Refusal != nil && *m.Refusal != "" {
			if err := emit(choiceJSON{Index: ch.Index, Delta: &messageJSON{Refusal: m.Refusal}}); err != nil {
				return nil, err
			}
		}
		for j, tc := range m.ToolCalls {
			tc.Index = &j
			if err := emit(choiceJSON{Index: ch.Index, Delta: &messageJSON{ToolCalls: []toolCallJSON{tc}}}); err != nil {
				return nil, err
			}
		}
		finish := ch.FinishReason
		if finish == nil {
			stop := "stop"
			finish = &stop
		}
		if err := emit(choiceJSON{Index: ch.Index, Delta: &messageJSON{}, FinishReason: finish}); err != nil {
			return nil, err
		}
	}
	if len(c.Usage) > 0 && string(c.Usage) != "null" {
		k := head
		k.Choices = []choiceJSON{}
		k.Usage = c.Usage
		b, err := json.Marshal(k)
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}
