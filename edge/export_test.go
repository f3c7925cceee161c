package edge

import "time"

// SetL2Retry shortens the shared store's reconnect period for a test.
func SetL2Retry(t interface{ Cleanup(func()) }, d time.Duration) {
	old := l2Retry
	l2Retry = d
	t.Cleanup(func() { l2Retry = old })
}
