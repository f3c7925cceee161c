package server

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
)

type pemPair struct{ cert, key []byte }

func newPair(t *testing.T, now time.Time) pemPair {
	t.Helper()
	c, k, err := generateSelfSigned(now)
	if err != nil {
		t.Fatal(err)
	}
	return pemPair{c, k}
}

func (p pemPair) der(t *testing.T) []byte {
	t.Helper()
	b, _ := pem.Decode(p.cert)
	if b == nil {
		t.Fatal("bad PEM")
	}
	return b.Bytes
}

// write replaces the pair the way a cert manager would: atomically, key first.
func (p pemPair) write(t *testing.T, certFile, keyFile string) {
	t.Helper()
	if err := writeFileAtomic(keyFile, p.key, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := writeFileAtomic(certFile, p.cert, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSelfSignedCert(t *testing.T) {
	tests := []struct {
		name string
		// seed prepares DataDir/tls before the first New; nil leaves it empty.
		seed        func(t *testing.T, dir string) []byte
		wantReplace bool
	}{
		{name: "fresh data dir generates one", seed: nil},
		{
			name: "valid pair is reused",
			seed: func(t *testing.T, dir string) []byte {
				p := newPair(t, time.Now())
				p.write(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
				return p.cert
			},
		},
		{
			name: "expired pair is replaced",
			seed: func(t *testing.T, dir string) []byte {
				p := newPair(t, time.Now().Add(-2*selfSignedValidity))
				p.write(t, filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem"))
				return p.cert
			},
			wantReplace: true,
		},
		{
			name: "unreadable pair is replaced",
			seed: func(t *testing.T, dir string) []byte {
				garbage := []byte("not a certificate")
				if err := os.WriteFile(filepath.Join(dir, "cert.pem"), garbage, 0o644); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, "key.pem"), garbage, 0o600); err != nil {
					t.Fatal(err)
				}
				return garbage
			},
			wantReplace: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testConfig(t)
			dir := filepath.Join(cfg.DataDir, "tls")
			var seeded []byte
			if tt.seed != nil {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				seeded = tt.seed(t, dir)
			}

			certs := make([][]byte, 2)
			keys := make([][]byte, 2)
			for i := range 2 {
				s, err := New(cfg, http.NotFoundHandler())
				if err != nil {
					t.Fatalf("New #%d: %v", i+1, err)
				}
				if want := filepath.Join(dir, "cert.pem"); s.CertFile() != want {
					t.Errorf("CertFile = %q, want %q", s.CertFile(), want)
				}
				certs[i], _ = os.ReadFile(s.CertFile())
				keys[i], _ = os.ReadFile(filepath.Join(dir, "key.pem"))
				if err := s.Close(); err != nil {
					t.Fatal(err)
				}
			}
			if !bytes.Equal(certs[0], certs[1]) || !bytes.Equal(keys[0], keys[1]) {
				t.Error("second start did not reuse the certificate of the first")
			}
			if seeded != nil && bytes.Equal(seeded, certs[0]) == tt.wantReplace {
				t.Errorf("seeded pair replaced = %v, want %v", !bytes.Equal(seeded, certs[0]), tt.wantReplace)
			}

			if fi, err := os.Stat(filepath.Join(dir, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
				t.Errorf("key.pem mode = %v (%v), want 0600", fi.Mode().Perm(), err)
			}
			if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
				t.Errorf("tls dir mode = %v (%v), want 0700", fi.Mode().Perm(), err)
			}

			b, _ := pem.Decode(certs[0])
			if b == nil {
				t.Fatal("cert.pem holds no PEM block")
			}
			leaf, err := x509.ParseCertificate(b.Bytes)
			if err != nil {
				t.Fatal(err)
			}
			pool := x509.NewCertPool()
			pool.AddCert(leaf)
			for _, name := range []string{"localhost", "127.0.0.1", "::1"} {
				if _, err := leaf.Verify(x509.VerifyOptions{DNSName: name, Roots: pool}); err != nil {
					t.Errorf("cert does not verify as its own root for %s: %v", name, err)
				}
			}
			if !time.Now().Before(leaf.NotAfter) {
				t.Errorf("cert expired at %v", leaf.NotAfter)
			}
		})
	}
}

// peerCert returns the DER of the certificate a new connection sees.
func peerCert(t *testing.T, s *Server, pool *x509.CertPool, overQUIC bool) []byte {
	t.Helper()
	conf := &tls.Config{RootCAs: pool, ServerName: "localhost"}
	if overQUIC {
		conf.NextProtos = []string{"h3"}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		c, err := quic.DialAddr(ctx, s.TLSAddr().String(), conf, nil)
		if err != nil {
			t.Fatalf("QUIC handshake: %v", err)
		}
		defer c.CloseWithError(0, "")
		return c.ConnectionState().TLS.PeerCertificates[0].Raw
	}
	d := &net.Dialer{Timeout: 2 * time.Second}
	c, err := tls.DialWithDialer(d, "tcp", s.TLSAddr().String(), conf)
	if err != nil {
		t.Fatalf("TLS handshake: %v", err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Raw
}

func TestCertReload(t *testing.T) {
	tests := []struct {
		name string
		// interval is Config.CertReloadInterval.
		interval time.Duration
		// rotate replaces the files with b (or breaks them) and, if needed,
		// asks the server to reload; it returns the cert expected afterwards.
		rotate func(t *testing.T, s *Server, pool *x509.CertPool, certFile, keyFile string, a, b pemPair) pemPair
	}{
		{
			name:     "poll picks up new files",
			interval: 50 * time.Millisecond,
			rotate: func(t *testing.T, _ *Server, _ *x509.CertPool, certFile, keyFile string, _, b pemPair) pemPair {
				b.write(t, certFile, keyFile)
				return b
			},
		},
		{
			name:     "ReloadCert without polling",
			interval: -1,
			rotate: func(t *testing.T, s *Server, pool *x509.CertPool, certFile, keyFile string, a, b pemPair) pemPair {
				b.write(t, certFile, keyFile)
				time.Sleep(100 * time.Millisecond)
				if got := peerCert(t, s, pool, false); !bytes.Equal(got, a.der(t)) {
					t.Error("certificate changed with polling disabled")
				}
				if err := s.ReloadCert(); err != nil {
					t.Fatalf("ReloadCert: %v", err)
				}
				return b
			},
		},
		{
			name:     "broken files keep the previous certificate",
			interval: 50 * time.Millisecond,
			rotate: func(t *testing.T, s *Server, _ *x509.CertPool, certFile, keyFile string, a, _ pemPair) pemPair {
				if err := writeFileAtomic(certFile, []byte("garbage"), 0o644); err != nil {
					t.Fatal(err)
				}
				if err := s.ReloadCert(); err == nil {
					t.Error("ReloadCert accepted a broken certificate")
				}
				time.Sleep(150 * time.Millisecond) // let the poller fail too
				return a
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
			a, b := newPair(t, time.Now()), newPair(t, time.Now())
			a.write(t, certFile, keyFile)
			pool := x509.NewCertPool()
			for _, p := range []pemPair{a, b} {
				pool.AppendCertsFromPEM(p.cert)
			}

			cfg := testConfig(t)
			cfg.PlainAddr = ""
			cfg.CertFile, cfg.KeyFile = certFile, keyFile
			cfg.CertReloadInterval = tt.interval
			s, _ := startServer(t, cfg, http.NotFoundHandler())
			if s.CertFile() != certFile {
				t.Errorf("CertFile = %q, want %q", s.CertFile(), certFile)
			}
			for _, overQUIC := range []bool{false, true} {
				if got := peerCert(t, s, pool, overQUIC); !bytes.Equal(got, a.der(t)) {
					t.Fatalf("QUIC=%v: initial handshake did not present cert A", overQUIC)
				}
			}

			want := tt.rotate(t, s, pool, certFile, keyFile, a, b).der(t)
			for _, overQUIC := range []bool{false, true} {
				ok := waitFor(2*time.Second, func() bool { return bytes.Equal(peerCert(t, s, pool, overQUIC), want) })
				if !ok {
					t.Errorf("QUIC=%v: new connections do not see the expected certificate", overQUIC)
				}
			}
		})
	}
}
