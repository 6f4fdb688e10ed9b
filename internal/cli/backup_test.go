package cli_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

const apiBase = "/ShareWebServices/Services/"

// skipUnlessSQLite skips tests of SQLite's file-level tools on PostgreSQL.
func skipUnlessSQLite(t *testing.T) {
	t.Helper()
	if env := os.Getenv(storetest.EnvDB); env != "" && env != "sqlite" {
		t.Skip("backup and restore are SQLite-only; PostgreSQL uses pg_dump and pg_restore (docs/operations.md)")
	}
}

// uploader is a publisher app talking to a running server.
type uploader struct {
	base   string
	client *http.Client
	sid    string
}

func (u *uploader) post(path, body string) (int, string, error) {
	resp, err := u.client.Post(u.base+apiBase+path, "application/json", strings.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

// newUploader logs in as name and starts monitoring the shared serial.
func newUploader(t *testing.T, addr, name, password string) *uploader {
	t.Helper()
	u := &uploader{base: "http://" + addr, client: &http.Client{Timeout: 30 * time.Second}}
	login := fmt.Sprintf(`{"accountName":%q,"applicationId":"d89443d2-327c-4a6f-89e5-496bbb0317db","password":%q}`, name, password)
	code, body, err := u.post("General/LoginPublisherAccountByName", login)
	if err != nil || code != 200 || json.Unmarshal([]byte(body), &u.sid) != nil {
		t.Fatalf("login: %d %s %v", code, body, err)
	}
	code, body, err = u.post("Publisher/StartRemoteMonitoringSession?sessionId="+u.sid+"&serialNumber=SM00000000", "")
	if err != nil || code != 200 {
		t.Fatalf("StartRemoteMonitoringSession: %d %s %v", code, body, err)
	}
	return u
}

// egvs posts readings with the given STs; it reports whether the server
// acknowledged them (200).
func (u *uploader) egvs(sts []int64) (bool, error) {
	var b strings.Builder
	b.WriteString(`{"SN":"SM00000000","Egvs":[`)
	for i, st := range sts {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"Trend":4,"Value":%d,"ST":"/Date(%d)/","DT":"/Date(%d)/"}`, 40+int(st/60000)%300, st, st)
	}
	b.WriteString(`]}`)
	code, body, err := u.post("Publisher/PostReceiverEgvRecords?sessionId="+u.sid, b.String())
	if err == nil && code != 200 {
		err = fmt.Errorf("status %d: %s", code, body)
	}
	return err == nil, err
}

// minutes returns n STs a minute apart from start.
func minutes(start time.Time, n int) []int64 {
	sts := make([]int64, n)
	for i := range sts {
		sts[i] = start.Add(time.Duration(i) * time.Minute).UnixMilli()
	}
	return sts
}

func addAccount(t *testing.T, dsn, name, password string) string {
	t.Helper()
	code, out, errOut := run(t, password+"\n", nil, "account", "add", "--db", dsn, "--name", name, "--password-stdin")
	if code != 0 {
		t.Fatalf("account add %s: exit %d, %s", name, code, errOut)
	}
	return strings.TrimSpace(out)
}

// TestBackupUnderConcurrentWrites backs up a database while uploaders post
// through the real API, restores the backup, and checks that every reading
// acknowledged before the backup began is in it and the server starts on it.
func TestBackupUnderConcurrentWrites(t *testing.T) {
	skipUnlessSQLite(t)
	dsn := storetest.DSN(t)
	dir := t.TempDir()
	backup, restored := filepath.Join(dir, "backup.db"), filepath.Join(dir, "restored.db")
	const password = "backup test password"
	id := addAccount(t, dsn, "sam@example.org", password)
	addr, _ := startServe(t, "--db", dsn, "--log-level", "warn")
	up := newUploader(t, addr, "sam@example.org", password)

	// A history large enough that the copy takes a while.
	seedStart := time.Date(2020, 1, 1, 0, 0, 0, 0, time.UTC)
	posted := map[int64]bool{}
	for i := range 4 {
		sts := minutes(seedStart.Add(time.Duration(i*5000)*time.Minute), 5000)
		if _, err := up.egvs(sts); err != nil {
			t.Fatalf("seeding: %v", err)
		}
		for _, st := range sts {
			posted[st] = true
		}
	}

	// Writers post small batches, each from its own range of STs, and
	// record what the server acknowledged.
	var (
		mu      sync.Mutex
		acked   []int64
		stop    = make(chan struct{})
		wg      sync.WaitGroup
		writers = 4
		sent    = make([][]int64, writers)
	)
	for w := range writers {
		wg.Go(func() {
			start := time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(w) * 100 * 24 * time.Hour)
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				sts := minutes(start.Add(time.Duration(i*5)*time.Minute), 5)
				sent[w] = append(sent[w], sts...)
				ok, err := up.egvs(sts)
				if err != nil {
					t.Errorf("writer %d: %v", w, err)
					return
				}
				if ok {
					mu.Lock()
					acked = append(acked, sts...)
					mu.Unlock()
				}
			}
		})
	}
	// Let the writers get going, then note what was acknowledged before
	// the backup begins.
	for {
		mu.Lock()
		n := len(acked)
		mu.Unlock()
		if n >= 200 {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	before := append([]int64(nil), acked...)
	mu.Unlock()
	code, out, errOut := run(t, "", nil, "backup", "--db", dsn, "--out", backup)
	mu.Lock()
	during := len(acked) - len(before)
	mu.Unlock()
	close(stop)
	wg.Wait()
	if code != 0 || !strings.Contains(out, "backed up") {
		t.Fatalf("backup: exit %d, %q %q", code, out, errOut)
	}
	t.Logf("%d readings acknowledged before the backup, %d while it ran", len(before), during)
	for _, sts := range sent {
		for _, st := range sts {
			posted[st] = true
		}
	}

	if code, _, errOut := run(t, "", nil, "backup", "--db", dsn, "--out", backup); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("backup over an existing file: exit %d, %q", code, errOut)
	}
	if code, out, errOut := run(t, "", nil, "restore", "--from", backup, "--db", restored); code != 0 || !strings.Contains(out, "checked") {
		t.Fatalf("restore: exit %d, %q %q", code, out, errOut)
	}

	// Every acknowledged reading is there; nothing that was never posted is.
	db, err := store.Open(context.Background(), restored, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var rs []glucose.Reading
	err = db.View(context.Background(), func(tx glucose.Tx) (err error) {
		rs, err = tx.ReadingsAfter(id, 0, 1<<30)
		return err
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	have := map[int64]bool{}
	for _, r := range rs {
		if !posted[r.ST] {
			t.Fatalf("restored reading %d was never posted", r.ST)
		}
		have[r.ST] = true
	}
	for _, st := range before {
		if !have[st] {
			t.Fatalf("reading %d, acknowledged before the backup began, is missing", st)
		}
	}
	// Each upload is one transaction: the snapshot holds all of it or none.
	for w, sts := range sent {
		for batch := range slices.Chunk(sts, 5) {
			n := 0
			for _, st := range batch {
				if have[st] {
					n++
				}
			}
			if n != 0 && n != len(batch) {
				t.Fatalf("writer %d: %d of the %d readings of one upload restored", w, n, len(batch))
			}
		}
	}
	for st := range posted {
		if st < time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() && !have[st] {
			t.Fatalf("seeded reading %d is missing", st)
		}
	}
	if _, err := store.CheckBackup(context.Background(), restored); err != nil {
		t.Errorf("restored database: %v", err)
	}

	// The server starts on the restored file, and the account logs in.
	addr2, _ := startServe(t, "--db", restored, "--log-level", "warn")
	newUploader(t, addr2, "sam@example.org", password)
}

func TestRestoreRefusals(t *testing.T) {
	skipUnlessSQLite(t)
	dsn := storetest.DSN(t)
	dir := t.TempDir()
	addAccount(t, dsn, "kim", "restore test password")
	backup, target := filepath.Join(dir, "backup.db"), filepath.Join(dir, "target.db")
	if code, _, errOut := run(t, "", nil, "backup", "--db", dsn, "--out", backup); code != 0 {
		t.Fatalf("backup: exit %d, %s", code, errOut)
	}
	if code, _, errOut := run(t, "", nil, "backup", "--db", filepath.Join(dir, "missing.db"), "--out", filepath.Join(dir, "x.db")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("backup of a missing database: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "", nil, "restore", "--from", backup, "--db", target); code != 0 {
		t.Fatalf("restore: exit %d, %s", code, errOut)
	}
	// A stale log beside the target must not survive a forced restore.
	os.WriteFile(target+"-wal", []byte("stale"), 0o600)
	if code, _, errOut := run(t, "", nil, "restore", "--from", backup, "--db", target); code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("restore over an existing database: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "", nil, "restore", "--from", backup, "--db", target, "--force"); code != 0 {
		t.Errorf("restore --force: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(target + "-wal"); err == nil {
		t.Error("the stale -wal file survived the restore")
	}
	code, out, _ := run(t, "", nil, "account", "list", "--db", target)
	if code != 0 || !strings.Contains(out, "kim") {
		t.Errorf("restored database: account list exit %d\n%s", code, out)
	}

	garbage := filepath.Join(dir, "garbage.db")
	os.WriteFile(garbage, []byte(strings.Repeat("not a database ", 1000)), 0o600)
	if code, _, errOut := run(t, "", nil, "restore", "--from", garbage, "--db", filepath.Join(dir, "g.db")); code != 1 {
		t.Errorf("restore from garbage: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "g.db")); err == nil {
		t.Error("a failed restore left a database file")
	}

	// A backup from a newer glucoshare.
	newer := filepath.Join(dir, "newer.db")
	copyFile(t, backup, newer)
	raw, err := sql.Open("sqlite", newer)
	if err != nil {
		t.Fatal(err)
	}
	_, err = raw.Exec(`INSERT INTO schema_migrations (version, applied_at) VALUES (999, 0)`)
	raw.Close()
	if err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := run(t, "", nil, "restore", "--from", newer, "--db", filepath.Join(dir, "n.db")); code != 1 || !strings.Contains(errOut, "newer") {
		t.Errorf("restore from a newer schema: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "", nil, "restore", "--from", filepath.Join(dir, "none.db"), "--db", filepath.Join(dir, "n.db")); code != 1 {
		t.Errorf("restore from a missing file: exit %d, %q", code, errOut)
	}
}

// TestBackupPostgresPointsToPgDump runs on every engine: it needs no server.
func TestBackupPostgresPointsToPgDump(t *testing.T) {
	pg := "postgres://glucoshare@db.example.org/glucoshare"
	if code, _, errOut := run(t, "", nil, "backup", "--db", pg, "--out", filepath.Join(t.TempDir(), "b")); code != 1 || !strings.Contains(errOut, "pg_dump") {
		t.Errorf("backup of PostgreSQL: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "", nil, "restore", "--from", "x", "--db", pg); code != 1 || !strings.Contains(errOut, "pg_restore") {
		t.Errorf("restore into PostgreSQL: exit %d, %q", code, errOut)
	}
}

func copyFile(t *testing.T, from, to string) {
	t.Helper()
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, b, 0o600); err != nil {
		t.Fatal(err)
	}
}
