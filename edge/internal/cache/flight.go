package cache

import (
	"context"
	"io"
	"sync"
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
		f.mu.Unlock()
		return f, false
	}
	f = &Flight{fs: fs, key: k, wake: make(chan struct{}), joined: 1}
	fs.flights[k] = f
	return f, true
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

// Reader reads a flight from its first chunk.
func (f *Flight) Reader() *FlightReader { return &FlightReader{f: f} }

// FlightReader is one request's cursor over a flight. It is used by one goroutine.
type FlightReader struct {
	f    *Flight
	next int
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
