// Package share speaks the Dexcom Share web service: a Go client for any
// Share server — a glucoshare server, or Dexcom's hosted service in the
// United States, outside it or in Japan — and the wire types that the
// glucoshare server uses too.
//
// The protocol itself is described in docs/protocol.md of the glucoshare
// repository; this package follows it, and its doc comments name the
// endpoint behind each method.
//
// # Client
//
// A [Client] acts for one account. Point it at a server with [WithServer]
// (a base URL such as "https://glucoshare.example.org", or "us", "ous",
// "jp") or [WithRegion], and give it credentials with [WithCredentials]
// (account name and password) or [WithAccountID]:
//
//	c, err := share.NewClient(
//		share.WithServer("https://glucoshare.example.org"),
//		share.WithCredentials("sam@example.org", password),
//	)
//	r, err := c.LatestReading(ctx)
//	fmt.Println(r.Value, r.Trend.Arrow(), r.LocalTime())
//
// The client logs in on first use the way pydexcom does — the account name
// becomes the account id (AuthenticatePublisherAccount), the id and the
// password a session (LoginPublisherAccountById) — or with
// LoginPublisherAccountByName or LoginSubscriberAccount when
// [WithLoginMethod] says so. When the server says the session ended
// (SessionNotValid, SessionIdNotFound) it logs in again once and repeats the
// call; on 429 and 503 it waits out Retry-After. Every method takes a
// [context.Context]; each HTTP attempt has its own timeout ([WithTimeout],
// 30 seconds by default), and [WithHTTPClient] injects the [net/http.Client].
// A Client is safe for concurrent use.
//
// Every endpoint has a method named after it, publisher and follower side:
// upload readings ([Client.StartRemoteMonitoringSession],
// [Client.PostReceiverEgvRecords]), read them
// ([Client.ReadPublisherLatestGlucoseValues], [Client.LatestReading]),
// invite followers ([Client.CreateContact],
// [Client.CreateSubscriptionInvitation]), follow
// ([Client.AcceptInvitation], [Client.ReadSubscriptionLatestGlucoseValues],
// [Client.ListSubscriptionAlarms]) and so on.
//
// # Errors
//
// A server's error answer comes back as a [*CallError] wrapping the decoded
// [*Error] body ({"Code","Message","SubCode","TypeName"}). [errors.Is]
// matches the code against the sentinels [ErrAccountPasswordInvalid],
// [ErrMaxAttempts], [ErrSessionNotValid] and [ErrSessionIDNotFound], or any
// [*Error] with the same [Code]; [RetryAfter] tells how long a lock or a
// pause lasts.
//
// # Wire types
//
// The same types serve the glucoshare server: [Reading] and its encoders
// ([AppendReading], in the modern and the pre-2022 legacy form), the date
// codec ([ParseDate], [ParseDateJSON], [DateTime]: every input form, .NET's
// \/Date(…)\/ included), [Trend] (numbers and names), ISO 8601 durations
// ([ParseDuration], [FormatDuration]), identifiers ([ParseID], [NewID],
// [NormalizeSerial]), alert settings ([AlertSettings],
// [DefaultAlertSettings]) and error codes ([Code], [AppendErrorBody]).
package share
