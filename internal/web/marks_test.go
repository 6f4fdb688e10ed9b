package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/web"
)

// Treatments uploaded through the Nightscout API (carbohydrates,
// insulin) are marked at the foot of the sharer's chart, and of a
// follower's with history; a follower limited to the current value sees
// no chart, and so no treatments.
func TestTreatmentMarks(t *testing.T) {
	e := newEnv(t, web.Options{})
	ctx := context.Background()
	sam := e.account("sam", "Sam")
	e.account("kim", "Kim")
	e.upload(sam, 150, 160, 170)
	b := e.browser()
	b.signIn("sam")
	const carbsFill, insulinFill = "#8a5a00", "#1f5fbf"
	page := func() string { return strings.ToLower(b.get("/?h=3").body) }
	if p := page(); strings.Contains(p, carbsFill) || strings.Contains(p, insulinFill) {
		t.Fatal("marks without treatments")
	}
	acc := &core.NightscoutAccess{AccountID: sam, Admin: true}
	at := func(ago time.Duration) string { return e.clock.Now().Add(-ago).Format(time.RFC3339) }
	for _, body := range []string{
		`{"eventType":"Meal Bolus","created_at":"` + at(20*time.Minute) + `","carbs":30,"insulin":2.5}`,
		`{"eventType":"Note","created_at":"` + at(10*time.Minute) + `","notes":"no marks"}`,
		`{"eventType":"Carb Correction","created_at":"` + at(5*time.Hour) + `","carbs":"15"}`,
	} {
		if _, err := e.svc.WriteDocuments(ctx, acc, glucose.CollectionTreatments, []core.DocumentWrite{{Body: []byte(body)}}, e.clock.Now()); err != nil {
			t.Fatal(err)
		}
	}
	marks, err := e.svc.TreatmentMarks(ctx, sam, e.clock.Now().Add(-6*time.Hour).UnixMilli(), e.clock.Now().UnixMilli())
	if err != nil || len(marks) != 2 || marks[0].Carbs != 15 || marks[1].Carbs != 30 || marks[1].Insulin != 2.5 {
		t.Fatalf("marks: %+v %v", marks, err)
	}
	if p := page(); !strings.Contains(p, carbsFill) || !strings.Contains(p, insulinFill) {
		t.Errorf("the chart lacks the treatment marks")
	}
	// A follower with history sees them; one with the current value only
	// sees no chart and no treatments.
	e.account("lee", "Lee")
	for _, f := range []struct {
		name    string
		history bool
	}{{"kim", true}, {"lee", false}} {
		fb := e.browser()
		fb.signIn(f.name)
		link := b.invite(strings.ToUpper(f.name[:1])+f.name[1:], f.history)
		if to := fb.submit(link, link+"/accept"); to != "/?ok=accepted" {
			t.Fatalf("%s accepting: %q", f.name, to)
		}
		p := strings.ToLower(fb.get("/?h=3").body)
		if strings.Contains(p, insulinFill) != f.history {
			t.Errorf("%s (history %v) sees the treatment marks: %v", f.name, f.history, !f.history)
		}
	}
	// The 5-hour-old carbs are outside a 3-hour chart: an insulin-only
	// span shows no carbs.
	acc2 := &core.NightscoutAccess{AccountID: sam, Admin: true}
	if _, err := e.svc.DeleteDocuments(ctx, acc2, glucose.CollectionTreatments,
		glucose.DocQuery{Where: []glucose.Cond{{Field: "eventType", Op: glucose.OpEq, Values: []glucose.Value{glucose.Str("Meal Bolus")}}}}, e.clock.Now()); err != nil {
		t.Fatal(err)
	}
	if p := page(); strings.Contains(p, carbsFill) {
		t.Error("carbs outside the chart's span are marked")
	}
}
