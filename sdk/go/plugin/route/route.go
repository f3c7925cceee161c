// Package route exports hook_route and registers its handler, which ranks or drops the
// upstream candidates of one request (sdk/ABI.md §5). It decodes the host's input into Input
// with the reflection-free scanner in sdk/go/pjson and writes {"order":[...]} back, so a
// Go routing rule costs microseconds rather than the 150–250 µs per KB of encoding/json in
// wasm.
package route

import (
	"github.com/crossroads-llm/crossroads/sdk/go/internal/guest"
	"github.com/crossroads-llm/crossroads/sdk/go/pjson"
)

func init() { guest.Declare(guest.Route) }

// Circuit states, as the host writes them.
const (
	Closed   = "closed"
	HalfOpen = "half_open"
	Open     = "open"
)

// Input is hook_route's input.
type Input struct {
	Request    Request
	Candidates []Candidate
}

// Request summarises the request being routed; it is not the whole body.
type Request struct {
	Model     string
	Stream    bool
	MaxTokens int64 // 0 when the client set none
	Tools     bool  // the request carries tools
	Region    string
	User      string
}

// Candidate is one upstream the host could send the request to, with its live health.
type Candidate struct {
	ID       string // what Output.Order lists
	Provider string
	Model    string
	Region   string
	Price    Price
	// TTFTms is the recent time to first token in milliseconds, with a fraction.
	TTFTms          float64
	TokensPerSecond float64
	ErrorRate       float64 // 0..1
	Degraded        bool
	Circuit         string // Closed, HalfOpen or Open
}

// Price is in USD per million tokens.
type Price struct {
	Prompt, Completion float64
}

// Output is the order in which to try candidates, by ID. Candidates not listed are dropped
// for this request; unknown IDs are ignored by the host.
type Output struct {
	Order []string
}

// Handle registers fn as the hook_route handler. fn returns the order to try, or nil to keep
// the host's own order. An error fails the call, and the host falls back to its default
// ranking (a failed route hook never fails the request).
func Handle(fn func(in *Input) (*Output, error)) {
	guest.Set(guest.Route, func(b []byte) ([]byte, error) {
		var in Input
		if err := Decode(b, &in); err != nil {
			return nil, err
		}
		out, err := fn(&in)
		if err != nil || out == nil {
			return nil, err
		}
		return out.Append(make([]byte, 0, 16+len(out.Order)*40)), nil
	})
}

// Decode reads hook_route's input into in, ignoring fields it does not know (new ones are
// added within ABI v1). Missing fields stay zero. It reads the input in one pass and copies
// every string into one shared backing string, so a decode costs a handful of allocations
// however many candidates there are, and the strings stay valid after the call.
func Decode(b []byte, in *Input) error {
	// The host writes about 220 bytes per candidate, so len/200 sizes the slices once for
	// the usual input; strings never total more than the input, so the arena never grows.
	guess := len(b)/200 + 1
	st := decodeState{arena: make([]byte, 0, len(b)), spans: make([][4]span, 0, guess)}
	in.Candidates = make([]Candidate, 0, guess)
	d := &st.d
	d.Reset(b)
	var reqSpans [3]span // model, region, user
	for d.NextMember() {
		switch string(d.Key()) {
		case "request":
			st.request(&in.Request, &reqSpans)
		case "candidates":
			for d.NextElement() {
				in.Candidates = append(in.Candidates, Candidate{})
				st.spans = append(st.spans, [4]span{})
				st.candidate(&in.Candidates[len(in.Candidates)-1], &st.spans[len(st.spans)-1])
			}
		default:
			d.Skip()
		}
	}
	if err := d.Finish(); err != nil {
		return &guest.Error{Code: "bad_input", Message: "hook_route: decode input: " + err.Error()}
	}
	all := string(st.arena)
	r := &in.Request
	r.Model, r.Region, r.User = reqSpans[0].of(all), reqSpans[1].of(all), reqSpans[2].of(all)
	for i := range in.Candidates {
		c, sp := &in.Candidates[i], &st.spans[i]
		c.ID, c.Provider, c.Model, c.Region = sp[0].of(all), sp[1].of(all), sp[2].of(all), sp[3].of(all)
	}
	return nil
}

// span is a string's place in decodeState.arena until the arena becomes one string.
type span struct{ off, n int32 }

func (s span) of(all string) string { return all[s.off : s.off+s.n] }

type decodeState struct {
	d     pjson.Decoder
	arena []byte
	spans [][4]span // id, provider, model, region per candidate
}

func (st *decodeState) str() span {
	v := st.d.Str()
	s := span{int32(len(st.arena)), int32(len(v))}
	st.arena = append(st.arena, v...)
	return s
}

func (st *decodeState) request(r *Request, sp *[3]span) {
	d := &st.d
	for d.NextMember() {
		switch string(d.Key()) {
		case "model":
			sp[0] = st.str()
		case "stream":
			r.Stream = d.Bool()
		case "max_tokens":
			r.MaxTokens, _ = d.Int()
		case "tools":
			r.Tools = d.Bool()
		case "region":
			sp[1] = st.str()
		case "user":
			sp[2] = st.str()
		default:
			d.Skip()
		}
	}
}

func (st *decodeState) candidate(c *Candidate, sp *[4]span) {
	d := &st.d
	for d.NextMember() {
		switch string(d.Key()) {
		case "id":
			sp[0] = st.str()
		case "provider":
			sp[1] = st.str()
		case "model":
			sp[2] = st.str()
		case "region":
			sp[3] = st.str()
		case "price":
			for d.NextMember() {
				switch string(d.Key()) {
				case "prompt":
					c.Price.Prompt, _ = d.Float()
				case "completion":
					c.Price.Completion, _ = d.Float()
				default:
					d.Skip()
				}
			}
		case "ttft_ms":
			c.TTFTms, _ = d.Float()
		case "tokens_per_second":
			c.TokensPerSecond, _ = d.Float()
		case "error_rate":
			c.ErrorRate, _ = d.Float()
		case "degraded":
			c.Degraded = d.Bool()
		case "circuit":
			c.Circuit = circuit(d.Str())
		default:
			d.Skip()
		}
	}
}

// circuit returns the host's three states as constants, so the common case allocates
// nothing.
func circuit(v []byte) string {
	switch string(v) {
	case Closed:
		return Closed
	case Open:
		return Open
	case HalfOpen:
		return HalfOpen
	}
	return string(v)
}

// Append appends {"order":[...]} to dst.
func (o *Output) Append(dst []byte) []byte {
	dst = append(dst, `{"order":[`...)
	for i, id := range o.Order {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = pjson.AppendString(dst, id)
	}
	return append(dst, "]}"...)
}
