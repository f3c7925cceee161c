// Package redistest owns the real Redis servers that tests run against: a redis-server
// started on a free loopback port with a throwaway directory and no persistence, killed
// when the test ends, or the server CROSSROADS_REDIS_URL names.
package redistest

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// EnvURL names an existing server to use instead of starting one.
const EnvURL = "CROSSROADS_REDIS_URL"

// SkipMessage is why tests skip when there is no server to run against.
const SkipMessage = "redis-server not installed: install Debian's redis-server (CI does) or set " + EnvURL

// Server is a server for one test.
type Server struct {
	// Addr is host:port (empty when URL names an external server).
	Addr string
	// URL is redis://host:port/0, or the value of CROSSROADS_REDIS_URL.
	URL string
	// Local is true when this package started the process, which Kill, Stop and Restart
	// need.
	Local bool

	t    testing.TB
	port int
	dir  string
	args []string

	mu   sync.Mutex
	cmd  *exec.Cmd
	out  *bytes.Buffer
	done chan struct{}
}

// New returns the server CROSSROADS_REDIS_URL names, or else starts one like Start.
func New(t testing.TB, args ...string) *Server {
	t.Helper()
	if u := os.Getenv(EnvURL); u != "" {
		return &Server{URL: u, t: t}
	}
	return Start(t, args...)
}

// Start starts a redis-server on a free loopback port, with args added to its command line
// (e.g. "--requirepass", "x"), and kills it when the test ends. It skips the test when
// redis-server is not installed.
func Start(t testing.TB, args ...string) *Server {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv(EnvURL) != "" {
			t.Skip("redis-server not installed: this test starts, stops or configures its own server, which " + EnvURL + " cannot stand in for; install Debian's redis-server (CI does)")
		}
		t.Skip(SkipMessage)
	}
	s := &Server{Local: true, t: t, dir: t.TempDir(), args: args}
	t.Cleanup(s.Kill)
	// Another process may take the free port between our probe and redis-server's bind;
	// a few tries make that race harmless.
	var err error
	for range 5 {
		if s.port, err = freePort(); err != nil {
			continue
		}
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatalf("redistest: start: %v", err)
	}
	s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	s.URL = "redis://" + s.Addr + "/0"
	return s
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) start() error {
	args := append([]string{
		"--port", strconv.Itoa(s.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", s.dir,
	}, s.args...)
	cmd := exec.Command("redis-server", args...)
	out := &bytes.Buffer{}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return err
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	s.mu.Lock()
	s.cmd, s.out, s.done = cmd, out, done
	s.mu.Unlock()

	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(s.port))
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-done:
			return fmt.Errorf("redis-server exited: %s", out.String())
		default:
		}
		if ping(addr) == nil {
			return nil
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.Kill()
	return fmt.Errorf("redis-server on %s did not answer within 10s: %s", addr, out.String())
}

// ping sends an inline PING; a server that is still loading answers -LOADING and is not
// ready yet.
func ping(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("PING\r\n")); err != nil {
		return err
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "+PONG") && !strings.HasPrefix(line, "-NOAUTH") {
		return fmt.Errorf("PING answered %q", strings.TrimSpace(line))
	}
	return nil
}

func (s *Server) mustLocal(op string) {
	s.t.Helper()
	if !s.Local {
		s.t.Fatalf("redistest: %s needs a server this package started, not %s", op, EnvURL)
	}
}

// Kill kills the process (SIGKILL, as a crash would) and waits for it to exit.
func (s *Server) Kill() {
	s.mu.Lock()
	cmd, done := s.cmd, s.done
	s.cmd = nil
	s.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Kill()
	<-done
}

// Pause stops the process (SIGSTOP): its socket still accepts connections, but nothing
// answers, as with a hung server. Resume undoes it.
func (s *Server) Pause() { s.signal("Pause", syscall.SIGSTOP) }

// Resume continues a paused process.
func (s *Server) Resume() { s.signal("Resume", syscall.SIGCONT) }

func (s *Server) signal(op string, sig syscall.Signal) {
	s.t.Helper()
	s.mustLocal(op)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		s.t.Fatalf("redistest: %s: server not running", op)
	}
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("redistest: %s: %v", op, err)
	}
}

// Restart starts a new, empty server on the same port after Kill.
func (s *Server) Restart() {
	s.t.Helper()
	s.mustLocal("Restart")
	s.Kill()
	var err error
	// The port was ours a moment ago; give the kernel a few tries to hand it back.
	for range 20 {
		if err = s.start(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.t.Fatalf("redistest: restart: %v", err)
}
