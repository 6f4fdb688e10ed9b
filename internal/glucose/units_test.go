package glucose

import "testing"

func TestUnitsFormat(t *testing.T) {
	for _, c := range []struct {
		u    Units
		mgdl float64
		want string
	}{
		{UnitsMgdl, 97, "97"},
		{UnitsUnset, 97, "97"},
		{UnitsMmol, 97, "5.4"},
		{UnitsMmol, 180, "10.0"},
		{UnitsMmol, 70, "3.9"},
		{UnitsMmol, 55, "3.1"},
	} {
		if got := c.u.Format(c.mgdl); got != c.want {
			t.Errorf("%q.Format(%v) = %q, want %q", c.u, c.mgdl, got, c.want)
		}
	}
	if got := UnitsMmol.FormatReading(39); got != "LOW" {
		t.Errorf("FormatReading(39) = %q", got)
	}
	if got := UnitsMgdl.FormatReading(401); got != "HIGH" {
		t.Errorf("FormatReading(401) = %q", got)
	}
	for _, c := range []struct {
		u    Units
		d    float64
		want string
	}{{UnitsMgdl, 3, "+3"}, {UnitsMgdl, -12, "-12"}, {UnitsMgdl, 0, "±0"}, {UnitsMmol, -4, "-0.2"}, {UnitsMmol, 0.5, "±0.0"},
		{UnitsMgdl, 0.3, "±0"}, {UnitsMgdl, -0.4, "±0"}, {UnitsMgdl, 2.5, "+3"}, {UnitsMmol, -0.9, "-0.1"}} {
		if got := c.u.FormatDelta(c.d); got != c.want {
			t.Errorf("%q.FormatDelta(%v) = %q, want %q", c.u, c.d, got, c.want)
		}
	}
	if got := UnitsMmol.ToMgdl(3.9); got != 70 {
		t.Errorf("ToMgdl(3.9 mmol/L) = %d, want 70", got)
	}
}

func TestParseUnits(t *testing.T) {
	for in, want := range map[string]Units{"mg/dL": UnitsMgdl, "MGDL": UnitsMgdl, "mmol": UnitsMmol, "mmol/l": UnitsMmol, " mmol / L ": UnitsMmol, "": UnitsUnset} {
		if got, err := ParseUnits(in); err != nil || got != want {
			t.Errorf("ParseUnits(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	if _, err := ParseUnits("furlongs"); err == nil {
		t.Error("ParseUnits accepted furlongs")
	}
}

// TestParseMgdlRoundTrip types back every threshold a form can show: the
// value stored again must show the same, the common thresholds must come
// back exact, and the bounds the form states must be accepted.
func TestParseMgdlRoundTrip(t *testing.T) {
	for _, u := range []Units{UnitsMgdl, UnitsMmol} {
		for _, b := range [][2]int{{40, 400}, {40, 55}} {
			for mgdl := b[0]; mgdl <= b[1]; mgdl++ {
				shown := u.Format(float64(mgdl))
				got, ok := u.ParseMgdl(shown, b[0], b[1])
				if !ok || u.Format(float64(got)) != shown {
					t.Errorf("%s: %d shows as %q, typed back: %d, %t", u, mgdl, shown, got, ok)
				}
			}
		}
	}
	for _, c := range []struct {
		u    Units
		in   string
		want int
	}{
		{UnitsMmol, "3.9", 70}, {UnitsMmol, "3,9", 70}, {UnitsMmol, " 10.0 ", 180}, {UnitsMmol, "10", 180},
		{UnitsMmol, "3.1", 55}, {UnitsMmol, "2.2", 40}, {UnitsMmol, "13.9", 250}, {UnitsMgdl, "70", 70},
	} {
		hi := 400
		if c.in == "3.1" {
			hi = 55
		}
		if got, ok := c.u.ParseMgdl(c.in, 40, hi); !ok || got != c.want {
			t.Errorf("%s.ParseMgdl(%q) = %d, %t; want %d", c.u, c.in, got, ok, c.want)
		}
	}
	for _, c := range []struct {
		u  Units
		in string
	}{
		{UnitsMmol, "3.2"}, {UnitsMmol, "2.1"}, {UnitsMmol, "x"}, {UnitsMmol, "NaN"}, {UnitsMmol, ""},
		{UnitsMgdl, "56"}, {UnitsMgdl, "3.1"}, {UnitsMgdl, "39"},
	} {
		if got, ok := c.u.ParseMgdl(c.in, 40, 55); ok {
			t.Errorf("%s.ParseMgdl(%q, 40, 55) accepted: %d", c.u, c.in, got)
		}
	}
	if got := UnitsMmol.Range(40, 55); got != "2.2 to 3.1 mmol/L" {
		t.Errorf("Range = %q", got)
	}
	if got := UnitsMgdl.ReadingWithUnit(97) + ", " + UnitsMmol.ReadingWithUnit(97) + ", " + UnitsMmol.ReadingWithUnit(39); got != "97 mg/dL, 5.4 mmol/L, LOW" {
		t.Errorf("ReadingWithUnit: %q", got)
	}
}

func TestUnitsForRegion(t *testing.T) {
	for region, want := range map[string]Units{"US": UnitsMgdl, "us": UnitsMgdl, "PR": UnitsMgdl, "DE": UnitsMgdl,
		"FR": UnitsMgdl, "JP": UnitsMgdl, "GB": UnitsMmol, "CA": UnitsMmol, "AU": UnitsMmol, "NL": UnitsMmol,
		"SE": UnitsMmol, "CN": UnitsMmol, "": UnitsUnset} {
		if got := UnitsForRegion(region); got != want {
			t.Errorf("UnitsForRegion(%q) = %q, want %q", region, got, want)
		}
	}
}

// FuzzParseMgdl: whatever is typed, an accepted value lies in the bounds
// and shows as a number of the units.
func FuzzParseMgdl(f *testing.F) {
	for _, s := range []string{"3.9", "3,9", "70", "", "1e400", "-0", "NaN", "Inf", "3.1", "0x10"} {
		f.Add(s, true)
		f.Add(s, false)
	}
	f.Fuzz(func(t *testing.T, s string, mmol bool) {
		u := UnitsMgdl
		if mmol {
			u = UnitsMmol
		}
		v, ok := u.ParseMgdl(s, 40, 55)
		if ok && (v < 40 || v > 55) {
			t.Errorf("%s.ParseMgdl(%q) = %d, outside 40–55", u, s, v)
		}
	})
}
