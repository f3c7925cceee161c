package cache

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// fly plays the upstream for a flight: n chunks, a little apart, then (if finish)
// Finish(err).
func fly(f *Flight, n int, gap time.Duration, err error, finish bool) {
	for range n {
		f.mu.Lock()
		i := len(f.chunks)
		f.mu.Unlock()
		f.Append([]byte(fmt.Sprintf(`{"i":%d}`, i)))
		time.Sleep(gap)
	}
	if finish {
		f.Finish(err)
	}
}

func readAll(ctx context.Context, r *FlightReader) ([]string, error) {
	var got []string
	for {
		c, err := r.Next(ctx)
		if err == io.EOF {
			return got, nil
		}
		if err != nil {
			return got, err
		}
		got = append(got, string(c))
	}
}

// TestHundredIdenticalStreams: 100 identical requests at once make one upstream call, and
// every one of them receives the same chunks in the same order, late joiners included.
func TestHundredIdenticalStreams(t *testing.T) {
	fs := NewFlights()
	var leaders atomic.Int32
	var joined, wg sync.WaitGroup
	joined.Add(100)
	results := make([]string, 100)
	for i := range 100 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if i >= 50 {
				time.Sleep(time.Duration(i%10) * time.Millisecond) // some join mid-flight
			}
			f, leader := fs.Join(k(1))
			joined.Done()
			if leader {
				leaders.Add(1)
				go func() {
					fly(f, 20, 200*time.Microsecond, nil, false)
					joined.Wait() // the flight outlasts every join, however slow the machine
					fly(f, 20, 200*time.Microsecond, nil, true)
				}()
			}
			got, err := readAll(context.Background(), f.Reader())
			if err != nil {
				t.Error(err)
			}
			results[i] = strings.Join(got, ",")
		}()
	}
	wg.Wait()
	if n := leaders.Load(); n != 1 {
		t.Fatalf("%d upstream calls for 100 identical requests, want 1", n)
	}
	want := results[0]
	if strings.Count(want, ",") != 39 {
		t.Fatalf("reader got %d chunks, want 40", strings.Count(want, ",")+1)
	}
	for i, r := range results {
		if r != want {
			t.Fatalf("reader %d got a different sequence:\n%s\nwant\n%s", i, r, want)
		}
	}
}

func TestFlightLateJoinerAndLifecycle(t *testing.T) {
	fs := NewFlights()
	f, leader := fs.Join(k(1))
	if !leader {
		t.Fatal("first request must lead")
	}
	for i := range 10 {
		f.Append([]byte(fmt.Sprint(i)))
	}
	late, leader := fs.Join(k(1))
	if leader || late != f || f.Joined() != 2 {
		t.Fatal("a request for the same key must join the running flight")
	}
	if other, leader := fs.Join(k(2)); !leader || other == f {
		t.Fatal("another key must start its own flight")
	}
	r := late.Reader()
	for i := range 10 { // what already arrived comes first, in order
		c, err := r.Next(context.Background())
		if err != nil || string(c) != fmt.Sprint(i) {
			t.Fatalf("late joiner chunk %d = %q, %v", i, c, err)
		}
	}
	if r.Buffered() {
		t.Fatal("Buffered with nothing left to read")
	}
	go func() { time.Sleep(5 * time.Millisecond); f.Append([]byte("live")); f.Finish(nil) }()
	if c, err := r.Next(context.Background()); err != nil || string(c) != "live" {
		t.Fatalf("live chunk = %q, %v", c, err)
	}
	if _, err := r.Next(context.Background()); err != io.EOF {
		t.Fatalf("end of a complete flight: %v", err)
	}
	if chunks, done, err := f.Chunks(); !done || err != nil || len(chunks) != 11 {
		t.Fatalf("recorded %d chunks, done %v, err %v", len(chunks), done, err)
	}
	if _, leader := fs.Join(k(1)); !leader {
		t.Fatal("after a flight finishes, the next request starts a new one")
	}
}

func TestFlightReaderGoesAway(t *testing.T) {
	fs := NewFlights()
	f, _ := fs.Join(k(1))
	g, _ := fs.Join(k(1))
	ctx, cancel := context.WithCancel(context.Background())
	quitter, stayer := f.Reader(), g.Reader()
	go func() { time.Sleep(5 * time.Millisecond); cancel() }()
	if _, err := quitter.Next(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("a cancelled reader: %v", err)
	}
	go fly(f, 5, 0, nil, true) // the call goes on without the reader that left
	got, err := readAll(context.Background(), stayer)
	if err != nil || len(got) != 5 {
		t.Fatalf("the other reader got %v, %v", got, err)
	}
}

func TestFlightFailure(t *testing.T) {
	fs := NewFlights()
	f, _ := fs.Join(k(1))
	boom := errors.New("upstream 503")
	go fly(f, 3, 0, boom, true)
	got, err := readAll(context.Background(), f.Reader())
	if !errors.Is(err, boom) || len(got) != 3 {
		t.Fatalf("got %v, %v; want 3 chunks then the upstream's error", got, err)
	}
	f.Append([]byte("after")) // ignored: the flight is over
	if chunks, _, _ := f.Chunks(); len(chunks) != 3 {
		t.Fatalf("a finished flight took another chunk: %d", len(chunks))
	}
}
