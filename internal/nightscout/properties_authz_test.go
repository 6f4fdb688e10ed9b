package nightscout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// TestPropertiesAuthorization is the authorization matrix of API v2
// properties: every credential at the root and at two accounts' sites.
// An answer holds its credential's account's values and never another's;
// a follower limited to the current value sees the newest reading and
// nothing computed from treatments or device statuses; a paused follower
// and a refused credential get 401, as does a caller without one except
// at a site open for reading (the Garmin faces' form).
func TestPropertiesAuthorization(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sam, kim := e.account("sam", samSecret), e.account("kim", kimSecret)
	lee, max, nia := e.account("lee", ""), e.account("max", ""), e.account("nia", "")
	if _, err := e.svc.SetNightscoutSite(ctx, sam, "sam-props-site", true); err != nil {
		t.Fatal(err)
	}
	if _, err := e.svc.SetNightscoutSite(ctx, kim, "kim-props-site", false); err != nil {
		t.Fatal(err)
	}
	e.upload(sam, reading{1, 120, 4}, reading{6, 110, 3})
	e.upload(kim, reading{1, 250, 4}, reading{6, 240, 4})
	e.deviceStatus(sam, 77, 1.5)
	e.deviceStatus(kim, 33, 9.9)
	leeToken := e.follow(sam, lee, 1)
	maxToken := e.follow(sam, max, 0)
	niaSub := e.subscribe(sam, nia, 1)
	niaToken, _, err := e.svc.CreateNightscoutFollowerToken(ctx, nia, niaSub, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.svc.PauseSubscription(ctx, nia, niaSub, e.clock.Now()); err != nil {
		t.Fatal(err)
	}

	// What each account's answer shows: its newest reading, its uploader's
	// battery and its insulin on board.
	marks := map[string][]string{"sam": {`"last":120`, `"display":"77%"`, `"iob":1.5`}, "kim": {`"last":250`, `"display":"33%"`, `"iob":9.9`}}
	type credential struct {
		name    string
		owner   string // whose values it reads; "" none
		current bool   // the newest reading only
		apply   func(string) (string, []string)
	}
	creds := []credential{
		{"sam's secret", "sam", false, header("api-secret", core.NightscoutSecretHash(samSecret))},
		{"sam's read-only token", "sam", false, query("token", e.token(sam, true))},
		{"sam's read-only token as api-secret SHA-1", "sam", false, header("api-secret", core.NightscoutSecretHash(e.token(sam, true)))},
		{"lee's follower token", "sam", false, query("token", leeToken)},
		{"max's current-value token", "sam", true, query("token", maxToken)},
		{"nia's token on a paused subscription", "", false, query("token", niaToken)},
		{"kim's secret", "kim", false, header("api-secret", core.NightscoutSecretHash(kimSecret))},
		{"no credential", "", false, func(p string) (string, []string) { return p, nil }},
		{"a wrong token", "", false, query("token", "gs-00000000000000000000000000000000")},
	}
	sites := []struct{ prefix, account string }{{"", ""}, {"/ns/sam-props-site", "sam"}, {"/ns/kim-props-site", "kim"}}
	paths := []string{"/api/v2/properties", "/api/v2/properties/bgnow,delta,iob,upbat", "/api/v2/properties/bgnow"}
	cells := 0
	for _, site := range sites {
		for _, c := range creds {
			for _, p := range paths {
				cells++
				name := fmt.Sprintf("%s%s with %s", site.prefix, p, c.name)
				target, headers := c.apply(site.prefix + p)
				r := e.do("GET", target, "", headers...)
				owner := c.owner
				if c.name == "no credential" && site.account == "sam" {
					owner = "sam" // sam's site is open for reading
				}
				if owner == "" || site.account != "" && site.account != owner {
					wantUnauthorized(t, name, r)
					continue
				}
				if r.status != 200 {
					t.Errorf("%s: %d %s, want 200", name, r.status, r.body)
					continue
				}
				for acct, ms := range marks {
					for _, m := range ms {
						shown := strings.Contains(r.body, m)
						want := acct == owner && (!c.current || strings.HasPrefix(m, `"last"`))
						if !strings.Contains(p, "iob") && p != "/api/v2/properties" && !strings.HasPrefix(m, `"last"`) {
							want = false // not asked for
						}
						if shown != want {
							t.Errorf("%s: %s of %s shown %v, want %v: %s", name, m, acct, shown, want, r.body)
						}
					}
				}
				var got struct {
					Delta   *json.RawMessage `json:"delta"`
					Buckets []struct {
						SGVs []json.RawMessage `json:"sgvs"`
					} `json:"buckets"`
				}
				if err := json.Unmarshal([]byte(r.body), &got); err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if asked := strings.Contains(p, "delta") || p == "/api/v2/properties"; asked && (got.Delta != nil) == c.current {
					t.Errorf("%s: delta %v, want it only with more than the current value", name, got.Delta != nil)
				}
				for i, b := range got.Buckets {
					if c.current && (i > 0 && len(b.SGVs) > 0 || len(b.SGVs) > 1) {
						t.Errorf("%s: bucket %d holds %d readings for a current-value follower", name, i, len(b.SGVs))
					}
				}
			}
		}
	}
	t.Logf("%d cells", cells)
}

// TestPropertiesInMmol checks the account's units: readings and delta in
// mmol/L as Nightscout writes them (scaled a string with one decimal, the
// delta's display signed), mg/dL kept beside them.
func TestPropertiesInMmol(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam := e.account("sam", samSecret)
	if err := e.svc.SetUnits(context.Background(), sam, glucose.UnitsMmol); err != nil {
		t.Fatal(err)
	}
	e.upload(sam, reading{1, 120, 4}, reading{6, 110, 3})
	// Sam's own secret, and a follower in mg/dL reading with the token of
	// its subscription: both see sam's units.
	kim := e.account("kim", "")
	kimToken := e.follow(sam, kim, 1)
	for name, r := range map[string]response{
		"sam's secret":   e.do("GET", "/api/v2/properties/bgnow,delta", "", "api-secret", core.NightscoutSecretHash(samSecret)),
		"kim's follower": e.do("GET", "/api/v2/properties/bgnow,delta?token="+kimToken, ""),
	} {
		t.Run(name, func(t *testing.T) { checkMmolProperties(t, r) })
	}
}

func checkMmolProperties(t *testing.T, r response) {
	var got struct {
		BGNow struct {
			Last int `json:"last"`
			SGVs []struct {
				Scaled any `json:"scaled"`
				Mgdl   int `json:"mgdl"`
			} `json:"sgvs"`
		} `json:"bgnow"`
		Delta struct {
			Mgdl    int     `json:"mgdl"`
			Scaled  float64 `json:"scaled"`
			Display string  `json:"display"`
		} `json:"delta"`
	}
	if err := json.Unmarshal([]byte(r.body), &got); err != nil || r.status != 200 {
		t.Fatalf("%d %s: %v", r.status, r.body, err)
	}
	if got.BGNow.Last != 120 || len(got.BGNow.SGVs) != 1 || got.BGNow.SGVs[0].Scaled != "6.7" || got.BGNow.SGVs[0].Mgdl != 120 {
		t.Errorf("bgnow %+v, want last 120 shown as \"6.7\"", got.BGNow)
	}
	if got.Delta.Mgdl != 10 || got.Delta.Scaled != 0.6 || got.Delta.Display != "+0.6" {
		t.Errorf("delta %+v, want 10 mg/dL shown as +0.6", got.Delta)
	}
}

// deviceStatus stores a Loop device status a minute old for the account:
// its uploader's battery and its insulin on board.
func (e *env) deviceStatus(accountID string, battery int, iob float64) {
	e.t.Helper()
	at := glucose.FromMS(t0.UnixMilli() - 60_000).UTC().Format(time.RFC3339Nano)
	body := fmt.Sprintf(`{"device":"loop://phone","created_at":%q,"uploaderBattery":%d,"loop":{"timestamp":%q,"iob":{"iob":%v,"timestamp":%q}}}`,
		at, battery, at, iob, at)
	acc := &core.NightscoutAccess{AccountID: accountID, Admin: true}
	if _, err := e.svc.WriteDocuments(context.Background(), acc, glucose.CollectionDeviceStatus,
		[]core.DocumentWrite{{Body: []byte(body)}}, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
}
