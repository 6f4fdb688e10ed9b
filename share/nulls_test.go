package share_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/glucoshare/glucoshare/share"
)

// TestClientRefusesNullReadings: a server that answers a reading list with
// a null element gets an error, not a reading at 1970 with value 0 (which
// encoding/json makes of null).
func TestClientRefusesNullReadings(t *testing.T) {
	body := `[{"WT":"Date(1745081013817)","ST":"Date(1745081013817)","DT":"Date(1745081013817+0000)","Value":120,"Trend":"Flat"},null]`
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(body))
	}))
	defer srv.Close()
	c, err := share.NewClient(share.WithBaseURL(srv.URL), share.WithSession("3c348745-d2b3-4e3e-a8fe-306c0c18eae6"))
	if err != nil {
		t.Fatal(err)
	}
	if rs, err := c.ReadPublisherLatestGlucoseValues(t.Context(), 60, 10); err == nil {
		t.Errorf("ReadPublisherLatestGlucoseValues = %+v, nil; want an error for the null element", rs)
	}
	if rs, err := c.ReadSubscriptionLatestGlucoseValues(t.Context(), "9a4f2c1e-6d7b-4e0a-8c3f-5b1d2e7a9c60", 60, 10); err == nil {
		t.Errorf("ReadSubscriptionLatestGlucoseValues = %+v, nil; want an error for the null element", rs)
	}
}
