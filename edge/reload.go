package edge

import (
	"context"
	"os"
	"sync"
	"time"
)

// fileWatch notices changes to the configuration and catalog files by their size and
// modification time. Polling a handful of files every few seconds costs nothing and, unlike
// inotify, also sees files replaced through a symlink swap (Kubernetes ConfigMaps).
type fileWatch struct {
	mu    sync.Mutex
	files map[string]fileStamp
}

type fileStamp struct {
	mod  time.Time
	size int64
}

func newFileWatch(paths ...string) *fileWatch {
	w := &fileWatch{}
	w.update(paths...)
	return w
}

// update records the current state of the watched files (after a reload read them).
func (w *fileWatch) update(paths ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.files = map[string]fileStamp{}
	for _, p := range paths {
		if p != "" {
			w.files[p] = stamp(p)
		}
	}
}

// changed reports whether any watched file differs from what update recorded.
func (w *fileWatch) changed() bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, s := range w.files {
		if stamp(p) != s {
			return true
		}
	}
	return false
}

func stamp(path string) fileStamp {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}
	}
	return fileStamp{fi.ModTime(), fi.Size()}
}

// watchFiles reloads the node when its files change, until ctx ends.
func (n *Node) watchFiles(ctx context.Context, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if !n.watch.changed() {
				continue
			}
			if err := n.Reload(); err != nil {
				// Keep the old generation and stop retrying the same broken file every tick.
				n.log.Error("configuration reload failed; still serving the previous configuration", "err", err)
				n.watch.update(n.cfgFile, n.gen.Load().cfg.CatalogFile)
			}
		}
	}
}
