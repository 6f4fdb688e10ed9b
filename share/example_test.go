package share_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

// Read the newest reading from a glucoshare server. Against Dexcom's
// hosted service, use share.WithRegion(share.RegionUS) (or RegionOUS,
// RegionJP) instead of a URL.
func Example() {
	server := exampleServer() // e.g. "http://127.0.0.1:8080"
	c, err := share.NewClient(
		share.WithServer(server),
		share.WithCredentials("sam@example.org", "correct horse battery"),
	)
	if err != nil {
		log.Fatal(err)
	}
	r, err := c.LatestReading(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(r.Value, "mg/dL", r.Trend.Arrow(), r.Trend)
	fmt.Println(r.LocalTime().Format("2006-01-02 15:04 -0700"))
	// Output:
	// 224 mg/dL → Flat
	// 2025-04-19 12:43 -0400
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
	hc := &http.Client{Transport: http.DefaultTransport}
	c, err := share.NewClient(
		share.WithServer(exampleServer()),
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
		fmt.Printf("%s %3d %s\n", r.LocalTime().Format("15:04"), r.Value, r.Trend.Arrow())
	}
	// Output:
	// 12:43 224 →
	// 12:38 219 ↗
}

// Errors from the server are *CallError values wrapping the decoded error
// body: errors.Is matches codes, RetryAfter tells when a lock lifts.
func ExampleCallError() {
	c, err := share.NewClient(share.WithServer(exampleServer()), share.WithCredentials("locked@example.org", "guess"))
	if err != nil {
		log.Fatal(err)
	}
	err = c.Login(context.Background())
	switch {
	case errors.Is(err, share.ErrMaxAttempts):
		wait, _ := share.RetryAfter(err)
		fmt.Println("locked; try again in", wait)
	case errors.Is(err, share.ErrAccountPasswordInvalid):
		fmt.Println("wrong user name or password")
	case err != nil:
		fmt.Println("error:", err)
	}
	var ce *share.CallError
	if errors.As(err, &ce) {
		fmt.Println(ce.Endpoint, ce.Status, ce.Code())
	}
	// Output:
	// locked; try again in 15m0s
	// General/AuthenticatePublisherAccount 500 SSO_AuthenticateMaxAttemptsExceeded
}

// Followers: invite a contact, then read the follower's view.
func ExampleClient_CreateSubscriptionInvitation() {
	ctx := context.Background()
	c, err := share.NewClient(share.WithServer(exampleServer()), share.WithCredentials("sam@example.org", "correct horse battery"))
	if err != nil {
		log.Fatal(err)
	}
	contactID, err := c.CreateContact(ctx, "Mom", "mom@example.org")
	if err != nil {
		log.Fatal(err)
	}
	subscriptionID, err := c.CreateSubscriptionInvitation(ctx, contactID, share.Invite{DisplayName: "Sam"})
	if err != nil {
		log.Fatal(err)
	}
	invitationID, err := c.ReadSubscriptionInviteID(ctx, subscriptionID)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("give Mom the invitation", invitationID)
	// Output:
	// give Mom the invitation e81b3d5f-0c2a-4f6e-9b7d-1a3c5e7f9b2d
}

// exampleServer stands in for a Share server with PROTOCOL.md's example
// answers.
func exampleServer() string {
	answers := map[string]string{
		"General/AuthenticatePublisherAccount":          `"b0b4a1c6-0d2e-4f6b-9c1a-5d2e7f3a9b10"`,
		"General/LoginPublisherAccountById":             `"3c348745-d2b3-4e3e-a8fe-306c0c18eae6"`,
		"Publisher/ReadPublisherLatestGlucoseValues":    exReadings,
		"Publisher/CreateContact":                       `"7d1e5f0a-3b8c-4e2d-9f61-0a2b3c4d5e6f"`,
		"Publisher/CreateSubscriptionInvitation":        `"9a4f2c1e-6d7b-4e0a-8c3f-5b1d2e7a9c60"`,
		"Publisher/ReadSubscriptionInviteId":            `"e81b3d5f-0c2a-4f6e-9b7d-1a3c5e7f9b2d"`,
		"Publisher/IsRemoteMonitoringSessionActive":     `true`,
		"Publisher/ListPublisherAccountSubscriptions":   `[]`,
		"Subscriber/ListSubscriberAccountSubscriptions": `[]`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		ep := strings.TrimPrefix(r.URL.Path, share.BasePath+"/")
		body, _ := io.ReadAll(r.Body)
		if strings.Contains(string(body), "locked@example.org") {
			w.Header().Set("Retry-After", "900")
			w.WriteHeader(http.StatusInternalServerError)
			io.WriteString(w, `{"Code":"SSO_AuthenticateMaxAttemptsExceeded","Message":"Too many failed attempts.","SubCode":"x","TypeName":"FaultException"}`)
			return
		}
		io.WriteString(w, answers[ep])
	}))
	return srv.URL // the examples' process ends soon; the server is not closed
}
