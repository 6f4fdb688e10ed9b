package web

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/alerts"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// The page chart: a fixed viewBox that CSS scales to the card's width.
const (
	pageChartW    = 600
	pageChartH    = 240
	pageChartFont = 18 // about 10 px on a phone, 21 px on a desktop card
)

// dayQuery reads the last 24 hours: enough for every chart span and for
// time in range.
var dayQuery = core.ReadQuery{Minutes: 24 * 60, MaxCount: 2016}

// hourChoices are the chart spans the pages offer.
func hourChoices() []int { return []int{3, 6, 12, 24} }

// chartHours reads the span a page asks for (?h=), 3 hours by default.
func chartHours(r *http.Request) int {
	n, _ := strconv.Atoi(r.URL.Query().Get("h"))
	for _, c := range hourChoices() {
		if n == c {
			return n
		}
	}
	return 3
}

// readingView is a reading as the pages show it, in the viewer's units.
type readingView struct {
	Value int    // mg/dL, as stored
	Label string // "123", "6.8", "LOW", "HIGH"
	Unit  string // "mg/dL" or "mmol/L"
	Delta string // change over the last 5 minutes, "+3", "-0.2"; "" when unknown
	Arrow string
	Trend string
	ST    int64
	Time  string // the sharer's local time of the reading
	Age   string // "4 min"
	Ago   string // "4 min ago", "just now"
	Stale bool
	Class string // low, high or in: the colour
}

// newReadingView shows rs[0], the newest of rs (newest first), in u.
func newReadingView(rs []glucose.Reading, now time.Time, u glucose.Units) *readingView {
	r := rs[0]
	at := glucose.FromMS(r.ST)
	age := now.Sub(at)
	v := &readingView{Value: r.Value, Label: u.FormatReading(r.Value), Unit: u.String(), Arrow: r.Trend.Arrow(),
		Trend: r.Trend.String(), ST: r.ST, Time: at.In(readingZone(r)).Format("15:04"), Stale: age > staleAfter,
		Class: rangeClass(r.Value)}
	if d, ok := delta(rs); ok {
		v.Delta = u.FormatDelta(d)
	}
	v.Age, v.Ago = ago(age), agoText(age)
	return v
}

// delta is the change of glucose over the last five minutes in mg/dL, as
// Nightscout computes it (lib/plugins/bgnow.js): the newest reading minus
// the one before, scaled to five minutes when they lie more than 9 minutes
// apart. There is none without a reading in the 15 minutes before the
// newest, or when either is a LOW or HIGH marker.
func delta(rs []glucose.Reading) (float64, bool) {
	if len(rs) < 2 {
		return 0, false
	}
	cur, prev := rs[0], rs[1]
	gap := glucose.FromMS(cur.ST).Sub(glucose.FromMS(prev.ST))
	marker := func(v int) bool { return v <= 39 || v >= 401 }
	if gap <= 0 || gap > staleAfter || marker(cur.Value) || marker(prev.Value) {
		return 0, false
	}
	d := float64(cur.Value - prev.Value)
	if gap > 9*time.Minute {
		d = d / gap.Minutes() * 5
	}
	return d, true
}

// agoText is "just now" or "4 min ago".
func agoText(d time.Duration) string {
	if d < time.Minute {
		return "just now"
	}
	return ago(d) + " ago"
}

func rangeClass(v int) string {
	switch {
	case v < targetLow:
		return "low"
	case v > targetHigh:
		return "high"
	}
	return "in"
}

// readingZone is the uploader's UTC offset at the reading: the sharer's
// local time.
func readingZone(r glucose.Reading) *time.Location {
	return time.FixedZone("", r.Offset*60)
}

// tirView is time in range over the last 24 hours: the share of readings
// from 70 to 180 mg/dL inclusive, below 70 and above 180. Each reading
// counts once, so a gap in the data does not count for or against.
type tirView struct {
	In, Below, Above int    // percent
	N                int    // readings counted
	Range            string // the target range in the viewer's units: "3.9–10.0 mmol/L"
}

func timeInRange(rs []glucose.Reading, u glucose.Units) *tirView {
	if len(rs) == 0 {
		return nil
	}
	var in, below, above int
	for _, r := range rs {
		switch rangeClass(r.Value) {
		case "low":
			below++
		case "high":
			above++
		default:
			in++
		}
	}
	pct := func(n int) int { return int(math.Round(100 * float64(n) / float64(len(rs)))) }
	return &tirView{In: pct(in), Below: pct(below), Above: pct(above), N: len(rs),
		Range: u.Format(targetLow) + "–" + u.Format(targetHigh) + " " + u.String()}
}

// card is one sharer's panel: the viewer's own or one it follows.
type card struct {
	ID          string // "me" or the subscription id
	PanelURL    string
	PublisherID string
	Name        string
	Own         bool
	State       glucose.State
	Note        string // why there is nothing to show
	PausedByMe  bool
	History     bool
	Latest      *readingView
	Chart       template.HTML
	Points      string // [[ST, "5.4 mmol/L"], …] oldest first, for the hover read-out
	Geo         string // data area and axes, for the hover read-out
	TIR         *tirView
	Hours       int
	Choices     []int
	CSRF        string
	HasReadings bool
	Units       glucose.Units // the viewer's
}

// fill adds the newest reading, the chart and time in range to c from the
// readings of the last 24 hours (newest first) and the treatments of the
// chart's span.
func (c *card) fill(rs []glucose.Reading, marks []core.TreatmentMark, now time.Time, hours int) error {
	c.HasReadings = len(rs) > 0
	if len(rs) > 0 {
		c.Latest = newReadingView(rs, now, c.Units)
	}
	if !c.History {
		return nil
	}
	c.TIR = timeInRange(rs, c.Units)
	th, _ := themeNamed("light")
	zone := time.UTC
	if len(rs) > 0 {
		zone = readingZone(rs[0])
	}
	sp := chartSpec{W: pageChartW, H: pageChartH, From: now.Add(-time.Duration(hours) * time.Hour), To: now,
		Readings: rs, History: true, Theme: th, Zone: zone, Now: now, FontSize: pageChartFont, Units: c.Units}
	for _, m := range marks {
		sp.Marks = append(sp.Marks, treatmentMark(m))
	}
	label := fmt.Sprintf(` class="chart-svg" role="img" aria-label="Glucose readings of the last %d hours"`, hours)
	svg, geo, err := renderSVG(sp, true, label)
	if err != nil {
		return err
	}
	c.Chart = template.HTML(svg) // drawn by the chart code from numbers only
	// The read-out shows the server's own text for each value, so that it
	// cannot disagree with the rest of the page.
	win := sp.window()
	pts := make([][2]any, len(win))
	for i, r := range win {
		pts[len(win)-1-i] = [2]any{r.ST, c.Units.ReadingWithUnit(r.Value)}
	}
	b, _ := json.Marshal(pts)
	c.Points = string(b)
	_, offset := now.In(zone).Zone()
	c.Geo = fmt.Sprintf("%.1f,%.1f,%.1f,%.1f,%g,%g,%d,%d,%d", geo.X0, geo.X1, geo.Y0, geo.Y1, geo.VMin, geo.VMax,
		sp.From.UnixMilli(), sp.To.UnixMilli(), offset/60)
	return nil
}

// ownCard is the viewer's own panel.
func (h *Handler) ownCard(ctx context.Context, v *visit, hours int) (*card, error) {
	rs, err := h.svc.LatestReadings(ctx, v.me.ID, dayQuery, v.now)
	if err != nil {
		return nil, err
	}
	c := &card{ID: "me", PanelURL: fmt.Sprintf("/app/panel/me?h=%d", hours), PublisherID: v.me.ID,
		Name: accountName(v.me), Own: true, History: true, Hours: hours, Choices: hourChoices(), CSRF: v.csrf,
		State: glucose.StateActive, Units: v.units()}
	marks, err := h.marks(ctx, v.me.ID, v.now, hours)
	if err != nil {
		return nil, err
	}
	return c, c.fill(rs, marks, v.now, hours)
}

func accountName(a *glucose.Account) string {
	if a.DisplayName != "" {
		return a.DisplayName
	}
	return a.Name
}

// followCard is the panel of a sharer the viewer follows, as its
// subscription allows: nothing unless Active, the newest value only with
// permissions 0.
func (h *Handler) followCard(ctx context.Context, v *visit, l glucose.SubscriptionListing, hours int) (*card, error) {
	c := &card{ID: l.ID, PanelURL: fmt.Sprintf("/app/panel/%s?h=%d", l.ID, hours), PublisherID: l.PublisherID,
		Name: l.DisplayName, State: l.State, History: l.Permissions > 0, Hours: hours, Choices: hourChoices(),
		CSRF: v.csrf, Units: v.units()}
	switch l.State {
	case glucose.StateActive:
	case glucose.StatePausedByPublisher:
		c.Note = "The sharer has paused sharing with you."
		return c, nil
	case glucose.StatePausedBySubscriber:
		c.Note, c.PausedByMe = "You have paused following.", true
		return c, nil
	default:
		c.Note = "The sharer has stopped sharing with you."
		return c, nil
	}
	rs, err := h.svc.SubscriptionReadings(ctx, v.me.ID, l.ID, dayQuery, v.now)
	var pe *glucose.Error
	if errors.As(err, &pe) { // changed since it was listed
		c.Note = "Not available right now."
		return c, nil
	}
	if err != nil {
		return nil, err
	}
	var marks []core.TreatmentMark
	if c.History {
		if marks, err = h.marks(ctx, l.PublisherID, v.now, hours); err != nil {
			return nil, err
		}
	}
	return c, c.fill(rs, marks, v.now, hours)
}

// marks reads the treatments of a chart's span: only for a viewer who may
// see the account's history (its owner, a follower with permissions).
func (h *Handler) marks(ctx context.Context, accountID string, now time.Time, hours int) ([]core.TreatmentMark, error) {
	return h.svc.TreatmentMarks(ctx, accountID, now.Add(-time.Duration(hours)*time.Hour).UnixMilli(), now.UnixMilli()+1)
}

// dashboardData is the dashboard page.
type dashboardData struct {
	Own     *card
	Follows []*card
	Hours   int
	Mirror  *mirrorView // the viewer's own link, for its banner; nil when none
}

// GET / — the viewer's own readings (when it shares) and every sharer it
// follows.
func (h *Handler) dashboard(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	hours := chartHours(r)
	subs, err := h.svc.SubscriberSubscriptions(ctx, v.me.ID)
	if err != nil {
		return err
	}
	d := dashboardData{Hours: hours}
	if d.Mirror, err = h.mirrorOf(ctx, v.me.ID); err != nil {
		return err
	}
	own, err := h.ownCard(ctx, v, hours)
	if err != nil {
		return err
	}
	// Someone who only follows does not need an empty panel of their own.
	if own.HasReadings || v.me.HasReceiver() || len(subs) == 0 {
		d.Own = own
	}
	for _, l := range subs {
		c, err := h.followCard(ctx, v, l, hours)
		if err != nil {
			return err
		}
		d.Follows = append(d.Follows, c)
	}
	return h.render(w, r, v, "dashboard", layout{Title: "Glucose", Nav: "home", Live: true, Data: d})
}

// GET /app/panel/{panel} — one panel again, for the live update: "me" or
// a subscription id.
func (h *Handler) panel(w http.ResponseWriter, r *http.Request) {
	v, err := h.visitor(r)
	if err != nil || v == nil {
		h.unauthorized(w, r, err)
		return
	}
	ctx := r.Context()
	hours := chartHours(r)
	var c *card
	if id := r.PathValue("panel"); id == "me" {
		c, err = h.ownCard(ctx, v, hours)
	} else {
		c, err = h.findFollowCard(ctx, v, id, hours)
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	if c == nil {
		http.NotFound(w, r)
		return
	}
	h.fragment(w, r, "card", c)
}

func (h *Handler) findFollowCard(ctx context.Context, v *visit, id string, hours int) (*card, error) {
	subs, err := h.svc.SubscriberSubscriptions(ctx, v.me.ID)
	if err != nil {
		return nil, err
	}
	for _, l := range subs {
		if l.ID == id {
			return h.followCard(ctx, v, l, hours)
		}
	}
	return nil, nil
}

// fragment writes one shared template on its own (a panel, the alarms).
func (h *Handler) fragment(w http.ResponseWriter, r *http.Request, name string, data any) {
	var b strings.Builder
	if err := h.pages["dashboard"].ExecuteTemplate(&b, name, data); err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Write([]byte(b.String()))
}

// unauthorized answers a script's request without a session.
func (h *Handler) unauthorized(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		h.fail(w, r, err)
		return
	}
	http.Error(w, "sign in first", http.StatusUnauthorized)
}

// ---- Alarms ----

// alarmsView is the banner of the viewer's active alarms.
type alarmsView struct {
	CSRF  string
	Next  string
	Items []alarmItem
}

type alarmItem struct {
	ID     string
	Kind   string
	Name   string
	Value  string
	Time   string
	Urgent bool
}

// alarms lists the viewer's Active alarms (as a follower), newest first.
func (h *Handler) alarms(ctx context.Context, v *visit, next string) (*alarmsView, error) {
	out := &alarmsView{CSRF: v.csrf, Next: next}
	as, err := h.svc.Alarms(ctx, v.me.ID, "", 24*60, v.now)
	if err != nil {
		return nil, err
	}
	var active []glucose.Alarm
	for _, a := range as {
		if a.State == alerts.StateActive {
			active = append(active, a)
		}
	}
	if len(active) == 0 {
		return out, nil
	}
	subs, err := h.svc.SubscriberSubscriptions(ctx, v.me.ID)
	if err != nil {
		return nil, err
	}
	names := map[string]string{}
	for _, l := range subs {
		names[l.ID] = l.DisplayName
	}
	for _, a := range active {
		it := alarmItem{ID: a.ID, Kind: kindText(a.Kind), Name: names[a.SubscriptionID],
			Time: agoText(v.now.Sub(a.TriggeredAt)), Urgent: a.Kind == alerts.FixedLow}
		if a.Kind != alerts.NoData || a.Value > 0 {
			it.Value = v.units().ReadingWithUnit(a.Value)
		}
		out.Items = append(out.Items, it)
	}
	return out, nil
}

// GET /app/alarms — the banner again, for the live update.
func (h *Handler) alarmsFragment(w http.ResponseWriter, r *http.Request) {
	v, err := h.visitor(r)
	if err != nil || v == nil {
		h.unauthorized(w, r, err)
		return
	}
	a, err := h.alarms(r.Context(), v, safeNext(r.URL.Query().Get("next")))
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.fragment(w, r, "alarms", a)
}

// POST /alarms/{alarm}/ack
func (h *Handler) acknowledge(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	if err := h.svc.AcknowledgeAlarm(r.Context(), v.me.ID, r.PathValue("alarm"), v.now); err != nil {
		return "", err
	}
	return safeNext(r.PostFormValue("next")), nil
}

// kindText names an alert kind for people.
func kindText(kind int) string {
	switch kind {
	case alerts.High:
		return "High"
	case alerts.Low:
		return "Low"
	case alerts.FixedLow:
		return "Urgent low"
	case alerts.NoData:
		return "No data"
	}
	return "Alarm"
}

// stateText names a subscription state for people (docs/protocol.md, "Follower state machine").
func stateText(s glucose.State) string {
	switch s {
	case glucose.StateInviteWaiting:
		return "Invited"
	case glucose.StateInviteFailed:
		return "Invitation failed"
	case glucose.StateInviteRejected:
		return "Declined"
	case glucose.StateInviteExpired:
		return "Invitation expired"
	case glucose.StateActive:
		return "Following"
	case glucose.StatePausedByPublisher:
		return "Paused by you"
	case glucose.StatePausedBySubscriber:
		return "Paused by the follower"
	case glucose.StateCanceledByPublisher, glucose.StateCanceledByBoth:
		return "Removed"
	case glucose.StateCanceledBySubscriber:
		return "Left"
	case glucose.StateAbandonedBySubscriber:
		return "Account deleted"
	}
	return "Unknown"
}
