package share

// The AlertType of each alert kind (PROTOCOL.md §5.1).
const (
	AlertTypeHigh     = 1
	AlertTypeLow      = 2
	AlertTypeFixedLow = 3 // urgent low
	AlertTypeNoData   = 4
)

// AlertSetting is one alert kind of a subscription (§3.1, §5.1). The
// durations are kept as the strings received, because the server echoes
// them byte for byte (§1.10); ParseDuration reads them.
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

// DefaultAlertSettings returns the §3.1 defaults, used for any kind or
// member a request leaves out: the third-party uploaders' defaults, with
// urgent low enabled as LoopKit does.
func DefaultAlertSettings() AlertSettings {
	return AlertSettings{
		HighAlert: AlertSetting{
			AlertType: AlertTypeHigh, MinValue: 200, MaxValue: 401,
			AlarmDelay: "PT1H", RealarmDelay: "PT2H", Sound: "High.wav",
		},
		LowAlert: AlertSetting{
			AlertType: AlertTypeLow, MinValue: 39, MaxValue: 70,
			AlarmDelay: "PT30M", RealarmDelay: "PT2H", Sound: "Low.wav",
		},
		FixedLowAlert: AlertSetting{
			AlertType: AlertTypeFixedLow, IsEnabled: true, MinValue: 39, MaxValue: 55,
			AlarmDelay: "PT0M", RealarmDelay: "PT30M", Sound: "UrgentLow.wav",
		},
		NoDataAlert: AlertSetting{
			AlertType: AlertTypeNoData, MinValue: 39, MaxValue: 401,
			AlarmDelay: "PT1H", RealarmDelay: "PT0M", Sound: "NoData.wav",
		},
	}
}
