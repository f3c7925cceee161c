package telemetry

import (
	"strings"
	"testing"
)

func TestWriteText(t *testing.T) {
	m := NewMetrics()
	m.Response(200)
	m.Response(200)
	m.Error(502)
	m.Response(9999) // ignored, never panics
	m.StreamStarted()
	m.StreamStarted()
	m.StreamEnded(20, false)
	m.Tokens(10, 5)
	var b strings.Builder
	m.WriteText(&b)
	out := b.String()
	for _, want := range []string{
		`crossroads_chat_responses_total{code="200"} 2`,
		`crossroads_chat_responses_total{code="502"} 1`,
		"crossroads_streams_active 1",
		"crossroads_streams_total 2",
		"crossroads_stream_chunks_total 20",
		"crossroads_prompt_tokens_total 10",
		"crossroads_completion_tokens_total 5",
		"# TYPE crossroads_streams_active gauge",
		"go_goroutines ",
		"go_heap_objects_bytes ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("metrics lack %q:\n%s", want, out)
		}
	}
	if m.StreamsActive() != 1 {
		t.Fatalf("StreamsActive = %d", m.StreamsActive())
	}
}

func TestNewLogger(t *testing.T) {
	for _, tc := range []struct{ level, format string }{{"debug", "json"}, {"warn", "text"}, {"bogus", "text"}} {
		if NewLogger(tc.level, tc.format) == nil {
			t.Fatalf("NewLogger(%q, %q) = nil", tc.level, tc.format)
		}
	}
}
