package web_test

import (
	"context"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/web"
	"github.com/glucoshare/glucoshare/share"
)

// setUnits sets an account's units as the profile page or the operator
// would.
func (e *env) setUnits(accountID string, u glucose.Units) {
	e.t.Helper()
	if err := e.svc.SetUnits(context.Background(), accountID, u); err != nil {
		e.t.Fatal(err)
	}
}

// pair is Sam sharing with Kim through the pages, each signed in in a
// browser of its own.
type pair struct {
	sam, kim string // account ids
	sb, kb   *browser
}

// share has Sam invite Kim (with the history or not) and Kim accept; Kim
// reads in kimUnits.
func (e *env) share(history bool, kimUnits glucose.Units) pair {
	e.t.Helper()
	p := pair{sam: e.account("sam", "Sam"), kim: e.account("kim", "Kim"), sb: e.browser(), kb: e.browser()}
	e.setUnits(p.kim, kimUnits)
	p.sb.signIn("sam")
	p.kb.signIn("kim")
	link := p.sb.invite("Kim", history)
	p.kb.submit(link, link+"/accept")
	return p
}

// chartAxis is what a test reads off a drawn chart: the value axis's
// labels with their heights, and the top and bottom of the shaded target
// band, all in the SVG's coordinates (y up, as gonum draws them).
type chartAxis struct {
	labels         map[string]float64 // label → y of its baseline
	bandLo, bandHi float64
}

var (
	svgText = regexp.MustCompile(`<text x="([-0-9.e]+)" y="([-0-9.e]+)"[^>]*>([^<]*)</text>`)
	svgBand = regexp.MustCompile(`<path d="M[-0-9.e]+,([-0-9.e]+)L[-0-9.e]+,[-0-9.e]+L[-0-9.e]+,([-0-9.e]+)L[-0-9.e]+,[-0-9.e]+Z" style="fill:#(?:E3F4E6|e3f4e6)"`)
)

// readChart reads the first chart of an HTML page or an SVG image.
func readChart(t *testing.T, doc string) chartAxis {
	t.Helper()
	start := strings.Index(doc, "<svg")
	end := strings.Index(doc, "</svg>")
	if start < 0 || end < start {
		t.Fatalf("no SVG in:\n%.300s", doc)
	}
	svg := doc[start:end]
	ax := chartAxis{labels: map[string]float64{}}
	for _, m := range svgText.FindAllStringSubmatch(svg, -1) {
		if strings.Contains(m[3], ":") {
			continue // a time on the time axis
		}
		y, _ := strconv.ParseFloat(m[2], 64)
		ax.labels[html.UnescapeString(m[3])] = -y // the text is drawn flipped back
	}
	b := svgBand.FindStringSubmatch(svg)
	if b == nil {
		t.Fatalf("no target band in the chart:\n%s", svg)
	}
	ax.bandLo, _ = strconv.ParseFloat(b[1], 64)
	ax.bandHi, _ = strconv.ParseFloat(b[2], 64)
	return ax
}

// labelAt checks that the value axis has label at the height y: a label's
// baseline sits within its font size below its tick.
func (ax chartAxis) labelAt(t *testing.T, label string, y float64) {
	t.Helper()
	got, ok := ax.labels[label]
	if !ok {
		t.Errorf("no axis label %q; labels %v", label, ax.labels)
		return
	}
	if got > y || y-got > 18 {
		t.Errorf("label %q at y=%.1f, its tick at %.1f", label, got, y)
	}
}

// TestDashboardInBothUnits: the sharer's panel — value, unit, delta, time
// in range, chart axis and band, read-out data — in mg/dL and in mmol/L,
// and the panel the live update fetches is the page's own, byte for byte.
func TestDashboardInBothUnits(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.upload(sam, 150, 160, 170, 185, 190, 65, 97, 101)
	b := e.browser()
	b.signIn("sam")
	card := regexp.MustCompile(`(?s)<section class="card" id="card-me".*?</section>`)

	for _, c := range []struct {
		units                     glucose.Units
		value, delta, tir, lo, hi string
		points                    string
		absent                    []string
	}{
		{glucose.UnitsMgdl, "101", "+4", "range 70–180 mg/dL", "70", "180", `"101 mg/dL"`, []string{"mmol/L", ">3.9<", ">10.0<"}},
		{glucose.UnitsMmol, "5.6", "+0.2", "range 3.9–10.0 mmol/L", "3.9", "10.0", `"5.6 mmol/L"`, []string{"mg/dL", ">70<", ">180<"}},
	} {
		e.setUnits(sam, c.units)
		p := b.get("/")
		text := html.UnescapeString(p.body) // html/template writes + as &#43;
		for _, want := range []string{`<span class="value">` + c.value + `</span>`, `<span class="unit">` + c.units.String() + `</span>`,
			`<span class="delta" title="Change over the last 5 minutes">` + c.delta + `</span>`, c.tir, c.points} {
			if !strings.Contains(text, want) {
				t.Errorf("%s: dashboard lacks %q", c.units, want)
			}
		}
		for _, not := range c.absent {
			if strings.Contains(text, not) {
				t.Errorf("%s: dashboard shows %q", c.units, not)
			}
		}
		ax := readChart(t, p.body)
		ax.labelAt(t, c.lo, ax.bandLo)
		ax.labelAt(t, c.hi, ax.bandHi)

		// The live update's panel is the server-rendered one.
		own := card.FindString(p.body)
		if frag := b.get("/app/panel/me?h=3"); own == "" || frag.body != own {
			t.Errorf("%s: the live panel differs from the page's:\n%s\n---\n%s", c.units, frag.body, own)
		}
	}
}

// TestChartAxisInMmol: a chart that reaches high values labels 13.9 and
// round mmol/L values (2, 20) where 250 mg/dL and 2 and 20 × 18 mg/dL lie.
func TestChartAxisInMmol(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.setUnits(sam, glucose.UnitsMmol)
	e.upload(sam, 300, 350, 380)
	b := e.browser()
	b.signIn("sam")
	ax := readChart(t, b.get("/").body)
	for _, want := range []string{"2.0", "3.9", "10.0", "13.9", "20.0"} {
		if _, ok := ax.labels[want]; !ok {
			t.Errorf("no axis label %s: %v", want, ax.labels)
		}
	}
	// Linear in mg/dL: 20 mmol/L (360 mg/dL) lies (360-180)/(180-70)
	// band heights above the band's top.
	span := ax.bandHi - ax.bandLo
	ax.labelAt(t, "20.0", ax.bandHi+span*(360-180)/(180-70))
	ax.labelAt(t, "13.9", ax.bandHi+span*(250-180)/(180-70))
}

// TestAlarmBannerInFollowersUnits: the banner shows the alarm's value in
// the follower's units, whatever the sharer reads.
func TestAlarmBannerInFollowersUnits(t *testing.T) {
	e := newEnv(t, web.Options{})
	s := e.share(true, glucose.UnitsMmol)
	kb := s.kb
	e.upload(s.sam, 50)
	p := kb.get("/")
	if !strings.Contains(p.body, "<strong>Urgent low</strong> · Sam: 2.8 mmol/L") {
		t.Errorf("alarm banner in mmol/L:\n%s", p.body)
	}
	if frag := kb.get("/app/alarms?next=/"); !strings.Contains(frag.body, "Sam: 2.8 mmol/L") {
		t.Errorf("live alarm banner: %s", frag.body)
	}
	// Kim's own card of Sam: mmol/L too, though Sam reads mg/dL.
	if !strings.Contains(p.body, `<span class="value">2.8</span>`) {
		t.Errorf("follower's card not in mmol/L")
	}
}

// alertFields are the alert form's fields with thresholds in mmol/L.
func alertFieldsMmol(low, high, urgent string) []string {
	return []string{"high_on", "1", "high_at", high, "high_delay", "60", "high_repeat", "120", "low_on", "1", "low_at", low,
		"low_delay", "30", "low_repeat", "120", "urgent_at", urgent, "urgent_repeat", "30", "nodata_delay", "60", "nodata_repeat", "0"}
}

// TestAlertSettingsInMmol: thresholds are shown and entered in the
// follower's units and stored in whole mg/dL as the protocol keeps them;
// 3.9 mmol/L stores 70 mg/dL and shows as 3.9 again; a value typed back as
// shown keeps the stored one; bounds are stated in mmol/L.
func TestAlertSettingsInMmol(t *testing.T) {
	e := newEnv(t, web.Options{})
	s := e.share(true, glucose.UnitsMmol)
	kim, kb := s.kim, s.kb
	subID := regexp.MustCompile(`id="s-([0-9a-f-]{36})"`).FindStringSubmatch(kb.get("/following").body)[1]
	stored := func() share.AlertSettings {
		t.Helper()
		a, err := e.svc.SubscriberAlertSettings(context.Background(), kim, subID, e.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		return a
	}

	// The invitation's 70/200/55 mg/dL, shown in mmol/L with mmol/L bounds.
	f := kb.get("/following").body
	for _, want := range []string{`name="low_at" value="3.9" min="2.2" max="22.2" step="0.1"`, `name="high_at" value="11.1"`,
		`name="urgent_at" value="3.1" min="2.2" max="3.1" step="0.1"`, `aria-label="Low threshold, mmol/L"> mmol/L`} {
		if !strings.Contains(f, want) {
			t.Errorf("following page lacks %q", want)
		}
	}

	kb.submit("/following", "/following/"+subID+"/alerts", alertFieldsMmol("3.9", "13.9", "3.1")...)
	a := stored()
	if a.LowAlert.MaxValue != 70 || a.HighAlert.MinValue != 250 || a.FixedLowAlert.MaxValue != 55 || !a.LowAlert.IsEnabled {
		t.Errorf("stored low %d, high %d, urgent %d; want 70, 250, 55", a.LowAlert.MaxValue, a.HighAlert.MinValue, a.FixedLowAlert.MaxValue)
	}
	if f := kb.get("/following").body; !strings.Contains(f, `name="low_at" value="3.9"`) || !strings.Contains(f, `name="high_at" value="13.9"`) {
		t.Errorf("after saving, the form does not show 3.9 and 13.9 again")
	}
	kb.submit("/following", "/following/"+subID+"/alerts", alertFieldsMmol("4,2", "10", "2.5")...)
	if a := stored(); a.LowAlert.MaxValue != 76 || a.HighAlert.MinValue != 180 || a.FixedLowAlert.MaxValue != 45 {
		t.Errorf("4,2 / 10 / 2.5 mmol/L stored as %d / %d / %d mg/dL; want 76 / 180 / 45", a.LowAlert.MaxValue, a.HighAlert.MinValue, a.FixedLowAlert.MaxValue)
	}

	// A threshold set in mg/dL elsewhere (a Share app) survives a save of
	// the form that shows it rounded: 181 mg/dL shows as 10.1 mmol/L,
	// which would store 182.
	on, v181, v401 := true, int64(181), int64(401)
	high := core.AlertsInput{High: &core.AlertInput{IsEnabled: &on, MinValue: &v181, MaxValue: &v401}}
	if err := e.svc.UpdateAlertSettings(context.Background(), kim, subID, high, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if f := kb.get("/following").body; !strings.Contains(f, `name="high_at" value="10.1"`) {
		t.Fatalf("181 mg/dL not shown as 10.1")
	}
	kb.submit("/following", "/following/"+subID+"/alerts", alertFieldsMmol("3.9", "10.1", "3.1")...)
	if a := stored(); a.HighAlert.MinValue != 181 {
		t.Errorf("saving the form unchanged moved 181 mg/dL to %d", a.HighAlert.MinValue)
	}

	// Out of range, in the viewer's units; what was typed stays.
	p := kb.post("/following/"+subID+"/alerts", append([]string{"csrf", kb.csrf("/following")}, alertFieldsMmol("3.9", "10", "3.2")...)...)
	if p.status != http.StatusUnprocessableEntity || !strings.Contains(p.body, "The urgent low threshold must be a number from 2.2 to 3.1 mmol/L") ||
		!strings.Contains(p.body, `name="urgent_at" value="3.2"`) {
		t.Errorf("urgent low 3.2 mmol/L: %d\n%s", p.status, p.body)
	}
	if a := stored(); a.FixedLowAlert.MaxValue != 55 {
		t.Errorf("a refused form changed urgent low to %d", a.FixedLowAlert.MaxValue)
	}
}

// TestInvitationInBothUnits: the sharer invites in mmol/L; the stored
// thresholds are mg/dL; the invitation page tells each reader in its own
// units.
func TestInvitationInBothUnits(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.account("kim", "Kim")
	lee := e.account("lee", "Lee")
	e.setUnits(sam, glucose.UnitsMmol)
	e.setUnits(lee, glucose.UnitsMmol)
	sb, kb, lb := e.browser(), e.browser(), e.browser()
	sb.signIn("sam")
	kb.signIn("kim")
	lb.signIn("lee")
	if f := sb.get("/followers").body; !strings.Contains(f, `name="urgent_at" value="3.1"`) || !strings.Contains(f, `name="high_at" value="11.1"`) {
		t.Errorf("invitation form not in mmol/L")
	}
	link := sb.invite("Kim", true, alertFieldsMmol("4.4", "13.9", "3.0")...)
	sub, err := e.svc.ReadInvitation(context.Background(), lee, strings.TrimPrefix(link, "/invite/"), e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if s := sub.InviteSettings; s.LowAlert.MaxValue != 79 || s.HighAlert.MinValue != 250 || s.FixedLowAlert.MaxValue != 54 {
		t.Errorf("stored %d / %d / %d mg/dL, want 79 / 250 / 54", s.LowAlert.MaxValue, s.HighAlert.MinValue, s.FixedLowAlert.MaxValue)
	}
	if p := kb.get(link).body; !strings.Contains(p, "Proposed alerts: urgent low below 54 mg/dL, low below 79 mg/dL, high above 250 mg/dL.") {
		t.Errorf("invitation page in mg/dL:\n%s", p)
	}
	if p := lb.get(link).body; !strings.Contains(p, "Proposed alerts: urgent low below 3.0 mmol/L, low below 4.4 mmol/L, high above 13.9 mmol/L.") {
		t.Errorf("invitation page in mmol/L:\n%s", p)
	}
}

// TestProfileUnits: the profile page chooses the units; everything the
// account reads follows.
func TestProfileUnits(t *testing.T) {
	e := newEnv(t, web.Options{})
	sam := e.account("sam", "Sam")
	e.upload(sam, 90, 97)
	b := e.browser()
	b.signIn("sam")
	if p := b.get("/profile").body; !strings.Contains(p, `name="units" value="mg/dL" checked`) {
		t.Errorf("an account without units is not shown mg/dL")
	}
	if to := b.submit("/profile", "/profile/units", "units", "mmol/L"); to != "/profile?ok=saved#units" {
		t.Errorf("units → %q", to)
	}
	if a, _ := e.svc.FindAccount(context.Background(), "sam"); a.Units != glucose.UnitsMmol {
		t.Errorf("stored units %q", a.Units)
	}
	if p := b.get("/profile").body; !strings.Contains(p, `name="units" value="mmol/L" checked`) {
		t.Errorf("profile does not show mmol/L chosen")
	}
	if p := b.get("/").body; !strings.Contains(p, `<span class="value">5.4</span>`) {
		t.Errorf("dashboard after choosing mmol/L")
	}
	if p := b.post("/profile/units", "csrf", b.csrf("/profile"), "units", "furlongs"); p.status != http.StatusUnprocessableEntity ||
		!strings.Contains(p.body, "choose mg/dL or mmol/L") {
		t.Errorf("bad units: %d", p.status)
	}
	if a, _ := e.svc.FindAccount(context.Background(), "sam"); a.Units != glucose.UnitsMmol {
		t.Errorf("a refused choice changed the units to %q", a.Units)
	}
}

// TestSignupUnitsFromLocale: the sign-up form offers the units of the
// browser's language (Accept-Language, no script needed); the visitor's
// choice wins; a form without the choice takes the language's.
func TestSignupUnitsFromLocale(t *testing.T) {
	e := newEnv(t, web.Options{Signup: true})
	for lang, want := range map[string]string{"en-GB,en;q=0.8": "mmol/L", "en-US,en;q=0.9": "mg/dL", "de-DE": "mg/dL",
		"sv": "mmol/L", "en": "mg/dL", "": "mg/dL", "es-419": "mg/dL"} {
		p := e.browser().get("/signup", "Accept-Language", lang)
		if !strings.Contains(p.body, `name="units" value="`+want+`" checked`) {
			t.Errorf("Accept-Language %q: %s not preselected", lang, want)
		}
	}
	signup := func(name, lang string, fields ...string) glucose.Units {
		t.Helper()
		b := e.browser()
		form := url.Values{"csrf": {b.csrf("/signup")}, "name": {name}, "password": {password}, "password2": {password}}
		for i := 0; i+1 < len(fields); i += 2 {
			form.Set(fields[i], fields[i+1])
		}
		req, _ := http.NewRequest("POST", e.srv.URL+"/signup", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("Accept-Language", lang)
		if p := b.do(req); p.status != http.StatusSeeOther {
			t.Fatalf("sign up %s: %d\n%s", name, p.status, p.body)
		}
		a, err := e.svc.FindAccount(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return a.Units
	}
	if u := signup("ann", "en-AU"); u != glucose.UnitsMmol {
		t.Errorf("en-AU without a choice: %q", u)
	}
	if u := signup("bob", "en-GB", "units", "mg/dL"); u != glucose.UnitsMgdl {
		t.Errorf("en-GB choosing mg/dL: %q", u)
	}
	if u := signup("cat", "", "units", "mmol/L"); u != glucose.UnitsMmol {
		t.Errorf("choosing mmol/L: %q", u)
	}
	if u := signup("dan", ""); u != glucose.UnitsUnset {
		t.Errorf("no language, no choice: %q, want unset", u)
	}
}

// TestImageUnits: an image in mmol/L for a session in mmol/L, ?units=
// overriding, an image link in its creator's units; the ETag varies with
// the units.
func TestImageUnits(t *testing.T) {
	e := newEnv(t, web.Options{})
	s := e.share(true, glucose.UnitsMmol)
	sam, sb, kb := s.sam, s.sb, s.kb
	e.upload(sam, 100, 150, 190, 210, 60, 95)

	img := "/image/" + sam + ".svg?hours=3&w=600&h=300"
	mg := sb.get(img)
	mgAx := readChart(t, mg.body)
	mgAx.labelAt(t, "70", mgAx.bandLo)
	mgAx.labelAt(t, "180", mgAx.bandHi)
	if !strings.Contains(mg.body, ">95</text>") {
		t.Error("the mg/dL image does not show 95")
	}
	mm := kb.get(img)
	mmAx := readChart(t, mm.body)
	mmAx.labelAt(t, "3.9", mmAx.bandLo)
	mmAx.labelAt(t, "10.0", mmAx.bandHi)
	if !strings.Contains(mm.body, ">5.3</text>") || strings.Contains(mm.body, ">180</text>") {
		t.Error("the follower's image is not in mmol/L")
	}
	if mm.header.Get("ETag") == mg.header.Get("ETag") {
		t.Error("the ETag does not vary with the units")
	}
	// ?units= overrides the account's; the same picture has the same ETag.
	over := sb.get(img + "&units=mmol")
	if !strings.Contains(over.body, ">5.3</text>") || over.header.Get("ETag") != mm.header.Get("ETag") {
		t.Errorf("units=mmol: ETag %s, want %s", over.header.Get("ETag"), mm.header.Get("ETag"))
	}
	if nm := sb.get(img+"&units=mmol", "If-None-Match", mg.header.Get("ETag")); nm.status != http.StatusOK {
		t.Errorf("the mg/dL ETag revalidates the mmol/L picture: %d", nm.status)
	}
	if p := sb.get(img + "&units=furlongs"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "units must be") {
		t.Errorf("units=furlongs: %d %q", p.status, p.body)
	}

	// Kim's image link of Sam: in Kim's units, without a session.
	subID := regexp.MustCompile(`id="s-([0-9a-f-]{36})"`).FindStringSubmatch(kb.get("/following").body)[1]
	tp := kb.post("/tokens", "csrf", kb.csrf("/following"), "back", "following", "subscription", subID)
	tok := regexp.MustCompile(`token=([A-Za-z0-9_-]{22})"`).FindStringSubmatch(tp.body)
	if tok == nil {
		t.Fatalf("no token:\n%s", tp.body)
	}
	anon := e.browser()
	if p := anon.get(img + "&token=" + tok[1]); !strings.Contains(p.body, ">5.3</text>") {
		t.Errorf("Kim's image link is not in mmol/L")
	}
	if p := anon.get(img + "&units=mg/dL&token=" + tok[1]); !strings.Contains(p.body, ">95</text>") {
		t.Errorf("units=mg/dL on Kim's image link")
	}
	// A PNG in mmol/L: drawn, with its band.
	if p := kb.get("/image/" + sam + ".png?w=300&h=150"); p.status != 200 || !hasColor(decodePNG(t, p.body), bandColor) {
		t.Errorf("mmol/L PNG: %d", p.status)
	}
}

// TestDeltaOnlyWithHistory: the change since the reading before is
// history; a follower who may see only the current value does not get it.
func TestDeltaOnlyWithHistory(t *testing.T) {
	e := newEnv(t, web.Options{})
	s := e.share(false, glucose.UnitsUnset)
	sb, kb := s.sb, s.kb
	e.upload(s.sam, 100, 110)
	p := kb.get("/")
	if !strings.Contains(p.body, `<span class="value">110</span>`) || strings.Contains(p.body, `class="delta"`) {
		t.Errorf("permission 0: value or delta wrong:\n%s", p.body)
	}
	if p := sb.get("/"); !strings.Contains(html.UnescapeString(p.body), `class="delta" title="Change over the last 5 minutes">+10<`) {
		t.Errorf("the sharer's own delta is missing")
	}
}
