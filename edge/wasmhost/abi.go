package wasmhost

import (
	"fmt"
	"slices"
	"strings"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Hook names of ABI v1, in the order Info.Hooks lists them.
const (
	HookRoute          = "hook_route"
	HookRequest        = "hook_request"
	HookResponse       = "hook_response"
	HookStream         = "hook_stream"
	HookStreamEnd      = "hook_stream_end"
	HookFormatRequest  = "hook_format_request"
	HookFormatResponse = "hook_format_response"
	HookFormatStream   = "hook_format_stream"
	HookFormatError    = "hook_format_error"
)

// Hooks lists every hook name ABI v1 reserves. Exports named hook_* that are not listed are
// ignored, so a plugin built for a later additive revision still loads.
var Hooks = [...]string{
	HookRoute, HookRequest, HookResponse, HookStream, HookStreamEnd,
	HookFormatRequest, HookFormatResponse, HookFormatStream, HookFormatError,
}

// FormatHooks are the hooks of a format plugin: one without the others is refused, since
// a provider adapter that can send a request but not read its answer is half a provider.
var FormatHooks = [...]string{HookFormatRequest, HookFormatResponse, HookFormatStream, HookFormatError}

func hookIndex(name string) int { return slices.Index(Hooks[:], name) }

const (
	modCrossroads = "crossroads"
	modWASI       = "wasi_snapshot_preview1"
)

var (
	i32 = api.ValueTypeI32
	i64 = api.ValueTypeI64
)

type signature struct{ params, results []api.ValueType }

func (s signature) String() string {
	name := func(ts []api.ValueType) string {
		n := make([]string, len(ts))
		for i, t := range ts {
			n[i] = api.ValueTypeName(t)
		}
		return "(" + strings.Join(n, ", ") + ")"
	}
	return name(s.params) + " -> " + name(s.results)
}

func (s signature) matches(d api.FunctionDefinition) bool {
	return slices.Equal(s.params, d.ParamTypes()) && slices.Equal(s.results, d.ResultTypes())
}

var (
	sigHook = signature{[]api.ValueType{i32, i32}, []api.ValueType{i64}}
	// exportSigs are the non-hook functions of ABI v1; required ones have req set.
	exportSigs = []struct {
		name string
		sig  signature
		req  bool
	}{
		{"plugin_abi_v1", signature{nil, nil}, true},
		{"plugin_alloc", signature{[]api.ValueType{i32}, []api.ValueType{i32}}, true},
		{"plugin_free", signature{[]api.ValueType{i32, i32}, nil}, true},
		{"plugin_info", signature{nil, []api.ValueType{i64}}, true},
		{"plugin_init", sigHook, false},
		{"_initialize", signature{nil, nil}, false},
	}
	// hostSigs are the functions of the "crossroads" host module.
	hostSigs = map[string]signature{
		"log":      {[]api.ValueType{i32, i32, i32}, nil},
		"clock_ns": {nil, []api.ValueType{i64}},
		"random":   {[]api.ValueType{i32, i32}, nil},
	}
)

// validate checks a compiled module's imports and exports against ABI v1 and returns which
// hooks it exports. Messages name the export and the expected signature because plugin
// authors read them in `crossroads plugin check`.
func validate(cm wazero.CompiledModule) (hooks []string, err error) {
	for _, d := range cm.ImportedFunctions() {
		mod, name, _ := d.Import()
		switch mod {
		case modWASI:
			// wazero checks names and signatures against its preview-1 implementation.
		case modCrossroads:
			sig, ok := hostSigs[name]
			if !ok {
				return nil, fmt.Errorf("imports unknown function %s.%s (the %s module has log, clock_ns, random)", mod, name, modCrossroads)
			}
			if !sig.matches(d) {
				return nil, fmt.Errorf("imports %s.%s with signature %s, want %s", mod, name, signature{d.ParamTypes(), d.ResultTypes()}, sig)
			}
		default:
			return nil, fmt.Errorf("imports %s.%s: only the %q and %q modules may be imported", mod, name, modCrossroads, modWASI)
		}
	}
	for _, m := range cm.ImportedMemories() {
		mod, name, _ := m.Import()
		return nil, fmt.Errorf("imports memory %s.%s: a plugin must define and export its own memory", mod, name)
	}
	if _, ok := cm.ExportedMemories()["memory"]; !ok {
		return nil, fmt.Errorf("missing export memory: the module must export its linear memory as \"memory\"")
	}
	fns := cm.ExportedFunctions()
	for _, e := range exportSigs {
		d, ok := fns[e.name]
		if !ok {
			if e.req {
				return nil, fmt.Errorf("missing export %s, want a function %s", e.name, e.sig)
			}
			continue
		}
		if !e.sig.matches(d) {
			return nil, fmt.Errorf("export %s has signature %s, want %s", e.name, signature{d.ParamTypes(), d.ResultTypes()}, e.sig)
		}
	}
	for _, h := range Hooks {
		d, ok := fns[h]
		if !ok {
			continue
		}
		if !sigHook.matches(d) {
			return nil, fmt.Errorf("export %s has signature %s, want %s", h, signature{d.ParamTypes(), d.ResultTypes()}, sigHook)
		}
		hooks = append(hooks, h)
	}
	nformat := 0
	for _, h := range FormatHooks {
		if slices.Contains(hooks, h) {
			nformat++
		}
	}
	if nformat > 0 && nformat < len(FormatHooks) {
		for _, h := range FormatHooks {
			if !slices.Contains(hooks, h) {
				return nil, fmt.Errorf("missing export %s: a format plugin must export all of %s", h, strings.Join(FormatHooks[:], ", "))
			}
		}
	}
	return hooks, nil
}
