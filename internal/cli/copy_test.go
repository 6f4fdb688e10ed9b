package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// TestCopy copies a populated SQLite database to the engine under test
// (PostgreSQL when GLUCOSHARE_TEST_DB names one, else another SQLite file),
// checks that every table arrived unchanged, and serves from the copy.
func TestCopy(t *testing.T) {
	ctx := context.Background()
	from := "sqlite:" + filepath.Join(t.TempDir(), "small.db")
	to := storetest.DSN(t)
	const password = "correct horse battery"
	if code, _, errOut := run(t, password+"\n", nil, "account", "add", "--db", from, "--name", "sam@example.org",
		"--display-name", "Sam ✓", "--password-stdin"); code != 0 {
		t.Fatalf("account add: exit %d: %s", code, errOut)
	}
	if code, _, errOut := run(t, "another password\n", nil, "account", "add", "--db", from, "--name", "kim", "--password-stdin"); code != 0 {
		t.Fatalf("account add: exit %d: %s", code, errOut)
	}
	sessionID := populate(t, from)

	code, out, errOut := run(t, "", nil, "copy", "--from", from, "--to", to)
	if code != 0 {
		t.Fatalf("copy: exit %d\n%s\n%s", code, out, errOut)
	}
	t.Logf("glucoshare copy:\n%s", out)
	for _, want := range []string{"accounts", "readings", "account_images", "sessions", "leases", "mirrored_readings",
		"row counts and checksums match"} {
		if !strings.Contains(out, want) {
			t.Errorf("copy output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "MISMATCH") {
		t.Errorf("copy output reports a mismatch:\n%s", out)
	}
	sameTables(t, ctx, from, to)

	// And back: the copy's engine as the source.
	back := "sqlite:" + filepath.Join(t.TempDir(), "back.db")
	if code, out, errOut := run(t, "", nil, "copy", "--from", to, "--to", back); code != 0 {
		t.Fatalf("copy back: exit %d\n%s\n%s", code, out, errOut)
	}
	sameTables(t, ctx, from, back)

	// A second copy would mix two installations.
	code, _, errOut = run(t, "", nil, "copy", "--from", from, "--to", to)
	if code != 1 || !strings.Contains(errOut, "not empty") {
		t.Errorf("copy into a populated target: exit %d, %q; want 1 and a refusal", code, errOut)
	}

	// The copy serves: a session made on the old database still works, and
	// the account logs in and reads its readings.
	base := serve(t, to)
	latest := func(sid string) []map[string]any {
		t.Helper()
		status, body := post(t, base+"/ShareWebServices/Services/Publisher/ReadPublisherLatestGlucoseValues?sessionId="+sid+"&minutes=1440&maxCount=3", "")
		var rs []map[string]any
		if status != 200 || json.Unmarshal([]byte(body), &rs) != nil {
			t.Fatalf("read on the copy: %d %s", status, body)
		}
		return rs
	}
	if rs := latest(sessionID); len(rs) != 3 || rs[0]["Value"] != float64(100) {
		t.Errorf("readings with the copied session: %v", rs)
	}
	login, _ := json.Marshal(map[string]string{"accountName": "sam@example.org", "password": password,
		"applicationId": "d89443d2-327c-4a6f-89e5-496bbb0317db"})
	status, body := post(t, base+"/ShareWebServices/Services/General/LoginPublisherAccountByName", string(login))
	var sid string
	if status != 200 || json.Unmarshal([]byte(body), &sid) != nil {
		t.Fatalf("login on the copy: %d %s", status, body)
	}
	if rs := latest(sid); len(rs) != 3 {
		t.Errorf("readings after login on the copy: %v", rs)
	}
}

// populate fills every kind of row the first migrations know, with the
// values that trip conversions up: NULLs, booleans, non-ASCII text, binary
// data with every byte value. It returns an open session of sam.
func populate(t *testing.T, dsn string) string {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now().UTC().Truncate(time.Millisecond)
	image := make([]byte, 0, 512)
	for i := range 512 {
		image = append(image, byte(i))
	}
	sess := &glucose.Session{ApplicationID: "d89443d2-327c-4a6f-89e5-496bbb0317db", CreatedAt: now}
	err = db.Update(ctx, func(tx glucose.Tx) error {
		sam, err := tx.AccountByName(glucose.NameKey("sam@example.org"))
		if err != nil {
			return err
		}
		kim, err := tx.AccountByName(glucose.NameKey("kim"))
		if err != nil {
			return err
		}
		sess.AccountID = sam.ID
		ended := &glucose.Session{AccountID: kim.ID, CreatedAt: now.Add(-time.Hour), EndedAt: now}
		for _, s := range []*glucose.Session{sess, ended} {
			if err := tx.CreateSession(s); err != nil {
				return err
			}
		}
		var rs []glucose.Reading
		for i := range 300 {
			rs = append(rs, glucose.Reading{ST: now.Add(-time.Duration(i) * 5 * time.Minute).UnixMilli(),
				Value: 100 + i%200, Trend: share.Trend(1 + i%7), Offset: -240, ReceivedAt: now.UnixMilli()})
		}
		steps := []func() error{
			func() error { return tx.SetReceiver(sam.ID, "SM12345678", share.NewID(), true) },
			func() error { return tx.SetMonitoring(sam.ID, true) },
			func() error { return tx.SetDisabled(kim.ID, true) },
			func() error { return tx.SetCompat(kim.ID, glucose.CompatLegacy) },
			func() error { _, err := tx.InsertReadings(sam.ID, rs); return err },
			func() error {
				return tx.PutMirrorLink(&glucose.MirrorLink{AccountID: sam.ID, Server: "ous", Username: "sam",
					PasswordSealed: []byte("sealed"), NextPoll: now, Created: now})
			},
			func() error { return tx.MarkMirroredReading(sam.ID, rs[0].ST) },
			func() error { return tx.MarkMirroredReading(sam.ID, rs[1].ST) },
			func() error { return tx.SetImage(sam.ID, &glucose.Image{ContentType: "image/png", Data: image}) },
			func() error {
				return tx.PutNamedValue(sam.ID, "partition", "Ünïcode", `{"quote":"\"","nul":"\u0000"}`)
			},
			func() error { return tx.PutNamedValue(sam.ID, "partition", "empty", "") },
			func() error { return tx.SetRuntimeInfo(sam.ID, "publisher", []byte(`{"app":"x"}`), now) },
			func() error { _, err := tx.AddLoginFailure("? 3fa", now); return err },
			func() error { return tx.SetLoginDelay("? 3fa", now.Add(time.Minute), now.Add(time.Hour)) },
			func() error { return tx.RememberLoginAddress(sam.ID, "2001:db8::/64", now, 20) },
			func() error { _, err := tx.ServerKey("login-buckets", []byte{0, 1, 2, 0xff}); return err },
			func() error {
				_, err := tx.AcquireLease("session-sweep", "old-host/1/abc", now, now.Add(time.Hour))
				return err
			},
			func() error {
				return tx.InsertDocument(&glucose.Document{AccountID: sam.ID, Collection: glucose.CollectionTreatments,
					ID: "0123456789abcdef01234567", Identifier: "5bd9b1f8-3d86-4a1c-9d4c-2e1b0c2d3e4f",
					SrvCreated: now.UnixMilli(), SrvModified: now.UnixMilli(),
					Body: []byte(`{"eventType":"Note","created_at":"2025-04-19T12:00:00.000Z","notes":"Ünïcode ✓ \"quoted\"","nested":{"a":[1,2.5,null,true]}}`)})
			},
			func() error {
				return tx.SetNightscoutSite(&glucose.NightscoutSite{AccountID: sam.ID, Handle: "sam-site-handle", AnonymousRead: true})
			},
		}
		for i, step := range steps {
			if err := step(); err != nil {
				return fmt.Errorf("step %d: %w", i, err)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("populating the source: %v", err)
	}
	return sess.ID
}

// sameTables compares every row of every table of both databases.
func sameTables(t *testing.T, ctx context.Context, a, b string) {
	t.Helper()
	read := func(dsn string) (map[string][][]any, []store.Table) {
		db, err := store.Open(ctx, dsn, store.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		rows := map[string][][]any{}
		var tables []store.Table
		err = db.ReadTables(ctx, func(tx *store.TableTx) (err error) {
			if tables, err = tx.Tables(); err != nil {
				return err
			}
			for _, tb := range tables {
				rows[tb.Name] = [][]any{}
				err := tx.Scan(tb, func(row []any) error {
					rows[tb.Name] = append(rows[tb.Name], append([]any(nil), row...))
					return nil
				})
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		return rows, tables
	}
	rowsA, tables := read(a)
	rowsB, _ := read(b)
	if len(rowsA) != len(rowsB) || len(tables) < 9 {
		t.Fatalf("tables: %d in the source, %d in the copy", len(rowsA), len(rowsB))
	}
	for _, name := range []string{"accounts", "sessions", "login_throttle", "login_addresses", "server_keys", "readings",
		"account_images", "runtime_info", "named_values", "leases"} {
		if len(rowsA[name]) == 0 {
			t.Errorf("table %s: the source is empty, so the test proves nothing for it", name)
		}
	}
	for _, tb := range tables {
		if !reflect.DeepEqual(rowsA[tb.Name], rowsB[tb.Name]) {
			t.Errorf("table %s differs:\nsource %v\ncopy   %v", tb.Name, rowsA[tb.Name], rowsB[tb.Name])
		}
	}
}

// serve runs glucoshare serve on dsn until the test ends and returns its
// base URL.
func serve(t *testing.T, dsn string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	var log bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: &syncWriter{w: &log},
		Getenv: func(string) string { return "" }, Listening: func(a string) { addrc <- a }}
	go func() {
		done <- cli.Run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--db", dsn, "--no-migrate"}, env)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	select {
	case addr := <-addrc:
		return "http://" + addr
	case code := <-done:
		t.Fatalf("serve exited %d: %s", code, log.String())
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}

func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestCopyUsage(t *testing.T) {
	dir := t.TempDir()
	if code, _, errOut := run(t, "", nil, "copy", "--from", "sqlite:"+filepath.Join(dir, "a.db")); code != 2 || !strings.Contains(errOut, "--to") {
		t.Errorf("copy without --to: exit %d, %q", code, errOut)
	}
	code, _, errOut := run(t, "", nil, "copy", "--from", filepath.Join(dir, "missing.db"), "--to", filepath.Join(dir, "b.db"))
	if code != 1 || !strings.Contains(errOut, "does not exist") {
		t.Errorf("copy from a missing file: exit %d, %q", code, errOut)
	}
	// A source the migrations never ran on is refused, and left alone.
	empty := filepath.Join(dir, "empty.db")
	db, err := store.Open(context.Background(), empty, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db.Close()
	vars := map[string]string{"GLUCOSHARE_FROM": empty, "GLUCOSHARE_TO": filepath.Join(dir, "c.db")}
	if code, _, errOut := run(t, "", vars, "copy"); code != 1 || !strings.Contains(errOut, "glucoshare migrate") {
		t.Errorf("copy from an unmigrated source: exit %d, %q", code, errOut)
	}
}
