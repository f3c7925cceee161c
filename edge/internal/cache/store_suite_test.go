package cache_test

import (
	"testing"

	"github.com/crossroads-llm/crossroads/edge/internal/cache"
	"github.com/crossroads-llm/crossroads/edge/internal/cache/storetest"
)

// TestStoreSuite holds the in-process L1 to the contract every Store keeps.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) cache.Store {
		m, err := cache.NewMemory(cache.MemoryConfig{})
		if err != nil {
			t.Fatal(err)
		}
		return m
	})
}
