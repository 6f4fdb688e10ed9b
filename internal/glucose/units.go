package glucose

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Units is how a person reads glucose values. Values are stored and sent
// on the Share protocol in mg/dL; an account chooses the units everything
// it reads is shown in (dashboard, notifications, images).
type Units string

// The units an account can choose. UnitsUnset means the account has not
// chosen: it reads mg/dL (DefaultUnits).
const (
	UnitsUnset Units = ""
	UnitsMgdl  Units = "mg/dL"
	UnitsMmol  Units = "mmol/L"
)

// DefaultUnits is what an account that has not chosen reads.
const DefaultUnits = UnitsMgdl

// MgdlPerMmol converts between the two units. It is Nightscout's factor
// (lib/constants.js MMOL_TO_MGDL), so that values shown by glucoshare and by
// Nightscout clients reading glucoshare agree to the decimal.
const MgdlPerMmol = 18

// ParseUnits reads units as people and apps write them: "mg/dL", "mgdl",
// "mg", "mmol/L", "mmol", "mmoll" in any case; "" is UnitsUnset.
func ParseUnits(s string) (Units, error) {
	switch strings.ToLower(strings.ReplaceAll(strings.TrimSpace(s), " ", "")) {
	case "":
		return UnitsUnset, nil
	case "mg/dl", "mgdl", "mg":
		return UnitsMgdl, nil
	case "mmol/l", "mmoll", "mmol":
		return UnitsMmol, nil
	}
	return UnitsUnset, fmt.Errorf("units must be mg/dL or mmol/L, not %q", s)
}

// Or returns u, or def when u is unset.
func (u Units) Or(def Units) Units {
	if u == UnitsUnset {
		return def
	}
	return u
}

// Mmol reports whether u reads mmol/L.
func (u Units) Mmol() bool { return u == UnitsMmol }

// String returns the units as shown next to a value; unset shows as the
// default.
func (u Units) String() string { return string(u.Or(DefaultUnits)) }

// Convert returns a mg/dL quantity in u: unchanged in mg/dL, divided by
// MgdlPerMmol and rounded to one decimal in mmol/L. It converts values,
// thresholds and deltas alike.
func (u Units) Convert(mgdl float64) float64 {
	if !u.Mmol() {
		return mgdl
	}
	return math.Round(mgdl/MgdlPerMmol*10) / 10
}

// Format writes a mg/dL quantity in u without the unit: "97" or "5.4".
func (u Units) Format(mgdl float64) string {
	if !u.Mmol() {
		return strconv.FormatFloat(math.Round(mgdl), 'f', -1, 64)
	}
	return strconv.FormatFloat(u.Convert(mgdl), 'f', 1, 64)
}

// FormatReading writes a stored reading's value in u: "LOW" and "HIGH"
// for the out-of-range markers 39 and 401 (docs/protocol.md, "Publisher: glucose"), else Format.
func (u Units) FormatReading(value int) string {
	switch {
	case value <= 39:
		return "LOW"
	case value >= 401:
		return "HIGH"
	}
	return u.Format(float64(value))
}

// FormatDelta writes a change in mg/dL with its sign: "+3", "-0.2", "±0".
// A change that rounds to zero in u is "±0" (or "±0.0"), whatever its sign.
func (u Units) FormatDelta(mgdl float64) string {
	s := u.Format(math.Abs(mgdl))
	switch {
	case strings.Trim(s, "0.") == "":
		return "±" + s
	case mgdl > 0:
		return "+" + s
	}
	return "-" + s
}

// ToMgdl converts a quantity entered in u (a threshold typed on a form)
// to whole mg/dL.
func (u Units) ToMgdl(v float64) int {
	if u.Mmol() {
		v *= MgdlPerMmol
	}
	return int(math.Round(v))
}

// WithUnit writes a mg/dL quantity in u followed by the unit: "97 mg/dL",
// "5.4 mmol/L".
func (u Units) WithUnit(mgdl float64) string { return u.Format(mgdl) + " " + u.String() }

// ReadingWithUnit writes a stored reading's value in u with the unit, or
// the marker alone: "5.4 mmol/L", "LOW".
func (u Units) ReadingWithUnit(value int) string {
	s := u.FormatReading(value)
	if s == "LOW" || s == "HIGH" {
		return s
	}
	return s + " " + u.String()
}

// Range writes the mg/dL bounds lo and hi in u: "40 to 400 mg/dL",
// "2.2 to 22.2 mmol/L".
func (u Units) Range(lo, hi int) string {
	return u.Format(float64(lo)) + " to " + u.Format(float64(hi)) + " " + u.String()
}

// ParseMgdl reads a quantity a person typed in u — "70" in mg/dL, "3.9"
// or "3,9" in mmol/L — and returns it in whole mg/dL, which must lie in
// [lo, hi]. In mg/dL only whole numbers are accepted. In mmol/L a value
// that shows as a bound counts as that bound: 55 mg/dL shows as 3.1 mmol/L,
// and 3.1 × 18 rounds to 56, yet typing back what the page showed must
// not be refused. ok is false for anything else.
func (u Units) ParseMgdl(s string, lo, hi int) (mgdl int, ok bool) {
	s = strings.TrimSpace(s)
	if !u.Mmol() {
		n, err := strconv.Atoi(s)
		return n, err == nil && n >= lo && n <= hi
	}
	v, err := strconv.ParseFloat(strings.Replace(s, ",", ".", 1), 64)
	if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, false
	}
	low, high := u.Convert(float64(lo)), u.Convert(float64(hi))
	if v < low || v > high {
		return 0, false
	}
	return min(max(u.ToMgdl(v), lo), hi), true
}

// UnitsForRegion is the units people in a country read glucose in, by its
// ISO 3166-1 alpha-2 code (any case): mg/dL for the countries in
// mgdlRegions, mmol/L for every other country, UnitsUnset for "". It is
// only a default, offered at sign-up; every account can change it.
func UnitsForRegion(region string) Units {
	if region == "" {
		return UnitsUnset
	}
	if mgdlRegions[strings.ToUpper(region)] {
		return UnitsMgdl
	}
	return UnitsMmol
}

// mgdlRegions are the countries where mg/dL is the usual unit of blood
// glucose. Most of the world reads the SI unit, mmol/L; the exceptions
// kept here are those a source names:
//   - US and its territories (PR, GU, VI, AS, MP, UM): mg/dL throughout.
//   - AT, BE, DE: "mg/dl in the United States of America, Austria,
//     Belgium, Germany" (http://myparadigm.eu/EN/Units.htm). Germany uses
//     both, mg/dL mostly in the western states (Deutsche Diabetes-Hilfe,
//     https://diabetesde.org/ueber_diabetes/was_ist_diabetes_/diabetes_lexikon/einheiten-angabe-blutzuckerwerts).
//   - IT: the health ministry states glycaemia in mg/dL (salute.gov.it, as
//     listed by https://github.com/glucometers-tech/world-glucometer-units).
//   - JP: mg/dL, as in the United States (https://ntro.it.com/what-are-si-units-for-glucose).
//   - FR: glycaemia is given in g/L or mg/dL, mass units, in French
//     practice and on meters sold there.
//
// A person elsewhere who reads mg/dL changes it on the profile page.
var mgdlRegions = map[string]bool{
	"US": true, "PR": true, "GU": true, "VI": true, "AS": true, "MP": true, "UM": true,
	"AT": true, "BE": true, "DE": true, "IT": true, "JP": true, "FR": true,
}
