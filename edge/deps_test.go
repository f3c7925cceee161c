package edge_test

import (
	"os/exec"
	"strings"
	"testing"
)

const mod = "github.com/crossroads-llm/crossroads"

// TestImportRules enforces DESIGN.md §1's import rules on the transitive (non-test)
// dependencies of every package, as `go list -deps` reports them, so a rule broken deep
// in a chain fails here rather than in review.
func TestImportRules(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{join .Imports " "}}|{{join .Deps " "}}`, mod+"/...").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("go list: %v\n%s", err, stderr)
	}
	deps := map[string][]string{}    // transitive
	imports := map[string][]string{} // direct
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Split(line, "|")
		if len(f) != 3 {
			t.Fatalf("go list printed %q, want path|imports|deps", line)
		}
		imports[f[0]] = strings.Fields(f[1])
		deps[f[0]] = strings.Fields(f[2])
	}
	if len(deps) < 10 {
		t.Fatalf("go list saw only %d packages", len(deps))
	}
	ours := func(p string) bool { return strings.HasPrefix(p, mod+"/") }
	has := func(list []string, pred func(string) bool) string {
		for _, d := range list {
			if pred(d) {
				return d
			}
		}
		return ""
	}
	is := func(prefix string) func(string) bool {
		return func(p string) bool { return p == prefix || strings.HasPrefix(p, prefix+"/") }
	}
	type rule struct {
		name    string
		applies func(pkg string) bool
		bad     func(dep string) bool
		direct  bool // only direct imports count: the rule names who may import, not who may depend
	}
	rules := []rule{
		{"llm imports nothing of ours", is(mod + "/edge/internal/llm"), ours, false},
		{"jsonx, sse and pool are leaves", func(p string) bool {
			return is(mod+"/edge/internal/jsonx")(p) || is(mod+"/edge/internal/sse")(p) || is(mod+"/edge/internal/pool")(p)
		}, ours, false},
		{"config imports no runtime package", is(mod + "/edge/internal/config"), ours, false},
		{"telemetry imports no other edge package", is(mod + "/edge/internal/telemetry"), ours, false},
		{"server never imports httpapi, pipeline or anything of ours", is(mod + "/edge/internal/server"), ours, false},
		{"httpapi does not reach providers, transports or the sandbox", is(mod + "/edge/internal/httpapi"), func(d string) bool {
			return is(mod+"/edge/internal/provider")(d) || is("github.com/quic-go/quic-go")(d) ||
				is("github.com/tetratelabs/wazero")(d) || is(mod+"/edge/wasmhost")(d) || is(mod+"/edge/internal/server")(d)
		}, false},
		{"only wasmhost imports wazero", func(p string) bool { return !is(mod + "/edge/wasmhost")(p) }, is("github.com/tetratelabs/wazero"), true},
		// Clients (examples, the load generator, test helpers) may use quic-go's HTTP/3
		// client; inside the node only server touches QUIC.
		{"only server imports quic-go within the node", func(p string) bool {
			return is(mod+"/edge")(p) && !is(mod+"/edge/internal/server")(p) && !is(mod+"/edge/internal/edgetest")(p)
		}, is("github.com/quic-go/quic-go"), true},
		{"nothing under edge/internal imports edge", is(mod + "/edge/internal"), func(d string) bool { return d == mod+"/edge" }, false},
		{"only tests import edgetest", func(p string) bool { return !is(mod + "/edge/internal/edgetest")(p) }, is(mod + "/edge/internal/edgetest"), false},
		{"plugins import only sdk", is(mod + "/plugins"), func(d string) bool { return ours(d) && !is(mod+"/sdk")(d) }, false},
		{"bench does not reach edge internals", is(mod + "/bench"), is(mod + "/edge/internal"), false},
	}
	for _, r := range rules {
		set := deps
		if r.direct {
			set = imports
		}
		for pkg, list := range set {
			if !r.applies(pkg) {
				continue
			}
			if d := has(list, r.bad); d != "" {
				t.Errorf("%s: %s imports %s", r.name, pkg, d)
			}
		}
	}
}

// TestPackageDocs requires a package comment, saying what the package owns, everywhere.
func TestPackageDocs(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list over the module")
	}
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}}|{{.Doc}}`, mod+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		pkg, doc, _ := strings.Cut(line, "|")
		if strings.TrimSpace(doc) == "" {
			t.Errorf("%s has no package doc comment", pkg)
		}
	}
}
