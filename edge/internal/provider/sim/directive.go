package sim

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// fault is an injected failure chosen by the error= directive.
type fault uint8

const (
	faultNone fault = iota
	fault400
	fault401
	fault403
	fault404
	fault429
	fault500
	fault502
	fault503
	faultTimeout
	faultCut
	faultMalformed
	faultStreamError
)

var faultNames = map[string]fault{
	"400": fault400, "401": fault401, "403": fault403, "404": fault404,
	"429": fault429, "500": fault500, "502": fault502, "503": fault503,
	"timeout": faultTimeout, "cut": faultCut, "malformed": faultMalformed,
	"stream-error": faultStreamError, "stream_error": faultStreamError,
}

// maxDirectiveTokens bounds tokens= so one curl cannot make the node buffer
// an unbounded non-stream body.
const maxDirectiveTokens = 100000

// directives is what a user asked of the simulator. Set bits say which
// fields were given, so zero values stay meaningful (ttft=0, tokens=0).
type directives struct {
	set    uint8
	ttft   time.Duration
	tps    float64 // 0 = unpaced
	tokens int
	fault  fault
}

const (
	setTTFT uint8 = 1 << iota
	setTPS
	setTokens
	setFault
)

var errDirective = errors.New("invalid directive")

// parseDirectiveFields applies space-separated key=value fields to d.
func parseDirectiveFields(s string, d *directives) error {
	for _, f := range strings.Fields(s) {
		key, val, ok := strings.Cut(f, "=")
		if !ok || val == "" {
			return fmt.Errorf("sim: parse directive: %q is not key=value: %w", f, errDirective)
		}
		switch key {
		case "ttft":
			v, err := parseTTFT(val)
			if err != nil {
				return err
			}
			d.ttft, d.set = v, d.set|setTTFT
		case "tps":
			v, err := parseTPS(val)
			if err != nil {
				return err
			}
			d.tps, d.set = v, d.set|setTPS
		case "tokens":
			n, err := strconv.Atoi(val)
			if err != nil || n < 0 || n > maxDirectiveTokens {
				return fmt.Errorf("sim: parse directive: tokens=%q, want an integer in 0..%d: %w", val, maxDirectiveTokens, errDirective)
			}
			d.tokens, d.set = n, d.set|setTokens
		case "error":
			ft, ok := faultNames[val]
			if !ok {
				return fmt.Errorf("sim: parse directive: error=%q, want 400, 401, 403, 404, 429, 500, 502, 503, timeout, cut, malformed or stream-error: %w", val, errDirective)
			}
			d.fault, d.set = ft, d.set|setFault
		default:
			return fmt.Errorf("sim: parse directive: unknown key %q, want ttft, tps, tokens or error: %w", key, errDirective)
		}
	}
	return nil
}

func parseTTFT(val string) (time.Duration, error) {
	v, err := time.ParseDuration(val)
	if err != nil {
		// A bare number reads as milliseconds: what people type in curl.
		ms, err2 := strconv.ParseFloat(val, 64)
		if err2 != nil || math.IsNaN(ms) || ms > float64(math.MaxInt64/int64(time.Millisecond)) {
			return 0, fmt.Errorf("sim: parse directive: ttft=%q, want a duration like 200ms: %w", val, errDirective)
		}
		v = time.Duration(ms * float64(time.Millisecond))
	}
	if v < 0 {
		return 0, fmt.Errorf("sim: parse directive: ttft=%q is negative: %w", val, errDirective)
	}
	return v, nil
}

func parseTPS(val string) (float64, error) {
	if val == "inf" {
		return 0, nil
	}
	v, err := strconv.ParseFloat(val, 64)
	if err != nil || math.IsNaN(v) || v < 0 {
		return 0, fmt.Errorf("sim: parse directive: tps=%q, want a non-negative number or inf: %w", val, errDirective)
	}
	if math.IsInf(v, 1) {
		v = 0
	}
	return v, nil
}

// parseMessageDirectives applies every "[sim ...]" line of text to d. Only
// whole lines count, so prose that merely mentions "[sim" is left alone.
func parseMessageDirectives(text string, d *directives) error {
	if !strings.Contains(text, "[sim") {
		return nil
	}
	for line := range strings.Lines(text) {
		line = strings.TrimSpace(line)
		body, ok := strings.CutPrefix(line, "[sim")
		if !ok || !strings.HasSuffix(body, "]") {
			continue
		}
		body = body[:len(body)-1]
		if body != "" && body[0] != ' ' && body[0] != '\t' {
			continue // "[simulate]" and the like are not directives
		}
		if err := parseDirectiveFields(body, d); err != nil {
			return err
		}
	}
	return nil
}

// parseUserDirectives applies the request's user field when it reads
// "sim:key=value ...".
func parseUserDirectives(user string, d *directives) error {
	body, ok := strings.CutPrefix(user, "sim:")
	if !ok {
		return nil
	}
	return parseDirectiveFields(body, d)
}
