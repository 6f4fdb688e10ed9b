package share

import (
	"context"
	"strconv"
)

// The Subscriber area (docs/protocol.md, "Subscriber"): what a follower does with the
// shares it accepted.

// ListSubscriberAccountSubscriptions lists the shares the account follows:
// active first, then paused, then cancelled
// (POST Subscriber/ListSubscriberAccountSubscriptions).
func (c *Client) ListSubscriberAccountSubscriptions(ctx context.Context) ([]SubscriberSubscription, error) {
	subs := []SubscriberSubscription{}
	err := c.callJSON(ctx, post("Subscriber/ListSubscriberAccountSubscriptions", nil, nil), &subs)
	return subs, err
}

// ReadSubscriptionLatestGlucoseValues returns a followed publisher's
// readings of the last minutes, newest first, at most maxCount
// (POST Subscriber/ReadSubscriptionLatestGlucoseValues).
func (c *Client) ReadSubscriptionLatestGlucoseValues(ctx context.Context, subscriptionID string, minutes, maxCount int) ([]Reading, error) {
	query := readQuery(minutes, maxCount)
	query.Set("subscriptionId", subscriptionID)
	rs := readingList{}
	err := c.callJSON(ctx, post("Subscriber/ReadSubscriptionLatestGlucoseValues", query, nil), &rs)
	return rs, err
}

// ReadLastGlucoseFromSubscriptions returns the newest reading of each
// subscription, in the order asked, at most 50
// (POST Subscriber/ReadLastGlucoseFromSubscriptions).
func (c *Client) ReadLastGlucoseFromSubscriptions(ctx context.Context, subscriptionIDs []string) ([]LastGlucose, error) {
	if subscriptionIDs == nil {
		subscriptionIDs = []string{}
	}
	out := []LastGlucose{}
	err := c.callJSON(ctx, post("Subscriber/ReadLastGlucoseFromSubscriptions", nil, mustJSON(subscriptionIDs)), &out)
	return out, err
}

// ReadInvitation returns an invitation (POST Subscriber/ReadInvitation).
func (c *Client) ReadInvitation(ctx context.Context, invitationID string) (Invitation, error) {
	var inv Invitation
	err := c.callJSON(ctx, post("Subscriber/ReadInvitation", q("invitationId", invitationID), nil), &inv)
	return inv, err
}

// AcceptInvitation accepts an invitation and returns the subscription id
// (POST Subscriber/AcceptInvitation).
func (c *Client) AcceptInvitation(ctx context.Context, invitationID string) (string, error) {
	return c.callID(ctx, post("Subscriber/AcceptInvitation", q("invitationId", invitationID), nil))
}

// RejectInvitation declines an invitation (POST Subscriber/RejectInvitation).
func (c *Client) RejectInvitation(ctx context.Context, invitationID string) error {
	return c.callVoid(ctx, post("Subscriber/RejectInvitation", q("invitationId", invitationID), nil))
}

// DeleteSubscription stops following (POST Subscriber/DeleteSubscription).
func (c *Client) DeleteSubscription(ctx context.Context, subscriptionID string) error {
	return c.callVoid(ctx, post("Subscriber/DeleteSubscription", q("subscriptionId", subscriptionID), nil))
}

// ReadSubscriptionDisplayName returns the name the publisher shares under
// (POST Subscriber/ReadSubscriptionDisplayName).
func (c *Client) ReadSubscriptionDisplayName(ctx context.Context, subscriptionID string) (string, error) {
	return c.callString(ctx, post("Subscriber/ReadSubscriptionDisplayName", q("subscriptionId", subscriptionID), nil))
}

// ReadSubscriptionImage returns the publisher's avatar
// (GET Subscriber/ReadSubscriptionImage); none answers ImageNotFound.
func (c *Client) ReadSubscriptionImage(ctx context.Context, subscriptionID string) (Image, error) {
	return c.image(ctx, get("Subscriber/ReadSubscriptionImage", q("subscriptionId", subscriptionID)))
}

// ReadSubscriptionAlertSettings returns the follower's alert settings
// (POST Subscriber/ReadSubscriptionAlertSettings).
func (c *Client) ReadSubscriptionAlertSettings(ctx context.Context, subscriptionID string) (AlertSettings, error) {
	var s AlertSettings
	err := c.callJSON(ctx, post("Subscriber/ReadSubscriptionAlertSettings", q("subscriptionId", subscriptionID), nil), &s)
	return s, err
}

// UpdateSubscriptionAlertSettings replaces the follower's four alert
// settings; the server normalises them as docs/protocol.md, "Alert settings" says
// (POST Subscriber/UpdateSubscriptionAlertSettings). Read, change and write
// back to change one member.
func (c *Client) UpdateSubscriptionAlertSettings(ctx context.Context, subscriptionID string, s AlertSettings) error {
	return c.callVoid(ctx, post("Subscriber/UpdateSubscriptionAlertSettings", q("subscriptionId", subscriptionID), mustJSON(s)))
}

// ListSubscriptionAlarms returns open alarms and alarms cleared within
// minutes, newest first; subscriptionID "" lists every followed share and
// minutes 0 uses the server's default of 1440
// (POST Subscriber/ListSubscriptionAlarms).
func (c *Client) ListSubscriptionAlarms(ctx context.Context, subscriptionID string, minutes int) ([]Alarm, error) {
	query := q()
	if subscriptionID != "" {
		query.Set("subscriptionId", subscriptionID)
	}
	if minutes > 0 {
		query.Set("minutes", strconv.Itoa(minutes))
	}
	alarms := []Alarm{}
	err := c.callJSON(ctx, post("Subscriber/ListSubscriptionAlarms", query, nil), &alarms)
	return alarms, err
}

// AcknowledgeSubscriptionAlarm acknowledges an alarm
// (POST Subscriber/AcknowledgeSubscriptionAlarm).
func (c *Client) AcknowledgeSubscriptionAlarm(ctx context.Context, alarmID string) error {
	return c.callVoid(ctx, post("Subscriber/AcknowledgeSubscriptionAlarm", q("alarmId", alarmID), nil))
}

// UpdateSubscriberAccountRuntimeInfo records the follower's device
// (POST Subscriber/UpdateSubscriberAccountRuntimeInfo).
func (c *Client) UpdateSubscriberAccountRuntimeInfo(ctx context.Context, info RuntimeInfo) error {
	body := mustJSON(map[string]RuntimeInfo{"runtimeInfo": info})
	return c.callVoid(ctx, post("Subscriber/UpdateSubscriberAccountRuntimeInfo", nil, body))
}
