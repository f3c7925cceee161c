package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
)

// instant is a Config whose realistic models do not sleep, for tests that
// are about bytes rather than timing.
var instant = Config{TTFT: -1, TokensPerSecond: -1}

func newClient(cfg Config) *http.Client {
	return &http.Client{Transport: New(cfg)}
}

// post sends body (a string, or anything JSON-encodable) to
// /v1/chat/completions.
func post(t testing.TB, c *http.Client, ctx context.Context, body any) *http.Response {
	t.Helper()
	resp, err := tryPost(c, ctx, body)
	if err != nil {
		t.Fatalf("post: %v", err)
	}
	return resp
}

func tryPost(c *http.Client, ctx context.Context, body any) (*http.Response, error) {
	var raw []byte
	switch b := body.(type) {
	case string:
		raw = []byte(b)
	case []byte:
		raw = b
	default:
		var err error
		if raw, err = json.Marshal(b); err != nil {
			return nil, err
		}
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sim.local/v1/chat/completions", bytes.NewReader(raw))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return c.Do(req)
}

func userMsg(text string) []map[string]any {
	return []map[string]any{{"role": "user", "content": text}}
}

type completion struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index   int `json:"index"`
		Message struct {
			Role      string  `json:"role"`
			Content   *string `json:"content"`
			Reasoning *string `json:"reasoning"`
			ToolCalls []struct {
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage usage `json:"usage"`
}

type usage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"prompt_tokens_details"`
	CompletionTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details"`
}

// decodeCompletion checks a non-stream success response and decodes it.
func decodeCompletion(t testing.TB, resp *http.Response) completion {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read body: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("status %d, body %s", resp.StatusCode, body)
	}
	if got := resp.Header.Get("Content-Type"); got != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if resp.ContentLength != int64(len(body)) {
		t.Errorf("ContentLength = %d, body is %d bytes", resp.ContentLength, len(body))
	}
	var c completion
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(&c); err != nil {
		t.Fatalf("decode %s: %v", body, err)
	}
	if c.Object != "chat.completion" || !strings.HasPrefix(c.ID, "chatcmpl-") || c.Created == 0 || c.SystemFingerprint != "fp_sim" || len(c.Choices) != 1 {
		t.Errorf("bad envelope: %s", body)
	}
	if c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens {
		t.Errorf("usage does not add up: %+v", c.Usage)
	}
	return c
}

// streamResult is a stream read to its end and checked for strict framing.
type streamResult struct {
	chunks  []chunk
	done    bool  // saw data: [DONE]
	err     error // the terminal Read error, nil after a clean EOF
	raw     []string
	content string
	reason  string
	args    string
	tool    string
	toolID  string
	finish  string
	usage   *usage
}

type chunk struct {
	ID                string `json:"id"`
	Object            string `json:"object"`
	Created           int64  `json:"created"`
	Model             string `json:"model"`
	SystemFingerprint string `json:"system_fingerprint"`
	Choices           []struct {
		Index int `json:"index"`
		Delta struct {
			Role      *string `json:"role"`
			Content   *string `json:"content"`
			Reasoning *string `json:"reasoning"`
			ToolCalls []struct {
				Index    int    `json:"index"`
				ID       string `json:"id"`
				Type     string `json:"type"`
				Function struct {
					Name      string `json:"name"`
					Arguments string `json:"arguments"`
				} `json:"function"`
			} `json:"tool_calls"`
		} `json:"delta"`
		FinishReason *string `json:"finish_reason"`
	} `json:"choices"`
	Usage *usage `json:"usage"`
}

// readStream reads an SSE body to the end, failing t on any framing
// violation among the events before [DONE]. A trailing partial event (cut)
// or a non-JSON event (malformed) is reported, not fatal, when lenient.
func readStream(t testing.TB, resp *http.Response, includeUsage, lenient bool) streamResult {
	t.Helper()
	defer resp.Body.Close()
	if got := resp.Header.Get("Content-Type"); got != "text/event-stream" {
		t.Errorf("Content-Type = %q", got)
	}
	if resp.ContentLength != -1 {
		t.Errorf("ContentLength = %d, want -1", resp.ContentLength)
	}
	data, err := io.ReadAll(resp.Body)
	var res streamResult
	res.err = err
	events := strings.Split(string(data), "\n\n")
	if last := events[len(events)-1]; last != "" {
		if !lenient {
			t.Errorf("stream does not end with a blank line: %q", last)
		}
		events = events[:len(events)-1]
	} else {
		events = events[:len(events)-1]
	}
	var id, model string
	var created int64
	finished := false
	for i, ev := range events {
		res.raw = append(res.raw, ev)
		payload, ok := strings.CutPrefix(ev, "data: ")
		if !ok || strings.Contains(payload, "\n") {
			t.Errorf("event %d is not a single data line: %q", i, ev)
			continue
		}
		if res.done {
			t.Errorf("event after [DONE]: %q", ev)
		}
		if payload == "[DONE]" {
			res.done = true
			continue
		}
		if !json.Valid([]byte(payload)) {
			if !lenient {
				t.Errorf("event %d is not JSON: %q", i, payload)
			}
			continue
		}
		var fields map[string]json.RawMessage
		if err := json.Unmarshal([]byte(payload), &fields); err != nil {
			t.Errorf("event %d is not an object: %q", i, payload)
			continue
		}
		if _, isErr := fields["error"]; isErr {
			continue
		}
		for _, k := range []string{"id", "object", "created", "model", "choices", "system_fingerprint"} {
			if _, ok := fields[k]; !ok {
				t.Errorf("event %d lacks %q: %s", i, k, payload)
			}
		}
		_, hasUsage := fields["usage"]
		if hasUsage != includeUsage {
			t.Errorf("event %d: usage present = %v, include_usage = %v", i, hasUsage, includeUsage)
		}
		var choices []map[string]json.RawMessage
		if err := json.Unmarshal(fields["choices"], &choices); err != nil {
			t.Errorf("event %d choices: %v", i, err)
		}
		for _, ch := range choices {
			fr, ok := ch["finish_reason"]
			if !ok {
				t.Errorf("event %d: choice without finish_reason: %s", i, payload)
			}
			if _, ok := ch["index"]; !ok {
				t.Errorf("event %d: choice without index", i)
			}
			if _, ok := ch["delta"]; !ok {
				t.Errorf("event %d: choice without delta", i)
			}
			if string(fr) != "null" {
				if finished {
					t.Errorf("event %d: second finish chunk", i)
				}
				finished = true
			} else if finished {
				t.Errorf("event %d: choice chunk after the finish chunk", i)
			}
		}
		var c chunk
		if err := json.Unmarshal([]byte(payload), &c); err != nil {
			t.Errorf("event %d: %v", i, err)
			continue
		}
		if c.Object != "chat.completion.chunk" {
			t.Errorf("event %d object %q", i, c.Object)
		}
		if len(res.chunks) == 0 {
			id, model, created = c.ID, c.Model, c.Created
			if len(c.Choices) != 1 || c.Choices[0].Delta.Role == nil || *c.Choices[0].Delta.Role != "assistant" {
				t.Errorf("first chunk is not the role chunk: %s", payload)
			}
		} else if c.ID != id || c.Model != model || c.Created != created {
			t.Errorf("event %d: id/model/created differ from the first chunk", i)
		}
		if len(c.Choices) == 0 {
			if c.Usage == nil {
				t.Errorf("event %d: empty choices without usage", i)
			}
			res.usage = c.Usage
		} else if c.Usage != nil {
			t.Errorf("event %d: usage on a choice chunk", i)
		}
		for _, ch := range c.Choices {
			d := ch.Delta
			if d.Content != nil {
				res.content += *d.Content
			}
			if d.Reasoning != nil {
				res.reason += *d.Reasoning
			}
			for _, tc := range d.ToolCalls {
				if tc.ID != "" {
					res.toolID, res.tool = tc.ID, tc.Function.Name
					if tc.Type != "function" {
						t.Errorf("tool call type %q", tc.Type)
					}
				}
				res.args += tc.Function.Arguments
			}
			if ch.FinishReason != nil {
				res.finish = *ch.FinishReason
			}
		}
		res.chunks = append(res.chunks, c)
	}
	if res.done && !lenient {
		if err != nil {
			t.Errorf("stream read error after [DONE]: %v", err)
		}
		if res.finish == "" {
			t.Errorf("stream ended without a finish chunk")
		}
		if includeUsage && res.usage == nil {
			t.Errorf("include_usage but no usage chunk")
		}
		if includeUsage && !strings.Contains(res.raw[len(res.raw)-2], `"choices":[]`) {
			t.Errorf("usage chunk is not last before [DONE]")
		}
	}
	return res
}

// errorBody decodes an OpenAI error response.
type errorBody struct {
	Error struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Param   *string         `json:"param"`
		Code    json.RawMessage `json:"code"`
	} `json:"error"`
}

func decodeErrorBody(t testing.TB, resp *http.Response) errorBody {
	t.Helper()
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("read error body: %v", err)
	}
	var e errorBody
	if err := json.Unmarshal(body, &e); err != nil || e.Error.Message == "" || e.Error.Type == "" {
		t.Fatalf("not an OpenAI error body (%v): %s", err, body)
	}
	for _, k := range []string{`"param":`, `"code":`} {
		if !bytes.Contains(body, []byte(k)) {
			t.Errorf("error body lacks %s: %s", k, body)
		}
	}
	return e
}

// trackingBody records how RoundTrip treated a request body.
type trackingBody struct {
	r      io.Reader
	eof    bool
	closed bool
}

func (b *trackingBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if errors.Is(err, io.EOF) {
		b.eof = true
	}
	return n, err
}

func (b *trackingBody) Close() error { b.closed = true; return nil }

func must[T any](v T, err error) T {
	if err != nil {
		panic(fmt.Sprint(err))
	}
	return v
}
