package gemini

import "github.com/crossroads-llm/crossroads/bench/fakeupstream/script"

// Directives script one request (see package script): [[status:429]], [[tool:name]],
// [[thinking]], [[stream_error]], [[cut]], [[delay:D]], [[words:N]], [[cached:N]],
// [[finish:REASON]], [[blocked:REASON]].
type Directives = script.Directives

// DefaultWords is the length of a text answer without [[words:N]].
const DefaultWords = script.DefaultWords

// Reply is the deterministic text the fake answers to a prompt (script.Reply).
func Reply(prompt string, n int) string { return script.Reply(prompt, n) }

// ParseDirectives reads the directives in text.
func ParseDirectives(text string) (Directives, error) { return script.Parse("gemini fake", text) }
