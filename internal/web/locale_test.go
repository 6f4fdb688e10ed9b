package web

import (
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

func TestUnitsFromLocale(t *testing.T) {
	for header, want := range map[string]glucose.Units{
		"en-US,en;q=0.9":           glucose.UnitsMgdl,
		"en-GB,en;q=0.9":           glucose.UnitsMmol,
		"en-CA":                    glucose.UnitsMmol,
		"fr-CA,fr;q=0.8":           glucose.UnitsMmol, // Canada, though French
		"fr-FR":                    glucose.UnitsMgdl,
		"de":                       glucose.UnitsMgdl, // likely region DE
		"nl-NL,en-US;q=0.5":        glucose.UnitsMmol, // the first choice decides
		"en;q=0.2,sv-SE;q=0.9":     glucose.UnitsMmol, // by quality, not order
		"ja-JP":                    glucose.UnitsMgdl,
		"zh-Hans-CN":               glucose.UnitsMmol,
		"es-419":                   glucose.UnitsUnset, // a region, not a country
		"*":                        glucose.UnitsUnset,
		"":                         glucose.UnitsUnset,
		"not a language tag!!":     glucose.UnitsUnset,
		strings.Repeat("en-", 900): glucose.UnitsUnset,
	} {
		if got := unitsFromLocale(header); got != want {
			t.Errorf("unitsFromLocale(%.40q) = %q, want %q", header, got, want)
		}
	}
}

// FuzzUnitsFromLocale: any header gives one of the three answers, without
// a panic.
func FuzzUnitsFromLocale(f *testing.F) {
	for _, s := range []string{"en-US,en;q=0.9", "de-DE", "es-419", "*", "", "x-private;q=0.1, en-GB"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		switch u := unitsFromLocale(header); u {
		case glucose.UnitsUnset, glucose.UnitsMgdl, glucose.UnitsMmol:
		default:
			t.Errorf("unitsFromLocale(%q) = %q", header, u)
		}
	})
}
