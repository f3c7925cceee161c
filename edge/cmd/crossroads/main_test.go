package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRun(t *testing.T) {
	bad := filepath.Join(t.TempDir(), "bad.yaml")
	if err := os.WriteFile(bad, []byte("providers:\n- name: x\n  base_url: nope\n  models: [{id: a}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		args   []string
		code   int
		stdout string
		stderr string
	}{
		{"no args", nil, 2, "", "Usage:"},
		{"help", []string{"--help"}, 0, "crossroads serve [--config FILE] [--data-dir DIR]", ""},
		{"serve help documents every flag", []string{"serve", "--help"}, 0, "-data-dir", ""},
		{"serve help mentions config", []string{"help", "serve"}, 0, "-config file", ""},
		{"version", []string{"version"}, 0, "crossroads", ""},
		{"unknown command", []string{"launch"}, 2, "", `unknown command "launch"`},
		{"unknown flag", []string{"serve", "--port", "1"}, 2, "", "flag provided but not defined"},
		{"stray argument", []string{"serve", "extra"}, 2, "", `unexpected argument "extra"`},
		{"missing config", []string{"serve", "--config", "/nonexistent.yaml"}, 1, "", "config: read"},
		{"invalid config names the field", []string{"serve", "--config", bad}, 1, "", "providers[0].base_url"},
		{"plugin check, good module", []string{"plugin", "check", "../../wasmhost/testdata/echo.wasm"}, 0, `ABI v1 plugin "echo" version 1.0.0`, ""},
		{"plugin check names the wrong export", []string{"plugin", "check", "../../wasmhost/testdata/abi_bad_hook.wasm"}, 1, "", "export hook_route has signature"},
		{"plugin check refuses self-metering", []string{"plugin", "check", "../../wasmhost/testdata/misbehave.wasm"}, 1, "", "fuel metering cannot be injected"},
		{"plugin check, not wasm", []string{"plugin", "check", bad}, 1, "", "fuel metering cannot be injected"},
		{"plugin check, missing file", []string{"plugin", "check", "/nonexistent.wasm"}, 1, "", "no such file"},
		{"plugin usage", []string{"plugin"}, 2, "", "crossroads plugin check FILE.wasm"},
		{"plugin help", []string{"plugin", "--help"}, 0, "Validates a WebAssembly module", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errb strings.Builder
			code := run(tt.args, &out, &errb)
			if code != tt.code || !strings.Contains(out.String(), tt.stdout) || !strings.Contains(errb.String(), tt.stderr) {
				t.Fatalf("run(%q) = %d\nstdout: %s\nstderr: %s", tt.args, code, out.String(), errb.String())
			}
		})
	}
}
