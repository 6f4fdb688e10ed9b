package share_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/share"
)

// Read the newest reading. Against Dexcom's hosted service, pass "us",
// "ous" or "jp" to WithServer instead of a URL.
func Example() {
	srv := startExampleServer() // a glucoshare server, e.g. "https://glucoshare.example.org"
	defer srv.Close()

	c, err := share.NewClient(
		share.WithServer(srv.URL),
		share.WithCredentials("sam@example.org", "correct horse battery"),
	)
	if err != nil {
		log.Fatal(err)
	}
	r, err := c.LatestReading(context.Background()) // logs in on first use
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Value, "mg/dL", r.Trend.Arrow(), r.Trend)
	fmt.Println("UTC offset where it was measured:", r.LocalTime().Format("-0700"))
	// Output:
	// 224 mg/dL → Flat
	// UTC offset where it was measured: -0400
}

// Log in explicitly, to check the credentials before anything else. A wrong
// password is an *Error with the code AccountPasswordInvalid.
func ExampleClient_Login() {
	srv := startExampleServer()
	defer srv.Close()
	ctx := context.Background()

	c, err := share.NewClient(share.WithServer(srv.URL), share.WithCredentials("sam@example.org", "correct horse battery"))
	if err != nil {
		log.Fatal(err)
	}
	if err := c.Login(ctx); err != nil {
		log.Fatal(err)
	}
	fmt.Println("logged in:", c.SessionID() != "", c.AccountID() != "")

	wrong, err := share.NewClient(share.WithServer(srv.URL), share.WithCredentials("sam@example.org", "guess"))
	if err != nil {
		log.Fatal(err)
	}
	err = wrong.Login(ctx)
	switch {
	case errors.Is(err, share.ErrMaxAttempts):
		wait, _ := share.RetryAfter(err)
		fmt.Println("too many failed logins; try again in", wait)
	case errors.Is(err, share.ErrAccountPasswordInvalid):
		fmt.Println("wrong user name or password")
	case err != nil:
		log.Fatal(err)
	}
	// Output:
	// logged in: true true
	// wrong user name or password
}

// Upload readings as an uploader app does: start the monitoring session for
// the receiver's serial number once, then post each new reading.
func ExampleClient_PostReceiverEgvRecords() {
	srv := startExampleServer()
	defer srv.Close()
	ctx := context.Background()

	c, err := share.NewClient(share.WithServer(srv.URL), share.WithCredentials("kim@example.org", "correct horse battery"))
	if err != nil {
		log.Fatal(err)
	}
	const serial = "SM87654321"
	if err := c.StartRemoteMonitoringSession(ctx, serial); err != nil {
		log.Fatal(err)
	}
	now := time.Now()
	readings := []share.Reading{
		{ST: now.Add(-5 * time.Minute).UnixMilli(), Offset: 60, Value: 131, Trend: share.TrendFortyFiveUp},
		{ST: now.UnixMilli(), Offset: 60, Value: 142, Trend: share.TrendFortyFiveUp},
	}
	if err := c.PostReceiverEgvRecords(ctx, serial, readings); err != nil {
		log.Fatal(err)
	}
	// Uploading the same readings again is harmless: the server keeps the first.
	if err := c.PostReceiverEgvRecords(ctx, serial, readings); err != nil {
		log.Fatal(err)
	}

	stored, err := c.ReadPublisherLatestGlucoseValues(ctx, 60, 12)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range stored {
		fmt.Println(r.Value, r.Trend, r.LocalTime().Format("-0700"))
	}
	// Output:
	// 142 FortyFiveUp +0100
	// 131 FortyFiveUp +0100
}

// Follow someone: the publisher invites a contact and passes the invitation
// id on; the follower accepts it and reads the publisher's readings through
// the subscription.
func ExampleClient_AcceptInvitation() {
	srv := startExampleServer()
	defer srv.Close()
	ctx := context.Background()

	sam, err := share.NewClient(share.WithServer(srv.URL), share.WithCredentials("sam@example.org", "correct horse battery"))
	if err != nil {
		log.Fatal(err)
	}
	contactID, err := sam.CreateContact(ctx, "Mom", "")
	if err != nil {
		log.Fatal(err)
	}
	subscriptionID, err := sam.CreateSubscriptionInvitation(ctx, contactID, share.Invite{DisplayName: "Sam"})
	if err != nil {
		log.Fatal(err)
	}
	invitationID, err := sam.ReadSubscriptionInviteID(ctx, subscriptionID)
	if err != nil {
		log.Fatal(err)
	}

	// On Mom's phone, with the invitation id Sam gave her:
	mom, err := share.NewClient(share.WithServer(srv.URL), share.WithCredentials("mom@example.org", "correct horse battery"))
	if err != nil {
		log.Fatal(err)
	}
	if _, err := mom.AcceptInvitation(ctx, invitationID); err != nil {
		log.Fatal(err)
	}
	following, err := mom.ListSubscriberAccountSubscriptions(ctx)
	if err != nil {
		log.Fatal(err)
	}
	for _, s := range following {
		readings, err := mom.ReadSubscriptionLatestGlucoseValues(ctx, s.SubscriptionID, 30, 6)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s (%s, %s): %d readings, newest %d mg/dL %s\n",
			s.DisplayName, s.State, s.Permissions, len(readings), readings[0].Value, readings[0].Trend.Arrow())
	}
	// Output:
	// Sam (Active, history): 2 readings, newest 224 mg/dL →
}

// Regions pick the host and the application id the hosted service expects.
func ExampleNewClient_regions() {
	for _, region := range []share.Region{share.RegionUS, share.RegionOUS, share.RegionJP} {
		c, err := share.NewClient(share.WithRegion(region), share.WithAccountID("b0b4a1c6-0d2e-4f6b-9c1a-5d2e7f3a9b10", "secret"))
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println(c.BaseURL(), region.ApplicationID())
	}
	// Output:
	// https://share2.dexcom.com/ShareWebServices/Services d89443d2-327c-4a6f-89e5-496bbb0317db
	// https://shareous1.dexcom.com/ShareWebServices/Services d89443d2-327c-4a6f-89e5-496bbb0317db
	// https://share.dexcom.jp/ShareWebServices/Services d8665ade-9673-4e27-9ff6-92db4ce13d13
}

// An injected *http.Client and a per-attempt timeout; every call takes a
// context.
func ExampleWithHTTPClient() {
	srv := startExampleServer()
	defer srv.Close()

	hc := &http.Client{Transport: http.DefaultTransport}
	c, err := share.NewClient(
		share.WithServer(srv.URL),
		share.WithHTTPClient(hc),
		share.WithTimeout(10*time.Second),
		share.WithUserAgent("my-app/1.0"),
		share.WithCredentials("sam@example.org", "correct horse battery"),
	)
	if err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	readings, err := c.ReadPublisherLatestGlucoseValues(ctx, 60, 12)
	if err != nil {
		log.Fatal(err)
	}
	for _, r := range readings {
		fmt.Printf("%3d %s\n", r.Value, r.Trend.Arrow())
	}
	// Output:
	// 224 →
	// 219 ↗
}

// Errors from the server are *CallError values wrapping the decoded error
// body: errors.Is matches codes, errors.As reaches the endpoint and status.
func ExampleCallError() {
	srv := startExampleServer()
	defer srv.Close()

	c, err := share.NewClient(share.WithServer(srv.URL), share.WithCredentials("nobody@example.org", "guess"))
	if err != nil {
		log.Fatal(err)
	}
	err = c.Login(context.Background())
	var ce *share.CallError
	if errors.As(err, &ce) {
		fmt.Println(ce.Endpoint, ce.Status, ce.Code())
	}
	fmt.Println(errors.Is(err, share.ErrAccountPasswordInvalid))
	// Output:
	// General/AuthenticatePublisherAccount 500 AccountPasswordInvalid
	// true
}

// exampleServer is a real glucoshare server on 127.0.0.1 for the examples:
// the protocol handler of package server over a fresh SQLite database in a
// temporary directory. It holds three accounts, all with the password
// "correct horse battery": sam@example.org (display name Sam), who shares
// two readings taken in a UTC−4 time zone in the last ten minutes;
// mom@example.org; and kim@example.org.
type exampleServer struct {
	URL  string
	http *httptest.Server
	db   *store.DB
	dir  string
}

// startExampleServer starts an exampleServer; the examples' process exits on
// failure.
func startExampleServer() *exampleServer {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "share-example-")
	if err != nil {
		log.Fatal(err)
	}
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "glucoshare.db"), store.Options{})
	if err != nil {
		log.Fatal(err)
	}
	if _, _, err := db.Migrate(ctx); err != nil {
		log.Fatal(err)
	}
	// Cheap password hashing keeps the examples quick; a server uses the
	// defaults.
	svc := core.New(db, core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1}})
	if err := seedExample(ctx, svc); err != nil {
		log.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	hs := httptest.NewServer(server.New(svc, server.Options{Logger: quiet}).Handler())
	return &exampleServer{URL: hs.URL, http: hs, db: db, dir: dir}
}

// Close stops the server and removes its database.
func (s *exampleServer) Close() {
	s.http.Close()
	s.db.Close()
	os.RemoveAll(s.dir)
}

// seedExample creates the example accounts and Sam's readings.
func seedExample(ctx context.Context, svc *core.Service) error {
	now := time.Now()
	var sam string
	for _, name := range []string{"sam@example.org", "mom@example.org", "kim@example.org"} {
		display := ""
		if name == "sam@example.org" {
			display = "Sam"
		}
		a, err := svc.CreateAccount(ctx, core.NewAccount{Name: name, DisplayName: display, Password: "correct horse battery"}, now)
		if err != nil {
			return err
		}
		if display != "" {
			sam = a.ID
		}
	}
	const serial = "SM12345678"
	if err := svc.StartMonitoring(ctx, sam, serial); err != nil {
		return err
	}
	_, err := svc.PostReadings(ctx, sam, serial, []core.EGV{
		{ST: now.Add(-8 * time.Minute).UnixMilli(), Value: 219, Trend: share.TrendFortyFiveUp, Offset: -240},
		{ST: now.Add(-3 * time.Minute).UnixMilli(), Value: 224, Trend: share.TrendFlat, Offset: -240},
	}, now)
	return err
}
