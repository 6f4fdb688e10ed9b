package share_test

// End-to-end tests of the Client against the real glucoshare server, started
// in-process through cli.Run exactly as `glucoshare serve` runs, on the
// engine storetest selects (SQLite, or PostgreSQL with GLUCOSHARE_TEST_DB).

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// liveServer is a running glucoshare.
type liveServer struct {
	dsn  string
	base string // http://127.0.0.1:port
}

// startServer runs `glucoshare serve` on a fresh database with extra flags
// and stops it at cleanup.
func startServer(t *testing.T, args ...string) *liveServer {
	t.Helper()
	live := clitest.Serve(t, storetest.DSN(t), args...)
	return &liveServer{dsn: live.DSN, base: "http://" + live.Addr}
}

// addAccount creates an account with the operator's command line and
// returns its id.
func (s *liveServer) addAccount(t *testing.T, name, password string, extra ...string) string {
	t.Helper()
	args := append([]string{"account", "add", "--db", s.dsn, "--name", name, "--password-stdin"}, extra...)
	code, out, errOut := clitest.Run(t, password+"\n", args...)
	if code != 0 {
		t.Fatalf("account add %s: exit %d: %s", name, code, errOut)
	}
	return strings.TrimSpace(out)
}

// client returns a client for the server with opts.
func (s *liveServer) client(t *testing.T, opts ...share.Option) *share.Client {
	t.Helper()
	c, err := share.NewClient(append([]share.Option{share.WithBaseURL(s.base), share.WithTimeout(20 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatalf("NewClient: %v", err)
	}
	return c
}

var idRE = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)

// readingsAt returns n readings five minutes apart, newest first, the
// newest a minute ago, with the UTC offset off (minutes).
func readingsAt(n, off int) []share.Reading {
	newest := time.Now().Add(-time.Minute).Truncate(time.Second)
	rs := make([]share.Reading, n)
	for i := range rs {
		rs[i] = share.Reading{
			ST:     newest.Add(-time.Duration(i) * 5 * time.Minute).UnixMilli(),
			Offset: off,
			Value:  60 + (i*37)%300,
			Trend:  share.Trend(1 + i%7),
		}
	}
	return rs
}

func wantCode(t *testing.T, what string, err error, code share.Code) *share.CallError {
	t.Helper()
	var ce *share.CallError
	if !errors.As(err, &ce) || ce.Code() != code {
		t.Fatalf("%s: error %v, want a *CallError with code %s", what, err, code)
	}
	if !errors.Is(err, &share.Error{Code: code}) {
		t.Errorf("%s: errors.Is(err, &Error{Code: %s}) is false", what, code)
	}
	return ce
}

const pw = "correct horse battery"

func TestClientLogin(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	id := s.addAccount(t, "sam@example.org", pw)

	// The pydexcom flow: Authenticate, then LoginById; the id is kept.
	c := s.client(t, share.WithCredentials("sam@example.org", pw))
	if err := c.Login(ctx); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if got := c.AccountID(); got != id {
		t.Errorf("AccountID %q, want %q", got, id)
	}
	if !idRE.MatchString(c.SessionID()) {
		t.Errorf("SessionID %q", c.SessionID())
	}
	if got, err := c.AuthenticatePublisherAccount(ctx); err != nil || got != id {
		t.Errorf("AuthenticatePublisherAccount = %q, %v; want %q", got, err, id)
	}

	for name, opts := range map[string][]share.Option{
		"by id":               {share.WithAccountID(strings.ToUpper(id), pw)},
		"by name":             {share.WithCredentials("SAM@example.org", pw), share.WithLoginMethod(share.LoginPublisherByName)},
		"subscriber by id":    {share.WithAccountID(id, pw), share.WithLoginMethod(share.LoginSubscriber)},
		"subscriber by name":  {share.WithCredentials("sam@example.org", pw), share.WithLoginMethod(share.LoginSubscriber)},
		"implicit on calling": {share.WithCredentials("sam@example.org", pw)},
	} {
		c := s.client(t, opts...)
		if name != "implicit on calling" {
			if err := c.Login(ctx); err != nil {
				t.Fatalf("%s: Login: %v", name, err)
			}
		}
		if _, err := c.IsRemoteMonitoringSessionActive(ctx); err != nil {
			t.Errorf("%s: a call with the session: %v", name, err)
		}
	}

	bad := s.client(t, share.WithCredentials("sam@example.org", "wrong password"))
	err := bad.Login(ctx)
	wantCode(t, "wrong password", err, share.CodeAccountPasswordInvalid)
	if !errors.Is(err, share.ErrAccountPasswordInvalid) {
		t.Errorf("wrong password: not ErrAccountPasswordInvalid: %v", err)
	}
	if _, err := s.client(t).LatestReading(ctx); !errors.Is(err, share.ErrNoCredentials) {
		t.Errorf("no credentials: %v, want ErrNoCredentials", err)
	}
	// A zero account id never leaves the client.
	if _, err := share.NewClient(share.WithAccountID(share.ZeroID, pw)); err == nil {
		t.Error("WithAccountID(ZeroID) accepted")
	}
}

func TestClientGeneral(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	s.addAccount(t, "kim", pw)
	c := s.client(t, share.WithCredentials("kim", pw))

	now, err := s.client(t).SystemUTCTime(ctx) // no session needed
	if err != nil || time.Since(now).Abs() > time.Minute {
		t.Errorf("SystemUTCTime = %v, %v", now, err)
	}

	const part = share.OfficialPartition
	if names, err := c.ListValueNames(ctx, part); err != nil || len(names) != 0 {
		t.Errorf("ListValueNames on none = %q, %v", names, err)
	}
	if err := c.CreateNamedValue(ctx, part, "b", `{"x":1}`); err != nil {
		t.Fatalf("CreateNamedValue: %v", err)
	}
	if err := c.UpdateNamedValue(ctx, part, "a", "first"); err != nil {
		t.Fatalf("UpdateNamedValue: %v", err)
	}
	if v, err := c.ReadNamedValue(ctx, part, "b"); err != nil || v != `{"x":1}` {
		t.Errorf("ReadNamedValue = %q, %v", v, err)
	}
	if names, err := c.ListValueNames(ctx, part); err != nil || strings.Join(names, ",") != "a,b" {
		t.Errorf("ListValueNames = %q, %v", names, err)
	}
	if n, err := c.DeleteAllNamedValues(ctx, part); err != nil || n != 2 {
		t.Errorf("DeleteAllNamedValues = %d, %v", n, err)
	}
	_, err = c.ReadNamedValue(ctx, part, "a")
	wantCode(t, "ReadNamedValue after delete", err, share.CodeNamedValueReadFailed)
}

func TestClientPublisher(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	s.addAccount(t, "sam", pw, "--display-name", "Sam")
	s.addAccount(t, "other", pw)
	c := s.client(t, share.WithCredentials("sam", pw))
	other := s.client(t, share.WithCredentials("other", pw))

	// Receiver and monitoring (docs/protocol.md, "Publisher: session, receiver and monitoring").
	if st, err := c.CheckMonitoredReceiverAssignmentStatus(ctx, "8G1234"); err != nil || st != share.NotAssigned {
		t.Errorf("Check before = %q, %v", st, err)
	}
	rid, err := c.ReplacePublisherAccountMonitoredReceiver(ctx, "8g1234")
	if err != nil || !idRE.MatchString(rid) {
		t.Fatalf("Replace = %q, %v", rid, err)
	}
	if st, err := c.CheckMonitoredReceiverAssignmentStatus(ctx, "8G1234"); err != nil || st != share.AssignedToYou {
		t.Errorf("Check after = %q, %v", st, err)
	}
	if st, err := other.CheckMonitoredReceiverAssignmentStatus(ctx, "8G1234"); err != nil || st != share.AssignedToSomeoneElse {
		t.Errorf("Check by another = %q, %v", st, err)
	}
	_, err = other.ReplacePublisherAccountMonitoredReceiver(ctx, "8G1234")
	wantCode(t, "Replace by another", err, share.CodeSerialNumberAssignedToSomeoneElse)
	readings := readingsAt(12, -240)
	err = c.PostReceiverEgvRecords(ctx, "8G1234", readings)
	wantCode(t, "Post before Start", err, share.CodeMonitoringSessionNotActive)
	if _, ok, err := c.GetMonitoredReceiverIDIfEnabled(ctx); err != nil || ok {
		t.Errorf("GetMonitoredReceiverIdIfEnabled while off = %v, %v", ok, err)
	}
	if err := c.StartRemoteMonitoringSession(ctx, "8G1234"); err != nil {
		t.Fatalf("Start: %v", err)
	}
	if on, err := c.IsRemoteMonitoringSessionActive(ctx); err != nil || !on {
		t.Errorf("IsRemoteMonitoringSessionActive = %v, %v", on, err)
	}
	if id, ok, err := c.GetMonitoredReceiverIDIfEnabled(ctx); err != nil || !ok || id != rid {
		t.Errorf("GetMonitoredReceiverIdIfEnabled = %q, %v, %v; want %q", id, ok, err, rid)
	}
	if err := c.UpdatePublisherAccountRuntimeInfo(ctx, share.RuntimeInfo{AppName: "glucoshare-test", DeviceOsName: "linux"}); err != nil {
		t.Errorf("UpdatePublisherAccountRuntimeInfo: %v", err)
	}

	// Glucose (docs/protocol.md, "Publisher: glucose"): what goes up comes back, offset and trend included,
	// and a second post of the same readings changes nothing.
	for range 2 {
		if err := c.PostReceiverEgvRecords(ctx, "8G1234", readings); err != nil {
			t.Fatalf("Post: %v", err)
		}
	}
	got, err := c.ReadPublisherLatestGlucoseValues(ctx, 1440, 288)
	if err != nil {
		t.Fatalf("Read: %v", err)
	}
	if len(got) != len(readings) {
		t.Fatalf("Read: %d readings, want %d", len(got), len(readings))
	}
	for i := range readings {
		if got[i] != readings[i] {
			t.Errorf("reading %d: got %+v, want %+v", i, got[i], readings[i])
		}
	}
	if r, err := c.LatestReading(ctx); err != nil || r != readings[0] {
		t.Errorf("LatestReading = %+v, %v", r, err)
	}
	if _, err := other.LatestReading(ctx); !errors.Is(err, share.ErrNoReadings) {
		t.Errorf("LatestReading with none: %v, want ErrNoReadings", err)
	}
	future := []share.Reading{{ST: time.Now().Add(time.Hour).UnixMilli(), Value: 100}}
	wantCode(t, "Post of a future reading", c.PostReceiverEgvRecords(ctx, "8G1234", future), share.CodeFutureEgvPosted)

	if err := c.StopRemoteMonitoringSession(ctx); err != nil {
		t.Errorf("StopRemoteMonitoringSession: %v", err)
	}
	if on, err := c.IsRemoteMonitoringSessionActive(ctx); err != nil || on {
		t.Errorf("IsRemoteMonitoringSessionActive after stop = %v, %v", on, err)
	}
	wantCode(t, "StopMonitoringReceiver with another id", c.StopMonitoringReceiver(ctx, share.NewID()), share.CodeMonitoredReceiverNotAssigned)
	if err := c.StopMonitoringReceiver(ctx, rid); err != nil {
		t.Errorf("StopMonitoringReceiver: %v", err)
	}
	if st, err := other.CheckMonitoredReceiverAssignmentStatus(ctx, "8G1234"); err != nil || st != share.NotAssigned {
		t.Errorf("Check after release = %q, %v", st, err)
	}

	// Profile (docs/protocol.md, "Publisher: profile").
	if name, err := c.ReadPublisherAccountDisplayName(ctx); err != nil || name != "Sam" {
		t.Errorf("ReadPublisherAccountDisplayName = %q, %v", name, err)
	}
	if err := c.UpdatePublisherAccountDisplayName(ctx, "Samantha"); err != nil {
		t.Errorf("UpdatePublisherAccountDisplayName: %v", err)
	}
	if name, _ := c.ReadPublisherAccountDisplayName(ctx); name != "Samantha" {
		t.Errorf("display name after update %q", name)
	}
	if email, err := c.ReadPublisherAccountEmail(ctx); err != nil || email != "" {
		t.Errorf("ReadPublisherAccountEmail = %q, %v", email, err)
	}
	wantCode(t, "bad e-mail", c.UpdatePublisherAccountEmail(ctx, "not an address"), share.CodeInvalidEmailAddress)
	if err := c.UpdatePublisherAccountEmail(ctx, "sam@example.org"); err != nil {
		t.Errorf("UpdatePublisherAccountEmail: %v", err)
	}
	if email, _ := c.ReadPublisherAccountEmail(ctx); email != "sam@example.org" {
		t.Errorf("e-mail after update %q", email)
	}
	_, err = c.ReadPublisherAccountImage(ctx)
	if ce := wantCode(t, "no image", err, share.CodeImageNotFound); ce.Status != http.StatusNotFound {
		t.Errorf("no image: status %d", ce.Status)
	}
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0xfe, 0x01}, 300)...)
	if err := c.UpdatePublisherAccountImage(ctx, png); err != nil {
		t.Fatalf("UpdatePublisherAccountImage: %v", err)
	}
	if img, err := c.ReadPublisherAccountImage(ctx); err != nil || img.ContentType != "image/png" || !bytes.Equal(img.Data, png) {
		t.Errorf("ReadPublisherAccountImage = %q %d bytes, %v", img.ContentType, len(img.Data), err)
	}
	if err := c.UpdatePublisherAccountImage(ctx, nil); err != nil {
		t.Errorf("removing the image: %v", err)
	}
	if err := c.UpdatePublisherAccountImage(ctx, []byte("GIF89a")); err == nil {
		t.Error("a GIF was accepted")
	}

	// Password change (docs/protocol.md, "Publisher: session, receiver and monitoring"): other sessions end; this one goes on, and
	// the client logs in with the new password from then on.
	second := s.client(t, share.WithCredentials("sam", pw))
	if err := second.Login(ctx); err != nil {
		t.Fatal(err)
	}
	if err := c.ChangePublisherAccountPassword(ctx, pw, "a new password"); err != nil {
		t.Fatalf("ChangePublisherAccountPassword: %v", err)
	}
	_, err = second.IsRemoteMonitoringSessionActive(ctx) // re-login with the old password fails
	wantCode(t, "re-login with the old password", err, share.CodeAccountPasswordInvalid)
	if err := c.LogoutPublisherAccount(ctx); err != nil {
		t.Errorf("Logout: %v", err)
	}
	if c.SessionID() != "" {
		t.Errorf("session kept after logout")
	}
	if _, err := c.IsRemoteMonitoringSessionActive(ctx); err != nil {
		t.Errorf("call after logout (logs in with the new password): %v", err)
	}
}

// TestClientReloginAfterLogout ends a session on the server (logged out by
// another client holding it) and shows the client logs in again, once,
// without the caller noticing.
func TestClientReloginAfterLogout(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	s.addAccount(t, "sam", pw)
	c := s.client(t, share.WithCredentials("sam", pw))
	if err := c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	old := c.SessionID()
	killer := s.client(t, share.WithSession(old))
	if err := killer.LogoutPublisherAccount(ctx); err != nil {
		t.Fatalf("logout by another holder: %v", err)
	}
	// A client with the session only cannot recover, and says why.
	_, err := s.client(t, share.WithSession(old)).IsRemoteMonitoringSessionActive(ctx)
	wantCode(t, "ended session without credentials", err, share.CodeSessionNotValid)
	if !errors.Is(err, share.ErrSessionExpired) || !errors.Is(err, share.ErrSessionNotValid) {
		t.Errorf("not ErrSessionExpired/ErrSessionNotValid: %v", err)
	}
	// With credentials the call succeeds on a new session.
	if _, err := c.ReadPublisherLatestGlucoseValues(ctx, 10, 1); err != nil {
		t.Fatalf("read after server-side logout: %v", err)
	}
	if sid := c.SessionID(); sid == old || !idRE.MatchString(sid) {
		t.Errorf("session %q after re-login, old %q", sid, old)
	}

	// Concurrent calls on an ended session share a single re-login.
	old = c.SessionID()
	if err := s.client(t, share.WithSession(old)).LogoutPublisherAccount(ctx); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.IsRemoteMonitoringSessionActive(ctx)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent call: %v", err)
		}
	}
}

// TestClientReloginAfterIdleExpiry lets the server expire a session
// (--session-idle 1s) and shows the transparent re-login.
func TestClientReloginAfterIdleExpiry(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--session-idle", "1s")
	ctx := context.Background()
	s.addAccount(t, "sam", pw)
	c := s.client(t, share.WithCredentials("sam", pw))
	if err := c.Login(ctx); err != nil {
		t.Fatal(err)
	}
	old := c.SessionID()
	time.Sleep(1100 * time.Millisecond)
	_, err := s.client(t, share.WithSession(old)).IsRemoteMonitoringSessionActive(ctx)
	wantCode(t, "idle session", err, share.CodeSessionNotValid)
	if _, err := c.IsRemoteMonitoringSessionActive(ctx); err != nil {
		t.Fatalf("call after expiry: %v", err)
	}
	if c.SessionID() == old {
		t.Error("session not replaced")
	}
}

// TestClientLockout runs into the login throttle (docs/protocol.md, "Login throttling"): the sixth attempt
// from the address answers SSO_AuthenticateMaxAttemptsExceeded with
// Retry-After (the first delay, 15 minutes here), for the right password
// too, and the client surfaces both.
func TestClientLockout(t *testing.T) {
	t.Parallel()
	s := startServer(t, "--login-first-delay", "15m")
	ctx := context.Background()
	id := s.addAccount(t, "locked", pw)
	bad := s.client(t, share.WithCredentials("locked", "wrong password"))
	for i := 0; i < 5; i++ {
		if err := bad.Login(ctx); !errors.Is(err, share.ErrAccountPasswordInvalid) {
			t.Fatalf("attempt %d: %v, want AccountPasswordInvalid", i+1, err)
		}
	}
	for name, c := range map[string]*share.Client{
		"wrong password by name": bad,
		"right password by name": s.client(t, share.WithCredentials("locked", pw)),
		"right password by id":   s.client(t, share.WithAccountID(id, pw)),
	} {
		err := c.Login(ctx)
		if !errors.Is(err, share.ErrMaxAttempts) {
			t.Fatalf("%s: %v, want ErrMaxAttempts", name, err)
		}
		ra, ok := share.RetryAfter(err)
		if !ok || ra < 14*time.Minute || ra > 15*time.Minute {
			t.Errorf("%s: RetryAfter = %v, %v; want about 15 minutes", name, ra, ok)
		}
		if !strings.Contains(err.Error(), "retry after") {
			t.Errorf("%s: message %q does not say when to retry", name, err)
		}
	}
}

// TestClientFollowers drives every follower endpoint (docs/protocol.md, "General" subscription
// calls, docs/protocol.md, "Publisher: contacts and followers", "Subscriber", alarms) between a publisher and a follower on the real
// server.
func TestClientFollowers(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	samID := s.addAccount(t, "sam", pw, "--display-name", "Sam")
	kimID := s.addAccount(t, "kim", pw)
	sam := s.client(t, share.WithCredentials("sam", pw))
	kim := s.client(t, share.WithCredentials("kim", pw))

	// Contacts (docs/protocol.md, "Publisher: contacts and followers").
	if ok, err := sam.DoesContactExistByName(ctx, "Kim"); err != nil || ok {
		t.Errorf("DoesContactExistByName before = %v, %v", ok, err)
	}
	cid, err := sam.CreateContact(ctx, "Kimberly", "kim@example.org")
	if err != nil || !idRE.MatchString(cid) {
		t.Fatalf("CreateContact = %q, %v", cid, err)
	}
	_, err = sam.CreateContact(ctx, "kimberly", "")
	wantCode(t, "duplicate contact", err, share.CodeContactNameAlreadyExists)
	if err := sam.UpdateContactName(ctx, cid, "Kim"); err != nil {
		t.Fatalf("UpdateContactName: %v", err)
	}
	if ok, err := sam.DoesContactExistByName(ctx, "KIM"); err != nil || !ok {
		t.Errorf("DoesContactExistByName after = %v, %v", ok, err)
	}
	ct, err := sam.ReadContact(ctx, cid)
	if err != nil || ct != (share.Contact{ContactID: cid, Name: "Kim", Email: "kim@example.org", PublisherAccountID: samID, SubscriptionID: share.ZeroID}) {
		t.Errorf("ReadContact = %+v, %v", ct, err)
	}
	_, err = kim.ReadContact(ctx, cid)
	wantCode(t, "another account's contact", err, share.CodeContactIDNotFound)

	// Invitation, with alert settings the follower starts from.
	alerts := share.DefaultAlertSettings()
	alerts.LowAlert.IsEnabled, alerts.LowAlert.MaxValue = true, 80
	subID, err := sam.CreateSubscriptionInvitation(ctx, cid, share.Invite{DisplayName: "Sammy", AlertSettings: &alerts})
	if err != nil || !idRE.MatchString(subID) {
		t.Fatalf("CreateSubscriptionInvitation = %q, %v", subID, err)
	}
	invID, err := sam.ReadSubscriptionInviteID(ctx, subID)
	if err != nil || !idRE.MatchString(invID) {
		t.Fatalf("ReadSubscriptionInviteID = %q, %v", invID, err)
	}
	subs, err := sam.ListPublisherAccountSubscriptions(ctx)
	if err != nil || len(subs) != 1 || subs[0].State != share.StateInviteWaiting || subs[0].ContactName != "Kim" ||
		subs[0].SubscriberID != share.ZeroID || subs[0].DisplayName != "Sammy" || subs[0].Permissions != share.PermissionHistory ||
		time.Until(subs[0].InviteExpires.Time()) < 6*24*time.Hour {
		t.Errorf("ListPublisherAccountSubscriptions = %+v, %v", subs, err)
	}
	inv, err := kim.ReadInvitation(ctx, invID)
	if err != nil || inv.InvitationID != invID || inv.DisplayName != "Sammy" || inv.State != share.StateInviteWaiting ||
		!inv.AlertSettings.LowAlert.IsEnabled || inv.AlertSettings.LowAlert.MaxValue != 80 {
		t.Errorf("ReadInvitation = %+v, %v", inv, err)
	}
	if got, err := kim.AcceptInvitation(ctx, invID); err != nil || got != subID {
		t.Fatalf("AcceptInvitation = %q, %v; want %q", got, err, subID)
	}
	_, err = sam.AcceptInvitation(ctx, invID)
	wantCode(t, "accept by another", err, share.CodeInvitationAlreadyAccepted)
	ksubs, err := kim.ListSubscriberAccountSubscriptions(ctx)
	if err != nil || len(ksubs) != 1 || ksubs[0].SubscriptionID != subID || ksubs[0].SubscriberID != kimID ||
		ksubs[0].State != share.StateActive || !ksubs[0].IsEnabled || ksubs[0].DateTimeAccepted == nil {
		t.Errorf("ListSubscriberAccountSubscriptions = %+v, %v", ksubs, err)
	}

	// Reading through the subscription (docs/protocol.md, "Subscriber").
	readings := readingsAt(6, 60)
	if err := sam.StartRemoteMonitoringSession(ctx, "SM12345678"); err != nil {
		t.Fatal(err)
	}
	if err := sam.PostReceiverEgvRecords(ctx, "SM12345678", readings); err != nil {
		t.Fatal(err)
	}
	rs, err := kim.ReadSubscriptionLatestGlucoseValues(ctx, subID, 60, 12)
	if err != nil || len(rs) != 6 || rs[0] != readings[0] || rs[5] != readings[5] {
		t.Errorf("ReadSubscriptionLatestGlucoseValues = %+v, %v", rs, err)
	}
	last, err := kim.ReadLastGlucoseFromSubscriptions(ctx, []string{subID, share.NewID()})
	if err != nil || len(last) != 2 || last[0].Egv == nil || *last[0].Egv != readings[0] || last[1].Egv != nil {
		t.Errorf("ReadLastGlucoseFromSubscriptions = %+v, %v", last, err)
	}
	if name, err := kim.ReadSubscriptionDisplayName(ctx, subID); err != nil || name != "Sammy" {
		t.Errorf("ReadSubscriptionDisplayName = %q, %v", name, err)
	}
	_, err = kim.ReadSubscriptionImage(ctx, subID)
	wantCode(t, "no image", err, share.CodeImageNotFound)
	jpeg := []byte{0xff, 0xd8, 0xff, 0xe0, 0, 16, 'J', 'F', 'I', 'F', 0, 1}
	if err := sam.UpdatePublisherAccountImage(ctx, jpeg); err != nil {
		t.Fatal(err)
	}
	if img, err := kim.ReadSubscriptionImage(ctx, subID); err != nil || img.ContentType != "image/jpeg" || !bytes.Equal(img.Data, jpeg) {
		t.Errorf("ReadSubscriptionImage = %+v, %v", img, err)
	}

	// Alert settings: the invitation's, until the follower changes them.
	for who, c := range map[string]*share.Client{"publisher": sam, "follower": kim} {
		got, err := c.ReadSubscriptionAlerts(ctx, subID)
		if err != nil || got.LowAlert.MaxValue != 80 || !got.FixedLowAlert.IsEnabled {
			t.Errorf("ReadSubscriptionAlerts by %s = %+v, %v", who, got, err)
		}
	}
	mine, err := kim.ReadSubscriptionAlertSettings(ctx, subID)
	if err != nil {
		t.Fatal(err)
	}
	mine.HighAlert.IsEnabled, mine.HighAlert.MinValue = true, 250
	if err := kim.UpdateSubscriptionAlertSettings(ctx, subID, mine); err != nil {
		t.Fatalf("UpdateSubscriptionAlertSettings: %v", err)
	}
	if got, err := kim.ReadSubscriptionAlertSettings(ctx, subID); err != nil || got != mine {
		t.Errorf("alert settings after update = %+v, %v; want %+v", got, err, mine)
	}
	if err := kim.UpdateSubscriberAccountRuntimeInfo(ctx, share.RuntimeInfo{AppName: "glucoshare-test"}); err != nil {
		t.Errorf("UpdateSubscriberAccountRuntimeInfo: %v", err)
	}

	// Permissions, pause and resume (docs/protocol.md, "General", "Publisher: contacts and followers", "Access rules").
	if err := sam.UpdateSubscriptionPermissions(ctx, subID, share.PermissionCurrentValue); err != nil {
		t.Fatal(err)
	}
	if rs, err := kim.ReadSubscriptionLatestGlucoseValues(ctx, subID, 60, 12); err != nil || len(rs) != 1 {
		t.Errorf("read with current-value permission: %d readings, %v", len(rs), err)
	}
	if err := sam.PauseSubscription(ctx, subID); err != nil {
		t.Fatal(err)
	}
	_, err = kim.ReadSubscriptionLatestGlucoseValues(ctx, subID, 60, 1)
	wantCode(t, "read while paused", err, share.CodeSubscriptionNotActive)
	wantCode(t, "resume by the other party", kim.ResumeSubscription(ctx, subID), share.CodeSubscriptionNotPaused)
	if err := sam.ResumeSubscription(ctx, subID); err != nil {
		t.Fatal(err)
	}

	// Rejecting another invitation; leaving; deleting the contact.
	cid2, err := sam.CreateContact(ctx, "Dad", "")
	if err != nil {
		t.Fatal(err)
	}
	sub2, err := sam.CreateSubscriptionInvitation(ctx, cid2, share.Invite{CurrentValueOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	inv2, _ := sam.ReadSubscriptionInviteID(ctx, sub2)
	if err := kim.RejectInvitation(ctx, inv2); err != nil {
		t.Fatalf("RejectInvitation: %v", err)
	}
	if inv, err := kim.ReadInvitation(ctx, inv2); err != nil || inv.State != share.StateInviteRejected || inv.Permissions != share.PermissionCurrentValue {
		t.Errorf("rejected invitation = %+v, %v", inv, err)
	}
	if err := kim.DeleteSubscription(ctx, subID); err != nil {
		t.Fatalf("DeleteSubscription: %v", err)
	}
	if ct, err := sam.ReadContact(ctx, cid); err != nil || ct.State != share.StateCanceledBySubscriber {
		t.Errorf("contact after the follower left = %+v, %v", ct, err)
	}
	if err := sam.DeleteContact(ctx, cid); err != nil {
		t.Fatalf("DeleteContact: %v", err)
	}
	wantCode(t, "second DeleteContact", sam.DeleteContact(ctx, cid), share.CodeContactAlreadyDeleted)
}

// TestClientAlarmsLive: an urgent low fires on upload (docs/protocol.md, "When alarms are evaluated"); the follower
// lists and acknowledges the alarm.
func TestClientAlarmsLive(t *testing.T) {
	t.Parallel()
	s := startServer(t)
	ctx := context.Background()
	s.addAccount(t, "sam", pw, "--display-name", "Sam")
	s.addAccount(t, "kim", pw)
	sam := s.client(t, share.WithCredentials("sam", pw))
	kim := s.client(t, share.WithCredentials("kim", pw))
	cid, err := sam.CreateContact(ctx, "Kim", "")
	if err != nil {
		t.Fatal(err)
	}
	subID, err := sam.CreateSubscriptionInvitation(ctx, cid, share.Invite{})
	if err != nil {
		t.Fatal(err)
	}
	invID, err := sam.ReadSubscriptionInviteID(ctx, subID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := kim.AcceptInvitation(ctx, invID); err != nil {
		t.Fatal(err)
	}
	if err := sam.StartRemoteMonitoringSession(ctx, "SM12345678"); err != nil {
		t.Fatal(err)
	}
	// Alarms (docs/protocol.md, "Alerts and alarms"): an urgent low fires on upload; the follower lists and
	// acknowledges it.
	low := []share.Reading{{ST: time.Now().Add(-20 * time.Second).Truncate(time.Second).UnixMilli(), Value: 50, Trend: share.TrendSingleDown}}
	if err := sam.PostReceiverEgvRecords(ctx, "SM12345678", low); err != nil {
		t.Fatal(err)
	}
	alarms, err := kim.ListSubscriptionAlarms(ctx, subID, 0)
	if err != nil || len(alarms) == 0 {
		t.Fatalf("ListSubscriptionAlarms = %+v, %v", alarms, err)
	}
	a := alarms[0]
	if a.AlertType != share.AlertTypeFixedLow || a.State != share.AlarmActive || a.Value != 50 || a.SubscriptionID != subID ||
		a.NotifyCount != 1 || a.AcknowledgedAt != nil || a.ClearedAt != nil {
		t.Errorf("alarm %+v", a)
	}
	if err := kim.AcknowledgeSubscriptionAlarm(ctx, a.AlarmID); err != nil {
		t.Fatalf("AcknowledgeSubscriptionAlarm: %v", err)
	}
	all, err := kim.ListSubscriptionAlarms(ctx, "", 60)
	if err != nil || len(all) != len(alarms) || all[0].State != share.AlarmAcknowledged || all[0].AcknowledgedAt == nil {
		t.Errorf("alarms after ack = %+v, %v", all, err)
	}
	wantCode(t, "ack by the publisher", sam.AcknowledgeSubscriptionAlarm(ctx, a.AlarmID), share.CodeAlarmIDNotFound)

}
