package share_test

// Interop with Dexcom's hosted service: the client reads the canned
// conversations of testdata/hosted, recorded in the service's exact formats,
// modern (2021 and later) and legacy (.NET era).

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/glucoshare/glucoshare/share"
)

// replay serves the responses of dir in file-name order and fails the test
// if a request goes to another endpoint than the next file's name says, or
// if responses are left over at the end.
func replay(t *testing.T, dir string) string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("testdata", "hosted", dir, "*.http"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no responses in %s: %v", dir, err)
	}
	var mu sync.Mutex
	next := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(files) {
			t.Errorf("unexpected request %s after the last response", r.URL.Path)
			http.Error(w, "no more responses", 599)
			return
		}
		name := filepath.Base(files[next])
		next++
		// NN-Area-Method.http answers /ShareWebServices/Services/Area/Method.
		parts := strings.SplitN(strings.TrimSuffix(name, ".http"), "-", 3)
		if want := share.BasePath + "/" + parts[1] + "/" + parts[2]; r.URL.Path != want {
			t.Errorf("request %d: %s, want %s", next, r.URL.Path, want)
		}
		f, err := os.Open(files[next-1])
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		res, err := http.ReadResponse(bufio.NewReader(f), r)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		body, _ := io.ReadAll(res.Body)
		for k, v := range res.Header {
			w.Header()[k] = v
		}
		w.WriteHeader(res.StatusCode)
		w.Write(body)
	}))
	t.Cleanup(func() {
		srv.Close()
		if next != len(files) {
			t.Errorf("%s: %d of %d responses used", dir, next, len(files))
		}
	})
	return srv.URL
}

func TestHostedModern(t *testing.T) {
	c, err := share.NewClient(share.WithBaseURL(replay(t, "us-modern-relogin")), share.WithCredentials("username", "password"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rs, err := c.ReadPublisherLatestGlucoseValues(ctx, 1440, 288)
	if err != nil {
		t.Fatalf("first read: %v", err)
	}
	want := []share.Reading{
		{ST: 1721523293100, Offset: -240, Value: 312, Trend: share.TrendFortyFiveUp},
		{ST: 1721522993527, Offset: -240, Value: 311, Trend: share.TrendFlat},
		{ST: 1721522693395, Offset: -240, Value: 39, Trend: share.TrendNotComputable},
		{ST: 1721522393264, Offset: -240, Value: 401, Trend: share.TrendRateOutOfRange},
		{ST: 1721522093132, Offset: -240, Value: 97, Trend: share.TrendDoubleDown},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("readings\n%+v\nwant\n%+v", rs, want)
	}
	if c.AccountID() != "99999999-9999-9999-9999-999999999999" || c.SessionID() != "33333333-3333-3333-3333-333333333333" {
		t.Errorf("account %s, session %s", c.AccountID(), c.SessionID())
	}
	if got := rs[0].LocalTime().Format("2006-01-02 15:04:05 -0700"); got != "2024-07-20 20:54:53 -0400" {
		t.Errorf("LocalTime %s", got)
	}
	if rs[0].Trend.Arrow() != "↗" || rs[2].Trend.Arrow() != "?" {
		t.Errorf("arrows %q %q", rs[0].Trend.Arrow(), rs[2].Trend.Arrow())
	}

	// SessionIdNotFound → one re-login by the kept account id → the read.
	r, err := c.LatestReading(ctx)
	if err != nil || r != (share.Reading{ST: 1691346655000, Offset: -240, Value: 127, Trend: share.TrendFlat}) {
		t.Errorf("read after re-login = %+v, %v", r, err)
	}
	if c.SessionID() != "55555555-5555-5555-5555-555555555555" {
		t.Errorf("session after re-login %s", c.SessionID())
	}
	if _, err := c.LatestReading(ctx); !errors.Is(err, share.ErrNoReadings) {
		t.Errorf("empty answer: %v", err)
	}
}

func TestHostedLegacy(t *testing.T) {
	c, err := share.NewClient(share.WithBaseURL(replay(t, "ous-legacy-relogin")),
		share.WithCredentials("username", "password"), share.WithLoginMethod(share.LoginPublisherByName))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rs, err := c.ReadPublisherLatestGlucoseValues(ctx, 1440, 3)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	// ST is the reading's instant; DT's own offset is its UTC offset.
	want := []share.Reading{
		{ST: 1489743783000, Offset: -420, Value: 104, Trend: share.TrendFlat},
		{ST: 1489743242000, Offset: -420, Value: 102, Trend: share.TrendFortyFiveUp},
		{ST: 1489742999000, Offset: -420, Value: 102, Trend: share.TrendNotComputable},
	}
	if !reflect.DeepEqual(rs, want) {
		t.Errorf("legacy readings\n%+v\nwant\n%+v", rs, want)
	}
	// SessionNotValid → re-login by name → the read.
	rs, err = c.ReadPublisherLatestGlucoseValues(ctx, 1440, 1)
	if err != nil || len(rs) != 1 || rs[0] != (share.Reading{ST: 1603569378000, Offset: 0, Value: 94, Trend: share.TrendRateOutOfRange}) {
		t.Errorf("read after SessionNotValid = %+v, %v", rs, err)
	}
	if c.SessionID() != "8f4e3c2b-1a09-4b7c-9d6e-5f4a3b2c1d0e" {
		t.Errorf("session %s", c.SessionID())
	}
}

func TestHostedLoginFailures(t *testing.T) {
	ctx := context.Background()
	c, _ := share.NewClient(share.WithBaseURL(replay(t, "us-bad-password")), share.WithCredentials("username", "wrong"))
	err := c.Login(ctx)
	var ce *share.CallError
	if !errors.Is(err, share.ErrAccountPasswordInvalid) || !errors.As(err, &ce) || ce.Err.Message != "Publisher account password failed" ||
		!strings.HasPrefix(ce.Err.SubCode, "<OnlineException") {
		t.Errorf("bad password: %v", err)
	}
	c, _ = share.NewClient(share.WithBaseURL(replay(t, "us-zero-session")),
		share.WithCredentials("username", "password"), share.WithLoginMethod(share.LoginPublisherByName))
	if err := c.Login(ctx); !errors.Is(err, share.ErrInvalidID) {
		t.Errorf("zero session: %v, want ErrInvalidID", err)
	}
}
