package relay

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfter(t *testing.T) {
	now := time.Date(2025, 4, 19, 16, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"30", 30 * time.Second, true},
		{" 0 ", 0, true},
		{"999999999", maxPause, true},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{"", 0, false},
		{"-5", 0, false},
		{"soon", 0, false},
	} {
		got, ok := retryAfter(c.in, now)
		if got != c.want || ok != c.ok {
			t.Errorf("retryAfter(%q) = %v, %t; want %v, %t", c.in, got, ok, c.want, c.ok)
		}
	}
}

func TestSplitQuery(t *testing.T) {
	for _, c := range []struct {
		raw, kept, key, format string
	}{
		{"", "", "", ""},
		{"sessionID=a%2Db&minutes=1440&maxCount=1", "sessionID=a%2Db&minutes=1440&maxCount=1", "", ""},
		{"format=object&sessionId=x&relayKey=k%20y", "sessionId=x", "k y", "object"},
		{"RelayKey=first&relaykey=second&FORMAT=text&&a", "a", "first", "text"},
		{"rel%61yKey=k&b=%zz", "b=%zz", "k", ""},
	} {
		kept, params := splitQuery(c.raw)
		if kept != c.kept || params["relaykey"] != c.key || params["format"] != c.format {
			t.Errorf("splitQuery(%q) = %q, %v; want %q, key %q, format %q", c.raw, kept, params, c.kept, c.key, c.format)
		}
	}
}

func TestShareMethod(t *testing.T) {
	for path, want := range map[string]string{
		"ShareWebServices/Services/General/LoginPublisherAccountById":             "general/loginpublisheraccountbyid",
		"/sharewebservices//services/Publisher/ReadPublisherLatestGlucoseValues/": "publisher/readpublisherlatestglucosevalues",
		"ShareWebServices/Services/Subscriber/ReadLastGlucoseFromSubscriptions":   "subscriber/readlastglucosefromsubscriptions",
		"ShareWebServices/Services/General/..":                                    "",
		"ShareWebServices/Services/Admin/Anything":                                "",
		"ShareWebServices/Services/General/Login%2F..":                            "",
		"ShareWebServices/Services/General":                                       "",
		"metrics":                                                                 "",
	} {
		got, ok := shareMethod(path)
		if got != want || ok != (want != "") {
			t.Errorf("shareMethod(%q) = %q, %t; want %q", path, got, ok, want)
		}
	}
}
