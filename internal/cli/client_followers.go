package cli

// The follower commands: "followers" for the publisher who shares, "follow"
// for the account that follows (docs/protocol.md, "Publisher: contacts and followers" to "Subscriber", "Follower state machine").

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

// subcommands dispatches "<command> <sub> …" like account does.
func subcommands(ctx context.Context, name, usage string, args []string, env Env, subs map[string]func(context.Context, []string, Env) error) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, usage)
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand", errUsage)
		}
		return nil
	}
	sub := subs[args[0]]
	if sub == nil {
		return fmt.Errorf("%w: unknown subcommand %q (see glucoshare %s --help)", errUsage, args[0], name)
	}
	return sub(ctx, args[1:], env)
}

const followersUsage = `Usage: glucoshare followers <subcommand> [flags]

Manages the people who follow your readings.

Subcommands:
  list          list followers and invitations
  invite NAME   invite a person; prints the invitation id to give them
  permissions FOLLOWER history|current
                let a follower see the history, or the current value only
  pause FOLLOWER    stop sharing with a follower for now
  resume FOLLOWER   share again
  remove FOLLOWER   stop sharing for good and delete the contact

FOLLOWER is a contact name (as listed), a contact id or a subscription id.
Every subcommand takes the server and account flags of glucoshare login.
`

func runFollowers(ctx context.Context, args []string, env Env) error {
	return subcommands(ctx, "followers", followersUsage, args, env, map[string]func(context.Context, []string, Env) error{
		"list": followersList, "invite": followersInvite, "permissions": followersPermissions,
		"pause": followersPause, "resume": followersResume, "remove": followersRemove,
	})
}

func followersList(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var format string
	fs := flagSet("followers list", "Usage: glucoshare followers list [--format table|json] [flags]\n\nLists followers and invitations.\n"+clientFlagsHelp, env)
	fs.StringVar(&format, "format", "table", "output format: table or json")
	c, _, err := clientCommand(fs, &f, args, env, 0)
	if err != nil {
		return err
	}
	if err := checkFormat(format, "table", "json"); err != nil {
		return err
	}
	subs, err := c.ListPublisherAccountSubscriptions(ctx)
	if err != nil {
		return describeClientError(err)
	}
	if format == "json" {
		return writeJSON(env.Stdout, publisherSubsJSON(subs))
	}
	rows := [][]string{}
	for _, s := range subs {
		expires := "-"
		if s.State == share.StateInviteWaiting {
			expires = dateTime(s.InviteExpires)
		}
		rows = append(rows, []string{s.ContactName, stateText(s.State), s.Permissions.String(), expires, s.SubscriptionID})
	}
	if len(subs) == 0 {
		fmt.Fprintln(env.Stderr, "No followers yet; invite one with glucoshare followers invite NAME.")
	}
	return newOutput(env, format, "").table([]string{"CONTACT", "STATE", "SEES", "INVITE EXPIRES", "SUBSCRIPTION ID"}, rows)
}

// stateText describes a subscription state for people.
func stateText(s share.SubscriptionState) string {
	switch s {
	case share.StateInviteWaiting:
		return "invited"
	case share.StateInviteRejected:
		return "declined"
	case share.StateInviteExpired:
		return "invitation expired"
	case share.StateActive:
		return "following"
	case share.StatePausedByPublisher:
		return "paused by you"
	case share.StatePausedBySubscriber:
		return "paused by follower"
	case share.StateCanceledByPublisher, share.StateCanceledBySubscriber, share.StateCanceledByBoth, share.StateAbandonedBySubscriber:
		return "ended"
	}
	return s.String()
}

// publisherSubJSON is a follower in --format json.
type publisherSubJSON struct {
	ContactID      string `json:"contactId"`
	Contact        string `json:"contact"`
	SubscriptionID string `json:"subscriptionId"`
	State          string `json:"state"`
	StateNumber    int    `json:"stateNumber"`
	History        bool   `json:"history"`
	DisplayName    string `json:"displayName"`
	SubscriberID   string `json:"subscriberId,omitempty"`
	InviteExpires  string `json:"inviteExpires"`
	Created        string `json:"created"`
	Modified       string `json:"modified"`
}

func publisherSubsJSON(subs []share.PublisherSubscription) []publisherSubJSON {
	out := make([]publisherSubJSON, len(subs))
	for i, s := range subs {
		sub := s.SubscriberID
		if sub == share.ZeroID {
			sub = ""
		}
		out[i] = publisherSubJSON{
			ContactID: s.ContactID, Contact: s.ContactName, SubscriptionID: s.SubscriptionID,
			State: s.State.String(), StateNumber: int(s.State), History: s.Permissions > 0, DisplayName: s.DisplayName,
			SubscriberID: sub, InviteExpires: rfc3339(s.InviteExpires), Created: rfc3339(s.DateTimeCreated), Modified: rfc3339(s.DateTimeModified),
		}
	}
	return out
}

func rfc3339(d share.DateTime) string { return d.Time().Format(time.RFC3339) }

const inviteUsage = `Usage: glucoshare followers invite NAME [--email E] [--display-name D] [--current-only] [flags]

Invites a person to follow your readings and prints the invitation id. Give it
to them; they accept with glucoshare follow accept ID (or in a follower app).
Inviting a name again replaces its waiting invitation.
` + clientFlagsHelp

func followersInvite(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var email, display, format string
	var currentOnly bool
	fs := flagSet("followers invite", inviteUsage, env)
	fs.StringVar(&email, "email", "", "the person's e-mail address")
	fs.StringVar(&display, "display-name", "", "the name the follower sees you as (default: your display name)")
	fs.BoolVar(&currentOnly, "current-only", false, "let the follower see the current value only, not the history")
	fs.StringVar(&format, "format", "text", "output format: text or json")
	c, rest, err := clientCommand(fs, &f, args, env, 1)
	if err != nil {
		return err
	}
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	name := rest[0]
	contactID, created, err := contactFor(ctx, c, name, email)
	if err != nil {
		return describeClientError(err)
	}
	subID, err := c.CreateSubscriptionInvitation(ctx, contactID, share.Invite{DisplayName: display, CurrentValueOnly: currentOnly})
	if err != nil {
		if created { // do not leave a contact without an invitation behind
			c.DeleteContact(ctx, contactID)
		}
		return describeClientError(err)
	}
	invID, err := c.ReadSubscriptionInviteID(ctx, subID)
	if err != nil {
		return describeClientError(err)
	}
	if format == "json" {
		return writeJSON(env.Stdout, struct {
			ContactID      string `json:"contactId"`
			SubscriptionID string `json:"subscriptionId"`
			InvitationID   string `json:"invitationId"`
		}{contactID, subID, invID})
	}
	fmt.Fprintf(env.Stdout, "Invited %s. Invitation id: %s\nThey accept with: glucoshare follow accept %s\n", name, invID, invID)
	return nil
}

// contactFor creates a contact, or finds the existing one of that name
// (LoopKit does the same on ContactNameAlreadyExists).
func contactFor(ctx context.Context, c *share.Client, name, email string) (id string, created bool, err error) {
	id, err = c.CreateContact(ctx, name, email)
	if err == nil {
		return id, true, nil
	}
	if !errors.Is(err, &share.Error{Code: share.CodeContactNameAlreadyExists}) {
		return "", false, err
	}
	subs, lerr := c.ListPublisherAccountSubscriptions(ctx)
	if lerr != nil {
		return "", false, lerr
	}
	for _, s := range subs {
		if strings.EqualFold(strings.TrimSpace(s.ContactName), strings.TrimSpace(name)) {
			return s.ContactID, false, nil
		}
	}
	return "", false, err
}

// findFollower resolves a contact name, contact id or subscription id.
func findFollower(ctx context.Context, c *share.Client, ref string) (share.PublisherSubscription, error) {
	subs, err := c.ListPublisherAccountSubscriptions(ctx)
	if err != nil {
		return share.PublisherSubscription{}, describeClientError(err)
	}
	id, isID := share.ParseID(ref)
	for _, s := range subs {
		if isID && (s.ContactID == id || s.SubscriptionID == id) || strings.EqualFold(strings.TrimSpace(s.ContactName), strings.TrimSpace(ref)) {
			return s, nil
		}
	}
	return share.PublisherSubscription{}, fmt.Errorf("no follower %q (see glucoshare followers list)", ref)
}

// followerAction runs one of the one-follower subcommands.
func followerAction(ctx context.Context, name, usage string, args []string, env Env, nargs int,
	act func(c *share.Client, s share.PublisherSubscription, rest []string) (string, error)) error {
	var f clientFlags
	fs := flagSet("followers "+name, usage+clientFlagsHelp, env)
	c, rest, err := clientCommand(fs, &f, args, env, nargs)
	if err != nil {
		return err
	}
	s, err := findFollower(ctx, c, rest[0])
	if err != nil {
		return err
	}
	msg, err := act(c, s, rest[1:])
	if err != nil {
		return describeClientError(err)
	}
	fmt.Fprintln(env.Stdout, msg)
	return nil
}

func followersPermissions(ctx context.Context, args []string, env Env) error {
	return followerAction(ctx, "permissions", "Usage: glucoshare followers permissions FOLLOWER history|current [flags]\n\nSets whether a follower sees the history or the current value only.\n",
		args, env, 2, func(c *share.Client, s share.PublisherSubscription, rest []string) (string, error) {
			var p share.Permissions
			switch rest[0] {
			case "history":
				p = share.PermissionHistory
			case "current":
				p = share.PermissionCurrentValue
			default:
				return "", fmt.Errorf("%w: want history or current, not %q", errUsage, rest[0])
			}
			if err := c.UpdateSubscriptionPermissions(ctx, s.SubscriptionID, p); err != nil {
				return "", err
			}
			return fmt.Sprintf("%s now sees the %s.", s.ContactName, p), nil
		})
}

func followersPause(ctx context.Context, args []string, env Env) error {
	return followerAction(ctx, "pause", "Usage: glucoshare followers pause FOLLOWER [flags]\n\nStops sharing with a follower until resumed.\n",
		args, env, 1, func(c *share.Client, s share.PublisherSubscription, _ []string) (string, error) {
			return "Paused sharing with " + s.ContactName + ".", c.PauseSubscription(ctx, s.SubscriptionID)
		})
}

func followersResume(ctx context.Context, args []string, env Env) error {
	return followerAction(ctx, "resume", "Usage: glucoshare followers resume FOLLOWER [flags]\n\nShares again with a follower you paused.\n",
		args, env, 1, func(c *share.Client, s share.PublisherSubscription, _ []string) (string, error) {
			return "Resumed sharing with " + s.ContactName + ".", c.ResumeSubscription(ctx, s.SubscriptionID)
		})
}

func followersRemove(ctx context.Context, args []string, env Env) error {
	return followerAction(ctx, "remove", "Usage: glucoshare followers remove FOLLOWER [flags]\n\nStops sharing for good and deletes the contact.\n",
		args, env, 1, func(c *share.Client, s share.PublisherSubscription, _ []string) (string, error) {
			return "Removed " + s.ContactName + ".", c.DeleteContact(ctx, s.ContactID)
		})
}

const followUsage = `Usage: glucoshare follow <subcommand> [flags]

Follows other people's readings, with your own account.

Subcommands:
  invitations ID...  show invitations you were given
  accept ID          accept an invitation
  reject ID          decline an invitation
  list               list the people you follow
  read [WHO]         everyone's newest reading, or WHO's readings
  alarms [WHO]       open and recent alarms
  ack ALARM_ID...    acknowledge alarms
  leave WHO          stop following

WHO is a name as listed or a subscription id. Every subcommand takes the
server and account flags of glucoshare login.
`

func runFollow(ctx context.Context, args []string, env Env) error {
	return subcommands(ctx, "follow", followUsage, args, env, map[string]func(context.Context, []string, Env) error{
		"invitations": followInvitations, "accept": followAccept, "reject": followReject, "list": followList,
		"read": followRead, "alarms": followAlarms, "ack": followAck, "leave": followLeave,
	})
}

func followInvitations(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var format string
	fs := flagSet("follow invitations", "Usage: glucoshare follow invitations ID... [--format text|json] [flags]\n\nShows invitations by their ids.\n"+clientFlagsHelp, env)
	fs.StringVar(&format, "format", "text", "output format: text or json")
	c, ids, err := clientCommand(fs, &f, args, env, -1)
	if err != nil {
		return err
	}
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: name at least one invitation id", errUsage)
	}
	var invs []invitationJSON
	for _, id := range ids {
		inv, err := c.ReadInvitation(ctx, id)
		if err != nil {
			return describeClientError(err)
		}
		invs = append(invs, invitationJSON{inv.InvitationID, inv.DisplayName, inv.State.String(), inv.Permissions > 0, rfc3339(inv.InviteExpires)})
		if format == "text" {
			sees := "their history"
			if inv.Permissions == share.PermissionCurrentValue {
				sees = "their current value only"
			}
			fmt.Fprintf(env.Stdout, "%s invites you to follow them and see %s.\n  Invitation %s: %s, %s %s.\n",
				inv.DisplayName, sees, inv.InvitationID, invitationState(inv.State), inviteVerb(inv.State), dateTime(inv.InviteExpires))
		}
	}
	if format == "json" {
		return writeJSON(env.Stdout, invs)
	}
	return nil
}

func inviteVerb(s share.SubscriptionState) string {
	if s == share.StateInviteWaiting {
		return "valid until"
	}
	return "was valid until"
}

// invitationState describes an invitation by its subscription's state.
func invitationState(s share.SubscriptionState) string {
	switch s {
	case share.StateInviteWaiting:
		return "waiting"
	case share.StateInviteFailed:
		return "failed"
	case share.StateInviteRejected:
		return "declined"
	case share.StateInviteExpired:
		return "expired"
	case share.StateActive, share.StatePausedByPublisher, share.StatePausedBySubscriber:
		return "accepted"
	case share.StateCanceledByPublisher:
		return "cancelled"
	}
	return "ended"
}

// invitationJSON is an invitation in --format json.
type invitationJSON struct {
	InvitationID  string `json:"invitationId"`
	From          string `json:"from"`
	State         string `json:"state"`
	History       bool   `json:"history"`
	InviteExpires string `json:"inviteExpires"`
}

func followAccept(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	fs := flagSet("follow accept", "Usage: glucoshare follow accept ID [flags]\n\nAccepts an invitation and prints the subscription id.\n"+clientFlagsHelp, env)
	c, rest, err := clientCommand(fs, &f, args, env, 1)
	if err != nil {
		return err
	}
	inv, err := c.ReadInvitation(ctx, rest[0])
	if err != nil {
		return describeClientError(err)
	}
	sub, err := c.AcceptInvitation(ctx, rest[0])
	if err != nil {
		return describeClientError(err)
	}
	fmt.Fprintf(env.Stdout, "You now follow %s (subscription %s).\n", inv.DisplayName, sub)
	return nil
}

func followReject(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	fs := flagSet("follow reject", "Usage: glucoshare follow reject ID [flags]\n\nDeclines an invitation.\n"+clientFlagsHelp, env)
	c, rest, err := clientCommand(fs, &f, args, env, 1)
	if err != nil {
		return err
	}
	if err := c.RejectInvitation(ctx, rest[0]); err != nil {
		return describeClientError(err)
	}
	fmt.Fprintln(env.Stdout, "Invitation declined.")
	return nil
}

func followList(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var format string
	fs := flagSet("follow list", "Usage: glucoshare follow list [--format table|json] [flags]\n\nLists the people you follow.\n"+clientFlagsHelp, env)
	fs.StringVar(&format, "format", "table", "output format: table or json")
	c, _, err := clientCommand(fs, &f, args, env, 0)
	if err != nil {
		return err
	}
	if err := checkFormat(format, "table", "json"); err != nil {
		return err
	}
	subs, err := c.ListSubscriberAccountSubscriptions(ctx)
	if err != nil {
		return describeClientError(err)
	}
	if format == "json" {
		out := make([]map[string]any, len(subs))
		for i, s := range subs {
			out[i] = map[string]any{"subscriptionId": s.SubscriptionID, "name": s.DisplayName, "state": s.State.String(),
				"stateNumber": int(s.State), "history": s.Permissions > 0, "monitoring": s.IsMonitoringSessionActive}
		}
		return writeJSON(env.Stdout, out)
	}
	rows := [][]string{}
	for _, s := range subs {
		sharing := "yes"
		if !s.IsMonitoringSessionActive {
			sharing = "no"
		}
		rows = append(rows, []string{s.DisplayName, followState(s.State), s.Permissions.String(), sharing, s.SubscriptionID})
	}
	if len(subs) == 0 {
		fmt.Fprintln(env.Stderr, "You follow nobody yet; accept an invitation with glucoshare follow accept ID.")
	}
	return newOutput(env, format, "").table([]string{"NAME", "STATE", "SEES", "SHARING", "SUBSCRIPTION ID"}, rows)
}

// followState describes a state from the follower's side.
func followState(s share.SubscriptionState) string {
	switch s {
	case share.StatePausedByPublisher:
		return "paused by them"
	case share.StatePausedBySubscriber:
		return "paused by you"
	}
	return stateText(s)
}

// findShare resolves a display name or subscription id among the shares
// the account follows.
func findShare(ctx context.Context, c *share.Client, ref string) (share.SubscriberSubscription, error) {
	subs, err := c.ListSubscriberAccountSubscriptions(ctx)
	if err != nil {
		return share.SubscriberSubscription{}, describeClientError(err)
	}
	id, isID := share.ParseID(ref)
	for _, s := range subs {
		if isID && s.SubscriptionID == id || strings.EqualFold(strings.TrimSpace(s.DisplayName), strings.TrimSpace(ref)) {
			return s, nil
		}
	}
	return share.SubscriberSubscription{}, fmt.Errorf("you follow nobody called %q (see glucoshare follow list)", ref)
}

const followReadUsage = `Usage: glucoshare follow read [WHO] [--minutes N] [--max-count N] [--format table|json|csv] [flags]

Without WHO, prints the newest reading of everyone you follow. With WHO, prints
their readings like glucoshare readings does.
` + clientFlagsHelp

func followRead(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	fs := flagSet("follow read", followReadUsage, env)
	rf := readFlags(fs)
	c, rest, err := clientCommand(fs, &f, args, env, -1)
	if err != nil {
		return err
	}
	if len(rest) > 1 {
		return fmt.Errorf("%w: name at most one person", errUsage)
	}
	o, err := readOutput(env, rf.format, rf.units, rf.minutes, rf.maxCount, "table", "json", "csv")
	if err != nil {
		return err
	}
	if len(rest) == 1 {
		s, err := findShare(ctx, c, rest[0])
		if err != nil {
			return err
		}
		rs, err := c.ReadSubscriptionLatestGlucoseValues(ctx, s.SubscriptionID, rf.minutes, rf.maxCount)
		if err != nil {
			return describeClientError(err)
		}
		return o.writeReadings(rs)
	}
	subs, err := c.ListSubscriberAccountSubscriptions(ctx)
	if err != nil {
		return describeClientError(err)
	}
	ids := make([]string, len(subs))
	for i, s := range subs {
		ids[i] = s.SubscriptionID
	}
	last, err := c.ReadLastGlucoseFromSubscriptions(ctx, ids)
	if err != nil {
		return describeClientError(err)
	}
	return o.writeLastGlucose(subs, last, time.Now())
}

// writeLastGlucose prints everyone's newest reading.
func (o *output) writeLastGlucose(subs []share.SubscriberSubscription, last []share.LastGlucose, now time.Time) error {
	names := map[string]string{}
	for _, s := range subs {
		names[s.SubscriptionID] = s.DisplayName
	}
	if o.format != "table" {
		type item struct {
			SubscriptionID string      `json:"subscriptionId"`
			Name           string      `json:"name"`
			Reading        *readingOut `json:"reading"`
		}
		items := make([]item, len(last))
		for i, l := range last {
			items[i] = item{SubscriptionID: l.SubscriptionID, Name: names[l.SubscriptionID]}
			if l.Egv != nil {
				j := toJSON(*l.Egv)
				items[i].Reading = &j
			}
		}
		if o.format == "csv" {
			fmt.Fprintln(o.w, "name,subscription_id,time,value,trend")
			for _, it := range items {
				if r := it.Reading; r != nil {
					fmt.Fprintf(o.w, "%s,%s,%s,%d,%s\n", csvField(it.Name), it.SubscriptionID, r.Time, r.Value, r.Trend)
				} else {
					fmt.Fprintf(o.w, "%s,%s,,,\n", csvField(it.Name), it.SubscriptionID)
				}
			}
			return nil
		}
		return writeJSON(o.w, items)
	}
	rows := [][]string{}
	for _, l := range last {
		if l.Egv == nil {
			rows = append(rows, []string{names[l.SubscriptionID], "-", "", "no reading available"})
			continue
		}
		r := *l.Egv
		rows = append(rows, []string{names[l.SubscriptionID], o.paint(r.Value, o.value(r.Value)),
			strings.TrimSpace(r.Trend.Arrow() + " " + r.Trend.String()), ago(r.Time(), now)})
	}
	return o.table([]string{"NAME", unitHeader(o.units), "TREND", "WHEN"}, rows)
}

// csvField quotes a CSV field when needed.
func csvField(s string) string {
	if strings.ContainsAny(s, ",\"\n\r") {
		return `"` + strings.ReplaceAll(s, `"`, `""`) + `"`
	}
	return s
}

func followAlarms(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var minutes int
	var format string
	fs := flagSet("follow alarms", "Usage: glucoshare follow alarms [WHO] [--minutes N] [--format table|json] [flags]\n\nLists open alarms, and alarms cleared in the last --minutes.\n"+clientFlagsHelp, env)
	fs.IntVar(&minutes, "minutes", 1440, "include alarms cleared in this many minutes")
	fs.StringVar(&format, "format", "table", "output format: table or json")
	c, rest, err := clientCommand(fs, &f, args, env, -1)
	if err != nil {
		return err
	}
	if err := checkFormat(format, "table", "json"); err != nil {
		return err
	}
	if len(rest) > 1 {
		return fmt.Errorf("%w: name at most one person", errUsage)
	}
	subs, err := c.ListSubscriberAccountSubscriptions(ctx)
	if err != nil {
		return describeClientError(err)
	}
	subID := ""
	if len(rest) == 1 {
		s, err := findShare(ctx, c, rest[0])
		if err != nil {
			return err
		}
		subID = s.SubscriptionID
	}
	alarms, err := c.ListSubscriptionAlarms(ctx, subID, minutes)
	if err != nil {
		return describeClientError(err)
	}
	names := map[string]string{}
	for _, s := range subs {
		names[s.SubscriptionID] = s.DisplayName
	}
	return writeAlarms(newOutput(env, format, "mg/dL"), alarms, names)
}

func writeAlarms(o *output, alarms []share.Alarm, names map[string]string) error {
	if o.format == "json" {
		type item struct {
			AlarmID        string `json:"alarmId"`
			SubscriptionID string `json:"subscriptionId"`
			Name           string `json:"name"`
			Kind           string `json:"kind"`
			State          string `json:"state"`
			Value          int    `json:"value"`
			TriggeredAt    string `json:"triggeredAt"`
			LastNotifiedAt string `json:"lastNotifiedAt"`
			NotifyCount    int    `json:"notifyCount"`
			AcknowledgedAt string `json:"acknowledgedAt,omitempty"`
			ClearedAt      string `json:"clearedAt,omitempty"`
		}
		items := make([]item, len(alarms))
		for i, a := range alarms {
			items[i] = item{a.AlarmID, a.SubscriptionID, names[a.SubscriptionID], share.AlertTypeName(a.AlertType), string(a.State), a.Value,
				rfc3339(a.TriggeredAt), rfc3339(a.LastNotifiedAt), a.NotifyCount, optTime(a.AcknowledgedAt), optTime(a.ClearedAt)}
		}
		return writeJSON(o.w, items)
	}
	if len(alarms) == 0 {
		_, err := fmt.Fprintln(o.w, "No alarms.")
		return err
	}
	rows := [][]string{}
	for _, a := range alarms {
		value := o.paint(a.Value, o.value(a.Value))
		if a.AlertType == share.AlertTypeNoData && a.Value == 0 {
			value = "-"
		}
		rows = append(rows, []string{names[a.SubscriptionID], share.AlertTypeName(a.AlertType), string(a.State), value,
			dateTime(a.TriggeredAt), fmt.Sprintf("%d×", a.NotifyCount), a.AlarmID})
	}
	return o.table([]string{"NAME", "ALARM", "STATE", "MG/DL", "TRIGGERED", "NOTIFIED", "ALARM ID"}, rows)
}

func optTime(d *share.DateTime) string {
	if d == nil {
		return ""
	}
	return rfc3339(*d)
}

func followAck(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	fs := flagSet("follow ack", "Usage: glucoshare follow ack ALARM_ID... [flags]\n\nAcknowledges alarms; they sound again after their re-alarm delay if the condition lasts.\n"+clientFlagsHelp, env)
	c, ids, err := clientCommand(fs, &f, args, env, -1)
	if err != nil {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("%w: name at least one alarm id", errUsage)
	}
	for _, id := range ids {
		if err := c.AcknowledgeSubscriptionAlarm(ctx, id); err != nil {
			return describeClientError(err)
		}
		fmt.Fprintf(env.Stdout, "Acknowledged alarm %s.\n", id)
	}
	return nil
}

func followLeave(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	fs := flagSet("follow leave", "Usage: glucoshare follow leave WHO [flags]\n\nStops following someone.\n"+clientFlagsHelp, env)
	c, rest, err := clientCommand(fs, &f, args, env, 1)
	if err != nil {
		return err
	}
	s, err := findShare(ctx, c, rest[0])
	if err != nil {
		return err
	}
	if err := c.DeleteSubscription(ctx, s.SubscriptionID); err != nil {
		return describeClientError(err)
	}
	fmt.Fprintf(env.Stdout, "You no longer follow %s.\n", s.DisplayName)
	return nil
}
