package script

import (
	"strings"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		text    string
		want    Directives
		wantErr string
	}{
		{"none", "hello", Directives{Words: -1}, ""},
		{"several", "hi [[status:429]] [[words:3]] [[delay:5ms]] [[thinking]]", Directives{Status: 429, Words: 3, Delay: 5 * time.Millisecond, Thinking: true}, ""},
		{"tool and cache", "[[tool:get_weather]][[cached:10]]", Directives{Tool: "get_weather", Cached: 10, Words: -1}, ""},
		{"gemini answers", "[[finish:SAFETY]] [[blocked]]", Directives{Finish: "SAFETY", Blocked: "SAFETY", Words: -1}, ""},
		{"not an error status", "[[status:200]]", Directives{}, "not an error status"},
		{"negative words", "[[words:-2]]", Directives{}, "negative value"},
		{"bad delay", "[[delay:soon]]", Directives{}, "invalid duration"},
		{"unknown", "[[explode]]", Directives{}, "unknown directive"},
		{"missing tool", "[[tool]]", Directives{}, "missing tool name"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := Parse("fake", tt.text)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.HasPrefix(err.Error(), "fake: parse directive") {
					t.Fatalf("err = %v, want one about %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || d != tt.want {
				t.Fatalf("Parse = %+v, %v; want %+v", d, err, tt.want)
			}
		})
	}
}

func TestReplyIsDeterministic(t *testing.T) {
	a, b := Reply("same prompt", 9), Reply("same prompt", 9)
	if a != b || len(strings.Fields(a)) != 9 || Reply("other prompt", 9) == a {
		t.Fatalf("Reply: %q / %q", a, b)
	}
}

func TestLog(t *testing.T) {
	var l Log[string]
	if _, ok := l.Last(); ok || l.Calls() != 0 || len(l.Requests()) != 0 {
		t.Fatal("a new log is not empty")
	}
	l.Count()
	l.Count()
	l.Record("a")
	l.Record("b")
	if last, ok := l.Last(); !ok || last != "b" || l.Calls() != 2 || strings.Join(l.Requests(), ",") != "a,b" {
		t.Fatalf("log: calls %d, requests %v", l.Calls(), l.Requests())
	}
}
