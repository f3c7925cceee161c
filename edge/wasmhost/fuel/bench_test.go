package fuel

import (
	"context"
	"testing"
)

// BenchmarkInstrument rewrites the Go-compiled test program (~2.6 MB), the
// realistic worst case for load time; it falls back to the largest fixture
// when the Go toolchain cannot target wasip1.
func BenchmarkInstrument(b *testing.B) {
	wasm := largestInput(b)
	b.SetBytes(int64(len(wasm)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Instrument(wasm, Options{}); err != nil {
			b.Fatal(err)
		}
	}
}

func largestInput(b *testing.B) []byte {
	wasm, err := goModuleBytes()
	if err != nil {
		b.Logf("using the largest fixture: cannot build the wasip1 test program: %v", err)
		return fixture(b, "features")
	}
	return wasm
}

// BenchmarkCallOverhead calls sum(10000), a tight counting loop and so the
// worst case for the checks, plain and instrumented; the ns/op ratio is the
// overhead (fuel.md measured ×1.6–1.9 for unit cost).
func BenchmarkCallOverhead(b *testing.B) {
	const n = 10_000
	orig := fixture(b, "sum")
	variants := []struct {
		name string
		opt  *Options
	}{
		{name: "plain"},
		{name: "fuel", opt: &Options{}},
		{name: "fuel+limit", opt: &Options{Limit: true}},
	}
	ctx := context.Background()
	for _, v := range variants {
		b.Run(v.name, func(b *testing.B) {
			wasm := orig
			if v.opt != nil {
				wasm = instrument(b, orig, *v.opt)
			}
			m := instantiate(b, newRuntime(b), wasm)
			sum := m.ExportedFunction("sum")
			var fuel interface{ Set(uint64) }
			if v.opt != nil {
				fuel = fuelGlobal(b, m, FuelExport)
			}
			stack := make([]uint64, 1)
			b.ReportAllocs()
			for b.Loop() {
				if fuel != nil {
					fuel.Set(1 << 40) // arming the budget is part of the per-call cost
				}
				stack[0] = n
				if err := sum.CallWithStack(ctx, stack); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
