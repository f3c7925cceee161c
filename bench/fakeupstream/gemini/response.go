package gemini

import (
	"encoding/base64"
	"encoding/json"
	"hash/fnv"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Response is GenerateContentResponse.
type Response struct {
	Candidates     []Candidate     `json:"candidates,omitempty"`
	PromptFeedback *PromptFeedback `json:"promptFeedback,omitempty"`
	UsageMetadata  *UsageMetadata  `json:"usageMetadata,omitempty"`
	ModelVersion   string          `json:"modelVersion"`
	ResponseID     string          `json:"responseId"`
}

// Candidate is one generated answer.
type Candidate struct {
	Content       *Content       `json:"content,omitempty"`
	FinishReason  string         `json:"finishReason,omitempty"`
	SafetyRatings []SafetyRating `json:"safetyRatings,omitempty"`
	Index         int            `json:"index"`
}

// SafetyRating is one harm category's verdict.
type SafetyRating struct {
	Category    string `json:"category"`
	Probability string `json:"probability"`
	Blocked     bool   `json:"blocked,omitempty"`
}

// PromptFeedback reports a prompt blocked before generation.
type PromptFeedback struct {
	BlockReason   string         `json:"blockReason,omitempty"`
	SafetyRatings []SafetyRating `json:"safetyRatings,omitempty"`
}

// UsageMetadata counts tokens. The API leaves out zero counters, hence
// omitempty everywhere but the prompt and total.
type UsageMetadata struct {
	PromptTokenCount        int              `json:"promptTokenCount"`
	CandidatesTokenCount    int              `json:"candidatesTokenCount,omitempty"`
	TotalTokenCount         int              `json:"totalTokenCount"`
	CachedContentTokenCount int              `json:"cachedContentTokenCount,omitempty"`
	ThoughtsTokenCount      int              `json:"thoughtsTokenCount,omitempty"`
	PromptTokensDetails     []ModalityTokens `json:"promptTokensDetails,omitempty"`
	CacheTokensDetails      []ModalityTokens `json:"cacheTokensDetails,omitempty"`
}

// ModalityTokens is a per-modality token count.
type ModalityTokens struct {
	Modality   string `json:"modality"`
	TokenCount int    `json:"tokenCount"`
}

const idAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

func newResponseID() string {
	b := make([]byte, 23)
	for i := range b {
		b[i] = idAlphabet[rand.IntN(len(idAlphabet))]
	}
	return string(b)
}

func strp(s string) *string { return &s }

var negligible = []SafetyRating{
	{Category: "HARM_CATEGORY_HATE_SPEECH", Probability: "NEGLIGIBLE"},
	{Category: "HARM_CATEGORY_DANGEROUS_CONTENT", Probability: "NEGLIGIBLE"},
	{Category: "HARM_CATEGORY_HARASSMENT", Probability: "NEGLIGIBLE"},
	{Category: "HARM_CATEGORY_SEXUALLY_EXPLICIT", Probability: "NEGLIGIBLE"},
}

// compose builds the whole response; the stream is cut from it so both modes
// agree on content and usage.
func compose(req *request, model string, d Directives) *Response {
	resp := &Response{ModelVersion: model, ResponseID: newResponseID()}
	prompt := max(1, req.promptChars/4)
	u := &UsageMetadata{PromptTokenCount: prompt, PromptTokensDetails: []ModalityTokens{{"TEXT", prompt}}}
	if d.Cached > 0 {
		u.CachedContentTokenCount = d.Cached
		u.CacheTokensDetails = []ModalityTokens{{"TEXT", d.Cached}}
	}
	resp.UsageMetadata = u
	if d.Blocked != "" {
		rs := append([]SafetyRating(nil), negligible...)
		rs[1] = SafetyRating{Category: "HARM_CATEGORY_DANGEROUS_CONTENT", Probability: "HIGH", Blocked: true}
		resp.PromptFeedback = &PromptFeedback{BlockReason: d.Blocked, SafetyRatings: rs}
		u.TotalTokenCount = prompt
		return resp
	}
	for ci := range req.Candidates {
		seed := req.lastUserText
		if ci > 0 {
			seed += "#" + strconv.Itoa(ci)
		}
		c := Candidate{Index: ci, Content: &Content{Role: "model"}, FinishReason: "STOP"}
		if d.Finish != "" && d.Finish != "STOP" {
			c.Content, c.FinishReason = nil, d.Finish
			if d.Finish == "SAFETY" {
				c.SafetyRatings = append([]SafetyRating(nil), negligible...)
				c.SafetyRatings[2] = SafetyRating{Category: "HARM_CATEGORY_HARASSMENT", Probability: "MEDIUM", Blocked: true}
			}
			resp.Candidates = append(resp.Candidates, c)
			continue
		}
		budget := req.MaxTokens
		if budget == 0 {
			budget = 1 << 30
		}
		if d.Thinking {
			th := Reply("thought:"+seed, 8)
			c.Content.Parts = append(c.Content.Parts, Part{Text: strp("**Considering the question**\n\n" + th), Thought: true})
			u.ThoughtsTokenCount += 8 + 4
		}
		n := d.Words
		if n < 0 {
			n = DefaultWords
			if d.Tool != "" {
				n = 0 // Gemini answers a forced call with the call alone
			}
		}
		if n > 0 {
			words := strings.Fields(Reply(seed, n))
			if len(words) > budget {
				words, c.FinishReason = words[:budget], "MAX_TOKENS"
			}
			text := strings.Join(words, " ")
			if req.JSONMode {
				text = jsonAnswer(seed, req.JSONSchema, text)
			}
			if i, _ := firstStop(text, req.StopSequences); i >= 0 {
				text = text[:i]
			}
			u.CandidatesTokenCount += len(strings.Fields(text))
			if text != "" {
				c.Content.Parts = append(c.Content.Parts, Part{Text: &text})
			}
		}
		if d.Tool != "" && c.FinishReason == "STOP" {
			args := FillSchema(d.Tool, req.Functions[d.Tool])
			call := Part{FunctionCall: &FunctionCall{Name: d.Tool, Args: args}}
			if d.Thinking {
				call.ThoughtSignature = ThoughtSignature(seed)
			}
			c.Content.Parts = append(c.Content.Parts, call)
			u.CandidatesTokenCount += max(1, len(args)/4)
		}
		if len(c.Content.Parts) == 0 {
			c.Content.Parts = []Part{{Text: strp("")}}
		}
		resp.Candidates = append(resp.Candidates, c)
	}
	u.TotalTokenCount = u.PromptTokenCount + u.CandidatesTokenCount + u.ThoughtsTokenCount
	return resp
}

// ThoughtSignature is the opaque signature the fake attaches to a function
// call made while thinking: base64, like the API's.
func ThoughtSignature(seed string) string {
	h := fnv.New128a()
	_, _ = h.Write([]byte(seed))
	return "Cp" + base64.StdEncoding.EncodeToString(h.Sum(nil))
}

func jsonAnswer(seed string, s *Schema, text string) string {
	if s == nil {
		b, _ := json.Marshal(map[string]string{"answer": text})
		return string(b)
	}
	return string(fillSchema(seed, s, 0))
}

func firstStop(text string, seqs []string) (int, string) {
	at, which := -1, ""
	for _, s := range seqs {
		if s == "" {
			continue
		}
		if i := strings.Index(text, s); i >= 0 && (at < 0 || i < at) {
			at, which = i, s
		}
	}
	return at, which
}

// FillSchema returns JSON that satisfies s (object properties, enums, scalar
// types, arrays) with values derived from the property path; a nil schema
// yields {"location":"Paris"}, the argument of the canonical get_weather.
func FillSchema(path string, s *Schema) json.RawMessage {
	if s == nil {
		return json.RawMessage(`{"location":"Paris"}`)
	}
	return fillSchema(path, s, 0)
}

func fillSchema(path string, s *Schema, depth int) json.RawMessage {
	var v any
	if len(s.Enum) > 0 {
		v = s.Enum[0]
	} else {
		switch strings.ToUpper(typeName(s)) {
		case "STRING":
			v = Reply(path, 1)
		case "INTEGER":
			v = 3
		case "NUMBER":
			v = 1.5
		case "BOOLEAN":
			v = true
		case "ARRAY":
			if s.Items != nil && depth < 8 {
				return json.RawMessage("[" + string(fillSchema(path+"[]", s.Items, depth+1)) + "]")
			}
			v = []any{}
		default:
			m := map[string]json.RawMessage{}
			if depth < 8 {
				for k, p := range s.Properties {
					if p != nil {
						m[k] = fillSchema(path+"."+k, p, depth+1)
					}
				}
			}
			v = m
		}
	}
	b, _ := json.Marshal(v)
	return b
}

// failAfter is the number of events sent before [[stream_error]] or [[cut]]
// strike, so the client has already forwarded some content.
const failAfter = 2

// StreamError is the in-band error the API sends as a stream's last event.
var StreamError = errorJSON(503, "UNAVAILABLE", statusMessages[503], nil, false)

// stream sends resp as streamGenerateContent does: with alt=sse, one
// "data: {json}\r\n\r\n" event per partial response; without it, one JSON
// array of the partial responses.
func (s *Server) stream(w http.ResponseWriter, r *http.Request, resp *Response, d Directives, sse bool) {
	events := split(resp)
	h := w.Header()
	if sse {
		h.Set("Content-Type", "text/event-stream")
	} else {
		h.Set("Content-Type", "application/json; charset=UTF-8")
	}
	h.Set("Server-Timing", "gfet4t7; dur=42")
	w.WriteHeader(http.StatusOK)
	f, _ := w.(http.Flusher)
	write := func(b []byte) bool {
		if _, err := w.Write(b); err != nil {
			return false
		}
		if f != nil {
			f.Flush()
		}
		if s.opt.StreamDelay > 0 {
			t := time.NewTimer(s.opt.StreamDelay)
			defer t.Stop()
			select {
			case <-t.C:
			case <-r.Context().Done():
				return false
			}
		}
		return true
	}
	fail := func() {
		if d.StreamError {
			if sse {
				write([]byte("data: " + string(StreamError) + "\r\n\r\n"))
			} else {
				write(append([]byte(",\r\n"), StreamError...)) // the array is left unterminated, as the API does
			}
			return
		}
		panic(http.ErrAbortHandler)
	}
	if !sse {
		write([]byte("["))
	}
	for i, ev := range events {
		if i == min(failAfter, len(events)-1) && (d.StreamError || d.Cut) {
			fail()
			return
		}
		b, _ := json.Marshal(ev)
		var out []byte
		if sse {
			out = append(append([]byte("data: "), b...), "\r\n\r\n"...)
		} else {
			if i > 0 {
				out = append(out, ",\r\n"...)
			}
			out = append(out, b...)
		}
		if !write(out) {
			return
		}
	}
	if !sse {
		write([]byte("]"))
	}
}

// split cuts a response into the partial responses of a stream: thought and
// text parts in pieces of a few words, function calls whole, and the finish
// reason and full usage only on the last event. Earlier events carry only the
// prompt count, as the API's do.
func split(resp *Response) []*Response {
	if len(resp.Candidates) == 0 {
		return []*Response{resp}
	}
	partial := func() *Response {
		u := *resp.UsageMetadata
		u.CandidatesTokenCount, u.ThoughtsTokenCount = 0, 0
		u.TotalTokenCount = u.PromptTokenCount
		return &Response{UsageMetadata: &u, ModelVersion: resp.ModelVersion, ResponseID: resp.ResponseID}
	}
	var out []*Response
	for _, c := range resp.Candidates {
		if c.Content == nil {
			continue
		}
		for _, p := range c.Content.Parts {
			var pieces []Part
			if p.Text != nil {
				words := strings.SplitAfter(*p.Text, " ")
				for k := 0; k < len(words); k += 3 {
					t := strings.Join(words[k:min(k+3, len(words))], "")
					pieces = append(pieces, Part{Text: &t, Thought: p.Thought})
				}
				if len(words) == 0 {
					pieces = append(pieces, p)
				}
			} else {
				pieces = append(pieces, p)
			}
			for _, pc := range pieces {
				ev := partial()
				ev.Candidates = []Candidate{{Index: c.Index, Content: &Content{Role: "model", Parts: []Part{pc}}}}
				out = append(out, ev)
			}
		}
	}
	// Finish reasons go on the last event; a candidate with no content at all
	// (SAFETY) gets its own.
	last := partial()
	if len(out) > 0 {
		last = out[len(out)-1]
		out = out[:len(out)-1]
	}
	for _, c := range resp.Candidates {
		found := false
		for k := range last.Candidates {
			if last.Candidates[k].Index == c.Index {
				last.Candidates[k].FinishReason = c.FinishReason
				last.Candidates[k].SafetyRatings = c.SafetyRatings
				found = true
			}
		}
		if !found {
			cc := c
			cc.Content = nil
			last.Candidates = append(last.Candidates, cc)
		}
	}
	last.UsageMetadata = resp.UsageMetadata
	return append(out, last)
}
