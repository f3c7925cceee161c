package cache

import (
	"encoding/binary"
	"errors"
)

// Entry is a cached answer in the form it arrived in: the chunks of a stream (Stream true),
// or one chat.completion body. Usage, finish reasons and tool calls are inside them, so a
// replay is the original, byte for byte, apart from the id the node gives each response.
type Entry struct {
	Stream bool
	Chunks [][]byte
	// Provider and Model name who answered originally, for the response and the usage record.
	Provider, Model string
}

const entryVersion = 1

// Marshal encodes an entry for a Store: a version byte, flags, then length-prefixed strings
// and chunks. Binary rather than JSON because chunks are JSON already and a hit should not
// re-escape them.
func (e *Entry) Marshal() []byte {
	n := 16 + len(e.Provider) + len(e.Model)
	for _, c := range e.Chunks {
		n += 4 + len(c)
	}
	b := make([]byte, 0, n)
	flags := byte(0)
	if e.Stream {
		flags = 1
	}
	b = append(b, entryVersion, flags)
	b = binary.AppendUvarint(b, uint64(len(e.Provider)))
	b = append(b, e.Provider...)
	b = binary.AppendUvarint(b, uint64(len(e.Model)))
	b = append(b, e.Model...)
	b = binary.AppendUvarint(b, uint64(len(e.Chunks)))
	for _, c := range e.Chunks {
		b = binary.AppendUvarint(b, uint64(len(c)))
		b = append(b, c...)
	}
	return b
}

var errEntry = errors.New("cache: decode entry: malformed")

// UnmarshalEntry decodes what Marshal wrote. Chunks alias b. A store shared between nodes
// (L2) may hold anything, so every length is checked.
func UnmarshalEntry(b []byte) (*Entry, error) {
	if len(b) < 2 || b[0] != entryVersion || b[1] > 1 {
		return nil, errEntry
	}
	e := &Entry{Stream: b[1] == 1}
	b = b[2:]
	next := func() ([]byte, bool) {
		n, w := binary.Uvarint(b)
		if w <= 0 || n > uint64(len(b)-w) {
			return nil, false
		}
		v := b[w : w+int(n) : w+int(n)]
		b = b[w+int(n):]
		return v, true
	}
	p, ok := next()
	if !ok {
		return nil, errEntry
	}
	m, ok := next()
	if !ok {
		return nil, errEntry
	}
	e.Provider, e.Model = string(p), string(m)
	count, w := binary.Uvarint(b)
	if w <= 0 || count > uint64(len(b)) {
		return nil, errEntry
	}
	b = b[w:]
	e.Chunks = make([][]byte, 0, count)
	for range count {
		c, ok := next()
		if !ok {
			return nil, errEntry
		}
		e.Chunks = append(e.Chunks, c)
	}
	if len(b) != 0 {
		return nil, errEntry
	}
	return e, nil
}
