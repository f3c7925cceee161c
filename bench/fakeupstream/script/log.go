package script

import (
	"sync"
	"sync/atomic"
)

// Log records what a fake received, for tests to assert on. A fake embeds it, which gives
// the fake Calls, Requests and Last.
type Log[T any] struct {
	calls atomic.Int64
	mu    sync.Mutex
	rec   []T
}

// Count counts a request at the endpoint, whether or not it is then recorded.
func (l *Log[T]) Count() { l.calls.Add(1) }

// Record keeps one request.
func (l *Log[T]) Record(r T) {
	l.mu.Lock()
	l.rec = append(l.rec, r)
	l.mu.Unlock()
}

// Calls is the number of requests counted.
func (l *Log[T]) Calls() int { return int(l.calls.Load()) }

// Requests returns every recorded request, oldest first.
func (l *Log[T]) Requests() []T {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]T(nil), l.rec...)
}

// Last returns the most recent request; ok is false before the first one.
func (l *Log[T]) Last() (r T, ok bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.rec) == 0 {
		return r, false
	}
	return l.rec[len(l.rec)-1], true
}
