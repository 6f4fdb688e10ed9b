package shareapi_test

import (
	"fmt"
	"strings"
	"testing"
)

// TestTextInputsAreRefused: every string a request stores or looks up is
// checked before it reaches the database. A NUL or bytes that are not
// UTF-8 (both possible in a query string) made PostgreSQL answer
// InternalError and SQLite store what no reader expects; a huge contact
// name went straight into a look-up; display and contact names took bidi
// overrides and zero-width characters, which make a name read as another.
func TestTextInputsAreRefused(t *testing.T) {
	e := newEnv(t)
	sid := e.publisher("sam", "SM1")
	contact := strings.Trim(e.ok(e.post("Publisher/CreateContact?sessionId="+sid+"&contactName=Kim", "")).body, `"`)
	const part = "8d61be97-5cc9-4428-9823-1e3b97c36262"
	q := "?sessionId=" + sid
	cases := []struct{ path, want string }{
		{"Publisher/DoesContactExistByName" + q + "&contactName=Kim%00", "InvalidArgument"},
		{"Publisher/DoesContactExistByName" + q + "&contactName=" + strings.Repeat("k", 5000), "InvalidArgument"},
		{"Publisher/DoesContactExistByName" + q + "&contactName=%ff", "InvalidArgument"},
		{"Publisher/CreateContact" + q + "&contactName=Ann%ff", "InvalidArgument"},
		{"Publisher/CreateContact" + q + "&contactName=Ann%E2%80%AEnnA", "InvalidArgument"},       // right-to-left override
		{"Publisher/CreateContact" + q + "&contactName=Ann%E2%80%8B", "InvalidArgument"},          // zero-width space
		{"Publisher/CreateContact" + q + "&contactName=A%E2%81%A6nn%E2%81%A9", "InvalidArgument"}, // isolates
		{"Publisher/CreateContact" + q + "&contactName=Ann&emailAddress=ann%ff@example.org", "InvalidEmailAddress"},
		{"Publisher/UpdateContactName" + q + "&contactId=" + contact + "&contactName=Kim%EF%BB%BF", "InvalidArgument"},
		{"Publisher/UpdatePublisherAccountDisplayName" + q + "&displayName=Sam%ff", "InvalidArgument"},
		{"Publisher/UpdatePublisherAccountDisplayName" + q + "&displayName=Sam%E2%80%AEmaS", "InvalidArgument"},
		{"Publisher/UpdatePublisherAccountDisplayName" + q + "&displayName=S%E2%80%8Dam", "InvalidArgument"},
		{"Publisher/UpdatePublisherAccountEmail" + q + "&emailAddress=sam%00@example.org", "InvalidEmailAddress"},
		{"General/CreateNamedValue" + q + "&partitionId=" + part + "&name=a%00&value=x", "InvalidArgument"},
		{"General/CreateNamedValue" + q + "&partitionId=" + part + "&name=a%ff&value=x", "InvalidArgument"},
		{"General/CreateNamedValue" + q + "&partitionId=" + part + "&name=a&value=x%00y", "InvalidArgument"},
		{"General/CreateNamedValue" + q + "&partitionId=" + part + "&name=a&value=x%ffy", "InvalidArgument"},
		{"General/ReadNamedValue" + q + "&partitionId=" + part + "&name=a%00", "InvalidArgument"},
		{"Publisher/CreateSubscriptionInvitation" + q + "&contactId=" + contact, "InvalidArgument"}, // body below
	}
	for _, c := range cases {
		body := ""
		if strings.HasPrefix(c.path, "Publisher/CreateSubscriptionInvitation") {
			body = `{"DisplayName":"Sam\u202e"}`
		}
		r := e.post(c.path, body)
		if r.status != 500 || !strings.Contains(r.body, `"Code":"`+c.want+`"`) {
			t.Errorf("%.120s: %d %.200s; want %s", c.path, r.status, r.body, c.want)
		}
	}
	// JSON bodies carry text as JSON: a NUL escape is refused the same way,
	// and runtime info must be UTF-8.
	for _, c := range []struct{ path, body string }{
		{"General/CreateNamedValue", `{"sessionId":"` + sid + `","partitionId":"` + part + `","name":"a","value":"x\u0000"}`},
		{"Publisher/UpdatePublisherAccountRuntimeInfo", `{"sessionId":"` + sid + `","runtimeInfo":{"app":"x` + "\xff" + `"}}`},
	} {
		r := e.post(c.path, c.body)
		if r.status != 500 || !strings.Contains(r.body, `"Code":"InvalidArgument"`) {
			t.Errorf("%s %.80q: %d %.200s; want InvalidArgument", c.path, c.body, r.status, r.body)
		}
	}
	// ImageType is recorded, never checked: a NUL in it is dropped, not
	// stored (PostgreSQL refused it with InternalError).
	e.ok(e.post("Publisher/UpdatePublisherAccountImage", `{"sessionId":"`+sid+`","ImageType":"png\u0000\u00e9","ImageData":[137,80,78,71,13,10,26,10]}`))
	// Ordinary names in any script still work, emoji included.
	e.ok(e.post("Publisher/CreateContact"+q+"&contactName=%D0%90%D0%BD%D1%8F%20%F0%9F%98%80", ""))
	e.ok(e.post("Publisher/UpdatePublisherAccountDisplayName"+q+"&displayName=%D7%A9%D7%A8%D7%94", "")) // Hebrew, right-to-left by itself
}

// TestNamedValuesBoundedPerAccount: an account's named values are bounded
// as a whole, not only per partition: at most 16 partitions and 1 MiB of
// names and values. Before, any number of partitions could be created
// (1,001 writes took a database to 82 MB).
func TestNamedValuesBoundedPerAccount(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	sid := e.login("sam")
	put := func(endpoint, part, name string, size int) response {
		return e.post("General/"+endpoint, `{"sessionId":"`+sid+`","partitionId":"`+part+`","name":"`+name+`","value":"`+strings.Repeat("v", size)+`"}`)
	}
	partition := func(i int) string { return fmt.Sprintf("8d61be97-5cc9-4428-9823-%012d", i) }
	for i := 0; i < 16; i++ {
		e.ok(put("CreateNamedValue", partition(i), "a", 10))
	}
	we := e.wantError(put("CreateNamedValue", partition(16), "a", 10), 500, "NamedValueCreateFailed")
	if !strings.Contains(we.Message, "16 partitions") {
		t.Errorf("message %q does not say why", we.Message)
	}
	e.wantError(put("UpdateNamedValue", partition(17), "a", 10), 500, "NamedValueUpdateFailed")
	e.ok(put("CreateNamedValue", partition(3), "b", 10)) // an existing partition takes more
	// Bytes: 64 KiB values fill 1 MiB after 15 more.
	refused := -1
	for i := 0; i < 20; i++ {
		if r := put("CreateNamedValue", partition(0), fmt.Sprintf("big%d", i), 64<<10); r.status != 200 {
			e.wantError(r, 500, "NamedValueCreateFailed")
			refused = i
			break
		}
	}
	if refused < 14 || refused > 16 {
		t.Errorf("the %dth 64 KiB value was refused; want the 1 MiB bound reached at the 15th or 16th", refused+1)
	}
	// Overwriting with a smaller value, and deleting, make room again.
	e.ok(put("UpdateNamedValue", partition(0), "big0", 10))
	e.ok(put("CreateNamedValue", partition(0), fmt.Sprintf("big%d", refused), 60<<10))
	e.ok(e.post("General/DeleteAllNamedValues?sessionId="+sid+"&partitionId="+partition(5), ""))
	e.ok(put("CreateNamedValue", partition(16), "a", 10))
}
