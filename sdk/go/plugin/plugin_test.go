package plugin_test

import (
	"encoding/json"
	"errors"
	"slices"
	"testing"

	"github.com/crossroads-llm/crossroads/sdk/go/plugin"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/request"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/stream"
)

func init() {
	plugin.Describe(plugin.Info{Name: "t\"est", Version: "1.2.3", Description: "line\nbreak"})
	request.Handle(func(body []byte) ([]byte, error) {
		switch string(body) {
		case `"plain error"`:
			return nil, errors.New(`boom "quoted"`)
		case `"coded error"`:
			return nil, &plugin.Error{Code: "too_long", Message: "prompt over 10 tokens"}
		case `"panic"`:
			panic(errors.New("kaboom"))
		case `"mutate"`:
			body[1] = 'X' // the harness copies the input, so the caller's slice must survive
			return body, nil
		}
		return nil, nil
	})
	stream.Handle(func(state []byte, ev []stream.Event) ([]byte, []stream.Event, error) {
		return append(state, 's'), append(ev, stream.Event{Event: "added", Data: "\u2028"}), nil
	})
}

func TestInfoJSON(t *testing.T) {
	var v struct {
		Name, Version, Description string
		Hooks                      []string
	}
	if err := json.Unmarshal(plugin.InfoJSON(), &v); err != nil {
		t.Fatalf("%s: %v", plugin.InfoJSON(), err)
	}
	want := []string{"hook_request", "hook_stream", "hook_stream_end"}
	if v.Name != `t"est` || v.Version != "1.2.3" || v.Description != "line\nbreak" || !slices.Equal(v.Hooks, want) {
		t.Fatalf("info = %+v, want hooks %v", v, want)
	}
	if got := plugin.Exports(); !slices.Equal(got, want) {
		t.Fatalf("Exports() = %v", got)
	}
	if !plugin.Registered("hook_stream") || plugin.Registered("hook_stream_end") || plugin.Registered("hook_route") {
		t.Fatal("Registered disagrees with the handlers set in init")
	}
}

func TestCall(t *testing.T) {
	cases := []struct {
		name, hook, in, want string
		changed, err         bool
	}{
		{"unchanged", "hook_request", `{}`, "", false, false},
		{"plain error", "hook_request", `"plain error"`, `{"error":{"code":"plugin_error","message":"boom \"quoted\""}}`, true, false},
		{"coded error", "hook_request", `"coded error"`, `{"error":{"code":"too_long","message":"prompt over 10 tokens"}}`, true, false},
		{"panic", "hook_request", `"panic"`, "", false, true},
		{"input is copied", "hook_request", `"mutate"`, `"Xutate"`, true, false},
		{"stream", "hook_stream", `{"state":"ab","events":[{"event":"","data":"{\"x\":1}"}]}`,
			`{"state":"abs","events":[{"event":"","data":"{\"x\":1}"},{"event":"added","data":"\u2028"}]}`, true, false},
		{"stream end without handler", "hook_stream_end", `{"state":"ab","events":[]}`, "", false, false},
		{"not exported", "hook_route", `{}`, "", false, true},
		{"no plugin_init without the config package", "plugin_init", `{}`, "", false, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := []byte(c.in)
			out, changed, err := plugin.Call(c.hook, in)
			if (err != nil) != c.err || changed != c.changed || string(out) != c.want {
				t.Fatalf("Call = %s, %v, %v; want %s, %v, error %v", out, changed, err, c.want, c.changed, c.err)
			}
			if string(in) != c.in {
				t.Fatalf("the caller's input changed to %s", in)
			}
		})
	}
	var pe *plugin.PanicError
	if _, _, err := plugin.Call("hook_request", []byte(`"panic"`)); !errors.As(err, &pe) || pe.Error() == "" {
		t.Fatalf("panic err = %v", err)
	}
	if _, _, err := plugin.Call("hook_route", nil); !errors.Is(err, plugin.ErrNotExported) {
		t.Fatalf("not exported err = %v", err)
	}
}
