// Command redact is the first-party request transform (hook_request) that removes secrets
// and e-mail addresses from prompt text before it leaves the node: the content of every
// message, as a string or as text parts. E-mail addresses become [REDACTED_EMAIL]; API keys
// and tokens (OpenAI and Anthropic sk-, AWS AKIA, GitHub ghp_/gho_/ghu_/ghs_/ghr_/github_pat_,
// Slack xoxb-/xoxp-, Google AIza, the token after "Bearer ", PEM private key blocks) become
// [REDACTED_SECRET]. Everything else in the body is kept byte for byte; a body with nothing
// to redact is returned as 0 (unchanged), so clean prompts cost only the scan.
//
// Config (all optional): {"emails": true, "secrets": true}. Unknown keys are refused, so a
// misspelt switch cannot silently leave redaction on or off. Detection is hand-written
// scanning, not regular expressions: the regexp package would add hundreds of KB and
// several times the scan cost inside wasm.
package main

import (
	"github.com/crossroads-llm/crossroads/sdk/go/pjson"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/config"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/request"
)

func init() {
	plugin.Describe(plugin.Info{
		Name:        "redact",
		Version:     "1.0.0",
		Description: "redacts e-mail addresses and API keys from prompt text",
	})
	config.Handle(configure)
	request.Handle(func(body []byte) ([]byte, error) { return redactBody(body, active) })
}

func main() {}

// options say what to redact.
type options struct{ emails, secrets bool }

// active is set once per instance by plugin_init, before any request; it holds no request
// data.
var active = options{emails: true, secrets: true}

func configure(cfg []byte) error {
	active = options{emails: true, secrets: true}
	if len(cfg) == 0 {
		return nil
	}
	d := pjson.NewDecoder(cfg)
	for d.NextMember() {
		key := string(d.Key())
		var dst *bool
		switch key {
		case "emails":
			dst = &active.emails
		case "secrets":
			dst = &active.secrets
		default:
			return &plugin.Error{Code: "bad_config", Message: "redact: unknown config key " + string(pjson.AppendString(nil, key)) + " (known: emails, secrets)"}
		}
		switch v := d.Skip(); string(v) {
		case "true", "false":
			*dst = string(v) == "true"
		default:
			return &plugin.Error{Code: "bad_config", Message: "redact: " + key + " must be true or false"}
		}
	}
	if err := d.Finish(); err != nil {
		return &plugin.Error{Code: "bad_config", Message: "redact: config is not a JSON object: " + err.Error()}
	}
	return nil
}

// redactor rewrites one body: it walks messages[].content with a single-pass decoder and
// records each string value it must replace, then splices the replacements into a copy of
// the body. out stays nil while nothing matched.
type redactor struct {
	opt     options
	d       pjson.Decoder
	body    []byte
	out     []byte
	copied  int    // body[:copied] is already in out
	scratch []byte // a decoded string with escapes
}

func redactBody(body []byte, opt options) ([]byte, error) {
	if !opt.emails && !opt.secrets {
		return nil, nil
	}
	r := redactor{opt: opt, body: body}
	d := &r.d
	d.Reset(body)
	for d.NextMember() {
		if string(d.Key()) != "messages" || d.Kind() != pjson.Array {
			d.Skip()
			continue
		}
		for d.NextElement() {
			if d.Kind() != pjson.Object {
				d.Skip()
				continue
			}
			for d.NextMember() {
				if string(d.Key()) != "content" {
					d.Skip()
					continue
				}
				r.content()
			}
		}
	}
	if err := d.Finish(); err != nil {
		return nil, &plugin.Error{Code: "bad_request", Message: "redact: request body is not valid JSON: " + err.Error()}
	}
	if r.out == nil {
		return nil, nil
	}
	return append(r.out, body[r.copied:]...), nil
}

// content handles one message's content: a string, or an array of parts whose "text"
// strings are prompt text.
func (r *redactor) content() {
	d := &r.d
	switch d.Kind() {
	case pjson.String:
		r.text()
	case pjson.Array:
		for d.NextElement() {
			if d.Kind() != pjson.Object {
				d.Skip()
				continue
			}
			for d.NextMember() {
				if string(d.Key()) == "text" && d.Kind() == pjson.String {
					r.text()
				} else {
					d.Skip()
				}
			}
		}
	default:
		d.Skip()
	}
}

// text scans the string value under the cursor and, if it holds anything to redact,
// splices its redacted re-encoding into the output.
func (r *redactor) text() {
	d := &r.d
	start := d.Pos()
	v := d.Skip()
	if len(v) < 2 {
		return
	}
	raw := v[1 : len(v)-1]
	s := raw
	if hasBackslash(raw) {
		// Escapes are decoded first, so "a\u0040b.com" is seen as the address it is.
		r.scratch, _ = pjson.AppendUnquote(r.scratch[:0], v)
		s = r.scratch
	}
	red := redact(nil, s, r.opt)
	if red == nil {
		return
	}
	if r.out == nil {
		r.out = make([]byte, 0, len(r.body)+64)
	}
	r.out = append(r.out, r.body[r.copied:start]...)
	r.out = pjson.AppendString(r.out, red)
	r.copied = d.Pos()
}

func hasBackslash(b []byte) bool {
	for _, c := range b {
		if c == '\\' {
			return true
		}
	}
	return false
}
