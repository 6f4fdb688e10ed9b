package web

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/share"
)

// The channel choices form, as anyone with a session may post it: no
// panic, times of the day only, and urgent low never off by omission.
func FuzzPrefsFromForm(f *testing.F) {
	f.Add("quiet=1&quiet_start=22:00&quiet_end=07:00&time_zone=Europe/Paris&low=1")
	f.Add("quiet=1&quiet_start=24:00&quiet_end=-1:00")
	f.Add("urgent_low_off=off&high=1&quiet_high=1")
	f.Add("quiet=1&quiet_start=%00&time_zone=")
	f.Fuzz(func(t *testing.T, body string) {
		r := httptest.NewRequest("POST", "/channels/x/prefs", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		p, err := prefsFromForm(r)
		if err != nil {
			return
		}
		if p.QuietStart < -1 || p.QuietStart >= 1440 || p.QuietEnd < -1 || p.QuietEnd >= 1440 {
			t.Fatalf("%q gave quiet hours %d–%d", body, p.QuietStart, p.QuietEnd)
		}
		form, _ := url.ParseQuery(body)
		if p.UrgentLowOff != (form.Get("urgent_low_off") == "off") || !p.Kinds.Has(share.AlertTypeFixedLow) {
			t.Fatalf("%q: urgent low off %v", body, p.UrgentLowOff)
		}
		if p.TimeZone == "" {
			t.Fatalf("%q: no time zone", body)
		}
	})
}
