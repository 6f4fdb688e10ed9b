package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// Many uploaders creating the same treatment at once through API v3, each
// with an identifier of its own (as two phones of one user running
// AndroidAPS and xDrip+ do, or one app retrying on a second connection):
// Nightscout's deduplication by created_at and eventType must find the
// first one's document in every other request, however they interleave.
// Exactly one document is stored, one request answers 201 and the others
// 200 with isDeduplication.
func TestV3ConcurrentCreatesDeduplicate(t *testing.T) {
	s := startServer(t)
	sam := v3NewAccount(t, s, "sam", "AAPS")
	var auth struct{ Token string }
	v3Decode(t, "authorization request", s.get(t, "/api/v2/authorization/request/"+sam.token), 200, &auth)
	const n = 12
	at := time.Now().Add(-10 * time.Minute).Truncate(time.Second).UnixMilli()
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make([]answer, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`{"identifier":"6b1c2f3e-0000-4000-8000-%012d","eventType":"Meal Bolus","insulin":2,"carbs":30,"date":%d,"utcOffset":0,"app":"AAPS","device":"Dana-i"}`,
				i, at)
			req, err := http.NewRequest("POST", s.base+"/api/v3/treatments", strings.NewReader(body))
			if err != nil {
				answers[i].err = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer "+auth.Token)
			<-start
			res, err := s.client.Do(req)
			if err != nil {
				answers[i].err = err
				return
			}
			defer res.Body.Close()
			raw, err := io.ReadAll(res.Body)
			answers[i] = answer{status: res.StatusCode, body: string(raw), err: err}
		}()
	}
	close(start)
	wg.Wait()

	created, deduplicated := 0, 0
	for i, a := range answers {
		if a.err != nil {
			t.Fatalf("request %d: %v", i, a.err)
		}
		var got struct {
			IsDeduplication bool `json:"isDeduplication"`
		}
		if err := json.Unmarshal([]byte(a.body), &got); err != nil {
			t.Fatalf("request %d: %d %s: %v", i, a.status, a.body, err)
		}
		switch {
		case a.status == 201 && !got.IsDeduplication:
			created++
		case a.status == 200 && got.IsDeduplication:
			deduplicated++
		default:
			t.Errorf("request %d: %d %s, want 201, or 200 with isDeduplication", i, a.status, a.body)
		}
	}
	if created != 1 || deduplicated != n-1 {
		t.Errorf("%d answers 201 and %d 200 with isDeduplication, want 1 and %d", created, deduplicated, n-1)
	}

	var stored struct {
		Result []map[string]any `json:"result"`
	}
	v3Decode(t, "search treatments", s.get(t, "/api/v3/treatments", "Authorization", "Bearer "+auth.Token), 200, &stored)
	if len(stored.Result) != 1 {
		t.Fatalf("%d treatments stored, want 1: %v", len(stored.Result), stored.Result)
	}
}

// The same through API v1: uploaders posting one treatment at once (Loop
// retrying, or two phones) store it once, Nightscout's upsert by
// created_at and eventType found in the write's own transaction.
func TestV1ConcurrentTreatmentsDeduplicate(t *testing.T) {
	s := startServer(t)
	sam := newNSAccount(t, s, "sam", false)
	const n = 12
	created := isoMs(time.Now().Add(-10 * time.Minute).Truncate(time.Second).UnixMilli())
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			body := fmt.Sprintf(`[{"eventType":"Meal Bolus","created_at":%q,"insulin":2,"carbs":30,"enteredBy":"uploader %d"}]`, created, i)
			req, err := http.NewRequest("POST", s.base+"/api/v1/treatments", strings.NewReader(body))
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("api-secret", sha1Hex(sam.secret))
			<-start
			res, err := s.client.Do(req)
			if err != nil {
				errs[i] = err
				return
			}
			defer res.Body.Close()
			raw, _ := io.ReadAll(res.Body)
			if res.StatusCode != 200 {
				errs[i] = fmt.Errorf("status %d: %s", res.StatusCode, raw)
			}
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("upload %d: %v", i, err)
		}
	}
	var stored []map[string]any
	decodeAs(t, "treatments", s.get(t, "/api/v1/treatments.json", "api-secret", sha1Hex(sam.secret)), &stored)
	if len(stored) != 1 {
		t.Fatalf("%d treatments stored, want 1: %v", len(stored), stored)
	}
}
