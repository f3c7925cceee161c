package wasmhost

import (
	"bytes"
	"context"
	"testing"
)

// benchInput is a ~1 KB routing-shaped JSON document.
var benchInput = func() []byte {
	b := []byte(`{"request":{"model":"gpt-4o","stream":"yes","max_tokens":512},"candidates":[`)
	for i := 0; len(b) < 1000; i++ {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"id":"openai-us-east","provider":"openai","price":0.25,"ttft_ms":180}`...)
	}
	return append(b, "]}"...)
}()

// BenchmarkCall is the ABI crossing with a 1 KB JSON document each way: pool get, alloc,
// copy in, hook (memory.copy into a fresh buffer), copy out, UTF-8 and JSON validation, two
// frees, pool put.
func BenchmarkCall(b *testing.B) {
	benchCall(b, HookStream, benchInput)
}

// BenchmarkCallUppercase adds a guest loop over every byte, for scale.
func BenchmarkCallUppercase(b *testing.B) {
	benchCall(b, HookRequest, bytes.ToUpper(benchInput))
}

func benchCall(b *testing.B, hook string, want []byte) {
	h, _ := newHost(b)
	p := load(b, h, "echo", Limits{})
	ctx := context.Background()
	out, _, err := p.Call(ctx, hook, benchInput)
	if err != nil || !bytes.Equal(out, want) {
		b.Fatalf("%q %v", out, err)
	}
	b.SetBytes(int64(len(benchInput)))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Call(ctx, hook, benchInput); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallUnchanged is the floor: a hook that returns 0.
func BenchmarkCallUnchanged(b *testing.B) {
	h, _ := newHost(b)
	p := load(b, h, "echo", Limits{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Call(ctx, HookResponse, benchInput); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkCallMetered is a hook call on a module exporting __fuel and __fuel_limit, so it
// includes setting the fuel and arming and stopping the deadline timer.
func BenchmarkCallMetered(b *testing.B) {
	h, _ := newHost(b)
	p := load(b, h, "misbehave", Limits{})
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := p.Call(ctx, HookRequest, benchInput); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkInstantiate is one new pooled instance from the compiled module: instantiate,
// resolve the handles, plugin_init.
func BenchmarkInstantiate(b *testing.B) {
	h, _ := newHost(b)
	p := load(b, h, "echo", Limits{Instances: 1})
	ctx := context.Background()
	p.discard(ctx, <-p.idle) // the probe instance, so the slot is free
	b.ReportAllocs()
	for b.Loop() {
		p.slots <- struct{}{}
		inst, err := p.newInstance(ctx)
		if err != nil {
			b.Fatal(err)
		}
		p.discard(ctx, inst)
	}
}
