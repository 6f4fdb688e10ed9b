package shareapi_test

import (
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
)

var uuidBody = regexp.MustCompile(`^"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}"$`)

func TestSystemUtcTime(t *testing.T) {
	e := newEnv(t)
	for _, m := range []string{http.MethodGet, http.MethodPost} {
		r := e.ok(e.do(m, "/ShareWebServices/Services/General/SystemUtcTime", ""))
		if want := `{"DateTime":"/Date(1745081013817)/","OffsetMinutes":0}`; r.body != want {
			t.Errorf("%s body %s, want %s", m, r.body, want)
		}
	}
	r := e.ok(e.do(http.MethodHead, "/ShareWebServices/Services/General/SystemUtcTime", ""))
	if r.body != "" {
		t.Errorf("HEAD body %q, want empty", r.body)
	}
	e.wantError(e.do(http.MethodPut, "/ShareWebServices/Services/General/SystemUtcTime", ""), 405, "MethodNotAllowed")
}

func TestRouting(t *testing.T) {
	e := newEnv(t)
	// Case-insensitive base, area and method; repeated and trailing slashes.
	for _, p := range []string{
		"/sharewebservices/services/general/systemutctime",
		"//ShareWebServices//Services/General/SystemUtcTime/",
		"/SHAREWEBSERVICES/SERVICES/GENERAL/SYSTEMUTCTIME",
	} {
		e.ok(e.do(http.MethodGet, p, ""))
	}
	e.wantError(e.do(http.MethodPost, "/ShareWebServices/Services/General/NoSuchThing", ""), 404, "EndpointNotFound")
	// An endpoint exists only under its documented area.
	e.wantError(e.do(http.MethodPost, "/ShareWebServices/Services/Publisher/SystemUtcTime", ""), 404, "EndpointNotFound")
	r := e.wantError(e.do(http.MethodGet, "/ShareWebServices/Services/Publisher/PostReceiverEgvRecords", ""), 405, "MethodNotAllowed")
	_ = r
	if got := e.do(http.MethodGet, "/ShareWebServices/Services/Publisher/PostReceiverEgvRecords", "").header.Get("Allow"); got != "POST" {
		t.Errorf("Allow %q, want POST", got)
	}
	if got := e.do(http.MethodGet, "/healthz", ""); got.status != 200 || got.body != "ok\n" {
		t.Errorf("healthz %d %q", got.status, got.body)
	}
}

func TestLoginByNameAndID(t *testing.T) {
	e := newEnv(t)
	id := e.account("sam@example.org")

	r := e.ok(e.post("General/LoginPublisherAccountByName", `{"accountName":"  SAM@example.org ","password":"correct horse","applicationId":"d8665ade-9673-4e27-9ff6-92db4ce13d13"}`))
	if !uuidBody.MatchString(r.body) || len(r.body) != 38 {
		t.Fatalf("session body %q, want a 38-byte quoted UUID", r.body)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}

	r = e.ok(e.post("General/AuthenticatePublisherAccount?sessionId=x&serialNumber=SM1", `{"accountName":"sam@example.org","password":"correct horse"}`))
	if r.body != `"`+id+`"` {
		t.Errorf("Authenticate body %s, want the account id %s", r.body, id)
	}
	r = e.ok(e.post("General/LoginPublisherAccountById", `{"accountId":"`+strings.ToUpper(id)+`","password":"correct horse"}`))
	if !uuidBody.MatchString(r.body) {
		t.Errorf("LoginById body %q", r.body)
	}
	r = e.ok(e.post("General/LoginSubscriberAccount", `{"accountId":"{`+id+`}","password":"correct horse"}`))
	if !uuidBody.MatchString(r.body) {
		t.Errorf("LoginSubscriber body %q", r.body)
	}
	r = e.ok(e.post("General/LoginSubscriberAccount", `{"accountId":"","accountName":"sam@example.org","password":"correct horse"}`))
	if !uuidBody.MatchString(r.body) {
		t.Errorf("LoginSubscriber by name body %q", r.body)
	}
}

func TestLoginFormats(t *testing.T) {
	e := newEnv(t)
	id := e.account("watch")
	r := e.ok(e.post("General/LoginPublisherAccountById?format=object", `{"accountId":"`+id+`","password":"correct horse"}`))
	if !regexp.MustCompile(`^\{"SessionId":"[0-9a-f-]{36}"\}$`).MatchString(r.body) {
		t.Errorf("format=object body %s", r.body)
	}
	r = e.ok(e.post("General/AuthenticatePublisherAccount", `{"accountName":"watch","password":"correct horse","format":"object"}`))
	if r.body != `{"AccountId":"`+id+`"}` {
		t.Errorf("Authenticate format=object body %s", r.body)
	}
	r = e.ok(e.post("General/LoginPublisherAccountByName?format=text", `{"accountName":"watch","password":"correct horse"}`))
	if len(r.body) != 36 || r.header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("format=text: %q %q", r.body, r.header.Get("Content-Type"))
	}
	e.wantError(e.post("General/LoginPublisherAccountByName?format=xml", `{"accountName":"watch","password":"correct horse"}`), 500, "InvalidArgument")
}

func TestLoginErrors(t *testing.T) {
	e := newEnv(t)
	id := e.account("sam")
	cases := []struct {
		name, path, body, code, messageHas string
	}{
		{"missing name", "LoginPublisherAccountByName", `{"password":"x"}`, "InvalidArgument", "accountName"},
		{"blank name", "LoginPublisherAccountByName", `{"accountName":"  ","password":"x"}`, "InvalidArgument", "accountName"},
		{"missing password", "LoginPublisherAccountByName", `{"accountName":"sam"}`, "InvalidArgument", "password"},
		{"wrong password", "LoginPublisherAccountByName", `{"accountName":"sam","password":"wrong"}`, "AccountPasswordInvalid", ""},
		{"unknown name", "LoginPublisherAccountByName", `{"accountName":"nobody","password":"wrong"}`, "AccountPasswordInvalid", ""},
		{"empty id", "LoginPublisherAccountById", `{"accountId":"","password":"x"}`, "AccountPasswordInvalid", ""},
		{"missing id", "LoginPublisherAccountById", `{"password":"x"}`, "AccountPasswordInvalid", ""},
		{"zero id", "LoginPublisherAccountById", `{"accountId":"00000000-0000-0000-0000-000000000000","password":"x"}`, "AccountPasswordInvalid", ""},
		{"numeric id", "LoginPublisherAccountById", `{"accountId":1,"password":"x"}`, "InvalidArgument", "UUID"},
		{"unknown id", "LoginPublisherAccountById", `{"accountId":"3c348745-d2b3-4e3e-a8fe-306c0c18eae6","password":"x"}`, "AccountPasswordInvalid", ""},
		{"malformed body", "LoginPublisherAccountByName", `{"accountName":`, "InvalidArgument", ""},
		{"object as name", "LoginPublisherAccountByName", `{"accountName":{},"password":"x"}`, "InvalidArgument", "accountName"},
	}
	var unknownMsg, wrongMsg string
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			we := e.wantError(e.post("General/"+c.path, c.body), 500, c.code)
			if c.messageHas != "" && !strings.Contains(we.Message, c.messageHas) {
				t.Errorf("Message %q does not contain %q", we.Message, c.messageHas)
			}
			if c.code == "AccountPasswordInvalid" && strings.Contains(we.Message, "password") {
				t.Errorf("Message %q contains 'password' for a credential failure", we.Message)
			}
			switch c.name {
			case "unknown name":
				unknownMsg = we.Message
			case "wrong password":
				wrongMsg = we.Message
			}
		})
	}
	if unknownMsg != wrongMsg {
		t.Errorf("unknown user answers %q, wrong password %q; want identical", unknownMsg, wrongMsg)
	}
	_ = id
}

func TestNumericAccountNameAndPassword(t *testing.T) {
	e := newEnv(t)
	if _, err := e.svc.CreateAccount(t.Context(), core.NewAccount{Name: "+4686751622", Password: "12345678901"}, t0); err != nil {
		t.Fatal(err)
	}
	// Nightscout turns "+4686751622" into a number and the password into one too.
	e.ok(e.post("General/LoginPublisherAccountByName", `{"accountName":4686751622,"password":12345678901}`))
	e.ok(e.post("General/AuthenticatePublisherAccount", `{"accountName":4686751622,"password":12345678901}`))
}

// TestLoginDelays: failures from one address delay that address's next
// attempts (docs/protocol.md, "Login throttling" as changed, docs/security.md): 5 are free, then 1 s, 2 s,
// 4 s …; during a delay even the right password is refused without being
// checked, and nothing is counted. Logins by name and by id share one
// counter per account, a success starts it again, other accounts are not
// touched, and unknown names behave like known ones.
func TestLoginDelays(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	e.account("other")
	bad := `{"accountName":"sam","password":"wrong"}`
	for i := 0; i < 4; i++ {
		e.wantError(e.post("General/LoginPublisherAccountByName", bad), 500, "AccountPasswordInvalid")
		e.clock.Advance(time.Minute)
	}
	samID := e.ok(e.post("General/AuthenticatePublisherAccount", `{"accountName":"sam","password":"correct horse"}`)).body
	// A success clears the failures: five are free again, by id as well.
	for i := 0; i < 4; i++ {
		e.wantError(e.post("General/LoginPublisherAccountById", `{"accountId":`+samID+`,"password":"wrong"}`), 500, "AccountPasswordInvalid")
	}
	e.wantError(e.post("General/LoginPublisherAccountByName", bad), 500, "AccountPasswordInvalid") // 5th
	for _, want := range []string{"1", "1"} {
		r := e.post("General/LoginPublisherAccountByName", `{"accountName":"sam","password":"correct horse"}`)
		we := e.wantError(r, 500, "SSO_AuthenticateMaxAttemptsExceeded")
		if ra := r.header.Get("Retry-After"); ra != want || !strings.Contains(we.Message, "try again in "+want+" seconds") {
			t.Errorf("Retry-After %q, message %q; want %s", ra, we.Message, want)
		}
	}
	e.ok(e.post("General/LoginPublisherAccountByName", `{"accountName":"other","password":"correct horse"}`))
	e.clock.Advance(time.Second)
	e.wantError(e.post("General/LoginPublisherAccountById", `{"accountId":`+samID+`,"password":"wrong"}`), 500, "AccountPasswordInvalid") // 6th
	r := e.post("General/LoginPublisherAccountById", `{"accountId":`+samID+`,"password":"correct horse"}`)
	if e.wantError(r, 500, "SSO_AuthenticateMaxAttemptsExceeded"); r.header.Get("Retry-After") != "2" {
		t.Errorf("after the 6th failure: Retry-After %q, want 2", r.header.Get("Retry-After"))
	}
	e.clock.Advance(2 * time.Second)
	e.ok(e.post("General/LoginPublisherAccountByName", `{"accountName":"sam","password":"correct horse"}`))

	// Unknown names are throttled exactly like known ones.
	for i := 0; i < 5; i++ {
		e.wantError(e.post("General/LoginPublisherAccountByName", `{"accountName":"ghost","password":"x"}`), 500, "AccountPasswordInvalid")
	}
	e.wantError(e.post("General/LoginPublisherAccountByName", `{"accountName":"GHOST","password":"x"}`), 500, "SSO_AuthenticateMaxAttemptsExceeded")
}

func TestSessions(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	sid := e.login("sam")
	call := func(q string) response {
		return e.post("Publisher/IsRemoteMonitoringSessionActive"+q, "")
	}
	if r := e.ok(call("?sessionId=" + sid)); r.body != "false" {
		t.Errorf("IsRemoteMonitoringSessionActive %q", r.body)
	}
	// Any case of the name, upper-case id, quotes and braces, body-only.
	e.ok(call("?SESSIONID=" + strings.ToUpper(sid)))
	e.ok(call("?sessionID=%22" + sid + "%22"))
	e.ok(e.post("Publisher/IsRemoteMonitoringSessionActive", `{"sessionId":"`+sid+`"}`))
	for _, q := range []string{"", "?sessionId=", "?sessionId=00000000-0000-0000-0000-000000000000", "?sessionId=nope", "?sessionId=3c348745-d2b3-4e3e-a8fe-306c0c18eae6"} {
		e.wantError(call(q), 500, "SessionIdNotFound")
	}
	// Idle expiry, renewed by use.
	e.clock.Advance(23 * time.Hour)
	e.ok(call("?sessionId=" + sid))
	e.clock.Advance(23 * time.Hour)
	e.ok(call("?sessionId=" + sid))
	e.clock.Advance(24*time.Hour + 2*time.Minute)
	e.wantError(call("?sessionId="+sid), 500, "SessionNotValid")

	// Logout ends at once; logging out again succeeds.
	sid = e.login("sam")
	e.ok(e.post("Publisher/LogoutPublisherAccount?sessionId="+sid, ""))
	e.wantError(call("?sessionId="+sid), 500, "SessionNotValid")
	e.ok(e.post("Publisher/LogoutPublisherAccount?sessionId="+sid, ""))
	e.wantError(e.post("Publisher/LogoutPublisherAccount?sessionId=3c348745-d2b3-4e3e-a8fe-306c0c18eae6", ""), 500, "SessionIdNotFound")

	// A disabled account's sessions stop working.
	sid = e.login("sam")
	a, _ := e.svc.FindAccount(t.Context(), "sam")
	if err := e.svc.SetDisabled(t.Context(), a.ID, true, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	e.wantError(call("?sessionId="+sid), 500, "SessionNotValid")
	e.wantError(e.post("General/LoginPublisherAccountByName", `{"accountName":"sam","password":"correct horse"}`), 500, "AccountPasswordInvalid")
}

func TestSessionAbsoluteLifetime(t *testing.T) {
	e := newEnv(t, func(c *core.Config) { c.SessionMax = 2 * time.Hour })
	e.account("sam")
	sid := e.login("sam")
	e.clock.Advance(time.Hour)
	e.ok(e.post("Publisher/IsRemoteMonitoringSessionActive?sessionId="+sid, ""))
	e.clock.Advance(time.Hour + time.Second)
	e.wantError(e.post("Publisher/IsRemoteMonitoringSessionActive?sessionId="+sid, ""), 500, "SessionNotValid")
}

func TestBodyTolerance(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	sid := e.login("sam")
	q := "Publisher/ReadPublisherLatestGlucoseValues?sessionId=" + sid + "&minutes=1440&maxCount=1"
	for _, body := range []string{"", "null", "{}", `""`, "\ufeff  {}  ", "not json at all"} {
		for _, ct := range []string{"", "application/json", "text/plain"} {
			r := e.do(http.MethodPost, "/ShareWebServices/Services/"+q, body, "Content-Type", ct)
			if r.status != 200 || r.body != "[]" {
				t.Errorf("body %q ct %q: %d %s", body, ct, r.status, r.body)
			}
		}
	}
	// Parameters only in a JSON body (tgiv014 dexcom-share).
	r := e.ok(e.post("Publisher/ReadPublisherLatestGlucoseValues", `{"sessionId":"`+sid+`","minutes":1440,"maxCount":1}`))
	if r.body != "[]" {
		t.Errorf("JSON-body params: %s", r.body)
	}
	// A form body.
	r = e.ok(e.do(http.MethodPost, "/ShareWebServices/Services/Publisher/ReadPublisherLatestGlucoseValues", "sessionId="+sid+"&minutes=10", "Content-Type", "application/x-www-form-urlencoded"))
	if r.body != "[]" {
		t.Errorf("form params: %s", r.body)
	}
	// A body that is needed but unparsable.
	e.wantError(e.do(http.MethodPost, "/ShareWebServices/Services/Publisher/ReadPublisherLatestGlucoseValues", "garbage", "Content-Type", "text/plain"), 500, "InvalidArgument")
	e.wantError(e.post("Publisher/ReadPublisherLatestGlucoseValues", `{"sessionId":`), 500, "InvalidArgument")
}

func TestRequestTooLarge(t *testing.T) {
	e := newEnv(t)
	big := `{"accountName":"` + strings.Repeat("a", 10<<20) + `"}`
	e.wantError(e.post("General/LoginPublisherAccountByName", big), 413, "RequestTooLarge")
	// Up to 4 MiB is fine for an upload, beyond is not.
	sid := e.publisher("sam", "SM1")
	e.ok(e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, `{"SN":"SM1","Egvs":[],"pad":"`+strings.Repeat("x", 3<<20)+`"}`))
	e.wantError(e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, `{"SN":"SM1","pad":"`+strings.Repeat("x", 5<<20)+`"}`), 413, "RequestTooLarge")
}

func TestChangePassword(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	keep := e.login("sam")
	other := e.login("sam")
	path := "Publisher/ChangePublisherAccountPassword?sessionId=" + keep
	e.wantError(e.post(path, `{"oldPassword":"wrong","newPassword":"new password"}`), 500, "AccountPasswordInvalid")
	e.wantError(e.post(path, `{"oldPassword":"correct horse","newPassword":"short"}`), 500, "InvalidArgument")
	e.ok(e.post(path, `{"currentPassword":"correct horse","newPassword":"new password"}`))
	e.ok(e.post("Publisher/IsRemoteMonitoringSessionActive?sessionId="+keep, ""))
	e.wantError(e.post("Publisher/IsRemoteMonitoringSessionActive?sessionId="+other, ""), 500, "SessionNotValid")
	e.wantError(e.post("General/LoginPublisherAccountByName", `{"accountName":"sam","password":"correct horse"}`), 500, "AccountPasswordInvalid")
	e.ok(e.post("General/LoginPublisherAccountByName", `{"accountName":"sam","password":"new password"}`))
	// Wrong old passwords are throttled too, on the session's own counter.
	for i := 0; i < 5; i++ {
		e.post(path, `{"oldPassword":"wrong","newPassword":"new password 2"}`)
	}
	e.wantError(e.post(path, `{"oldPassword":"new password","newPassword":"new password 2"}`), 500, "SSO_AuthenticateMaxAttemptsExceeded")
	e.ok(e.post("General/LoginPublisherAccountByName", `{"accountName":"sam","password":"new password"}`))
}

func TestNamedValues(t *testing.T) {
	e := newEnv(t, func(c *core.Config) { c.NamedValueLimit = 3 })
	e.account("sam")
	sid := e.login("sam")
	const part = "8d61be97-5cc9-4428-9823-1e3b97c36262"
	create := func(name, value string) response {
		return e.post("General/CreateNamedValue", `{"sessionId":"`+sid+`","partitionId":"`+part+`","name":"`+name+`","value":`+value+`}`)
	}
	e.ok(create("b", `"two"`))
	e.ok(create("a", `{"x": [1, 2]}`))
	e.ok(e.post("General/UpdateNamedValue", `{"sessionId":"`+sid+`","partitionId":"`+part+`","name":"b","value":"2"}`))
	r := e.ok(e.do(http.MethodGet, "/ShareWebServices/Services/General/ReadNamedValue?sessionId="+sid+"&partitionId="+part+"&name=a", ""))
	if r.body != `"{\"x\":[1,2]}"` {
		t.Errorf("ReadNamedValue a = %s", r.body)
	}
	r = e.ok(e.do(http.MethodGet, "/ShareWebServices/Services/General/ReadNamedValue?sessionId="+sid+"&partitionId="+part+"&name=b", ""))
	if r.body != `"2"` {
		t.Errorf("ReadNamedValue b = %s", r.body)
	}
	e.wantError(e.do(http.MethodGet, "/ShareWebServices/Services/General/ReadNamedValue?sessionId="+sid+"&partitionId="+part+"&name=zz", ""), 500, "NamedValueReadFailed")
	e.ok(create("B", `"upper"`))
	e.wantError(create("c", `"over"`), 500, "NamedValueCreateFailed")
	e.wantError(e.post("General/UpdateNamedValue", `{"sessionId":"`+sid+`","partitionId":"`+part+`","name":"d","value":"x"}`), 500, "NamedValueUpdateFailed")
	e.ok(create("a", `"overwrite at the limit is fine"`))
	r = e.ok(e.do(http.MethodGet, "/ShareWebServices/Services/General/ListValueNames?sessionId="+sid+"&partitionId="+part, ""))
	if r.body != `["B","a","b"]` {
		t.Errorf("ListValueNames = %s, want byte order", r.body)
	}
	e.wantError(e.do(http.MethodGet, "/ShareWebServices/Services/General/ListValueNames?sessionId="+sid+"&partitionId=bad", ""), 500, "InvalidArgument")
	r = e.ok(e.post("General/DeleteAllNamedValues?sessionId="+sid+"&partitionId="+part, ""))
	if r.body != "3" {
		t.Errorf("DeleteAllNamedValues = %s, want 3", r.body)
	}
	r = e.ok(e.do(http.MethodGet, "/ShareWebServices/Services/General/ListValueNames?sessionId="+sid+"&partitionId="+part, ""))
	if r.body != `[]` {
		t.Errorf("ListValueNames after delete = %s", r.body)
	}
	// Another account's partition is its own.
	e.account("kim")
	kim := e.login("kim")
	e.ok(create("a", `"mine"`))
	e.wantError(e.do(http.MethodGet, "/ShareWebServices/Services/General/ReadNamedValue?sessionId="+kim+"&partitionId="+part+"&name=a", ""), 500, "NamedValueReadFailed")
}

func TestNoTrailingNewlineAndGzip(t *testing.T) {
	e := newEnv(t)
	sid := e.publisher("sam", "SM1")
	var egvs []string
	for i := 0; i < 50; i++ {
		egvs = append(egvs, `{"ST":"/Date(`+itoa(int(t0.UnixMilli())-i*300000)+`)/","DT":"/Date(`+itoa(int(t0.UnixMilli())-i*300000)+`)/","Value":100,"Trend":4}`)
	}
	e.ok(e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, `{"SN":"SM1","Egvs":[`+strings.Join(egvs, ",")+`],"TA":-5}`))
	path := "/ShareWebServices/Services/Publisher/ReadPublisherLatestGlucoseValues?sessionId=" + sid + "&maxCount=50"
	r := e.ok(e.do(http.MethodPost, path, "", "Accept-Encoding", "application/json"))
	if r.header.Get("Content-Encoding") != "" || strings.HasSuffix(r.body, "\n") {
		t.Errorf("pydexcom's Accept-Encoding got encoding %q or a trailing newline", r.header.Get("Content-Encoding"))
	}
	var rs []json.RawMessage
	if err := json.Unmarshal([]byte(r.body), &rs); err != nil || len(rs) != 50 {
		t.Fatalf("readings: %v, %d", err, len(rs))
	}
	r = e.ok(e.do(http.MethodPost, path, "", "Accept-Encoding", "gzip, deflate"))
	if r.header.Get("Content-Encoding") != "gzip" {
		t.Errorf("gzip not used when asked")
	}
}
