package web

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

var t0 = time.Date(2025, 4, 19, 16, 43, 0, 0, time.UTC)

// imageEnv is a dashboard over a sharer with readings and an image link,
// whose renders the test can count and hold.
type imageEnv struct {
	h       *Handler
	clock   *clocktest.Clock
	svc     *core.Service
	id      string
	token   string
	renders atomic.Int32
	hold    chan struct{} // when set, each render waits for a value
	started chan struct{} // a value per render begun
}

func newImageEnv(t *testing.T, opts Options) *imageEnv {
	t.Helper()
	ctx := context.Background()
	db := storetest.New(t)
	svc := core.New(db, core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	e := &imageEnv{clock: clocktest.New(t0), svc: svc, started: make(chan struct{}, 100)}
	opts.Clock = e.clock
	e.h = New(svc, opts)
	t.Cleanup(e.h.Close)
	e.h.draw = func(sp chartSpec, ext string) ([]byte, error) {
		e.renders.Add(1)
		e.started <- struct{}{}
		if e.hold != nil {
			<-e.hold
		}
		return renderImage(sp, ext)
	}
	a, err := svc.CreateAccount(ctx, core.NewAccount{Name: "sam", Password: "a long password"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	e.id = a.ID
	e.upload(t, 100)
	if e.token, _, err = svc.CreateReadToken(ctx, a.ID, "", "test", t0); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *imageEnv) upload(t *testing.T, v int) {
	t.Helper()
	ctx := context.Background()
	if err := e.svc.StartMonitoring(ctx, e.id, "SM00000000"); err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now()
	if _, err := e.svc.PostReadings(ctx, e.id, "SM00000000", []core.EGV{{ST: now.UnixMilli(), Value: v, Trend: share.TrendFlat}}, now); err != nil {
		t.Fatal(err)
	}
}

func (e *imageEnv) get(query string) *httptest.ResponseRecorder {
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/image/"+e.id+".png?token="+e.token+"&"+query, nil))
	return rec
}

// TestImagesAreCachedByContent: the same picture asked for again is not
// drawn again; anything that changes it — size, theme, hours, units, a
// new reading, the time axis moving on — is.
func TestImagesAreCachedByContent(t *testing.T) {
	e := newImageEnv(t, Options{})
	first := e.get("w=300&h=150")
	if first.Code != 200 {
		t.Fatalf("status %d", first.Code)
	}
	for i := 0; i < 3; i++ {
		if r := e.get("w=300&h=150"); r.Code != 200 || r.Body.String() != first.Body.String() {
			t.Fatalf("again: %d, same picture %v", r.Code, r.Body.String() == first.Body.String())
		}
	}
	if n := e.renders.Load(); n != 1 {
		t.Errorf("4 requests for one picture drew it %d times, want 1", n)
	}
	for _, q := range []string{"w=301&h=150", "w=300&h=150&theme=dark", "w=300&h=150&hours=4", "w=300&h=150&units=mmol/L"} {
		e.get(q)
	}
	e.clock.Advance(5 * time.Minute)
	e.get("w=300&h=150") // the axis moved on
	e.upload(t, 180)
	e.get("w=300&h=150") // a new reading
	if n := e.renders.Load(); n != 7 {
		t.Errorf("6 different pictures: %d renders in all, want 7", n)
	}
}

// TestImageRendersAreBounded: with every render slot busy, a request for a
// picture that is not cached waits RenderWait and is answered 503 with
// Retry-After; a cached picture is still served; the held render then
// completes.
func TestImageRendersAreBounded(t *testing.T) {
	e := newImageEnv(t, Options{RenderConcurrency: 1, RenderWait: 50 * time.Millisecond})
	cached := e.get("w=200&h=100")
	e.hold = make(chan struct{})
	var wg sync.WaitGroup
	var held *httptest.ResponseRecorder
	wg.Add(1)
	go func() { defer wg.Done(); held = e.get("w=2000&h=2000&hours=24") }()
	<-e.started // the first render
	<-e.started // the slow one now holds the only slot
	r := e.get("w=640&h=480")
	if r.Code != http.StatusServiceUnavailable || r.Header().Get("Retry-After") == "" || r.Header().Get("ETag") != "" {
		t.Errorf("while busy: %d Retry-After %q ETag %q; want 503 with Retry-After, no ETag", r.Code,
			r.Header().Get("Retry-After"), r.Header().Get("ETag"))
	}
	if r := e.get("w=200&h=100"); r.Code != 200 || r.Body.String() != cached.Body.String() {
		t.Errorf("a cached picture while busy: %d", r.Code)
	}
	close(e.hold)
	wg.Wait()
	if held.Code != 200 {
		t.Errorf("the held render: %d", held.Code)
	}
	if r := e.get("w=640&h=480"); r.Code != 200 {
		t.Errorf("after the slot was freed: %d", r.Code)
	}
}
