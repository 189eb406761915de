// Package certreload serves a TLS certificate from a PEM certificate file
// and key file, and picks up new files when they change (a renewal by
// certbot, a new dev certificate) without restarting the server.
package certreload

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"sync"
	"time"
)

// statInterval is how often a handshake may look at the files: a stat per
// second is nothing, and a renewed certificate is in use a second later.
const statInterval = time.Second

// ErrBadCertificate is wrapped by every reason the files cannot be served.
var ErrBadCertificate = errors.New("unusable TLS certificate")

// Reloader holds the current certificate of a pair of files.
type Reloader struct {
	certFile, keyFile string
	onReload          func(err error) // told after each reload attempt (nil: success)

	mu        sync.Mutex
	cert      *tls.Certificate
	stamp     fileStamp // of the files the certificate was read from
	lastCheck time.Time
	lastErr   string // the last reload failure reported, so that it is reported once
}

// fileStamp is what says a file changed: its modification time and size.
type fileStamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// New reads and checks the pair now, so that a bad pair stops the server
// before it listens. onReload (may be nil) hears of every later reload:
// nil when the new pair is served, the reason when the old one stays.
func New(certFile, keyFile string, onReload func(error)) (*Reloader, error) {
	r := &Reloader{certFile: certFile, keyFile: keyFile, onReload: onReload}
	stamp, err := r.stat()
	if err != nil {
		return nil, err
	}
	cert, err := Load(certFile, keyFile)
	if err != nil {
		return nil, err
	}
	r.cert, r.stamp, r.lastCheck = cert, stamp, time.Now()
	return r, nil
}

// Load reads a certificate chain and its private key and checks that they
// belong together and that the certificate is valid now.
func Load(certFile, keyFile string) (*tls.Certificate, error) {
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("%w: reading certificate: %w", ErrBadCertificate, err)
	}
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("%w: reading private key: %w", ErrBadCertificate, err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// The standard library's messages are clear ("private key does not
		// match public key", "failed to find any PEM data in certificate
		// input"); they name no file, so the message does.
		return nil, fmt.Errorf("%w: %s with %s: %w", ErrBadCertificate, certFile, keyFile, err)
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("%w: %s: %w", ErrBadCertificate, certFile, err)
		}
		cert.Leaf = leaf
	}
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return nil, fmt.Errorf("%w: %s expired on %s", ErrBadCertificate, certFile, leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, fmt.Errorf("%w: %s is not valid before %s", ErrBadCertificate, certFile, leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	return &cert, nil
}

func (r *Reloader) stat() (fileStamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("%w: certificate: %w", ErrBadCertificate, err)
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return fileStamp{}, fmt.Errorf("%w: private key: %w", ErrBadCertificate, err)
	}
	return fileStamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// GetCertificate is a tls.Config.GetCertificate: the current certificate,
// reloaded first when the files changed since it was read. A pair that does
// not load (a half-written renewal: the certificate replaced before its
// key) keeps the old certificate in service and is tried again later.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if now := time.Now(); now.Sub(r.lastCheck) >= statInterval {
		r.lastCheck = now
		r.reloadIfChanged()
	}
	return r.cert, nil
}

// reloadIfChanged reads the files again when their stamp changed. Called with mu held.
func (r *Reloader) reloadIfChanged() {
	stamp, err := r.stat()
	if err == nil && stamp == r.stamp {
		return
	}
	if err == nil {
		var cert *tls.Certificate
		if cert, err = Load(r.certFile, r.keyFile); err == nil {
			r.cert, r.stamp = cert, stamp
		} else {
			// Remember the stamp: the same broken files are reported once,
			// and a fixed key (a new stamp) is tried at once.
			r.stamp = stamp
		}
	}
	msg := ""
	if err != nil {
		msg = err.Error()
		if msg == r.lastErr {
			return
		}
	}
	r.lastErr = msg
	if r.onReload != nil {
		r.onReload(err)
	}
}

// Certificate is the certificate served now.
func (r *Reloader) Certificate() *tls.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert
}
