package cache

import (
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Entry is a cached answer in the form it arrived in: the chunks of a stream (Stream true),
// or one chat.completion body. Usage, finish reasons and tool calls are inside them, so a
// replay is the original, byte for byte, apart from the id the node gives each response.
type Entry struct {
	Stream bool
	Chunks [][]byte
	// Provider and Model name who answered originally, for the response and the usage record.
	Provider, Model string
	// Price is what the answering endpoint charges: a hit saved its cost at that price.
	Price llm.Price
	// Dropped are the request parameters the endpoint did not support.
	Dropped llm.ParamSet
	// TTL is the lifetime the entry was stored with, so a copy taken from a shared store
	// into the local one expires when the original does.
	TTL time.Duration
}

const entryVersion = 2

// Marshal encodes an entry for a Store: a version byte, flags, the four prices, then
// uvarints and length-prefixed strings and chunks. Binary rather than JSON because chunks
// are JSON already and a hit should not re-escape them. Each chunk is stored as the length
// of the prefix it shares with the one before, then the rest: a stream's chunks repeat their
// id, object, created, model and choice head, and leaving that out halves a typical stream
// entry at the cost of a copy per chunk on a hit, where compression would cost a decoder
// pass.
func (e *Entry) Marshal() []byte {
	n := 64 + len(e.Provider) + len(e.Model)
	for _, c := range e.Chunks {
		n += 4 + len(c)
	}
	b := make([]byte, 0, n)
	flags := byte(0)
	if e.Stream {
		flags = 1
	}
	b = append(b, entryVersion, flags)
	for _, f := range [...]float64{e.Price.Prompt, e.Price.Completion, e.Price.Request, e.Price.CacheRead} {
		b = binary.LittleEndian.AppendUint64(b, math.Float64bits(f))
	}
	b = binary.AppendUvarint(b, uint64(e.Dropped))
	b = binary.AppendUvarint(b, uint64(max(e.TTL, 0)/time.Millisecond))
	b = binary.AppendUvarint(b, uint64(len(e.Provider)))
	b = append(b, e.Provider...)
	b = binary.AppendUvarint(b, uint64(len(e.Model)))
	b = append(b, e.Model...)
	b = binary.AppendUvarint(b, uint64(len(e.Chunks)))
	var prev []byte
	for _, c := range e.Chunks {
		p := commonPrefix(prev, c)
		b = binary.AppendUvarint(b, uint64(p))
		b = binary.AppendUvarint(b, uint64(len(c)-p))
		b = append(b, c[p:]...)
		prev = c
	}
	return b
}

func commonPrefix(a, b []byte) int {
	n := min(len(a), len(b))
	for i := range n {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

var errEntry = errors.New("cache: decode entry: malformed")

// UnmarshalEntry decodes what Marshal wrote. A chunk stored whole aliases b; the others are
// rebuilt in one new buffer they share. A store shared between nodes (L2) may hold
// anything, so every length is checked.
func UnmarshalEntry(b []byte) (*Entry, error) {
	if len(b) < 2+32 || b[0] != entryVersion || b[1] > 1 {
		return nil, errEntry
	}
	e := &Entry{Stream: b[1] == 1}
	var price [4]float64
	for i := range price {
		price[i] = math.Float64frombits(binary.LittleEndian.Uint64(b[2+8*i:]))
		if math.IsNaN(price[i]) || math.IsInf(price[i], 0) {
			return nil, errEntry
		}
	}
	e.Price = llm.Price{Prompt: price[0], Completion: price[1], Request: price[2], CacheRead: price[3]}
	b = b[2+32:]
	uv := func() (uint64, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 {
			return 0, false
		}
		b = b[w:]
		return n, true
	}
	next := func() ([]byte, bool) {
		n, ok := uv()
		if !ok || n > uint64(len(b)) {
			return nil, false
		}
		v := b[:n:n]
		b = b[n:]
		return v, true
	}
	dropped, ok := uv()
	if !ok {
		return nil, errEntry
	}
	ttl, ok := uv()
	if !ok || ttl > uint64(MaxTTL/time.Millisecond) {
		return nil, errEntry
	}
	e.Dropped, e.TTL = llm.ParamSet(dropped), time.Duration(ttl)*time.Millisecond
	p, ok := next()
	if !ok {
		return nil, errEntry
	}
	m, ok := next()
	if !ok {
		return nil, errEntry
	}
	e.Provider, e.Model = string(p), string(m)
	count, ok := uv()
	if !ok || count > uint64(len(b)) {
		return nil, errEntry
	}
	// A first pass sizes the one buffer the chunks are rebuilt in; it also bounds what a
	// damaged entry can make us allocate.
	total, rest := uint64(0), b
	var prevLen uint64
	for range count {
		p, ok := uv()
		if !ok || p > prevLen {
			return nil, errEntry
		}
		suffix, ok := next()
		if !ok {
			return nil, errEntry
		}
		prevLen = p + uint64(len(suffix))
		if p > 0 {
			if total += prevLen; total > maxEntry {
				return nil, errEntry
			}
		}
	}
	if len(b) != 0 {
		return nil, errEntry
	}
	b = rest
	buf := make([]byte, 0, total)
	e.Chunks = make([][]byte, 0, count)
	var prev []byte
	for range count {
		p, _ := uv()
		suffix, _ := next()
		if p == 0 {
			prev = suffix
			e.Chunks = append(e.Chunks, prev)
			continue
		}
		start := len(buf)
		buf = append(buf, prev[:p]...)
		buf = append(buf, suffix...)
		prev = buf[start:len(buf):len(buf)]
		e.Chunks = append(e.Chunks, prev)
	}
	return e, nil
}

// maxEntry bounds a decoded entry: far above any answer a node stores, far below what a
// damaged length could ask for.
const maxEntry = 256 << 20
