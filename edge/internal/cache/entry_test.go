package cache

import (
	"bytes"
	"reflect"
	"testing"
)

func TestEntryRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		e    Entry
	}{
		{"stream", Entry{Stream: true, Chunks: bytesOf(recorded), Provider: "OpenAI", Model: "openai/gpt-4o"}},
		{"body", Entry{Chunks: [][]byte{[]byte(assembled)}, Provider: "Anthropic", Model: "anthropic/claude"}},
		{"empty chunk and names", Entry{Stream: true, Chunks: [][]byte{{}}}},
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
		"empty":          nil,
		"other version":  append([]byte{9}, good[1:]...),
		"bad flags":      append([]byte{1, 7}, good[2:]...),
		"truncated":      good[:len(good)-3],
		"trailing bytes": append(bytes.Clone(good), 'x'),
		"huge chunk":     {1, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"huge count":     {1, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
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
	f.Add([]byte{1, 0, 0, 0, 0})
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
