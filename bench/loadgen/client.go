package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// clients holds one RoundTripper per logical connection; worker i uses
// rts[i%len(rts)].
type clients struct {
	rts    []http.RoundTripper
	close  []func()
	dials  atomic.Int64
	proto  int // expected resp.ProtoMajor
	scheme string
}

func (c *clients) Close() {
	for _, f := range c.close {
		f()
	}
}

func tlsConfig(o *options) (*tls.Config, error) {
	conf := &tls.Config{InsecureSkipVerify: o.insecure} // opt-in, for targets whose CA file is not at hand
	if o.ca != "" {
		pem, err := os.ReadFile(o.ca)
		if err != nil {
			return nil, fmt.Errorf("loadgen: read -ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("loadgen: read -ca: no PEM certificate in %s", o.ca)
		}
		conf.RootCAs = pool
	}
	return conf, nil
}

func newClients(o *options, workers int) (*clients, error) {
	c := &clients{}
	tconf, err := tlsConfig(o)
	if err != nil {
		return nil, err
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	dial := func(ctx context.Context, network, addr string) (net.Conn, error) {
		c.dials.Add(1)
		return dialer.DialContext(ctx, network, addr)
	}
	base := func() *http.Transport {
		return &http.Transport{
			DialContext:         dial,
			TLSClientConfig:     tconf.Clone(),
			TLSHandshakeTimeout: 10 * time.Second,
			DisableCompression:  true, // measure the bytes the target sends
			Protocols:           new(http.Protocols),
		}
	}

	switch o.proto {
	case "h1":
		// One transport per worker, capped at one connection: like wrk,
		// each worker owns a keep-alive connection. A shared pool would
		// race the connection's return against the worker's next send
		// and dial extra connections.
		for range workers {
			tr := base()
			tr.Protocols.SetHTTP1(true)
			tr.MaxConnsPerHost = 1
			tr.MaxIdleConnsPerHost = 1
			c.rts = append(c.rts, tr)
			c.close = append(c.close, tr.CloseIdleConnections)
		}
		c.proto = 1
	case "h2", "h2c":
		for range o.conns {
			tr := base()
			if o.proto == "h2" {
				tr.Protocols.SetHTTP2(true)
			} else {
				tr.Protocols.SetUnencryptedHTTP2(true)
			}
			// One connection per transport, so -conns is exact: two requests
			// that find no connection ready would otherwise dial one each
			// (seen under CPU saturation), and requests beyond the server's
			// stream limit wait for a stream rather than open a connection.
			tr.MaxConnsPerHost = 1
			tr.HTTP2 = &http.HTTP2Config{}
			c.rts = append(c.rts, tr)
			c.close = append(c.close, tr.CloseIdleConnections)
		}
		c.proto = 2
	case "h3":
		for range o.conns {
			tr := &http3.Transport{
				TLSClientConfig: tconf.Clone(),
				QUICConfig: &quic.Config{
					MaxIdleTimeout:  2 * time.Minute,
					KeepAlivePeriod: 15 * time.Second,
				},
				DisableCompression: true,
			}
			c.rts = append(c.rts, tr)
			c.close = append(c.close, func() { _ = tr.Close() })
		}
		c.proto = 3
	default:
		return nil, errors.New("loadgen: -proto must be h1, h2, h2c or h3")
	}
	return c, nil
}
