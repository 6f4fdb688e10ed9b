package web

import (
	"errors"
	"net/http"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// The accept link of an invitation, <public-url>/invite/<invitationId>, as
// invitation e-mails and the followers page give it (docs/protocol.md, "Subscriber"
// ReadInvitation, AcceptInvitation, RejectInvitation). A visitor without
// a session signs in (or up) first and comes back here.

type inviteData struct {
	ID          string
	DisplayName string
	History     bool
	Waiting     bool
	Mine        bool // already accepted by the viewer
	Expires     string
	Alerts      string // the proposed alert settings, in the viewer's units
	Problem     string // why it cannot be accepted
}

// GET /invite/{invitation}
func (h *Handler) invitePage(w http.ResponseWriter, r *http.Request, v *visit) error {
	id := r.PathValue("invitation")
	d := inviteData{ID: id}
	sub, err := h.svc.ReadInvitation(r.Context(), v.me.ID, id, v.now)
	var pe *glucose.Error
	switch {
	case errors.As(err, &pe):
		d.Problem = pe.Message
		if v.status == 0 {
			v.status = http.StatusNotFound
		}
	case err != nil:
		return err
	default:
		d.DisplayName, d.History = sub.DisplayName, sub.Permissions > 0
		d.Expires = sub.InviteExpires.Format("2 Jan 2006 15:04 MST")
		d.Alerts = core.DescribeAlerts(sub.InviteSettings, v.units())
		d.Waiting = sub.State == glucose.StateInviteWaiting
		d.Mine = sub.SubscriberID == v.me.ID && sub.State.Accepted()
		switch {
		case sub.PublisherID == v.me.ID:
			d.Problem, d.Waiting = "This is your own invitation: send the link to the person you invited.", false
		case !d.Waiting && !d.Mine:
			d.Problem = "This invitation is no longer open (" + stateText(sub.State) + ")."
		}
	}
	return h.render(w, r, v, "invite", layout{Title: "Invitation", Data: d})
}

// POST /invite/{invitation}/accept
func (h *Handler) acceptInvite(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	if _, err := h.svc.AcceptInvitation(r.Context(), v.me.ID, r.PathValue("invitation"), v.now); err != nil {
		return "", err
	}
	return "/?ok=accepted", nil
}

// POST /invite/{invitation}/reject
func (h *Handler) rejectInvite(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	if err := h.svc.RejectInvitation(r.Context(), v.me.ID, r.PathValue("invitation"), v.now); err != nil {
		return "", err
	}
	return "/?ok=declined", nil
}
