package nsdoc

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParse(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string // canonical objects; nil with wantErr
		err  string
	}{
		{`{"b":1,"a":"x"}`, []string{`{"b":1,"a":"x"}`}, ""},
		{"\xef\xbb\xbf [ {\"a\" : [1, 2.50, -3e2]} , {} ] ", []string{`{"a":[1,2.50,-3e2]}`, `{}`}, ""},
		{`[]`, nil, ""},
		{`{"a":1,"b":2,"a":3}`, []string{`{"a":3,"b":2}`}, ""},
		{`{"html":"<b>&</b>","uni":"\u00e9\ud83d\ude00","lone":"\ud800x"}`, []string{`{"html":"<b>&</b>","uni":"é😀","lone":"�x"}`}, ""},
		{"{\"bad\":\"\xff\"}", []string{`{"bad":"�"}`}, ""},
		{`{"big":123456789012345678901234567890}`, []string{`{"big":123456789012345678901234567890}`}, ""},
		{`{"n":{"o":{"p":null,"q":true,"r":false}}}`, []string{`{"n":{"o":{"p":null,"q":true,"r":false}}}`}, ""},
		{`{"a":1e400}`, nil, "out of range"},
		{`{"a":"\u0000"}`, nil, "NUL"},
		{`{"\u0000":1}`, nil, "NUL"},
		{`"text"`, nil, "object or an array"},
		{`[1]`, nil, "not an object"},
		{`[{}, "x"]`, nil, "not an object"},
		{`{"a":1}{"b":2}`, nil, "more than one"},
		{`{"a":1`, nil, "not valid JSON"},
		{`{"a":nul}`, nil, "not valid JSON"},
		{``, nil, "not JSON"},
		{strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth), []string{strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth)}, ""},
		{strings.Repeat(`{"a":`, MaxDepth+1) + `1` + strings.Repeat(`}`, MaxDepth+1), nil, "deeper"},
		{`[` + strings.Repeat(`{"a":`, MaxDepth) + `1` + strings.Repeat(`}`, MaxDepth) + `]`, nil, "deeper"},
		{`{"a":` + strings.Repeat(`[`, MaxDepth) + strings.Repeat(`]`, MaxDepth) + `}`, nil, "deeper"},
	} {
		objs, err := Parse([]byte(c.in))
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) || !IsDecodeError(err) {
				t.Errorf("Parse(%.60q): %v, want an error containing %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Parse(%.60q): %v", c.in, err)
			continue
		}
		var got []string
		for _, o := range objs {
			got = append(got, string(o.Bytes()))
		}
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("Parse(%.60q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestEdit(t *testing.T) {
	o, err := ParseObject([]byte(`{"eventType":"Note","carbs":"30","notes":null}`))
	if err != nil {
		t.Fatal(err)
	}
	if s, ok := o.String("eventType"); !ok || s != "Note" {
		t.Errorf("String(eventType) = %q, %v", s, ok)
	}
	if _, ok := o.Number("carbs"); ok {
		t.Error("a string member read as a number")
	}
	if !o.IsNull("notes") || !o.IsNull("missing") || o.IsNull("carbs") {
		t.Error("IsNull")
	}
	o.Set("carbs", 30.0)
	o.Set("insulin", 1.5)
	o.Set("bad", 0.0/zero())
	o.Delete("notes")
	o.Set("_id", "abc")
	if got, want := string(o.Bytes()), `{"eventType":"Note","carbs":30,"insulin":1.5,"bad":null,"_id":"abc"}`; got != want {
		t.Errorf("edited: %s\nwant    %s", got, want)
	}
	c := o.Clone()
	c.Merge(mustParse(t, `{"carbs":12,"new":true}`))
	if string(o.Raw("carbs")) != "30" || string(c.Raw("carbs")) != "12" || !c.Has("new") {
		t.Errorf("clone and merge: %s / %s", o.Bytes(), c.Bytes())
	}
	if _, err := ParseObject([]byte(`[{}]`)); err == nil {
		t.Error("ParseObject took an array")
	}
}

func zero() float64 { return 0 }

func mustParse(t *testing.T, s string) *Object {
	t.Helper()
	o, err := ParseObject([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return o
}

// FuzzParse checks the decoder of uploaded documents: it never panics,
// and what it accepts comes out as valid UTF-8 JSON without NUL, in a
// canonical form that decodes to itself.
func FuzzParse(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[{"eventType":"Note","created_at":"2025-01-01T00:00:00Z"}]`,
		`{"a":[1,{"b":"\ud800"}],"c":null}`, "{\"x\":\"\xff\"}", `{"a":1,"a":2}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		objs, err := Parse(body)
		if err != nil {
			if !IsDecodeError(err) {
				t.Fatalf("error of another kind: %v", err)
			}
			return
		}
		for _, o := range objs {
			out := o.Bytes()
			if !json.Valid(out) || !utf8.Valid(out) || bytes.Contains(out, []byte(`\u0000`)) {
				t.Fatalf("output %q", out)
			}
			again, err := ParseObject(out)
			if err != nil {
				t.Fatalf("output %q does not decode: %v", out, err)
			}
			if !bytes.Equal(again.Bytes(), out) {
				t.Fatalf("not canonical: %q then %q", out, again.Bytes())
			}
		}
	})
}
