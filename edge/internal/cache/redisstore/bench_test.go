package redisstore_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/cache/redisstore"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/redisstore/redistest"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/storetest"
)

// answer2K is a 2 KB streamed answer, as compressible as real SSE.
func answer2K() []byte {
	var b bytes.Buffer
	for i := 0; b.Len() < 2048; i++ {
		fmt.Fprintf(&b, "data: {\"choices\":[{\"index\":0,\"delta\":{\"content\":\" word%d\"}}]}\n\n", i)
	}
	return b.Bytes()[:2048]
}

var benchCases = []struct {
	name          string
	compressAbove int
}{
	{"2KB raw", 1 << 20},
	{"2KB zstd", 1 << 10},
}

// BenchmarkGet measures a hit against a local redis-server: one round trip over loopback,
// the header check, and for zstd the decode.
func BenchmarkGet(b *testing.B) {
	srv := redistest.New(b)
	val := answer2K()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			s := newStore(b, cfgFor(b, srv, redisstore.Config{CompressAbove: bc.compressAbove}))
			ctx := context.Background()
			k := storetest.RandomKey()
			if err := s.Set(ctx, k, val, time.Hour); err != nil {
				b.Fatal(err)
			}
			b.SetBytes(int64(len(val)))
			b.ReportAllocs()
			for b.Loop() {
				v, _, ok, err := s.Get(ctx, k)
				if err != nil || !ok || len(v) != len(val) {
					b.Fatalf("Get = %d bytes, %v, %v", len(v), ok, err)
				}
			}
		})
	}
}

// BenchmarkSet measures storing the same answer, compression included.
func BenchmarkSet(b *testing.B) {
	srv := redistest.New(b)
	val := answer2K()
	for _, bc := range benchCases {
		b.Run(bc.name, func(b *testing.B) {
			s := newStore(b, cfgFor(b, srv, redisstore.Config{CompressAbove: bc.compressAbove}))
			ctx := context.Background()
			k := storetest.RandomKey()
			b.SetBytes(int64(len(val)))
			b.ReportAllocs()
			for b.Loop() {
				if err := s.Set(ctx, k, val, time.Hour); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
