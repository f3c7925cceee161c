package route

import (
	"hash/maphash"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Sticky pins conversations to the endpoint that served them, so the provider's prompt
// cache keeps hitting: OpenRouter users lose most of their cache share to price load
// balancing scattering one conversation over several providers. It outlives router
// generations (a reload must not re-scatter every conversation) and is bounded: the least
// recently used pins go first.
type Sticky struct {
	ttl  int64
	pins *lru.Cache[uint64, pin]
	seed maphash.Seed
}

type pin struct {
	// key is the endpoint's catalog key: IDs change between catalog generations, keys do not.
	key     string
	expires int64
}

// NewSticky returns a pin store of at most max conversations, each pinned for ttl after
// its last request.
func NewSticky(max int, ttl time.Duration) *Sticky {
	c, err := lru.New[uint64, pin](max)
	if err != nil {
		// Only a non-positive size fails, and config validation rules that out.
		panic("route: sticky: " + err.Error())
	}
	return &Sticky{ttl: int64(ttl), pins: c, seed: maphash.MakeSeed()}
}

// conversation returns the sticky key of a request for its primary model, and false when
// the request carries nothing that identifies a conversation. Precedence follows
// OpenRouter: session_id (body, then header), prompt_cache_key, and then a hash of the
// system prompt and first user message, which stays the same turn after turn.
func (s *Sticky) conversation(req *llm.Request, model string) (uint64, bool) {
	var h maphash.Hash
	h.SetSeed(s.seed)
	switch {
	case req.SessionID != "":
		h.WriteByte('s')
		h.WriteString(req.SessionID)
	case req.PromptCacheKey != "":
		h.WriteByte('k')
		h.WriteString(req.PromptCacheKey)
	case req.PromptHash != 0:
		h.WriteByte('p')
		var b [8]byte
		for i := range b {
			b[i] = byte(req.PromptHash >> (8 * i))
		}
		h.Write(b[:])
	default:
		return 0, false
	}
	h.WriteByte(0)
	h.WriteString(model)
	return h.Sum64(), true
}

// lookup returns the endpoint key a conversation is pinned to.
func (s *Sticky) lookup(conv uint64, now int64) (string, bool) {
	p, ok := s.pins.Get(conv)
	if !ok || now >= p.expires {
		return "", false
	}
	return p.key, true
}

// remember pins a conversation to the endpoint that served it. A pin that is still fresh
// and unchanged is not rewritten, so a busy conversation costs one read per request.
func (s *Sticky) remember(conv uint64, key string, now int64) {
	if p, ok := s.pins.Peek(conv); ok && p.key == key && p.expires-now > s.ttl/2 {
		return
	}
	s.pins.Add(conv, pin{key: key, expires: now + s.ttl})
}

// Len is the number of pinned conversations.
func (s *Sticky) Len() int { return s.pins.Len() }
