package nightscout_test

import (
	"context"
	"testing"

	"github.com/glucoshare/glucoshare/internal/core"
)

// A reading uploaded through the Nightscout API raises its followers'
// alarms at once, as a Share upload does (docs/protocol.md, "When alarms are evaluated"), not at the next tick.
func TestNightscoutUploadRaisesAlarms(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	ctx := context.Background()
	sam := e.account("sam", samSecret)
	kim := e.account("kim", "")
	sub := e.subscribe(sam, kim, 1)
	// An urgent low (the fixed low alarm is always on, at 55 by default).
	r := e.do("POST", "/api/v1/entries", `[{"type":"sgv","sgv":45,"date":`+itoa(ms(0))+`,"direction":"SingleDown"}]`,
		"api-secret", core.NightscoutSecretHash(samSecret), "Content-Type", "application/json")
	if r.status != 200 {
		t.Fatalf("upload: %d %s", r.status, r.body)
	}
	alarms, err := e.svc.Alarms(ctx, kim, sub, 60, e.clock.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(alarms) != 1 {
		t.Errorf("kim's alarms right after the upload: %+v, want the urgent low", alarms)
	}
}
