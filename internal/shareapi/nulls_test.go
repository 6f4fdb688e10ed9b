package shareapi_test

import (
	"strings"
	"testing"
)

// TestUploadRefusesNullElements: a null where a value belongs is an
// invalid element, not a zero. Before, "Value": null decoded as 0, which
// step 5a skips as a special value, and the rest of the batch was stored.
// Now the whole batch is refused with InvalidArgument and nothing changes.
func TestUploadRefusesNullElements(t *testing.T) {
	e := newEnv(t)
	sid := e.publisher("sam", "8G1234")
	now := t0.UnixMilli()
	post := func(body string) response {
		return e.post("Publisher/PostReceiverEgvRecords?sessionId="+sid, body)
	}
	valid := egv(now-600000, "97", "") + "," + egv(now-300000, "98", "")
	bad := map[string]string{
		`{"ST":"/Date(` + itoa(int(now)) + `)/","Value":null,"Trend":4}`:     "Egvs[2].Value",
		`{"ST":"/Date(` + itoa(int(now)) + `)/","VALUE":null}`:               "Egvs[2].Value",
		`{"ST":"/Date(` + itoa(int(now)) + `)/","Value":100,"Value":null}`:   "Egvs[2].Value",
		`{"ST":null,"Value":100}`:                                            "Egvs[2].ST",
		`{"ST":"/Date(` + itoa(int(now)) + `)/","Value":100,"DT":"garbage"}`: "Egvs[2].DT",
		`null`: "Egvs[2]",
	}
	for el, where := range bad {
		we := e.wantError(post(`{"SN":"8G1234","Egvs":[`+valid+`,`+el+`]}`), 500, "InvalidArgument")
		if !strings.Contains(we.Message, where) {
			t.Errorf("element %s: message %q does not name %s", el, we.Message, where)
		}
	}
	if got := e.readings(sid, 60, 10); len(got) != 0 {
		t.Errorf("refused batches stored %d readings: %v", len(got), got)
	}
	e.ok(post(`{"SN":"8G1234","Egvs":[` + valid + `]}`))
	if got := e.readings(sid, 60, 10); len(got) != 2 {
		t.Errorf("valid batch: %d readings, want 2", len(got))
	}
}

// TestImageRefusesNullBytes: a null in ImageData's integer array is not a
// zero byte.
func TestImageRefusesNullBytes(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	sid := e.login("sam")
	e.wantError(e.post("Publisher/UpdatePublisherAccountImage?sessionId="+sid,
		`{"ImageType":"png","ImageData":[137,80,78,71,13,10,26,10,null,0]}`), 500, "InvalidArgument")
	e.wantError(e.do("GET", "/ShareWebServices/Services/Publisher/ReadPublisherAccountImage?sessionId="+sid, ""), 404, "ImageNotFound")
}
