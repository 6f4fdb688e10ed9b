package shareapi_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/glucoshare/glucoshare/internal/store"
)

// TestHugeLoginNames: a name far beyond any account name's 254 characters
// is refused before it reaches a look-up, with InvalidArgument on every
// login call and on both engines (PostgreSQL used to answer InternalError:
// an index row cannot hold it).
func TestHugeLoginNames(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	huge := strings.Repeat("n", 900<<10)
	for _, c := range []struct{ path, body string }{
		{"General/LoginPublisherAccountByName", `{"accountName":"` + huge + `","password":"x"}`},
		{"General/AuthenticatePublisherAccount", `{"accountName":"` + huge + `","password":"x"}`},
		{"General/LoginSubscriberAccount", `{"accountName":"` + huge + `","password":"x"}`},
		{"General/LoginPublisherAccountById", `{"accountId":"` + huge + `","password":"x"}`},
		{"General/LoginPublisherAccountByName", `{"accountName":"sam","password":"` + huge + `"}`},
	} {
		r := e.post(c.path, c.body)
		if r.status != 500 || !strings.Contains(r.body, `"InvalidArgument"`) {
			t.Errorf("%s with a 900 KB value: %d %.200s", c.path, r.status, r.body)
		}
	}
	// A name with a NUL or invalid UTF-8 is refused the same way (PostgreSQL
	// refuses both in text).
	for _, name := range []string{"sam%00", "sam%ff", "%c3%28"} {
		r := e.do("POST", "/ShareWebServices/Services/General/LoginPublisherAccountByName?accountName="+name+"&password=x", "")
		if r.status != 500 || !strings.Contains(r.body, `"InvalidArgument"`) {
			t.Errorf("accountName=%s: %d %.200s", name, r.status, r.body)
		}
	}
	// applicationId is never checked (docs/protocol.md, "Credential checks"): a huge one is cut, not refused.
	e.ok(e.post("General/LoginPublisherAccountByName", `{"accountName":"sam","password":"correct horse","applicationId":"`+huge+`"}`))
	e.login("sam")
}

// TestFailedLoginsKeepStorageBounded: 10,000 failed logins with random
// 254-character names leave the database within a fixed bound. Before,
// every failure stored a row keyed by the name (20 requests with 900 KB
// names grew a database by 54 MB).
func TestFailedLoginsKeepStorageBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 logins")
	}
	e := newEnv(t)
	db := e.store.(*store.DB)
	before := dbSize(t, db)
	const total, workers = 10000, 8
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]int{}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < total/workers; i++ {
				body, _ := json.Marshal(map[string]string{"accountName": randomName(254), "password": "guess"})
				r := e.post("General/LoginPublisherAccountByName", string(body))
				var we wireError
				json.Unmarshal([]byte(r.body), &we)
				mu.Lock()
				codes[we.Code]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	// Made-up names share hash buckets, so a few of them meet delays that
	// other names' failures from this address began.
	if n := codes["AccountPasswordInvalid"] + codes["SSO_AuthenticateMaxAttemptsExceeded"]; n != total ||
		codes["AccountPasswordInvalid"] < total*9/10 {
		t.Errorf("answers %v, want %d failures, nearly all AccountPasswordInvalid", codes, total)
	}
	after := dbSize(t, db)
	// Unknown names have at most 2 × 16,384 counters of a few dozen bytes
	// each, whatever their number: about 2 MB with indexes and free space.
	const bound = 4 << 20
	t.Logf("%s: %d failed logins grew the data from %d to %d bytes (+%d)", db.Dialect(), total, before, after, after-before)
	if after-before > bound {
		t.Errorf("%d failed logins grew the database by %d bytes, more than %d", total, after-before, bound)
	}
	// The sweep deletes them once they count nothing any more.
	cfg := e.svc.Config()
	n, err := e.svc.ForgetLogins(context.Background(), e.clock.Now().Add(cfg.LoginWindow+cfg.LoginMaxDelay))
	var left int
	db.SQL().QueryRowContext(context.Background(), `SELECT COUNT(*) FROM login_throttle`).Scan(&left)
	if err != nil || n == 0 || left != 0 {
		t.Errorf("ForgetLogins a window later: %d deleted, %d left, %v", n, left, err)
	}
}

// randomName returns n random lower-case hex characters.
func randomName(n int) string {
	b := make([]byte, (n+1)/2)
	rand.Read(b)
	return hex.EncodeToString(b)[:n]
}

// dbSize is the size of the data: SQLite's pages in use (the file's size
// once checkpointed), or the total size of PostgreSQL's tables with their
// indexes and TOAST.
func dbSize(t *testing.T, db *store.DB) int64 {
	t.Helper()
	q := `SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()`
	if db.Dialect() == "postgres" {
		q = `SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c
			JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND c.relkind = 'r'`
	}
	var size int64
	if err := db.SQL().QueryRowContext(context.Background(), q).Scan(&size); err != nil {
		t.Fatal(fmt.Errorf("database size: %w", err))
	}
	return size
}
