package shareapi

import (
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// POST Subscriber/ListSubscriptionAlarms [glucoshare]
// Query: sessionId, subscriptionId (optional: without it, all of the caller's
// subscriptions in states 6, 7, 8), minutes (default 1440, capped at 10080).
// 200: open alarms of any age plus cleared alarms triggered within minutes,
// newest TriggeredAt first.
func (a *API) listAlarms(c *call) (reply, error) {
	subID, _, _, err := c.p.String("subscriptionId")
	if err != nil {
		return reply{}, err
	}
	minutes := int64(1440)
	if n, ok, err := c.p.Int("minutes"); err != nil {
		return reply{}, err
	} else if ok {
		minutes = n
	}
	if minutes < 0 {
		return reply{}, glucose.InvalidArgument("minutes must not be negative")
	}
	alarms, err := a.svc.Alarms(c.ctx, c.acct.ID, subID, minutes, c.now)
	if err != nil {
		return reply{}, err
	}
	out := make([]core.AlarmJSON, len(alarms))
	for i, al := range alarms {
		out[i] = core.NewAlarmJSON(al)
	}
	return jsonReply(out)
}

// POST Subscriber/AcknowledgeSubscriptionAlarm [glucoshare]
// Query: sessionId, alarmId. 200: void. Active → Acknowledged
// (AcknowledgedAt = now); Acknowledged or Cleared → success, no change.
// Errors: AlarmIdNotFound.
func (a *API) acknowledgeAlarm(c *call) (reply, error) {
	id, _, _, err := c.p.String("alarmId")
	if err != nil {
		return reply{}, err
	}
	if err := a.svc.AcknowledgeAlarm(c.ctx, c.acct.ID, id, c.now); err != nil {
		return reply{}, err
	}
	return voidReply()
}
