package csdk_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

// build compiles testdata/name.c exactly as scripts/build-plugins.sh compiles a C plugin.
// The header has no prebuilt artefact of its own, so without clang there is nothing to test.
func build(t testing.TB, name string) []byte {
	t.Helper()
	clang, err := exec.LookPath("clang-14")
	if err != nil {
		t.Skip("clang-14 not installed (scripts/toolchains.sh installs it)")
	}
	out := filepath.Join(t.TempDir(), name+".wasm")
	cmd := exec.Command(clang, "--target=wasm32-wasi", "--sysroot=/usr", "-O2", "-mexec-model=reactor",
		"-fuse-ld=lld", "-Wall", "-Wextra", "-Werror", "-Wno-unused-parameter", "-I.",
		"-Wl,--strip-all", "-o", out, filepath.Join("testdata", name+".c"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("csdk: build %s: %v\n%s", name, err, msg)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func load(t testing.TB, name string) *wasmhost.Plugin {
	t.Helper()
	ctx := context.Background()
	h, err := wasmhost.NewHost(ctx, wasmhost.Config{Instrument: wasmhost.Metered})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	// A generous deadline: a descheduled call on a loaded machine (or a fuzzing worker's
	// pause) would otherwise fail; fuel (the default limit) still bounds the guest.
	p, err := h.Load(ctx, name, build(t, name), nil, wasmhost.Limits{Deadline: 2 * time.Second})
	if err != nil {
		t.Fatalf("csdk: load %s: %v", name, err)
	}
	return p
}

func TestRoute(t *testing.T) {
	p := load(t, "cheapest")
	if got := p.Info().Name; got != "cheapest" {
		t.Errorf("plugin_info name = %q", got)
	}
	cases := []struct {
		name, in, want string
	}{
		{"sorted by prompt price, open circuit dropped",
			`{"request":{"model":"m"},"candidates":[
			 {"id":"a","price":{"prompt":3,"completion":1},"circuit":"closed"},
			 {"id":"b","price":{"prompt":1.5},"circuit":"open"},
			 {"id":"c\u00e9","price":{"prompt":0.5e0},"circuit":"half_open","degraded":true},
			 {"id":"d","circuit":"closed"}]}`,
			`{"order":["c\u00e9","a","d"]}`},
		{"escaped keys are matched decoded", `{"candidates":[{"\u0069d":"x","pr\u0069ce":{"prompt":1}},{"id":"y","price":{"prompt":0}}]}`, `{"order":["y","x"]}`},
		{"no candidates", `{"request":{},"candidates":[]}`, `{"order":[]}`},
		{"non-object candidates skipped", `{"candidates":[1,"x",{"id":"z"}]}`, `{"order":["z"]}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			out, changed, err := p.Call(context.Background(), wasmhost.HookRoute, []byte(c.in))
			if err != nil || !changed {
				t.Fatalf("call: changed=%v err=%v", changed, err)
			}
			if string(out) != c.want {
				t.Errorf("got %s, want %s", out, c.want)
			}
		})
	}
	for _, in := range []string{`{"candidates":`, `[]`, `{"candidates":{}}`, ``} {
		out, _, err := p.Call(context.Background(), wasmhost.HookRoute, []byte(in))
		if err != nil || !bytes.Contains(out, []byte(`"code":"bad_input"`)) {
			t.Errorf("input %q: got %s, %v; want a bad_input error object", in, out, err)
		}
	}
}

// roundtrip runs in through the reader and writer and checks the result against
// encoding/json: same verdict on validity, same value.
func roundtrip(t *testing.T, p *wasmhost.Plugin, in []byte) {
	t.Helper()
	out, _, err := p.Call(context.Background(), wasmhost.HookRequest, in)
	if err != nil {
		t.Fatalf("call on %q: %v", in, err)
	}
	var want any
	goOK := utf8.Valid(in) && json.Valid(in)
	// Valid JSON that encoding/json cannot hold (numbers beyond float64) is compared for
	// validity only.
	comparable := goOK && json.Unmarshal(in, &want) == nil
	if bytes.HasPrefix(out, []byte(`{"error":{"code":"bad_json"`)) {
		if goOK && depth(in) < 100 {
			t.Fatalf("header refused %q, which encoding/json accepts", in)
		}
		return
	}
	if bytes.HasPrefix(out, []byte(`{"error":`)) && !bytes.HasPrefix(in, []byte(`{"error":`)) {
		t.Fatalf("on %q: %s", in, out)
	}
	if !goOK {
		t.Fatalf("header accepted %q, which encoding/json refuses (output %s)", in, out)
	}
	if !json.Valid(out) {
		t.Fatalf("output %q of %q is not JSON", out, in)
	}
	var got any
	if err := json.Unmarshal(out, &got); comparable && err != nil {
		t.Fatalf("output %q of %q does not decode: %v", out, in, err)
	}
	if comparable && !reflect.DeepEqual(got, want) {
		t.Fatalf("roundtrip of %q = %s; encoding/json reads %#v", in, out, want)
	}
}

func depth(b []byte) int {
	d, m := 0, 0
	for _, c := range b {
		switch c {
		case '[', '{':
			d++
			m = max(m, d)
		case ']', '}':
			d--
		}
	}
	return m
}

var roundtripCases = []struct{ name, in string }{
	{"escapes", `{"a\"b":"x\\y\/z\b\f\n\r\t\u0001\u001f"}`},
	{"unicode escapes", `["\u00e9\u20ac\ud83d\ude00", "\ud800", "\udc00x", "\ud800\ud800"]`},
	{"raw utf8", `"h\u00e9llo wörld 😀"`},
	{"number beyond float64", `[1e700,-1e700]`},
	{"numbers", `[0,-0,1,-1,9223372036854775807,-9223372036854775808,9223372036854775808,1.5,-2.25e-3,1e308,5e-324,0.1,123456789012345678901234567890]`},
	{"literals and whitespace", " \t\n{ \"a\" : [ true , false , null ] }\r\n"},
	{"nested", `{"a":{"b":{"c":[[[{}]]]}}}`},
	{"empty containers", `[{},[],"",{"":""}]`},
	{"bad: trailing comma", `[1,]`},
	{"bad: leading zero", `01`},
	{"bad: unterminated", `{"a":"b`},
	{"bad: control char", "\"a\x01\""},
	{"bad: invalid utf8", "\"\xff\""},
	{"bad: surrogate in utf8", "\"\xed\xa0\x80\""},
	{"bad: overlong", "\"\xc0\xaf\""},
	{"bad: bad escape", `"\x"`},
	{"bad: short unicode escape", `"\u12"`},
	{"bad: two values", `1 2`},
	{"bad: empty", ``},
	{"bad: lone minus", `-`},
	{"bad: exponent without digits", `1e`},
	{"bad: missing colon", `{"a" 1}`},
	{"bad: deep", strings.Repeat("[", 200) + strings.Repeat("]", 200)},
}

func TestReaderWriterRoundtrip(t *testing.T) {
	p := load(t, "roundtrip")
	for _, c := range roundtripCases {
		t.Run(c.name, func(t *testing.T) { roundtrip(t, p, []byte(c.in)) })
	}
}

// TestReaderIgnoresHeapLeftovers: the end index lives in heap memory that held other data
// before, and in a pooled instance that data is often an earlier index, with entries of the
// same generations. The roundtrip plugin plants such entries where its index is about to grow
// (see dirty_heap); documents of growing size full of numbers and literals, the values the
// index records nothing for, must still read whole, call after call on one instance.
func TestReaderIgnoresHeapLeftovers(t *testing.T) {
	p := load(t, "roundtrip")
	var doc strings.Builder
	for n := 0; n < 64; n++ {
		doc.Reset()
		doc.WriteString(`{"s":"x"`)
		for i := 0; i <= n; i++ {
			fmt.Fprintf(&doc, `,"n%d":%d,"a%d":[%d,true,null,-%d.5,false],"o%d":{"v":%d}`, i, i, i, i, i, i, i)
		}
		doc.WriteString("}")
		roundtrip(t, p, []byte(doc.String()))
	}
}

func FuzzReaderWriter(f *testing.F) {
	for _, c := range roundtripCases {
		f.Add([]byte(c.in))
	}
	p := load(f, "roundtrip")
	f.Fuzz(func(t *testing.T, in []byte) {
		roundtrip(t, p, in)
	})
}
