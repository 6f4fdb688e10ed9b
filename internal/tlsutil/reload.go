package tlsutil

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// DefaultCheckEvery is how often, at most, a Reloader looks at its files.
const DefaultCheckEvery = 10 * time.Second

// ReloaderOptions configures a Reloader.
type ReloaderOptions struct {
	// CheckEvery is how long a handshake trusts the last look at the files
	// before it looks again (stat only; the files are read when they
	// changed). Zero selects DefaultCheckEvery; negative checks on every
	// handshake.
	CheckEvery time.Duration
	Logger     *slog.Logger
	// Now defaults to time.Now; tests may replace it.
	Now func() time.Time
}

// Reloader serves a certificate and key from files and reloads them when
// their modification time or size changes, on the first handshake after
// CheckEvery, so that a renewed certificate is used without a restart.
// When the new files do not load — say the certificate was replaced but
// the key not yet — it keeps serving the previous certificate, logs the
// reason once, and tries again when the files change again.
type Reloader struct {
	certFile, keyFile string
	opts              ReloaderOptions

	mu      sync.Mutex
	cert    *tls.Certificate
	loaded  stamp  // the files' stamp when cert was read
	failed  stamp  // the last stamp that did not load; zero if none
	lastErr string // the last failure logged, so that it is logged once
	checked time.Time
}

// stamp identifies a version of the two files.
type stamp struct {
	certMod, keyMod   time.Time
	certSize, keySize int64
}

// NewReloader loads the certificate and key, failing when they do not
// load: a server should not start without a certificate.
func NewReloader(certFile, keyFile string, opts ReloaderOptions) (*Reloader, error) {
	if opts.CheckEvery == 0 {
		opts.CheckEvery = DefaultCheckEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Reloader{certFile: certFile, keyFile: keyFile, opts: opts}
	st, err := r.stat()
	if err != nil {
		return nil, err
	}
	cert, err := r.load()
	if err != nil {
		return nil, err
	}
	r.cert, r.loaded, r.checked = cert, st, opts.Now()
	return r, nil
}

// TLSConfig returns a server configuration that gets its certificate from
// r, TLS 1.2 or later.
func (r *Reloader) TLSConfig() *tls.Config {
	return &tls.Config{GetCertificate: r.GetCertificate, MinVersion: tls.VersionTLS12}
}

// GetCertificate is for tls.Config: it returns the current certificate,
// reloading it first when the files changed.
func (r *Reloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	now := r.opts.Now()
	if r.opts.CheckEvery < 0 || now.Sub(r.checked) >= r.opts.CheckEvery {
		r.checked = now
		r.refresh()
	}
	return r.cert, nil
}

// Reload checks the files now, whatever CheckEvery says, and reports
// whether a new certificate is in use.
func (r *Reloader) Reload() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.checked = r.opts.Now()
	return r.refresh()
}

// Leaf returns the certificate currently served.
func (r *Reloader) Leaf() *x509.Certificate {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.cert.Leaf
}

// refresh reloads the files if their stamp changed since the last load
// and since the last failure. r.mu is held.
func (r *Reloader) refresh() (bool, error) {
	st, err := r.stat()
	if err == nil && (st == r.loaded || st == r.failed) {
		return false, nil
	}
	var cert *tls.Certificate
	if err == nil {
		cert, err = r.load()
	}
	if err != nil {
		if msg := err.Error(); msg != r.lastErr {
			r.lastErr = msg
			r.opts.Logger.Warn("TLS certificate not reloaded; still serving the previous one",
				"cert", r.certFile, "key", r.keyFile, "err", err)
		}
		r.failed = st
		return false, err
	}
	r.cert, r.loaded, r.failed, r.lastErr = cert, st, stamp{}, ""
	r.opts.Logger.Info("TLS certificate reloaded", "cert", r.certFile,
		"subject", cert.Leaf.Subject.CommonName, "not_after", cert.Leaf.NotAfter)
	return true, nil
}

func (r *Reloader) stat() (stamp, error) {
	c, err := os.Stat(r.certFile)
	if err != nil {
		return stamp{}, err
	}
	k, err := os.Stat(r.keyFile)
	if err != nil {
		return stamp{}, err
	}
	return stamp{certMod: c.ModTime(), keyMod: k.ModTime(), certSize: c.Size(), keySize: k.Size()}, nil
}

// load reads and checks the pair; Leaf is filled in by tls.LoadX509KeyPair.
func (r *Reloader) load() (*tls.Certificate, error) {
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return nil, fmt.Errorf("loading TLS certificate: %w", err)
	}
	return &cert, nil
}
