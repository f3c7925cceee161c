package edge

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/crossroads-llm/crossroads/edge/internal/cache"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/redisstore"
	"github.com/crossroads-llm/crossroads/edge/internal/catalog"
	"github.com/crossroads-llm/crossroads/edge/internal/config"
)

// newCache builds the prompt cache's stores from the configuration; nil when it is off.
func newCache(cfg *Config, log *slog.Logger) (*cache.Cache, error) {
	cc := cfg.Cache
	if !config.Enabled(cc.Enabled) {
		return nil, nil
	}
	l1, err := cache.NewMemory(cache.MemoryConfig{Budget: int64(cc.MaxBytes), CompressAbove: int(cc.CompressAbove)})
	if err != nil {
		return nil, fmt.Errorf("edge: cache: %w", err)
	}
	return cache.New(cache.Config{L1: l1, Log: log}), nil
}

// l2Retry is how often a node without its shared store tries to connect it.
var l2Retry = 10 * time.Second

// startL2 connects the shared Redis store when one is configured. A node starts without it
// when Redis does not answer (a PoP's cache must not take its nodes down) and keeps trying
// in the background until it connects or the node closes; embedded nodes, which never Run,
// too.
func (n *Node) startL2() {
	if n.cache == nil || n.cfg.Cache.Redis.URL == "" {
		return
	}
	redisstore.SetLogger(n.log)
	n.connectL2()
	if n.cache.L2() != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	n.l2Stop = cancel
	go every(ctx, l2Retry, func() {
		if n.connectL2(); n.cache.L2() != nil {
			cancel()
		}
	})
}

// connectL2 attaches the shared Redis store when one is configured and not yet attached.
func (n *Node) connectL2() {
	rc := n.cfg.Cache.Redis
	if n.cache == nil || rc.URL == "" || n.cache.L2() != nil {
		return
	}
	n.l2Mu.Lock()
	defer n.l2Mu.Unlock()
	if n.l2Closed || n.cache.L2() != nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), max(4*rc.Timeout.D(), time.Second))
	defer cancel()
	t := rc.Timeout.D()
	s, err := redisstore.New(ctx, redisstore.Config{URL: rc.URL, Prefix: rc.Prefix, DialTimeout: 2 * t, ReadTimeout: t,
		WriteTimeout: t, CompressAbove: int(n.cfg.Cache.CompressAbove)})
	if err != nil {
		if !n.l2Warned {
			n.log.Warn("cache: shared store unreachable; serving from the in-process cache until it answers", "err", err)
			n.l2Warned = true
		}
		return
	}
	n.l2 = s
	n.cache.SetL2(s)
	n.log.Info("cache: shared store connected", "prefix", rc.Prefix)
}

// closeL2 detaches and closes the shared store.
func (n *Node) closeL2() {
	n.l2Mu.Lock()
	defer n.l2Mu.Unlock()
	n.l2Closed = true
	if n.l2Stop != nil {
		n.l2Stop()
	}
	if n.l2 != nil {
		n.cache.SetL2(nil)
		_ = n.l2.Close()
		n.l2 = nil
	}
}

// cacheStage is the cache's per-generation configuration: the catalog that resolves model
// ids, the rules, and a hold on the generation for upstream calls that outlive their request.
func cacheStage(cfg *Config, cat *catalog.Catalog, refs *genRefs) cache.StageConfig {
	cc := cfg.Cache
	rules := make([]cache.Rule, 0, len(cc.Rules))
	for _, r := range cc.Rules {
		mode := cache.ModeAuto
		switch r.Mode {
		case "always":
			mode = cache.ModeAlways
		case "off":
			mode = cache.ModeOff
		}
		rules = append(rules, cache.Rule{Models: r.Models, Keys: r.Keys, Mode: mode, TTL: r.TTL.D()})
	}
	return cache.StageConfig{
		Resolve: func(id string) (string, bool) {
			m, variant, ok := cat.ResolveVariant(id)
			if !ok {
				return "", false
			}
			if variant != "" {
				return m.ID + ":" + variant, true
			}
			return m.ID, true
		},
		Rules: rules, Shared: cc.Shared, TTL: cc.TTL.D(), MaxEntryBytes: int(cc.MaxEntryBytes),
		// The request that starts a shared call holds the generation; the call may outlive
		// it, and must keep its plugins open until it ends.
		Hold: func() func() {
			refs.n.Add(1)
			return refs.done
		},
	}
}

// account receives every usage record: the cache counts what it saved, and the embedder's
// sink gets the record.
func (n *Node) account(rec *UsageRecord) {
	if n.cache != nil && rec.Cache.Served() {
		n.cache.Saved(rec.Usage, rec.SavedUSD)
	}
	if n.usage != nil {
		n.usage(rec)
	}
}
