// Package plugin is the entry point of the Go SDK for Crossroads plugins (ABI v1, sdk/ABI.md):
// it names the plugin (Describe), defines the error a handler returns to fail a call on
// purpose (Error, the ABI's §6 object), and runs handlers in-process for tests (Call).
//
// Hooks live in one package each, which both registers the handler and exports the hook:
//
//	import (
//		"github.com/crossroads-llm/crossroads/sdk/go/plugin"
//		"github.com/crossroads-llm/crossroads/sdk/go/plugin/route"
//	)
//
//	func init() {
//		plugin.Describe(plugin.Info{Name: "my-router", Version: "1.0.0"})
//		route.Handle(func(in *route.Input) (*route.Output, error) { ... })
//	}
//
//	func main() {}
//
// Why a package per hook: //go:wasmexport exports are static, and the host takes a module's
// exports as the truth about what it does. If this package exported every hook, every Go
// plugin would look like a router, a transform, a stream filter and (later) a provider
// format to the node, and the node would call hooks the plugin never meant to serve — a
// wasted round trip into a Go instance on every request. With one package per hook, the
// exports are exactly the hook packages the plugin imports, and because the only way to
// register a handler is that package's Handle, a handler can never be registered without
// its export. A hook package that is imported but whose Handle is never called exports a
// hook that answers 0 ("unchanged"), which is harmless for every hook kind; plugintest
// flags it as a mistake.
//
// Handlers run from init-registered functions because a wasip1 reactor never runs main:
// _initialize runs the package inits, then the host calls exports. main must exist, empty.
package plugin

import (
	"errors"

	"github.com/crossroads-llm/crossroads/sdk/go/internal/guest"
)

// Info describes the plugin in plugin_info. The "hooks" list is not set here: it is the set
// of hook packages linked into the module.
type Info struct {
	Name        string // required, not empty
	Version     string // semver
	Description string
}

// Describe sets what plugin_info reports. Call it from init.
func Describe(i Info) {
	guest.Name, guest.Version, guest.Description = i.Name, i.Version, i.Description
}

// Error is the ABI's error object (sdk/ABI.md §6). Return one from a handler to choose the
// code; any other error is reported with code "plugin_error" and its Error() as message.
type Error = guest.Error

// InfoJSON returns what the plugin_info export returns.
func InfoJSON() []byte { return guest.InfoJSON() }

// Exports lists the hooks this program exports (and "plugin_init" when the config package is
// linked), in ABI order: what the host would find in the compiled module.
func Exports() []string {
	var out []string
	for i, n := range guest.Names {
		if guest.Exported(i) {
			out = append(out, n)
		}
	}
	return out
}

// Registered reports whether a handler is registered for an export name.
func Registered(export string) bool {
	i := guest.Index(export)
	return i >= 0 && guest.Registered(i)
}

// ErrNotExported is returned by Call for a hook this program does not export.
var ErrNotExported = errors.New("plugin: call: hook not exported (import its package under sdk/go/plugin)")

// Call runs the handler of export (a hook name or "plugin_init") in-process, exactly as the
// wasm export does: in is copied first, because the export's input is a view the handler
// must not write to, then the handler's output, nil for "unchanged", or the §6 error object
// for a handler error. A panic, which traps in wasm, is returned as err. It is for test
// harnesses (sdk/plugintest); the node never calls it.
func Call(export string, in []byte) (out []byte, changed bool, err error) {
	i := guest.Index(export)
	if i < 0 || !guest.Exported(i) {
		return nil, false, errors.Join(ErrNotExported, errors.New("plugin: call: "+export))
	}
	defer func() {
		if r := recover(); r != nil {
			out, changed, err = nil, false, &PanicError{Export: export, Value: r}
		}
	}()
	var cp []byte
	if len(in) > 0 {
		cp = append([]byte(nil), in...)
	}
	out = guest.Dispatch(i, cp)
	return out, out != nil, nil
}

// PanicError is a handler's panic, caught by Call. In wasm the same panic traps: the call
// fails and the host discards the instance.
type PanicError struct {
	Export string
	Value  any
}

func (e *PanicError) Error() string {
	msg := "non-error value"
	switch v := e.Value.(type) {
	case error:
		msg = v.Error()
	case string:
		msg = v
	}
	return "plugin: call " + e.Export + ": panic (a trap in wasm): " + msg
}
