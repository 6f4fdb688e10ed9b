package nightscout

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// apiVersion is the Nightscout release whose API this package follows.
// Clients compare it before using features, so it is a Nightscout version
// number, not glucoshare's.
const apiVersion = "15.0.7"

// Thresholds are the glucose levels (mg/dL) that Nightscout clients draw
// and alarm by (settings.thresholds). glucoshare's are those of its
// dashboard: the 70–180 target range and the consensus levels of
// clinically significant highs and lows.
var Thresholds = thresholds{BGHigh: 250, BGTargetTop: 180, BGTargetBottom: 70, BGLow: 54}

type thresholds struct {
	BGHigh         int `json:"bgHigh"`
	BGTargetTop    int `json:"bgTargetTop"`
	BGTargetBottom int `json:"bgTargetBottom"`
	BGLow          int `json:"bgLow"`
}

// statusBody is lib/api/status.js's answer.
type statusBody struct {
	Status            string         `json:"status"`
	Name              string         `json:"name"`
	Version           string         `json:"version"`
	ServerTime        string         `json:"serverTime"`
	ServerTimeEpoch   int64          `json:"serverTimeEpoch"`
	APIEnabled        bool           `json:"apiEnabled"`
	CareportalEnabled bool           `json:"careportalEnabled"`
	BolusCalcEnabled  bool           `json:"boluscalcEnabled"`
	Settings          statusSettings `json:"settings"`
	ExtendedSettings  map[string]any `json:"extendedSettings"`
	Authorized        *authorized    `json:"authorized"`
	RuntimeState      string         `json:"runtimeState"`
}

// statusSettings are lib/settings.js's settings, as status.json shows
// them; the ones glucoshare has no use for keep Nightscout's defaults.
type statusSettings struct {
	Units                      string     `json:"units"`
	TimeFormat                 int        `json:"timeFormat"`
	DayStart                   float64    `json:"dayStart"`
	DayEnd                     float64    `json:"dayEnd"`
	NightMode                  bool       `json:"nightMode"`
	EditMode                   bool       `json:"editMode"`
	ShowRawbg                  string     `json:"showRawbg"`
	CustomTitle                string     `json:"customTitle"`
	Theme                      string     `json:"theme"`
	AlarmUrgentHigh            bool       `json:"alarmUrgentHigh"`
	AlarmUrgentHighMins        []int      `json:"alarmUrgentHighMins"`
	AlarmHigh                  bool       `json:"alarmHigh"`
	AlarmHighMins              []int      `json:"alarmHighMins"`
	AlarmLow                   bool       `json:"alarmLow"`
	AlarmLowMins               []int      `json:"alarmLowMins"`
	AlarmUrgentLow             bool       `json:"alarmUrgentLow"`
	AlarmUrgentLowMins         []int      `json:"alarmUrgentLowMins"`
	AlarmUrgentMins            []int      `json:"alarmUrgentMins"`
	AlarmWarnMins              []int      `json:"alarmWarnMins"`
	AlarmTimeagoWarn           bool       `json:"alarmTimeagoWarn"`
	AlarmTimeagoWarnMins       int        `json:"alarmTimeagoWarnMins"`
	AlarmTimeagoUrgent         bool       `json:"alarmTimeagoUrgent"`
	AlarmTimeagoUrgentMins     int        `json:"alarmTimeagoUrgentMins"`
	AlarmPumpBatteryLow        bool       `json:"alarmPumpBatteryLow"`
	Language                   string     `json:"language"`
	ScaleY                     string     `json:"scaleY"`
	ShowPlugins                string     `json:"showPlugins"`
	ShowForecast               string     `json:"showForecast"`
	FocusHours                 int        `json:"focusHours"`
	Heartbeat                  int        `json:"heartbeat"`
	BaseURL                    string     `json:"baseURL"`
	AuthDefaultRoles           string     `json:"authDefaultRoles"`
	Thresholds                 thresholds `json:"thresholds"`
	InsecureUseHTTP            bool       `json:"insecureUseHttp"`
	SecureHstsHeader           bool       `json:"secureHstsHeader"`
	SecureHstsHeaderSubdomains bool       `json:"secureHstsHeaderIncludeSubdomains"`
	SecureHstsHeaderPreload    bool       `json:"secureHstsHeaderPreload"`
	SecureCsp                  bool       `json:"secureCsp"`
	DeNormalizeDates           bool       `json:"deNormalizeDates"`
	ShowClockDelta             bool       `json:"showClockDelta"`
	ShowClockLastTime          bool       `json:"showClockLastTime"`
	FrameURL1                  string     `json:"frameUrl1"`
	FrameURL2                  string     `json:"frameUrl2"`
	FrameURL3                  string     `json:"frameUrl3"`
	FrameURL4                  string     `json:"frameUrl4"`
	FrameURL5                  string     `json:"frameUrl5"`
	FrameURL6                  string     `json:"frameUrl6"`
	FrameURL7                  string     `json:"frameUrl7"`
	FrameURL8                  string     `json:"frameUrl8"`
	FrameName1                 string     `json:"frameName1"`
	FrameName2                 string     `json:"frameName2"`
	FrameName3                 string     `json:"frameName3"`
	FrameName4                 string     `json:"frameName4"`
	FrameName5                 string     `json:"frameName5"`
	FrameName6                 string     `json:"frameName6"`
	FrameName7                 string     `json:"frameName7"`
	FrameName8                 string     `json:"frameName8"`
	AuthFailDelay              int        `json:"authFailDelay"`
	AdminNotifiesEnabled       bool       `json:"adminNotifiesEnabled"`
	AuthenticationPromptOnLoad bool       `json:"authenticationPromptOnLoad"`
	DefaultFeatures            []string   `json:"DEFAULT_FEATURES"`
	AlarmTypes                 []string   `json:"alarmTypes"`
	Enable                     []string   `json:"enable"`
}

// authorized is what status.json reports for an access token in ?token=
// (authorization.authorize): a JWT for it, its subject, and the
// permissions of its role and of the default role.
type authorized struct {
	Token            string     `json:"token"`
	Sub              string     `json:"sub"`
	PermissionGroups [][]string `json:"permissionGroups"`
	IAT              int64      `json:"iat"`
	Exp              int64      `json:"exp"`
}

// enabledPlugins mirrors a Nightscout site that follows a closed loop.
var enabledPlugins = []string{"careportal", "basal", "iob", "cob", "bwp", "cage", "sage", "iage", "bage", "loop", "openaps",
	"pump", "bgnow", "delta", "direction", "timeago", "devicestatus", "upbat", "errorcodes", "profile", "bolus", "ar2"}

// defaultRoles names the role of callers without a credential:
// "readable" at a site open for anonymous reading, else "denied".
func defaultRoles(c *call) (string, []string) {
	sc, _ := c.r.Context().Value(siteKey{}).(siteContext)
	if sc.anonymous != nil {
		return "readable", []string{"*:*:read"}
	}
	return "denied", []string{}
}

// GET /api/v1/status(.json)
// lib/api/status.js: the site's settings, here the account's (its units;
// thresholds), and "authorized" for an access token given as ?token=.
func (a *API) status(c *call) error {
	units := "mg/dl"
	acct, err := a.account(c)
	if err != nil {
		return err
	}
	if acct.Units.Or(glucose.DefaultUnits).Mmol() {
		units = "mmol"
	}
	auth, err := a.authorizedBlock(c)
	if err != nil {
		return err
	}
	roles, _ := defaultRoles(c)
	writeJSON(c.w, http.StatusOK, statusBody{
		Status: "ok", Name: "glucoshare", Version: apiVersion,
		ServerTime: c.now.UTC().Format(isoMillis), ServerTimeEpoch: c.now.UnixMilli(),
		APIEnabled: true, CareportalEnabled: true,
		Settings: statusSettings{
			Units: units, TimeFormat: 24, DayStart: 7, DayEnd: 21, EditMode: true, ShowRawbg: "never", CustomTitle: "Nightscout",
			Theme:           "default",
			AlarmUrgentHigh: true, AlarmUrgentHighMins: []int{30, 60, 90, 120}, AlarmHigh: true, AlarmHighMins: []int{30, 60, 90, 120},
			AlarmLow: true, AlarmLowMins: []int{15, 30, 45, 60}, AlarmUrgentLow: true, AlarmUrgentLowMins: []int{15, 30, 45},
			AlarmUrgentMins: []int{30, 60, 90, 120}, AlarmWarnMins: []int{30, 60, 90, 120},
			AlarmTimeagoWarn: true, AlarmTimeagoWarnMins: 15, AlarmTimeagoUrgent: true, AlarmTimeagoUrgentMins: 30,
			SecureHstsHeader: true,
			Language:         "en", ScaleY: "log", ShowPlugins: "delta direction upbat", ShowForecast: "ar2", FocusHours: 3,
			Heartbeat: 60, AuthDefaultRoles: roles, Thresholds: Thresholds, AuthFailDelay: int(authFailDelay.Milliseconds()),
			DefaultFeatures: []string{"bgnow", "delta", "direction", "timeago", "devicestatus", "upbat", "errorcodes", "profile", "bolus"},
			AlarmTypes:      []string{"simple"}, Enable: enabledPlugins,
		},
		ExtendedSettings: map[string]any{"devicestatus": map[string]any{"advanced": true, "days": 1}},
		Authorized:       auth, RuntimeState: "loaded",
	})
	return nil
}

// account returns the account a request works on: the one its
// authentication read, or, when that read none, from the database.
func (a *API) account(c *call) (*glucose.Account, error) {
	if c.acc.Account != nil {
		return c.acc.Account, nil // as this request's authentication read it
	}
	return a.svc.Account(c.ctx, c.acc.AccountID)
}

// authorizedBlock is status.json's "authorized": for ?token= (or
// ?secret=) holding an access token or a JWT of one, on this account.
func (a *API) authorizedBlock(c *call) (*authorized, error) {
	q := c.r.URL.Query()
	t := strings.TrimSpace(q.Get("token"))
	if t == "" {
		t = strings.TrimSpace(q.Get("secret"))
	}
	if t == "" {
		return nil, nil
	}
	acc, err := a.tokenAccess(c, t)
	if errors.Is(err, core.ErrNightscoutDenied) || err == nil && acc.AccountID != c.acc.AccountID {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	jwt, err := a.svc.IssueNightscoutJWT(acc, c.now)
	if err != nil {
		return nil, err
	}
	_, perms := acc.Role()
	_, defaults := defaultRoles(c)
	return &authorized{Token: jwt.Token, Sub: acc.Subject, PermissionGroups: [][]string{perms, defaults},
		IAT: jwt.IssuedAt, Exp: jwt.Expires}, nil
}

// verifyBody is the message of /api/v1/verifyauth.
type verifyBody struct {
	CanRead     bool   `json:"canRead"`
	CanWrite    bool   `json:"canWrite"`
	IsAdmin     bool   `json:"isAdmin"`
	Message     string `json:"message"`
	RoleFound   string `json:"rolefound"`
	Permissions string `json:"permissions"`
}

// GET /api/v1/verifyauth
// lib/api/verifyauth.js: always 200, {"status":200,"message":{"canRead",
// "canWrite","isAdmin","message":"OK"|"UNAUTHORIZED","rolefound",
// "permissions"}}. "OK" needs a credential that reads (the default role
// does not count); rolefound tells an access token (a subject) from the
// API secret; permissions is DEFAULT without a credential.
func (a *API) verifyAuth(c *call) error {
	v := verifyBody{Message: "UNAUTHORIZED", RoleFound: "NOTFOUND", Permissions: "ROLE"}
	switch {
	case c.acc != nil && c.presented:
		v.CanRead = c.acc.Permits("*:*:read")
		v.CanWrite = c.acc.Permits("*:*:write")
		v.IsAdmin = c.acc.Permits("*:*:admin")
		v.Message = "OK"
		if c.acc.TokenID != "" {
			v.RoleFound = "FOUND"
		}
	case !c.presented:
		v.Permissions = "DEFAULT"
		v.CanRead = c.acc.Permits("*:*:read")
	}
	writeJSON(c.w, http.StatusOK, struct {
		Status  int        `json:"status"`
		Message verifyBody `json:"message"`
	}{http.StatusOK, v})
	return nil
}

// GET /api/v1/experiments/test
// lib/api/experiments/index.js: {"status":"ok"} for admin (Loop's setup
// checks its API secret with it), 401 otherwise.
func (a *API) experimentsTest(c *call) error {
	writeJSON(c.w, http.StatusOK, struct {
		Status string `json:"status"`
	}{"ok"})
	return nil
}

// pebbleBG is one reading of the /pebble answer. sgv is a string, as
// Nightscout writes it (mmol/L values keep one decimal).
type pebbleBG struct {
	SGV       string   `json:"sgv"`
	Trend     int      `json:"trend"`
	Direction string   `json:"direction"`
	Datetime  int64    `json:"datetime"`
	BGDelta   *float64 `json:"bgdelta,omitempty"`
}

// pebbleDeltaGap is the longest gap over which /pebble reports a delta.
const pebbleDeltaGap = 15 * 60 * 1000

// GET /pebble
// cgm-remote-monitor lib/server/pebble.js: {"status":[{"now":ms}],
// "bgs":[{"sgv":"120","trend":4,"direction":"Flat","datetime":ms,
// "bgdelta":-2}],"cals":[]} — the newest `count` readings (default 1),
// in mmol/L with `units=mmol`; the first carries the change since the
// reading before it.
func (a *API) pebble(c *call) error {
	count := 1
	if n, err := strconv.Atoi(c.r.URL.Query().Get("count")); err == nil && n > 0 {
		count = min(n, maxCount)
	}
	mmol := strings.HasPrefix(strings.ToLower(c.r.URL.Query().Get("units")), "mmol")
	// One more than asked, for the delta.
	rs, err := a.svc.NightscoutReadings(c.ctx, c.acc, math.MinInt64, math.MaxInt64, count+1)
	if err != nil {
		return err
	}
	bgs := make([]pebbleBG, 0, count)
	for i, r := range rs[:min(count, len(rs))] {
		bg := pebbleBG{SGV: scaled(float64(r.Value), mmol), Trend: int(r.Trend),
			Direction: share.NightscoutDirection(r.Trend), Datetime: r.ST}
		if i == 0 && len(rs) > 1 && r.ST-rs[1].ST <= pebbleDeltaGap {
			d := float64(r.Value - rs[1].Value)
			if mmol {
				d = math.Round(d/glucose.MgdlPerMmol*10) / 10
			}
			bg.BGDelta = &d
		}
		bgs = append(bgs, bg)
	}
	writeJSON(c.w, http.StatusOK, struct {
		Status []struct {
			Now int64 `json:"now"`
		} `json:"status"`
		BGs  []pebbleBG `json:"bgs"`
		Cals []struct{} `json:"cals"`
	}{Status: []struct {
		Now int64 `json:"now"`
	}{{c.now.UnixMilli()}}, BGs: bgs, Cals: []struct{}{}})
	return nil
}

// scaled writes a mg/dL value as Nightscout's pebble does: whole mg/dL, or
// mmol/L with one decimal.
func scaled(mgdl float64, mmol bool) string {
	if !mmol {
		return strconv.Itoa(int(mgdl))
	}
	return strconv.FormatFloat(math.Round(mgdl/glucose.MgdlPerMmol*10)/10, 'f', 1, 64)
}
