package cli

import (
	"bytes"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

func TestParseClarity(t *testing.T) {
	ny := time.FixedZone("EDT", -4*3600)
	csv := "\ufeffIndex,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,Event Subtype,Patient Info,Device Info,Source Device ID,Glucose Value (mg/dL),Insulin Value (u),Carb Value (grams),Duration (hh:mm:ss),Glucose Rate of Change (mg/dL/min),Transmitter Time (Long Integer),Transmitter ID\r\n" +
		"1,,FirstName,,Jane,,,,,,,,,\r\n" +
		"2,,Device,,,Dexcom G6 Mobile App,iPhone G6,,,,,,,\r\n" +
		"3,,Alert,Low,,,iPhone G6,70,,,,,,\r\n" +
		"4,2024-06-01T00:03:00,EGV,,,,iPhone G6,112,,,,0.5,100,8GAAAA\r\n" +
		"5,2024-06-01 00:08:00,EGV,,,,iPhone G6,Low,,,,-2.1,400,8GAAAA\r\n" +
		"6,2024-06-01T00:13:00,EGV,,,,iPhone G6,High,,,,,700,8GAAAA\r\n" +
		"7,2024-06-01T00:14:00,Insulin,Fast-Acting,,,iPhone G6,,5,,,,,\r\n" +
		"8,2024-06-01T00:15:00,Calibration,,,,iPhone G6,120,,,,,,8GAAAA\r\n" +
		"9,2024-06-01T00:18:00,EGV,,,,iPhone G6,250,,,,3.5,1000,8GAAAA\r\n"
	got, err := parseReadings([]byte(csv), "auto", ny)
	if err != nil {
		t.Fatal(err)
	}
	at := func(s string) int64 { tm, _ := time.ParseInLocation("2006-01-02T15:04", s, ny); return tm.UnixMilli() }
	want := []share.Reading{
		{ST: at("2024-06-01T00:03"), Offset: -240, Value: 112, Trend: share.TrendFlat},
		{ST: at("2024-06-01T00:08"), Offset: -240, Value: 39, Trend: share.TrendSingleDown},
		{ST: at("2024-06-01T00:13"), Offset: -240, Value: 401, Trend: share.TrendNone},
		{ST: at("2024-06-01T00:18"), Offset: -240, Value: 250, Trend: share.TrendDoubleUp},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got\n%+v\nwant\n%+v", got, want)
	}

	// mmol/L exports, with semicolons and decimal commas.
	mmol := "Index;Timestamp (YYYY-MM-DDThh:mm:ss);Event Type;Glucose Value (mmol/L);Glucose Rate of Change (mmol/L/min)\n" +
		"1;2024-06-01T00:03:00;EGV;5,5;0,12\n2;2024-06-01T00:08:00;EGV;12.4;-0.1\n"
	got, err = parseReadings([]byte(mmol), "auto", time.UTC)
	if err != nil || len(got) != 2 || got[0].Value != 99 || got[0].Trend != share.TrendSingleUp || got[1].Value != 223 || got[1].Trend != share.TrendFortyFiveDown {
		t.Errorf("mmol export: %+v, %v", got, err)
	}
	for _, bad := range []string{
		"Index,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,Glucose Value (mg/dL)\n1,yesterday,EGV,100\n",
		"Index,Timestamp (YYYY-MM-DDThh:mm:ss),Event Type,Glucose Value (mg/dL)\n1,2024-06-01T00:03:00,EGV,lots\n",
		"Index,Timestamp,Glucose Value (mg/dL)\n",
	} {
		if _, err := parseReadings([]byte(bad), "clarity", time.UTC); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestParseOwnFormats(t *testing.T) {
	want := []share.Reading{
		{ST: 1745081013000, Offset: -240, Value: 224, Trend: share.TrendFlat},
		{ST: 1745080713000, Offset: 0, Value: 39, Trend: share.TrendFortyFiveUp},
	}
	for name, in := range map[string]string{
		"csv":          "time,value,trend\n2025-04-19T12:43:33-04:00,224,Flat\n2025-04-19T16:38:33Z,39,FortyFiveUp\n",
		"csv reorder":  "trend,value,time\nflat,224,2025-04-19T12:43:33-04:00\n3,LOW,1745080713000\n",
		"json":         `[{"time":"2025-04-19T12:43:33-04:00","value":224,"trend":"Flat"},{"time":"2025-04-19T16:38:33Z","value":39,"trend":3}]`,
		"wire":         `[{"WT":"Date(1745081013000)","ST":"Date(1745081013000)","DT":"Date(1745081013000-0400)","Value":224,"Trend":"Flat"},{"WT":"\/Date(1745080713000)\/","Value":39,"Trend":3}]`,
		"post body":    `{"SN":"8G1234","Egvs":[{"ST":"/Date(1745081013000)/","DT":"/Date(1745066613000)/","Value":224,"Trend":4},{"ST":1745080713000,"Value":39,"Trend":"FortyFiveUp"}],"TA":-5}`,
		"csv local tz": "time,value,trend\n2025-04-19 12:43:33,224,Flat\n2025-04-19T16:38:33+00:00,39,FortyFiveUp\n",
	} {
		got, err := parseReadings([]byte(in), "auto", time.FixedZone("", -4*3600))
		if name == "csv local tz" && err == nil {
			got[1].Offset = 0 // +00:00 states an offset of zero
		}
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: %+v, %v", name, got, err)
		}
	}
	if _, err := parseReadings([]byte("hello"), "auto", time.UTC); err == nil {
		t.Error("unknown format accepted")
	}
}

func TestParseZone(t *testing.T) {
	for in, off := range map[string]int{"UTC": 0, "+02:00": 7200, "-0430": -16200, "+05:45": 20700} {
		loc, err := parseZone(in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if _, got := time.Date(2025, 1, 1, 0, 0, 0, 0, loc).Zone(); got != off {
			t.Errorf("%s: offset %d, want %d", in, got, off)
		}
	}
	for _, bad := range []string{"+2", "Nowhere/City", "+25:00"} {
		if _, err := parseZone(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestProgressOutput(t *testing.T) {
	if got := progressBar(500, 2000, 20); got != "[#####...............]  25%  500/2000 readings" {
		t.Errorf("bar %q", got)
	}
	var buf bytes.Buffer
	p := newProgress(&buf, "bar", 4)
	p.update(2)
	p.update(4)
	p.done()
	if want := "\r[#####.....]  50%  2/4 readings"; !strings.HasPrefix(strings.ReplaceAll(buf.String(), strings.Repeat("#", 15)+strings.Repeat(".", 15), "#####....."), want) {
		t.Errorf("bar output %q", buf.String())
	}
	buf.Reset()
	p = newProgress(&buf, "auto", 4) // not a terminal: lines
	p.update(4)
	p.done()
	if buf.String() != "sent 4 of 4 readings\n" {
		t.Errorf("lines output %q", buf.String())
	}
}

func TestNextPoll(t *testing.T) {
	now := time.Date(2025, 4, 19, 12, 0, 0, 0, time.UTC)
	at := func(d time.Duration) share.Reading { return share.Reading{ST: now.Add(d).UnixMilli()} }
	for _, tc := range []struct {
		interval time.Duration
		last     share.Reading
		failures int
		want     time.Duration
	}{
		{time.Minute, at(-time.Minute), 0, time.Minute},
		{0, share.Reading{}, 0, 30 * time.Second},
		{0, at(-time.Minute), 0, 4*time.Minute + 10*time.Second},
		{0, at(-6 * time.Minute), 0, 30 * time.Second},
		{0, at(time.Minute), 0, 5*time.Minute + 10*time.Second},
		{0, at(-time.Minute), 3, 90 * time.Second},
		{0, at(-time.Minute), 30, 5 * time.Minute},
	} {
		if got := nextPoll(tc.interval, tc.last, tc.failures, now); got != tc.want {
			t.Errorf("nextPoll(%v, %v, %d) = %v, want %v", tc.interval, tc.last.Time(), tc.failures, got, tc.want)
		}
	}
}

func TestClientConfigFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "client.conf")
	in := clientConfig{server: "us", username: "sam@example.org", accountID: "b0b4a1c6-0d2e-4f6b-9c1a-5d2e7f3a9b10", password: ` spaces "and" \ quotes `}
	if err := writeClientConfig(path, in); err != nil {
		t.Fatal(err)
	}
	got, err := readClientConfig(path)
	if err != nil || got != in {
		t.Errorf("read back %+v, %v", got, err)
	}
	os.WriteFile(path, []byte("server = us\nuser = sam\n"), 0o600)
	if _, err := readClientConfig(path); err == nil || !strings.Contains(err.Error(), ":2:") {
		t.Errorf("unknown key: %v", err)
	}
	os.WriteFile(path, []byte("password = \"unterminated\n"), 0o600)
	if _, err := readClientConfig(path); err == nil {
		t.Error("malformed quote accepted")
	}
	os.Chmod(path, 0o640)
	if _, err := readClientConfig(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Errorf("group-readable file: %v", err)
	}
}

func TestInterspersed(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("server", "", "")
	fs.Bool("save", false, "")
	got := interspersed(fs, []string{"Mom", "--server", "us", "pause", "--save", "-server=x", "--", "-literal"})
	want := []string{"--server", "us", "--save", "-server=x", "--", "Mom", "pause", "-literal"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestTableAndColours(t *testing.T) {
	var buf bytes.Buffer
	o := &output{w: &buf, color: true, units: "mg/dL"}
	o.table([]string{"NAME", "VALUE"}, [][]string{{"Sam", o.paint(50, "50")}, {"Kimberly", o.paint(250, "250")}})
	want := "\x1b[1mNAME      VALUE\x1b[0m\nSam       \x1b[1;31m50\x1b[0m\nKimberly  \x1b[33m250\x1b[0m\n"
	if buf.String() != want {
		t.Errorf("table\n%q\nwant\n%q", buf.String(), want)
	}
	if visibleWidth("\x1b[1;31m↑↑ 50\x1b[0m") != 5 {
		t.Error("visibleWidth counts colour codes or bytes")
	}
	o.color = false
	if o.paint(50, "50") != "50" || o.bold("x") != "x" {
		t.Error("colours without a terminal")
	}
	if o.value(39) != "LOW" || o.value(401) != "HIGH" || o.value(100) != "100" {
		t.Error("value markers")
	}
	now := time.Now()
	for d, want := range map[time.Duration]string{10 * time.Second: "just now", 7 * time.Minute: "7 min ago",
		125 * time.Minute: "2 h 5 min ago", 72 * time.Hour: "3 days ago"} {
		if got := ago(now.Add(-d), now); got != want {
			t.Errorf("ago(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestDescribeClientError(t *testing.T) {
	locked := &share.CallError{Endpoint: "General/AuthenticatePublisherAccount", Status: 500, RetryAfter: 899 * time.Second,
		Err: &share.Error{Code: share.CodeSSOMaxAttempts, Message: "Too many failed attempts"}}
	err := describeClientError(locked)
	if err.Error() != "too many failed logins; try again in 14m59s" || !errors.Is(err, share.ErrMaxAttempts) {
		t.Errorf("lockout: %v", err)
	}
	other := &share.CallError{Endpoint: "Publisher/ReadContact", Status: 500, Err: &share.Error{Code: share.CodeContactIDNotFound, Message: "Contact not found."}}
	if err := describeClientError(other); err.Error() != "ContactIdNotFound: Contact not found." || !errors.Is(err, other.Err) {
		t.Errorf("other: %v", err)
	}
	if describeClientError(nil) != nil {
		t.Error("nil")
	}
}

// TestValueUnits: the client prints mmol/L as the dashboard and Nightscout
// do (factor 18), where pydexcom's 0.0555 would differ: 100 mg/dL is
// 5.56 mmol/L, so 5.6, not 5.5.
func TestValueUnits(t *testing.T) {
	for _, c := range []struct {
		units string
		mgdl  int
		want  string
	}{
		{"mmol/L", 100, "5.6"}, {"mmol", 180, "10.0"}, {"mmol/L", 70, "3.9"}, {"mg/dL", 100, "100"},
		{"mmol/L", 39, "LOW"}, {"mg/dL", 401, "HIGH"},
	} {
		u, err := checkUnits(c.units)
		if err != nil {
			t.Fatal(err)
		}
		if got := (&output{units: u}).value(c.mgdl); got != c.want {
			t.Errorf("%d mg/dL in %s: %q, want %q", c.mgdl, c.units, got, c.want)
		}
	}
	if _, err := checkUnits(""); err == nil {
		t.Error("empty --units accepted")
	}
}
