package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// selfSignedValidity is long enough that a local node rarely regenerates
	// (every regeneration makes clients re-trust the file), short enough that
	// a leaked development key does not stay valid forever.
	selfSignedValidity = 365 * 24 * time.Hour
	// selfSignedRenewBefore regenerates a cert that would expire while the
	// node runs, because nothing regenerates it after start-up.
	selfSignedRenewBefore = 24 * time.Hour
)

// certStore serves the current certificate to both the TCP and the QUIC TLS
// configs through GetCertificate, so a swap reaches new handshakes on both
// without rebuilding either listener.
type certStore struct {
	certFile, keyFile string
	log               *slog.Logger

	cur atomic.Pointer[tls.Certificate]

	// mu serialises loads: the poller and ReloadCert (SIGHUP) may race, and
	// the recorded file stats must belong to the certificate that won.
	mu                sync.Mutex
	certStat, keyStat os.FileInfo
}

func newCertStore(certFile, keyFile string, log *slog.Logger) (*certStore, error) {
	c := &certStore{certFile: certFile, keyFile: keyFile, log: log}
	if err := c.reload(); err != nil {
		return nil, err
	}
	return c, nil
}

func (c *certStore) getCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return c.cur.Load(), nil
}

// reload loads the pair and swaps it in; on failure the old certificate stays.
func (c *certStore) reload() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	// Stat before reading: if the files change while we read them, the
	// recorded stats are older than the contents and the next poll loads again.
	cs, ks, err := statPair(c.certFile, c.keyFile)
	if err != nil {
		return err
	}
	// Recorded even if loading fails, so a broken pair is reported once per
	// change instead of on every poll.
	c.certStat, c.keyStat = cs, ks
	cert, err := tls.LoadX509KeyPair(c.certFile, c.keyFile)
	if err != nil {
		return fmt.Errorf("load key pair: %w", err)
	}
	if cert.Leaf != nil && time.Now().After(cert.Leaf.NotAfter) {
		// Serving an expired operator-supplied cert beats serving nothing;
		// the warning is what gets someone to renew it.
		c.log.Warn("server: certificate has expired", "cert", c.certFile, "not_after", cert.Leaf.NotAfter)
	}
	c.cur.Store(&cert)
	return nil
}

// changed reports whether either file differs from the last attempted load:
// mtime, size, or identity (a rename over the file, as Kubernetes secret
// mounts do, can keep the mtime).
func (c *certStore) changed() bool {
	cs, ks, err := statPair(c.certFile, c.keyFile)
	if err != nil {
		// Mid-rotation one file may be briefly missing; wait for the next tick.
		return false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return statChanged(c.certStat, cs) || statChanged(c.keyStat, ks)
}

func statChanged(old, cur os.FileInfo) bool {
	if old == nil {
		return true
	}
	return !old.ModTime().Equal(cur.ModTime()) || old.Size() != cur.Size() || !os.SameFile(old, cur)
}

func statPair(certFile, keyFile string) (os.FileInfo, os.FileInfo, error) {
	cs, err := os.Stat(certFile)
	if err != nil {
		return nil, nil, fmt.Errorf("stat certificate: %w", err)
	}
	ks, err := os.Stat(keyFile)
	if err != nil {
		return nil, nil, fmt.Errorf("stat key: %w", err)
	}
	return cs, ks, nil
}

// poll reloads the pair whenever the files change, until stop is closed.
// Polling rather than inotify: it works the same on every OS and through the
// symlink swaps of mounted secrets, and a few stats per interval cost nothing.
func (c *certStore) poll(interval time.Duration, stop <-chan struct{}) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
		}
		if !c.changed() {
			continue
		}
		if err := c.reload(); err != nil {
			c.log.Warn("server: certificate reload failed, keeping the previous certificate", "cert", c.certFile, "err", err)
			continue
		}
		c.log.Info("server: certificate reloaded", "cert", c.certFile)
	}
}

// ensureSelfSigned returns the paths of a self-signed pair under dir/tls,
// generating it only when no usable pair exists: clients that were told to
// trust cert.pem keep working across restarts.
func ensureSelfSigned(dataDir string, log *slog.Logger) (certFile, keyFile string, err error) {
	if dataDir == "" {
		return "", "", errors.New("DataDir is required to keep a self-signed certificate when CertFile and KeyFile are empty")
	}
	dir := filepath.Join(dataDir, "tls")
	certFile = filepath.Join(dir, "cert.pem")
	keyFile = filepath.Join(dir, "key.pem")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("create certificate directory: %w", err)
	}
	// MkdirAll leaves an existing directory's mode alone; the key must not
	// be listable by other users either way.
	if err := os.Chmod(dir, 0o700); err != nil {
		return "", "", fmt.Errorf("restrict certificate directory: %w", err)
	}

	reason := "none found"
	if cert, err := tls.LoadX509KeyPair(certFile, keyFile); err == nil {
		if cert.Leaf != nil && time.Now().Add(selfSignedRenewBefore).Before(cert.Leaf.NotAfter) {
			return certFile, keyFile, nil
		}
		reason = "expired or about to expire"
	} else if !errors.Is(err, os.ErrNotExist) {
		reason = err.Error()
	}

	certPEM, keyPEM, err := generateSelfSigned(time.Now())
	if err != nil {
		return "", "", err
	}
	// Key first: a reader that sees the new cert with the old key fails to
	// load the pair and retries, which is better than the reverse order
	// leaving the new key unwritten if we crash in between.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return "", "", err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return "", "", err
	}
	log.Info("server: generated a self-signed certificate; clients must trust it explicitly", "cert", certFile, "reason", reason)
	return certFile, keyFile, nil
}

// generateSelfSigned returns a PEM certificate and PKCS#8 key. ECDSA P-256
// keeps the QUIC handshake inside the 3x anti-amplification budget (RFC 9000
// §8) where a large RSA chain costs an extra round trip. The cert is marked as
// a CA so clients can put it in their root pool as-is.
func generateSelfSigned(now time.Time) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, fmt.Errorf("generate serial: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{Organization: []string{"Crossroads"}, CommonName: "Crossroads self-signed"},
		// Back-dated so a client whose clock is slightly behind still accepts it.
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("create certificate: %w", err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("marshal key: %w", err)
	}
	certPEM = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER})
	return certPEM, keyPEM, nil
}

// writeFileAtomic writes via a temp file and rename so a concurrent reader
// (another node sharing DataDir, the reload poller) never sees a torn file,
// and the key is never readable with a wider mode, even briefly.
func writeFileAtomic(path string, data []byte, perm os.FileMode) (err error) {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+filepath.Base(path)+"-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err = f.Write(data); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err = os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
