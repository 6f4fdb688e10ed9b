package share

import (
	"strings"
	"testing"
)

func TestParseID(t *testing.T) {
	const id = "3c348745-d2b3-4e3e-a8fe-306c0c18eae6"
	tests := []struct {
		in   string
		want string
		ok   bool
	}{
		{id, id, true},
		{strings.ToUpper(id), id, true},
		{"3C348745-d2B3-4E3e-A8FE-306c0c18EAE6", id, true},
		{"{" + id + "}", id, true},
		{`"` + id + `"`, id, true},
		{`"{` + strings.ToUpper(id) + `}"`, id, true},
		{"  " + id + "\n", id, true},
		{` "{` + id + `}" `, id, true},
		{ZeroID, ZeroID, true},
		{"{" + ZeroID + "}", ZeroID, true},
		// One pair of each, in that order.
		{"{\"" + id + "\"}", "", false},
		{`""` + id + `""`, "", false},
		{"{{" + id + "}}", "", false},
		{`" ` + id + ` "`, "", false},
		{"{" + id, "", false},
		{id + "}", "", false},
		{`"` + id, "", false},
		{"", "", false},
		{`""`, "", false},
		{"{}", "", false},
		{id[:35], "", false},
		{id + "0", "", false},
		{"3c348745d2b34e3ea8fe306c0c18eae6", "", false},
		{"3c348745-d2b3-4e3e-a8fe-306c0c18eae6-", "", false},
		{"3c348745_d2b3-4e3e-a8fe-306c0c18eae6", "", false},
		{"3c348745-d2b3-4e3e-a8fe-306c0c18eag6", "", false},
		{"3c34874-5d2b3-4e3e-a8fe-306c0c18eae6", "", false},
		{"+c348745-d2b3-4e3e-a8fe-306c0c18eae6", "", false},
		{"urn:uuid:" + id, "", false},
	}
	for _, tt := range tests {
		got, ok := ParseID(tt.in)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseID(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestNewID(t *testing.T) {
	for name, newID := range map[string]func() string{"NewID": NewID, "NewRequestID": NewRequestID} {
		seen := map[string]bool{}
		for range 1000 {
			id := newID()
			if got, ok := ParseID(id); !ok || got != id {
				t.Fatalf("ParseID(%s()) = %q, %v; want %q, true", name, got, ok, id)
			}
			if id[14] != '4' || !strings.ContainsRune("89ab", rune(id[19])) {
				t.Errorf("%s() = %s, want version 4, RFC 4122 variant", name, id)
			}
			if id == ZeroID || seen[id] {
				t.Errorf("%s() = %s, repeated or zero", name, id)
			}
			seen[id] = true
		}
	}
}

func BenchmarkNewID(b *testing.B) {
	b.Run("NewID", func(b *testing.B) {
		for b.Loop() {
			NewID()
		}
	})
	b.Run("NewRequestID", func(b *testing.B) {
		for b.Loop() {
			NewRequestID()
		}
	})
}

func TestNormalizeSerial(t *testing.T) {
	long := strings.Repeat("A", 64)
	tests := []struct {
		in, want string
		err      error
	}{
		{"8G1234", "8G1234", nil},
		{"8g1234", "8G1234", nil},
		{"8G1234/", "8G1234", nil},
		{" sm12345678/ ", "SM12345678", nil},
		{"\t8G1234\n", "8G1234", nil},
		{"ab-cd-09", "AB-CD-09", nil},
		{"-", "-", nil},
		{long, long, nil},
		{long + "/", long, nil},
		{"", "", errSerialEmpty},
		{"  ", "", errSerialEmpty},
		{"/", "", errSerialEmpty},
		{long + "A", "", errSerialLong},
		{"8G1234//", "", errSerialCharset},
		{"/8G1234", "", errSerialCharset},
		{"8G 1234", "", errSerialCharset},
		{"8G1234 /", "", errSerialCharset},
		{"8G_1234", "", errSerialCharset},
		{"8G.1234", "", errSerialCharset},
		{"8G1234é", "", errSerialCharset},
		{"8G[1234]", "", errSerialCharset},
		{"8G@1234", "", errSerialCharset},
	}
	for _, tt := range tests {
		got, err := NormalizeSerial(tt.in)
		if got != tt.want || err != tt.err {
			t.Errorf("NormalizeSerial(%q) = %q, %v; want %q, %v", tt.in, got, err, tt.want, tt.err)
		}
	}
}
