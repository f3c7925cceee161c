package cache

import (
	"bytes"
	"reflect"
	"testing"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

func TestEntryRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"stream", Entry{Stream: true, Chunks: bytesOf(recorded), Provider: "OpenAI", Model: "openai/gpt-4o"}},
		{"body", Entry{Chunks: [][]byte{[]byte(assembled)}, Provider: "Anthropic", Model: "anthropic/claude",
			Price: llm.Price{Prompt: 3e-6, Completion: 15e-6, Request: 0.001, CacheRead: 3e-7}, Dropped: 5, TTL: 90 * time.Second}},
		{"empty chunk and names", Entry{Stream: true, Chunks: [][]byte{{}}}},
		{"chunks sharing prefixes", Entry{Stream: true, Chunks: bytesOf([]string{"abc", "abd", "abdx", "", "abd", "abd"})}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := UnmarshalEntry(tt.e.Marshal())
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(*got, tt.e) {
				t.Fatalf("got %+v, want %+v", *got, tt.e)
			}
		})
	}
}

func TestEntryRefusesGarbage(t *testing.T) {
	good := (&Entry{Stream: true, Chunks: bytesOf(recorded[:2]), Provider: "p", Model: "m"}).Marshal()
	for name, b := range map[string][]byte{
		"empty":           nil,
		"other version":   append([]byte{9}, good[1:]...),
		"bad flags":       append([]byte{1, 7}, good[2:]...),
		"truncated":       good[:len(good)-3],
		"trailing bytes":  append(bytes.Clone(good), 'x'),
		"huge chunk":      append(head(), 0, 0, 0, 0, 1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"prefix too long": append(head(), 0, 0, 0, 0, 2, 0, 1, 'x', 2, 0),
		"first prefix":    append(head(), 0, 0, 0, 0, 1, 1, 0),
		"huge count":      append(head(), 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f),
		"nan price":       append(append([]byte{entryVersion, 0}, 0, 0, 0, 0, 0, 0, 0xf8, 0x7f), good[10:]...),
		"ttl over max":    append(head(), 0, 0xff, 0xff, 0xff, 0xff, 0x0f, 0, 0, 0),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := UnmarshalEntry(b); err == nil {
				t.Fatal("garbage decoded")
			}
		})
	}
}

// FuzzUnmarshalEntry: an L2 store may hand back anything; decoding never panics, and what
// decodes re-encodes to the same bytes.
func FuzzUnmarshalEntry(f *testing.F) {
	f.Add((&Entry{Stream: true, Chunks: bytesOf(recorded[:3]), Provider: "p", Model: "m"}).Marshal())
	f.Add(append(head(), 0, 0, 0, 0, 0))
	f.Fuzz(func(t *testing.T, b []byte) {
		e, err := UnmarshalEntry(b)
		if err != nil {
			return
		}
		if again := e.Marshal(); !bytes.Equal(again, b) {
			// Uvarints have one minimal spelling; a non-minimal one may decode too.
			if e2, err := UnmarshalEntry(again); err != nil || !reflect.DeepEqual(e, e2) {
				t.Fatalf("re-encoding changed the entry: %v", err)
			}
		}
	})
}

// head is an entry's fixed part: version, flags, four zero prices.
func head() []byte { return append([]byte{entryVersion, 0}, make([]byte, 32)...) }
