// Package sse owns the server-sent events wire format in both directions: a Decoder that
// reads an upstream's event stream without allocating per event, and append-style encoders
// for the events the node writes to its clients.
//
// The decoder follows the WHATWG event-stream grammar: LF, CR and CRLF line endings, comment
// lines starting with ':', `data` lines joined with '\n', an optional single space after the
// colon, and events dispatched on a blank line. It tells its caller whether another complete
// event is already buffered, so a relay can flush exactly once per upstream read.
package sse

import (
	"bytes"
	"errors"
	"io"
)

var lflf = []byte("\n\n")

// DefaultMaxEvent bounds the size of one event. A chunk carrying a large tool-call argument
// or an inline image can reach megabytes; anything past this is an upstream gone wrong.
const DefaultMaxEvent = 16 << 20

// ErrEventTooLarge is returned when an event grows past the decoder's limit.
var ErrEventTooLarge = errors.New("sse: event too large")

// Decoder reads events from an upstream stream. It is used by one goroutine.
type Decoder struct {
	r       io.Reader
	buf     []byte
	start   int // first unread byte
	end     int // end of read bytes
	data    []byte
	event   []byte
	hasData bool
	// dispatched is set once an event was returned, so its event type is cleared lazily
	// and Event still reports it until the next call.
	dispatched bool
	skipLF     bool // the previous line ended with CR, so a leading LF belongs to it
	err        error
	maxEvent   int
}

// NewDecoder reads events from r using buf as its initial read buffer (4 KiB if nil). The
// buffer grows, up to DefaultMaxEvent, only when a single line does not fit.
func NewDecoder(r io.Reader, buf []byte) *Decoder {
	if len(buf) == 0 {
		buf = make([]byte, 4096)
	}
	return &Decoder{r: r, buf: buf, maxEvent: DefaultMaxEvent}
}

// Reset makes d read from r, keeping its buffers.
func (d *Decoder) Reset(r io.Reader) {
	*d = Decoder{r: r, buf: d.buf, data: d.data[:0], event: d.event[:0], maxEvent: d.maxEvent}
}

// SetMaxEvent changes the largest event accepted.
func (d *Decoder) SetMaxEvent(n int) { d.maxEvent = n }

// Next returns the data of the next event that has any. The slice is valid until the next
// call. Comments, and events without data lines, are skipped. At the end of the stream Next
// returns io.EOF; a read error is returned as is. A final event not ended by a blank line is
// still returned if its last line was complete, since some upstreams end the stream that way.
func (d *Decoder) Next() ([]byte, error) {
	if d.dispatched {
		d.dispatched = false
		d.event = d.event[:0]
	}
	for {
		if ev, ok := d.parse(); ok {
			return ev, nil
		}
		if d.err != nil {
			if d.err == io.EOF && d.hasData {
				d.hasData = false
				d.dispatched = true
				return d.data, nil
			}
			return nil, d.err
		}
		if err := d.fill(); err != nil {
			d.err = err
		}
	}
}

// Event returns the `event:` field of the event Next returned last, empty when it had none.
func (d *Decoder) Event() []byte { return d.event }

// Buffered reports whether a complete event is already in the buffer, so Next will not read.
func (d *Decoder) Buffered() bool {
	w := d.buf[d.start:d.end]
	// The common framing is LF only: then an event is complete exactly when a blank line
	// (two LFs, or one at the very start) is buffered, which a vectorised search finds.
	if bytes.IndexByte(w, '\r') < 0 && !d.skipLF {
		return len(w) > 0 && w[0] == '\n' || bytes.Index(w, lflf) >= 0
	}
	skipLF := d.skipLF
	lineEmpty := true
	for i := 0; i < len(w); i++ {
		switch w[i] {
		case '\n':
			if skipLF {
				skipLF = false
				continue
			}
			if lineEmpty {
				return true
			}
			lineEmpty = true
		case '\r':
			if lineEmpty {
				return true
			}
			lineEmpty = true
			skipLF = true
		default:
			skipLF = false
			lineEmpty = false
		}
	}
	return false
}

// parse consumes complete lines from the buffer and reports an event once a blank line ends one.
func (d *Decoder) parse() ([]byte, bool) {
	for d.start < d.end {
		w := d.buf[d.start:d.end]
		if d.skipLF {
			d.skipLF = false
			if w[0] == '\n' {
				d.start++
				continue
			}
		}
		n := bytes.IndexByte(w, '\n')
		line := w
		if n >= 0 {
			line = w[:n]
		}
		if cr := bytes.IndexByte(line, '\r'); cr >= 0 {
			line = w[:cr]
			d.start += cr + 1
			d.skipLF = true
		} else if n >= 0 {
			d.start += n + 1
		} else {
			return nil, false // incomplete line
		}
		if ev, ok := d.line(line); ok {
			return ev, true
		}
	}
	return nil, false
}

// line handles one complete line.
func (d *Decoder) line(line []byte) ([]byte, bool) {
	if len(line) == 0 {
		if d.hasData {
			d.hasData = false
			d.dispatched = true
			return d.data, true
		}
		d.event = d.event[:0]
		return nil, false
	}
	if line[0] == ':' {
		return nil, false
	}
	field, value := line, []byte(nil)
	if c := bytes.IndexByte(line, ':'); c >= 0 {
		field, value = line[:c], line[c+1:]
		if len(value) > 0 && value[0] == ' ' {
			value = value[1:]
		}
	}
	switch string(field) {
	case "data":
		if !d.hasData {
			d.hasData = true
			d.data = d.data[:0]
		} else {
			d.data = append(d.data, '\n')
		}
		d.data = append(d.data, value...)
	case "event":
		d.event = append(d.event[:0], value...)
	}
	return nil, false
}

// fill reads more bytes, compacting or growing the buffer as needed.
func (d *Decoder) fill() error {
	if d.start > 0 {
		n := copy(d.buf, d.buf[d.start:d.end])
		d.start, d.end = 0, n
	}
	if d.end == len(d.buf) {
		if len(d.buf) >= d.maxEvent {
			return ErrEventTooLarge
		}
		nb := make([]byte, min(2*len(d.buf), d.maxEvent))
		copy(nb, d.buf[:d.end])
		d.buf = nb
	}
	if len(d.data) > d.maxEvent {
		return ErrEventTooLarge
	}
	for range 100 {
		n, err := d.r.Read(d.buf[d.end:])
		d.end += n
		if n > 0 {
			return nil
		}
		if err != nil {
			return err
		}
	}
	return io.ErrNoProgress
}

// Done is the payload that ends an OpenAI-style stream.
var Done = []byte("[DONE]")

// IsDone reports whether data is the [DONE] sentinel.
func IsDone(data []byte) bool { return string(data) == "[DONE]" }

// AppendData appends payload as one `data:` event. A payload holding line breaks is split
// over several data lines, as the format requires, so a decoder rebuilds it exactly.
func AppendData(dst, payload []byte) []byte {
	for {
		i := bytes.IndexAny(payload, "\r\n")
		if i < 0 {
			break
		}
		dst = append(dst, "data: "...)
		dst = append(dst, payload[:i]...)
		dst = append(dst, '\n')
		if payload[i] == '\r' && i+1 < len(payload) && payload[i+1] == '\n' {
			i++
		}
		payload = payload[i+1:]
	}
	dst = append(dst, "data: "...)
	dst = append(dst, payload...)
	return append(dst, '\n', '\n')
}

// AppendComment appends a comment line, which clients ignore and proxies see as traffic.
func AppendComment(dst []byte, text string) []byte {
	dst = append(dst, ':', ' ')
	dst = append(dst, text...)
	return append(dst, '\n', '\n')
}

// AppendDone appends the [DONE] event.
func AppendDone(dst []byte) []byte { return append(dst, "data: [DONE]\n\n"...) }
