package redisstore

import (
	"bytes"
	"encoding/binary"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

func codecStore(t testing.TB, compressAbove int) *Store {
	enc, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := zstd.NewReader(nil, zstd.WithDecoderMaxMemory(maxValue))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { enc.Close(); dec.Close() })
	return &Store{cfg: Config{CompressAbove: compressAbove}, enc: enc, dec: dec}
}

// FuzzDecode: whatever is stored under a key, decoding it returns an error or a value, never
// a panic, and what encode writes decodes to what was encoded.
func FuzzDecode(f *testing.F) {
	s := codecStore(f, 64)
	now := time.Unix(1700000000, 123)
	f.Add([]byte{})
	f.Add([]byte("garbage"))
	f.Add(s.encode([]byte("small"), now))
	f.Add(s.encode(bytes.Repeat([]byte("compress me "), 50), now))
	f.Fuzz(func(t *testing.T, b []byte) {
		if val, _, err := s.decode(b); err == nil {
			if n := int(binary.BigEndian.Uint32(b[10:])); len(val) != n {
				t.Fatalf("decoded %d bytes, header says %d", len(val), n)
			}
		}
		enc := s.encode(b, now)
		val, at, err := s.decode(enc)
		if err != nil || !bytes.Equal(val, b) || !at.Equal(now) {
			t.Fatalf("round trip of %d bytes: %d bytes, %v, %v", len(b), len(val), at, err)
		}
	})
}

func TestBreaker(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(d time.Duration) time.Time { return t0.Add(d) }
	s := time.Second
	// Each step is a call at a time: whether it may go out, whether it is the probe, and
	// how it ends.
	type step struct {
		at                time.Duration
		wantOK, wantProbe bool
		outcome           string // "ok", "fail", "gaveup", or "" for a call that was refused
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"healthy server", []step{{0, true, false, "ok"}, {s, true, false, "ok"}}},
		{"failure opens for the minimum", []step{
			{0, true, false, "fail"},
			{s / 2, false, false, ""},
			{s - 1, false, false, ""},
			{s, true, true, "ok"},
			{s + 1, true, false, "ok"},
		}},
		{"failed probes double up to the maximum", []step{
			{0, true, false, "fail"},
			{1 * s, true, true, "fail"}, // now 2s
			{2 * s, false, false, ""},
			{3 * s, true, true, "fail"},  // 4s
			{7 * s, true, true, "fail"},  // 8s
			{15 * s, true, true, "fail"}, // 16s
			{31 * s, true, true, "fail"}, // 30s, not 32s
			{60 * s, false, false, ""},
			{61 * s, true, true, "ok"},
			// Down again: back to the minimum.
			{62 * s, true, false, "fail"},
			{63 * s, true, true, "ok"},
		}},
		{"one probe at a time", []step{
			{0, true, false, "fail"},
			{s, true, true, "pending"},
			{s, false, false, ""},
			{2 * s, false, false, ""},
		}},
		{"a probe whose caller gave up lets the next call probe", []step{
			{0, true, false, "fail"},
			{s, true, true, "gaveup"},
			{s, true, true, "fail"}, // 2s
			{2 * s, false, false, ""},
			{3 * s, true, true, "ok"},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b := &breaker{min: time.Second, max: 30 * time.Second}
			for i, st := range tc.steps {
				now := at(st.at)
				probe, ok := b.allow(now)
				if ok != st.wantOK || probe != st.wantProbe {
					t.Fatalf("step %d at %v: allow = probe %v ok %v, want probe %v ok %v", i, st.at, probe, ok, st.wantProbe, st.wantOK)
				}
				switch st.outcome {
				case "ok":
					b.succeeded(probe)
				case "fail":
					b.failed(probe, now)
				case "gaveup":
					b.released(probe)
				}
			}
		})
	}
}

// Calls in flight when the server dies fail one after another; the later ones neither
// lengthen the backoff nor move its end.
func TestBreakerInFlight(t *testing.T) {
	b := &breaker{min: time.Second, max: 30 * time.Second}
	t0 := time.Unix(1000, 0)
	var probes []bool
	for range 3 {
		probe, ok := b.allow(t0)
		if !ok {
			t.Fatal("healthy breaker refused a call")
		}
		probes = append(probes, probe)
	}
	for i, p := range probes {
		b.failed(p, t0.Add(time.Duration(i)*100*time.Millisecond))
	}
	if _, ok := b.allow(t0.Add(999 * time.Millisecond)); ok {
		t.Fatal("allowed a call within the backoff")
	}
	if probe, ok := b.allow(t0.Add(time.Second)); !ok || !probe {
		t.Fatalf("at the end of the first failure's backoff: probe %v ok %v, want a probe", probe, ok)
	}
}
