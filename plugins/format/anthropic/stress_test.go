package anthropic_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream/anthropic"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/plugins/internal/formattest"
)

// fakeStream is one SSE stream the fake Messages API sent, and what a client must rebuild
// from it, worked out from the events themselves rather than by the plugin.
type fakeStream struct {
	name   string
	model  string // the provider model the host passes to hook_format_stream
	events []sseEvent
	want   assembled
}

// fakeStreams asks the fake Messages API for streams of every kind it makes (text of many
// lengths, thinking, tool calls, cached prompts, a mid-stream error), with model names that
// need escaping, so the state carries escapes back and forth. Each request is written by
// the plugin's own hook_format_request, as the node does.
func fakeStreams(t testing.TB, p *wasmhost.Plugin) []fakeStream {
	t.Helper()
	srv := anthropic.New(anthropic.Options{APIKey: "sk-ant-test"})
	tools := `[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object",` +
		`"properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city","days"]}}},` +
		`{"type":"function","function":{"name":"lookup","parameters":{"type":"object","properties":{"q":{"type":"string"}},"required":["q"]}}}]`
	models := []string{"claude-sonnet-4-5", `claude-"quoted"\back\slash`, "claude-é-🗼-<&>", "c", strings.Repeat("claude-long-", 20)}
	prompts := []string{
		"hello [[words:1]]", "hello [[words:7]]", "tell me more [[words:40]]", "a long one [[words:300]]",
		"[[thinking]] think first [[words:12]]", "[[thinking]] only thoughts [[words:0]]",
		"weather? [[tool:get_weather]]", "look it up [[tool:lookup]] [[words:5]]", "[[thinking]] [[tool:get_weather]] [[words:3]]",
		"cached [[cached:2048]] [[words:9]]", "fails [[stream_error]] [[words:20]]", "fails early [[stream_error]] [[words:1]]",
	}
	var out []fakeStream
	for i, prompt := range prompts {
		model := models[i%len(models)]
		req := `{"model":"anthropic/x","messages":[{"role":"system","content":"Be brief."},{"role":"user","content":` +
			string(mustJSON(t, prompt)) + `}],"max_tokens":400,"tools":` + tools + `}`
		wire := call(t, p, wasmhost.HookFormatRequest, []byte(`{"model":`+string(mustJSON(t, model))+`,"stream":true,"request":`+req+`}`))
		var w struct {
			Path string          `json:"path"`
			Body json.RawMessage `json:"body"`
		}
		if err := json.Unmarshal(wire, &w); err != nil {
			t.Fatalf("%s: %v: %s", prompt, err, wire)
		}
		r := httptest.NewRequest(http.MethodPost, "/v1"+w.Path, bytes.NewReader(w.Body))
		r.Header.Set("X-Api-Key", "sk-ant-test")
		r.Header.Set("Anthropic-Version", "2023-06-01")
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, r)
		if rec.Code != http.StatusOK {
			t.Fatalf("%s: the fake answered %d: %s", prompt, rec.Code, rec.Body)
		}
		events := formattest.ParseSSE(rec.Body.Bytes())
		out = append(out, fakeStream{name: prompt, model: model, events: events, want: expectStream(t, events)})
	}
	return out
}

// fakeUsage and fakeEvent read what expectStream needs of the Messages API's stream events.
type fakeUsage struct {
	Input         *int `json:"input_tokens"`
	Output        *int `json:"output_tokens"`
	CacheRead     *int `json:"cache_read_input_tokens"`
	CacheCreation *int `json:"cache_creation_input_tokens"`
}

type fakeEvent struct {
	Type    string `json:"type"`
	Index   int    `json:"index"`
	Message struct {
		ID    string    `json:"id"`
		Model string    `json:"model"`
		Usage fakeUsage `json:"usage"`
	} `json:"message"`
	ContentBlock struct {
		Type     string `json:"type"`
		ID       string `json:"id"`
		Name     string `json:"name"`
		Text     string `json:"text"`
		Thinking string `json:"thinking"`
	} `json:"content_block"`
	Delta struct {
		Type        string `json:"type"`
		Text        string `json:"text"`
		Thinking    string `json:"thinking"`
		PartialJSON string `json:"partial_json"`
		StopReason  string `json:"stop_reason"`
	} `json:"delta"`
	Usage fakeUsage `json:"usage"`
	Error struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// expectStream is what a client must rebuild from an Anthropic stream, by the Messages API's
// documented meaning of each event.
func expectStream(t testing.TB, events []sseEvent) assembled {
	t.Helper()
	var a assembled
	var in, out, read, created int
	merge := func(u fakeUsage) {
		for _, f := range []struct{ src, dst *int }{{u.Input, &in}, {u.Output, &out}, {u.CacheRead, &read}, {u.CacheCreation, &created}} {
			if f.src != nil {
				*f.dst = *f.src
			}
		}
	}
	tools := map[int]int{} // block index -> tool call index
	for _, e := range events {
		var ev fakeEvent
		if err := json.Unmarshal([]byte(e.Data), &ev); err != nil {
			t.Fatalf("fake event %q: %v", e.Data, err)
		}
		switch ev.Type {
		case "message_start":
			a.ID, a.Model, a.Role = ev.Message.ID, ev.Message.Model, "assistant"
			merge(ev.Message.Usage)
		case "content_block_start":
			switch b := ev.ContentBlock; b.Type {
			case "tool_use":
				tools[ev.Index] = len(a.Tools)
				a.Tools = append(a.Tools, toolCall{ID: b.ID, Name: b.Name})
			case "text":
				a.Content += b.Text
			case "thinking":
				a.Reasoning += b.Thinking
			}
		case "content_block_delta":
			switch d := ev.Delta; d.Type {
			case "text_delta":
				a.Content += d.Text
			case "thinking_delta":
				a.Reasoning += d.Thinking
			case "input_json_delta":
				if k, ok := tools[ev.Index]; ok {
					a.Tools[k].Args += d.PartialJSON
				}
			}
		case "message_delta":
			merge(ev.Usage)
			a.Finish = map[string]string{"end_turn": "stop", "stop_sequence": "stop", "max_tokens": "length", "tool_use": "tool_calls"}[ev.Delta.StopReason]
		case "message_stop":
			a.Usage = [4]int{in + read + created, out, in + read + created + out, read}
			a.Done = true
			return a
		case "error":
			a.ErrType, a.ErrMessage = ev.Error.Type, ev.Error.Message
			a.ErrStatus = map[string]int{"overloaded_error": 503, "rate_limit_error": 429, "api_error": 500}[ev.Error.Type]
			if a.ErrStatus == 0 {
				a.ErrStatus = 502
			}
			return a
		}
	}
	return a
}

// streamProgress is one stream under way on the shared instance.
type streamProgress struct {
	s      *fakeStream
	pos    int    // events sent so far
	state  []byte // the state token, carried verbatim as the node carries it
	asJSON bool
	calls  int
	got    assembled
}

// TestStreamStateOneInstance drives many streams through one plugin instance at once, in
// random batches and in random order, with other hooks' calls in between, as the node's
// pooled instances serve them: the plugin's heap and statics persist across all of them,
// and the batch boundaries follow network timing. Every call must read the state it wrote
// and every stream must rebuild exactly what the fake sent. The seed is fixed, so a failure
// replays.
//
// An instance's first calls matter most: that is when the plugin's heap is reshaped (its
// buffers and the SDK's index tables grow into memory earlier calls left behind), so the
// instance is also recycled every few calls, as if the node had just started. 0 keeps one
// instance for the whole run.
func TestStreamStateOneInstance(t *testing.T) {
	for _, maxCalls := range []int{0, 2, 3, 5, 6, 10} {
		t.Run(fmt.Sprintf("recycled after %d calls", maxCalls), func(t *testing.T) { stressStreams(t, maxCalls) })
	}
}

func stressStreams(t *testing.T, maxCalls int) {
	p := loadWith(t, wasmhost.Limits{Instances: 1, MaxCalls: maxCalls})
	streams := fakeStreams(t, p)
	others := validInputs(t)
	otherHooks := []string{wasmhost.HookFormatRequest, wasmhost.HookFormatResponse, wasmhost.HookFormatError}
	rounds := 40
	if testing.Short() {
		rounds = 10
	}
	rng := rand.New(rand.NewPCG(1, 2))
	calls := 0
	for round := 0; round < rounds; round++ {
		var live []*streamProgress
		for n := 1 + rng.IntN(6); n > 0; n-- {
			live = append(live, &streamProgress{s: &streams[rng.IntN(len(streams))], state: []byte(`""`), asJSON: rng.IntN(4) != 0})
		}
		for len(live) > 0 {
			if rng.IntN(8) == 0 {
				hook := otherHooks[rng.IntN(len(otherHooks))]
				call(t, p, hook, others[hook])
				calls++
			}
			i := rng.IntN(len(live))
			sp := live[i]
			n := 1 + rng.IntN(6)
			if rng.IntN(10) == 0 {
				n = len(sp.s.events) // a reader that fell behind gets everything at once
			}
			end := min(sp.pos+n, len(sp.s.events))
			in := formattest.HostStreamInputToken(sp.s.model, sp.state, sp.s.events[sp.pos:end], sp.asJSON)
			raw := call(t, p, wasmhost.HookFormatStream, in)
			calls++
			sp.calls++
			var out struct {
				State json.RawMessage `json:"state"`
				Error *struct {
					Code string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(raw, &out); err != nil {
				t.Fatalf("round %d, call %d: %v: %s", round, calls, err, raw)
			}
			if out.Error != nil && out.Error.Code != "" {
				t.Fatalf("round %d, call %d (%q, call %d of its stream, events %d..%d): the plugin failed: %s\ninput: %s",
					round, calls, sp.s.name, sp.calls, sp.pos, end, raw, in)
			}
			checkState(t, out.State, sp)
			sp.state = append(sp.state[:0], out.State...)
			sp.got.add(t, raw)
			sp.pos = end
			if sp.pos == len(sp.s.events) || sp.got.Done || sp.got.ErrStatus != 0 {
				if sp.got.ErrStatus == 0 && !sp.got.Done {
					t.Fatalf("%q ran out of events without done", sp.s.name)
				}
				if !equalAssembled(sp.got, sp.s.want) {
					t.Fatalf("round %d, %q:\ngot  %+v\nwant %+v", round, sp.s.name, sp.got, sp.s.want)
				}
				live = append(live[:i], live[i+1:]...)
			}
		}
	}
	t.Logf("%d calls on one instance", calls)
}

// checkState requires a state token that is a JSON string holding a JSON object, and, once
// the stream's message_start has gone through, the stream's own message id.
func checkState(t testing.TB, token json.RawMessage, sp *streamProgress) {
	t.Helper()
	var s string
	var st struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(token, &s); err != nil {
		t.Fatalf("%q: state %s is not a JSON string: %v", sp.s.name, token, err)
	}
	if err := json.Unmarshal([]byte(s), &st); err != nil {
		t.Fatalf("%q: state %q is not a JSON object: %v", sp.s.name, s, err)
	}
	if sp.got.Role != "" && st.ID != sp.s.want.ID {
		t.Fatalf("%q: state %q carries id %q, want %q", sp.s.name, s, st.ID, sp.s.want.ID)
	}
}

// equalAssembled compares a rebuilt stream with the expected one; tool calls are compared
// field by field, so a nil and an empty list are the same.
func equalAssembled(got, want assembled) bool {
	if len(got.Tools) != len(want.Tools) {
		return false
	}
	for i := range got.Tools {
		if got.Tools[i] != want.Tools[i] {
			return false
		}
	}
	got.Tools, want.Tools = nil, nil
	return fmt.Sprint(got) == fmt.Sprint(want)
}
