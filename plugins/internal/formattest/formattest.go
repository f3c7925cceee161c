// Package formattest owns what the format plugins' tests share: reading a recorded
// server-sent event stream the way the node does, and writing a hook_format_stream input the
// way the node does, so every format plugin is tested against the host's real framing.
package formattest

import (
	"encoding/json"
	"strings"
)

// Event is one decoded server-sent event, as hook_format_stream receives it.
type Event struct {
	Event string `json:"event"`
	Data  string `json:"data"`
}

// ParseSSE splits a recorded stream as the node's decoder does: events end at a blank line
// (LF or CRLF), data lines are joined with "\n", comments and events without data are
// dropped.
func ParseSSE(b []byte) []Event {
	var out []Event
	var cur Event
	var data []string
	flush := func() {
		if len(data) > 0 {
			cur.Data = strings.Join(data, "\n")
			out = append(out, cur)
		}
		cur, data = Event{}, nil
	}
	for _, line := range strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n") {
		switch {
		case line == "":
			flush()
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "data:"):
			data = append(data, strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		case strings.HasPrefix(line, "event:"):
			cur.Event = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
		}
	}
	flush()
	return out
}

// HostStreamInput renders a hook_format_stream input as the node does: data that is a JSON
// object or array goes in as the value itself, byte for byte ("json"); anything else, or
// every event when asJSON is false (the other form plugins must accept), as a string
// ("data"). encoding/json would compact the values, which the node does not.
func HostStreamInput(model, state string, events []Event, asJSON bool) []byte {
	b, _ := json.Marshal(state)
	return HostStreamInputToken(model, b, events, asJSON)
}

// HostStreamInputToken is HostStreamInput with the state as the node carries it between
// calls: the JSON string token the plugin returned, passed back byte for byte rather than
// decoded and escaped again (which could hide a plugin that cannot read its own escapes).
func HostStreamInputToken(model string, state []byte, events []Event, asJSON bool) []byte {
	str := func(s string) []byte { b, _ := json.Marshal(s); return b }
	b := append([]byte(`{"model":`), str(model)...)
	b = append(append(b, `,"state":`...), state...)
	b = append(b, `,"events":[`...)
	for i, e := range events {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(append(b, `{"event":`...), str(e.Event)...)
		d := strings.TrimSpace(e.Data)
		if asJSON && json.Valid([]byte(d)) && (strings.HasPrefix(d, "{") || strings.HasPrefix(d, "[")) {
			b = append(append(b, `,"json":`...), e.Data...)
		} else {
			b = append(append(b, `,"data":`...), str(e.Data)...)
		}
		b = append(b, '}')
	}
	return append(b, "]}"...)
}
