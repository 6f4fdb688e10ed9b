package cli_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// family is two accounts that publish to and follow each other, with a
// row in every table they can reach.
type family struct {
	db   *store.DB
	svc  *core.Service
	ann  *glucose.Account // exported and deleted
	bob  *glucose.Account // must stay whole
	subs struct {
		annToBob      string // ann publishes, bob follows (6)
		annPending    string // ann publishes, invitation waiting (2)
		bobToAnn      string // bob publishes, ann follows (6): becomes 12
		bobToAnnLeft  string // bob publishes, ann left (10): stays 10
		bobToAnnPause string // bob publishes, ann paused (8): becomes 12
	}
}

const annEmail = "ann.private@example.org"

// must returns v, or panics on err: for setup steps that cannot fail.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

func newFamily(t *testing.T, dsn string) *family {
	t.Helper()
	ctx := context.Background()
	db := must(store.Open(ctx, dsn, store.Options{}))
	t.Cleanup(func() { db.Close() })
	if _, _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	f := &family{db: db, svc: core.New(db, core.Config{})}
	svc := f.svc
	now := time.Now().UTC().Truncate(time.Millisecond)
	f.ann = must(svc.CreateAccount(ctx, core.NewAccount{Name: "ann@example.org", Email: annEmail, DisplayName: "Ann", Password: "ann's password"}, now))
	f.bob = must(svc.CreateAccount(ctx, core.NewAccount{Name: "bob@example.org", DisplayName: "Bob", Password: "bob's password"}, now))
	for _, a := range []*glucose.Account{f.ann, f.bob} {
		must(svc.Login(ctx, core.Credentials{Name: a.Name, Password: strings.ToLower(a.DisplayName) + "'s password", ApplicationID: "d89443d2-327c-4a6f-89e5-496bbb0317db"}, now))
	}
	// A login from an address, which is remembered, and a failed one,
	// counted on keys that start with ann's id.
	from := netip.MustParseAddr("192.0.2.7")
	must(svc.Login(ctx, core.Credentials{Name: f.ann.Name, Password: "ann's password", Addr: from}, now))
	if _, err := svc.Authenticate(ctx, core.Credentials{Name: f.ann.Name, Password: "wrong password"}, now); err == nil {
		t.Fatal("a wrong password was accepted")
	}
	err := db.Update(ctx, func(tx glucose.Tx) error {
		for a, n := range map[string]int{f.ann.ID: 300, f.bob.ID: 10} {
			rs := make([]glucose.Reading, n)
			for i := range rs {
				st := now.Add(-time.Duration(i) * 5 * time.Minute).UnixMilli()
				rs[i] = glucose.Reading{ST: st, Value: 80 + i%100, Trend: share.TrendFlat, Offset: -300, ReceivedAt: st}
			}
			if _, err := tx.InsertReadings(a, rs); err != nil {
				return err
			}
			if a == f.ann.ID { // her newest reading came from a mirror link
				if err := tx.PutMirrorLink(&glucose.MirrorLink{AccountID: a, Server: "us", Username: "ann",
					PasswordSealed: []byte("sealed"), NextPoll: now, Created: now}); err != nil {
					return err
				}
				if err := tx.MarkMirroredReading(a, rs[0].ST); err != nil {
					return err
				}
			}
			if err := tx.PutNamedValue(a, "8d61be97-5cc9-4428-9823-1e3b97c36262", "settings", `{"unit":"mg/dL"}`); err != nil {
				return err
			}
			if err := tx.SetRuntimeInfo(a, core.RolePublisher, []byte(`{"app":"test"}`), now); err != nil {
				return err
			}
			if err := tx.SetImage(a, &glucose.Image{ContentType: "image/png", Data: []byte("\x89PNG fake")}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	invite := func(pub *glucose.Account, contact string, follower *glucose.Account) string {
		t.Helper()
		c := must(svc.CreateContact(ctx, pub.ID, contact, "", now))
		sub := must(svc.Invite(ctx, pub.ID, c.ID, core.Invitation{}, now))
		if follower != nil {
			must(svc.AcceptInvitation(ctx, follower.ID, sub.InvitationID, now))
		}
		return sub.ID
	}
	f.subs.annToBob = invite(f.ann, "Bob", f.bob)
	f.subs.annPending = invite(f.ann, "Carol", nil)
	f.subs.bobToAnn = invite(f.bob, "Ann", f.ann)
	f.subs.bobToAnnLeft = invite(f.bob, "Ann at work", f.ann)
	if err := svc.LeaveSubscription(ctx, f.ann.ID, f.subs.bobToAnnLeft, now); err != nil {
		t.Fatal(err)
	}
	f.subs.bobToAnnPause = invite(f.bob, "Ann on holiday", f.ann)
	if err := svc.PauseSubscription(ctx, f.ann.ID, f.subs.bobToAnnPause, now); err != nil {
		t.Fatal(err)
	}
	// An alarm on a subscription ann publishes and on one she follows.
	for i, sub := range []string{f.subs.annToBob, f.subs.bobToAnn} {
		f.exec(t, `INSERT INTO alarms (id, subscription_id, alert_type, state, value, triggered_at,
			last_notified_at, notify_count) VALUES (?, ?, 2, 'Active', 55, ?, ?, 1)`,
			fmt.Sprintf("00000000-0000-4000-8000-00000000000%d", i), sub, now.UnixMilli(), now.UnixMilli())
	}
	// Tables other features added: a row of ann's wherever one can go.
	if f.hasTable(t, "read_tokens") {
		f.exec(t, `INSERT INTO read_tokens (id, account_id, publisher_id, subscription_id, token_hash, created_at)
			VALUES ('00000000-0000-4000-8000-000000000010', ?, ?, ?, 'hash-of-ann-token', ?)`,
			f.ann.ID, f.bob.ID, f.subs.bobToAnn, now.UnixMilli())
	}
	if f.hasTable(t, "nightscout_tokens") {
		f.exec(t, `INSERT INTO nightscout_secrets (account_id, secret_key, updated_at) VALUES (?, 'ann-secret-key', ?)`,
			f.ann.ID, now.UnixMilli())
		f.exec(t, `INSERT INTO nightscout_tokens (id, account_id, token_key, subscription_id, created_at)
			VALUES ('00000000-0000-4000-8000-000000000011', ?, 'ann-token-key', ?, ?)`,
			f.ann.ID, f.subs.bobToAnn, now.UnixMilli())
	}
	if f.hasTable(t, "ns_documents") {
		acc := &core.NightscoutAccess{AccountID: f.ann.ID, Admin: true}
		must(svc.WriteDocuments(ctx, acc, glucose.CollectionTreatments, []core.DocumentWrite{
			{Body: []byte(`{"eventType":"Meal Bolus","created_at":"2025-04-19T12:00:00.000Z","carbs":30,"notes":"ann's lunch"}`)}}, now))
		must(svc.SetNightscoutSite(ctx, f.ann.ID, "ann-site-handle", false))
	}
	return f
}

func (f *family) hasTable(t *testing.T, name string) bool {
	t.Helper()
	_, ok := f.columns(t)[name]
	return ok
}

// accountKeys lists every foreign key that references accounts, with its
// ON DELETE rule: "CASCADE", "SET NULL", or another.
func (f *family) accountKeys(t *testing.T) map[string]string {
	t.Helper()
	q := `SELECT m.name || '.' || k."from", k.on_delete FROM sqlite_schema m, pragma_foreign_key_list(m.name) k
		WHERE m.type = 'table' AND k."table" = 'accounts'`
	if f.db.Dialect() == "postgres" {
		q = `SELECT c.conrelid::regclass::text || '.' || a.attname,
			CASE c.confdeltype WHEN 'c' THEN 'CASCADE' WHEN 'n' THEN 'SET NULL' ELSE c.confdeltype::text END
			FROM pg_constraint c JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY (c.conkey)
			WHERE c.contype = 'f' AND c.confrelid = 'accounts'::regclass`
	}
	rows, err := f.db.SQL().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	keys := map[string]string{}
	for rows.Next() {
		var col, rule string
		if err := rows.Scan(&col, &rule); err != nil {
			t.Fatal(err)
		}
		keys[col] = rule
	}
	return keys
}

// exec runs a statement written with ? placeholders on either engine.
func (f *family) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := f.db.SQL().Exec(f.rebind(q), args...); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func (f *family) rebind(q string) string {
	if f.db.Dialect() != "postgres" {
		return q
	}
	var b strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

func (f *family) count(t *testing.T, q string, args ...any) int {
	t.Helper()
	var n int
	if err := f.db.SQL().QueryRow(f.rebind(q), args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
	return n
}

// columns lists every column of every table, by introspection, so that
// tables added later are checked too.
func (f *family) columns(t *testing.T) map[string][]string {
	t.Helper()
	q := `SELECT m.name, c.name FROM sqlite_schema m, pragma_table_info(m.name) c
		WHERE m.type = 'table' AND m.name NOT LIKE 'sqlite_%'`
	if f.db.Dialect() == "postgres" {
		q = `SELECT c.table_name, c.column_name FROM information_schema.columns c
			JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
			WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'`
	}
	rows, err := f.db.SQL().Query(q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols := map[string][]string{}
	for rows.Next() {
		var table, col string
		if err := rows.Scan(&table, &col); err != nil {
			t.Fatal(err)
		}
		cols[table] = append(cols[table], col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return cols
}

// mentions counts, per table and column, the rows whose value contains any
// of needles.
func (f *family) mentions(t *testing.T, needles ...string) map[string]int {
	t.Helper()
	found := map[string]int{}
	for table, cols := range f.columns(t) {
		for _, col := range cols {
			for _, needle := range needles {
				q := fmt.Sprintf(`SELECT COUNT(*) FROM %q WHERE CAST(%q AS TEXT) LIKE ?`, table, col)
				if n := f.count(t, q, "%"+needle+"%"); n > 0 {
					found[table+"."+col] += n
				}
			}
		}
	}
	return found
}

func TestAccountExportThenDelete(t *testing.T) {
	dsn := storetest.DSN(t)
	f := newFamily(t, dsn)
	dir := t.TempDir()
	ctx := context.Background()

	// Every key to accounts goes with the account (or lets go of it), and
	// every column named for an account is such a key: a table added later
	// cannot keep rows of a deleted account unnoticed.
	keys := f.accountKeys(t)
	for col, rule := range keys {
		if rule != "CASCADE" && rule != "SET NULL" {
			t.Errorf("%s references accounts ON DELETE %s", col, rule)
		}
	}
	for table, cols := range f.columns(t) {
		for _, col := range cols {
			named := col == "account_id" || col == "publisher_id" || col == "subscriber_id"
			if _, isKey := keys[table+"."+col]; named && !isKey && table != "accounts" {
				t.Errorf("%s.%s names an account but is no foreign key to accounts", table, col)
			}
		}
	}

	// Before: ann is all over the database.
	before := f.mentions(t, f.ann.ID, annEmail)
	for _, where := range []string{"accounts.id", "sessions.account_id", "readings.account_id", "login_throttle.key",
		"login_addresses.account_id", "account_images.account_id", "runtime_info.account_id", "named_values.account_id",
		"contacts.publisher_id", "subscriptions.publisher_id", "subscriptions.subscriber_id", "accounts.email",
		"read_tokens.account_id", "nightscout_secrets.account_id", "nightscout_tokens.account_id",
		"ns_documents.account_id", "ns_usage.account_id", "nightscout_sites.account_id",
		"mirror_links.account_id", "mirrored_readings.account_id"} {
		if before[where] == 0 && (f.hasTable(t, strings.Split(where, ".")[0])) {
			t.Errorf("setup: no row of ann in %s", where)
		}
	}

	// Export as JSON.
	out := filepath.Join(dir, "ann.json")
	code, _, errOut := run(t, "", nil, "account", "export", "ann@example.org", "--db", dsn, "--out", out)
	if code != 0 {
		t.Fatalf("export: exit %d, %s", code, errOut)
	}
	raw := must(os.ReadFile(out))
	if fi := must(os.Stat(out)); fi.Mode().Perm() != 0o600 {
		t.Errorf("export file mode %v, want 0600", fi.Mode().Perm())
	}
	var doc struct {
		Format      string
		Account     struct{ ID, Name, Email string }
		Image       *struct{ ContentType, Data string }
		NamedValues []struct {
			Partition, Name, Value string
		}
		RuntimeInfo []struct {
			Role string
			Info map[string]any
		}
		Contacts      []struct{ Name string }
		Subscriptions []struct {
			ID, SubscriberID string
			State            int
		}
		Following []struct {
			ID, PublisherID string
			StateName       string
		}
		Readings []struct {
			SystemTime, DisplayTime, Trend, Source string
			Value                                  int
			ST                                     int64
		}
		NightscoutSite      *struct{ Handle string }
		NightscoutTokens    []struct{ ID, Access string }
		NightscoutDocuments []struct {
			Collection string
			ID         string `json:"_id"`
			Document   map[string]any
		}
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("export is not JSON: %v\n%s", err, raw[:min(len(raw), 2000)])
	}
	if doc.Format != "glucoshare-account-export/1" || doc.Account.ID != f.ann.ID || doc.Account.Email != annEmail {
		t.Errorf("export head: %q %+v", doc.Format, doc.Account)
	}
	if doc.NightscoutSite == nil || doc.NightscoutSite.Handle != "ann-site-handle" || len(doc.NightscoutTokens) != 1 ||
		len(doc.NightscoutDocuments) != 1 || doc.NightscoutDocuments[0].Document["notes"] != "ann's lunch" ||
		doc.NightscoutDocuments[0].Collection != "treatments" || len(doc.NightscoutDocuments[0].ID) != 24 {
		t.Errorf("Nightscout parts: site %+v, tokens %+v, documents %+v", doc.NightscoutSite, doc.NightscoutTokens, doc.NightscoutDocuments)
	}
	if strings.Contains(string(raw), "ann-token-key") || strings.Contains(string(raw), "ann-secret-key") {
		t.Error("the export holds the keys of Nightscout credentials")
	}
	if doc.Image == nil || doc.Image.ContentType != "image/png" || len(doc.NamedValues) != 1 || len(doc.RuntimeInfo) != 1 || doc.RuntimeInfo[0].Info["app"] != "test" {
		t.Errorf("profile parts: image %+v, named values %+v, runtime info %+v", doc.Image, doc.NamedValues, doc.RuntimeInfo)
	}
	var published, following []string
	for _, s := range doc.Subscriptions {
		published = append(published, fmt.Sprintf("%d %s", s.State, s.SubscriberID))
	}
	slices.Sort(published)
	if len(doc.Contacts) != 2 || !slices.Equal(published, []string{"2 ", "6 " + f.bob.ID}) {
		t.Errorf("contacts %+v, subscriptions %v", doc.Contacts, published)
	}
	for _, s := range doc.Following {
		following = append(following, s.StateName)
	}
	slices.Sort(following)
	if !slices.Equal(following, []string{"Active", "CanceledBySubscriber", "PausedBySubscriber"}) {
		t.Errorf("following: %v", following)
	}
	if len(doc.Readings) != 300 || doc.Readings[0].ST > doc.Readings[299].ST || doc.Readings[0].Trend != "Flat" ||
		!strings.HasSuffix(doc.Readings[0].DisplayTime, "-05:00") {
		t.Errorf("%d readings, first %+v", len(doc.Readings), doc.Readings[0])
	}
	var sources []string
	for _, r := range doc.Readings {
		sources = append(sources, r.Source)
	}
	if want := append(slices.Repeat([]string{"upload"}, 299), "share-mirror"); !slices.Equal(sources, want) {
		t.Errorf("readings' sources %v, want the newest share-mirror and the others upload", sources)
	}
	for _, secret := range []string{f.ann.PasswordHash, "argon2", "password"} {
		if secret != "" && strings.Contains(string(raw), secret) {
			t.Errorf("the export contains %q", secret)
		}
	}
	f.db.View(ctx, func(tx glucose.Tx) error {
		for _, id := range []string{f.subs.annToBob, f.subs.bobToAnn} {
			sub := must(tx.SubscriptionByID(id))
			if strings.Contains(string(raw), sub.InvitationID) {
				t.Errorf("the export contains the invitation id of %s", id)
			}
		}
		return nil
	})
	if code, _, errOut := run(t, "", nil, "account", "export", "ann@example.org", "--db", dsn, "--out", out); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("export over an existing file: exit %d, %q", code, errOut)
	}

	// Readings as CSV on standard output.
	code, csvOut, _ := run(t, "", nil, "account", "export", f.ann.ID, "--db", dsn, "--format", "csv", "--out", "-")
	records, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if code != 0 || err != nil || len(records) != 301 || records[0][0] != "system_time" {
		t.Fatalf("csv export: exit %d, %v, %d records", code, err, len(records))
	}

	// Without --yes: nothing happens, and it says what would.
	code, said, _ := run(t, "", nil, "account", "delete", "ann@example.org", "--db", dsn)
	if code != 2 || !strings.Contains(said, "300 readings") || !strings.Contains(said, "would delete") {
		t.Errorf("delete without --yes: exit %d, %q", code, said)
	}
	if n := f.count(t, `SELECT COUNT(*) FROM readings WHERE account_id = ?`, f.ann.ID); n != 300 {
		t.Fatalf("delete without --yes deleted readings: %d left", n)
	}

	code, said, errOut = run(t, "", nil, "account", "delete", "ann@example.org", "--db", dsn, "--yes")
	if code != 0 || !strings.Contains(said, "2 followed subscriptions abandoned") {
		t.Fatalf("delete: exit %d, %q %q", code, said, errOut)
	}

	// After: no row anywhere names ann, by id or e-mail.
	if after := f.mentions(t, f.ann.ID, annEmail); len(after) > 0 {
		t.Errorf("rows still name the deleted account: %v", after)
	}
	t.Logf("checked %d tables; %d foreign keys to accounts", len(f.columns(t)), len(keys))

	// docs/protocol.md, "Follower state machine": what ann followed stays for bob, abandoned where it was live.
	f.db.View(ctx, func(tx glucose.Tx) error {
		for id, want := range map[string]glucose.State{
			f.subs.bobToAnn:      glucose.StateAbandonedBySubscriber,
			f.subs.bobToAnnPause: glucose.StateAbandonedBySubscriber,
			f.subs.bobToAnnLeft:  glucose.StateCanceledBySubscriber,
		} {
			sub, err := tx.SubscriptionByID(id)
			if err != nil {
				t.Errorf("subscription %s: %v", id, err)
				continue
			}
			if sub.State != want || sub.SubscriberID != "" {
				t.Errorf("subscription %s: state %d, subscriber %q; want %d and none", id, sub.State, sub.SubscriberID, want)
			}
		}
		for _, id := range []string{f.subs.annToBob, f.subs.annPending} {
			if _, err := tx.SubscriptionByID(id); err == nil {
				t.Errorf("subscription %s that ann published survived", id)
			}
		}
		return nil
	})
	if n := f.count(t, `SELECT COUNT(*) FROM alarms`); n != 0 {
		t.Errorf("%d alarms left; both belonged to ann", n)
	}
	// Bob is whole.
	for q, want := range map[string]int{
		`SELECT COUNT(*) FROM readings WHERE account_id = ?`:        10,
		`SELECT COUNT(*) FROM sessions WHERE account_id = ?`:        1,
		`SELECT COUNT(*) FROM named_values WHERE account_id = ?`:    1,
		`SELECT COUNT(*) FROM account_images WHERE account_id = ?`:  1,
		`SELECT COUNT(*) FROM contacts WHERE publisher_id = ?`:      3,
		`SELECT COUNT(*) FROM subscriptions WHERE publisher_id = ?`: 3,
	} {
		if n := f.count(t, q, f.bob.ID); n != want {
			t.Errorf("%s: %d, want %d", q, n, want)
		}
	}
	if code, _, errOut := run(t, "", nil, "account", "export", "ann@example.org", "--db", dsn, "--out", "-"); code != 1 || !strings.Contains(errOut, "no account") {
		t.Errorf("export of the deleted account: exit %d, %q", code, errOut)
	}
}
