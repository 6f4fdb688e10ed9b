package nightscout_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/core"
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

// BenchmarkEntriesLatest is GET /api/v1/entries.json?count=1 with the
// hashed API secret, as uploaders and followers poll it.
func BenchmarkEntriesLatest(b *testing.B) {
	e := newEnv(b)
	sam := e.account("sam", samSecret)
	e.upload(sam, samples()...)
	secret := core.NightscoutSecretHash(samSecret)
	want := e.entries(e.do("GET", "/api/v1/entries.json?count=1", "", "api-secret", secret))
	if len(want) != 1 {
		b.Fatalf("%d entries, want 1", len(want))
	}
	r := e.do("GET", "/api/v1/entries.json?count=1", "", "api-secret", secret)
	benchGet(b, e.h, "/api/v1/entries.json?count=1", secret, len(r.body))
}

// benchGet serves GET target with the API secret until the benchmark
// ends, checking each answer's status and length.
func benchGet(b *testing.B, h http.Handler, target, secret string, wantBytes int) {
	req := httptest.NewRequest(http.MethodGet, target, nil)
	req.RemoteAddr = "198.51.100.7:1234"
	req.Header.Set("api-secret", secret)
	w := &benchWriter{h: http.Header{}}
	b.ReportAllocs()
	for b.Loop() {
		clear(w.h)
		w.status, w.n = 0, 0
		h.ServeHTTP(w, req)
		if w.status != http.StatusOK || w.n != wantBytes {
			b.Fatalf("status %d, %d bytes; want 200, %d", w.status, w.n, wantBytes)
		}
	}
}

// BenchmarkProperties is GET /api/v2/properties with the hashed API
// secret, as Nightguard polls it every minute.
func BenchmarkProperties(b *testing.B) {
	e := newEnv(b)
	sam := e.account("sam", samSecret)
	e.upload(sam, samples()...)
	secret := core.NightscoutSecretHash(samSecret)
	r := e.do("GET", "/api/v2/properties", "", "api-secret", secret)
	if r.status != http.StatusOK || !strings.Contains(r.body, `"bgnow"`) {
		b.Fatalf("status %d: %s", r.status, r.body)
	}
	benchGet(b, e.h, "/api/v2/properties", secret, len(r.body))
}
