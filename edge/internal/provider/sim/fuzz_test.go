package sim

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
)

// FuzzRoundTrip feeds arbitrary bodies to the chat endpoint. Whatever the
// input, RoundTrip must not panic, and must give either an error (only for
// a hung upstream) or a well-formed response whose body is valid JSON or a
// valid SSE stream, unless the request asked for a broken one.
func FuzzRoundTrip(f *testing.F) {
	seeds := []string{
		`{"model":"fast","messages":[{"role":"user","content":"hi"}]}`,
		`{"model":"chat","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"hi"}],"max_tokens":3}`,
		`{"model":"reasoning","stream":true,"reasoning":{"effort":"high","exclude":true},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"tools","stream":true,"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"array","items":{"enum":["\u00e9t\u00e9",1]}}},"required":["a","b"]}}}]}`,
		`{"model":"tools","messages":[{"role":"user","content":"x"},{"role":"assistant","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c","content":"\u2028\"quoted\"\ud800"}]}`,
		`{"model":"fast","response_format":{"type":"json_schema","json_schema":{"schema":{"$ref":"#/$defs/a","$defs":{"a":{"$ref":"#/$defs/a"}}}}},"messages":[{"role":"user","content":"x"}]}`,
		`{"model":"fast","stream":true,"messages":[{"role":"user","content":"[sim error=cut tokens=5]"}]}`,
		`{"model":"fast","stream":true,"messages":[{"role":"user","content":"[sim error=malformed]"}]}`,
		`{"model":"fast","stream":true,"messages":[{"role":"user","content":"[sim error=stream-error]"}]}`,
		`{"model":"fast","messages":[{"role":"user","content":"[sim error=timeout]"}]}`,
		`{"model":"fast","user":"sim:error=429","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url"}]}]}`,
		`{"model":"fast","messages":[{"role":"user","content":"[sim ttft=1h tps=0.001 tokens=100000]"}],"max_tokens":2}`,
		`{"model":"fast","tools":[{"type":"function","function":{"name":"f","parameters":true}}],"tool_choice":"required","messages":[{"role":"user","content":"x"}]}`,
		`{"model":"fast","seed":-9223372036854775808,"n":1,"messages":[{"role":"system","content":null},{"role":"user","content":"x"}]}`,
		`{"model":"fast","messages":[{"role":"user","content":5}]}`,
		`null`, `[]`, `{}`, `{"model":"fast","messages":[null]}`, "\x00",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	tr := New(Config{})
	tr.noDelay = true
	f.Fuzz(func(t *testing.T, body []byte) {
		// Knowing the plan tells us which broken outputs were asked for.
		p, _ := tr.buildPlan(body)
		broken := p != nil && p.fault != faultNone

		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sim/v1/chat/completions", bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			if p == nil || p.fault != faultTimeout || !errors.Is(err, context.DeadlineExceeded) {
				t.Fatalf("RoundTrip error %v for %q", err, body)
			}
			return
		}
		defer resp.Body.Close()
		if resp.Request != req || resp.Body == nil || resp.Header == nil || resp.Proto != "HTTP/1.1" {
			t.Fatalf("incomplete response %+v", resp)
		}
		data, rerr := io.ReadAll(resp.Body)
		switch {
		case resp.StatusCode != http.StatusOK:
			var e errorBody
			if rerr != nil || json.Unmarshal(data, &e) != nil || e.Error.Message == "" || e.Error.Type == "" {
				t.Fatalf("status %d with body %q (%v)", resp.StatusCode, data, rerr)
			}
		case resp.Header.Get("Content-Type") == "application/json":
			if !broken && (rerr != nil || !json.Valid(data) || int64(len(data)) != resp.ContentLength) {
				t.Fatalf("bad JSON body %q (%v)", data, rerr)
			}
		default:
			if broken {
				return
			}
			if rerr != nil {
				t.Fatalf("stream read: %v", rerr)
			}
			events := strings.Split(string(data), "\n\n")
			if events[len(events)-1] != "" || events[len(events)-2] != "data: [DONE]" {
				t.Fatalf("stream does not end with [DONE]: %q", data)
			}
			for _, ev := range events[:len(events)-2] {
				payload, ok := strings.CutPrefix(ev, "data: ")
				if !ok || !json.Valid([]byte(payload)) {
					t.Fatalf("bad event %q", ev)
				}
			}
		}
	})
}

// FuzzRequestParsing checks the chat endpoint's request parsing against
// encoding/json, through RoundTrip: a body gets the "could not parse" error
// exactly when encoding/json rejects it (or it nests deeper than jsonx
// allows); a body with plain keys gets a type error exactly when
// json.Unmarshal into chatRequest fails; and otherwise it gets the same
// response as the body encoding/json writes back from what it decoded.
func FuzzRequestParsing(f *testing.F) {
	for _, s := range []string{
		`{"model":"fast","messages":[{"role":"user","content":"hi"}],"stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"chat","messages":[{"role":"user","content":[{"type":"text","text":"a\u00e9\ud800"},null,{"type":"text","text":"[sim tokens=2]"}]},{"role":"tool","tool_call_id":"x","content":null}]}`,
		`{"model":"tools","messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"enum":["<&>",2.5e-3,true,null]}}}}},null],"tool_choice":"auto"}`,
		`{"model":"reasoning","messages":[{"role":"user","content":"x"}],"max_tokens":12,"seed":-1,"n":null,"user":"sim:error=429","reasoning":{"effort":"low"},"response_format":{"type":"json_object"}}`,
		`{"model":"fast","messages":[{"role":"assistant","tool_calls":[{"id":"a","function":{"name":"f","arguments":"{\"x\":1}"}}]},{"role":"tool","tool_call_id":"a","content":"ok"}]}`,
		`{"model":"fast","messages":[{"role":"user","content":"[sim error=malformed tokens=3]"}]}`,
		"{\"x\":\"\xff\xfe\"}", `[1,2]`, `"s"`, `null`, `{"a":{"b":{"c":[[[]]]}}}`, `{"model":"x","model":"y"}`,
		`{"max_tokens":1e2}`, `{"stream":0}`, `{"content":{}}`, `{"messages":[{"content":true}]}`, "0\x00",
	} {
		f.Add([]byte(s))
	}
	tr := New(Config{})
	tr.noDelay = true
	f.Fuzz(func(t *testing.T, body []byte) {
		got := fuzzExchange(t, tr, body)
		valid := json.Valid(body)
		notJSON := got.status == http.StatusBadRequest && strings.Contains(got.body, "could not parse the JSON body of your request. (HINT")
		if notJSON == valid && !(valid && errors.Is(jsonx.Validate(body), jsonx.ErrTooDeep)) {
			t.Fatalf("json.Valid=%v but sim syntax error=%v for %q", valid, notJSON, body)
		}
		if !valid || notJSON || !plainKeys(body) {
			return
		}
		var ref chatRequest
		refErr := json.Unmarshal(body, &ref)
		var e errorBody
		typeErr := got.status == http.StatusBadRequest && json.Unmarshal([]byte(got.body), &e) == nil &&
			(e.Error.Message == "We could not parse the JSON body of your request: the body must be a JSON object." ||
				string(e.Error.Code) == `"invalid_type"` && (e.Error.Param == nil || *e.Error.Param != "tool_choice"))
		if (refErr != nil) != typeErr {
			t.Fatalf("encoding/json error %v, sim response %d %s, for %q", refErr, got.status, got.body, body)
		}
		if refErr != nil {
			return
		}
		// A field sim misread the same way in both bodies below would go
		// unnoticed there, so compare the decodings themselves too.
		var parsed chatRequest
		if aerr := parseChatRequest(body, &parsed); aerr != nil || !reflect.DeepEqual(parsed, ref) {
			t.Fatalf("for %q\nsim decoded %+v (%v)\nencoding/json %+v", body, parsed, aerr, ref)
		}
		// What encoding/json decoded, written back out, must be the same
		// request to the simulator. HTML escaping would change the bytes of
		// raw schema literals that tool arguments echo.
		var canon bytes.Buffer
		enc := json.NewEncoder(&canon)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(&ref); err != nil {
			t.Fatal(err)
		}
		if want := fuzzExchange(t, tr, canon.Bytes()); got != want {
			t.Fatalf("for %q\nsim answered %+v\nbut for encoding/json's decoding %s\nit answered %+v", body, got, canon.Bytes(), want)
		}
	})
}

// exchange is what a client sees of one request, with the per-response
// random id and clock normalised away.
type exchange struct {
	err         string
	status      int
	contentType string
	length      int64
	body        string
	readErr     string
}

var volatile = regexp.MustCompile(`chatcmpl-[0-9A-Za-z]{29}|"created":[0-9]+`)

func fuzzExchange(t *testing.T, tr *Transport, body []byte) exchange {
	t.Helper()
	// Only a request for a hung upstream needs the deadline; a long stream
	// must not be cut by it at some arbitrary point.
	ctx := context.Background()
	if p, _ := tr.buildPlan(body); p != nil && p.fault == faultTimeout {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Millisecond)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://sim/v1/chat/completions", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		return exchange{err: err.Error()}
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	x := exchange{
		status:      resp.StatusCode,
		contentType: resp.Header.Get("Content-Type"),
		length:      resp.ContentLength,
		body:        volatile.ReplaceAllLiteralString(string(data), "<volatile>"),
	}
	if err != nil {
		x.readErr = err.Error()
	}
	return x
}

// plainKeys reports whether every object key in a valid document is
// lower-case ASCII and unique within its object. encoding/json matches keys
// case-insensitively and merges duplicates into earlier values; sim
// deliberately does neither, so only such documents compare.
func plainKeys(doc []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(doc))
	type frame struct {
		object    bool
		expectKey bool
		keys      map[string]bool
	}
	var stack []*frame
	valueDone := func() {
		if n := len(stack); n > 0 && stack[n-1].object {
			stack[n-1].expectKey = true
		}
	}
	for {
		tok, err := dec.Token()
		if errors.Is(err, io.EOF) {
			return true
		}
		if err != nil {
			return false
		}
		if n := len(stack); n > 0 && stack[n-1].object && stack[n-1].expectKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:n-1]
				valueDone()
				continue
			}
			k, _ := tok.(string)
			for i := 0; i < len(k); i++ {
				if k[i] >= 0x80 || 'A' <= k[i] && k[i] <= 'Z' {
					return false
				}
			}
			if stack[n-1].keys[k] {
				return false
			}
			stack[n-1].keys[k] = true
			stack[n-1].expectKey = false
			continue
		}
		switch d, _ := tok.(json.Delim); d {
		case '{':
			stack = append(stack, &frame{object: true, expectKey: true, keys: map[string]bool{}})
		case '[':
			stack = append(stack, &frame{})
		case ']':
			stack = stack[:len(stack)-1]
			valueDone()
		default:
			valueDone()
		}
	}
}
