// Package server assembles glucoshare's HTTP server: the protocol under
// /ShareWebServices/Services/, the Nightscout-compatible API under /api/,
// /ns/{handle}/ and /pebble, the relay under /relay/ when enabled, the
// health check, the build information, metrics, the web dashboard
// (internal/web) under every other path, and
// background sweeps.
package server

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/glucoshare/glucoshare/internal/clientaddr"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/lease"
	"github.com/glucoshare/glucoshare/internal/metrics"
	"github.com/glucoshare/glucoshare/internal/mirror"
	"github.com/glucoshare/glucoshare/internal/nightscout"
	"github.com/glucoshare/glucoshare/internal/shareapi"
	"github.com/glucoshare/glucoshare/internal/version"
	"github.com/glucoshare/glucoshare/internal/web"
)

// Options configures a Server.
type Options struct {
	Clock       glucose.Clock
	Logger      *slog.Logger
	TLSConfig   *tls.Config   // HTTPS when set
	SweepEvery  time.Duration // session sweep interval; default 1h
	ShutdownMax time.Duration // graceful shutdown deadline; default 15s
	// Relay, when set, serves everything under /relay/ (docs/protocol.md, "Relay",
	// off by default).
	Relay http.Handler
	// Metrics, when set, is served at GET /metrics (MetricsHandler). Leave
	// it nil when the metrics have a listener of their own.
	Metrics *prometheus.Registry
	// MetricsToken, when set, is the bearer token /metrics requires.
	MetricsToken string
	// AppMetrics counts Share requests, logins, EGVs, alarms and webhooks.
	AppMetrics *metrics.Metrics
	// Alarms configures alarm evaluation and delivery.
	Alarms AlarmOptions
	// Web configures the dashboard; its Clock, Logger and ClientAddr
	// default to the server's.
	Web web.Options
	// Nightscout configures the Nightscout API; its Clock, Logger and
	// ClientAddr default to the server's.
	Nightscout nightscout.Options
	// Mirror, when set, polls the Share accounts that accounts are linked
	// to (package mirror); its Clock, Logger and Metrics default to the
	// server's.
	Mirror *mirror.Options
	// TrustedProxies are the proxies whose X-Forwarded-For names the
	// client address; nil means clientaddr.DefaultTrusted (loopback).
	TrustedProxies []netip.Prefix
}

// Server is a running glucoshare HTTP server.
type Server struct {
	svc  *core.Service
	opts Options
	http *http.Server
	web  *web.Handler
	ns   *nightscout.API
	wg   sync.WaitGroup
}

// New builds a server over svc.
func New(svc *core.Service, opts Options) *Server {
	if opts.Clock == nil {
		opts.Clock = glucose.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.SweepEvery <= 0 {
		opts.SweepEvery = time.Hour
	}
	if opts.ShutdownMax <= 0 {
		opts.ShutdownMax = 15 * time.Second
	}
	s := &Server{svc: svc, opts: opts}
	s.http = &http.Server{
		Handler:           s.Handler(),
		TLSConfig:         opts.TLSConfig,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      60 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(opts.Logger.Handler(), slog.LevelWarn),
	}
	// Event streams would otherwise hold a graceful shutdown to its deadline.
	s.http.RegisterOnShutdown(s.web.Close)
	s.http.RegisterOnShutdown(s.ns.Close)
	return s
}

// Handler returns the root handler: the protocol paths (matched
// case-insensitively, docs/protocol.md, "Hosts and paths") and everything else.
func (s *Server) Handler() http.Handler {
	addrs := clientaddr.NewResolver(clientaddr.DefaultTrusted)
	if s.opts.TrustedProxies != nil {
		addrs = clientaddr.NewResolver(s.opts.TrustedProxies)
	}
	api := shareapi.New(s.svc, shareapi.Options{Clock: s.opts.Clock, Logger: s.opts.Logger, Metrics: s.opts.AppMetrics, ClientAddr: addrs})
	no := s.opts.Nightscout
	if no.Clock == nil {
		no.Clock = s.opts.Clock
	}
	if no.Logger == nil {
		no.Logger = s.opts.Logger
	}
	if no.ClientAddr == nil {
		no.ClientAddr = addrs
	}
	ns := nightscout.New(s.svc, no)
	s.ns = ns
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /version", serveVersion)
	mux.Handle("/api/", ns)
	mux.Handle("/ns/", ns)
	mux.Handle("/pebble", ns)
	mux.Handle("/socket.io/", ns)
	wo := s.opts.Web
	if wo.Clock == nil {
		wo.Clock = s.opts.Clock
	}
	if wo.Logger == nil {
		wo.Logger = s.opts.Logger
	}
	if wo.ClientAddr == nil {
		wo.ClientAddr = addrs
	}
	s.web = web.New(s.svc, wo)
	mux.Handle("/", s.web)
	if s.opts.Metrics != nil {
		mux.Handle("GET /metrics", MetricsHandler(s.opts.Metrics, s.opts.MetricsToken))
	}
	hsts := s.opts.Web.CookieSecure
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Over TLS, or behind a proxy that ends TLS (--cookie-secure),
		// browsers are told to use HTTPS only, for a year.
		if r.TLS != nil || hsts {
			w.Header().Set("Strict-Transport-Security", "max-age=31536000")
		}
		switch {
		case shareapi.IsProtocolPath(r.URL.Path):
			api.ServeHTTP(w, r)
		// The relay takes its paths as they come (docs/protocol.md, "Hosts and paths" tolerates repeated
		// slashes, which the mux would redirect).
		case s.opts.Relay != nil && strings.HasPrefix(r.URL.Path, "/relay/"):
			s.opts.Relay.ServeHTTP(w, r)
		case routesToAPI(r):
			ns.ServeHTTP(w, r) // where the mux would send it, without its matching
		default:
			mux.ServeHTTP(w, r)
		}
	})
}

// routesToAPI reports whether the mux of Handler would hand r to the
// Nightscout API as it is: a path under /api/ that needs no cleaning (the
// mux would redirect one that does), given in its plain form, in a
// request other than CONNECT (whose path the mux treats apart). No other
// pattern of the mux matches such a path. Nightscout clients poll these
// paths, and the mux's matching allocates for a prefix pattern.
func routesToAPI(r *http.Request) bool {
	p := r.URL.Path
	return strings.HasPrefix(p, "/api/") && r.URL.RawPath == "" && r.Method != http.MethodConnect && path.Clean(p) == p
}

// MetricsHandler serves reg in the Prometheus format; with a token, only
// to requests that carry it as "Authorization: Bearer <token>" (compared in
// constant time), others get 401.
func MetricsHandler(reg *prometheus.Registry, token string) http.Handler {
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg})
	if token == "" {
		return h
	}
	want := []byte("Bearer " + token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="glucoshare metrics"`)
			http.Error(w, "a bearer token is required", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// ServeMetrics serves MetricsHandler(reg, token) alone at /metrics on ln
// (--metrics-addr) until ctx is done.
func ServeMetrics(ctx context.Context, ln net.Listener, reg *prometheus.Registry, token string) error {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", MetricsHandler(reg, token))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second,
		WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if err := s.svc.Store().Ping(ctx); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("storage unavailable\n"))
		return
	}
	w.Write([]byte("ok\n"))
}

// serveVersion answers the build information as JSON (docs/operations.md).
func serveVersion(w http.ResponseWriter, r *http.Request) {
	body, err := json.Marshal(version.Get())
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.Write(body)
}

// Serve serves on ln until ctx is done, then shuts down gracefully within
// the deadline, waiting for background work to stop.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.wg.Add(3)
	go s.sweep(ctx)
	go s.runAlarms(ctx)
	go s.runMirror(ctx)

	errc := make(chan error, 1)
	go func() {
		if s.opts.TLSConfig != nil {
			ln = tls.NewListener(ln, s.opts.TLSConfig)
		}
		errc <- s.http.Serve(ln)
	}()
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, scancel := context.WithTimeout(context.Background(), s.opts.ShutdownMax)
		err = s.http.Shutdown(sctx)
		scancel()
	}
	cancel()
	s.wg.Wait()
	fctx, fcancel := context.WithTimeout(context.Background(), 10*time.Second)
	if ferr := s.svc.FlushTouches(fctx); ferr != nil {
		s.opts.Logger.Warn("recording sessions' last use at shutdown failed", "err", ferr)
	}
	fcancel()
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// sweep forgets long-ended sessions and spent login throttling rows
// periodically, on one instance at a time: the one holding the
// session-sweep lease (package lease).
func (s *Server) sweep(ctx context.Context) {
	defer s.wg.Done()
	r, err := lease.New(s.svc.Store(), "session-sweep", lease.HolderID(), s.forgetSessions,
		lease.Options{Every: s.opts.SweepEvery, Clock: s.opts.Clock, Logger: s.opts.Logger})
	if err != nil {
		s.opts.Logger.Error("session sweep disabled", "err", err)
		return
	}
	r.Run(ctx)
}

func (s *Server) forgetSessions(ctx context.Context, now time.Time) error {
	n, err := s.svc.ForgetSessions(ctx, now)
	if n > 0 {
		s.opts.Logger.Info("forgot ended sessions", "count", n)
	}
	if err != nil {
		return err
	}
	// Login throttling counters that count nothing any more, and old
	// login addresses, go with the same sweep.
	if n, err = s.svc.ForgetLogins(ctx, now); n > 0 {
		s.opts.Logger.Debug("forgot login throttling rows", "count", n)
	}
	return err
}

// runMirror polls linked Share accounts when the server was told to.
func (s *Server) runMirror(ctx context.Context) {
	defer s.wg.Done()
	if s.opts.Mirror == nil {
		return
	}
	mo := *s.opts.Mirror
	if mo.Clock == nil {
		mo.Clock = s.opts.Clock
	}
	if mo.Logger == nil {
		mo.Logger = s.opts.Logger
	}
	if mo.Metrics == nil {
		mo.Metrics = s.opts.AppMetrics
	}
	if mo.Holder == "" {
		mo.Holder = lease.HolderID()
	}
	mirror.New(s.svc, mo).Run(ctx)
}
