package shareapi

import (
	"encoding/json"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Subscriber calls (docs/protocol.md, "Subscriber"). They act for the subscriber only: a
// publisher using them on its own subscription gets SubscriptionIdNotFound
// (docs/protocol.md, "Access rules"), as does anyone else who is not its subscriber.

// subscriberSubscriptionJSON is one item of ListSubscriberAccountSubscriptions.
type subscriberSubscriptionJSON struct {
	SubscriptionID            string         `json:"SubscriptionId"`
	SubscriberID              string         `json:"SubscriberId"`
	DisplayName               string         `json:"DisplayName"`
	Permissions               int            `json:"Permissions"`
	State                     int            `json:"State"`
	IsEnabled                 bool           `json:"IsEnabled"`
	IsMonitoringSessionActive bool           `json:"IsMonitoringSessionActive"`
	DateTimeCreated           share.DateTime `json:"DateTimeCreated"`
	DateTimeModified          share.DateTime `json:"DateTimeModified"`
	DateTimeAccepted          share.DateTime `json:"DateTimeAccepted"`
}

// POST Subscriber/ListSubscriberAccountSubscriptions [observed; item members defined by glucoshare]
// Query: sessionId. 200: the caller's subscriptions in states 6, 7, 8 and 9
// — Active first, then paused, then cancelled; within each group by
// DateTimeAccepted, oldest first.
func (a *API) listSubscriberSubscriptions(c *call) (reply, error) {
	ls, err := a.svc.SubscriberSubscriptions(c.ctx, c.acct.ID)
	if err != nil {
		return reply{}, err
	}
	items := make([]subscriberSubscriptionJSON, len(ls))
	for i, l := range ls {
		items[i] = subscriberSubscriptionJSON{
			SubscriptionID: l.ID, SubscriberID: l.SubscriberID, DisplayName: l.DisplayName,
			Permissions: l.Permissions, State: int(l.State), IsEnabled: l.State == glucose.StateActive,
			IsMonitoringSessionActive: l.PublisherMonitoring,
			DateTimeCreated:           share.NewDateTime(l.CreatedAt),
			DateTimeModified:          share.NewDateTime(l.ModifiedAt),
			DateTimeAccepted:          share.NewDateTime(l.AcceptedAt),
		}
	}
	return jsonReply(items)
}

// POST Subscriber/ReadSubscriptionLatestGlucoseValues [observed]
// Query: sessionId, subscriptionId, minutes, maxCount. 200: exactly as
// ReadPublisherLatestGlucoseValues, over the publisher's readings. With
// Permissions 0 ("current value only") maxCount is capped at 1.
// Errors: SubscriptionIdNotFound, SubscriptionNotActive.
func (a *API) readSubscriptionLatest(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	q, err := readQuery(c.p)
	if err != nil {
		return reply{}, err
	}
	rs, err := a.svc.SubscriptionReadings(c.ctx, c.acct.ID, id, q, c.now)
	if err != nil {
		return reply{}, err
	}
	return a.readingsReply(c, rs)
}

// lastGlucoseJSON is one item of ReadLastGlucoseFromSubscriptions.
type lastGlucoseJSON struct {
	SubscriptionID string          `json:"SubscriptionId"`
	Egv            json.RawMessage `json:"Egv"` // a Reading, or null
}

// POST Subscriber/ReadLastGlucoseFromSubscriptions [observed]
// Query: sessionId. Body: a JSON array of subscription ids, at most 50. Not
// an array, or too long → InvalidArgument; [] → [].
// 200: [{"SubscriptionId":"9a4f…","Egv":{Reading}}], one item per requested
// id in request order. Egv is null when there is no reading, or when the id
// is malformed, unknown, someone else's, or not Active — one answer for all.
func (a *API) readLastGlucose(c *call) (reply, error) {
	ids, err := subscriptionIDList(c.p)
	if err != nil {
		return reply{}, err
	}
	rs, err := a.svc.LastReadings(c.ctx, c.acct.ID, ids)
	if err != nil {
		return reply{}, err
	}
	compat, _, _, _ := c.p.String("compat")
	legacy := a.svc.CompatFor(compat, c.acct) == glucose.CompatLegacy
	items := make([]lastGlucoseJSON, len(ids))
	for i, id := range ids {
		items[i].SubscriptionID = id
		if rs[i] != nil {
			items[i].Egv = share.AppendReading(nil, rs[i].Wire(), legacy)
		}
	}
	return jsonReply(items)
}

// subscriptionIDList reads the body of ReadLastGlucoseFromSubscriptions. An
// element that is not a string stands for its literal text (docs/protocol.md, "Parameters"), which
// is then simply not an id.
func subscriptionIDList(p *params) ([]string, error) {
	var elems []json.RawMessage
	body := p.rawBody()
	if len(body) == 0 || body[0] != '[' || json.Unmarshal(body, &elems) != nil {
		return nil, glucose.InvalidArgument("the request body must be a JSON array of subscription ids")
	}
	if len(elems) > core.MaxLastGlucoseIDs {
		return nil, glucose.InvalidArgument("the request body lists %d subscription ids; at most %d are accepted",
			len(elems), core.MaxLastGlucoseIDs)
	}
	ids := make([]string, len(elems))
	for i, el := range elems {
		if json.Unmarshal(el, &ids[i]) != nil {
			ids[i] = string(el)
		}
	}
	return ids, nil
}

// invitationJSON is the Invitation object of ReadInvitation.
type invitationJSON struct {
	InvitationID    string              `json:"InvitationId"`
	DisplayName     string              `json:"DisplayName"`
	Permissions     int                 `json:"Permissions"`
	State           int                 `json:"State"`
	InviteExpires   share.DateTime      `json:"InviteExpires"`
	DateTimeCreated share.DateTime      `json:"DateTimeCreated"`
	AlertSettings   share.AlertSettings `json:"AlertSettings"`
}

// POST Subscriber/ReadInvitation [glucoshare]
// Query: sessionId, invitationId. Any logged-in account holding the id may
// read it. State is the subscription's state; a waiting invitation past
// InviteExpires reads 5. Errors: InvitationIdNotFound;
// InvitationAlreadyAccepted when another account accepted it.
func (a *API) readInvitation(c *call) (reply, error) {
	id, err := required(c.p, "invitationId")
	if err != nil {
		return reply{}, err
	}
	sub, err := a.svc.ReadInvitation(c.ctx, c.acct.ID, id, c.now)
	if err != nil {
		return reply{}, err
	}
	return jsonReply(invitationJSON{
		InvitationID: sub.InvitationID, DisplayName: sub.DisplayName, Permissions: sub.Permissions,
		State: int(sub.State), InviteExpires: share.NewDateTime(sub.InviteExpires),
		DateTimeCreated: share.NewDateTime(sub.CreatedAt), AlertSettings: sub.InviteSettings,
	})
}

// POST Subscriber/AcceptInvitation [glucoshare]
// Query: sessionId, invitationId. 200: the subscription id. State 2 → 6;
// SubscriberId = caller; DateTimeAccepted = now; the follower's alert
// settings start as a copy of the invitation's.
func (a *API) acceptInvitation(c *call) (reply, error) {
	id, err := required(c.p, "invitationId")
	if err != nil {
		return reply{}, err
	}
	subID, err := a.svc.AcceptInvitation(c.ctx, c.acct.ID, id, c.now)
	if err != nil {
		return reply{}, err
	}
	return idReply(subID)
}

// POST Subscriber/RejectInvitation [glucoshare]
// Query: sessionId, invitationId. 200: void. State 2 → 4; already 4 →
// success.
func (a *API) rejectInvitation(c *call) (reply, error) {
	id, err := required(c.p, "invitationId")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.RejectInvitation(c.ctx, c.acct.ID, id, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Subscriber/DeleteSubscription [glucoshare]
// Query: sessionId, subscriptionId. 200: void. The follower leaves: 6, 7, 8 →
// 10; 9 → 11; 10 or 11 → success, no change. Errors: SubscriptionIdNotFound.
func (a *API) deleteSubscription(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.LeaveSubscription(c.ctx, c.acct.ID, id, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Subscriber/ReadSubscriptionDisplayName [glucoshare]
// Query: sessionId, subscriptionId. 200: "Sam" — the subscription's DisplayName.
func (a *API) readSubscriptionDisplayName(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	name, err := a.svc.SubscriptionDisplayName(c.ctx, c.acct.ID, id, c.now)
	if err != nil {
		return reply{}, err
	}
	return jsonReply(name)
}

// GET Subscriber/ReadSubscriptionImage [glucoshare]
// Query: sessionId, subscriptionId. Also accepts HEAD and POST. 200: the
// publisher's avatar, as ReadPublisherAccountImage. None → 404 ImageNotFound.
func (a *API) readSubscriptionImage(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	publisherID, err := a.svc.SubscriptionPublisher(c.ctx, c.acct.ID, id, c.now)
	if err != nil {
		return reply{}, err
	}
	return a.imageReply(c, publisherID)
}

// POST Subscriber/ReadSubscriptionAlertSettings [glucoshare]
// Query: sessionId, subscriptionId. 200: AlertSettings (same as
// General/ReadSubscriptionAlerts).
func (a *API) readSubscriptionAlertSettings(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	alerts, err := a.svc.SubscriberAlertSettings(c.ctx, c.acct.ID, id, c.now)
	if err != nil {
		return reply{}, err
	}
	return jsonReply(alerts)
}

// POST Subscriber/UpdateSubscriptionAlertSettings [glucoshare]
// Query: sessionId, subscriptionId. Body: an AlertSettings object, or
// {"AlertSettings":{…}}. Each of the four members that is present replaces
// that alert as a whole; absent members stay unchanged. 200: void.
// Validation per docs/protocol.md, "Alert settings"; a failure changes nothing.
func (a *API) updateSubscriptionAlertSettings(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	raw, err := alertSettingsBody(c.p)
	if err != nil {
		return reply{}, err
	}
	in, err := decodeAlerts(raw)
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.UpdateAlertSettings(c.ctx, c.acct.ID, id, in, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// alertSettingsBody returns the AlertSettings object of the body: its
// AlertSettings member when it has one, else the body itself. No body (or
// {}) changes nothing.
func alertSettingsBody(p *params) (json.RawMessage, error) {
	body := p.rawBody()
	if body == nil {
		return nil, nil
	}
	if body[0] != '{' {
		return nil, glucose.InvalidArgument("the request body must be an AlertSettings object")
	}
	inner, err := p.member("AlertSettings")
	if err != nil || inner != nil {
		return inner, err
	}
	return body, nil
}

// POST Subscriber/UpdateSubscriberAccountRuntimeInfo [glucoshare]
// As UpdatePublisherAccountRuntimeInfo: body
// {"sessionId":"…","runtimeInfo":{RuntimeInfo}}; 200 void; kept for
// diagnostics.
func (a *API) subscriberRuntimeInfo(c *call) (reply, error) {
	return a.runtimeInfo(c, core.RoleSubscriber)
}
