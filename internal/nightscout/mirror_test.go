package nightscout_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/share"
)

// mirrorPoll links the account to a Share server and records one poll of
// it that read rs, as internal/mirror's poller does.
func (e *env) mirrorPoll(accountID string, rs ...reading) {
	e.t.Helper()
	ctx := context.Background()
	if _, err := e.svc.MirrorLink(ctx, accountID); err != nil {
		_, err := e.svc.LinkMirror(ctx, accountID, core.MirrorLinkRequest{Server: "us", Username: "sam@example.org",
			Password: "dexcom password"}, e.clock.Now())
		if err != nil {
			e.t.Fatal(err)
		}
	}
	ls, err := e.svc.ClaimMirrorLinks(ctx, "poller", e.clock.Now(), e.clock.Now().Add(time.Minute), 10)
	if err != nil || len(ls) != 1 {
		e.t.Fatalf("claim: %+v, %v", ls, err)
	}
	egvs := make([]core.EGV, len(rs))
	for i, r := range rs {
		egvs[i] = core.EGV{ST: t0.Add(-time.Duration(r.ago) * time.Minute).UnixMilli(), Value: r.value, Trend: r.trend}
	}
	p := glucose.MirrorPoll{Holder: "poller", Gen: ls[0].Gen, NextPoll: e.clock.Now(), Success: true, At: e.clock.Now()}
	if _, err := e.svc.RecordMirrorPoll(ctx, accountID, p, egvs, e.clock.Now()); err != nil {
		e.t.Fatal(err)
	}
}

// A follower's app tells a mirrored reading from an uploaded one by its
// device (docs/mirror.md): share-mirror in API v1 and v3, glucoshare for
// an upload. A reading uploaded before the mirror read it stays an upload,
// stored once with the uploaded value; another account's reading at the
// same time is not marked.
func TestMirroredReadingsShowTheirDevice(t *testing.T) {
	t.Parallel()
	key, err := secretkey.Load(secretkey.Generate())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnvConfig(t, core.Config{SecretKey: key})
	sam, kim := e.account("sam", samSecret), e.account("kim", kimSecret)
	e.upload(sam, reading{10, 150, share.TrendFlat})
	e.upload(kim, reading{5, 90, share.TrendFlat})
	e.clock.Advance(time.Minute)
	e.mirrorPoll(sam, reading{10, 151, share.TrendFlat}, reading{5, 160, share.TrendFortyFiveUp}, reading{0, 170, share.TrendFortyFiveUp})

	samAuth := []string{"api-secret", core.NightscoutSecretHash(samSecret)}
	type want struct {
		sgv    int
		device string
	}
	wants := []want{{170, "share-mirror"}, {160, "share-mirror"}, {150, "glucoshare"}}
	got := e.entries(e.do("GET", "/api/v1/entries.json?count=10", "", samAuth...))
	if len(got) != len(wants) {
		t.Fatalf("v1 entries: %+v, want 3 (the reading of both sources stored once)", got)
	}
	for i, w := range wants {
		if got[i].SGV != w.sgv || got[i].Device != w.device {
			t.Errorf("v1 entry %d: sgv %d device %q, want %d %q", i, got[i].SGV, got[i].Device, w.sgv, w.device)
		}
	}
	if got := e.entries(e.do("GET", "/api/v1/entries.json?count=1", "", samAuth...)); len(got) != 1 || got[0].Device != "share-mirror" {
		t.Errorf("v1 count=1: %+v, want the newest, share-mirror", got)
	}
	if got := e.entries(e.do("GET", "/api/v1/entries/current.json", "", samAuth...)); len(got) != 1 || got[0].Device != "share-mirror" {
		t.Errorf("v1 current: %+v, want share-mirror", got)
	}
	if got := e.entries(e.do("GET", "/api/v1/entries.json", "", "api-secret", core.NightscoutSecretHash(kimSecret))); len(got) != 1 || got[0].Device != "glucoshare" {
		t.Errorf("kim's reading at the time of a mirrored one of sam's: %+v, want glucoshare", got)
	}

	auth := []string{"Authorization", "Bearer " + e.jwt(e.token(sam, true))}
	v3 := func(target string) []map[string]any {
		t.Helper()
		var body struct{ Result []map[string]any }
		r := e.do("GET", target, "", auth...)
		if r.status != 200 || json.Unmarshal([]byte(r.body), &body) != nil {
			t.Fatalf("%s: %d %s", target, r.status, r.body)
		}
		return body.Result
	}
	v3Devices := func(target string, want ...string) {
		t.Helper()
		got := v3(target)
		var devices []string
		for _, o := range got {
			devices = append(devices, fmt.Sprint(o["device"]))
		}
		if fmt.Sprint(devices) != fmt.Sprint(want) {
			t.Errorf("%s: devices %v, want %v", target, devices, want)
		}
	}
	v3Devices("/api/v3/entries?sort$desc=date", "share-mirror", "share-mirror", "glucoshare")
	v3Devices(fmt.Sprintf("/api/v3/entries/history/%d", t0.Add(-time.Hour).UnixMilli()), "glucoshare", "share-mirror", "share-mirror")
	newest := v3("/api/v3/entries?limit=1&sort$desc=date")
	if len(newest) != 1 {
		t.Fatalf("v3 newest: %+v", newest)
	}
	one := v3Entry1(t, e.do("GET", "/api/v3/entries/"+fmt.Sprint(newest[0]["identifier"]), "", auth...))
	if one["device"] != "share-mirror" {
		t.Errorf("v3 read of a mirrored reading: %+v, want device share-mirror", one)
	}
}

// v3Entry1 decodes API v3's answer to the read of one document.
func v3Entry1(t *testing.T, r response) map[string]any {
	t.Helper()
	var body struct{ Result map[string]any }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &body) != nil {
		t.Fatalf("%d %s", r.status, r.body)
	}
	return body.Result
}
