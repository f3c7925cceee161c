package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Request headers of the cache's per-request policy.
const (
	HeaderCache      = "X-Crossroads-Cache"       // "true" opts in; responses carry HIT|MISS|COALESCED
	HeaderTTL        = "X-Crossroads-Cache-TTL"   // seconds, 1–86400
	HeaderClear      = "X-Crossroads-Cache-Clear" // "true" evicts the entry first
	HeaderOpenRouter = "X-OpenRouter-Cache"       // OpenRouter's opt-in, honoured the same way
)

// DefaultTTL is how long an entry lives when the request does not say.
const DefaultTTL = 300 * time.Second

// MaxTTL bounds X-Crossroads-Cache-TTL.
const MaxTTL = 24 * time.Hour

// Decision is what the cache does with one request.
type Decision struct {
	// Lookup: answer from the cache if the entry exists (and coalesce with an identical
	// request in flight). Store: keep a complete, successful answer.
	Lookup, Store bool
	// Clear evicts the entry before anything else.
	Clear bool
	TTL   time.Duration
}

// Cacheable reports whether the decision involves the cache at all.
func (d Decision) Cacheable() bool { return d.Lookup || d.Store || d.Clear }

// Defaults are the node's policy for one request, from its configuration for the model and
// the caller's key.
type Defaults struct {
	// OptIn caches every request, as if the client had opted in.
	OptIn bool
	// TTL is the lifetime of an entry the request does not give one; 0 means DefaultTTL.
	TTL time.Duration
}

// Decide applies the policy: a request is cacheable when its answer is deterministic
// (temperature 0, or a seed: llm.Request.Deterministic) or when the client opts in
// (X-Crossroads-Cache: true, or OpenRouter's X-OpenRouter-Cache: true) or the configuration
// does (def.OptIn).
// Cache-Control: no-cache skips the lookup and no-store the write. A malformed TTL is the
// client's error, not a silent default.
func Decide(deterministic bool, h http.Header, def Defaults) (Decision, error) {
	var d Decision
	ttl := DefaultTTL
	if def.TTL > 0 {
		ttl = def.TTL
	}
	if v := header(h, "X-Crossroads-Cache-Ttl"); v != "" {
		n, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || n < 1 || time.Duration(n)*time.Second > MaxTTL {
			return d, llm.BadRequest("", "header %s: want whole seconds from 1 to %d, got %q", HeaderTTL, int(MaxTTL/time.Second), v)
		}
		ttl = time.Duration(n) * time.Second
	}
	d.Clear = isTrue(header(h, "X-Crossroads-Cache-Clear"))
	explicit, off := opt(header(h, "X-Crossroads-Cache"))
	if !explicit && !off {
		explicit, off = opt(header(h, "X-Openrouter-Cache"))
	}
	if off || !(explicit || def.OptIn || deterministic) {
		return d, nil
	}
	d.Lookup, d.Store, d.TTL = true, true, ttl
	for _, directive := range strings.Split(strings.ToLower(strings.Join(h["Cache-Control"], ",")), ",") {
		switch strings.TrimSpace(directive) {
		case "no-cache":
			d.Lookup = false
		case "no-store":
			d.Store = false
		}
	}
	return d, nil
}

// header is h.Get for a key already in canonical form: the lookup is on every request the
// cache sees, and canonicalising constant names each time is a measurable part of a hit.
func header(h http.Header, canonical string) string {
	if v := h[canonical]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// opt reads an opt-in header: "true" opts in, "false" opts out even a deterministic request.
func opt(v string) (in, out bool) {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "yes":
		return true, false
	case "false", "0", "no":
		return false, true
	}
	return false, false
}

func isTrue(v string) bool {
	in, _ := opt(v)
	return in
}
