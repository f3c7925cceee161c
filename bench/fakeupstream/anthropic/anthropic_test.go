package anthropic

import (
	"bufio"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const key = "sk-ant-test"

func post(t *testing.T, url, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+"/v1/messages", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Api-Key", key)
	req.Header.Set("Anthropic-Version", "2023-06-01")
	for k, v := range hdr {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func msgs(m string) string {
	return `{"model":"claude-sonnet-4-5","max_tokens":256,"messages":` + m + `}`
}

func TestValidation(t *testing.T) {
	_, url := Start(t, Options{APIKey: key})
	toolTurns := `[{"role":"user","content":"weather?"},{"role":"assistant","content":[{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"location":"Paris"}}]},`
	cases := []struct {
		name   string
		body   string
		hdr    map[string]string
		status int
		typ    string
		msg    string // substring
	}{
		{"missing key", msgs(`[{"role":"user","content":"hi"}]`), map[string]string{"X-Api-Key": ""}, 401, "authentication_error", "x-api-key header is required"},
		{"wrong key", msgs(`[{"role":"user","content":"hi"}]`), map[string]string{"X-Api-Key": "nope"}, 401, "authentication_error", "invalid x-api-key"},
		{"missing version", msgs(`[{"role":"user","content":"hi"}]`), map[string]string{"Anthropic-Version": ""}, 400, "invalid_request_error", "anthropic-version"},
		{"not json", `{"model":`, nil, 400, "invalid_request_error", "valid JSON"},
		{"missing model", `{"max_tokens":5,"messages":[{"role":"user","content":"hi"}]}`, nil, 400, "invalid_request_error", "model: Field required"},
		{"missing max_tokens", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, nil, 400, "invalid_request_error", "max_tokens: Field required"},
		{"zero max_tokens", `{"model":"m","max_tokens":0,"messages":[{"role":"user","content":"hi"}]}`, nil, 400, "invalid_request_error", "greater than or equal to 1"},
		{"missing messages", `{"model":"m","max_tokens":5}`, nil, 400, "invalid_request_error", "messages: Field required"},
		{"empty messages", msgs(`[]`), nil, 400, "invalid_request_error", "at least one message"},
		{"first assistant", msgs(`[{"role":"assistant","content":"hi"}]`), nil, 400, "invalid_request_error", `first message must use the "user" role`},
		{"two users", msgs(`[{"role":"user","content":"a"},{"role":"user","content":"b"}]`), nil, 400, "invalid_request_error", `multiple "user" roles`},
		{"system role", msgs(`[{"role":"system","content":"a"}]`), nil, 400, "invalid_request_error", "Input should be 'user' or 'assistant'"},
		{"empty text", msgs(`[{"role":"user","content":""}]`), nil, 400, "invalid_request_error", "non-empty"},
		{"bad block", msgs(`[{"role":"user","content":[{"type":"video"}]}]`), nil, 400, "invalid_request_error", "Input tag 'video'"},
		{"orphan tool_result", msgs(`[{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_x","content":"1"}]}]`), nil, 400, "invalid_request_error", "unexpected `tool_use_id`"},
		{"tool_use without result", msgs(toolTurns + `{"role":"user","content":"and?"}]`), nil, 400, "invalid_request_error", "without `tool_result`"},
		{"system object", `{"model":"m","max_tokens":5,"system":{"a":1},"messages":[{"role":"user","content":"hi"}]}`, nil, 400, "invalid_request_error", "system: Input should be a valid list"},
		{"tool without schema", `{"model":"m","max_tokens":5,"tools":[{"name":"f"}],"messages":[{"role":"user","content":"hi"}]}`, nil, 400, "invalid_request_error", "input_schema: Field required"},
		{"ok string system", `{"model":"m","max_tokens":5,"system":"be brief","messages":[{"role":"user","content":"hi"}]}`, nil, 200, "", ""},
		{"ok block system", `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"be brief","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`, nil, 200, "", ""},
		{"ok tool loop", msgs(toolTurns + `{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"12C"}]}]`), nil, 200, "", ""},
		{"ok prefill", msgs(`[{"role":"user","content":"hi"},{"role":"assistant","content":"Sure:"}]`), nil, 200, "", ""},
		{"ok image", msgs(`[{"role":"user","content":[{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBORw0KGgo="}},{"type":"text","text":"what?"}]}]`), nil, 200, "", ""},
		{"status 429", msgs(`[{"role":"user","content":"hi [[status:429]]"}]`), nil, 429, "rate_limit_error", "rate limit"},
		{"status 529", msgs(`[{"role":"user","content":"hi [[status:529]]"}]`), nil, 529, "overloaded_error", "Overloaded"},
		{"status 500", msgs(`[{"role":"user","content":"hi [[status:500]]"}]`), nil, 500, "api_error", "Internal server error"},
		{"unknown directive", msgs(`[{"role":"user","content":"hi [[frobnicate]]"}]`), nil, 400, "invalid_request_error", "unknown directive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, url, tc.body, tc.hdr)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.status, b)
			}
			if tc.status == 200 {
				var m Message
				if err := json.Unmarshal(b, &m); err != nil || m.Type != "message" {
					t.Fatalf("body %s: %v", b, err)
				}
				return
			}
			var e ErrorBody
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("error body %s: %v", b, err)
			}
			if e.Type != "error" || e.Error.Type != tc.typ || !strings.Contains(e.Error.Message, tc.msg) {
				t.Fatalf("error %+v, want type %s containing %q", e, tc.typ, tc.msg)
			}
			if tc.status == 429 && resp.Header.Get("Retry-After") != "1" {
				t.Fatalf("429 without retry-after: %v", resp.Header)
			}
		})
	}
}

func TestMessage(t *testing.T) {
	srv, url := Start(t, Options{APIKey: key})
	weather := `[{"name":"get_weather","description":"d","input_schema":{"type":"object","properties":{"city":{"type":"string"},"days":{"type":"integer"}},"required":["city"]}}]`
	cases := []struct {
		name     string
		body     string
		stop     string
		types    []string
		text     string
		output   int
		stopSeq  string
		toolJSON string
	}{
		{"plain", msgs(`[{"role":"user","content":"hello there"}]`), "end_turn", []string{"text"}, Reply("hello there", DefaultWords), DefaultWords, "", ""},
		{"words", msgs(`[{"role":"user","content":"x [[words:3]]"}]`), "end_turn", []string{"text"}, Reply("x [[words:3]]", 3), 3, "", ""},
		{"max tokens", `{"model":"m","max_tokens":4,"messages":[{"role":"user","content":"y"}]}`, "max_tokens", []string{"text"}, strings.Join(strings.Fields(Reply("y", DefaultWords))[:4], " "), 4, "", ""},
		{"thinking", msgs(`[{"role":"user","content":"q [[thinking]] [[words:2]]"}]`), "end_turn", []string{"thinking", "text"}, Reply("q [[thinking]] [[words:2]]", 2), 10, "", ""},
		{"tool", `{"model":"m","max_tokens":99,"tools":` + weather + `,"messages":[{"role":"user","content":"w [[tool:get_weather]] [[words:1]]"}]}`, "tool_use", []string{"text", "tool_use"}, Reply("w [[tool:get_weather]] [[words:1]]", 1), 1 + len(`{"city":"`+Reply("get_weather.city", 1)+`","days":3}`)/4, "", `{"city":"` + Reply("get_weather.city", 1) + `","days":3}`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, url, tc.body, nil)
			var m Message
			if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
				t.Fatalf("status %d: %v", resp.StatusCode, err)
			}
			if !strings.HasPrefix(m.ID, "msg_01") || m.Role != "assistant" || m.Model != "m" && m.Model != "claude-sonnet-4-5" {
				t.Fatalf("header fields %+v", m)
			}
			if *m.StopReason != tc.stop {
				t.Fatalf("stop_reason %s, want %s", *m.StopReason, tc.stop)
			}
			var types []string
			for _, b := range m.Content {
				types = append(types, b.Type)
				switch b.Type {
				case "text":
					if *b.Text != tc.text {
						t.Fatalf("text %q, want %q", *b.Text, tc.text)
					}
				case "thinking":
					if *b.Thinking == "" || *b.Signature == "" {
						t.Fatalf("thinking block %+v", b)
					}
				case "tool_use":
					if !strings.HasPrefix(b.ID, "toolu_") || b.Name != "get_weather" || string(b.Input) != tc.toolJSON {
						t.Fatalf("tool_use %+v input %s, want %s", b, b.Input, tc.toolJSON)
					}
				}
			}
			if strings.Join(types, ",") != strings.Join(tc.types, ",") {
				t.Fatalf("blocks %v, want %v", types, tc.types)
			}
			if m.Usage.OutputTokens != tc.output || m.Usage.InputTokens < 1 {
				t.Fatalf("usage %+v, want output %d", m.Usage, tc.output)
			}
		})
	}
	if srv.Calls() != len(cases) || len(srv.Requests()) != len(cases) {
		t.Fatalf("calls %d recorded %d, want %d", srv.Calls(), len(srv.Requests()), len(cases))
	}
	if last, ok := srv.Last(); !ok || last.Header.Get("X-Api-Key") != key || !strings.Contains(string(last.Body), "get_weather") {
		t.Fatalf("last recorded %+v", last)
	}
}

func TestStopSequence(t *testing.T) {
	_, url := Start(t, Options{})
	prompt := "stop here"
	words := strings.Fields(Reply(prompt, DefaultWords))
	body := `{"model":"m","max_tokens":99,"stop_sequences":[" ` + words[3] + `"],"messages":[{"role":"user","content":"` + prompt + `"}]}`
	var m Message
	resp := post(t, url, body, nil)
	if err := json.NewDecoder(resp.Body).Decode(&m); err != nil {
		t.Fatal(err)
	}
	if *m.StopReason != "stop_sequence" || *m.StopSequence != " "+words[3] || !strings.HasPrefix(Reply(prompt, DefaultWords), *m.Content[0].Text) {
		t.Fatalf("got %+v %q", m, *m.Content[0].Text)
	}
}

type event struct{ name, data string }

// readSSE parses the stream strictly: every event is exactly "event:" then
// "data:" then a blank line, as Anthropic frames them.
func readSSE(t *testing.T, r io.Reader) ([]event, error) {
	t.Helper()
	sc := bufio.NewScanner(r)
	var out []event
	for {
		if !sc.Scan() {
			return out, sc.Err()
		}
		l1 := sc.Text()
		if !sc.Scan() {
			return out, errors.New("truncated event")
		}
		l2 := sc.Text()
		if !sc.Scan() {
			return out, errors.New("truncated event")
		}
		if !strings.HasPrefix(l1, "event: ") || !strings.HasPrefix(l2, "data: ") || sc.Text() != "" {
			t.Fatalf("bad framing %q %q %q", l1, l2, sc.Text())
		}
		name, data := l1[7:], l2[6:]
		var v struct{ Type string }
		if err := json.Unmarshal([]byte(data), &v); err != nil || v.Type != name {
			t.Fatalf("event %s data %s: type %q %v", name, data, v.Type, err)
		}
		out = append(out, event{name, data})
	}
}

func TestStream(t *testing.T) {
	_, url := Start(t, Options{})
	sbody := func(text string) string {
		return `{"model":"m","max_tokens":99,"stream":true,"messages":[{"role":"user","content":"` + text + `"}]}`
	}
	cases := []struct {
		name   string
		text   string
		names  string // event names, deltas collapsed
		errEnd bool   // connection cut
	}{
		{"text", "hi [[words:3]]", "message_start content_block_start ping content_block_delta content_block_stop message_delta message_stop", false},
		{"thinking", "hi [[thinking]] [[words:2]]", "message_start content_block_start ping content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop", false},
		{"tool", "hi [[tool:get_weather]] [[words:1]]", "message_start content_block_start ping content_block_delta content_block_stop content_block_start content_block_delta content_block_stop message_delta message_stop", false},
		{"stream error", "hi [[stream_error]]", "message_start content_block_start ping content_block_delta error", false},
		{"cut", "hi [[cut]]", "message_start content_block_start ping content_block_delta", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := post(t, url, sbody(tc.text), nil)
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/event-stream") {
				t.Fatalf("content-type %q", ct)
			}
			evs, err := readSSE(t, resp.Body)
			if (err != nil) != tc.errEnd {
				t.Fatalf("read error %v, want cut=%v", err, tc.errEnd)
			}
			var names []string
			var text, partial strings.Builder
			deltas := 0
			for _, e := range evs {
				if len(names) == 0 || names[len(names)-1] != e.name || e.name != "content_block_delta" {
					names = append(names, e.name)
				}
				if e.name == "content_block_delta" {
					deltas++
					var d struct {
						Delta struct{ Type, Text, PartialJSON string } `json:"delta"`
					}
					_ = json.Unmarshal([]byte(e.data), &d)
					if d.Delta.Type == "text_delta" {
						text.WriteString(d.Delta.Text)
					}
					if d.Delta.Type == "input_json_delta" {
						var p struct {
							Delta struct {
								PartialJSON string `json:"partial_json"`
							} `json:"delta"`
						}
						_ = json.Unmarshal([]byte(e.data), &p)
						partial.WriteString(p.Delta.PartialJSON)
					}
				}
				if e.name == "error" && e.data != `{"error":{"message":"Overloaded","type":"overloaded_error"},"type":"error"}` {
					t.Fatalf("error event %s", e.data)
				}
			}
			if got := strings.Join(names, " "); got != tc.names {
				t.Fatalf("events\n%s\nwant\n%s", got, tc.names)
			}
			if tc.name == "text" && text.String() != Reply(tc.text, 3) {
				t.Fatalf("streamed text %q", text.String())
			}
			if tc.name == "tool" && partial.String() != `{"location":"Paris"}` {
				t.Fatalf("streamed input %q", partial.String())
			}
			if (tc.errEnd || tc.name == "stream error") && deltas != failAfter {
				t.Fatalf("%d deltas before failure, want %d", deltas, failAfter)
			}
		})
	}
}

func TestDelay(t *testing.T) {
	_, url := Start(t, Options{})
	start := time.Now()
	resp := post(t, url, msgs(`[{"role":"user","content":"[[delay:60ms]]"}]`), nil)
	if resp.StatusCode != 200 || time.Since(start) < 60*time.Millisecond {
		t.Fatalf("status %d after %v", resp.StatusCode, time.Since(start))
	}
}

func TestCutNonStream(t *testing.T) {
	_, url := Start(t, Options{})
	resp := post(t, url, msgs(`[{"role":"user","content":"[[cut]]"}]`), nil)
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("read a cut body without error")
	}
}

func TestRoutes(t *testing.T) {
	_, url := Start(t, Options{})
	for _, tc := range []struct {
		name, method, path string
		status             int
	}{
		{"unknown path", http.MethodPost, "/v1/complete", 404},
		{"get messages", http.MethodGet, "/v1/messages", 405},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, url+tc.path, nil)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e ErrorBody
			if json.NewDecoder(resp.Body).Decode(&e) != nil || resp.StatusCode != tc.status || e.Type != "error" {
				t.Fatalf("status %d body %+v", resp.StatusCode, e)
			}
		})
	}
}

func FuzzParseDirectives(f *testing.F) {
	for _, s := range []string{"[[status:429]]", "[[tool:x]] [[words:3]]", "[[delay:-1s]]", "[[", "[[words:99999999999999999999]]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d, err := ParseDirectives(s)
		if err == nil && (d.Delay < 0 || d.Words < -1 || (d.Status != 0 && (d.Status < 400 || d.Status > 599))) {
			t.Fatalf("accepted invalid %q: %+v", s, d)
		}
	})
}
