package edge

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync/atomic"

	"github.com/crossroads-llm/crossroads/edge/internal/config"
	"github.com/crossroads-llm/crossroads/edge/internal/extension"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
	"github.com/crossroads-llm/crossroads/plugins"
)

// pluginDecls reads the configuration's plugins, adding the built-in format plugins that
// providers name without declaring them (format: anthropic).
func pluginDecls(cfg *Config, formats []string) ([]extension.Decl, []string, error) {
	var decls []extension.Decl
	var files []string
	declared := map[string]bool{}
	for i, pc := range cfg.Plugins {
		d := extension.Decl{Name: pc.Name, Kind: pc.Kind, Order: pc.Order, Models: pc.Models,
			FailClosed: pc.OnFailure == "closed", Limits: limits(cfg, pc.Kind, pc.Limits)}
		switch {
		case pc.File != "":
			wasm, err := os.ReadFile(pc.File)
			if err != nil {
				return nil, nil, fmt.Errorf("edge: plugins[%d] %s: %w", i, pc.Name, err)
			}
			d.Wasm = wasm
			files = append(files, pc.File)
		default:
			wasm, ok := plugins.Format(pc.Name)
			if !ok {
				return nil, nil, fmt.Errorf("edge: plugins[%d] %s: no file, and no built-in format plugin has that name (built in: %v)", i, pc.Name, plugins.Formats())
			}
			d.Wasm = wasm
		}
		// An empty mapping is no config, so a plugin without plugin_init may be given one.
		if m, ok := pc.Config.(map[string]any); ok && len(m) > 0 {
			js, err := json.Marshal(pc.Config)
			if err != nil {
				return nil, nil, fmt.Errorf("edge: plugins[%d] %s: config: %w", i, pc.Name, err)
			}
			d.Config = js
		}
		declared[pc.Name] = true
		decls = append(decls, d)
	}
	for _, f := range formats {
		if declared[f] {
			continue
		}
		wasm, ok := plugins.Format(f)
		if !ok {
			return nil, nil, fmt.Errorf("edge: format %q is neither \"openai\", a declared format plugin, nor built in (built in: %v)", f, plugins.Formats())
		}
		declared[f] = true
		decls = append(decls, extension.Decl{Name: f, Kind: "format", Wasm: wasm, Limits: limits(cfg, "format", config.PluginLimits{})})
	}
	return decls, files, nil
}

// fuelPerByte is the fuel a call gets per input byte on top of its flat budget: a hook that
// copies or escapes its input spends a few units per byte, and a 10 MB body must not run out
// where a 1 KB one has plenty.
const fuelPerByte = 64

// limits turns a plugin's configured limits into the host's, with the node's defaults. A
// format plugin's output is a whole request or response, so its output and memory caps
// follow the node's body limits rather than the hook default of 1 MiB.
func limits(cfg *Config, kind string, l config.PluginLimits) wasmhost.Limits {
	lim := wasmhost.Limits{MemoryPages: l.MemoryPages, Fuel: l.Fuel, Deadline: l.Deadline.D(),
		MaxOutput: int(l.MaxOutput), Instances: l.Instances, FuelPerByte: fuelPerByte}
	if kind == "format" || kind == "transform" {
		largest := max(int64(cfg.Limits.MaxBodyBytes), int64(cfg.Limits.MaxResponseBytes))
		if lim.MaxOutput == 0 {
			lim.MaxOutput = int(2 * largest)
		}
		if lim.MemoryPages == 0 {
			// Input, output and the plugin's own working copy, plus its usual heap.
			lim.MemoryPages = uint32(min((3*largest+16<<20)>>16, 65536))
		}
	}
	return lim
}

// newPluginHost makes the node's sandbox. Compiled plugins are cached under the data
// directory, so a restart does not recompile them.
func newPluginHost(cfg *Config, log *slog.Logger) (*wasmhost.Host, error) {
	cache := ""
	if cfg.DataDir != "" {
		cache = filepath.Join(cfg.DataDir, "wasm-cache")
	}
	h, err := wasmhost.NewHost(context.Background(), wasmhost.Config{CacheDir: cache, Instrument: wasmhost.Metered, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("edge: plugin host: %w", err)
	}
	return h, nil
}

// genRefs counts the requests a generation is serving. A replaced generation is retired;
// the last request to leave it (or the swap, if none is in flight) closes its plugins.
type genRefs struct {
	n       atomic.Int64 // in-flight requests, +1 while the generation is current
	release func()
}

func (r *genRefs) acquire() bool {
	for {
		v := r.n.Load()
		if v <= 0 {
			return false // retired and drained
		}
		if r.n.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

func (r *genRefs) done() {
	if r.n.Add(-1) == 0 && r.release != nil {
		r.release()
	}
}
