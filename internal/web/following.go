package web

import (
	"errors"
	"net/http"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// The follower's page (docs/protocol.md, "Subscriber", "Alerts and alarms"): each sharer followed with its
// alert settings, pause, resume and leave, image links, and webhooks.

type followingRow struct {
	glucose.SubscriptionListing
	Status    string
	Alerts    *alertForm // nil when the settings cannot be changed (state 9)
	CanPause  bool
	CanResume bool
	Tokens    []tokenRow
}

type followingData struct {
	Rows     []followingRow
	Webhooks []glucose.Webhook
	NewToken *newToken
	Notify   *notifyData
}

// GET /following
func (h *Handler) followingPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	ctx := r.Context()
	ls, err := h.svc.SubscriberSubscriptions(ctx, v.me.ID)
	if err != nil {
		return err
	}
	tokens, err := h.tokenRows(r, v)
	if err != nil {
		return err
	}
	d := followingData{}
	for _, l := range ls {
		row := followingRow{SubscriptionListing: l, Status: followingStatus(l.State),
			CanPause: l.State == glucose.StateActive, CanResume: l.State == glucose.StatePausedBySubscriber}
		if l.State.Accepted() {
			a, err := h.svc.SubscriberAlertSettings(ctx, v.me.ID, l.ID, v.now)
			if err != nil {
				return err
			}
			f := alertFormOf(a, v.units())
			if r.Method == http.MethodPost && r.PathValue("subscription") == l.ID {
				f = alertFormFrom(r, v.units()) // a failed save: show what was typed
			}
			row.Alerts = &f
		}
		for _, t := range tokens {
			if t.SubscriptionID == l.ID {
				row.Tokens = append(row.Tokens, t)
			}
		}
		d.Rows = append(d.Rows, row)
	}
	if d.Webhooks, err = h.svc.Webhooks(ctx, v.me.ID); err != nil {
		return err
	}
	d.NewToken = v.newToken
	if d.Notify, err = h.notifyData(ctx, v); err != nil {
		return err
	}
	return h.render(w, r, v, "following", layout{Title: "Following", Nav: "following", Data: d})
}

// followingStatus describes a subscription from the follower's side.
func followingStatus(s glucose.State) string {
	switch s {
	case glucose.StateActive:
		return "Following"
	case glucose.StatePausedByPublisher:
		return "Paused by the sharer"
	case glucose.StatePausedBySubscriber:
		return "Paused by you"
	}
	return "Sharing ended by the sharer"
}

// POST /following/{subscription}/alerts
func (h *Handler) updateAlerts(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	ctx := r.Context()
	id := r.PathValue("subscription")
	cur, err := h.svc.SubscriberAlertSettings(ctx, v.me.ID, id, v.now)
	if err != nil {
		return "", err
	}
	in, err := alertsFromForm(r, cur, v.units())
	if err != nil {
		return "", err
	}
	if err := h.svc.UpdateAlertSettings(ctx, v.me.ID, id, in, v.now); err != nil {
		return "", err
	}
	return "/following?ok=saved#s-" + id, nil
}

// POST /following/{subscription}/pause
func (h *Handler) pauseFollowing(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	id := r.PathValue("subscription")
	if err := h.svc.PauseSubscription(r.Context(), v.me.ID, id, v.now); err != nil {
		return "", err
	}
	return backTo(r, "/following") + "?ok=paused", nil
}

// POST /following/{subscription}/resume
func (h *Handler) resumeFollowing(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	id := r.PathValue("subscription")
	if err := h.svc.ResumeSubscription(r.Context(), v.me.ID, id, v.now); err != nil {
		return "", err
	}
	return backTo(r, "/following") + "?ok=resumed", nil
}

// POST /following/{subscription}/leave — stop following (docs/protocol.md, "Subscriber"
// DeleteSubscription).
func (h *Handler) leave(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	id := r.PathValue("subscription")
	if err := h.svc.LeaveSubscription(r.Context(), v.me.ID, id, v.now); err != nil {
		return "", err
	}
	return "/following?ok=removed", nil
}

// backTo returns the local page a form names in its "back" field ("/" or
// the default).
func backTo(r *http.Request, def string) string {
	if r.PostFormValue("back") == "/" {
		return "/"
	}
	return def
}

// POST /webhooks — register a webhook for the follower's alarm events.
func (h *Handler) addWebhook(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	_, err := h.svc.AddWebhook(r.Context(), v.me.ID, r.PostFormValue("url"), r.PostFormValue("secret"), v.now)
	return "/following?ok=webhook#webhooks", err
}

// POST /webhooks/{webhook}/delete
func (h *Handler) deleteWebhook(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	err := h.svc.DeleteWebhook(r.Context(), v.me.ID, r.PathValue("webhook"))
	if errors.Is(err, glucose.ErrNotFound) {
		err = glucose.InvalidArgument("no such webhook")
	}
	return "/following?ok=removed#webhooks", err
}
