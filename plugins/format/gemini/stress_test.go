package gemini_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream/gemini"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/plugins/internal/formattest"
)

// fakeStream is one recorded or fake-made stream and what a client must rebuild from it.
type fakeStream struct {
	name string
	evs  []sseEvent
	want summary
}

// stressStreams are the recorded streams and one fake-made stream of every kind the fake
// makes, each request written by the plugin's own format_request as the node does. want
// comes from a plugin that runs every call on a fresh instance, fed the whole stream at once:
// nothing an earlier call left in the heap can reach it.
func stressStreams(t *testing.T, p *wasmhost.Plugin) []fakeStream {
	t.Helper()
	_, base := gemini.Start(t, gemini.Options{APIKey: apiKey})
	fresh := loadWith(t, wasmhost.Limits{Instances: 1, MaxCalls: 1})
	var out []fakeStream
	for _, name := range []string{"stream_text.sse", "stream_tool.sse", "stream_error.sse", "stream_blocked.sse"} {
		out = append(out, fakeStream{name: name, evs: parseSSE(t, readFile(t, name))})
	}
	for _, prompt := range []string{
		"hello [[words:1]]", "tell me more [[words:40]]", "a long one [[words:300]]", "think first [[thinking]] [[words:12]]",
		"weather in Paris? [[tool:get_weather]]", "cached [[cached:2048]] [[words:9]]", "fails [[stream_error]] [[words:20]]",
		"stopped [[finish:SAFETY]]", "blocked [[blocked:SAFETY]]",
	} {
		req := map[string]any{"messages": msgs(userMsg(prompt))}
		if strings.Contains(prompt, "[[tool:") {
			req["tools"] = weatherTool
		}
		out = append(out, fakeStream{name: prompt, evs: fetchStream(t, p, base, req)})
	}
	for i := range out {
		out[i].want = runStream(t, fresh, out[i].evs, len(out[i].evs))
		if !out[i].want.Done && out[i].want.Err == nil {
			t.Fatalf("%s: the stream never ends: %+v", out[i].name, out[i].want)
		}
	}
	return out
}

// fetchStream asks the fake for the stream of req, as the node would.
func fetchStream(t *testing.T, p *wasmhost.Plugin, base string, req map[string]any) []sseEvent {
	t.Helper()
	out := call(t, p, "hook_format_request", formatRequest(t, "gemini-2.5-flash", true, req))
	var hr struct {
		Method, Path, Query string
		Headers             map[string]string
		Body                json.RawMessage
	}
	if err := json.Unmarshal(out, &hr); err != nil {
		t.Fatalf("format_request: %s (%v)", out, err)
	}
	hreq, err := http.NewRequest(hr.Method, base+"/v1beta"+hr.Path+"?"+hr.Query, bytes.NewReader(hr.Body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hr.Headers {
		hreq.Header.Set(k, strings.ReplaceAll(v, "{{api_key}}", apiKey))
	}
	resp, err := http.DefaultClient.Do(hreq)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the fake answered %d: %s", resp.StatusCode, body)
	}
	return parseSSE(t, body)
}

// TestStreamOneInstance drives many streams through one plugin instance at once, in random
// batches and random order, with other hooks' calls in between, as the node's pooled
// instances serve them: the plugin's heap and statics persist across all of them. Every
// stream must rebuild exactly what a fresh instance makes of it. An instance's first calls
// reshape its heap most (buffers and the SDK's index tables grow into memory earlier calls
// left behind), so it is also recycled every few calls. The seed is fixed: a failure replays.
func TestStreamOneInstance(t *testing.T) {
	for _, maxCalls := range []int{0, 3, 4, 23} {
		t.Run(fmt.Sprintf("recycled after %d calls", maxCalls), func(t *testing.T) {
			p := loadWith(t, wasmhost.Limits{Instances: 1, MaxCalls: maxCalls})
			streams := stressStreams(t, p)
			others := []struct{ hook, in string }{
				{"hook_format_request", string(formatRequest(t, "gemini-2.5-flash", false, map[string]any{"messages": msgs(userMsg("hi")), "tools": weatherTool}))},
				{"hook_format_response", string(responseIn(t, readFile(t, "response_tool_call.json")))},
				{"hook_format_error", `{"status":429,"body":` + string(readFile(t, "error_quota.json")) + `}`},
			}
			rounds := 40
			if testing.Short() {
				rounds = 10
			}
			rng := rand.New(rand.NewPCG(3, 4))
			type progress struct {
				s      *fakeStream
				pos    int
				state  []byte
				asJSON bool
				got    assembler
			}
			for round := 0; round < rounds; round++ {
				var live []*progress
				for n := 1 + rng.IntN(6); n > 0; n-- {
					live = append(live, &progress{s: &streams[rng.IntN(len(streams))], state: []byte(`""`), asJSON: rng.IntN(4) != 0})
				}
				for len(live) > 0 {
					if rng.IntN(8) == 0 {
						o := others[rng.IntN(len(others))]
						call(t, p, o.hook, []byte(o.in))
					}
					i := rng.IntN(len(live))
					sp := live[i]
					end := min(sp.pos+1+rng.IntN(6), len(sp.s.evs))
					if rng.IntN(10) == 0 {
						end = len(sp.s.evs)
					}
					out := call(t, p, "hook_format_stream", formattest.HostStreamInputToken("gemini-2.5-flash", sp.state, sp.s.evs[sp.pos:end], sp.asJSON))
					var st struct {
						State json.RawMessage `json:"state"`
					}
					if err := json.Unmarshal(out, &st); err != nil || len(st.State) == 0 {
						t.Fatalf("round %d, %s, events %d..%d: no state in %s (%v)", round, sp.s.name, sp.pos, end, out, err)
					}
					sp.state = append(sp.state[:0], st.State...)
					sp.got.add(t, out, end == len(sp.s.evs))
					sp.pos = end
					if end == len(sp.s.evs) {
						if got := sp.got.summary(); !reflect.DeepEqual(got, sp.s.want) {
							t.Fatalf("round %d, %s:\ngot  %+v (error %+v)\nwant %+v (error %+v)", round, sp.s.name, got, got.Err, sp.s.want, sp.s.want.Err)
						}
						live = append(live[:i], live[i+1:]...)
					}
				}
			}
		})
	}
}
