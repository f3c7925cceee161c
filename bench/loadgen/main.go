// Command loadgen owns load generation for the Crossroads benchmarks: OpenAI
// chat requests over HTTP/1.1, HTTP/2 (TLS or h2c) and HTTP/3, closed loop
// (N workers) or open loop (fixed send grid), with latency percentiles, stream
// timings (TTFT, inter-chunk gaps) and the target process's CPU and RSS read
// from /proc. It shares the machine's two cores with the target, so the hot
// path reuses buffers and validates bodies without decoding them.
//
// With -report FILE it instead turns the JSON result lines written by
// bench/run.sh into the markdown report.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

type options struct {
	url         string
	proto       string
	bodyFile    string
	model       string
	user        string
	stream      bool
	usage       bool
	c           int
	rate        float64
	maxInflight int
	d           time.Duration
	n           int64
	warmup      time.Duration
	drain       time.Duration
	conns       int
	ca          string
	insecure    bool
	headers     headerFlag
	pid         int
	label       string
	scenario    string
	round       int
	validate    bool
	jsonOut     bool
	md          bool
	mdHeader    bool
	report      string
}

type headerFlag [][2]string

func (h *headerFlag) String() string { return fmt.Sprint(*h) }

func (h *headerFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, ":")
	if !ok || strings.TrimSpace(k) == "" {
		return errors.New("want 'Name: value'")
	}
	*h = append(*h, [2]string{strings.TrimSpace(k), strings.TrimSpace(val)})
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("loadgen", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.url, "url", "", "target URL, e.g. http://127.0.0.1:9001/v1/chat/completions")
	fs.StringVar(&o.proto, "proto", "h1", "h1, h2 (TLS), h2c or h3")
	fs.StringVar(&o.bodyFile, "body", "", "request body file (default: a small built-in chat request; it must contain \"stream\":true itself when used with -stream)")
	fs.StringVar(&o.model, "model", "gpt-4o-mini", "model of the built-in body")
	fs.StringVar(&o.user, "user", "", `"user" field of the built-in body, e.g. fake:chunks=200 for the fake upstream`)
	fs.BoolVar(&o.stream, "stream", false, "stream: add \"stream\":true to the built-in body and read SSE")
	fs.BoolVar(&o.usage, "include-usage", false, "add stream_options.include_usage to the built-in body")
	fs.IntVar(&o.c, "c", 1, "closed loop: concurrent workers")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: requests per second on a fixed grid (overrides -c)")
	fs.IntVar(&o.maxInflight, "max-inflight", 256, "open loop: most requests in flight")
	fs.DurationVar(&o.d, "d", 10*time.Second, "measured duration (after -warmup)")
	fs.Int64Var(&o.n, "n", 0, "stop after this many sends, warm-up included (0 = no limit)")
	fs.DurationVar(&o.warmup, "warmup", 0, "load before the measured window, not recorded")
	fs.DurationVar(&o.drain, "drain", 30*time.Second, "after -d, wait this long for requests in flight, then cancel them (unfinished)")
	fs.IntVar(&o.conns, "conns", 1, "h2/h2c/h3: distinct connections (one transport each); h1 uses one per worker")
	fs.StringVar(&o.ca, "ca", "", "PEM CA file to trust for TLS")
	fs.BoolVar(&o.insecure, "insecure", false, "skip TLS verification")
	fs.Var(&o.headers, "H", "extra request header 'Name: value' (repeatable)")
	fs.IntVar(&o.pid, "pid", 0, "target process: CPU from /proc/PID/stat over the measured window, RSS sampled every 100 ms")
	fs.StringVar(&o.label, "label", "", "name of the target in the output")
	fs.StringVar(&o.scenario, "scenario", "", "scenario name in the output (bench/run.sh)")
	fs.IntVar(&o.round, "round", 0, "round number in the output (bench/run.sh)")
	fs.BoolVar(&o.validate, "validate", true, "check that every SSE data event is valid JSON")
	fs.BoolVar(&o.jsonOut, "json", false, "print one JSON result line")
	fs.BoolVar(&o.md, "md", false, "print one markdown table row")
	fs.BoolVar(&o.mdHeader, "md-header", false, "print the markdown table header (alone when -url is empty)")
	fs.StringVar(&o.report, "report", "", "summarise a file of -json lines into the markdown report and exit")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if o.report != "" || (o.mdHeader && o.url == "") {
		return o, nil
	}
	switch {
	case o.url == "":
		return nil, errors.New("loadgen: -url is required")
	case o.c < 1 && o.rate <= 0:
		return nil, errors.New("loadgen: -c must be at least 1")
	case o.rate > 0 && o.maxInflight < 1:
		return nil, errors.New("loadgen: -max-inflight must be at least 1")
	case o.d <= 0 && o.n <= 0:
		return nil, errors.New("loadgen: need -d or -n")
	}
	if o.d <= 0 {
		o.d = 24 * time.Hour // bounded by -n
	}
	o.conns = max(o.conns, 1)
	return o, nil
}

func defaultBody(o *options) ([]byte, error) {
	req := map[string]any{
		"model": o.model,
		"messages": []map[string]string{
			{"role": "system", "content": "You are a helpful assistant. Answer briefly."},
			{"role": "user", "content": "Explain in one paragraph why the sky is blue."},
		},
		"max_tokens":  64,
		"temperature": 0.2,
	}
	if o.stream {
		req["stream"] = true
	}
	if o.usage {
		req["stream_options"] = map[string]bool{"include_usage": true}
	}
	if o.user != "" {
		req["user"] = o.user
	}
	b, err := json.Marshal(req)
	if err != nil {
		return nil, fmt.Errorf("loadgen: encode body: %w", err)
	}
	return b, nil
}

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if !errors.Is(err, flag.ErrHelp) {
			fmt.Fprintln(os.Stderr, err)
		}
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if o.report != "" {
		return writeReport(o.report, stdout)
	}
	if o.mdHeader {
		fmt.Fprint(stdout, mdHeader())
		if o.url == "" {
			return nil
		}
	}
	res, err := load(o)
	if err != nil {
		return err
	}
	switch {
	case o.jsonOut:
		b, err := json.Marshal(res)
		if err != nil {
			return fmt.Errorf("loadgen: encode result: %w", err)
		}
		fmt.Fprintf(stdout, "%s\n", b)
	case o.md:
		fmt.Fprint(stdout, res.mdRow())
	default:
		fmt.Fprint(stdout, res.human())
	}
	return nil
}

// load performs one run and returns its result.
func load(o *options) (*Result, error) {
	var body []byte
	var err error
	if o.bodyFile != "" {
		body, err = os.ReadFile(o.bodyFile)
		if err != nil {
			return nil, fmt.Errorf("loadgen: read -body: %w", err)
		}
	} else if body, err = defaultBody(o); err != nil {
		return nil, err
	}
	workers := o.c
	if o.rate > 0 {
		workers = o.maxInflight
	}
	cl, err := newClients(o, workers)
	if err != nil {
		return nil, err
	}
	defer cl.Close()
	r, err := newRunner(o, body, cl, workers)
	if err != nil {
		return nil, err
	}

	if err := r.prewarm(); err != nil {
		return nil, err
	}
	var (
		rss       *rssSampler
		cpuStart  time.Duration
		cpuErr    error
		selfStart time.Duration
		cpuTaken  = make(chan struct{})
	)
	if o.pid > 0 {
		if _, err := procCPU(o.pid); err != nil {
			return nil, err
		}
		rss = startRSS(o.pid)
	}
	// Sample CPU when the measured window opens, while the load runs.
	go func() {
		defer close(cpuTaken)
		time.Sleep(o.warmup)
		selfStart = selfCPU()
		if o.pid > 0 {
			cpuStart, cpuErr = procCPU(o.pid)
		}
	}()
	r.start()
	<-cpuTaken
	res := r.result()
	res.ClientCPUPerReq = perReq(selfCPU()-selfStart, res.Requests)
	if o.pid > 0 {
		cpuEnd, err := procCPU(o.pid)
		if err = errors.Join(cpuErr, err); err != nil {
			return nil, err
		}
		res.TargetPID = o.pid
		res.CPUus = us(cpuEnd - cpuStart)
		res.CPUPerReq = perReq(cpuEnd-cpuStart, res.Requests)
		if res.Chunks > 0 {
			res.CPUPerChunk = res.CPUus / float64(res.Chunks)
		}
		first, peak, last, err := rss.finish()
		if err != nil && peak == 0 {
			return nil, err
		}
		res.RSSStartKiB, res.RSSMaxKiB, res.RSSFinalKiB = first, peak, last
	}
	return res, nil
}

func perReq(d time.Duration, n int64) float64 {
	if n == 0 {
		return 0
	}
	return us(d) / float64(n)
}
