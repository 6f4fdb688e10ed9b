package core_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// noticeSink keeps the invitation e-mails the service hands over.
type noticeSink struct {
	mu      sync.Mutex
	notices []glucose.InvitationNotice
}

func (s *noticeSink) SendInvitation(_ context.Context, n glucose.InvitationNotice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.notices = append(s.notices, n)
}

// TestUnitsOfAccountsTokensAndInvitations: an account is created with
// units or without; an image link carries its creator's units; an
// invitation e-mail describes the proposed alerts in the publisher's.
func TestUnitsOfAccountsTokensAndInvitations(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2025, 4, 19, 16, 43, 0, 0, time.UTC)
	sink := &noticeSink{}
	svc := core.New(storetest.New(t), core.Config{Argon2: core.Argon2Params{Memory: 64, Time: 1, Threads: 1},
		Mailer: sink, InviteTTL: time.Hour, MaxFollowers: 10})
	add := func(name string, u glucose.Units) *glucose.Account {
		t.Helper()
		a, err := svc.CreateAccount(ctx, core.NewAccount{Name: name, Password: "a long password", Units: u}, now)
		if err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		return a
	}
	sam, kim := add("sam", glucose.UnitsMmol), add("kim", glucose.UnitsUnset)
	if got, _ := svc.FindAccount(ctx, "sam"); got.Units != glucose.UnitsMmol {
		t.Errorf("sam's units %q, want mmol/L", got.Units)
	}
	if got, _ := svc.FindAccount(ctx, "kim"); got.Units != glucose.UnitsUnset {
		t.Errorf("kim's units %q, want unset", got.Units)
	}
	if _, err := svc.CreateAccount(ctx, core.NewAccount{Name: "x", Password: "a long password", Units: "furlongs"}, now); glucose.ErrorCode(err) == "" {
		t.Errorf("bad units accepted: %v", err)
	}

	// Image links: the creator's units, as they are at each fetch.
	tok, _, err := svc.CreateReadToken(ctx, sam.ID, "", "", now)
	if err != nil {
		t.Fatal(err)
	}
	if a, err := svc.TokenAccess(ctx, tok, sam.ID); err != nil || a.Units != glucose.UnitsMmol {
		t.Errorf("token access %+v, %v; want mmol/L", a, err)
	}
	if err := svc.SetUnits(ctx, sam.ID, glucose.UnitsMgdl); err != nil {
		t.Fatal(err)
	}
	if a, _ := svc.TokenAccess(ctx, tok, sam.ID); a.Units != glucose.UnitsMgdl {
		t.Errorf("after a change of units the token shows %q", a.Units)
	}

	// Invitation e-mails: the publisher's units.
	invite := func(pub *glucose.Account, email string) glucose.InvitationNotice {
		t.Helper()
		c, err := svc.CreateContact(ctx, pub.ID, email, email, now)
		if err != nil {
			t.Fatal(err)
		}
		low := int64(70)
		if _, err := svc.Invite(ctx, pub.ID, c.ID, core.Invitation{Alerts: core.AlertsInput{
			Low:    &core.AlertInput{IsEnabled: ptr(true), MaxValue: &low},
			NoData: &core.AlertInput{IsEnabled: ptr(true), AlarmDelay: ptr(share.FormatDuration(20 * time.Minute))}}}, now); err != nil {
			t.Fatal(err)
		}
		sink.mu.Lock()
		defer sink.mu.Unlock()
		return sink.notices[len(sink.notices)-1]
	}
	if n := invite(kim, "mom@example.org"); n.Alerts != "urgent low below 55 mg/dL, low below 70 mg/dL, no data for 20 min" || !n.History {
		t.Errorf("mg/dL invitation: %+v", n)
	}
	if err := svc.SetUnits(ctx, kim.ID, glucose.UnitsMmol); err != nil {
		t.Fatal(err)
	}
	if n := invite(kim, "dad@example.org"); n.Alerts != "urgent low below 3.1 mmol/L, low below 3.9 mmol/L, no data for 20 min" {
		t.Errorf("mmol/L invitation: %q", n.Alerts)
	}
}
