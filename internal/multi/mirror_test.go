package multi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// fakeDexcom serves every account the same readings, one every 5 minutes
// up to newest, and counts each account's calls.
type fakeDexcom struct {
	mu     sync.Mutex
	newest time.Time
	calls  map[string][]string // user → endpoints called
	user   map[string]string   // session or account id → user
}

func (f *fakeDexcom) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body struct{ AccountName, AccountID, Password string }
	json.NewDecoder(r.Body).Decode(&body) // reads send {}
	endpoint := strings.TrimPrefix(r.URL.Path, share.BasePath+"/")
	f.mu.Lock()
	defer f.mu.Unlock()
	user := body.AccountName
	switch {
	case body.AccountID != "":
		user = f.user[body.AccountID]
	case user == "":
		user = f.user[r.URL.Query().Get("sessionId")]
	}
	f.calls[user] = append(f.calls[user], endpoint)
	w.Header().Set("Content-Type", "application/json")
	switch endpoint {
	case "General/AuthenticatePublisherAccount":
		id := fmt.Sprintf("%08d-1111-1111-1111-111111111111", len(f.user)+1)
		f.user[id] = user
		fmt.Fprintf(w, "%q", id)
	case "General/LoginPublisherAccountById":
		sid := fmt.Sprintf("%08d-2222-2222-2222-222222222222", len(f.user)+1)
		f.user[sid] = user
		fmt.Fprintf(w, "%q", sid)
	case "Publisher/ReadPublisherLatestGlucoseValues":
		var rs []share.Reading
		for i := range 3 {
			rs = append(rs, share.Reading{ST: f.newest.Add(-time.Duration(i) * 5 * time.Minute).UnixMilli(), Value: 120, Trend: share.TrendFlat})
		}
		w.Write(share.AppendReadings(nil, rs, false))
	default:
		http.Error(w, "unexpected", http.StatusNotFound)
	}
}

func (f *fakeDexcom) snapshot() map[string][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := map[string][]string{}
	for u, cs := range f.calls {
		out[u] = append([]string(nil), cs...)
	}
	return out
}

// Two instances on one database share the links: each link is claimed by
// one of them at a time, so each account logs in upstream once (the
// session is kept with the link, whichever instance polls next), is
// backfilled once, and its next reading is read once.
func TestTwoInstancesPollEachLinkOnce(t *testing.T) {
	const links = 20
	dsn := storetest.DSN(t)
	if code, errOut := runCLI("", "migrate", "--db", dsn); code != 0 {
		t.Fatalf("migrate: %s", errOut)
	}
	// The next reading is due 12 s after the links' backfill (5 minutes
	// after the newest, plus the delay assumed at first).
	dex := &fakeDexcom{newest: time.Now().Add(-5*time.Minute - core.DefaultMirrorLag + 12*time.Second).Truncate(time.Second),
		calls: map[string][]string{}, user: map[string]string{}}
	upstream := httptest.NewServer(dex)
	defer upstream.Close()
	key := secretkey.Generate()
	for i := range links {
		name := fmt.Sprintf("user%02d", i)
		addAccount(t, dsn, name, "correct horse battery")
		code, errOut := runCLI("pw-"+name+"\n", "account", "link", name, "--db", dsn, "--server", upstream.URL,
			"--username", name+"@example.org", "--password-stdin", "--secret-key", key, "--allow-private")
		if code != 0 {
			t.Fatalf("link %s: %s", name, errOut)
		}
	}
	startInstances(t, dsn, 2, "--secret-key", key, "--webhook-allow-private")

	waitCalls := func(what string, n int, within time.Duration) {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			done := 0
			for _, cs := range dex.snapshot() {
				if len(cs) >= n {
					done++
				}
			}
			if done == links {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d of %d links reached %d calls within %s", what, done, links, n, within)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	waitCalls("backfill", 3, 10*time.Second)
	dex.mu.Lock()
	dex.newest = dex.newest.Add(5 * time.Minute)
	dex.mu.Unlock()
	waitCalls("next reading", 4, 20*time.Second)
	time.Sleep(3 * time.Second) // a second instance's poll would come now
	want := "General/AuthenticatePublisherAccount General/LoginPublisherAccountById " +
		"Publisher/ReadPublisherLatestGlucoseValues Publisher/ReadPublisherLatestGlucoseValues"
	for user, cs := range dex.snapshot() {
		if got := strings.Join(cs, " "); got != want {
			t.Errorf("%s: calls %s\nwant %s", user, got, want)
		}
	}
}
