package main

// The detectors work on decoded prompt text. Each starts at a byte the dispatch table
// marks, so text without '@' or a secret's first letter costs one table load per byte.

const (
	emailMark  = "[REDACTED_EMAIL]"
	secretMark = "[REDACTED_SECRET]"
)

// Byte classes, as bit flags in class.
const (
	cAlnum    = 1 << iota // A-Z a-z 0-9
	cLocal                // allowed in an e-mail local part
	cDomain               // allowed in an e-mail domain
	cToken                // allowed in an sk-/github_pat_/AIza key body: alnum _ -
	cBearer               // allowed in a bearer token: alnum - . _ ~ + / =
	cTrigger              // a detector may start here
	cUpperNum             // A-Z 0-9, the AKIA key body
)

var class = func() (t [256]uint8) {
	for c := 0; c < 256; c++ {
		alnum := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
		if alnum {
			t[c] |= cAlnum | cLocal | cDomain | cToken | cBearer
		}
		if c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' {
			t[c] |= cUpperNum
		}
		switch c {
		case '.', '_', '%', '+', '-':
			t[c] |= cLocal
		}
		switch c {
		case '.', '-':
			t[c] |= cDomain
		}
		switch c {
		case '_', '-':
			t[c] |= cToken
		}
		switch c {
		case '-', '.', '_', '~', '+', '/', '=':
			t[c] |= cBearer
		}
		switch c {
		case '@', 's', 'A', 'g', 'x', 'B', 'b', '-':
			t[c] |= cTrigger
		}
	}
	return t
}()

func is(c byte, f uint8) bool { return class[c]&f != 0 }

// redact appends s with every match replaced to dst, or returns nil when nothing matched.
func redact(dst, s []byte, opt options) []byte {
	var out []byte
	matched := false
	last := 0 // s[:last] is settled: copied to out or replaced
	for i := 0; i < len(s); {
		if !is(s[i], cTrigger) {
			i++
			continue
		}
		start, end, mark := i, 0, ""
		if s[i] == '@' {
			if opt.emails {
				start, end = email(s, i, last)
				mark = emailMark
			}
		} else if opt.secrets && (i == 0 || !is(s[i-1], cToken)) && i+1 < len(s) && secondOK(s[i], s[i+1]) {
			start, end = secret(s, i)
			mark = secretMark
		}
		if end == 0 {
			i++
			continue
		}
		if !matched {
			out, matched = dst, true
		}
		out = append(out, s[last:start]...)
		out = append(out, mark...)
		last, i = end, end
	}
	if !matched {
		return nil
	}
	return append(out, s[last:]...)
}

// email finds the address around the '@' at s[at], reaching no further left than floor.
// The local part is one or more of A-Za-z0-9._%+-. The domain is the longest run of
// A-Za-z0-9.- after the '@' that ends in a dot and two or more letters (the top-level
// label), so "a@b.com." and "a@b.com-----" stop at "com", and "a@localhost" is not an
// address. It returns end 0 for no address.
func email(s []byte, at, floor int) (start, end int) {
	start = at
	for start > floor && is(s[start-1], cLocal) {
		start--
	}
	if start == at {
		return 0, 0
	}
	run := at + 1
	for run < len(s) && is(s[run], cDomain) {
		run++
	}
	for d := at + 2; d < run; d++ {
		if s[d] != '.' || s[d-1] == '.' || s[d-1] == '-' {
			continue
		}
		t := d + 1
		for t < run && (s[t] >= 'a' && s[t] <= 'z' || s[t] >= 'A' && s[t] <= 'Z') {
			t++
		}
		if t-d-1 >= 2 {
			end = t
		}
	}
	if end == 0 {
		return 0, 0
	}
	return start, end
}

// secondOK rejects most trigger letters of ordinary prose ("s", "A", "b") by their next
// byte before the call to secret, which the Go wasm backend makes expensive.
func secondOK(c, next byte) bool {
	switch c {
	case 's':
		return next == 'k'
	case 'A':
		return next == 'K' || next == 'I'
	case 'g':
		return next == 'h' || next == 'i'
	case 'x':
		return next == 'o'
	case 'B', 'b':
		return next == 'e' || next == 'E'
	case '-':
		return next == '-'
	}
	return false
}

// secret matches a known key format starting at s[i], which starts a word. It returns the
// span to replace, or end 0.
func secret(s []byte, i int) (start, end int) {
	rest := s[i:]
	run := func(from int, f uint8) int { // end of the run of class f from i+from
		j := i + from
		for j < len(s) && is(s[j], f) {
			j++
		}
		return j
	}
	switch s[i] {
	case 's':
		// sk-..., sk-ant-..., sk-proj-...: long random bodies, so demand 20 characters.
		if hasPrefix(rest, "sk-") {
			if e := run(3, cToken); e-i-3 >= 20 {
				return i, e
			}
		}
	case 'A':
		if hasPrefix(rest, "AKIA") {
			if e := run(4, cUpperNum); e-i == 20 && (e == len(s) || !is(s[e], cAlnum)) {
				return i, e
			}
		}
		if hasPrefix(rest, "AIza") {
			if e := run(4, cToken); e-i-4 >= 30 {
				return i, e
			}
		}
	case 'g':
		for _, p := range [...]string{"ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"} {
			if hasPrefix(rest, p) {
				if e := run(len(p), cToken); e-i-len(p) >= 20 {
					return i, e
				}
			}
		}
	case 'x':
		if hasPrefix(rest, "xoxb-") || hasPrefix(rest, "xoxp-") {
			if e := run(5, cToken); e-i-5 >= 10 {
				return i, e
			}
		}
	case 'B', 'b':
		// "Bearer <token>": the word stays, so the model still sees that a credential was
		// there; the token goes.
		if len(rest) > 7 && equalFold(rest[:6], "bearer") && (rest[6] == ' ' || rest[6] == '\t') {
			j := i + 6
			for j < len(s) && (s[j] == ' ' || s[j] == '\t') {
				j++
			}
			e := j
			for e < len(s) && is(s[e], cBearer) {
				e++
			}
			if e-j >= 16 {
				return j, e
			}
		}
	case '-':
		return pem(s, i)
	}
	return 0, 0
}

// pem matches a "-----BEGIN ... PRIVATE KEY-----" block through its END line. A block whose
// END line is missing (a truncated paste) is redacted to the end of the text, since the key
// material follows the BEGIN line.
func pem(s []byte, i int) (start, end int) {
	const begin, tail, endLine = "-----BEGIN ", "PRIVATE KEY-----", "-----END "
	if !hasPrefix(s[i:], begin) {
		return 0, 0
	}
	j := i + len(begin)
	for j < len(s) && s[j] != '\n' && !hasPrefix(s[j:], tail) && j-i < 64 {
		j++
	}
	if !hasPrefix(s[j:], tail) {
		return 0, 0
	}
	j += len(tail)
	for k := j; k < len(s); k++ {
		if s[k] == '-' && hasPrefix(s[k:], endLine) {
			for m := k + len(endLine); m < len(s) && m-k < 64; m++ {
				if hasPrefix(s[m:], tail) {
					return i, m + len(tail)
				}
			}
		}
	}
	return i, len(s)
}

func hasPrefix(s []byte, p string) bool { return len(s) >= len(p) && string(s[:len(p)]) == p }

func equalFold(b []byte, lower string) bool {
	for k, c := range b {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != lower[k] {
			return false
		}
	}
	return true
}
