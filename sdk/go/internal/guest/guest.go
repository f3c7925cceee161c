// Package guest owns the Go SDK's side of plugin ABI v1 (sdk/ABI.md) that every hook shares:
// the table of exported hooks and their handlers, the plugin's self-description, the
// conversion of handler errors into the §6 error object and, in wasip1 builds, the memory
// exports (plugin_alloc, plugin_free) and result packing. The public packages under
// sdk/go/plugin register into it; the native test harness calls it through plugin.Call.
package guest

import (
	"errors"

	"github.com/crossroads-llm/crossroads/sdk/go/pjson"
)

// Hook indexes, in the order of sdk/ABI.md §5 (and of plugin_info's "hooks").
const (
	Route = iota
	Request
	Response
	Stream
	StreamEnd
	FormatRequest
	FormatResponse
	FormatStream
	FormatError
	Init // plugin_init: not a hook, but exported and dispatched the same way
	numHooks
)

// Names are the export names of the indexes above.
var Names = [numHooks]string{"hook_route", "hook_request", "hook_response", "hook_stream", "hook_stream_end",
	"hook_format_request", "hook_format_response", "hook_format_stream", "hook_format_error", "plugin_init"}

// Index returns the index of an export name, or -1.
func Index(name string) int {
	for i, n := range Names {
		if n == name {
			return i
		}
	}
	return -1
}

// Handler is a hook's raw form: the input bytes (a read-only view of the host's buffer,
// valid only during the call) and the output, nil for "unchanged" (result 0).
type Handler func(in []byte) (out []byte, err error)

var (
	exported [numHooks]bool
	handlers [numHooks]Handler
	// Info fields, set by plugin.Describe.
	Name, Version, Description string
)

// Declare marks a hook as exported by this module. Each hook package calls it from init in
// every build, so plugin_info (and the native harness) list exactly the hooks whose
// //go:wasmexport functions are linked in.
func Declare(hook int) { exported[hook] = true }

// Exported reports whether hook's package is linked in.
func Exported(hook int) bool { return exported[hook] }

// Set registers the handler of hook, replacing any earlier one.
func Set(hook int, h Handler) { handlers[hook] = h }

// Registered reports whether hook has a handler.
func Registered(hook int) bool { return handlers[hook] != nil }

// Error is the §6 error object. Handlers return it (or any error, which becomes code
// "plugin_error") to fail a call on purpose.
type Error struct {
	Code, Message string
	// Status, when set, is the HTTP status a format plugin's refusal asks for (sdk/ABI.md
	// §5, hook_format_request).
	Status int
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Dispatch runs hook's handler on in. A hook that is exported but has no handler answers
// nil (unchanged), which every hook kind treats as "keep the input"; plugin_init without a
// handler accepts only an empty config. An error from the handler becomes the §6 error
// object, which is then the output.
func Dispatch(hook int, in []byte) []byte {
	h := handlers[hook]
	if h == nil {
		if hook == Init && len(in) > 0 && !emptyConfig(in) {
			return ErrorJSON(&Error{Code: "bad_config", Message: "this plugin takes no config"})
		}
		return nil
	}
	out, err := h(in)
	if err != nil {
		return ErrorJSON(err)
	}
	return out
}

func emptyConfig(b []byte) bool {
	it := pjson.Members(b)
	return !it.Next() && it.Err() == nil || pjson.IsNull(trim(b))
}

func trim(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\n' || b[0] == '\r' || b[0] == '\t') {
		b = b[1:]
	}
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\n' || b[len(b)-1] == '\r' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// ErrorJSON renders err as {"error":{"code":...,"message":...}}.
func ErrorJSON(err error) []byte {
	code := "plugin_error"
	var e *Error
	if errors.As(err, &e) && e.Code != "" {
		code = e.Code
	}
	msg := err.Error()
	if e != nil {
		msg = e.Message
	}
	b := append(make([]byte, 0, 40+len(code)+len(msg)), `{"error":{"code":`...)
	b = pjson.AppendString(b, code)
	b = append(b, `,"message":`...)
	b = pjson.AppendString(b, msg)
	if e != nil && e.Status != 0 {
		b = append(b, `,"status":`...)
		b = pjson.AppendInt(b, int64(e.Status))
	}
	return append(b, "}}"...)
}

// InfoJSON renders plugin_info: the described name, version and description, and the
// exported hooks.
func InfoJSON() []byte {
	b := append(make([]byte, 0, 128), `{"name":`...)
	b = pjson.AppendString(b, Name)
	b = append(b, `,"version":`...)
	b = pjson.AppendString(b, Version)
	b = append(b, `,"hooks":[`...)
	first := true
	for i := range Init {
		if !exported[i] {
			continue
		}
		if !first {
			b = append(b, ',')
		}
		first = false
		b = pjson.AppendString(b, Names[i])
	}
	b = append(b, `],"description":`...)
	b = pjson.AppendString(b, Description)
	return append(b, '}')
}
