package core

import (
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

func ptr[T any](v T) *T { return &v }

// TestAlertNormalisation covers docs/protocol.md, "Alert settings"'s write rules kind by kind.
func TestAlertNormalisation(t *testing.T) {
	def := share.DefaultAlertSettings()
	base := def
	base.LowAlert.MaxValue = 90 // what a follower set earlier

	got, err := AlertsInput{
		High:     &AlertInput{IsEnabled: ptr(true), MinValue: ptr[int64](200), MaxValue: ptr[int64](250)}, // Spike's form
		FixedLow: &AlertInput{IsEnabled: ptr(false), MaxValue: ptr[int64](60), Sound: ptr("")},
		NoData:   &AlertInput{AlarmDelay: ptr("20m"), RealarmDelay: ptr("PT0S")},
	}.apply(base)
	if err != nil {
		t.Fatal(err)
	}
	want := def
	want.HighAlert.IsEnabled, want.HighAlert.MaxValue = true, 250
	want.LowAlert = base.LowAlert // absent: unchanged
	want.FixedLowAlert.MaxValue, want.FixedLowAlert.Sound = 55, ""
	want.NoDataAlert.AlarmDelay, want.NoDataAlert.RealarmDelay = "20m", "PT0S"
	if got != want {
		t.Errorf("apply:\ngot  %+v\nwant %+v", got, want)
	}
	if h, ok := AlertThreshold(got.HighAlert); !ok || h != 250 {
		t.Errorf("Spike High threshold = %d, %t; want 250", h, ok)
	}
	if h, ok := AlertThreshold(def.HighAlert); !ok || h != 200 {
		t.Errorf("official High threshold = %d, %t; want 200 (401 is a marker)", h, ok)
	}

	// An omitted kind member takes the docs/protocol.md, "Shared objects" default, not the old value.
	got, err = AlertsInput{Low: &AlertInput{IsEnabled: ptr(true)}}.apply(base)
	if err != nil || got.LowAlert.MaxValue != 70 || !got.LowAlert.IsEnabled {
		t.Errorf("Low with defaults: %+v, %v", got.LowAlert, err)
	}

	for name, in := range map[string]AlertsInput{
		"value below 39":        {Low: &AlertInput{MinValue: ptr[int64](38)}},
		"value above 401":       {NoData: &AlertInput{MaxValue: ptr[int64](402)}},
		"bad duration":          {High: &AlertInput{AlarmDelay: ptr("1Y")}},
		"empty duration":        {High: &AlertInput{RealarmDelay: ptr("")}},
		"long sound":            {High: &AlertInput{Sound: ptr(string(make([]byte, 65)))}},
		"enabled, no threshold": {Low: &AlertInput{IsEnabled: ptr(true), MinValue: ptr[int64](39), MaxValue: ptr[int64](401)}},
	} {
		if _, err := in.apply(def); glucose.ErrorCode(err) != share.CodeInvalidArgument {
			t.Errorf("%s: error %v, want InvalidArgument", name, err)
		}
	}
}

// TestExpire: a waiting invitation expires exactly at InviteExpires,
// modified at that moment; no other state expires.
func TestExpire(t *testing.T) {
	at := time.UnixMilli(1745081013817).UTC()
	s := glucose.Subscription{State: glucose.StateInviteWaiting, InviteExpires: at, ModifiedAt: at.Add(-time.Hour)}
	if s.Expire(at.Add(-time.Millisecond)) || s.State != glucose.StateInviteWaiting {
		t.Errorf("expired before InviteExpires: %+v", s)
	}
	if !s.Expire(at.Add(time.Hour)) || s.State != glucose.StateInviteExpired || !s.ModifiedAt.Equal(at) {
		t.Errorf("after InviteExpires: %+v", s)
	}
	active := glucose.Subscription{State: glucose.StateActive, InviteExpires: at}
	if active.Expire(at.Add(time.Hour)) {
		t.Errorf("an active subscription expired")
	}
}
