package share

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// These tests replace the client's sleep, so that Retry-After values of
// seconds and minutes are honoured without waiting.

func TestRetryAfterHonoured(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch n.Add(1) {
		case 1:
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
			io.WriteString(w, `{"Code":"TooManyRequests","Message":"slow down","SubCode":"x","TypeName":"FaultException"}`)
		case 2:
			w.Header().Set("Retry-After", time.Now().Add(30*time.Second).UTC().Format(http.TimeFormat))
			w.WriteHeader(http.StatusServiceUnavailable)
			io.WriteString(w, `{"Code":"ServiceUnavailable","Message":"later","SubCode":"x","TypeName":"FaultException"}`)
		default:
			io.WriteString(w, `{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0}`)
		}
	}))
	defer srv.Close()
	c, err := NewClient(WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	got, err := c.SystemUTCTime(context.Background())
	if err != nil || got.UnixMilli() != 1745081013817 {
		t.Fatalf("SystemUTCTime = %v, %v", got, err)
	}
	if len(waits) != 2 || waits[0] != 7*time.Second || waits[1] < 28*time.Second || waits[1] > 31*time.Second {
		t.Errorf("waits %v, want [7s ~30s]", waits)
	}
}

func TestRetryAfterLimits(t *testing.T) {
	var n atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Retry-After", r.URL.Query().Get("after"))
		w.WriteHeader(http.StatusTooManyRequests)
		io.WriteString(w, `{"Code":"TooManyRequests","Message":"slow down","SubCode":"x","TypeName":"FaultException"}`)
	}))
	defer srv.Close()
	c, _ := NewClient(WithBaseURL(srv.URL), WithRetry(3, 10*time.Second))
	var waits []time.Duration
	c.sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }

	// Beyond the longest wait: returned at once, with RetryAfter.
	_, err := c.send(context.Background(), post("General/SystemUtcTime", q("after", "600"), nil))
	var ce *CallError
	if !errors.As(err, &ce) || ce.Status != 429 || ce.RetryAfter != 10*time.Minute || !errors.Is(err, &Error{Code: CodeTooManyRequests}) {
		t.Fatalf("long Retry-After: %v", err)
	}
	if d, ok := RetryAfter(err); !ok || d != 10*time.Minute {
		t.Errorf("RetryAfter(err) = %v, %v", d, ok)
	}
	if n.Load() != 1 || len(waits) != 0 {
		t.Errorf("%d requests and waits %v for a long Retry-After", n.Load(), waits)
	}
	// Within it: retried as often as allowed, then returned.
	n.Store(0)
	_, err = c.send(context.Background(), post("General/SystemUtcTime", q("after", "2"), nil))
	if !errors.As(err, &ce) || n.Load() != 4 || len(waits) != 3 {
		t.Errorf("short Retry-After: %v after %d requests, waits %v", err, n.Load(), waits)
	}
	// No Retry-After: a growing pause. A cancelled context stops waiting.
	waits = nil
	n.Store(0)
	c.send(context.Background(), post("General/SystemUtcTime", nil, nil))
	if len(waits) != 3 || waits[0] != time.Second || waits[2] != 3*time.Second {
		t.Errorf("waits without Retry-After %v", waits)
	}
	c.sleep = sleepContext
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.send(ctx, post("General/SystemUtcTime", q("after", "5"), nil)); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	for in, want := range map[string]time.Duration{"": 0, "0": 0, "-3": 0, "12": 12 * time.Second, "soon": 0,
		time.Now().Add(-time.Hour).UTC().Format(http.TimeFormat): 0} {
		if got := parseRetryAfter(in); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestEGVPostBody(t *testing.T) {
	got := string(egvPostBody("8G1234", []Reading{
		{ST: 1745081013000, Offset: -240, Value: 97, Trend: TrendFlat},
		{ST: 1745080713000, Offset: 330, Value: 39, Trend: Trend(42)},
	}))
	want := `{"SN":"8G1234","Egvs":[{"DT":"/Date(1745066613000)/","ST":"/Date(1745081013000)/","Trend":4,"Value":97},` +
		`{"DT":"/Date(1745100513000)/","ST":"/Date(1745080713000)/","Trend":0,"Value":39}],"TA":0}`
	if got != want {
		t.Errorf("body\n%s\nwant\n%s", got, want)
	}
	if got := string(egvPostBody("X", nil)); got != `{"SN":"X","Egvs":[],"TA":0}` {
		t.Errorf("empty body %s", got)
	}
}
