package provider

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// h1 is an HTTP/1.1 client for plain-http upstreams that does all its work on the caller's
// goroutine: it writes the request, then reads the response on the same connection.
//
// net/http's Transport hands every request to a per-connection writer goroutine and every
// response back from a reader goroutine. On a quiet machine each hand-off is a thread wake-up,
// and two of them cost more than the rest of the node's work on a request (measured in
// RATIONALE.md). Plain-http upstreams are the ones that sit next to the node (a model server
// in the same PoP, a local gateway), where that latency is not hidden by the network, so
// they get this path; TLS upstreams keep net/http and its HTTP/2.
type h1 struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	idleTimeout time.Duration
	maxIdle     int // per host

	mu   sync.Mutex
	idle map[string][]*h1conn
}

type h1conn struct {
	nc       net.Conn
	br       *bufio.Reader
	addr     string
	idleFrom time.Time
	reused   bool
}

func newH1(dial func(ctx context.Context, network, addr string) (net.Conn, error)) *h1 {
	return &h1{dial: dial, idleTimeout: 90 * time.Second, maxIdle: 1024, idle: map[string][]*h1conn{}}
}

// errRetry marks a failure on a reused connection before the upstream sent a byte: the
// connection was dead, so the request goes out once more on a fresh one.
var errRetry = errors.New("provider: reused connection was closed by the upstream")

func (t *h1) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	for attempt := 0; ; attempt++ {
		c, err := t.get(ctx, addr, attempt > 0)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		if attempt > 0 && req.GetBody != nil {
			body, err := req.GetBody()
			if err != nil {
				c.nc.Close()
				return nil, err
			}
			req = req.Clone(ctx)
			req.Body = body
		}
		resp, err := t.exchange(ctx, c, req)
		if err == errRetry && attempt == 0 && req.GetBody != nil {
			continue
		}
		if err == errRetry {
			err = io.ErrUnexpectedEOF
		}
		return resp, err
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		_ = req.Body.Close()
	}
}

// exchange writes req on c and reads the response head. The body is read by the caller
// through the returned response; the connection goes back to the pool at its end.
func (t *h1) exchange(ctx context.Context, c *h1conn, req *http.Request) (*http.Response, error) {
	// A cancelled request unblocks a read or write in progress by expiring the deadline;
	// the connection is then closed rather than reused.
	stop := context.AfterFunc(ctx, func() { _ = c.nc.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		c.nc.Close()
		if cerr := ctx.Err(); cerr != nil {
			return nil, cerr
		}
		return nil, err
	}
	if err := writeRequest(c.nc, req); err != nil {
		closeBody(req)
		if c.reused {
			return fail(errRetry)
		}
		return fail(err)
	}
	closeBody(req)
	// Waiting for the first byte separately tells "the connection died before the upstream
	// said anything" (retry on a reused connection) from a broken response.
	if _, err := c.br.Peek(1); err != nil {
		if c.reused && (err == io.EOF || errors.Is(err, syscall.ECONNRESET)) {
			return fail(errRetry)
		}
		return fail(fmt.Errorf("provider: read response: %w", err))
	}
	resp, err := http.ReadResponse(c.br, req)
	if err != nil {
		return fail(fmt.Errorf("provider: read response: %w", err))
	}
	resp.Body = &h1body{t: t, c: c, rc: resp.Body, stop: stop, keep: !resp.Close && !req.Close}
	return resp, nil
}

// writers buffer request writes. A connection holds its writer only while it writes, so
// ten thousand open streams do not each keep a write buffer they no longer need.
var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4096) }}

// writeRequest writes the request line, headers and body. Hop-by-hop headers are not ours to
// send; Content-Length comes from the request.
func writeRequest(nc net.Conn, req *http.Request) error {
	w := writers.Get().(*bufio.Writer)
	w.Reset(nc)
	defer func() {
		w.Reset(nil)
		writers.Put(w)
	}()
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(req.URL.RequestURI())
	w.WriteString(" HTTP/1.1\r\nHost: ")
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(host)
	w.WriteString("\r\n")
	for k, vs := range req.Header {
		if k == "Host" || k == "Content-Length" || k == "Connection" || k == "Transfer-Encoding" {
			continue
		}
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if req.Body != nil && req.ContentLength < 0 {
		return errors.New("provider: request body without a length")
	}
	if req.Body != nil || req.Method == http.MethodPost {
		w.WriteString("Content-Length: ")
		var nb [20]byte
		w.Write(strconv.AppendInt(nb[:0], max(req.ContentLength, 0), 10))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	if req.Body != nil {
		if _, err := io.Copy(w, req.Body); err != nil {
			return err
		}
	}
	return w.Flush()
}

// get returns a pooled connection to addr, or dials one. A pooled connection is checked
// before use: an upstream that closed it while idle must not cost the request.
func (t *h1) get(ctx context.Context, addr string, fresh bool) (*h1conn, error) {
	if !fresh {
		for {
			t.mu.Lock()
			list := t.idle[addr]
			if len(list) == 0 {
				t.mu.Unlock()
				break
			}
			c := list[len(list)-1]
			t.idle[addr] = list[:len(list)-1]
			t.mu.Unlock()
			if time.Since(c.idleFrom) < t.idleTimeout && alive(c.nc) {
				c.reused = true
				return c, nil
			}
			c.nc.Close()
		}
	}
	nc, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &h1conn{nc: nc, br: bufio.NewReaderSize(nc, 4096), addr: addr}, nil
}

// alive peeks at an idle connection without blocking: any byte or EOF means the upstream
// closed it or broke protocol, so it must not carry a request.
func alive(nc net.Conn) bool {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return true
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	ok = false
	var b [1]byte
	_ = rc.Read(func(fd uintptr) bool {
		n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		ok = n < 0 && (err == syscall.EAGAIN || err == syscall.EWOULDBLOCK)
		return true
	})
	return ok
}

func (t *h1) put(c *h1conn) {
	c.idleFrom = time.Now()
	t.mu.Lock()
	if len(t.idle[c.addr]) < t.maxIdle {
		t.idle[c.addr] = append(t.idle[c.addr], c)
		c = nil
	}
	t.mu.Unlock()
	if c != nil {
		c.nc.Close()
	}
}

// CloseIdleConnections closes every pooled connection.
func (t *h1) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*h1conn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.nc.Close()
		}
	}
}

// h1body returns its connection to the pool once the response was read to its end.
type h1body struct {
	t    *h1
	c    *h1conn
	rc   io.ReadCloser
	stop func() bool
	keep bool
	done bool
}

func (b *h1body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.finish(true)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// Close releases the connection. A caller that stops reading at the last event of a stream
// ([DONE]) leaves only the end of the chunked body unread, and it arrives within moments;
// draining it for a short while keeps the connection for the next request instead of
// dialing anew for every stream.
func (b *h1body) Close() error {
	if b.done {
		return nil
	}
	if !b.keep || !b.stop() {
		b.done = true
		b.c.nc.Close()
		return nil
	}
	b.stop = func() bool { return true } // the cancellation hook is gone; finish must not ask again
	_ = b.c.nc.SetReadDeadline(time.Now().Add(drainWait))
	var buf [512]byte
	for n := 0; n < drainMax; {
		k, err := b.rc.Read(buf[:])
		n += k
		if err == io.EOF {
			_ = b.c.nc.SetReadDeadline(time.Time{})
			b.finish(true)
			return nil
		}
		if err != nil {
			break
		}
	}
	b.finish(false)
	return nil
}

const (
	drainWait = 20 * time.Millisecond
	drainMax  = 64 << 10
)

// finish releases the connection: back to the pool after a complete response on a
// connection whose cancellation hook never fired, closed otherwise.
func (b *h1body) finish(complete bool) {
	b.done = true
	if b.stop() && complete && b.keep {
		b.t.put(b.c)
		return
	}
	b.c.nc.Close()
}
