package e2e

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/share"
)

// mirrorLag is the delay the poller first assumes between a reading's
// time and its appearance upstream.
const mirrorLag = core.DefaultMirrorLag

// shareClient logs in to s as name with the public client.
func shareClient(t *testing.T, s *server, name, password string) *share.Client {
	t.Helper()
	c, err := share.NewClient(share.WithBaseURL(s.base), share.WithCredentials(name, password))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// eventually polls check every 200 ms until it returns "" or the deadline
// passes, and fails with its last complaint.
func eventually(t *testing.T, within time.Duration, check func() string) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		msg := check()
		if msg == "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("after %s: %s", within, msg)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMirrorFromAnotherShareServer links an account of one glucoshare to
// an account on a second glucoshare that plays Dexcom's hosted service, as
// a user would from the command line, and checks what the user relies on:
// the last 24 hours (288 readings) are backfilled; the next reading
// upstream is mirrored at the next poll, timed from the last reading; an
// urgent low that arrives that way raises the follower's alarm; the
// follower reads the mirrored values through the Share API and the
// Nightscout API. The Dexcom password is nowhere to be read without the
// key: not in the database file, the logs, the export, a backup or a copy.
func TestMirrorFromAnotherShareServer(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	const dexPassword = "Dexc0m-pa55word-xyzzy"

	// "Dexcom": Sam's readings every 5 minutes for 24 hours, the newest
	// timed so that the mirror's next poll comes 40 s after the link.
	dexcom := startServer(t)
	dexcom.addAccount(t, "sam@example.org", "Sam", "", dexPassword)
	uploader := shareClient(t, dexcom, "sam@example.org", dexPassword)
	if err := uploader.StartRemoteMonitoringSession(ctx, "SM12345678"); err != nil {
		t.Fatal(err)
	}
	newest := time.Now().Add(-share5 - mirrorLag + 40*time.Second).Truncate(time.Second)
	var up []share.Reading
	for i := range 288 {
		up = append(up, share.Reading{ST: newest.Add(-time.Duration(i) * share5).UnixMilli(), Value: 100 + i%80,
			Trend: share.TrendFlat})
	}
	if err := uploader.PostReceiverEgvRecords(ctx, "SM12345678", up); err != nil {
		t.Fatal(err)
	}

	// The mirror, with Sam's account and Mum following it.
	key := secretkey.Generate()
	mirror := startServer(t, "--secret-key", key, "--webhook-allow-private")
	sam := mirror.addAccount(t, "sam", "Sam", "", "correct horse battery")
	mirror.addAccount(t, "mum", "Mum", "", "correct horse battery")
	samClient := shareClient(t, mirror, "sam", "correct horse battery")
	contact, err := samClient.CreateContact(ctx, "Mum", "")
	if err != nil {
		t.Fatal(err)
	}
	subID, err := samClient.CreateSubscriptionInvitation(ctx, contact, share.Invite{})
	if err != nil {
		t.Fatal(err)
	}
	invID, err := samClient.ReadSubscriptionInviteID(ctx, subID)
	if err != nil {
		t.Fatal(err)
	}
	mum := shareClient(t, mirror, "mum", "correct horse battery")
	if _, err := mum.AcceptInvitation(ctx, invID); err != nil {
		t.Fatal(err)
	}

	// Without the key, linking is refused and stores nothing.
	code, _, errOut := clitest.Run(t, dexPassword+"\n", "account", "link", "sam", "--db", mirror.dsn,
		"--server", dexcom.base, "--username", "sam@example.org", "--password-stdin", "--allow-private")
	if code == 0 || !strings.Contains(errOut, "secret key") {
		t.Fatalf("link without --secret-key: exit %d, %q; want a refusal naming the secret key", code, errOut)
	}
	code, _, errOut = clitest.Run(t, dexPassword+"\n", "account", "link", "sam", "--db", mirror.dsn,
		"--server", dexcom.base, "--username", "sam@example.org", "--password-stdin", "--allow-private", "--secret-key", key)
	if code != 0 {
		t.Fatalf("account link: exit %d: %s", code, errOut)
	}

	read := func() ([]share.Reading, error) { return mum.ReadSubscriptionLatestGlucoseValues(ctx, subID, 1440, 288) }
	eventually(t, 15*time.Second, func() string {
		rs, err := read()
		if err != nil || len(rs) != 288 {
			return fmt.Sprintf("Mum reads %d readings (%v), want the 288 backfilled", len(rs), err)
		}
		return ""
	})
	rs, _ := read()
	for i, r := range rs {
		if r.ST != up[i].ST || r.Value != up[i].Value || r.Trend != up[i].Trend {
			t.Fatalf("mirrored reading %d = %+v, want %+v", i, r, up[i])
		}
	}

	// The next reading upstream, an urgent low, comes 5 minutes after the
	// newest: the poll timed from the newest finds it.
	low := share.Reading{ST: newest.Add(share5).UnixMilli(), Value: 50, Trend: share.TrendDoubleDown}
	if err := uploader.PostReceiverEgvRecords(ctx, "SM12345678", []share.Reading{low}); err != nil {
		t.Fatal(err)
	}
	due := newest.Add(share5 + mirrorLag)
	eventually(t, time.Until(due)+10*time.Second, func() string {
		rs, err := read()
		if err != nil || len(rs) == 0 || rs[0].ST != low.ST || rs[0].Value != 50 {
			return fmt.Sprintf("Mum's newest reading is not the urgent low (%v)", err)
		}
		return ""
	})
	if polls := metricValue(t, mirror, `glucoshare_mirror_polls_total{result="ok"}`); polls != 2 {
		t.Errorf("%v successful polls, want 2: the backfill and the one that found the new reading", polls)
	}
	eventually(t, 5*time.Second, func() string {
		as, err := mum.ListSubscriptionAlarms(ctx, subID, 60)
		for _, a := range as {
			if a.AlertType == share.AlertTypeFixedLow && a.Value == 50 {
				return ""
			}
		}
		return fmt.Sprintf("no urgent low alarm for Mum: %+v (%v)", as, err)
	})

	// The Nightscout API of the follower's token serves the mirrored values.
	code, token, errOut := clitest.Run(t, "", "account", "nightscout-token", "mum", "--db", mirror.dsn,
		"--subscription", subID, "--secret-key", key)
	if code != 0 {
		t.Fatalf("nightscout-token: %s", errOut)
	}
	res, err := http.Get(mirror.base + "/api/v1/entries.json?count=3&token=" + strings.TrimSpace(token))
	if err != nil {
		t.Fatal(err)
	}
	var entries []struct {
		SGV       int    `json:"sgv"`
		Date      int64  `json:"date"`
		Direction string `json:"direction"`
		Device    string `json:"device"`
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if err := json.Unmarshal(body, &entries); err != nil || len(entries) != 3 {
		t.Fatalf("entries.json: %s (%v)", body, err)
	}
	if e := entries[0]; e.SGV != 50 || e.Date != low.ST || e.Direction != "DoubleDown" || e.Device != "share-mirror" {
		t.Errorf("newest Nightscout entry %+v, want the mirrored urgent low from device share-mirror", e)
	}
	if e := entries[1]; e.SGV != up[0].Value || e.Date != up[0].ST {
		t.Errorf("second Nightscout entry %+v, want %+v", e, up[0])
	}

	// The account's export says which readings were mirrored: all of them.
	code, csvOut, errOut := clitest.Run(t, "", "account", "export", "sam", "--db", mirror.dsn, "--format", "csv", "--out", "-")
	rows, err := csv.NewReader(strings.NewReader(csvOut)).ReadAll()
	if code != 0 || err != nil || len(rows) != 290 || rows[0][7] != "source" {
		t.Fatalf("csv export: exit %d, %v, %d rows %q\n%s", code, err, len(rows), rows[:min(len(rows), 1)], errOut)
	}
	for _, row := range rows[1:] {
		if row[7] != "share-mirror" {
			t.Fatalf("exported reading %q, want source share-mirror", row)
		}
	}

	// The status tells the owner where the link stands.
	code, status, errOut := clitest.Run(t, "", "account", "link-status", "sam", "--db", mirror.dsn)
	if code != 0 || !strings.Contains(status, "polling") || !strings.Contains(status, time.UnixMilli(low.ST).UTC().Format(time.RFC3339)) ||
		strings.Contains(status, dexPassword) {
		t.Errorf("link-status: exit %d\n%s%s", code, status, errOut)
	}
	wantPasswordHidden(t, mirror, sam, dexPassword)

	// Unlinking erases the sealed password; the mirrored readings stay.
	if code, _, errOut := clitest.Run(t, "", "account", "unlink", "sam", "--db", mirror.dsn); code != 0 {
		t.Fatalf("unlink: %s", errOut)
	}
	if code, _, errOut := clitest.Run(t, "", "account", "link-status", "sam", "--db", mirror.dsn); code == 0 || !strings.Contains(errOut, "no mirror link") {
		t.Errorf("link-status after unlink: exit %d, %q", code, errOut)
	}
	if rs, err := read(); err != nil || len(rs) != 288 {
		t.Errorf("after unlinking Mum reads %d readings (%v), want them kept", len(rs), err)
	}
}

// share5 is the time between two readings.
const share5 = 5 * time.Minute

// wantPasswordHidden looks for the Dexcom password where an operator's
// data goes: the server's log, the account's export, a copy of the whole
// database, and on SQLite the database file and a backup.
func wantPasswordHidden(t *testing.T, s *server, a account, password string) {
	t.Helper()
	dir := t.TempDir()
	look := func(where string, data []byte) {
		if strings.Contains(string(data), password) {
			t.Errorf("the Dexcom password is readable in %s", where)
		}
	}
	look("the server log", []byte(s.log.String()))
	exportFile := filepath.Join(dir, "export.json")
	if code, _, errOut := clitest.Run(t, "", "account", "export", a.name, "--db", s.dsn, "--out", exportFile); code != 0 {
		t.Fatalf("export: %s", errOut)
	}
	export, _ := os.ReadFile(exportFile)
	look("the export", export)
	copyFile := filepath.Join(dir, "copy.db")
	if code, _, errOut := clitest.Run(t, "", "copy", "--from", s.dsn, "--to", "sqlite:"+copyFile); code != 0 {
		t.Fatalf("copy: %s", errOut)
	}
	copied, _ := os.ReadFile(copyFile)
	look("a copy of the database", copied)
	if !strings.Contains(string(copied), "sam@example.org") {
		t.Errorf("the copy holds no mirror link: the search above proves nothing")
	}
	if file, ok := strings.CutPrefix(s.dsn, "sqlite:"); ok {
		for _, f := range []string{file, file + "-wal"} {
			data, _ := os.ReadFile(f)
			look(f, data)
		}
		backup := filepath.Join(dir, "backup.db")
		if code, _, errOut := clitest.Run(t, "", "backup", "--db", file, "--out", backup); code != 0 {
			t.Fatalf("backup: %s", errOut)
		}
		data, _ := os.ReadFile(backup)
		look("a backup", data)
	}
}

// metricValue reads one sample from the server's /metrics.
func metricValue(t *testing.T, s *server, sample string) float64 {
	t.Helper()
	res, err := http.Get(s.base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, sample+" "); ok {
			var f float64
			fmt.Sscan(v, &f)
			return f
		}
	}
	return 0
}
