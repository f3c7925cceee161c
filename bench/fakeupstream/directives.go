package fakeupstream

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// directivePrefix introduces per-request overrides in the body's "user"
// field, e.g. "user":"fake:fail=429,ttft=200ms,tools=1". Gateways forward the
// body but not always unknown headers, so both channels exist.
const directivePrefix = "fake:"

// headerDirectives map X-Fake-* headers to directive keys. Keys are stored in
// canonical form so the handler can index the header map without
// canonicalising on every request.
var headerDirectives = func() []struct{ header, key string } {
	pairs := [][2]string{
		{"X-Fake-Fail", "fail"},
		{"X-Fake-TTFT", "ttft"},
		{"X-Fake-TPS", "tps"},
		{"X-Fake-Chunks", "chunks"},
		{"X-Fake-Tools", "tools"},
		{"X-Fake-Size", "size"},
		{"X-Fake-Cut", "cut"},
		{"X-Fake-Retry-After", "retry"},
	}
	out := make([]struct{ header, key string }, len(pairs))
	for i, p := range pairs {
		out[i].header = http.CanonicalHeaderKey(p[0])
		out[i].key = p[1]
	}
	return out
}()

func (p *params) fromHeader(h http.Header) error {
	for _, d := range headerDirectives {
		if v := h[d.header]; len(v) > 0 {
			if err := p.set(d.key, strings.TrimSpace(v[0])); err != nil {
				return err
			}
		}
	}
	return nil
}

// fromDirective applies "fake:k=v,k=v" found anywhere in user; the directive
// ends at the first space so it can trail a real user id.
func (p *params) fromDirective(user string) error {
	i := strings.Index(user, directivePrefix)
	if i < 0 {
		return nil
	}
	rest := user[i+len(directivePrefix):]
	if j := strings.IndexAny(rest, " \t"); j >= 0 {
		rest = rest[:j]
	}
	for rest != "" {
		var kv string
		kv, rest, _ = strings.Cut(rest, ",")
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return fmt.Errorf("fakeupstream: parse directive %q: missing '='", kv)
		}
		if err := p.set(k, v); err != nil {
			return err
		}
	}
	return nil
}

var errNegative = errors.New("must not be negative")

func (p *params) set(k, v string) error {
	wrap := func(err error) error {
		return fmt.Errorf("fakeupstream: parse directive %s=%q: %w", k, v, err)
	}
	positive := func() (int, error) {
		n, err := strconv.Atoi(v)
		if err == nil && n < 1 {
			err = errors.New("must be at least 1")
		}
		return n, err
	}
	switch k {
	case "fail":
		m := FailMode(v)
		if !m.Valid() {
			return wrap(errors.New("unknown failure mode"))
		}
		p.fail, p.forced = m, true
	case "ttft":
		d, err := time.ParseDuration(v)
		if err == nil && d < 0 {
			err = errNegative
		}
		if err != nil {
			return wrap(err)
		}
		p.ttft = d
	case "tps":
		f, err := strconv.ParseFloat(v, 64)
		if err == nil && f < 0 {
			err = errNegative
		}
		if err != nil {
			return wrap(err)
		}
		p.tps = f
	case "chunks":
		n, err := positive()
		if err != nil {
			return wrap(err)
		}
		p.chunks = n
	case "size":
		n, err := positive()
		if err != nil {
			return wrap(err)
		}
		p.size = n
	case "cut":
		n, err := strconv.Atoi(v)
		if err == nil && n < 0 {
			err = errNegative
		}
		if err != nil {
			return wrap(err)
		}
		p.cut = n
	case "tools":
		b, err := strconv.ParseBool(v)
		if err != nil {
			return wrap(err)
		}
		p.tools = b
	case "retry":
		if v == "" {
			return wrap(errors.New("empty"))
		}
		p.retryAfter = v
	default:
		return wrap(errors.New("unknown key"))
	}
	return nil
}
