package main

import "testing"

func TestMedians(t *testing.T) {
	rows := []row{
		{Scenario: "latest", CPUus: 31, CeilingCPUus: 22, CPURatio: 1.41, Load: "1.62 1.06 0.45"},
		{Scenario: "upload", CPUus: 160, CeilingCPUus: 25, CPURatio: 6.4, Errors: 2, FirstError: "timeout", Load: "2.60 1.32 0.54"},
		{Scenario: "latest", CPUus: 29, CeilingCPUus: 23, CPURatio: 1.26, Load: "1.70 1.10 0.50"},
		{Scenario: "upload", CPUus: 170, CeilingCPUus: 24, CPURatio: 7.08, Errors: 1, Load: "2.10 1.30 0.60"},
		{Scenario: "latest", CPUus: 40, CeilingCPUus: 21, CPURatio: 1.90, Load: "3.00 1.20 0.50"},
		{Scenario: "planet total", Cores: 1.2, CeilingCores: 0.5, Load: "1.00 1.00 1.00"},
		{Scenario: "planet total", Cores: 1.4, CeilingCores: 0.6, Load: "2.00 1.00 1.00"},
		{Scenario: "planet total", Cores: 1.3, CeilingCores: 0.7, Load: "3.00 1.00 1.00"},
	}
	got := medians(rows)
	if len(got) != 3 || got[0].Scenario != "latest" || got[1].Scenario != "upload" || got[2].Scenario != "planet total" {
		t.Fatalf("medians = %+v, want one row for latest, one for upload, then one for the planet", got)
	}
	// An odd count takes the middle run; an even count the mean of the
	// middle two.
	if l := got[0]; l.CPUus != 31 || l.CeilingCPUus != 22 || l.CPURatio != 1.41 || l.Load != "1.62/1.70/3.00" {
		t.Errorf("latest = %+v, want CPU 31, ceiling 22, ratio 1.41, loads 1.62/1.70/3.00", l)
	}
	if u := got[1]; u.CPUus != 165 || u.CPURatio != (6.4+7.08)/2 || u.Errors != 3 || u.FirstError != "timeout" {
		t.Errorf("upload = %+v, want CPU 165, ratio 6.74, 3 errors, first error timeout", u)
	}
	if p := got[2]; p.Cores != 1.3 || p.CeilingCores != 0.6 {
		t.Errorf("planet = %+v, want 1.3 cores beside the ceiling's 0.6", p)
	}
}
