package share

import (
	"encoding/json"
	"testing"
	"time"
)

// The values are those of docs/protocol.md, "Shared objects"; the durations take the docs/protocol.md, "Durations" form of
// durations the server creates itself.
func TestDefaultAlertSettingsJSON(t *testing.T) {
	b, err := json.Marshal(DefaultAlertSettings())
	want := `{"HighAlert":{"AlertType":1,"IsEnabled":false,"MinValue":200,"MaxValue":401,"AlarmDelay":"PT1H0M","RealarmDelay":"PT2H0M","Sound":"High.wav"},` +
		`"LowAlert":{"AlertType":2,"IsEnabled":false,"MinValue":39,"MaxValue":70,"AlarmDelay":"PT30M","RealarmDelay":"PT2H0M","Sound":"Low.wav"},` +
		`"FixedLowAlert":{"AlertType":3,"IsEnabled":true,"MinValue":39,"MaxValue":55,"AlarmDelay":"PT0M","RealarmDelay":"PT30M","Sound":"UrgentLow.wav"},` +
		`"NoDataAlert":{"AlertType":4,"IsEnabled":false,"MinValue":39,"MaxValue":401,"AlarmDelay":"PT1H0M","RealarmDelay":"PT0M","Sound":"NoData.wav"}}`
	if got := string(b); err != nil || got != want {
		t.Errorf("json.Marshal(DefaultAlertSettings()) =\n%s, %v\nwant\n%s", got, err, want)
	}
	var back AlertSettings
	if err := json.Unmarshal(b, &back); err != nil || back != DefaultAlertSettings() {
		t.Errorf("round trip = %+v, %v; want the defaults", back, err)
	}
}

func TestDefaultAlertDurationsParse(t *testing.T) {
	s := DefaultAlertSettings()
	for _, a := range []AlertSetting{s.HighAlert, s.LowAlert, s.FixedLowAlert, s.NoDataAlert} {
		for _, d := range []string{a.AlarmDelay, a.RealarmDelay} {
			got, err := ParseDuration(d)
			if err != nil || got < 0 || got > 24*time.Hour {
				t.Errorf("AlertType %d: ParseDuration(%q) = %v, %v", a.AlertType, d, got, err)
			}
		}
	}
}
