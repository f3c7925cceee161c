// Package script owns what the provider-format fakes (Anthropic, Gemini) share: the
// directives that script them from inside a prompt, the deterministic text they answer
// with, and the log of what they received, so every fake reads [[status:429]] or
// [[words:N]] the same way and tests assert on every fake alike.
package script

import (
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// Directives script one request's behaviour. They are written into the text of the last
// user message as [[name]] or [[name:value]], because that is the one place every client
// and every gateway forwards unchanged; a follow-up turn that only carries tool results
// therefore gets a plain answer, which is what a tool loop test needs.
type Directives struct {
	Status      int           // [[status:429]]: answer with that error status
	Tool        string        // [[tool:get_weather]]: call that tool
	Thinking    bool          // [[thinking]]: a thinking block or thought part first
	StreamError bool          // [[stream_error]]: the provider's in-stream error after some events
	Cut         bool          // [[cut]]: drop the connection mid-response
	Delay       time.Duration // [[delay:50ms]]: wait before answering
	Words       int           // [[words:N]]: length of the text answer (-1 = default)
	Cached      int           // [[cached:N]]: cached prompt tokens reported
	Finish      string        // [[finish:SAFETY]]: end with that finish reason and no content (Gemini)
	Blocked     string        // [[blocked:SAFETY]]: the prompt is blocked, no candidates (Gemini)
}

var directiveRE = regexp.MustCompile(`\[\[([a-z_]+)(?::([^\]]*))?\]\]`)

// Parse extracts the directives from text; who names the fake in errors. An unknown or
// malformed directive is an error so a typo in a test fails loudly instead of silently
// producing a healthy answer.
func Parse(who, text string) (Directives, error) {
	d := Directives{Words: -1}
	for _, m := range directiveRE.FindAllStringSubmatch(text, -1) {
		name, val := m[1], m[2]
		bad := func(err error) error {
			return fmt.Errorf("%s: parse directive %s: %w", who, m[0], err)
		}
		num := func() (int, error) {
			n, err := strconv.Atoi(val)
			if err == nil && n < 0 {
				err = fmt.Errorf("negative value %d", n)
			}
			return n, err
		}
		var err error
		switch name {
		case "status":
			d.Status, err = num()
			if err == nil && (d.Status < 400 || d.Status > 599) {
				err = fmt.Errorf("status %d is not an error status", d.Status)
			}
		case "tool":
			if val == "" {
				err = fmt.Errorf("missing tool name")
			}
			d.Tool = val
		case "thinking":
			d.Thinking = true
		case "stream_error":
			d.StreamError = true
		case "cut":
			d.Cut = true
		case "delay":
			d.Delay, err = time.ParseDuration(val)
			if err == nil && d.Delay < 0 {
				err = fmt.Errorf("negative delay")
			}
		case "words":
			d.Words, err = num()
		case "cached":
			d.Cached, err = num()
		case "finish":
			if val == "" {
				err = fmt.Errorf("missing finish reason")
			}
			d.Finish = val
		case "blocked":
			if val == "" {
				val = "SAFETY"
			}
			d.Blocked = val
		default:
			err = fmt.Errorf("unknown directive")
		}
		if err != nil {
			return d, bad(err)
		}
	}
	return d, nil
}

var vocabulary = strings.Fields(`the a river stone light quiet harbor north signal copper
window garden paper orbit cedar lantern valley echo amber meadow thunder silver bridge
compass ember falcon glacier horizon island jasmine kettle lagoon marble nectar ocean
prairie quartz ripple summit timber umber velvet willow yonder zephyr`)

// DefaultWords is the length of a text answer without [[words:N]].
const DefaultWords = 12

// Reply is the deterministic text the fake answers to a prompt: n words drawn
// from a fixed vocabulary by a generator seeded with the prompt's hash, so
// two requests with the same last user text get the same answer and tests
// can compute what to expect.
func Reply(prompt string, n int) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(prompt))
	x := h.Sum64() | 1
	var b strings.Builder
	for i := range n {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(vocabulary[x%uint64(len(vocabulary))])
	}
	return b.String()
}
