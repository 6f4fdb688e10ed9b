// Package metrics defines glucoshare's Prometheus metrics. One Metrics value
// is built per server on its own registry (no global state), handed to the
// parts that count, and served at /metrics.
package metrics

import (
	"database/sql"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/glucoshare/glucoshare/internal/version"
)

// Metrics holds the server's collectors.
type Metrics struct {
	Registry *prometheus.Registry

	requests    *prometheus.CounterVec
	latency     *prometheus.HistogramVec
	logins      *prometheus.CounterVec
	lockouts    prometheus.Counter
	egvs        prometheus.Counter
	alarms      *prometheus.CounterVec
	webhooks    *prometheus.CounterVec
	notified    *prometheus.CounterVec
	sseClient   prometheus.Gauge
	mirrorPolls *prometheus.CounterVec
	mirrorLag   prometheus.Histogram
}

// New creates the collectors on a fresh registry, with the Go runtime and
// process collectors.
func New() *Metrics {
	reg := prometheus.NewRegistry()
	m := &Metrics{
		Registry: reg,
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glucoshare_share_requests_total",
			Help: "Share protocol requests by endpoint and result code (OK or the error Code).",
		}, []string{"endpoint", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "glucoshare_share_request_duration_seconds",
			Help:    "Share protocol request latency by endpoint.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5},
		}, []string{"endpoint"}),
		logins: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glucoshare_logins_total",
			Help: "Credential checks by result: ok, invalid (wrong credentials) or locked (refused, unchecked, during a delay after failures).",
		}, []string{"result"}),
		lockouts: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "glucoshare_lockouts_total",
			Help: "Failed logins that started or lengthened a delay (per account and address, or account-wide).",
		}),
		egvs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "glucoshare_egvs_ingested_total",
			Help: "Glucose readings newly stored.",
		}),
		alarms: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glucoshare_alarm_events_total",
			Help: "Alarm events by alert kind and event (fired, refired, cleared).",
		}, []string{"kind", "event"}),
		webhooks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glucoshare_webhook_deliveries_total",
			Help: "Webhook delivery attempts by result (ok, retry, failed).",
		}, []string{"result"}),
		notified: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glucoshare_notification_deliveries_total",
			Help: "Notification delivery attempts by channel (webhook, webpush, ntfy, pushover) and result (ok, retry, failed, gone: an expired push subscription removed).",
		}, []string{"channel", "result"}),
		sseClient: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "glucoshare_event_stream_clients",
			Help: "Open live event streams.",
		}),
		mirrorPolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "glucoshare_mirror_polls_total",
			Help: "Polls of mirrored Share accounts by outcome: ok, credentials (the link stopped), rate_limited, session, upstream, network or key.",
		}, []string{"result"}),
		mirrorLag: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "glucoshare_mirror_lag_seconds",
			Help:    "Time from a mirrored reading's time upstream to its storage here, for the newest reading of each poll that stored readings.",
			Buckets: []float64{5, 15, 30, 45, 60, 90, 120, 180, 300, 600, 1800},
		}),
	}
	reg.MustRegister(m.requests, m.latency, m.logins, m.lockouts, m.egvs, m.alarms, m.webhooks, m.notified, m.sseClient,
		m.mirrorPolls, m.mirrorLag,
		buildInfo(version.Get()),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// buildInfo is the gauge glucoshare_build_info, always 1, whose labels tell
// which build is running, so that dashboards can show it and alerts can
// compare instances.
func buildInfo(info version.Info) prometheus.Collector {
	commit := info.Commit
	if commit == "" {
		commit = "unknown"
	}
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "glucoshare_build_info",
		Help: "Always 1; the labels name the running build: version, commit and Go version.",
	}, []string{"version", "commit", "goversion"})
	g.WithLabelValues(info.Version, commit, info.GoVersion).Set(1)
	return g
}

// Handler serves the registry in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{Registry: m.Registry})
}

// WatchDB exports the connection-pool statistics of a database handle.
func (m *Metrics) WatchDB(name string, db *sql.DB) {
	m.Registry.MustRegister(collectors.NewDBStatsCollector(db, name))
}

// The methods below are nil-safe so that code under test can run without
// metrics.

// Request records one Share protocol request.
func (m *Metrics) Request(endpoint, code string, d time.Duration) {
	if m == nil {
		return
	}
	m.requests.WithLabelValues(endpoint, code).Inc()
	m.latency.WithLabelValues(endpoint).Observe(d.Seconds())
}

// Endpoint is one Share endpoint's request metrics. Its successful
// requests are counted on series looked up once, on the first of them,
// rather than by hashing the labels and searching the vectors every time.
// Series are created on first use as before, so /metrics shows the same.
type Endpoint struct {
	m      *Metrics
	name   string
	series atomic.Pointer[endpointSeries]
}

type endpointSeries struct {
	ok      prometheus.Counter
	latency prometheus.Observer
}

// Endpoint returns the request metrics of endpoint; nil when m is nil.
func (m *Metrics) Endpoint(endpoint string) *Endpoint {
	if m == nil {
		return nil
	}
	return &Endpoint{m: m, name: endpoint}
}

// Request records one request, as Metrics.Request does.
func (e *Endpoint) Request(code string, d time.Duration) {
	if e == nil {
		return
	}
	if code != "OK" {
		e.m.Request(e.name, code, d)
		return
	}
	s := e.series.Load()
	if s == nil {
		// Two first requests at once look up the same series.
		s = &endpointSeries{ok: e.m.requests.WithLabelValues(e.name, code), latency: e.m.latency.WithLabelValues(e.name)}
		e.series.Store(s)
	}
	s.ok.Inc()
	s.latency.Observe(d.Seconds())
}

// Login records a credential check's result: "ok", "invalid" or "locked".
func (m *Metrics) Login(result string) {
	if m != nil {
		m.logins.WithLabelValues(result).Inc()
	}
}

// Lockout records a failed login that started or lengthened a delay; the
// name stays from the time failures locked an account.
func (m *Metrics) Lockout() {
	if m != nil {
		m.lockouts.Inc()
	}
}

// EGVs records n newly stored readings.
func (m *Metrics) EGVs(n int) {
	if m != nil && n > 0 {
		m.egvs.Add(float64(n))
	}
}

// AlarmEvent records an alarm event.
func (m *Metrics) AlarmEvent(kind, event string) {
	if m != nil {
		m.alarms.WithLabelValues(kind, event).Inc()
	}
}

// WebhookDelivery records a webhook attempt's result.
func (m *Metrics) WebhookDelivery(result string) {
	if m != nil {
		m.webhooks.WithLabelValues(result).Inc()
	}
}

// NotificationDelivery records a delivery attempt's result on a channel
// of the kind.
func (m *Metrics) NotificationDelivery(channel, result string) {
	if m != nil {
		m.notified.WithLabelValues(channel, result).Inc()
	}
}

// StreamClients adjusts the number of open event streams.
func (m *Metrics) StreamClients(delta int) {
	if m != nil {
		m.sseClient.Add(float64(delta))
	}
}

// MirrorPoll counts one poll of a mirrored account by its outcome.
func (m *Metrics) MirrorPoll(result string) {
	if m != nil {
		m.mirrorPolls.WithLabelValues(result).Inc()
	}
}

// MirrorLag records the time from a mirrored reading's time to its storage.
func (m *Metrics) MirrorLag(d time.Duration) {
	if m != nil {
		m.mirrorLag.Observe(d.Seconds())
	}
}
