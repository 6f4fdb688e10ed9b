package cli_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

var invitationRE = regexp.MustCompile(`Invitation id: ([0-9a-f-]{36})`)

// TestClientFollowersCommands drives followers and follow against the real
// server: invite, read the invitation, accept, list on both sides, read,
// change permissions, pause and resume, reject, leave and remove.
func TestClientFollowersCommands(t *testing.T) {
	t.Parallel()
	e := clientServe(t)
	e.account("sam", "Sam")
	e.account("kim", "")
	rs := series(time.Now().Add(-2*time.Minute), 4, -300)
	e.upload("sam", rs)
	e.registerTimes(rs)

	step := func(name string, who string, wantCode int, args ...string) string {
		t.Helper()
		code, out, errOut := e.runAs(who, args...)
		wantExit(t, strings.Join(args, " "), code, wantCode, errOut)
		if name != "" {
			e.golden(name, out)
		}
		return out
	}
	step("followers-list-empty", "sam", 0, "followers", "list")
	out := step("followers-invite", "sam", 0, "followers", "invite", "Kim", "--email", "kim@example.org")
	m := invitationRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no invitation id in %q", out)
	}
	inv := m[1]
	step("follow-invitations", "kim", 0, "follow", "invitations", inv)
	step("follow-invitations-json", "kim", 0, "follow", "invitations", inv, "--format", "json")
	step("follow-accept", "kim", 0, "follow", "accept", inv)
	step("followers-list", "sam", 0, "followers", "list")
	step("followers-list-json", "sam", 0, "followers", "list", "--format", "json")
	step("follow-list", "kim", 0, "follow", "list")
	step("follow-list-json", "kim", 0, "follow", "list", "--format", "json")
	step("follow-read-all", "kim", 0, "follow", "read")
	step("follow-read-all-json", "kim", 0, "follow", "read", "--format", "json")
	step("follow-read", "kim", 0, "follow", "read", "Sam", "--max-count", "3")
	step("follow-read-csv", "kim", 0, "follow", "read", "sam", "--format", "csv")

	step("followers-permissions", "sam", 0, "followers", "permissions", "kim", "current")
	if out := step("", "kim", 0, "follow", "read", "Sam"); strings.Count(out, "\n") != 2 {
		t.Errorf("current-value permission: want a header and 1 reading:\n%s", out)
	}
	step("", "sam", 0, "followers", "permissions", "Kim", "history")
	step("followers-pause", "sam", 0, "followers", "pause", "Kim")
	code, _, errOut := e.runAs("kim", "follow", "read", "Sam")
	wantExit(t, "read while paused", code, 1, errOut, "SubscriptionNotActive")
	step("follow-list-paused", "kim", 0, "follow", "list")
	step("followers-resume", "sam", 0, "followers", "resume", "Kim")

	// An urgent low fires an alarm on upload (docs/protocol.md, "Alerts and alarms"); kim lists
	// and acknowledges it.
	low := []share.Reading{{ST: time.Now().Add(-20 * time.Second).Truncate(time.Second).UnixMilli(), Offset: -300, Value: 50, Trend: share.TrendSingleDown}}
	e.upload("sam", low)
	out = step("follow-alarms-live", "kim", 0, "follow", "alarms")
	alarm := uuidRE.FindString(out)
	if alarm == "" {
		t.Fatalf("no alarm listed:\n%s", out)
	}
	step("follow-ack-live", "kim", 0, "follow", "ack", alarm)
	step("follow-alarms-live-json", "kim", 0, "follow", "alarms", "Sam", "--format", "json")

	// An active follower cannot be invited again; unknown names are errors.
	code, _, errOut = e.runAs("sam", "followers", "invite", "kim")
	wantExit(t, "invite an active follower", code, 1, errOut, "InvalidArgument")
	code, _, errOut = e.runAs("sam", "followers", "pause", "Nobody")
	wantExit(t, "unknown follower", code, 1, errOut, `no follower "Nobody"`)
	code, _, errOut = e.runAs("kim", "follow", "read", "Nobody")
	wantExit(t, "unknown share", code, 1, errOut, `you follow nobody called "Nobody"`)
	code, _, errOut = e.runAs("sam", "followers", "permissions", "Kim", "everything")
	wantExit(t, "bad permission", code, 2, errOut, "want history or current")
	code, _, errOut = e.runAs("sam", "followers", "frobnicate")
	wantExit(t, "unknown subcommand", code, 2, errOut, "unknown subcommand")

	// A second invitation, declined; then kim leaves and sam removes her.
	out = step("", "sam", 0, "followers", "invite", "Dad", "--current-only", "--display-name", "Samuel", "--format", "json")
	e.golden("followers-invite-json", out)
	var invited struct{ InvitationID string }
	if err := json.Unmarshal([]byte(out), &invited); err != nil || invited.InvitationID == "" {
		t.Fatalf("invite json %s: %v", out, err)
	}
	step("follow-reject", "kim", 0, "follow", "reject", invited.InvitationID)
	step("follow-invitations-declined", "kim", 0, "follow", "invitations", invited.InvitationID)
	step("follow-leave", "kim", 0, "follow", "leave", "Sam")
	step("followers-list-after", "sam", 0, "followers", "list")
	step("followers-remove", "sam", 0, "followers", "remove", "Kim")
	step("follow-list-empty", "kim", 0, "follow", "list")
}

// cannedShare answers the follower calls with docs/protocol.md's example
// responses, for follow alarms and ack.
type cannedShare struct {
	mu    sync.Mutex
	calls []string // endpoint?query
}

const (
	cannedSubscription = "9a4f2c1e-6d7b-4e0a-8c3f-5b1d2e7a9c60"
	cannedAlarm        = "41c7e2d9-8a3b-4f5c-9d6e-1b2a3c4d5e6f"
)

func (c *cannedShare) serve(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	ep := strings.TrimPrefix(r.URL.Path, share.BasePath+"/")
	c.mu.Lock()
	c.calls = append(c.calls, ep+"?"+r.URL.RawQuery)
	c.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	switch ep {
	case "General/AuthenticatePublisherAccount":
		io.WriteString(w, `"c2d8a7e4-5b3f-4c1d-8e9a-0f6b2d4c8a17"`)
	case "General/LoginPublisherAccountById":
		io.WriteString(w, `"3c348745-d2b3-4e3e-a8fe-306c0c18eae6"`)
	case "Subscriber/ListSubscriberAccountSubscriptions":
		io.WriteString(w, `[{"SubscriptionId":"`+cannedSubscription+`","SubscriberId":"c2d8a7e4-5b3f-4c1d-8e9a-0f6b2d4c8a17","DisplayName":"Sam","Permissions":1,"State":6,`+
			`"IsEnabled":true,"IsMonitoringSessionActive":true,`+
			`"DateTimeCreated":{"DateTime":"/Date(1745000000000)/","OffsetMinutes":0},`+
			`"DateTimeModified":{"DateTime":"/Date(1745003600000)/","OffsetMinutes":0},`+
			`"DateTimeAccepted":{"DateTime":"/Date(1745003600000)/","OffsetMinutes":0}}]`)
	case "Subscriber/ListSubscriptionAlarms":
		io.WriteString(w, `[{"AlarmId":"`+cannedAlarm+`","SubscriptionId":"`+cannedSubscription+`","AlertType":3,"State":"Active","Value":52,`+
			`"TriggeredAt":{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0},`+
			`"LastNotifiedAt":{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0},"NotifyCount":1,`+
			`"AcknowledgedAt":null,"ClearedAt":null},`+
			`{"AlarmId":"5d2e8f1a-3c4b-4a6d-9e7f-0b1c2d3e4f5a","SubscriptionId":"`+cannedSubscription+`","AlertType":4,"State":"Cleared","Value":0,`+
			`"TriggeredAt":{"DateTime":"/Date(1745070000000)/","OffsetMinutes":0},`+
			`"LastNotifiedAt":{"DateTime":"/Date(1745070000000)/","OffsetMinutes":0},"NotifyCount":2,`+
			`"AcknowledgedAt":{"DateTime":"/Date(1745070600000)/","OffsetMinutes":0},"ClearedAt":{"DateTime":"/Date(1745071200000)/","OffsetMinutes":0}}]`)
	case "Subscriber/AcknowledgeSubscriptionAlarm":
		if r.URL.Query().Get("alarmId") != cannedAlarm {
			w.WriteHeader(500)
			io.WriteString(w, `{"Code":"AlarmIdNotFound","Message":"Alarm not found.","SubCode":"x","TypeName":"FaultException"}`)
		}
	default:
		w.WriteHeader(404)
		io.WriteString(w, `{"Code":"EndpointNotFound","Message":"No endpoint.","SubCode":"x","TypeName":"FaultException"}`)
	}
}

// TestClientFollowAlarmsCanned runs follow alarms and follow ack against
// docs/protocol.md's example answers: a Cleared NoData alarm and an unknown
// alarm id, which the live test does not reach, and the exact requests.
func TestClientFollowAlarmsCanned(t *testing.T) {
	t.Parallel()
	canned := &cannedShare{}
	srv := httptest.NewServer(http.HandlerFunc(canned.serve))
	defer srv.Close()
	vars := map[string]string{"GLUCOSHARE_PASSWORD": "pw"}
	run := func(name string, want int, args ...string) string {
		t.Helper()
		code, out, errOut := clientRun(t, "", vars, append(args, "--server", srv.URL, "--username", "kim")...)
		wantExit(t, strings.Join(args, " "), code, want, errOut)
		if name != "" {
			clientGolden(t, name, out)
		}
		return errOut
	}
	run("follow-alarms", 0, "follow", "alarms")
	run("follow-alarms-json", 0, "follow", "alarms", "Sam", "--minutes", "60", "--format", "json")
	run("follow-ack", 0, "follow", "ack", cannedAlarm)
	if errOut := run("", 1, "follow", "ack", "00000000-1111-4222-8333-444444444444"); !strings.Contains(errOut, "AlarmIdNotFound: Alarm not found.") {
		t.Errorf("ack of an unknown alarm: %q", errOut)
	}
	canned.mu.Lock()
	calls := strings.Join(canned.calls, "\n")
	canned.mu.Unlock()
	for _, want := range []string{
		"Subscriber/ListSubscriptionAlarms?minutes=1440&sessionId=3c348745-d2b3-4e3e-a8fe-306c0c18eae6",
		"Subscriber/ListSubscriptionAlarms?minutes=60&sessionId=3c348745-d2b3-4e3e-a8fe-306c0c18eae6&subscriptionId=" + cannedSubscription,
		"Subscriber/AcknowledgeSubscriptionAlarm?alarmId=" + cannedAlarm + "&sessionId=3c348745-d2b3-4e3e-a8fe-306c0c18eae6",
	} {
		if !strings.Contains(calls, want) {
			t.Errorf("no request %s among\n%s", want, calls)
		}
	}
}
