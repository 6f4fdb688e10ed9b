package share

import "time"

// The AlertType of each alert kind (docs/protocol.md, "Alert settings").
const (
	AlertTypeHigh     = 1
	AlertTypeLow      = 2
	AlertTypeFixedLow = 3 // urgent low
	AlertTypeNoData   = 4
)

// AlertSetting is one alert kind of a subscription (docs/protocol.md, "Shared objects", "Alert settings"). The
// durations are kept as the strings received, because the server echoes
// them byte for byte (docs/protocol.md, "Durations"); ParseDuration reads them.
type AlertSetting struct {
	AlertType    int    `json:"AlertType"`
	IsEnabled    bool   `json:"IsEnabled"`
	MinValue     int    `json:"MinValue"`
	MaxValue     int    `json:"MaxValue"`
	AlarmDelay   string `json:"AlarmDelay"`
	RealarmDelay string `json:"RealarmDelay"`
	Sound        string `json:"Sound"`
}

// AlertSettings holds one AlertSetting per alert kind; all four are always
// present on output.
type AlertSettings struct {
	HighAlert     AlertSetting `json:"HighAlert"`
	LowAlert      AlertSetting `json:"LowAlert"`
	FixedLowAlert AlertSetting `json:"FixedLowAlert"`
	NoDataAlert   AlertSetting `json:"NoDataAlert"`
}

// DefaultAlertSettings returns the docs/protocol.md, "Shared objects" defaults, used for any kind or
// member a request leaves out: the third-party uploaders' defaults, with
// urgent low enabled as LoopKit does. The server creates these durations
// itself, so they take the official uploader's form (docs/protocol.md, "Durations"): PT1H0M where
// the docs/protocol.md, "Shared objects" example shows PT1H.
func DefaultAlertSettings() AlertSettings {
	var (
		m0  = FormatDuration(0)
		m30 = FormatDuration(30 * time.Minute)
		h1  = FormatDuration(time.Hour)
		h2  = FormatDuration(2 * time.Hour)
	)
	return AlertSettings{
		HighAlert: AlertSetting{
			AlertType: AlertTypeHigh, MinValue: 200, MaxValue: 401,
			AlarmDelay: h1, RealarmDelay: h2, Sound: "High.wav",
		},
		LowAlert: AlertSetting{
			AlertType: AlertTypeLow, MinValue: 39, MaxValue: 70,
			AlarmDelay: m30, RealarmDelay: h2, Sound: "Low.wav",
		},
		FixedLowAlert: AlertSetting{
			AlertType: AlertTypeFixedLow, IsEnabled: true, MinValue: 39, MaxValue: 55,
			AlarmDelay: m0, RealarmDelay: m30, Sound: "UrgentLow.wav",
		},
		NoDataAlert: AlertSetting{
			AlertType: AlertTypeNoData, MinValue: 39, MaxValue: 401,
			AlarmDelay: h1, RealarmDelay: m0, Sound: "NoData.wav",
		},
	}
}
