package cli_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

// clarityHeader is the header row of a Dexcom Clarity CSV export (G6/G7).
const clarityHeader = "Index,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,Event Subtype,Patient Info,Device Info,Source Device ID," +
	"Glucose Value (mg/dL),Insulin Value (u),Carb Value (grams),Duration (hh:mm:ss),Glucose Rate of Change (mg/dL/min)," +
	"Transmitter Time (Long Integer),Transmitter ID"

// clarityExport writes a Clarity-style export of n EGV rows, five minutes
// apart, the newest at newest, with local times in zone; the patient and
// device preamble, alerts, and insulin, carb and calibration rows are mixed
// in as Clarity writes them. It returns the readings the EGV rows mean.
func clarityExport(t *testing.T, path string, n int, newest time.Time, zone *time.Location) []share.Reading {
	t.Helper()
	var b strings.Builder
	b.WriteString("\ufeff" + clarityHeader + "\r\n")
	idx := 1
	row := func(ts, event, subtype, patient, device, source, glucose, insulin, carbs, rate, txTime, tx string) {
		fmt.Fprintf(&b, "%d,%s,%s,%s,%s,%s,%s,%s,%s,%s,,%s,%s,%s\r\n", idx, ts, event, subtype, patient, device, source, glucose, insulin, carbs, rate, txTime, tx)
		idx++
	}
	row("", "FirstName", "", "Sam", "", "", "", "", "", "", "", "")
	row("", "LastName", "", "Example", "", "", "", "", "", "", "", "")
	row("", "DateOfBirth", "", "1990-01-01", "", "", "", "", "", "", "", "")
	row("", "Device", "", "", "Dexcom G6 Mobile App", "iPhone G6", "", "", "", "", "", "")
	row("", "Alert", "High", "", "", "iPhone G6", "250", "", "", "", "", "")
	row("", "Alert", "Low", "", "", "iPhone G6", "70", "", "", "", "", "")
	rates := []string{"0.2", "1.4", "-1.5", "2.5", "-2.5", "3.6", "-3.2", "", "-0.9", "1.0"}
	var want []share.Reading
	for i := n - 1; i >= 0; i-- { // Clarity lists oldest first
		t := newest.Add(-time.Duration(i) * 5 * time.Minute).Truncate(time.Second)
		ts := t.In(zone).Format("2006-01-02T15:04:05")
		v := 60 + (i*7)%300
		glucose := fmt.Sprint(v)
		switch i % 97 {
		case 13:
			glucose, v = "Low", 39
		case 42:
			glucose, v = "High", 401
		}
		rate := rates[i%len(rates)]
		row(ts, "EGV", "", "", "", "iPhone G6", glucose, "", "", rate, fmt.Sprint(1000000+i*300), "8GABCD")
		_, off := t.In(zone).Zone()
		want = append(want, share.Reading{ST: t.UnixMilli(), Offset: off / 60, Value: v, Trend: rateTrend(rate)})
		switch i % 250 {
		case 7:
			row(ts, "Insulin", "Fast-Acting", "", "", "iPhone G6", "", "4.5", "", "", "", "")
		case 8:
			row(ts, "Carbs", "", "", "", "iPhone G6", "", "", "30", "", "", "")
		case 9:
			row(ts, "Calibration", "", "", "", "iPhone G6", "120", "", "", "", "", "8GABCD")
		}
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return want
}

// rateTrend is the trend Dexcom draws for a rate of change in mg/dL/min.
func rateTrend(rate string) share.Trend {
	return map[string]share.Trend{"0.2": share.TrendFlat, "1.4": share.TrendFortyFiveUp, "-1.5": share.TrendFortyFiveDown,
		"2.5": share.TrendSingleUp, "-2.5": share.TrendSingleDown, "3.6": share.TrendDoubleUp, "-3.2": share.TrendDoubleDown,
		"": share.TrendNone, "-0.9": share.TrendFlat, "1.0": share.TrendFortyFiveUp}[rate]
}

// TestClientUploadClarity uploads a Clarity export of 2,000 readings twice;
// they land exactly once.
func TestClientUploadClarity(t *testing.T) {
	t.Parallel()
	e := clientServe(t)
	e.account("sam", "")
	dir := t.TempDir()
	export := filepath.Join(dir, "clarity.csv")
	want := clarityExport(t, export, 2000, time.Now().Add(-30*time.Minute), time.FixedZone("", -4*3600))
	e.replace(export, "{FILE}")

	for run := 1; run <= 2; run++ {
		code, out, errOut := e.runAs("sam", "upload", "--tz", "-04:00", export)
		wantExit(t, fmt.Sprintf("upload run %d", run), code, 0, errOut)
		e.golden("upload-clarity", out)
		e.golden("upload-clarity-progress", errOut)

		got, err := e.client("sam").ReadPublisherLatestGlucoseValues(context.Background(), 10080, 2016)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("after run %d: %d readings on the server, want %d", run, len(got), len(want))
		}
		for i := range want { // want is oldest first, got newest first
			if g, w := got[len(got)-1-i], want[i]; g != w {
				t.Fatalf("after run %d: reading %d is %+v, want %+v", run, i, g, w)
			}
		}
	}
}

// TestClientUploadFormats round-trips readings through the csv and json of
// glucoshare readings and Share's wire JSON, and checks the receiver rules.
func TestClientUploadFormats(t *testing.T) {
	t.Parallel()
	e := clientServe(t)
	e.account("sam", "")
	e.account("kim", "")
	e.account("lee", "")
	rs := series(time.Now().Add(-time.Minute), 8, 330)
	e.upload("sam", rs)
	dir := t.TempDir()
	ctx := context.Background()

	for _, format := range []string{"csv", "json"} {
		code, out, errOut := e.runAs("sam", "readings", "--format", format)
		wantExit(t, "readings --format "+format, code, 0, errOut)
		path := filepath.Join(dir, "readings."+format)
		if err := os.WriteFile(path, []byte(out), 0o644); err != nil {
			t.Fatal(err)
		}
		code, _, errOut = e.runAs("kim", "upload", "--batch-size", "3", "--serial", "8GKIM", path)
		wantExit(t, "upload of "+format, code, 0, errOut)
		if got := strings.Count(errOut, "sent "); got != 3 {
			t.Errorf("upload of %s: %d progress lines, want 3:\n%s", format, got, errOut)
		}
	}
	got, err := e.client("kim").ReadPublisherLatestGlucoseValues(ctx, 1440, 288)
	if err != nil || len(got) != len(rs) {
		t.Fatalf("kim's readings: %d, %v", len(got), err)
	}
	for i := range rs {
		if got[i] != rs[i] {
			t.Errorf("reading %d: %+v, want %+v", i, got[i], rs[i])
		}
	}

	// Share's wire form on standard input.
	wire := string(share.AppendReadings(nil, rs[:2], true))
	code, out, errOut := clientRun(t, wire, map[string]string{"GLUCOSHARE_PASSWORD": clientPW},
		"upload", "--server", e.base, "--username", "lee", "--progress", "none", "-")
	wantExit(t, "upload of wire JSON from stdin", code, 0, errOut)
	e.golden("upload-stdin", out)
	if got, _ := e.client("lee").ReadPublisherLatestGlucoseValues(ctx, 1440, 288); len(got) != 2 || got[0] != rs[0] {
		t.Errorf("lee's readings %+v", got)
	}

	// sam's account monitors SM12345678: another serial needs --replace-receiver.
	path := filepath.Join(dir, "readings.csv")
	code, _, errOut = e.runAs("sam", "upload", "--serial", "8GOTHER", path)
	wantExit(t, "upload with another serial", code, 1, errOut, "--replace-receiver", "MonitoredReceiverSerialNumberDoesNotMatch")
	code, _, errOut = e.runAs("sam", "upload", "--serial", "8GOTHER", "--replace-receiver", path)
	wantExit(t, "upload with --replace-receiver", code, 0, errOut)
	if st, err := e.client("sam").CheckMonitoredReceiverAssignmentStatus(ctx, "8GOTHER"); err != nil || st != share.AssignedToYou {
		t.Errorf("after --replace-receiver: %s, %v", st, err)
	}

	// Bad input is refused before anything is sent.
	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("time,value\n2025-01-01T00:00:00Z,abc\n"), 0o644)
	code, _, errOut = e.runAs("sam", "upload", bad)
	wantExit(t, "bad value", code, 1, errOut, "bad.csv: line 2", `"abc"`)
	code, _, errOut = e.runAs("sam", "upload")
	wantExit(t, "no file", code, 2, errOut, "name at least one file")
	code, _, errOut = clientRun(t, clientPW+"\n", nil, "upload", "--server", e.base, "--username", "sam", "--password-stdin", "-")
	wantExit(t, "password and file on stdin", code, 2, errOut, "standard input")
	code, _, errOut = e.runAs("sam", "upload", "--tz", "Mars/Olympus", bad)
	wantExit(t, "bad zone", code, 2, errOut, "--tz")

	// Readings ahead of the server's clock are reported; the others land.
	future := filepath.Join(dir, "future.csv")
	soon := time.Now().Add(2 * time.Hour).UTC().Format(time.RFC3339)
	past := time.Now().Add(-20 * time.Second).UTC().Truncate(time.Second)
	os.WriteFile(future, []byte("time,value,trend\n"+soon+",100,Flat\n"+past.Format(time.RFC3339)+",101,Flat\n"), 0o644)
	code, _, errOut = e.runAs("sam", "upload", "--serial", "8GOTHER", future)
	wantExit(t, "future reading", code, 1, errOut, "discarded 1 reading(s) more than 5 minutes ahead")
	if r, err := e.client("sam").LatestReading(ctx); err != nil || r.ST != past.UnixMilli() || r.Value != 101 {
		t.Errorf("newest after the future upload: %+v, %v", r, err)
	}
}
