package storetest

import (
	"testing"

	"github.com/crossroads-llm/crossroads/edge/internal/cache"
)

// The hammer trusts checkHammerValue to see a wrong or damaged value; it must.
func TestCheckHammerValue(t *testing.T) {
	k, other := RandomKey(), RandomKey()
	good := hammerValue(k, 42, 4096)
	damage := func(f func(v []byte) []byte) []byte { return f(append([]byte(nil), good...)) }
	tests := []struct {
		name string
		key  cache.Key
		val  []byte
		ok   bool
	}{
		{"intact", k, good, true},
		{"intact, empty payload", k, hammerValue(k, 7, 0), true},
		{"other key's value", other, good, false},
		{"byte flipped in payload", k, damage(func(v []byte) []byte { v[len(v)-1] ^= 1; return v }), false},
		{"seed changed", k, damage(func(v []byte) []byte { v[len(k)] ^= 1; return v }), false},
		{"truncated", k, good[:len(good)-8], false},
		{"extended", k, append(good[:len(good):len(good)], 0), false},
		{"too short", k, good[:10], false},
		{"empty", k, nil, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := checkHammerValue(tc.key, tc.val); (err == nil) != tc.ok {
				t.Fatalf("checkHammerValue = %v, want ok %v", err, tc.ok)
			}
		})
	}
}

func TestRandomKey(t *testing.T) {
	seen := map[cache.Key]bool{}
	for range 1000 {
		k := RandomKey()
		if seen[k] || k == (cache.Key{}) {
			t.Fatalf("RandomKey repeated or zero: %x", k)
		}
		seen[k] = true
	}
}
