package route

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"

	"github.com/crossroads-llm/crossroads/edge/internal/jsonx"
	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Sort is an explicit ordering of candidates (provider.sort); SortNone keeps load balancing.
type Sort uint8

const (
	SortNone Sort = iota
	SortPrice
	SortThroughput
	SortLatency
)

func (s Sort) String() string {
	return [...]string{"none", "price", "throughput", "latency"}[s]
}

// Threshold is a preferred_max_latency or preferred_min_throughput: a bound on one or more
// percentiles. A bare number bounds p50.
type Threshold struct {
	// Set reports whether the preference was given at all.
	Set bool
	// P50…P99 are the bounds; 0 leaves a percentile unbounded.
	P50, P75, P90, P99 float64
}

// Prefs are OpenRouter's provider routing preferences (the `provider` object), parsed.
// The zero value is "no preferences" except AllowFallbacks, which defaults to true: use
// DefaultPrefs.
type Prefs struct {
	Order, Only, Ignore []string
	AllowFallbacks      bool
	RequireParameters   bool
	// DenyDataCollection is data_collection "deny": only providers that neither retain
	// nor train on prompts. ZDR is stricter: no retention at all.
	DenyDataCollection bool
	ZDR                bool
	Quantizations      []string
	Sort               Sort
	// PartitionNone sorts endpoints of all models in one list instead of model by model.
	PartitionNone bool
	// MaxPrice is in USD per token (the request carries USD per million); a negative
	// field is unbounded.
	MaxPrice struct{ Prompt, Completion, Request float64 }
	// PreferredMaxLatency is in seconds (TTFT); PreferredMinThroughput in tokens/s.
	PreferredMaxLatency, PreferredMinThroughput Threshold
}

// DefaultPrefs are the preferences of a request that sends none.
func DefaultPrefs() Prefs {
	p := Prefs{AllowFallbacks: true}
	p.MaxPrice.Prompt, p.MaxPrice.Completion, p.MaxPrice.Request = -1, -1, -1
	return p
}

// loadBalanced reports whether the default price-weighted random pick applies: any
// explicit sort or order turns it off, as on OpenRouter.
func (p *Prefs) loadBalanced() bool { return p.Sort == SortNone && len(p.Order) == 0 }

// ParsePrefs reads the `provider` object and the legacy `route` field into p, which should
// start as DefaultPrefs. Every wrong field or type is a 400 naming it: a typo in a routing
// preference silently ignored would route a request somewhere its sender forbade.
func ParsePrefs(p *Prefs, raw []byte, route string) *llm.Error {
	switch route {
	case "":
	case "fallback":
		p.PartitionNone = false
	case "sort":
		p.PartitionNone = true
	default:
		return llm.BadRequest("route", "`route` must be \"fallback\" or \"sort\", got %q", route)
	}
	if len(raw) == 0 || jsonx.IsNull(raw) {
		return nil
	}
	if jsonx.KindOfValue(raw) != jsonx.KindObject {
		return typeErr("provider", raw, "an object")
	}
	it := jsonx.Object(raw)
	for it.Next() {
		m := it.Member()
		var buf [64]byte
		name := m.Name(&buf)
		v := m.Value
		// Field names are constants, so a valid preference costs no allocation; only an
		// error spells out what it names.
		field := prefField(name)
		var err *llm.Error
		switch string(name) {
		case "order":
			p.Order, err = providerList(field, v)
		case "only":
			p.Only, err = providerList(field, v)
		case "ignore":
			p.Ignore, err = providerList(field, v)
		case "quantizations":
			p.Quantizations, err = stringList(field, v)
			for i, q := range p.Quantizations {
				if !knownQuantization(q) {
					return llm.BadRequest(fmt.Sprintf("%s[%d]", field, i),
						"`%s[%d]` must be one of int4, int8, fp4, mxfp4, nvfp4, fp6, fp8, mxfp8, fp16, bf16, fp32, unknown; got %q", field, i, q)
				}
			}
		case "allow_fallbacks":
			p.AllowFallbacks, err = boolOrNull(field, v, true)
		case "require_parameters":
			p.RequireParameters, err = boolOrNull(field, v, false)
		case "zdr":
			p.ZDR, err = boolOrNull(field, v, false)
		case "enforce_distillable_text":
			// Accepted for compatibility; the catalog carries no distillation terms, so it
			// cannot filter and says so rather than pretend.
			var on bool
			if on, err = boolOrNull(field, v, false); err == nil && on {
				return llm.BadRequest(field, "`%s` is not supported by this node: its catalog has no distillation terms", field)
			}
		case "data_collection":
			var s []byte
			if s, err = stringOrNull(field, v); err == nil {
				switch string(s) {
				case "", "allow":
					p.DenyDataCollection = false
				case "deny":
					p.DenyDataCollection = true
				default:
					return llm.BadRequest(field, "`%s` must be \"allow\" or \"deny\", got %q", field, s)
				}
			}
		case "sort":
			err = parseSort(p, field, v)
		case "max_price":
			err = parseMaxPrice(p, field, v)
		case "preferred_max_latency":
			p.PreferredMaxLatency, err = parseThreshold(field, v)
		case "preferred_min_throughput":
			p.PreferredMinThroughput, err = parseThreshold(field, v)
		default:
			field = "provider." + string(name)
			return llm.BadRequest(field, "`%s` is not a provider preference; known: order, only, ignore, allow_fallbacks, require_parameters, data_collection, zdr, quantizations, sort, max_price, preferred_max_latency, preferred_min_throughput", field)
		}
		if err != nil {
			return err
		}
	}
	if err := it.Err(); err != nil {
		return llm.BadRequest("provider", "`provider` is not a valid JSON object: %v", err)
	}
	if end := jsonx.SkipSpace(raw, it.End()); end != len(raw) {
		return llm.BadRequest("provider", "`provider` has data after its object at offset %d", end)
	}
	return nil
}

var prefFields = map[string]string{}

func init() {
	for _, n := range []string{"order", "only", "ignore", "quantizations", "allow_fallbacks", "require_parameters",
		"zdr", "enforce_distillable_text", "data_collection", "sort", "max_price", "preferred_max_latency",
		"preferred_min_throughput", "sort.by", "sort.partition", "max_price.prompt", "max_price.completion",
		"max_price.request", "max_price.image", "max_price.audio", "preferred_max_latency.p50",
		"preferred_max_latency.p75", "preferred_max_latency.p90", "preferred_max_latency.p99",
		"preferred_min_throughput.p50", "preferred_min_throughput.p75", "preferred_min_throughput.p90",
		"preferred_min_throughput.p99"} {
		prefFields[n] = "provider." + n
	}
}

// prefField is "provider.<name>" for a known preference, without allocating.
func prefField(name []byte) string {
	if f, ok := prefFields[string(name)]; ok {
		return f
	}
	return "provider.?"
}

// subField is field.name, from the table when known.
func subField(field string, name []byte) string {
	var buf [96]byte
	k := append(append(append(buf[:0], field[len("provider."):]...), '.'), name...)
	if f, ok := prefFields[string(k)]; ok {
		return f
	}
	return field + "." + string(name)
}

func typeErr(field string, v []byte, want string) *llm.Error {
	return llm.BadRequest(field, "`%s` must be %s, got %s", field, want, jsonx.KindOfValue(v))
}

func stringList(field string, v []byte) ([]string, *llm.Error) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return nil, nil
	case jsonx.KindArray:
	default:
		return nil, typeErr(field, v, "an array of strings")
	}
	var out []string
	it := jsonx.Array(v)
	for i := 0; it.Next(); i++ {
		s, ok := jsonx.Unquote(it.Value())
		if !ok || jsonx.KindOfValue(it.Value()) != jsonx.KindString {
			return nil, typeErr(fmt.Sprintf("%s[%d]", field, i), it.Value(), "a string")
		}
		if s == "" {
			return nil, llm.BadRequest(fmt.Sprintf("%s[%d]", field, i), "`%s[%d]` must not be empty", field, i)
		}
		out = append(out, s)
	}
	return out, nil
}

// providerList is a list of provider names, lowercased: slugs and display names match
// without regard to case ("Together" names together).
func providerList(field string, v []byte) ([]string, *llm.Error) {
	l, err := stringList(field, v)
	for i, s := range l {
		l[i] = strings.ToLower(s)
	}
	return l, err
}

func boolOrNull(field string, v []byte, def bool) (bool, *llm.Error) {
	switch string(v) {
	case "true":
		return true, nil
	case "false":
		return false, nil
	case "null":
		return def, nil
	}
	return false, typeErr(field, v, "a boolean")
}

// stringOrNull returns a string value's content. Callers compare it with constants, so an
// unescaped string is returned in place, as bytes, without a copy.
func stringOrNull(field string, v []byte) ([]byte, *llm.Error) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return nil, nil
	case jsonx.KindString:
		if !bytesContain(v, '\\') {
			return v[1 : len(v)-1], nil
		}
		s, _ := jsonx.UnquoteBytes(nil, v)
		return s, nil
	}
	return nil, typeErr(field, v, "a string")
}

func bytesContain(b []byte, c byte) bool {
	for _, x := range b {
		if x == c {
			return true
		}
	}
	return false
}

func number(field string, v []byte) (float64, *llm.Error) {
	if jsonx.KindOfValue(v) != jsonx.KindNumber {
		return 0, typeErr(field, v, "a number")
	}
	f, err := strconv.ParseFloat(string(v), 64)
	if err != nil || math.IsInf(f, 0) || f < 0 {
		return 0, llm.BadRequest(field, "`%s` must be a non-negative number", field)
	}
	return f, nil
}

func parseSort(p *Prefs, field string, v []byte) *llm.Error {
	sortOf := func(field string, v []byte) (Sort, *llm.Error) {
		s, err := stringOrNull(field, v)
		if err != nil {
			return 0, err
		}
		switch string(s) {
		case "":
			return SortNone, nil
		case "price":
			return SortPrice, nil
		case "throughput":
			return SortThroughput, nil
		case "latency":
			return SortLatency, nil
		}
		return 0, llm.BadRequest(field, "`%s` must be \"price\", \"throughput\" or \"latency\", got %q", field, s)
	}
	if jsonx.KindOfValue(v) != jsonx.KindObject {
		s, err := sortOf(field, v)
		p.Sort = s
		return err
	}
	it := jsonx.Object(v)
	for it.Next() {
		m := it.Member()
		switch {
		case m.KeyIs("by"):
			s, err := sortOf("provider.sort.by", m.Value)
			if err != nil {
				return err
			}
			p.Sort = s
		case m.KeyIs("partition"):
			s, err := stringOrNull("provider.sort.partition", m.Value)
			if err != nil {
				return err
			}
			switch string(s) {
			case "", "model":
				p.PartitionNone = false
			case "none":
				p.PartitionNone = true
			default:
				return llm.BadRequest("provider.sort.partition", "`provider.sort.partition` must be \"model\" or \"none\", got %q", s)
			}
		default:
			var buf [64]byte
			return llm.BadRequest(field+"."+string(m.Name(&buf)), "`%s` takes only `by` and `partition`", field)
		}
	}
	return nil
}

func parseMaxPrice(p *Prefs, field string, v []byte) *llm.Error {
	if jsonx.IsNull(v) {
		return nil
	}
	if jsonx.KindOfValue(v) != jsonx.KindObject {
		return typeErr(field, v, "an object of USD prices per million tokens")
	}
	return eachNumber(field, v, priceFields, func(i int, f float64) {
		switch i {
		case 0:
			p.MaxPrice.Prompt = f / 1e6
		case 1:
			p.MaxPrice.Completion = f / 1e6
		case 2:
			p.MaxPrice.Request = f
		default:
			// image, audio: bounds on prices this node's catalog does not carry.
		}
	})
}

var (
	priceFields      = []string{"prompt", "completion", "request", "image", "audio"}
	percentileFields = []string{"p50", "p75", "p90", "p99"}
)

// eachNumber calls set with the index in names of every member of an object of
// non-negative numbers; a member not in names is a 400 listing them.
func eachNumber(field string, v []byte, names []string, set func(i int, f float64)) *llm.Error {
	it := jsonx.Object(v)
	for it.Next() {
		m := it.Member()
		var buf [64]byte
		name := m.Name(&buf)
		f, err := number(subField(field, name), m.Value)
		if err != nil {
			return err
		}
		i := slices.Index(names, string(name))
		if i < 0 {
			return llm.BadRequest(subField(field, name), "`%s` takes %s", field, strings.Join(names, ", "))
		}
		set(i, f)
	}
	return nil
}

func parseThreshold(field string, v []byte) (Threshold, *llm.Error) {
	switch jsonx.KindOfValue(v) {
	case jsonx.KindNull:
		return Threshold{}, nil
	case jsonx.KindNumber:
		f, err := number(field, v)
		return Threshold{Set: true, P50: f}, err
	case jsonx.KindObject:
	default:
		return Threshold{}, typeErr(field, v, "a number or an object of percentiles")
	}
	t := Threshold{Set: true}
	err := eachNumber(field, v, percentileFields, func(i int, f float64) {
		*[...]*float64{&t.P50, &t.P75, &t.P90, &t.P99}[i] = f
	})
	return t, err
}

func knownQuantization(q string) bool {
	switch q {
	case "int4", "int8", "fp4", "mxfp4", "nvfp4", "fp6", "fp8", "mxfp8", "fp16", "bf16", "fp32", "unknown":
		return true
	}
	return false
}
