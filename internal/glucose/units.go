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
// for the out-of-range markers 39 and 401 (§3.4), else Format.
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
func (u Units) FormatDelta(mgdl float64) string {
	v := u.Convert(mgdl)
	switch {
	case v == 0:
		return "±" + u.Format(0)
	case v > 0:
		return "+" + u.Format(mgdl)
	}
	return "-" + u.Format(-mgdl)
}

// ToMgdl converts a quantity entered in u (a threshold typed on a form)
// to whole mg/dL.
func (u Units) ToMgdl(v float64) int {
	if u.Mmol() {
		v *= MgdlPerMmol
	}
	return int(math.Round(v))
}
