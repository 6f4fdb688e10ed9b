package share

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"net/url"
	"strconv"
)

// The Publisher area (docs/protocol.md, "Publisher: session, receiver and monitoring" to "Publisher: contacts and followers"): session and password,
// receiver and monitoring, glucose, profile, contacts and followers.

// LogoutPublisherAccount ends the client's session on the server
// (POST Publisher/LogoutPublisherAccount) and forgets it; the next call
// logs in again. Without a session it does nothing.
func (c *Client) LogoutPublisherAccount(ctx context.Context) error {
	sid := c.SessionID()
	if sid == "" {
		return nil
	}
	if _, err := c.send(ctx, post("Publisher/LogoutPublisherAccount", q("sessionId", sid), nil)); err != nil {
		return err
	}
	c.mu.Lock()
	if c.session == sid {
		c.session = ""
	}
	c.mu.Unlock()
	return nil
}

// ChangePublisherAccountPassword changes the account's password; the
// server ends every other session of the account
// (POST Publisher/ChangePublisherAccountPassword). The client logs in with
// the new password from then on.
func (c *Client) ChangePublisherAccountPassword(ctx context.Context, oldPassword, newPassword string) error {
	body := mustJSON(map[string]string{"oldPassword": oldPassword, "newPassword": newPassword})
	if err := c.callVoid(ctx, post("Publisher/ChangePublisherAccountPassword", nil, body)); err != nil {
		return err
	}
	c.mu.Lock()
	c.secret = newPassword
	c.mu.Unlock()
	return nil
}

// CheckMonitoredReceiverAssignmentStatus says who holds a serial number
// (POST Publisher/CheckMonitoredReceiverAssignmentStatus).
func (c *Client) CheckMonitoredReceiverAssignmentStatus(ctx context.Context, serial string) (AssignmentStatus, error) {
	s, err := c.callString(ctx, post("Publisher/CheckMonitoredReceiverAssignmentStatus", q("serialNumber", serial), nil))
	return AssignmentStatus(s), err
}

// ReplacePublisherAccountMonitoredReceiver assigns a serial number to the
// account and returns the receiver id
// (POST Publisher/ReplacePublisherAccountMonitoredReceiver).
func (c *Client) ReplacePublisherAccountMonitoredReceiver(ctx context.Context, serial string) (string, error) {
	return c.callID(ctx, post("Publisher/ReplacePublisherAccountMonitoredReceiver", q("serialNumber", serial), nil))
}

// GetMonitoredReceiverIDIfEnabled returns the receiver id when a receiver
// is assigned and monitoring is on; ok is false when the server answers the
// zero id (POST Publisher/GetMonitoredReceiverIdIfEnabled).
func (c *Client) GetMonitoredReceiverIDIfEnabled(ctx context.Context) (id string, ok bool, err error) {
	const ep = "Publisher/GetMonitoredReceiverIdIfEnabled"
	resp, err := c.call(ctx, post(ep, nil, nil))
	if err != nil {
		return "", false, err
	}
	id, err = decodeID(ep, resp.body)
	if errors.Is(err, ErrInvalidID) && bytes.Contains(resp.body, []byte(ZeroID)) {
		return "", false, nil
	}
	return id, err == nil, err
}

// StopMonitoringReceiver turns monitoring off and releases the receiver
// (POST Publisher/StopMonitoringReceiver).
func (c *Client) StopMonitoringReceiver(ctx context.Context, receiverID string) error {
	return c.callVoid(ctx, post("Publisher/StopMonitoringReceiver", q("monitoredReceiverId", receiverID), nil))
}

// IsRemoteMonitoringSessionActive returns the account's monitoring flag
// (POST Publisher/IsRemoteMonitoringSessionActive).
func (c *Client) IsRemoteMonitoringSessionActive(ctx context.Context) (bool, error) {
	return c.callBool(ctx, post("Publisher/IsRemoteMonitoringSessionActive", nil, nil))
}

// StartRemoteMonitoringSession turns monitoring on for serial, assigning it
// first when the account has no receiver
// (POST Publisher/StartRemoteMonitoringSession).
func (c *Client) StartRemoteMonitoringSession(ctx context.Context, serial string) error {
	return c.callVoid(ctx, post("Publisher/StartRemoteMonitoringSession", q("serialNumber", serial), nil))
}

// StopRemoteMonitoringSession turns monitoring off
// (POST Publisher/StopRemoteMonitoringSession).
func (c *Client) StopRemoteMonitoringSession(ctx context.Context) error {
	return c.callVoid(ctx, post("Publisher/StopRemoteMonitoringSession", nil, nil))
}

// UpdatePublisherAccountRuntimeInfo records the uploading device
// (POST Publisher/UpdatePublisherAccountRuntimeInfo).
func (c *Client) UpdatePublisherAccountRuntimeInfo(ctx context.Context, info RuntimeInfo) error {
	body := mustJSON(map[string]RuntimeInfo{"runtimeInfo": info})
	return c.callVoid(ctx, post("Publisher/UpdatePublisherAccountRuntimeInfo", nil, body))
}

// MaxEGVsPerPost is the most readings one PostReceiverEgvRecords may carry
// (docs/protocol.md, "Publisher: glucose").
const MaxEGVsPerPost = 10000

// PostReceiverEgvRecords uploads readings for the receiver serial
// (POST Publisher/PostReceiverEgvRecords). Readings are sent the way the
// official uploader sends them, so that both glucoshare and the hosted
// service keep each reading's UTC offset: ST the instant, DT the local wall
// time written as if it were UTC, Trend an integer. Readings the server
// already has are skipped silently; a *CallError with CodeFutureEgvPosted
// means readings ahead of the server's clock were dropped and the others
// stored; CodeMonitoringSessionNotActive asks for
// StartRemoteMonitoringSession first.
func (c *Client) PostReceiverEgvRecords(ctx context.Context, serial string, readings []Reading) error {
	return c.callVoid(ctx, post("Publisher/PostReceiverEgvRecords", nil, egvPostBody(serial, readings)))
}

// egvPostBody builds {"SN":…,"Egvs":[…],"TA":0} without a reflection pass
// per reading: uploads carry up to 10,000 of them.
func egvPostBody(serial string, readings []Reading) []byte {
	b := make([]byte, 0, 32+len(readings)*90)
	b = append(b, `{"SN":`...)
	b = appendJSONString(b, serial)
	b = append(b, `,"Egvs":[`...)
	for i, r := range readings {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"DT":"/Date(`...)
		b = strconv.AppendInt(b, r.ST+int64(r.Offset)*60_000, 10)
		b = append(b, `)/","ST":"/Date(`...)
		b = strconv.AppendInt(b, r.ST, 10)
		b = append(b, `)/","Trend":`...)
		b = strconv.AppendInt(b, int64(r.Trend.normal()), 10)
		b = append(b, `,"Value":`...)
		b = strconv.AppendInt(b, int64(r.Value), 10)
		b = append(b, '}')
	}
	return append(b, `],"TA":0}`...)
}

// ReadPublisherLatestGlucoseValues returns the account's readings of the
// last minutes, newest first, at most maxCount
// (POST Publisher/ReadPublisherLatestGlucoseValues). glucoshare caps the
// two at 10080 and 2016; the hosted service is known to serve 1440 and 288.
func (c *Client) ReadPublisherLatestGlucoseValues(ctx context.Context, minutes, maxCount int) ([]Reading, error) {
	rs := readingList{}
	err := c.callJSON(ctx, post("Publisher/ReadPublisherLatestGlucoseValues", readQuery(minutes, maxCount), nil), &rs)
	return rs, err
}

// LatestReading returns the account's newest reading of the last 24 hours,
// or ErrNoReadings.
func (c *Client) LatestReading(ctx context.Context) (Reading, error) {
	rs, err := c.ReadPublisherLatestGlucoseValues(ctx, 1440, 1)
	if err != nil {
		return Reading{}, err
	}
	if len(rs) == 0 {
		return Reading{}, ErrNoReadings
	}
	return rs[0], nil
}

func readQuery(minutes, maxCount int) url.Values {
	return q("minutes", strconv.Itoa(minutes), "maxCount", strconv.Itoa(maxCount))
}

// ReadPublisherAccountDisplayName returns the account's display name
// (POST Publisher/ReadPublisherAccountDisplayName).
func (c *Client) ReadPublisherAccountDisplayName(ctx context.Context) (string, error) {
	return c.callString(ctx, post("Publisher/ReadPublisherAccountDisplayName", nil, nil))
}

// UpdatePublisherAccountDisplayName sets the display name
// (POST Publisher/UpdatePublisherAccountDisplayName).
func (c *Client) UpdatePublisherAccountDisplayName(ctx context.Context, name string) error {
	return c.callVoid(ctx, post("Publisher/UpdatePublisherAccountDisplayName", q("displayName", name), nil))
}

// ReadPublisherAccountEmail returns the account's e-mail address
// (POST Publisher/ReadPublisherAccountEmail).
func (c *Client) ReadPublisherAccountEmail(ctx context.Context) (string, error) {
	return c.callString(ctx, post("Publisher/ReadPublisherAccountEmail", nil, nil))
}

// UpdatePublisherAccountEmail sets the e-mail address
// (POST Publisher/UpdatePublisherAccountEmail).
func (c *Client) UpdatePublisherAccountEmail(ctx context.Context, email string) error {
	return c.callVoid(ctx, post("Publisher/UpdatePublisherAccountEmail", q("emailAddress", email), nil))
}

// ReadPublisherAccountImage returns the account's avatar
// (GET Publisher/ReadPublisherAccountImage); none answers ImageNotFound.
func (c *Client) ReadPublisherAccountImage(ctx context.Context) (Image, error) {
	return c.image(ctx, get("Publisher/ReadPublisherAccountImage", nil))
}

func (c *Client) image(ctx context.Context, req request) (Image, error) {
	resp, err := c.call(ctx, req)
	if err != nil {
		return Image{}, err
	}
	ct := resp.header.Get("Content-Type")
	if ct == "" {
		ct = http.DetectContentType(resp.body)
	}
	return Image{ContentType: ct, Data: resp.body}, nil
}

// UpdatePublisherAccountImage stores a PNG or JPEG avatar of at most 256 KiB;
// empty data removes it (POST Publisher/UpdatePublisherAccountImage). The
// bytes travel as an integer array, as the official uploader sends them.
func (c *Client) UpdatePublisherAccountImage(ctx context.Context, data []byte) error {
	kind := ""
	switch {
	case bytes.HasPrefix(data, []byte("\x89PNG\r\n\x1a\n")):
		kind = "png"
	case bytes.HasPrefix(data, []byte{0xff, 0xd8, 0xff}):
		kind = "jpeg"
	case len(data) > 0:
		return errors.New("share: the image must be PNG or JPEG")
	}
	b := make([]byte, 0, 40+len(data)*4)
	b = append(b, `{"ImageType":`...)
	b = appendJSONString(b, kind)
	b = append(b, `,"ImageData":[`...)
	for i, x := range data {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(x), 10)
	}
	b = append(b, "]}"...)
	return c.callVoid(ctx, post("Publisher/UpdatePublisherAccountImage", nil, b))
}

// DoesContactExistByName reports whether the account has a contact of that
// name (POST Publisher/DoesContactExistByName).
func (c *Client) DoesContactExistByName(ctx context.Context, name string) (bool, error) {
	return c.callBool(ctx, post("Publisher/DoesContactExistByName", q("contactName", name), nil))
}

// CreateContact creates a contact and returns its id; email may be empty
// (POST Publisher/CreateContact).
func (c *Client) CreateContact(ctx context.Context, name, email string) (string, error) {
	query := q("contactName", name)
	if email != "" {
		query.Set("emailAddress", email)
	}
	return c.callID(ctx, post("Publisher/CreateContact", query, nil))
}

// ReadContact returns a contact (POST Publisher/ReadContact).
func (c *Client) ReadContact(ctx context.Context, contactID string) (Contact, error) {
	var ct Contact
	err := c.callJSON(ctx, post("Publisher/ReadContact", q("contactId", contactID), nil), &ct)
	return ct, err
}

// UpdateContactName renames a contact (POST Publisher/UpdateContactName).
func (c *Client) UpdateContactName(ctx context.Context, contactID, name string) error {
	return c.callVoid(ctx, post("Publisher/UpdateContactName", q("contactId", contactID, "contactName", name), nil))
}

// DeleteContact deletes a contact and cancels its subscription
// (POST Publisher/DeleteContact).
func (c *Client) DeleteContact(ctx context.Context, contactID string) error {
	return c.callVoid(ctx, post("Publisher/DeleteContact", q("contactId", contactID), nil))
}

// CreateSubscriptionInvitation invites a contact to follow and returns the
// new subscription id (POST Publisher/CreateSubscriptionInvitation). The
// follower needs the invitation id: ReadSubscriptionInviteID.
func (c *Client) CreateSubscriptionInvitation(ctx context.Context, contactID string, inv Invite) (string, error) {
	body := struct {
		AlertSettings *AlertSettings `json:"AlertSettings,omitempty"`
		Permissions   Permissions    `json:"Permissions"`
		DisplayName   string         `json:"DisplayName,omitempty"`
	}{inv.AlertSettings, PermissionHistory, inv.DisplayName}
	if inv.CurrentValueOnly {
		body.Permissions = PermissionCurrentValue
	}
	return c.callID(ctx, post("Publisher/CreateSubscriptionInvitation", q("contactId", contactID), mustJSON(body)))
}

// ReadSubscriptionInviteID returns a subscription's invitation id
// (POST Publisher/ReadSubscriptionInviteId).
func (c *Client) ReadSubscriptionInviteID(ctx context.Context, subscriptionID string) (string, error) {
	return c.callID(ctx, post("Publisher/ReadSubscriptionInviteId", q("subscriptionId", subscriptionID), nil))
}

// ListPublisherAccountSubscriptions lists the account's followers, one per
// contact with a subscription (POST Publisher/ListPublisherAccountSubscriptions).
func (c *Client) ListPublisherAccountSubscriptions(ctx context.Context) ([]PublisherSubscription, error) {
	subs := []PublisherSubscription{}
	err := c.callJSON(ctx, post("Publisher/ListPublisherAccountSubscriptions", nil, nil), &subs)
	return subs, err
}

// UpdateSubscriptionPermissions sets what a follower may read
// (POST Publisher/UpdateSubscriptionPermissions).
func (c *Client) UpdateSubscriptionPermissions(ctx context.Context, subscriptionID string, p Permissions) error {
	query := q("subscriptionId", subscriptionID, "permissions", strconv.Itoa(int(p)))
	return c.callVoid(ctx, post("Publisher/UpdateSubscriptionPermissions", query, nil))
}
