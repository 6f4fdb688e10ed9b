package nightscout

import (
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/share"
)

// apiVersion is the Nightscout release whose v1 API this package follows.
// Clients compare it before using features, so it is a Nightscout version
// number, not glucoshare's.
const apiVersion = "14.2.6"

// statusBody is the part of Nightscout's status that clients read.
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
	ExtendedSettings  struct{}       `json:"extendedSettings"`
}

type statusSettings struct {
	Units            string   `json:"units"`
	AuthDefaultRoles string   `json:"authDefaultRoles"`
	Enable           []string `json:"enable"`
}

// GET /api/v1/status.json (and /api/v1/status)
// cgm-remote-monitor: {"status":"ok","name","version","serverTime",
// "serverTimeEpoch","apiEnabled",…,"settings":{…}}. It carries no account
// data, so it needs no credential: uploaders call it to test the address.
func (a *API) status(w http.ResponseWriter, r *http.Request) {
	now := a.clock.Now()
	writeJSON(w, http.StatusOK, statusBody{
		Status: "ok", Name: "glucoshare", Version: apiVersion,
		ServerTime: now.UTC().Format(isoMillis), ServerTimeEpoch: now.UnixMilli(),
		APIEnabled: true,
		Settings:   statusSettings{Units: "mg/dl", AuthDefaultRoles: "denied", Enable: []string{}},
	})
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
// cgm-remote-monitor: always 200, {"status":200,"message":{"canRead",
// "canWrite","isAdmin","message":"OK"|"UNAUTHORIZED","rolefound",
// "permissions"}}; uploaders use it to check the secret they were given.
func (a *API) verifyAuth(w http.ResponseWriter, r *http.Request) {
	v := verifyBody{Message: "UNAUTHORIZED", RoleFound: "NOTFOUND", Permissions: "DEFAULT"}
	acc, err := a.access(r, a.clock.Now())
	switch {
	case err == nil:
		v = verifyBody{CanRead: true, CanWrite: acc.Write, IsAdmin: acc.Write,
			Message: "OK", RoleFound: "FOUND", Permissions: "ROLE"}
	case !errors.Is(err, core.ErrNightscoutDenied):
		a.fail(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Status  int        `json:"status"`
		Message verifyBody `json:"message"`
	}{http.StatusOK, v})
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
				d = math.Round(d/mgdlPerMmol*10) / 10
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

// mgdlPerMmol is Nightscout's conversion factor.
const mgdlPerMmol = 18

// scaled writes a mg/dL value as Nightscout's pebble does: whole mg/dL, or
// mmol/L with one decimal.
func scaled(mgdl float64, mmol bool) string {
	if !mmol {
		return strconv.Itoa(int(mgdl))
	}
	return strconv.FormatFloat(math.Round(mgdl/mgdlPerMmol*10)/10, 'f', 1, 64)
}
