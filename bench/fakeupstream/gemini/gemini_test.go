package gemini

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

const key = "AIza-test"

func call(t *testing.T, url, path, body string, hdr map[string]string) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Goog-Api-Key", key)
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

const gen = "/v1beta/models/gemini-2.5-flash:generateContent"

func user(text string) string {
	b, _ := json.Marshal(text)
	return `{"contents":[{"role":"user","parts":[{"text":` + string(b) + `}]}]}`
}

func TestValidation(t *testing.T) {
	_, url := Start(t, Options{APIKey: key, Models: []string{"gemini-2.5-flash"}})
	callTurn := `{"role":"user","parts":[{"text":"weather?"}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{"city":"Paris"}}}]}`
	cases := []struct {
		name   string
		path   string
		body   string
		hdr    map[string]string
		code   int
		status string
		msg    string
	}{
		{"no key", gen, user("hi"), map[string]string{"X-Goog-Api-Key": ""}, 403, "PERMISSION_DENIED", "unregistered callers"},
		{"bad key", gen, user("hi"), map[string]string{"X-Goog-Api-Key": "nope"}, 400, "INVALID_ARGUMENT", "API key not valid"},
		{"query key", gen + "?key=" + key, user("hi"), map[string]string{"X-Goog-Api-Key": ""}, 200, "", ""},
		{"unknown model", "/v1beta/models/gemini-0:generateContent", user("hi"), nil, 404, "NOT_FOUND", "models/gemini-0 is not found"},
		{"unknown method", "/v1beta/models/gemini-2.5-flash:embed", user("hi"), nil, 404, "NOT_FOUND", "not found"},
		{"not json", gen, `{"contents":`, nil, 400, "INVALID_ARGUMENT", "Invalid JSON payload"},
		// The API's proto JSON parser also takes snake_case names; the fake
		// takes only the documented camelCase, so plugins use that.
		{"snake case field", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"generation_config":{}}`, nil, 400, "INVALID_ARGUMENT", `Unknown name "generation_config"`},
		{"unknown nested field", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"generationConfig":{"max_tokens":5}}`, nil, 400, "INVALID_ARGUMENT", `Unknown name "max_tokens"`},
		{"no contents", gen, `{}`, nil, 400, "INVALID_ARGUMENT", "contents is not specified"},
		{"bad role", gen, `{"contents":[{"role":"assistant","parts":[{"text":"a"}]}]}`, nil, 400, "INVALID_ARGUMENT", "valid role: user, model"},
		{"empty parts", gen, `{"contents":[{"role":"user","parts":[]}]}`, nil, 400, "INVALID_ARGUMENT", "parts must not be empty"},
		{"empty part", gen, `{"contents":[{"role":"user","parts":[{}]}]}`, nil, 400, "INVALID_ARGUMENT", "oneof field 'data'"},
		{"two data fields", gen, `{"contents":[{"role":"user","parts":[{"text":"a","inlineData":{"mimeType":"image/png","data":"AA=="}}]}]}`, nil, 400, "INVALID_ARGUMENT", "already set"},
		{"bad base64", gen, `{"contents":[{"role":"user","parts":[{"inlineData":{"mimeType":"image/png","data":"!!"}}]}]}`, nil, 400, "INVALID_ARGUMENT", "Base64 decoding failed"},
		{"wrong type", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"generationConfig":{"temperature":"hot"}}`, nil, 400, "INVALID_ARGUMENT", "Invalid value"},
		{"temperature range", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"generationConfig":{"temperature":3}}`, nil, 400, "INVALID_ARGUMENT", "temperature"},
		{"json schema key", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string"}},"additionalProperties":false}}]}]}`, nil, 400, "INVALID_ARGUMENT", `Unknown name "additionalProperties"`},
		{"empty object params", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"f","parameters":{"type":"OBJECT","properties":{}}}]}]}`, nil, 400, "INVALID_ARGUMENT", "non-empty for OBJECT"},
		{"bad function name", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"1 f"}]}]}`, nil, 400, "INVALID_ARGUMENT", "Invalid function name"},
		{"bad mode", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"toolConfig":{"functionCallingConfig":{"mode":"required"}}}`, nil, 400, "INVALID_ARGUMENT", "function_calling_config.mode"},
		{"allowed names without ANY", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"tools":[{"functionDeclarations":[{"name":"f"}]}],"toolConfig":{"functionCallingConfig":{"mode":"AUTO","allowedFunctionNames":["f"]}}}`, nil, 400, "INVALID_ARGUMENT", "allowed_function_names"},
		{"schema without json mime", gen, `{"contents":[{"role":"user","parts":[{"text":"a"}]}],"generationConfig":{"responseSchema":{"type":"STRING"}}}`, nil, 400, "INVALID_ARGUMENT", "response_mime_type"},
		{"orphan function response", gen, `{"contents":[{"role":"user","parts":[{"functionResponse":{"name":"f","response":{"a":1}}}]}]}`, nil, 400, "INVALID_ARGUMENT", "function response turn comes immediately after a function call turn"},
		{"response count", gen, `{"contents":[` + callTurn + `,{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"a":1}}},{"functionResponse":{"name":"get_weather","response":{"a":2}}}]}]}`, nil, 400, "INVALID_ARGUMENT", "number of function response parts"},
		{"call in user turn", gen, `{"contents":[{"role":"user","parts":[{"functionCall":{"name":"f"}}]}]}`, nil, 400, "INVALID_ARGUMENT", "only allowed in model turns"},
		{"ok tool loop", gen, `{"contents":[` + callTurn + `,{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"temp":12}}}]}]}`, nil, 200, "", ""},
		{"ok full config", gen, `{"systemInstruction":{"parts":[{"text":"be brief"}]},"contents":[{"role":"user","parts":[{"text":"a"},{"inlineData":{"mimeType":"image/png","data":"iVBORw0KGgo="}},{"fileData":{"mimeType":"image/jpeg","fileUri":"https://x/y.jpg"}}]}],"tools":[{"functionDeclarations":[{"name":"f","description":"d","parameters":{"type":"OBJECT","properties":{"a":{"type":"STRING","nullable":true}},"required":["a"]}}]}],"toolConfig":{"functionCallingConfig":{"mode":"ANY","allowedFunctionNames":["f"]}},"generationConfig":{"temperature":0.2,"topP":0.9,"maxOutputTokens":64,"stopSequences":["x"],"candidateCount":1,"seed":7,"presencePenalty":0.1,"frequencyPenalty":0.1,"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"a":{"type":"STRING"}}}}}`, nil, 200, "", ""},
		{"status 400", gen, user("[[status:400]]"), nil, 400, "INVALID_ARGUMENT", "invalid argument"},
		{"status 403", gen, user("[[status:403]]"), nil, 403, "PERMISSION_DENIED", "permission"},
		{"status 404", gen, user("[[status:404]]"), nil, 404, "NOT_FOUND", "not found"},
		{"status 429", gen, user("[[status:429]]"), nil, 429, "RESOURCE_EXHAUSTED", "quota"},
		{"status 500", gen, user("[[status:500]]"), nil, 500, "INTERNAL", "internal error"},
		{"status 503", gen, user("[[status:503]]"), nil, 503, "UNAVAILABLE", "overloaded"},
		{"bad directive", gen, user("[[words:x]]"), nil, 400, "INVALID_ARGUMENT", "parse directive"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, url, tc.path, tc.body, tc.hdr)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.code, b)
			}
			if tc.code == 200 {
				var r Response
				if err := json.Unmarshal(b, &r); err != nil || len(r.Candidates) != 1 {
					t.Fatalf("body %s: %v", b, err)
				}
				return
			}
			var e ErrorBody
			if err := json.Unmarshal(b, &e); err != nil {
				t.Fatalf("error body %s: %v", b, err)
			}
			if e.Error.Code != tc.code || e.Error.Status != tc.status || !strings.Contains(strings.ToLower(e.Error.Message), strings.ToLower(tc.msg)) {
				t.Fatalf("error %+v, want %d %s containing %q", e.Error, tc.code, tc.status, tc.msg)
			}
			if tc.code == 429 && !strings.Contains(string(b), `"retryDelay": "1s"`) {
				t.Fatalf("429 without RetryInfo: %s", b)
			}
		})
	}
}

func TestGenerate(t *testing.T) {
	srv, url := Start(t, Options{})
	weather := `"tools":[{"functionDeclarations":[{"name":"get_weather","parameters":{"type":"OBJECT","properties":{"city":{"type":"STRING"},"unit":{"type":"STRING","enum":["celsius","fahrenheit"]}},"required":["city"]}}]}]`
	cases := []struct {
		name   string
		body   string
		finish string
		parts  string // kinds: t text, h thought, f functionCall
		text   string
		cand   int
		extra  func(t *testing.T, r *Response)
	}{
		{"plain", user("hello"), "STOP", "t", Reply("hello", DefaultWords), DefaultWords, nil},
		{"max tokens", `{"contents":[{"parts":[{"text":"y"}]}],"generationConfig":{"maxOutputTokens":3}}`, "MAX_TOKENS", "t", strings.Join(strings.Fields(Reply("y", DefaultWords))[:3], " "), 3, nil},
		{"thinking", user("q [[thinking]] [[words:2]]"), "STOP", "ht", Reply("q [[thinking]] [[words:2]]", 2), 2, func(t *testing.T, r *Response) {
			if r.UsageMetadata.ThoughtsTokenCount == 0 || r.UsageMetadata.TotalTokenCount != r.UsageMetadata.PromptTokenCount+2+r.UsageMetadata.ThoughtsTokenCount {
				t.Fatalf("usage %+v", r.UsageMetadata)
			}
		}},
		{"tool", `{"contents":[{"role":"user","parts":[{"text":"w [[tool:get_weather]]"}]}],` + weather + `}`, "STOP", "f", "", -1, func(t *testing.T, r *Response) {
			fc := r.Candidates[0].Content.Parts[0].FunctionCall
			want := `{"city":"` + Reply("get_weather.city", 1) + `","unit":"celsius"}`
			var args bytes.Buffer
			_ = json.Compact(&args, fc.Args)
			if fc.Name != "get_weather" || args.String() != want {
				t.Fatalf("call %s %s, want %s", fc.Name, fc.Args, want)
			}
		}},
		{"cached", user("c [[cached:40]]"), "STOP", "t", Reply("c [[cached:40]]", DefaultWords), DefaultWords, func(t *testing.T, r *Response) {
			if r.UsageMetadata.CachedContentTokenCount != 40 {
				t.Fatalf("usage %+v", r.UsageMetadata)
			}
		}},
		{"json mode", `{"contents":[{"parts":[{"text":"j"}]}],"generationConfig":{"responseMimeType":"application/json","responseSchema":{"type":"OBJECT","properties":{"n":{"type":"INTEGER"}}}}}`, "STOP", "t", `{"n":3}`, -1, nil},
		{"safety", user("[[finish:SAFETY]]"), "SAFETY", "", "", -1, nil},
		{"candidates", `{"contents":[{"parts":[{"text":"two"}]}],"generationConfig":{"candidateCount":2}}`, "STOP", "t", Reply("two", DefaultWords), -1, func(t *testing.T, r *Response) {
			if len(r.Candidates) != 2 || r.Candidates[1].Index != 1 || *r.Candidates[1].Content.Parts[0].Text == Reply("two", DefaultWords) {
				t.Fatalf("candidates %+v", r.Candidates)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, url, gen, tc.body, nil)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != 200 || !strings.Contains(string(b), "\n  \"candidates\"") {
				t.Fatalf("status %d, want 200 and an indented body: %s", resp.StatusCode, b)
			}
			var r Response
			if err := json.Unmarshal(b, &r); err != nil {
				t.Fatal(err)
			}
			c := r.Candidates[0]
			if c.FinishReason != tc.finish || r.ModelVersion != "gemini-2.5-flash" || len(r.ResponseID) != 23 {
				t.Fatalf("candidate %+v response %+v", c, r)
			}
			kinds := ""
			if c.Content != nil {
				if c.Content.Role != "model" {
					t.Fatalf("role %q", c.Content.Role)
				}
				for _, p := range c.Content.Parts {
					switch {
					case p.Thought:
						kinds += "h"
					case p.Text != nil:
						kinds += "t"
						if *p.Text != tc.text {
							t.Fatalf("text %q, want %q", *p.Text, tc.text)
						}
					case p.FunctionCall != nil:
						kinds += "f"
					}
				}
			}
			if kinds != tc.parts {
				t.Fatalf("parts %q, want %q", kinds, tc.parts)
			}
			if tc.cand >= 0 && r.UsageMetadata.CandidatesTokenCount != tc.cand {
				t.Fatalf("candidatesTokenCount %d, want %d", r.UsageMetadata.CandidatesTokenCount, tc.cand)
			}
			if tc.extra != nil {
				tc.extra(t, &r)
			}
		})
	}
	if srv.Calls() != len(cases) {
		t.Fatalf("calls %d, want %d", srv.Calls(), len(cases))
	}
	if last, ok := srv.Last(); !ok || last.Model != "gemini-2.5-flash" || last.Stream || last.Header.Get("X-Goog-Api-Key") != key {
		t.Fatalf("last %+v", last)
	}
}

func TestBlocked(t *testing.T) {
	_, url := Start(t, Options{})
	resp := call(t, url, gen, user("[[blocked]]"), nil)
	var r Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if len(r.Candidates) != 0 || r.PromptFeedback == nil || r.PromptFeedback.BlockReason != "SAFETY" {
		t.Fatalf("got %+v", r)
	}
}

// readEvents parses alt=sse framing strictly: "data: {json}" lines each
// followed by an empty line, CRLF-terminated as the API sends them.
func readEvents(t *testing.T, r io.Reader) ([]json.RawMessage, error) {
	t.Helper()
	br := bufio.NewReader(r)
	var out []json.RawMessage
	for {
		line, err := br.ReadString('\n')
		if err == io.EOF && line == "" {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		blank, err := br.ReadString('\n')
		if err != nil {
			return out, err
		}
		if !strings.HasPrefix(line, "data: ") || !strings.HasSuffix(line, "\r\n") || blank != "\r\n" {
			t.Fatalf("bad framing %q %q", line, blank)
		}
		data := json.RawMessage(strings.TrimSuffix(line[6:], "\r\n"))
		if !json.Valid(data) {
			t.Fatalf("event is not JSON: %s", data)
		}
		out = append(out, data)
	}
}

func TestStream(t *testing.T) {
	srv, url := Start(t, Options{})
	path := "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
	cases := []struct {
		name    string
		text    string
		events  int
		joined  string
		lastErr bool // the last event is an error object
		cut     bool
	}{
		{"text", "hi [[words:7]]", 3, Reply("hi [[words:7]]", 7), false, false},
		{"tool", "hi [[tool:get_weather]]", 1, "", false, false},
		{"thinking", "hi [[thinking]] [[words:3]]", 5, Reply("hi [[thinking]] [[words:3]]", 3), false, false},
		{"stream error", "hi [[stream_error]]", 3, "", true, false},
		{"cut", "hi [[cut]]", 2, "", false, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, url, path, user(tc.text), nil)
			if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
				t.Fatalf("content-type %q", ct)
			}
			evs, err := readEvents(t, resp.Body)
			if (err != nil) != tc.cut {
				t.Fatalf("read error %v, want cut %v", err, tc.cut)
			}
			if len(evs) != tc.events {
				t.Fatalf("%d events, want %d", len(evs), tc.events)
			}
			var text strings.Builder
			for i, ev := range evs {
				var r Response
				if err := json.Unmarshal(ev, &r); err != nil {
					t.Fatal(err)
				}
				if tc.lastErr && i == len(evs)-1 {
					var e ErrorBody
					if json.Unmarshal(ev, &e) != nil || e.Error.Code != 503 || e.Error.Status != "UNAVAILABLE" {
						t.Fatalf("last event %s", ev)
					}
					continue
				}
				c := r.Candidates[0]
				last := i == len(evs)-1 && !tc.cut
				if (c.FinishReason != "") != last || (r.UsageMetadata.CandidatesTokenCount != 0) != last {
					t.Fatalf("event %d: finish %q usage %+v", i, c.FinishReason, r.UsageMetadata)
				}
				for _, p := range c.Content.Parts {
					if p.Text != nil && !p.Thought {
						text.WriteString(*p.Text)
					}
					if p.FunctionCall != nil && (p.FunctionCall.Name != "get_weather" || string(p.FunctionCall.Args) != `{"location":"Paris"}`) {
						t.Fatalf("call %+v", p.FunctionCall)
					}
				}
			}
			if tc.joined != "" && text.String() != tc.joined {
				t.Fatalf("joined %q, want %q", text.String(), tc.joined)
			}
		})
	}
	if last, _ := srv.Last(); !last.Stream || last.Query != "alt=sse" {
		t.Fatalf("last %+v", last)
	}
}

func TestStreamJSONArray(t *testing.T) {
	_, url := Start(t, Options{})
	resp := call(t, url, "/v1beta/models/m:streamGenerateContent", user("arr [[words:4]]"), nil)
	var rs []Response
	if err := json.NewDecoder(resp.Body).Decode(&rs); err != nil || len(rs) != 2 || rs[1].Candidates[0].FinishReason != "STOP" {
		t.Fatalf("%v %+v", err, rs)
	}
}

func TestDelayAndCut(t *testing.T) {
	_, url := Start(t, Options{})
	start := time.Now()
	resp := call(t, url, gen, user("[[delay:60ms]]"), nil)
	if resp.StatusCode != 200 || time.Since(start) < 60*time.Millisecond {
		t.Fatalf("status %d after %v", resp.StatusCode, time.Since(start))
	}
	resp = call(t, url, gen, user("[[cut]]"), nil)
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Fatal("read a cut body without error")
	}
}

func FuzzParseRequest(f *testing.F) {
	f.Add([]byte(user("hi")))
	f.Add([]byte(`{"contents":[{"role":"model","parts":[{"functionCall":{"name":"f","args":{}}}]}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err == nil && (r.Candidates < 1 || r.Candidates > 8) {
			t.Fatalf("accepted %d candidates", r.Candidates)
		}
	})
}

func TestThoughtSignatures(t *testing.T) {
	_, url := Start(t, Options{RequireThoughtSignatures: true})
	call0 := `{"role":"user","parts":[{"text":"w"}]},{"role":"model","parts":[{"functionCall":{"name":"get_weather","args":{}}%s}]},{"role":"user","parts":[{"functionResponse":{"name":"get_weather","response":{"t":1}}}]}`
	cases := []struct {
		name     string
		contents string
		code     int
	}{
		{"signed", fmt.Sprintf(call0, `,"thoughtSignature":"Cpabc"`), 200},
		{"unsigned current turn", fmt.Sprintf(call0, ""), 400},
		{"unsigned earlier turn", fmt.Sprintf(call0, "") + `,{"role":"model","parts":[{"text":"ok"}]},{"role":"user","parts":[{"text":"next"}]}`, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := call(t, url, gen, `{"contents":[`+tc.contents+`]}`, nil)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || (tc.code == 400 && !strings.Contains(string(b), "missing a thought_signature")) {
				t.Fatalf("status %d: %s", resp.StatusCode, b)
			}
		})
	}
	resp := call(t, url, gen, user("w [[thinking]] [[tool:get_weather]]"), nil)
	var r Response
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		t.Fatal(err)
	}
	if p := r.Candidates[0].Content.Parts[1]; p.FunctionCall == nil || p.ThoughtSignature != ThoughtSignature("w [[thinking]] [[tool:get_weather]]") {
		t.Fatalf("parts %+v", r.Candidates[0].Content.Parts)
	}
}
