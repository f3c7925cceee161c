package wasmhost

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
)

// Caps on what a guest can push through the host functions per call, so a plugin cannot
// flood the node log or make the host fill gigabytes of randomness.
const (
	maxLogBytes    = 4 << 10
	maxRandomBytes = 64 << 10
)

// instantiateHostModule defines the "crossroads" module in rt. It is built per runtime, and
// so per plugin, which is how log lines carry the plugin's name without a lookup per call.
// GoModuleFunc is wazero's fast path: 45 ns per call against ~2 µs for reflective WithFunc.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime, log *slog.Logger) error {
	b := rt.NewHostModuleBuilder(modCrossroads)
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(ctx context.Context, mod api.Module, stack []uint64) {
		level, ptr, n := api.DecodeI32(stack[0]), api.DecodeU32(stack[1]), api.DecodeU32(stack[2])
		truncated := n > maxLogBytes
		if truncated {
			n = maxLogBytes
		}
		msg, ok := mod.Memory().Read(ptr, n)
		if !ok {
			panic(fmt.Errorf("crossroads.log: ptr %#x len %d outside memory", ptr, n))
		}
		log.Log(ctx, logLevel(level), "wasm plugin log", "msg", string(msg), "truncated", truncated)
	}), hostSigs["log"].params, hostSigs["log"].results).Export("log")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, _ api.Module, stack []uint64) {
		stack[0] = uint64(time.Now().UnixNano())
	}), hostSigs["clock_ns"].params, hostSigs["clock_ns"].results).Export("clock_ns")
	b.NewFunctionBuilder().WithGoModuleFunction(api.GoModuleFunc(func(_ context.Context, mod api.Module, stack []uint64) {
		ptr, n := api.DecodeU32(stack[0]), api.DecodeU32(stack[1])
		if n > maxRandomBytes {
			panic(fmt.Errorf("crossroads.random: len %d above %d", n, maxRandomBytes))
		}
		buf, ok := mod.Memory().Read(ptr, n)
		if !ok {
			panic(fmt.Errorf("crossroads.random: ptr %#x len %d outside memory", ptr, n))
		}
		_, _ = rand.Read(buf) // crypto/rand.Read never fails on supported platforms
	}), hostSigs["random"].params, hostSigs["random"].results).Export("random")
	_, err := b.Instantiate(ctx)
	return err
}

// logLevel maps the ABI's levels (0 debug, 1 info, 2 warn, 3 error) onto slog, clamping
// anything else so a guest cannot invent levels.
func logLevel(l int32) slog.Level {
	switch {
	case l <= 0:
		return slog.LevelDebug
	case l == 1:
		return slog.LevelInfo
	case l == 2:
		return slog.LevelWarn
	}
	return slog.LevelError
}

// logWriter turns a guest's WASI stdout/stderr into log lines. Each write is one line,
// truncated, because guests write whole lines (or fragments) and the node log must stay
// bounded.
type logWriter struct {
	log    *slog.Logger
	level  slog.Level
	stream string
}

func (w *logWriter) Write(b []byte) (int, error) {
	n := len(b)
	if len(b) > maxLogBytes {
		b = b[:maxLogBytes]
	}
	for len(b) > 0 && (b[len(b)-1] == '\n' || b[len(b)-1] == '\r') {
		b = b[:len(b)-1]
	}
	if len(b) > 0 {
		w.log.Log(context.Background(), w.level, "wasm plugin output", "stream", w.stream, "msg", string(b))
	}
	return n, nil
}
