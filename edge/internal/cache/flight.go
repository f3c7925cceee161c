package cache

import (
	"context"
	"errors"
	"io"
	"sync"

	"github.com/crossroads-llm/crossroads/edge/internal/llm"
)

// Flights coalesces identical requests in flight: the first request for a key starts one
// upstream call (a Flight), and every request for the same key while it runs reads that
// flight's chunks instead of calling upstream itself. Readers get every chunk in order; one
// that joins late first gets what already arrived, then the live chunks. The flight does not
// belong to any reader: a reader that goes away stops reading, the call goes on for the
// others (and for the cache).
type Flights struct {
	mu      sync.Mutex
	flights map[Key]*Flight
}

// NewFlights returns an empty set of flights.
func NewFlights() *Flights { return &Flights{flights: map[Key]*Flight{}} }

// Join returns the flight for k and whether the caller must fly it: a leader runs the
// upstream call and feeds the flight with Append and Finish; everyone (the leader included)
// reads it through a Reader.
func (fs *Flights) Join(k Key) (f *Flight, leader bool) {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	if f, ok := fs.flights[k]; ok {
		f.mu.Lock()
		f.joined++
		f.readers++
		f.mu.Unlock()
		return f, false
	}
	f = &Flight{fs: fs, key: k, wake: make(chan struct{}), joined: 1, readers: 1}
	fs.flights[k] = f
	return f, true
}

// solo returns a flight for k that no other request joins (a caller that wants a fresh
// answer, not a shared one).
func (fs *Flights) solo(k Key) *Flight {
	return &Flight{fs: fs, key: k, wake: make(chan struct{}), joined: 1, readers: 1}
}

// InFlight is the number of flights running.
func (fs *Flights) InFlight() int {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return len(fs.flights)
}

// Flight is one upstream call shared by identical requests.
type Flight struct {
	fs  *Flights
	key Key

	mu     sync.Mutex
	chunks [][]byte
	done   bool
	err    error
	wake   chan struct{} // closed and replaced on every change
	joined int
	// head describes the answer once the upstream produced one (Begin).
	head *Head
	// readers are the requests still reading; when the last one leaves, abandon runs.
	readers int
	abandon func()
}

// Head describes a flight's answer, known when the upstream starts answering: who answers,
// and whether the chunks are a stream's events or one chat.completion body.
type Head struct {
	Stream          bool
	Provider, Model string
	Route           string
	Dropped         llm.ParamSet
	Price           llm.Price
}

// Begin publishes the answer's head: readers waiting in Head go on.
func (f *Flight) Begin(h Head) {
	f.mu.Lock()
	if f.head == nil && !f.done {
		f.head = &h
		f.signal()
	}
	f.mu.Unlock()
}

// OnAbandon sets what runs when every reader has closed before the flight finished (the
// leader cancels the upstream call unless it still wants the answer for the cache).
func (f *Flight) OnAbandon(fn func()) {
	f.mu.Lock()
	f.abandon = fn
	f.mu.Unlock()
}

// Joined is how many requests share the flight.
func (f *Flight) Joined() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.joined
}

// Append publishes a chunk (a streamed event, or a whole non-streamed body). The flight
// keeps its own copy.
func (f *Flight) Append(chunk []byte) {
	c := append([]byte(nil), chunk...)
	f.mu.Lock()
	if !f.done {
		f.chunks = append(f.chunks, c)
		f.signal()
	}
	f.mu.Unlock()
}

// Finish ends the flight: err nil means complete. Requests arriving from now on start a new
// flight (or hit the cache); readers of this one drain what it recorded, then see err.
func (f *Flight) Finish(err error) {
	f.fs.mu.Lock()
	if f.fs.flights[f.key] == f {
		delete(f.fs.flights, f.key)
	}
	f.fs.mu.Unlock()
	f.mu.Lock()
	if !f.done {
		f.done, f.err = true, err
		f.signal()
	}
	f.mu.Unlock()
}

func (f *Flight) signal() {
	close(f.wake)
	f.wake = make(chan struct{})
}

// Chunks returns what the flight recorded and how it ended, once it finished; done is false
// before.
func (f *Flight) Chunks() (chunks [][]byte, done bool, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.chunks, f.done, f.err
}

// Reader reads a flight from its first chunk. Each request that joined reads through one
// reader and closes it.
func (f *Flight) Reader() *FlightReader { return &FlightReader{f: f} }

// FlightReader is one request's cursor over a flight. It is used by one goroutine.
type FlightReader struct {
	f      *Flight
	next   int
	closed bool
}

// errNoHead is what a reader sees of a flight that finished cleanly without an answer,
// which only a broken leader can cause.
var errNoHead = errors.New("cache: the shared upstream call ended without an answer")

// Head waits for the answer's head. A flight that failed first returns its error.
func (r *FlightReader) Head(ctx context.Context) (Head, error) {
	for {
		f := r.f
		f.mu.Lock()
		if f.head != nil {
			h := *f.head
			f.mu.Unlock()
			return h, nil
		}
		if f.done {
			err := f.err
			f.mu.Unlock()
			if err == nil {
				err = errNoHead
			}
			return Head{}, err
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return Head{}, ctx.Err()
		}
	}
}

// Close says this reader is done. When every reader is, and the flight still runs, its
// abandon function runs.
func (r *FlightReader) Close() {
	if r.closed {
		return
	}
	r.closed = true
	f := r.f
	// Join's lock order: an abandoned flight leaves the set before anyone can join it, so a
	// newcomer starts a call of its own rather than inheriting a cancelled one.
	f.fs.mu.Lock()
	f.mu.Lock()
	f.readers--
	var abandon func()
	if f.readers == 0 && !f.done && f.abandon != nil {
		abandon = f.abandon
		if f.fs.flights[f.key] == f {
			delete(f.fs.flights, f.key)
		}
	}
	f.mu.Unlock()
	f.fs.mu.Unlock()
	if abandon != nil {
		abandon()
	}
}

// Next returns the next chunk, waiting for it if it has not arrived. At the end of a
// complete flight it returns io.EOF; of a failed one, the flight's error. A cancelled ctx
// stops only this reader.
func (r *FlightReader) Next(ctx context.Context) ([]byte, error) {
	for {
		f := r.f
		f.mu.Lock()
		if r.next < len(f.chunks) {
			c := f.chunks[r.next]
			r.next++
			f.mu.Unlock()
			return c, nil
		}
		if f.done {
			err := f.err
			f.mu.Unlock()
			if err == nil {
				err = io.EOF
			}
			return nil, err
		}
		wake := f.wake
		f.mu.Unlock()
		select {
		case <-wake:
		case <-ctx.Done():
			return nil, ctx.Err()
		}
	}
}

// Buffered reports whether Next can return without waiting.
func (r *FlightReader) Buffered() bool {
	r.f.mu.Lock()
	defer r.f.mu.Unlock()
	return r.next < len(r.f.chunks) || r.f.done
}
