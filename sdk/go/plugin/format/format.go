// Package format exports the four hook_format_* hooks and registers their handlers: a
// provider adapter that turns an OpenAI-shaped request into the provider's HTTP request and
// the provider's answers (bodies, stream events, errors) back into OpenAI's shapes
// (sdk/ABI.md §5). A format plugin needs all four, so importing this package exports all
// four; register each with its Handle function. The host keeps the transport, timeouts and
// the API key: put "{{api_key}}" where the key goes in a header.
package format

import (
	"github.com/crossroads-llm/crossroads/sdk/go/internal/guest"
	"github.com/crossroads-llm/crossroads/sdk/go/pjson"
)

func init() {
	for _, h := range []int{guest.FormatRequest, guest.FormatResponse, guest.FormatStream, guest.FormatError} {
		guest.Declare(h)
	}
}

// APIKey is the placeholder the host replaces with the provider's key in header values.
const APIKey = "{{api_key}}"

// RequestInput is hook_format_request's input.
type RequestInput struct {
	// Model is the provider's own model id.
	Model  string
	Stream bool
	// Request is the OpenAI chat body (raw JSON, a view valid during the call), with
	// model already set to Model and unsupported parameters removed.
	Request []byte
}

// Header is one upstream request header.
type Header struct{ Name, Value string }

// HTTPRequest is what the host sends upstream.
type HTTPRequest struct {
	Method string // default POST
	// Path is appended to the provider's base URL; Query, if set, is the query string.
	Path, Query string
	Headers     []Header
	// Body is raw JSON sent as is; BodyText, when Body is nil, is sent as text.
	Body     []byte
	BodyText string
}

// ResponseInput is hook_format_response's input: a 2xx non-streamed answer.
type ResponseInput struct {
	Model  string
	Status int
	// Body is the provider's JSON (a view valid during the call); a body that is not JSON
	// arrives as a JSON string.
	Body []byte
}

// Event is one server-sent event of the provider's stream. Data is the event's data as
// text, whether the host sent it as a string or, being JSON, as the value itself.
type Event struct{ Event, Data string }

// StreamInput is one batch of hook_format_stream.
type StreamInput struct {
	Model  string
	State  []byte // "" at first; whatever the previous batch returned
	Events []Event
}

// StreamError is an error event the provider sent inside its stream.
type StreamError struct {
	Status        int
	Type, Message string
}

// StreamOutput is a batch's translation.
type StreamOutput struct {
	State []byte
	// Chunks are OpenAI chat.completion.chunk objects, raw JSON, sent in order. The last
	// chunk of a complete stream should carry usage with "choices":[].
	Chunks [][]byte
	// Done ends the stream after these chunks.
	Done  bool
	Error *StreamError
}

// ErrorInput is hook_format_error's input: a non-2xx answer.
type ErrorInput struct {
	Status     int
	RetryAfter string
	Body       []byte // JSON, or a JSON string when the body was not JSON
}

// ErrorOutput is the error the client sees. Status 0 keeps the upstream's; RetryAfter
// (seconds) passes on a delay given in the body rather than a header.
type ErrorOutput struct {
	Status              int
	Type, Code, Message string
	RetryAfter          string
}

// HandleRequest registers hook_format_request. Return a *plugin.Error with a Status to
// refuse a request the provider cannot express (default 400).
func HandleRequest(fn func(in *RequestInput) (*HTTPRequest, error)) {
	guest.Set(guest.FormatRequest, func(b []byte) ([]byte, error) {
		var in RequestInput
		it := pjson.Members(b)
		for it.Next() {
			switch {
			case it.KeyIs("model"):
				in.Model, _ = pjson.Unquote(it.Value())
			case it.KeyIs("stream"):
				in.Stream = pjson.IsTrue(it.Value())
			case it.KeyIs("request"):
				in.Request = it.Value()
			}
		}
		if err := it.Err(); err != nil {
			return nil, badInput("hook_format_request", err)
		}
		r, err := fn(&in)
		if err != nil || r == nil {
			return nil, err
		}
		return r.Append(make([]byte, 0, 128+len(r.Body)+len(r.BodyText))), nil
	})
}

// Append writes the request as hook_format_request's output.
func (r *HTTPRequest) Append(dst []byte) []byte {
	method := r.Method
	if method == "" {
		method = "POST"
	}
	dst = append(dst, `{"method":`...)
	dst = pjson.AppendString(dst, method)
	dst = append(dst, `,"path":`...)
	dst = pjson.AppendString(dst, r.Path)
	if r.Query != "" {
		dst = append(dst, `,"query":`...)
		dst = pjson.AppendString(dst, r.Query)
	}
	dst = append(dst, `,"headers":{`...)
	for i, h := range r.Headers {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = pjson.AppendString(dst, h.Name)
		dst = append(dst, ':')
		dst = pjson.AppendString(dst, h.Value)
	}
	dst = append(dst, `},"body":`...)
	if r.Body != nil {
		dst = append(dst, r.Body...)
	} else {
		dst = pjson.AppendString(dst, r.BodyText)
	}
	return append(dst, '}')
}

// HandleResponse registers hook_format_response; fn returns the chat.completion object.
func HandleResponse(fn func(in *ResponseInput) ([]byte, error)) {
	guest.Set(guest.FormatResponse, func(b []byte) ([]byte, error) {
		var in ResponseInput
		it := pjson.Members(b)
		for it.Next() {
			switch {
			case it.KeyIs("model"):
				in.Model, _ = pjson.Unquote(it.Value())
			case it.KeyIs("status"):
				in.Status = int(intOf(it.Value()))
			case it.KeyIs("body"):
				in.Body = it.Value()
			}
		}
		if err := it.Err(); err != nil {
			return nil, badInput("hook_format_response", err)
		}
		return fn(&in)
	})
}

// HandleStream registers hook_format_stream.
func HandleStream(fn func(in *StreamInput) (*StreamOutput, error)) {
	guest.Set(guest.FormatStream, func(b []byte) ([]byte, error) {
		var in StreamInput
		it := pjson.Members(b)
		for it.Next() {
			switch {
			case it.KeyIs("model"):
				in.Model, _ = pjson.Unquote(it.Value())
			case it.KeyIs("state"):
				in.State, _ = pjson.AppendUnquote(make([]byte, 0, len(it.Value())), it.Value())
			case it.KeyIs("events"):
				el := pjson.Elements(it.Value())
				for el.Next() {
					var e Event
					m := pjson.Members(el.Value())
					for m.Next() {
						if m.KeyIs("event") {
							e.Event, _ = pjson.Unquote(m.Value())
						} else if m.KeyIs("data") {
							e.Data, _ = pjson.Unquote(m.Value())
						} else if m.KeyIs("json") {
							// JSON data arrives as the value itself, already validated.
							e.Data = string(m.Value())
						}
					}
					in.Events = append(in.Events, e)
				}
			}
		}
		if err := it.Err(); err != nil {
			return nil, badInput("hook_format_stream", err)
		}
		if in.State == nil {
			in.State = []byte{}
		}
		out, err := fn(&in)
		if err != nil || out == nil {
			return nil, err
		}
		return out.Append(make([]byte, 0, 64+len(out.State)+256*len(out.Chunks))), nil
	})
}

// Append writes the batch as hook_format_stream's output.
func (o *StreamOutput) Append(dst []byte) []byte {
	dst = append(dst, `{"state":`...)
	dst = pjson.AppendString(dst, o.State)
	dst = append(dst, `,"chunks":[`...)
	for i, c := range o.Chunks {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, c...)
	}
	dst = append(dst, `],"done":`...)
	dst = pjson.AppendBool(dst, o.Done)
	if e := o.Error; e != nil {
		dst = append(dst, `,"error":{"status":`...)
		dst = pjson.AppendInt(dst, int64(e.Status))
		dst = append(dst, `,"type":`...)
		dst = pjson.AppendString(dst, e.Type)
		dst = append(dst, `,"message":`...)
		dst = pjson.AppendString(dst, e.Message)
		dst = append(dst, '}')
	}
	return append(dst, '}')
}

// HandleError registers hook_format_error. Returning nil lets the host build the error
// from the status alone.
func HandleError(fn func(in *ErrorInput) (*ErrorOutput, error)) {
	guest.Set(guest.FormatError, func(b []byte) ([]byte, error) {
		var in ErrorInput
		it := pjson.Members(b)
		for it.Next() {
			switch {
			case it.KeyIs("status"):
				in.Status = int(intOf(it.Value()))
			case it.KeyIs("retry_after"):
				in.RetryAfter, _ = pjson.Unquote(it.Value())
			case it.KeyIs("body"):
				in.Body = it.Value()
			}
		}
		if err := it.Err(); err != nil {
			return nil, badInput("hook_format_error", err)
		}
		out, err := fn(&in)
		if err != nil || out == nil {
			return nil, err
		}
		return out.Append(make([]byte, 0, 96+len(out.Message))), nil
	})
}

// Append writes the error as hook_format_error's output.
func (o *ErrorOutput) Append(dst []byte) []byte {
	dst = append(dst, `{"status":`...)
	dst = pjson.AppendInt(dst, int64(o.Status))
	dst = append(dst, `,"type":`...)
	dst = pjson.AppendString(dst, o.Type)
	dst = append(dst, `,"code":`...)
	dst = pjson.AppendString(dst, o.Code)
	dst = append(dst, `,"message":`...)
	dst = pjson.AppendString(dst, o.Message)
	if o.RetryAfter != "" {
		dst = append(dst, `,"retry_after":`...)
		dst = pjson.AppendString(dst, o.RetryAfter)
	}
	return append(dst, '}')
}

func intOf(v []byte) int64 {
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0
		}
		n = n*10 + int64(c-'0')
	}
	return n
}

func badInput(hook string, err error) error {
	return &guest.Error{Code: "bad_input", Message: hook + ": decode input: " + err.Error()}
}
