// Package testplugin is the fixture plugin of plugintest's own tests: handlers that exercise
// every path of the harness (changed and unchanged results, handler errors, panics, output
// the host must refuse, config, stream state). It is linked into the test binary for the
// native runs and into testdata/plugin for the wasm runs, so both run the same code.
package testplugin

import (
	"bytes"
	"slices"
	"strconv"

	"github.com/crossroads-llm/crossroads/sdk/go/pjson"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/config"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/request"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/route"
	"github.com/crossroads-llm/crossroads/sdk/go/plugin/stream"
)

// prefix is set by the config and prepended to every routed ID, so tests can see that the
// config reached the instance that serves the hook.
var prefix string

func init() {
	plugin.Describe(plugin.Info{Name: "plugintest-fixture", Version: "0.1.0", Description: "harness fixture"})
	config.Handle(func(cfg []byte) error {
		prefix = ""
		if len(cfg) == 0 {
			return nil
		}
		if pjson.IsTrue(pjson.Get(cfg, "reject")) {
			return &plugin.Error{Code: "bad_config", Message: "rejected on request"}
		}
		if v := pjson.Get(cfg, "prefix"); v != nil {
			var ok bool
			if prefix, ok = pjson.Unquote(v); !ok {
				return &plugin.Error{Code: "bad_config", Message: "prefix must be a string"}
			}
		}
		return nil
	})
	route.Handle(func(in *route.Input) (*route.Output, error) {
		switch in.Request.Model {
		case "keep":
			return nil, nil
		case "fail":
			return nil, &plugin.Error{Code: "nope", Message: "asked to fail"}
		case "panic":
			panic("asked to panic")
		}
		out := &route.Output{}
		for _, c := range slices.Backward(in.Candidates) {
			out.Order = append(out.Order, prefix+c.ID)
		}
		return out, nil
	})
	request.Handle(func(body []byte) ([]byte, error) {
		switch {
		case bytes.Contains(body, []byte("invalid-output")):
			return []byte(`{"unterminated":`), nil
		case bytes.Contains(body, []byte("upper")):
			return bytes.ToUpper(body), nil
		}
		return nil, nil
	})
	stream.Handle(func(state []byte, events []stream.Event) ([]byte, []stream.Event, error) {
		n, _ := strconv.Atoi(string(state))
		n += len(events)
		for i := range events {
			events[i].Data = string(bytes.ToUpper([]byte(events[i].Data)))
		}
		return strconv.AppendInt(nil, int64(n), 10), events, nil
	})
	stream.HandleEnd(func(state []byte, _ []stream.Event) ([]byte, []stream.Event, error) {
		return state, []stream.Event{{Event: "count", Data: string(state)}}, nil
	})
}
