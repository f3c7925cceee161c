package sim

import "github.com/crossroads-llm/crossroads/edge/internal/jsonx"

// vocab is lower-case ASCII only, so generated words never need JSON
// escaping and capitalising is a single byte change.
var vocab = [...]string{
	"the", "router", "sends", "each", "request", "to", "a", "provider", "that",
	"answers", "quickly", "and", "cheaply", "while", "tokens", "stream", "back",
	"through", "edge", "node", "cache", "keeps", "identical", "prompts", "warm",
	"model", "reads", "context", "then", "writes", "clear", "short", "sentences",
	"about", "latency", "throughput", "price", "every", "route", "is", "scored",
	"by", "health", "plugins", "can", "rewrite", "responses", "safely", "in",
	"sandbox", "credits", "are", "metered", "per", "user", "with", "care",
	"simple", "test", "shows", "whole", "pipeline", "working", "today",
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func fnvString(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h ^= uint64(s[i])
		h *= fnvPrime
	}
	return h
}

func fnvByte(h uint64, b byte) uint64 {
	h ^= uint64(b)
	return h * fnvPrime
}

// mix64 is the splitmix64 finaliser: FNV-1a's low bits are weak, and every
// choice below is taken modulo a small number.
func mix64(x uint64) uint64 {
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return x
}

// textGen produces sentence-like text one token at a time. It is a value
// type advanced in place so that a streaming body and a JSON body walk the
// very same sequence: streamed deltas concatenate to the non-stream content.
type textGen struct {
	rng    uint64
	i      int      // pieces produced so far
	nat    int      // natural length: the piece at nat-1 ends a sentence
	left   int      // words left in the current sentence; 0 starts a new one
	prefix []string // pieces emitted verbatim before generated words
}

func newTextGen(seed uint64, nat int, prefix []string) textGen {
	return textGen{rng: seed, nat: nat, prefix: prefix}
}

func (g *textGen) next() uint64 {
	g.rng += 0x9e3779b97f4a7c15
	return mix64(g.rng)
}

// appendNext appends the next piece, already escaped for a JSON string.
func (g *textGen) appendNext(dst []byte) []byte {
	i := g.i
	g.i++
	if i < len(g.prefix) {
		return jsonx.AppendStringContent(dst, g.prefix[i])
	}
	start := false
	if g.left == 0 {
		g.left = 5 + int(g.next()%9)
		start = true
	}
	w := vocab[g.next()%uint64(len(vocab))]
	if i > 0 {
		dst = append(dst, ' ')
	}
	mark := len(dst)
	dst = append(dst, w...)
	if start {
		dst[mark] -= 'a' - 'A'
	}
	g.left--
	switch {
	case g.left == 0 || i == g.nat-1:
		dst = append(dst, '.')
		g.left = 0
	case g.left > 1 && g.next()%8 == 0:
		dst = append(dst, ',')
	}
	return dst
}

// word picks a vocabulary word for h; used for schema-generated strings.
func word(h uint64) string {
	return vocab[mix64(h)%uint64(len(vocab))]
}
