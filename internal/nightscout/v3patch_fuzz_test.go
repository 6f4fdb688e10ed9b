package nightscout

import (
	"errors"
	"testing"

	"github.com/glucoshare/glucoshare/internal/nsdoc"
)

// FuzzV3Patch feeds API v3 PATCH bodies to their decoder and checks: no
// panic; a refusal is an API v3 error of 400 or 422; an accepted body is
// an object that changes no immutable member of the stored document.
func FuzzV3Patch(f *testing.F) {
	for _, seed := range []string{
		`{"carbs":25,"notes":"more"}`, `{"eventType":"Meal Bolus"}`, `{}`, ``, `[]`, `null`,
		`{"date":1745081013817}`, `{"date":"x"}`, `{"utcOffset":2000}`, `{"app":" "}`,
		`{"identifier":"a2d5d6a0-0000-5000-8000-000000000000"}`, `{"isValid":false}`,
		`{"a":{"b":[1,2,{"c":null}]}}`, `{"carbs":1e400}`, "{\"x\":\"\\ud800\"}",
	} {
		f.Add([]byte(seed))
	}
	stored, err := nsdoc.ParseObject([]byte(`{"eventType":"Carb Correction","carbs":20,"date":1745081013817,
		"utcOffset":0,"app":"AAPS","identifier":"0a7c1d52-2f51-4d7e-9c43-2d8f0e6b1a11","srvModified":1,"srvCreated":1}`))
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		o, err := decodeV3(body)
		if err == nil {
			err = checkReplace(o, stored, true, false)
		}
		if err != nil {
			var ve *v3Error
			if !errors.As(err, &ve) || ve.status != 400 && ve.status != 422 {
				t.Fatalf("refused with %v", err)
			}
			return
		}
		for _, field := range immutable {
			if o.Has(field) && !strictEqual(o.Raw(field), stored.Raw(field)) {
				t.Fatalf("accepted a change of %s: %s", field, body)
			}
		}
	})
}
