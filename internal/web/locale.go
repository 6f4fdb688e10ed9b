package web

import (
	"golang.org/x/text/language"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// maxAcceptLanguage bounds the header read for the sign-up default; a
// real browser sends well under 200 bytes.
const maxAcceptLanguage = 1024

// unitsFromLocale is the units offered by default at sign-up: those of the
// country the visitor's most preferred language names or implies
// (Accept-Language "en-GB" is the United Kingdom, "de" Germany, "en" the
// United States, by CLDR's likely subtags), by glucose.UnitsForRegion.
// No header, or a first choice without a country ("es-419", "*"), gives
// UnitsUnset: mg/dL, as for accounts the operator makes.
// Pages need no script for this: browsers send the header on every
// request.
func unitsFromLocale(acceptLanguage string) glucose.Units {
	if len(acceptLanguage) > maxAcceptLanguage {
		return glucose.UnitsUnset
	}
	tags, _, err := language.ParseAcceptLanguage(acceptLanguage)
	if err != nil {
		return glucose.UnitsUnset
	}
	if len(tags) == 0 {
		return glucose.UnitsUnset
	}
	region, conf := tags[0].Region()
	if conf == language.No || !region.IsCountry() {
		return glucose.UnitsUnset
	}
	return glucose.UnitsForRegion(region.String())
}
