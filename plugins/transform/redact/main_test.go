package main

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/crossroads-llm/crossroads/sdk/plugintest"
)

// req builds a chat request whose single user message has the given content (a JSON
// fragment), with odd spacing and fields around it that must survive byte for byte.
func req(content string) string {
	return `{"model":"gpt-4o",  "user":"owner@example.com", "messages":[{"role":"system","content":"be brief"},` +
		"\n\t" + `{"role":"user", "content": ` + content + `, "name":"x"}], "metadata":{"k":"sk-notinprompt000000000000000"}}`
}

func TestRedact(t *testing.T) {
	const (
		e = emailMark
		s = secretMark
	)
	cases := []struct {
		name    string
		content string
		want    string // "" means unchanged (the hook returns 0)
	}{
		{"email", `"write to jane.doe+x@mail.example.co.uk today"`, `"write to ` + e + ` today"`},
		{"two emails and punctuation", `"a@b.io, c_d@e-f.org."`, `"` + e + `, ` + e + `."`},
		{"not emails", `"user@localhost, @handle, a@b, x@y.c1, me@.com"`, ""},
		{"escaped at sign is still an email", `"mail a\u0040example.com now"`, `"mail ` + e + ` now"`},
		{"escapes elsewhere are re-encoded", `"line1\nq\"uote\" a@b.com \u00e9"`, `"line1\nq\"uote\" ` + e + ` é"`},
		{"openai key", `"key sk-proj-AbCdEfGhIjKlMnOpQrStUvWx12 ok"`, `"key ` + s + ` ok"`},
		{"anthropic key", `"sk-ant-api03-abcdefghijklmnopqrstuvwxyz_0123-XYZ"`, `"` + s + `"`},
		{"short sk- and words containing sk- are kept", `"sk-short task-force-aaaaaaaaaaaaaaaaaaaaaaaa"`, ""},
		{"aws access key", `"id=AKIAIOSFODNN7EXAMPLE;"`, `"id=` + s + `;"`},
		{"aws-like but too short or too long", `"AKIAIOSFODNN7EXAMPL AKIAIOSFODNN7EXAMPLEX"`, ""},
		{"github tokens", `"ghp_0123456789abcdefghijABCDEFGHIJ012345 and github_pat_11ABCDEFG0123456789_abcdefghijklmnop"`, `"` + s + ` and ` + s + `"`},
		{"gho token", `"gho_aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"`, `"` + s + `"`},
		{"slack tokens", `"xoxb-123456789012-abcdefABCDEF xoxp-1234567890-zz"`, `"` + s + ` ` + s + `"`},
		{"google api key", `"AIzaSyA-1234567890abcdefghijklmnopqrstu"`, `"` + s + `"`},
		{"bearer token keeps the word", `"Authorization: Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.abc_DEF-123"`, `"Authorization: Bearer ` + s + `"`},
		{"short bearer word is prose", `"the bearer of bad news"`, ""},
		{"pem block", `"key:\n-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nAbC=\n-----END RSA PRIVATE KEY-----\nthanks"`, `"key:\n` + s + `\nthanks"`},
		{"truncated pem block", `"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBg"`, `"` + s + `"`},
		{"public key is kept", `"-----BEGIN PUBLIC KEY-----\nMIIBIjAN\n-----END PUBLIC KEY-----"`, ""},
		{"text parts", `[{"type":"text","text":"a@b.com"},{"type":"image_url","image_url":{"url":"https://u@h.com/x.png"}},{"type":"text","text":"clean"}]`,
			`[{"type":"text","text":"` + e + `"},{"type":"image_url","image_url":{"url":"https://u@h.com/x.png"}},{"type":"text","text":"clean"}]`},
		{"clean prompt", `"hello, how are you? 100% fine @ noon"`, ""},
		{"null content", `null`, ""},
	}
	plugintest.Run(t, plugintest.Options{Dir: "."}, func(t *testing.T, p plugintest.Plugin) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				in := req(c.content)
				out, changed, err := p.Call("hook_request", []byte(in))
				if err != nil {
					t.Fatal(err)
				}
				if c.want == "" {
					if changed {
						t.Fatalf("changed to %s, want unchanged", out)
					}
					return
				}
				if want := req(c.want); !changed || string(out) != want {
					t.Fatalf("got  %s\nwant %s", out, want)
				}
			})
		}
	})
}

func TestConfig(t *testing.T) {
	in := req(`"a@b.com sk-ant-api03-abcdefghijklmnopqrstuvwxyz"`)
	cases := []struct {
		name, config, want, wantErr string
	}{
		{"defaults", ``, req(`"` + emailMark + ` ` + secretMark + `"`), ""},
		{"emails off", `{"emails":false}`, req(`"a@b.com ` + secretMark + `"`), ""},
		{"secrets off", `{"secrets":false,"emails":true}`, req(`"` + emailMark + ` sk-ant-api03-abcdefghijklmnopqrstuvwxyz"`), ""},
		{"both off", `{"secrets":false,"emails":false}`, "", ""},
		{"unknown key", `{"extra_patterns":["x"]}`, "", "unknown config key"},
		{"not a bool", `{"emails":"yes"}`, "", "must be true or false"},
		{"not an object", `[1]`, "", "not a JSON object"},
	}
	plugintest.Each(t, plugintest.Options{Dir: "."}, func(t *testing.T, load plugintest.Loader) {
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				var cfg []byte
				if c.config != "" {
					cfg = []byte(c.config)
				}
				p, err := load(cfg)
				if c.wantErr != "" {
					if err == nil || !strings.Contains(err.Error(), c.wantErr) {
						t.Fatalf("load err = %v, want %q", err, c.wantErr)
					}
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				out, changed, err := p.Call("hook_request", []byte(in))
				if err != nil || changed != (c.want != "") || (changed && string(out) != c.want) {
					t.Fatalf("out = %s, changed %v, err %v; want %s", out, changed, err, c.want)
				}
			})
		}
	})
}

func TestInfo(t *testing.T) {
	plugintest.Run(t, plugintest.Options{Dir: "."}, func(t *testing.T, p plugintest.Plugin) {
		if i := p.Info(); i.Name != "redact" || len(i.Hooks) != 1 || i.Hooks[0] != "hook_request" {
			t.Fatalf("info = %+v", i)
		}
	})
}

const planted = "planted.user@example.com"

// FuzzRedact plants an e-mail address between arbitrary text in a message and checks that
// the output is valid JSON in which the address no longer appears, decoded or not; and that
// arbitrary bodies never produce invalid JSON.
func FuzzRedact(f *testing.F) {
	f.Add("hello ", " bye", []byte(`{"messages":[{"content":"x"}]}`))
	f.Add("sk-", "\u00e9\n", []byte(`{"messages":[{"content":[{"type":"text","text":"a@b.com"}]}]}`))
	f.Add("Bearer ", "-----END", []byte(`[1,2]`))
	f.Add("\"\\", "@x.com.", []byte(`{"messages":[{"content":"-----BEGIN PRIVATE KEY-----"}]}`))
	f.Fuzz(func(t *testing.T, pre, post string, body []byte) {
		msg, _ := json.Marshal(pre + planted + post)
		part, _ := json.Marshal(post + planted + pre)
		in := fmt.Sprintf(`{"messages":[{"role":"user","content":%s},{"role":"user","content":[{"type":"text","text":%s}]}]}`, msg, part)
		out, err := redactBody([]byte(in), options{emails: true, secrets: true})
		if err != nil || out == nil {
			t.Fatalf("redact(%s) = %s, %v: the planted address was not redacted", in, out, err)
		}
		if !json.Valid(out) {
			t.Fatalf("redact(%s) is not valid JSON: %s", in, out)
		}
		var v struct {
			Messages []struct {
				Content json.RawMessage
			}
		}
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatal(err)
		}
		var s0 string
		var s1 []struct{ Text string }
		if json.Unmarshal(v.Messages[0].Content, &s0) != nil || json.Unmarshal(v.Messages[1].Content, &s1) != nil {
			t.Fatalf("structure changed: %s", out)
		}
		if strings.Contains(s0, planted) || strings.Contains(s1[0].Text, planted) || strings.Contains(string(out), planted) {
			t.Fatalf("planted address survived: %s", out)
		}

		out, err = redactBody(body, options{emails: true, secrets: true})
		if out != nil && (!json.Valid(out) || !json.Valid(body)) {
			t.Fatalf("redact(%q) = %q", body, out)
		}
		if err == nil && !json.Valid(body) {
			t.Fatalf("redact accepted invalid JSON %q", body)
		}
	})
}
