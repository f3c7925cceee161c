package anthropic

import (
	"fmt"

	"github.com/crossroads-llm/crossroads/bench/fakeupstream/script"
)

// Directives script one request (see package script): [[status:429]], [[tool:name]],
// [[thinking]], [[stream_error]], [[cut]], [[delay:D]], [[words:N]], [[cached:N]].
type Directives = script.Directives

// DefaultWords is the length of a text answer without [[words:N]].
const DefaultWords = script.DefaultWords

// Reply is the deterministic text the fake answers to a prompt (script.Reply).
func Reply(prompt string, n int) string { return script.Reply(prompt, n) }

// ParseDirectives reads the directives in text; Gemini's finish and blocked are refused,
// since the Messages API has no such answers.
func ParseDirectives(text string) (Directives, error) {
	d, err := script.Parse("anthropic fake", text)
	if err == nil && (d.Finish != "" || d.Blocked != "") {
		err = fmt.Errorf("anthropic fake: parse directives: [[finish]] and [[blocked]] are Gemini's")
	}
	return d, err
}
