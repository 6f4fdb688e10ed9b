package core

import (
	"context"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// InvitePath is where the web UI's accept page for an invitation lives,
// below the public URL: <public-url>/invite/<invitationId>.
const InvitePath = "/invite/"

// InviteLink returns the accept link of an invitation, or "" when no public
// URL is configured.
func (s *Service) InviteLink(invitationID string) string {
	if s.cfg.PublicURL == "" {
		return ""
	}
	return strings.TrimSuffix(s.cfg.PublicURL, "/") + InvitePath + invitationID
}

// notifyInvitation hands a committed invitation to the configured sender
// when the contact has an e-mail address. The sender works on its own
// time: a slow or failing mail server neither delays the publisher's call
// nor loses the invitation, which stays waiting and readable through
// ReadSubscriptionInviteId. The proposed alerts are written in the
// publisher's units: the contact may have no account yet, and the two
// usually live where the same units are read.
func (s *Service) notifyInvitation(ctx context.Context, c *glucose.Contact, sub *glucose.Subscription, units glucose.Units) {
	if s.cfg.Mailer == nil || c.Email == "" {
		return
	}
	s.cfg.Mailer.SendInvitation(context.WithoutCancel(ctx), glucose.InvitationNotice{
		To:            c.Email,
		ContactName:   c.Name,
		PublisherName: sub.DisplayName,
		InvitationID:  sub.InvitationID,
		Link:          s.InviteLink(sub.InvitationID),
		Expires:       sub.InviteExpires,
		Alerts:        DescribeAlerts(sub.InviteSettings, units),
		History:       sub.Permissions > 0,
	})
}
