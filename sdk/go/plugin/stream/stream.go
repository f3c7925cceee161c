// Package stream exports hook_stream and hook_stream_end and registers their handlers,
// which transform the server-sent events of a streamed response batch by batch
// (sdk/ABI.md §5). Hooks are stateless: whatever must survive from one batch to the next
// goes in the opaque state string, which the host hands back with the next batch.
package stream

import (
	"github.com/crossroads-llm/crossroads/sdk/go/internal/guest"
	"github.com/crossroads-llm/crossroads/sdk/go/pjson"
)

func init() {
	guest.Declare(guest.Stream)
	guest.Declare(guest.StreamEnd)
}

// Event is one server-sent event: its name ("" when absent) and its data.
type Event struct {
	Event string
	Data  string
}

// Func transforms one batch. state is what the previous call returned ("" at first). It
// returns the new state and the events that replace the batch. Returning nil for both
// passes the batch through and keeps the previous state (result 0, no copy); an empty,
// non-nil out drops the batch. The state is carried as a JSON string, so it must be text
// (invalid UTF-8 would be replaced); it should stay under 4 KiB.
type Func func(state []byte, events []Event) (newState []byte, out []Event, err error)

// Handle registers fn for hook_stream. An error fails the call and the original events pass
// through.
func Handle(fn Func) { guest.Set(guest.Stream, wrap(fn)) }

// HandleEnd registers fn for hook_stream_end, called once when the stream ends with the
// last state and usually no events, so the plugin can flush what it held back. Without it,
// hook_stream_end answers 0.
func HandleEnd(fn Func) { guest.Set(guest.StreamEnd, wrap(fn)) }

func wrap(fn Func) guest.Handler {
	return func(b []byte) ([]byte, error) {
		state, events, err := Decode(b)
		if err != nil {
			return nil, err
		}
		ns, out, err := fn(state, events)
		if err != nil || (ns == nil && out == nil) {
			return nil, err
		}
		return Append(make([]byte, 0, 64+len(ns)), ns, out), nil
	}
}

// Decode reads a hook_stream input.
func Decode(b []byte) (state []byte, events []Event, err error) {
	it := pjson.Members(b)
	for it.Next() {
		switch {
		case it.KeyIs("state"):
			state, _ = pjson.AppendUnquote(make([]byte, 0, len(it.Value())), it.Value())
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
					}
				}
				events = append(events, e)
			}
		}
	}
	if err := it.Err(); err != nil {
		return nil, nil, &guest.Error{Code: "bad_input", Message: "hook_stream: decode input: " + err.Error()}
	}
	if state == nil {
		state = []byte{}
	}
	return state, events, nil
}

// Append writes {"state":...,"events":[...]} to dst.
func Append(dst, state []byte, events []Event) []byte {
	dst = append(dst, `{"state":`...)
	dst = pjson.AppendString(dst, state)
	dst = append(dst, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"event":`...)
		dst = pjson.AppendString(dst, e.Event)
		dst = append(dst, `,"data":`...)
		dst = pjson.AppendString(dst, e.Data)
		dst = append(dst, '}')
	}
	return append(dst, "]}"...)
}
