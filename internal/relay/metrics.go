package relay

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// metrics are the relay's counters, each by region (us, ous, jp, custom;
// "none" for requests that matched no route).
type metrics struct {
	requests       *prometheus.CounterVec
	upstream       *prometheus.CounterVec
	coalesced      *prometheus.CounterVec
	upstreamErrors *prometheus.CounterVec
	throttled      *prometheus.CounterVec
}

// newMetrics creates the counters on reg; a nil reg leaves them
// unregistered.
func newMetrics(reg prometheus.Registerer) *metrics {
	f := promauto.With(reg)
	vec := func(name, help string) *prometheus.CounterVec {
		return f.NewCounterVec(prometheus.CounterOpts{Name: name, Help: help}, []string{"region"})
	}
	return &metrics{
		requests: vec("glucoshare_relay_requests_total",
			"Requests received by the relay."),
		upstream: vec("glucoshare_relay_upstream_requests_total",
			"Requests the relay sent upstream."),
		coalesced: vec("glucoshare_relay_coalesced_total",
			"Glucose reads answered from an identical read's upstream call."),
		upstreamErrors: vec("glucoshare_relay_upstream_errors_total",
			"Upstream calls that failed or went silent (answered 502 UpstreamUnavailable)."),
		throttled: vec("glucoshare_relay_throttled_total",
			"Requests answered 429 by the relay while the upstream asked for a pause."),
	}
}
