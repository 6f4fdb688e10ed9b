package shareapi_test

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/metrics"
	"github.com/glucoshare/glucoshare/internal/server"
)

// benchWriter is a ResponseWriter that keeps only what a benchmark checks,
// so that the recorder's own allocations do not hide the handler's.
type benchWriter struct {
	h      http.Header
	status int
	n      int
}

func (w *benchWriter) Header() http.Header { return w.h }
func (w *benchWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
}

func (w *benchWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	w.n += len(b)
	return len(b), nil
}

// BenchmarkReadPublisherLatest is the hot read of docs/performance.md: the
// newest reading of a publisher, as the official app and followers poll
// it, through the whole router with metrics on.
func BenchmarkReadPublisherLatest(b *testing.B) {
	e := newEnv(b)
	e.h = server.New(e.svc, server.Options{Clock: e.clock, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		AppMetrics: metrics.New()}).Handler()
	sid := e.publisher("sam", "8G1234")
	now := t0.UnixMilli()
	var egvs []string
	for i := 0; i < 24; i++ {
		egvs = append(egvs, egv(now-int64(i)*300000, itoa(100+i), ""))
	}
	e.ok(e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, `{"SN":"8G1234","Egvs":[`+strings.Join(egvs, ",")+`]}`))
	target := "/ShareWebServices/Services/Publisher/ReadPublisherLatestGlucoseValues?sessionId=" + sid + "&minutes=1440&maxCount=1"
	want := e.ok(e.post(strings.TrimPrefix(target, "/ShareWebServices/Services/"), "")).body
	req := httptest.NewRequest(http.MethodPost, target, nil)
	req.Header.Set("Content-Type", "application/json")
	req.ContentLength = 0
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status, w.n = 0, 0
		e.h.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n != len(want) {
			b.Fatalf("status %d, %d bytes; want 200, %d", w.status, w.n, len(want))
		}
	}
}
