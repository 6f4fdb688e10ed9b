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
	}{{UnitsMgdl, 3, "+3"}, {UnitsMgdl, -12, "-12"}, {UnitsMgdl, 0, "±0"}, {UnitsMmol, -4, "-0.2"}, {UnitsMmol, 0.5, "±0.0"}} {
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
