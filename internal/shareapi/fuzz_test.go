package shareapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// FuzzParams feeds arbitrary query strings, bodies and content types to the
// parameter decoder. It must never panic; every failure must be a protocol
// InvalidArgument; and a parameter found in the query must win over the body.
func FuzzParams(f *testing.F) {
	f.Add("sessionId=abc&minutes=10", `{"sessionId":"x","minutes":1440}`, "application/json")
	f.Add("", `{"SessionID":1,"sessionid":"late","maxCount":1440.0}`, "")
	f.Add("", "sessionId=a&maxCount=5", "application/x-www-form-urlencoded")
	f.Add("minutes=99999999999999999999", "\ufeff {} ", "text/plain")
	f.Add("%zz=1&a", `{"a":{"b":[1,2]}}garbage`, "application/json")
	f.Fuzz(func(t *testing.T, query, body, ct string) {
		p := newParams(query, []byte(body), ct)
		for _, name := range []string{"sessionId", "minutes", "maxCount", "accountName", "value"} {
			s, _, ok, err := p.String(name)
			checkInvalid(t, err)
			if v, inQuery := p.query.get(name); inQuery && (!ok || s != v) {
				t.Fatalf("query %s=%q lost to the body: got %q ok=%v", name, v, s, ok)
			}
			_, _, err = p.Int(name)
			checkInvalid(t, err)
			_, _, err = p.Bool(name)
			checkInvalid(t, err)
		}
		_, err := p.member("runtimeInfo")
		checkInvalid(t, err)
	})
}

// FuzzQueryPairs checks pairs.get against the map of lower-cased names
// that it replaced: the first value of each name, compared after
// strings.ToLower.
func FuzzQueryPairs(f *testing.F) {
	f.Add("sessionId=abc&minutes=10&SESSIONID=late", "sessionid")
	f.Add("maxCount=1&max%43ount=2", "maxCount")
	f.Add("\u212aey=kelvin&key=plain", "key") // the Kelvin sign lower-cases to k
	f.Add("%zz=1&a=&a=2&=3&b=%zz&b=4", "b")
	f.Add("a+b=1&a%20b=2&%61=3&a=4&c=%2&c=+", "a b")
	f.Add("\u0130d=1&id=2", "\u0130D")
	f.Add("id=1", "\u0130D") // a name that is not ASCII but lower-cases to ASCII
	f.Fuzz(func(t *testing.T, query, name string) {
		want := map[string]string{} // as the map was built
		for s := query; s != ""; {
			var kv string
			kv, s, _ = strings.Cut(s, "&")
			name, value, _ := strings.Cut(kv, "=")
			name, err1 := url.QueryUnescape(name)
			value, err2 := url.QueryUnescape(value)
			if err1 != nil || err2 != nil || name == "" {
				continue
			}
			if _, dup := want[strings.ToLower(name)]; !dup {
				want[strings.ToLower(name)] = value
			}
		}
		ps := appendPairs(nil, query)
		for _, n := range []string{name, "sessionId", "minutes", "maxCount", "compat", "key", "b"} {
			v, ok := ps.get(n)
			w, wok := want[strings.ToLower(n)]
			if v != w || ok != wok {
				t.Fatalf("get(%q) in %q = %q, %v; the map gives %q, %v", n, query, v, ok, w, wok)
			}
		}
	})
}

func checkInvalid(t *testing.T, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var e *glucose.Error
	if !errors.As(err, &e) || e.Code != share.CodeInvalidArgument {
		t.Fatalf("error %v is not an InvalidArgument", err)
	}
}

// FuzzDecodeEGVPost feeds arbitrary upload bodies to the structural check of
// PostReceiverEgvRecords. It must never panic, fail only with
// InvalidArgument, and accept only values within 0–1000 and serials in the
// normalised form.
func FuzzDecodeEGVPost(f *testing.F) {
	f.Add(`{"SN":"SM00000000","Egvs":[{"Trend":4,"ST":"\/Date(1426783106000)\/","DT":"\/Date(1426754317000)\/","Value":97}],"TA":-14365}`)
	f.Add(`{"SN":"8G1234/","Egvs":[{"ST":1745081013817,"DT":"Date(1745081013817+0530)","Value":120.5,"Trend":"NOT COMPUTABLE","direction":"Flat"}]}`)
	f.Add(`{"SN":"x","Egvs":[{"ST":"2025-04-19T16:43:33.817Z","Value":1e3}]}`)
	f.Add(`{"SN":"x","Egvs":null}`)
	f.Add(`{"sn":"x","egvs":[{"st":"Date(1)","value":-0.4}]}`)
	f.Add(`{"SN":"x","Egvs":[7,{"ST":"/Date(99999999999999999)/","Value":1}]}`)
	f.Add(`{"SN":"x","Egvs":[{"ST":"/Date(1745081013000)/","Value":97},{"ST":"/Date(1745081313000)/","Value":null}]}`)
	f.Fuzz(func(t *testing.T, body string) {
		p := newParams("", []byte(body), "application/json")
		sn, egvs, err := decodeEGVPost(p)
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if norm, nerr := share.NormalizeSerial(sn); nerr != nil || norm != sn {
			t.Fatalf("accepted serial %q is not normalised (%q, %v)", sn, norm, nerr)
		}
		raw, _ := p.member("Egvs")
		var elems []json.RawMessage
		json.Unmarshal(raw, &elems)
		for i, el := range elems {
			m, _ := objectMembers(el)
			if v := m["value"]; len(v) == 0 || (v[0] != '-' && (v[0] < '0' || v[0] > '9')) {
				t.Fatalf("Egvs[%d] accepted with Value %s, not a number", i, v)
			}
		}
		for i, e := range egvs {
			if e.Value < 0 || e.Value > 1000 {
				t.Fatalf("Egvs[%d].Value %d outside 0–1000", i, e.Value)
			}
			if e.Offset < -14*60 || e.Offset > 14*60 {
				t.Fatalf("Egvs[%d] offset %d beyond ±14 h", i, e.Offset)
			}
			if e.Trend < 0 || e.Trend > 9 {
				t.Fatalf("Egvs[%d].Trend %d outside 0–9", i, e.Trend)
			}
		}
	})
}

// FuzzObjectMembers checks the JSON-object splitter against encoding/json's
// decoder: it accepts exactly the bodies the decoder's token walk accepts,
// and finds the same members with the same bytes.
func FuzzObjectMembers(f *testing.F) {
	f.Add(`{"a":1,"A":2}`)
	f.Add(`{"a":{"b":[1,{"c":null}]}, "d":"\u00e9"}`)
	f.Add(`{"a":1}{"b":2}`)
	f.Add(`{"a":1,}`)
	f.Add(` { "S\u004e" : "x\"}" , "Egvs" : [ {"ST":"/Date(1)/"} , [] ] , "n":-1.5e3,"t":true } `)
	f.Add(`{"\u00c9":1,"é":2,"bad\xff":3}`)
	f.Add(`{}`)
	f.Add(`[]`)
	f.Fuzz(func(t *testing.T, body string) {
		m, err := objectMembers([]byte(body))
		want, werr := objectMembersByDecoder([]byte(body))
		if (err != nil) != (werr != nil) {
			t.Fatalf("%q: error %v, the decoder's %v", body, err, werr)
		}
		if err != nil {
			checkInvalid(t, err)
			return
		}
		if len(m) != len(want) {
			t.Fatalf("%q: %d members, the decoder finds %d", body, len(m), len(want))
		}
		for k, v := range want {
			if got, ok := m[k]; !ok || !bytes.Equal(got, v) {
				t.Fatalf("%q: member %q is %q, the decoder's %q", body, k, got, v)
			}
		}
	})
}

// objectMembersByDecoder is the splitter as json.Decoder's tokens define
// it, which objectMembers must match.
func objectMembersByDecoder(body []byte) (map[string]json.RawMessage, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	bad := errors.New("invalid")
	if t, err := dec.Token(); err != nil || t != json.Delim('{') {
		return nil, bad
	}
	m := make(map[string]json.RawMessage)
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return nil, bad
		}
		name, _ := t.(string)
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, bad
		}
		m[strings.ToLower(name)] = v
	}
	if t, err := dec.Token(); err != nil || t != json.Delim('}') {
		return nil, bad
	}
	if len(bytes.TrimLeft(body[dec.InputOffset():], " \t\r\n")) > 0 {
		return nil, bad
	}
	return m, nil
}

// FuzzIsProtocolPath checks IsProtocolPath against the normalisation of
// docs/protocol.md, "Hosts and paths", done in full for every path.
func FuzzIsProtocolPath(f *testing.F) {
	for _, p := range []string{"/ShareWebServices/Services/General/SystemUtcTime", "//sharewebservices//services/x",
		"/ShareWebServices/Services", "/sharewebservices/services//", "/api/v1/entries.json", "/", "", "ShareWebServices/Services/",
		"/ShareWebServİces/Services/", "/ShareWebServices", "/ShareWebServicesX/Services/", "///SHAREWEBSERVICES/SERVICES"} {
		f.Add(p)
	}
	f.Fuzz(func(t *testing.T, path string) {
		p := strings.ToLower(cleanPath(path))
		want := p+"/" == strings.ToLower(BasePath) || strings.HasPrefix(p, strings.ToLower(BasePath))
		if got := IsProtocolPath(path); got != want {
			t.Fatalf("IsProtocolPath(%q) = %v, want %v", path, got, want)
		}
	})
}
