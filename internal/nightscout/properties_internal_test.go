package nightscout

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// FuzzProperties runs every property over uploaded documents of any
// shape: a device status, a treatment and a profile as clients may post
// them (members of the wrong type, absurd amounts, missing times). No
// input may panic, and every answer must encode as JSON.
//
//	go test ./internal/nightscout -run '^$' -fuzz FuzzProperties -fuzztime 60s
func FuzzProperties(f *testing.F) {
	const now = 1745081013817
	f.Add(`{"device":"loop://iPhone","created_at":"2025-04-19T16:41:33.817Z","uploader":{"battery":62},"pump":{"clock":"2025-04-19T16:41:33Z","reservoir":120.5,"battery":{"percent":75},"status":{"suspended":true}},"loop":{"timestamp":"2025-04-19T16:41:33Z","iob":{"iob":1.2,"timestamp":"2025-04-19T16:41:33Z"},"cob":{"cob":20,"timestamp":"2025-04-19T16:41:33Z"},"enacted":{"timestamp":"2025-04-19T16:41:33Z","received":true},"predicted":{"startDate":"x","values":[1]}},"override":{"timestamp":"2025-04-19T16:41:33Z"}}`,
		`{"eventType":"Meal Bolus","created_at":"2025-04-19T16:13:33.817Z","insulin":2,"carbs":30}`,
		`{"defaultProfile":"D","store":{"D":{"dia":4,"carbs_hr":30,"sens":[{"time":"00:00","value":40}],"carbratio":[{"time":"00:00","value":10}],"timezone":"Europe/Paris"}}}`, 120)
	f.Add(`{"device":"openaps://rig","openaps":{"iob":[{"iob":0.8,"activity":0.01,"time":"2025-04-19T16:41:33Z"}],"suggested":{"timestamp":"2025-04-19T16:41:33Z","COB":10,"predBGs":[1,2]},"enacted":{"timestamp":"2025-04-19T16:41:33Z","recieved":false,"predBGs":{"IOB":[3]}}},"mmtune":{"timestamp":1}}`,
		`{"insulin":1e308,"carbs":"1e308","mills":"x"}`,
		`{"defaultProfile":"D","store":{"D":{"dia":0.0001,"carbs_hr":1e-300,"sens":"0","carbratio":[{"time":"25:99","value":"x"},{"timeAsSeconds":-1,"value":1e308}]}}}`, 39)
	f.Add(`{"uploaderBattery":"x","pump":{"battery":{"voltage":1.2},"clock":5,"reservoir":0,"manufacturer":"Insulet"},"loop":[],"openaps":null}`,
		`{"glucose":"abc","units":"mmol"}`, `{"store":[]}`, 401)
	f.Fuzz(func(t *testing.T, status, treatment, profile string, value int) {
		sbx := &sandbox{now: now}
		if value >= 0 && value < 1000 {
			sbx.sgvs = []*propSGV{{ID: "x", Mgdl: value, Mills: now - 60_000, Direction: "Flat", Type: "sgv"},
				{ID: "y", Mgdl: value / 2, Mills: now - 660_000, Direction: "NONE", Type: "sgv"}}
		}
		if o, ok := decodeObject([]byte(status)); ok {
			o["mills"] = json.Number("1745080893817")
			uploaderOf(o)
			sbx.statuses, sbx.haveStatuses = []jsObject{o}, true
		}
		if o, ok := decodeObject([]byte(treatment)); ok {
			o["mills"] = json.Number("1745079213817")
			sbx.treatments = []jsObject{o}
		}
		sbx.profile = profileOf(glucose.Document{Body: []byte(profile)})
		sbx.readingsAround = func(int64) (int, int, error) { return value, 0, nil }
		out := map[string]any{}
		for _, name := range propertyNames {
			if v, ok := sbx.property(name); ok {
				out[name] = finite(v)
			}
		}
		if _, err := json.Marshal(out); err != nil {
			t.Fatalf("the answer does not encode: %v", err)
		}
	})
}

// TestPropertiesGlucoseLookUps checks that insulin and carbs on board look
// up the glucose of the treatments they show alone (one each), however many
// treatments the computation goes through: a day of a loop's boluses must
// not become hundreds of queries.
func TestPropertiesGlucoseLookUps(t *testing.T) {
	const now = 1745081013817
	sbx := &sandbox{now: now}
	for i := 0; i < 200; i++ {
		body := `{"eventType":"Correction Bolus","insulin":0.5}`
		if i%2 == 1 {
			body = `{"eventType":"Carb Correction","carbs":5}`
		}
		o, _ := decodeObject([]byte(body))
		o["mills"] = json.Number(itoa(now - int64(i+1)*300_000))
		sbx.treatments = append([]jsObject{o}, sbx.treatments...)
	}
	sbx.profile = profileOf(glucose.Document{Body: []byte(`{"defaultProfile":"D","store":{"D":{"dia":5,"carbs_hr":30,"sens":40,"carbratio":10}}}`)})
	calls := 0
	sbx.readingsAround = func(int64) (int, int, error) { calls++; return 100, 110, nil }
	iob, cob := sbx.iob().(jsObject), sbx.cob().(jsObject)
	if calls != 2 {
		t.Errorf("%d glucose look-ups for 200 treatments, want 2 (the shown bolus and meal)", calls)
	}
	if bolus, _ := iob["lastBolus"].(jsObject); bolus == nil || bolus["mgdl"] != 105.0 {
		t.Errorf("lastBolus %v, want the mean of the readings around it, 105", iob["lastBolus"])
	}
	if carbs, _ := cob["lastCarbs"].(jsObject); carbs == nil || carbs["mgdl"] != 105.0 {
		t.Errorf("lastCarbs %v", cob["lastCarbs"])
	}
}

func itoa(n int64) string { return fmt.Sprint(n) }

// TestUpbatVoltageOnly checks an uploader that reports its battery as a
// voltage alone (some bridges): it shows the voltage, raises no low-battery
// notification (Nightscout compares the missing percentage with nothing),
// and does not count as the lowest battery against a phone's percentage.
func TestUpbatVoltageOnly(t *testing.T) {
	const now = 1745081013817
	sbx := &sandbox{now: now}
	for _, body := range []string{`{"device":"bridge","uploader":{"batteryVoltage":3650}}`, `{"device":"phone","uploader":{"battery":64}}`} {
		o, _ := decodeObject([]byte(body))
		o["mills"] = json.Number(itoa(now - 60_000))
		sbx.statuses = append(sbx.statuses, o)
	}
	up := sbx.upbat().(jsObject)
	bridge := up["devices"].(jsObject)["bridge"].(jsObject)["statuses"].([]any)[0].(jsObject)["uploader"].(jsObject)
	if bridge["display"] != "3.650v" || bridge["notification"] != nil {
		t.Errorf("bridge %v, want 3.650v without a notification", bridge)
	}
	if up["display"] != "64%" || up["status"] != "current" {
		t.Errorf("upbat shows %v (%v), want the phone's 64%%", up["display"], up["status"])
	}
}
