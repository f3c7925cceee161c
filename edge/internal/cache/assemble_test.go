package cache

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"
)

// A stream as OpenAI sends one: role chunk, reasoning, content in pieces, a tool call whose
// arguments arrive in pieces, finish_reason, then the usage chunk with no choices.
var recorded = []string{
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"reasoning":"Think "},"finish_reason":null}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"reasoning":"first."},"finish_reason":null}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":"Checking "},"finish_reason":null}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"content":"the weather."},"finish_reason":null}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"id":"call_1","type":"function","function":{"name":"get_weather","arguments":""}}]},"finish_reason":null}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{\"city\":"}}]},"finish_reason":null}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"\"Paris\"}"}}]},"finish_reason":null}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"tool_calls"}]}`,
	`{"id":"gen-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}`,
}

const assembled = `{"id":"gen-1","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,` +
	`"message":{"role":"assistant","content":"Checking the weather.","reasoning":"Think first.","tool_calls":[{"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Paris\"}"}}]},` +
	`"finish_reason":"tool_calls"}],"usage":{"prompt_tokens":12,"completion_tokens":9,"total_tokens":21}}`

func decode(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

func bytesOf(ss []string) [][]byte {
	out := make([][]byte, len(ss))
	for i, s := range ss {
		out[i] = []byte(s)
	}
	return out
}

func TestAssemble(t *testing.T) {
	got, err := Assemble(bytesOf(recorded))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(decode(t, got), decode(t, []byte(assembled))) {
		t.Fatalf("assembled:\n%s\nwant\n%s", got, assembled)
	}
	for name, chunks := range map[string][]string{
		"no choices": {`{"id":"x","choices":[],"usage":{"total_tokens":1}}`},
		"not JSON":   {`{"id":`},
		"bad index":  {`{"choices":[{"index":100000,"delta":{}}]}`},
	} {
		if _, err := Assemble(bytesOf(chunks)); err == nil || !strings.HasPrefix(err.Error(), "cache: assemble") {
			t.Errorf("%s: err = %v", name, err)
		}
	}
}

// TestSynthesizeThroughTheSDK: chunks synthesised from a completion, accumulated by the
// official SDK, give back the completion; and assembling them gives back the same body.
func TestSynthesizeThroughTheSDK(t *testing.T) {
	chunks, err := Synthesize([]byte(assembled))
	if err != nil {
		t.Fatal(err)
	}
	var acc openai.ChatCompletionAccumulator
	for _, c := range chunks {
		var chunk openai.ChatCompletionChunk
		if err := json.Unmarshal(c, &chunk); err != nil {
			t.Fatal(err)
		}
		if !acc.AddChunk(chunk) {
			t.Fatalf("the SDK refused chunk %s", c)
		}
	}
	var want openai.ChatCompletion
	if err := json.Unmarshal([]byte(assembled), &want); err != nil {
		t.Fatal(err)
	}
	got := acc.ChatCompletion
	if got.ID != want.ID || got.Choices[0].Message.Content != want.Choices[0].Message.Content ||
		got.Choices[0].FinishReason != want.Choices[0].FinishReason || got.Usage.TotalTokens != want.Usage.TotalTokens ||
		len(got.Choices[0].Message.ToolCalls) != 1 || got.Choices[0].Message.ToolCalls[0].Function.Arguments != `{"city":"Paris"}` ||
		got.Choices[0].Message.ToolCalls[0].ID != "call_1" {
		t.Fatalf("accumulated %+v\nwant %+v", got, want)
	}
	back, err := Assemble(chunks)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(decode(t, back), decode(t, []byte(assembled))) {
		t.Fatalf("round trip:\n%s\nwant\n%s", back, assembled)
	}
	last := decode(t, chunks[len(chunks)-1]).(map[string]any)
	if len(last["choices"].([]any)) != 0 || last["usage"] == nil {
		t.Fatalf("the usage chunk must come last with no choices: %s", chunks[len(chunks)-1])
	}
}

func TestSynthesizePlainAnswer(t *testing.T) {
	body := `{"id":"gen-2","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello."},"finish_reason":"stop"}]}`
	chunks, err := Synthesize([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if len(chunks) != 3 { // role, content, finish; no usage in the body, so no usage chunk
		t.Fatalf("%d chunks: %s", len(chunks), chunks)
	}
	back, err := Assemble(chunks)
	if err != nil || !reflect.DeepEqual(decode(t, back), decode(t, []byte(body))) {
		t.Fatalf("round trip: %s, %v", back, err)
	}
	if _, err := Synthesize([]byte(`{"choices":[]}`)); err == nil {
		t.Fatal("a completion without choices was synthesised")
	}
}

// FuzzAssemble: chunks are upstream bytes. Assembling never panics, and what it returns is
// valid JSON that synthesises back to chunks.
func FuzzAssemble(f *testing.F) {
	f.Add(recorded[1], recorded[5], recorded[9])
	f.Add(`{"choices":[{"index":1,"delta":{"tool_calls":[{"index":3}]}}]}`, `{}`, `[]`)
	f.Fuzz(func(t *testing.T, a, b, c string) {
		out, err := Assemble([][]byte{[]byte(a), []byte(b), []byte(c)})
		if err != nil {
			return
		}
		if !json.Valid(out) {
			t.Fatalf("invalid JSON: %s", out)
		}
		if _, err := Synthesize(out); err != nil {
			t.Fatalf("an assembled completion does not synthesise: %v\n%s", err, out)
		}
	})
}
