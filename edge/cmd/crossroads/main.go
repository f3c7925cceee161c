// Command crossroads runs a Crossroads edge node: flags, signals and the configuration
// path go in, edge.New and Run do the work. No logic lives here.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/crossroads-llm/crossroads/edge"
	"github.com/crossroads-llm/crossroads/edge/wasmhost"
)

const usage = `crossroads: an LLM edge router with an OpenAI/OpenRouter-compatible API.

Usage:
  crossroads serve [--config FILE] [--data-dir DIR]   run the edge node
  crossroads plugin check FILE.wasm                   validate a WebAssembly plugin against ABI v1
  crossroads version                                  print the version
  crossroads help [serve]                             show help

With no --config, the node runs on its embedded default:
  https://127.0.0.1:8443   TLS over TCP (HTTP/1.1, HTTP/2) and UDP (HTTP/3), self-signed certificate
  http://127.0.0.1:8080    plain HTTP/1.1 and h2c, for local tools
  sim/... models           a built-in simulated provider: no keys, no network
  OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY, OPENROUTER_API_KEY, ...
                           each key in the environment turns on that provider's models
                           from the embedded catalog

Try it:
  curl -N http://127.0.0.1:8080/v1/chat/completions -H 'Content-Type: application/json' \
    -d '{"model":"sim/chat","stream":true,"messages":[{"role":"user","content":"hello"}]}'
`

const serveUsage = `Usage: crossroads serve [--config FILE] [--data-dir DIR]

Runs the edge node until SIGTERM or SIGINT, then drains in-flight requests for the
configured shutdown deadline (timeouts.shutdown, default 30s). A second signal stops at
once. SIGHUP re-reads the TLS certificate files, the configuration file and the catalog
file; changes to the configuration and catalog files are also picked up by themselves.

Flags:
`

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	switch args[0] {
	case "serve":
		return serve(args[1:], stdout, stderr)
	case "plugin":
		return plugin(args[1:], stdout, stderr)
	case "version", "--version", "-version":
		fmt.Fprintln(stdout, "crossroads", version)
		return 0
	case "help", "-h", "-help", "--help":
		if len(args) > 1 && args[1] == "serve" {
			return serve([]string{"--help"}, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return 0
	default:
		fmt.Fprintf(stderr, "crossroads: unknown command %q\n\n%s", args[0], usage)
		return 2
	}
}

func serve(args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	configPath := fs.String("config", "", "YAML configuration `file`; ${VAR} references are expanded from the environment (default: the embedded default)")
	dataDir := fs.String("data-dir", "", "`directory` for generated state such as the self-signed certificate (default: data_dir from the config, else ~/.local/share/crossroads)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), serveUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fs.SetOutput(stdout)
			fs.Usage()
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "crossroads serve: unexpected argument %q\n", fs.Arg(0))
		return 2
	}

	var cfg *edge.Config
	var err error
	if *configPath != "" {
		cfg, err = edge.LoadConfig(*configPath)
	} else {
		cfg, err = edge.DefaultConfig(os.LookupEnv)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	if *dataDir != "" {
		cfg.DataDir = *dataDir
	}
	node, err := edge.New(cfg, edge.WithConfigFile(*configPath))
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}

	ctx, stop := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	go func() {
		draining := false
		for sig := range sigs {
			switch {
			case sig == syscall.SIGHUP:
				if err := node.ReloadCert(); err != nil {
					fmt.Fprintln(stderr, "crossroads: reload certificate:", err)
				}
				if err := node.Reload(); err != nil {
					fmt.Fprintln(stderr, "crossroads:", err)
				}
			case draining:
				_ = node.Close()
			default:
				draining = true
				stop()
			}
		}
	}()
	err = node.Run(ctx)
	signal.Stop(sigs)
	stop()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}

const pluginUsage = `Usage: crossroads plugin check FILE.wasm

Validates a WebAssembly module against plugin ABI v1 (sdk/ABI.md): its exports and their
signatures, its imports, that it instantiates and answers plugin_info, and that fuel
metering can be injected into it, as the node does when it loads a plugin. Prints the
plugin's name, version and hooks; exits 1 with the reason when the module is refused.
`

func plugin(args []string, stdout, stderr io.Writer) int {
	if len(args) == 1 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help") {
		fmt.Fprint(stdout, pluginUsage)
		return 0
	}
	if len(args) != 2 || args[0] != "check" {
		fmt.Fprint(stderr, pluginUsage)
		return 2
	}
	wasm, err := os.ReadFile(args[1])
	if err != nil {
		fmt.Fprintln(stderr, "crossroads plugin check:", err)
		return 1
	}
	metered, err := wasmhost.Metered(wasm)
	if err != nil {
		fmt.Fprintf(stderr, "crossroads plugin check: %s: fuel metering cannot be injected: %v\n", args[1], err)
		return 1
	}
	info, err := wasmhost.Check(context.Background(), metered)
	if err != nil {
		fmt.Fprintf(stderr, "crossroads plugin check: %s: %v\n", args[1], err)
		return 1
	}
	fmt.Fprintf(stdout, "%s: ABI v1 plugin %q version %s (%d bytes)\n", args[1], info.Name, info.Version, len(wasm))
	if info.Description != "" {
		fmt.Fprintf(stdout, "  %s\n", info.Description)
	}
	fmt.Fprintf(stdout, "  hooks: %s\n", strings.Join(info.Hooks, ", "))
	return 0
}
