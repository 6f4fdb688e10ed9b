package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// The sharer's followers page (docs/protocol.md, "Publisher: contacts and followers", "Follower state machine"): invite with alert
// settings, the invitation link to copy, permissions, pause and resume,
// remove.

// followerRow is one contact with its current subscription.
type followerRow struct {
	glucose.SubscriptionListing
	Link        string // the accept link while the invitation waits
	Expires     string
	CanPermit   bool
	CanPause    bool
	CanResume   bool
	CanReinvite bool
	New         bool // just invited: the link is shown first
}

// inviteForm is the invitation form, filled again after a failed attempt.
type inviteForm struct {
	ContactName string
	Email       string
	DisplayName string
	History     bool
	Alerts      alertForm
}

type followersData struct {
	Rows   []followerRow
	Form   inviteForm
	Max    int
	Tokens []tokenRow
}

// baseURL is the server's address as others reach it: --public-url, or
// the address this request came to.
func (h *Handler) baseURL(r *http.Request) string {
	if h.opts.PublicURL != "" {
		return h.opts.PublicURL
	}
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + r.Host
}

// GET /followers
func (h *Handler) followersPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	ls, err := h.svc.PublisherSubscriptions(r.Context(), v.me.ID, v.now)
	if err != nil {
		return err
	}
	base := h.baseURL(r)
	fresh := r.URL.Query().Get("new")
	d := followersData{Max: h.svc.Config().MaxFollowers,
		Form: inviteForm{History: true, Alerts: alertFormOf(share.DefaultAlertSettings(), v.units())}}
	for _, l := range ls {
		row := followerRow{SubscriptionListing: l, New: l.ID == fresh,
			CanPermit:   l.State.Live(),
			CanPause:    l.State == glucose.StateActive,
			CanResume:   l.State == glucose.StatePausedByPublisher,
			CanReinvite: !l.State.Live()}
		if l.State == glucose.StateInviteWaiting {
			row.Link = base + "/invite/" + l.InvitationID
			row.Expires = l.InviteExpires.Format("2 Jan 2006 15:04 MST")
		}
		d.Rows = append(d.Rows, row)
	}
	if r.Method == http.MethodPost && r.URL.Path == "/followers" {
		d.Form = inviteForm{ContactName: r.PostFormValue("contact_name"), Email: r.PostFormValue("email"),
			DisplayName: r.PostFormValue("display_name"), History: r.PostFormValue("history") == "1",
			Alerts: alertFormFrom(r, v.units())}
	}
	return h.render(w, r, v, "followers", layout{Title: "Followers", Nav: "followers", Data: d})
}

// POST /followers — a contact and its invitation in one step.
func (h *Handler) invite(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	ctx := r.Context()
	alerts, err := alertsFromForm(r, share.DefaultAlertSettings(), v.units())
	if err != nil {
		return "", err
	}
	perm := int64(0)
	if r.PostFormValue("history") == "1" {
		perm = 1
	}
	c, err := h.svc.CreateContact(ctx, v.me.ID, r.PostFormValue("contact_name"), r.PostFormValue("email"), v.now)
	if err != nil {
		return "", err
	}
	sub, err := h.svc.Invite(ctx, v.me.ID, c.ID, core.Invitation{Alerts: alerts, Permissions: &perm,
		DisplayName: r.PostFormValue("display_name")}, v.now)
	if err != nil {
		// A contact without an invitation would only block its name.
		if derr := h.svc.DeleteContact(context.WithoutCancel(ctx), v.me.ID, c.ID, v.now); derr != nil {
			h.log.Warn("removing the contact of a failed invitation", "err", derr)
		}
		return "", err
	}
	return "/followers?ok=invited&new=" + sub.ID + "#f-" + sub.ID, nil
}

// POST /contacts/{contact}/reinvite — a new invitation for a contact whose
// last one ended, with the default alert settings.
func (h *Handler) reinvite(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	sub, err := h.svc.Invite(r.Context(), v.me.ID, r.PathValue("contact"), core.Invitation{}, v.now)
	if err != nil {
		return "", err
	}
	return "/followers?ok=invited&new=" + sub.ID + "#f-" + sub.ID, nil
}

// POST /followers/{subscription}/permissions
func (h *Handler) setPermissions(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	// A missing or garbled field is an error: read as 0, it would take the
	// follower's history away.
	p, perr := strconv.ParseInt(strings.TrimSpace(r.PostFormValue("permissions")), 10, 64)
	if perr != nil {
		return "", glucose.InvalidArgument("permissions must be 0 or 1")
	}
	err := h.svc.SetPermissions(r.Context(), v.me.ID, r.PathValue("subscription"), p, v.now)
	return "/followers?ok=saved", err
}

// POST /followers/{subscription}/pause
func (h *Handler) pauseFollower(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	id := r.PathValue("subscription")
	if err := h.svc.PauseSubscription(r.Context(), v.me.ID, id, v.now); err != nil {
		return "", err
	}
	return "/followers?ok=paused", nil
}

// POST /followers/{subscription}/resume
func (h *Handler) resumeFollower(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	id := r.PathValue("subscription")
	if err := h.svc.ResumeSubscription(r.Context(), v.me.ID, id, v.now); err != nil {
		return "", err
	}
	return "/followers?ok=resumed", nil
}

// POST /contacts/{contact}/remove — the contact and its subscription go
// (docs/protocol.md, "Publisher: contacts and followers" DeleteContact). DeleteContact itself evaluates the caller's own
// subscriptions afterwards; nothing the form says is evaluated (a
// "subscription" field could name anyone's).
func (h *Handler) removeContact(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	if err := h.svc.DeleteContact(r.Context(), v.me.ID, r.PathValue("contact"), v.now); err != nil {
		return "", err
	}
	return "/followers?ok=removed", nil
}

// ---- Alert settings form (docs/protocol.md, "Alert settings") ----

// Threshold bounds of the alert settings form, mg/dL (docs/protocol.md, "Alert settings").
const (
	thresholdMin       = 40
	thresholdMax       = 400
	urgentThresholdMax = 55
)

// alertForm shows alert settings as people set them: thresholds in the
// viewer's units, delays in minutes. Thresholds are text, so that a form
// shown again after an error keeps what was typed.
type alertForm struct {
	HighOn                    bool
	HighAt                    string
	HighDelay, HighRepeat     int
	LowOn                     bool
	LowAt                     string
	LowDelay, LowRepeat       int
	UrgentAt                  string
	UrgentRepeat              int
	NoDataOn                  bool
	NoDataDelay, NoDataRepeat int
	Units                     glucose.Units
	Min, Max, UrgentMax, Step string // the inputs' bounds and step in Units
}

func minutes(d string) int {
	v, err := share.ParseDuration(d)
	if err != nil {
		return 0
	}
	return int(v / time.Minute)
}

// newAlertForm is an empty form in u, with its inputs' bounds.
func newAlertForm(u glucose.Units) alertForm {
	f := alertForm{Units: u, Min: u.Format(thresholdMin), Max: u.Format(thresholdMax),
		UrgentMax: u.Format(urgentThresholdMax), Step: "1"}
	if u.Mmol() {
		f.Step = "0.1"
	}
	return f
}

// alertFormOf shows stored settings in the form, thresholds in u.
func alertFormOf(a share.AlertSettings, u glucose.Units) alertForm {
	at := func(s share.AlertSetting) string {
		v, ok := core.AlertThreshold(s)
		if !ok {
			return ""
		}
		return u.Format(float64(v))
	}
	f := newAlertForm(u)
	f.HighOn, f.HighAt = a.HighAlert.IsEnabled, at(a.HighAlert)
	f.HighDelay, f.HighRepeat = minutes(a.HighAlert.AlarmDelay), minutes(a.HighAlert.RealarmDelay)
	f.LowOn, f.LowAt = a.LowAlert.IsEnabled, at(a.LowAlert)
	f.LowDelay, f.LowRepeat = minutes(a.LowAlert.AlarmDelay), minutes(a.LowAlert.RealarmDelay)
	f.UrgentAt, f.UrgentRepeat = at(a.FixedLowAlert), minutes(a.FixedLowAlert.RealarmDelay)
	f.NoDataOn = a.NoDataAlert.IsEnabled
	f.NoDataDelay, f.NoDataRepeat = minutes(a.NoDataAlert.AlarmDelay), minutes(a.NoDataAlert.RealarmDelay)
	return f
}

// alertFormFrom shows a submitted form again as it was typed (unparsable
// minutes become 0).
func alertFormFrom(r *http.Request, u glucose.Units) alertForm {
	n := func(k string) int { v, _ := strconv.Atoi(strings.TrimSpace(r.PostFormValue(k))); return v }
	on := func(k string) bool { return r.PostFormValue(k) == "1" }
	txt := func(k string) string { return strings.TrimSpace(r.PostFormValue(k)) }
	f := newAlertForm(u)
	f.HighOn, f.HighAt, f.HighDelay, f.HighRepeat = on("high_on"), txt("high_at"), n("high_delay"), n("high_repeat")
	f.LowOn, f.LowAt, f.LowDelay, f.LowRepeat = on("low_on"), txt("low_at"), n("low_delay"), n("low_repeat")
	f.UrgentAt, f.UrgentRepeat = txt("urgent_at"), n("urgent_repeat")
	f.NoDataOn, f.NoDataDelay, f.NoDataRepeat = on("nodata_on"), n("nodata_delay"), n("nodata_repeat")
	return f
}

// alertsFromForm turns the form into the four alert kinds, each complete,
// in the official uploader's convention (docs/protocol.md, "Alert settings"): High's threshold in
// MinValue with MaxValue 401, the low kinds' in MaxValue with MinValue 39.
// Thresholds are typed in u and stored in whole mg/dL; a threshold typed
// as the form showed it keeps base's value exactly, so that saving a form
// in mmol/L does not move a threshold by a rounding (181 mg/dL shows as
// 10.1 mmol/L, which is 182). Sounds stay as they were in base.
func alertsFromForm(r *http.Request, base share.AlertSettings, u glucose.Units) (core.AlertsInput, error) {
	var err error
	num := func(k, what string, lo, hi int) *int64 {
		if err != nil {
			return nil
		}
		v, perr := strconv.Atoi(strings.TrimSpace(r.PostFormValue(k)))
		if perr != nil || v < lo || v > hi {
			err = glucose.InvalidArgument("%s must be a whole number from %d to %d", what, lo, hi)
			return nil
		}
		n := int64(v)
		return &n
	}
	threshold := func(k, what string, hi int, was share.AlertSetting) *int64 {
		if err != nil {
			return nil
		}
		typed := strings.TrimSpace(r.PostFormValue(k))
		if old, ok := core.AlertThreshold(was); ok && old <= hi && typed == u.Format(float64(old)) {
			n := int64(old)
			return &n
		}
		v, ok := u.ParseMgdl(typed, thresholdMin, hi)
		if !ok {
			whole := ""
			if !u.Mmol() {
				whole = "whole "
			}
			err = glucose.InvalidArgument("%s must be a %snumber from %s", what, whole, u.Range(thresholdMin, hi))
			return nil
		}
		n := int64(v)
		return &n
	}
	dur := func(k, what string) *string {
		m := num(k, what, 0, 7*24*60)
		if m == nil {
			return nil
		}
		s := share.FormatDuration(time.Duration(*m) * time.Minute)
		return &s
	}
	on := func(k string) *bool { b := r.PostFormValue(k) == "1"; return &b }
	fixed := func(v int64) *int64 { return &v }
	str := func(s string) *string { return &s }
	in := core.AlertsInput{
		High: &core.AlertInput{IsEnabled: on("high_on"),
			MinValue: threshold("high_at", "The high threshold", thresholdMax, base.HighAlert),
			MaxValue: fixed(401), AlarmDelay: dur("high_delay", "The high alert's delay"),
			RealarmDelay: dur("high_repeat", "The high alert's repeat interval"), Sound: str(base.HighAlert.Sound)},
		Low: &core.AlertInput{IsEnabled: on("low_on"), MinValue: fixed(39),
			MaxValue:     threshold("low_at", "The low threshold", thresholdMax, base.LowAlert),
			AlarmDelay:   dur("low_delay", "The low alert's delay"),
			RealarmDelay: dur("low_repeat", "The low alert's repeat interval"), Sound: str(base.LowAlert.Sound)},
		FixedLow: &core.AlertInput{MinValue: fixed(39),
			MaxValue:   threshold("urgent_at", "The urgent low threshold", urgentThresholdMax, base.FixedLowAlert),
			AlarmDelay: str(base.FixedLowAlert.AlarmDelay), RealarmDelay: dur("urgent_repeat", "The urgent low's repeat interval"),
			Sound: str(base.FixedLowAlert.Sound)},
		NoData: &core.AlertInput{IsEnabled: on("nodata_on"), MinValue: fixed(39), MaxValue: fixed(401),
			AlarmDelay: dur("nodata_delay", "The no-data delay"), RealarmDelay: dur("nodata_repeat", "The no-data repeat interval"),
			Sound: str(base.NoDataAlert.Sound)},
	}
	return in, err
}
