package formattest

import (
	"reflect"
	"testing"
)

func TestParseSSE(t *testing.T) {
	tests := []struct {
		name, in string
		want     []Event
	}{
		{"named events, CRLF", "event: a\r\ndata: {\"x\":1}\r\n\r\nevent: b\r\ndata: 2\r\n\r\n", []Event{{"a", `{"x":1}`}, {"b", "2"}}},
		{"multi-line data, comments, empty events", ": ping\n\ndata: one\ndata: two\n\nevent: empty\n\n", []Event{{"", "one\ntwo"}}},
		{"last event without a blank line", "data: tail", []Event{{"", "tail"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := ParseSSE([]byte(tt.in)); !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestHostStreamInput(t *testing.T) {
	events := []Event{{"a", `{"x": 1}`}, {"", "[DONE]"}}
	if got, want := string(HostStreamInput("m", "s", events, true)), `{"model":"m","state":"s","events":[{"event":"a","json":{"x": 1}},{"event":"","data":"[DONE]"}]}`; got != want {
		t.Fatalf("as JSON:\n%s\nwant\n%s", got, want)
	}
	if got, want := string(HostStreamInput("m", "", events, false)), `{"model":"m","state":"","events":[{"event":"a","data":"{\"x\": 1}"},{"event":"","data":"[DONE]"}]}`; got != want {
		t.Fatalf("as strings:\n%s\nwant\n%s", got, want)
	}
	// The token goes back as the plugin wrote it: escapes encoding/json would spell
	// differently (\/, \u00e9) stay.
	if got, want := string(HostStreamInputToken("m", []byte(`"{\"u\":\"\\/\u00e9\"}"`), events[:1], true)), `{"model":"m","state":"{\"u\":\"\\/\u00e9\"}","events":[{"event":"a","json":{"x": 1}}]}`; got != want {
		t.Fatalf("with a state token:\n%s\nwant\n%s", got, want)
	}
}
