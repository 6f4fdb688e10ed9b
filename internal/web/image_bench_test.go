package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/internal/web"
	"github.com/glucoshare/glucoshare/share"
)

// BenchmarkImage serves the same image link over and over, as a watch
// face or an e-ink display polling every minute does: a day of readings,
// drawn at the sizes the profile page offers and at the largest allowed.
// Run: go test ./internal/web -run '^$' -bench BenchmarkImage -benchmem
func BenchmarkImage(b *testing.B) {
	for _, c := range []struct{ name, query string }{
		{"watch-320x160-3h", "hours=3&w=320&h=160"},
		{"eink-800x480-6h", "hours=6&w=800&h=480&theme=eink"},
		{"large-2000x2000-24h", "hours=24&w=2000&h=2000"},
	} {
		b.Run(c.name, func(b *testing.B) {
			h, path := imageFixture(b)
			req := httptest.NewRequest(http.MethodGet, path+"&"+c.query, nil)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("status %d: %s", rec.Code, rec.Body)
				}
			}
		})
	}
}

// imageFixture is a dashboard over a sharer with a day of readings and an
// image link; it returns the handler and the link's path without sizes.
func imageFixture(b testing.TB) (http.Handler, string) {
	ctx := context.Background()
	db := storetest.New(b)
	svc := core.New(db, core.Config{Argon2: cheapArgon})
	clock := clocktest.New(t0)
	h := web.New(svc, web.Options{Clock: clock})
	b.Cleanup(h.Close)
	a, err := svc.CreateAccount(ctx, core.NewAccount{Name: "sam", Password: password}, t0)
	if err != nil {
		b.Fatal(err)
	}
	if err := svc.StartMonitoring(ctx, a.ID, "SM00000000"); err != nil {
		b.Fatal(err)
	}
	egvs := make([]core.EGV, 288)
	for i := range egvs {
		st := t0.Add(-time.Duration(287-i) * 5 * time.Minute)
		egvs[i] = core.EGV{ST: st.UnixMilli(), Value: 60 + (i*7)%250, Trend: share.TrendFlat}
	}
	if _, err := svc.PostReadings(ctx, a.ID, "SM00000000", egvs, t0); err != nil {
		b.Fatal(err)
	}
	token, _, err := svc.CreateReadToken(ctx, a.ID, "", "bench", t0)
	if err != nil {
		b.Fatal(err)
	}
	return h, "/image/" + a.ID + ".png?token=" + token
}
