package shareapi

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// Publisher: contacts and followers (docs/protocol.md, "Publisher: contacts and followers"), and the General
// calls on a subscription (docs/protocol.md, "General"). The access rules of docs/protocol.md, "Access rules" live in core.

// required reads a string parameter that must be present. An id is passed
// on as given: core answers a malformed one with its kind's not-found code.
func required(p *params, name string) (string, error) {
	s, _, ok, err := p.String(name)
	if err == nil && !ok {
		err = glucose.InvalidArgument("%s is missing", name)
	}
	return s, err
}

// POST Publisher/DoesContactExistByName [observed]
// Query: sessionId, contactName. 200: true/false — whether a non-deleted
// contact of the caller has that name (case-insensitively).
func (a *API) contactExists(c *call) (reply, error) {
	name, err := required(c.p, "contactName")
	if err != nil {
		return reply{}, err
	}
	found, err := a.svc.ContactExists(c.ctx, c.acct.ID, name)
	if err != nil {
		return reply{}, err
	}
	return boolReply(found)
}

// POST Publisher/CreateContact [observed]
// Query: sessionId, contactName, emailAddress (optional). 200: the new
// contact id. An empty emailAddress means none.
// Errors: ContactNameAlreadyExists, InvalidEmailAddress, InvalidArgument.
func (a *API) createContact(c *call) (reply, error) {
	name, _, _, err := c.p.String("contactName")
	if err != nil {
		return reply{}, err
	}
	email, _, _, err := c.p.String("emailAddress")
	if err != nil {
		return reply{}, err
	}
	contact, err := a.svc.CreateContact(c.ctx, c.acct.ID, name, email, c.now)
	if err != nil {
		return reply{}, err
	}
	return idReply(contact.ID)
}

// contactJSON is the Contact object of ReadContact.
type contactJSON struct {
	ContactID          string `json:"ContactId"`
	Name               string `json:"Name"`
	Email              string `json:"Email"`
	PublisherAccountID string `json:"PublisherAccountId"`
	State              int    `json:"State"`
	SubscriptionID     string `json:"SubscriptionId"`
}

// POST Publisher/ReadContact [observed]
// Query: sessionId, contactId. 200:
// {"ContactId":"…","Name":"Mom","Email":"mom@example.org","PublisherAccountId":"…","State":6,"SubscriptionId":"…"}
// — State and SubscriptionId describe the contact's current (most recent)
// subscription; 0 and the zero id when it has none.
func (a *API) readContact(c *call) (reply, error) {
	id, err := required(c.p, "contactId")
	if err != nil {
		return reply{}, err
	}
	v, err := a.svc.Contact(c.ctx, c.acct.ID, id, c.now)
	if err != nil {
		return reply{}, err
	}
	return jsonReply(contactJSON{
		ContactID: v.ID, Name: v.Name, Email: v.Email, PublisherAccountID: v.PublisherID,
		State: int(v.State), SubscriptionID: v.SubscriptionID,
	})
}

// POST Publisher/UpdateContactName [observed]
// Query: sessionId, contactId, contactName. 200: void.
// Errors: ContactIdNotFound, ContactNameAlreadyExists.
func (a *API) updateContactName(c *call) (reply, error) {
	id, err := required(c.p, "contactId")
	if err != nil {
		return reply{}, err
	}
	name, _, _, err := c.p.String("contactName")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.RenameContact(c.ctx, c.acct.ID, id, name); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Publisher/DeleteContact [observed]
// Query: sessionId, contactId. 200: void. The contact is marked deleted. Its
// current subscription moves: 2, 6, 7, 8 → 9 (CanceledByPublisher); 10 → 11.
// Errors: ContactAlreadyDeleted (second call), ContactIdNotFound.
func (a *API) deleteContact(c *call) (reply, error) {
	id, err := required(c.p, "contactId")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.DeleteContact(c.ctx, c.acct.ID, id, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST Publisher/CreateSubscriptionInvitation [observed]
// Query: sessionId, contactId. Body (every member optional):
// {"AlertSettings":{AlertSettings},"Permissions":1,"DisplayName":"Sam"}.
// 200: the new subscription id.
// Errors: ContactIdNotFound, MaxFollowersExceeded, InvalidArgument.
func (a *API) createInvitation(c *call) (reply, error) {
	contactID, err := required(c.p, "contactId")
	if err != nil {
		return reply{}, err
	}
	var in core.Invitation
	if n, ok, err := c.p.Int("Permissions"); err != nil {
		return reply{}, err
	} else if ok {
		in.Permissions = &n
	}
	if in.DisplayName, _, _, err = c.p.String("DisplayName"); err != nil {
		return reply{}, err
	}
	raw, err := c.p.member("AlertSettings")
	if err != nil {
		return reply{}, err
	}
	if in.Alerts, err = decodeAlerts(raw); err != nil {
		return reply{}, err
	}
	sub, err := a.svc.Invite(c.ctx, c.acct.ID, contactID, in, c.now)
	if err != nil {
		return reply{}, err
	}
	return idReply(sub.ID)
}

// POST Publisher/ReadSubscriptionInviteId [official-app]
// Query: sessionId, subscriptionId. 200: the invitation id, in any state.
// Publisher only. Errors: SubscriptionIdNotFound.
func (a *API) readInviteID(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	inv, err := a.svc.InvitationID(c.ctx, c.acct.ID, id)
	if err != nil {
		return reply{}, err
	}
	return idReply(inv)
}

// publisherSubscriptionJSON is one item of ListPublisherAccountSubscriptions,
// members in the order of the 2015 capture.
type publisherSubscriptionJSON struct {
	ContactID                 string         `json:"ContactId"`
	ContactName               string         `json:"ContactName"`
	DateTimeCreated           share.DateTime `json:"DateTimeCreated"`
	DateTimeModified          share.DateTime `json:"DateTimeModified"`
	DisplayName               string         `json:"DisplayName"`
	InviteExpires             share.DateTime `json:"InviteExpires"`
	IsEnabled                 bool           `json:"IsEnabled"`
	IsMonitoringSessionActive bool           `json:"IsMonitoringSessionActive"`
	Permissions               int            `json:"Permissions"`
	State                     int            `json:"State"`
	SubscriberID              string         `json:"SubscriberId"`
	SubscriptionID            string         `json:"SubscriptionId"`
}

// orZeroID writes "no account yet" as the zero id.
func orZeroID(id string) string {
	if id == "" {
		return share.ZeroID
	}
	return id
}

// POST Publisher/ListPublisherAccountSubscriptions [observed]
// Query: sessionId. 200: one item per non-deleted contact that has a
// subscription, describing its current subscription, ordered by
// DateTimeCreated; [] if none. IsEnabled is State == 6;
// IsMonitoringSessionActive is the publisher's monitoring flag; SubscriberId
// is the zero id until accepted.
func (a *API) listPublisherSubscriptions(c *call) (reply, error) {
	ls, err := a.svc.PublisherSubscriptions(c.ctx, c.acct.ID, c.now)
	if err != nil {
		return reply{}, err
	}
	items := make([]publisherSubscriptionJSON, len(ls))
	for i, l := range ls {
		items[i] = publisherSubscriptionJSON{
			ContactID: l.ContactID, ContactName: l.ContactName,
			DateTimeCreated:  share.NewDateTime(l.CreatedAt),
			DateTimeModified: share.NewDateTime(l.ModifiedAt),
			DisplayName:      l.DisplayName, InviteExpires: share.NewDateTime(l.InviteExpires),
			IsEnabled: l.State == glucose.StateActive, IsMonitoringSessionActive: l.PublisherMonitoring,
			Permissions: l.Permissions, State: int(l.State),
			SubscriberID: orZeroID(l.SubscriberID), SubscriptionID: l.ID,
		}
	}
	return jsonReply(items)
}

// POST Publisher/UpdateSubscriptionPermissions [observed]
// Query: sessionId, subscriptionId, permissions (integer; > 0 stored as 1).
// 200: void. Allowed in states 2, 6, 7, 8; otherwise SubscriptionNotActive.
func (a *API) updatePermissions(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	perms, ok, err := c.p.Int("permissions")
	if err != nil {
		return reply{}, err
	}
	if !ok {
		return reply{}, glucose.InvalidArgument("permissions is missing")
	}
	if err := a.svc.SetPermissions(c.ctx, c.acct.ID, id, perms, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST General/ReadSubscriptionAlerts [observed]
// Query: sessionId, subscriptionId. 200: the subscription's current
// AlertSettings. Callers: the publisher (any state) or the subscriber
// (docs/protocol.md, "Access rules"). Errors: SubscriptionIdNotFound, SubscriptionNotActive.
func (a *API) readSubscriptionAlerts(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	alerts, err := a.svc.SubscriptionAlerts(c.ctx, c.acct.ID, id, c.now)
	if err != nil {
		return reply{}, err
	}
	return jsonReply(alerts)
}

// POST General/PauseSubscription [observed]
// Query: sessionId, subscriptionId. 200: void. Publisher: 6 → 7.
// Subscriber: 6 → 8. Pausing a subscription the caller has already paused
// succeeds without change. Errors: SubscriptionIdNotFound;
// SubscriptionNotPausableState in any other state.
func (a *API) pauseSubscription(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.PauseSubscription(c.ctx, c.acct.ID, id, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// POST General/ResumeSubscription [observed]
// Query: sessionId, subscriptionId. 200: void. Publisher: 7 → 6.
// Subscriber: 8 → 6. Errors: SubscriptionIdNotFound; SubscriptionNotPaused
// in any other state, including a pause made by the other party.
func (a *API) resumeSubscription(c *call) (reply, error) {
	id, err := required(c.p, "subscriptionId")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.ResumeSubscription(c.ctx, c.acct.ID, id, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}

// decodeAlerts reads an AlertSettings object (docs/protocol.md, "Shared objects"): each of HighAlert,
// LowAlert, FixedLowAlert and NoDataAlert that is present and not null is
// one alert kind; member names are matched case-insensitively and unknown
// members ignored. Values are checked for type here and for meaning
// (docs/protocol.md, "Alert settings") in core.
func decodeAlerts(raw json.RawMessage) (core.AlertsInput, error) {
	var in core.AlertsInput
	if raw == nil {
		return in, nil
	}
	m, err := jsonObject(raw, "AlertSettings")
	if err != nil {
		return in, err
	}
	for _, k := range []struct {
		name string
		dst  **core.AlertInput
	}{{"HighAlert", &in.High}, {"LowAlert", &in.Low}, {"FixedLowAlert", &in.FixedLow}, {"NoDataAlert", &in.NoData}} {
		v := present(m, k.name)
		if v == nil {
			continue
		}
		if *k.dst, err = decodeAlert(k.name, v); err != nil {
			return in, err
		}
	}
	return in, nil
}

// jsonObject decodes the members of a JSON object named name.
func jsonObject(raw json.RawMessage, name string) (map[string]json.RawMessage, error) {
	if len(raw) == 0 || raw[0] != '{' {
		return nil, glucose.InvalidArgument("%s must be a JSON object", name)
	}
	m, err := objectMembers(raw)
	if err != nil {
		return nil, glucose.InvalidArgument("%s is not valid JSON", name)
	}
	return m, nil
}

// present returns a member by case-insensitive name, nil when it is absent
// or null.
func present(m map[string]json.RawMessage, name string) json.RawMessage {
	v := m[strings.ToLower(name)]
	if len(v) == 0 || bytes.Equal(v, []byte("null")) {
		return nil
	}
	return v
}

// decodeAlert reads one AlertSetting; AlertType is ignored, because the
// member name decides it (docs/protocol.md, "Alert settings").
func decodeAlert(name string, raw json.RawMessage) (*core.AlertInput, error) {
	m, err := jsonObject(raw, name)
	if err != nil {
		return nil, err
	}
	a := &core.AlertInput{}
	if v := present(m, "IsEnabled"); v != nil {
		b, ok := jsonBool(v)
		if !ok {
			return nil, glucose.InvalidArgument("%s.IsEnabled must be true or false", name)
		}
		a.IsEnabled = &b
	}
	for _, f := range []struct {
		field string
		dst   **int64
	}{{"MinValue", &a.MinValue}, {"MaxValue", &a.MaxValue}} {
		if v := present(m, f.field); v != nil {
			n, err := alertInteger(v)
			if err != nil {
				return nil, glucose.InvalidArgument("%s.%s must be an integer from 39 to 401", name, f.field)
			}
			*f.dst = &n
		}
	}
	for _, f := range []struct {
		field string
		dst   **string
	}{{"AlarmDelay", &a.AlarmDelay}, {"RealarmDelay", &a.RealarmDelay}, {"Sound", &a.Sound}} {
		if v := present(m, f.field); v != nil {
			var s string
			if v[0] != '"' || json.Unmarshal(v, &s) != nil {
				return nil, glucose.InvalidArgument("%s.%s must be a string", name, f.field)
			}
			*f.dst = &s
		}
	}
	return a, nil
}

// jsonBool reads true/false, "true"/"false" in any case, or 1/0 (docs/protocol.md, "Parameters").
func jsonBool(v json.RawMessage) (bool, bool) {
	s := string(v)
	if v[0] == '"' && json.Unmarshal(v, &s) != nil {
		return false, false
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true, true
	case "false", "0":
		return false, true
	}
	return false, false
}

// alertInteger reads a JSON number without fraction or a string of digits
// (docs/protocol.md, "Parameters").
func alertInteger(v json.RawMessage) (int64, error) {
	if v[0] != '"' {
		return jsonInteger(v)
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return 0, err
	}
	return decimalInteger(s)
}
