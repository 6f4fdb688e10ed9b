// Package nsdoc decodes and edits the JSON documents that Nightscout
// clients upload (treatments, device status, profiles, …): schemaless
// objects that glucoshare stores as they came, after the few
// normalisations Nightscout itself makes.
//
// Decoding is strict where storage needs it and lenient elsewhere: the
// body must be an object or an array of objects, nested at most MaxDepth
// deep, with finite numbers and no NUL character (PostgreSQL's jsonb,
// which queries read documents through, refuses it). Invalid UTF-8 and
// lone surrogates become U+FFFD, as every JSON decoder does. Every value
// is re-encoded canonically (compact, strings escaped the one way Go
// does), so that a stored document is always valid JSON on both engines
// and the same input always gives the same bytes. Members keep their
// order; a repeated member keeps its first place and its last value, as
// JavaScript's JSON.parse does.
package nsdoc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxDepth bounds how deeply values nest in a document.
const MaxDepth = 32

// Object is a JSON object that keeps its members in order.
type Object struct {
	members []member
}

type member struct {
	key   string
	value json.RawMessage // canonical
}

// Error is a decoding failure, phrased for the client.
type Error struct{ msg string }

func (e *Error) Error() string { return e.msg }

func errorf(format string, args ...any) error { return &Error{msg: fmt.Sprintf(format, args...)} }

// Parse decodes a request body: one object, or an array of objects (an
// empty array gives none). A UTF-8 byte order mark is skipped.
func Parse(body []byte) ([]*Object, error) {
	body = bytes.TrimPrefix(body, []byte("\xef\xbb\xbf"))
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	tok, err := d.Token()
	if err != nil {
		return nil, errorf("the body is not JSON")
	}
	var objs []*Object
	switch tok {
	case json.Delim('{'):
		o, err := decodeObject(d, 1)
		if err != nil {
			return nil, err
		}
		objs = []*Object{o}
	case json.Delim('['):
		for d.More() {
			tok, err := d.Token()
			if err != nil {
				return nil, errorf("the body is not valid JSON")
			}
			if tok != json.Delim('{') {
				return nil, errorf("element %d of the array is not an object", len(objs))
			}
			o, err := decodeObject(d, 2)
			if err != nil {
				return nil, err
			}
			objs = append(objs, o)
		}
		if _, err := d.Token(); err != nil {
			return nil, errorf("the body is not valid JSON")
		}
	default:
		return nil, errorf("the body must be a JSON object or an array of objects")
	}
	if _, err := d.Token(); err != io.EOF {
		return nil, errorf("the body holds more than one JSON value")
	}
	return objs, nil
}

// ParseObject decodes one object.
func ParseObject(b []byte) (*Object, error) {
	objs, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if len(objs) != 1 || bytes.HasPrefix(bytes.TrimSpace(bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))), []byte("[")) {
		return nil, errorf("the body must be one JSON object")
	}
	return objs[0], nil
}

// decodeObject reads the members of an object whose { was read.
func decodeObject(d *json.Decoder, depth int) (*Object, error) {
	if depth > MaxDepth {
		return nil, errorf("the document nests deeper than %d levels", MaxDepth)
	}
	o := &Object{}
	for d.More() {
		tok, err := d.Token()
		if err != nil {
			return nil, errorf("the body is not valid JSON")
		}
		key, ok := tok.(string)
		if !ok {
			return nil, errorf("the body is not valid JSON")
		}
		if err := checkString(key); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := decodeValue(d, &buf, depth); err != nil {
			return nil, err
		}
		o.SetRaw(key, buf.Bytes())
	}
	if _, err := d.Token(); err != nil { // }
		return nil, errorf("the body is not valid JSON")
	}
	return o, nil
}

// decodeValue reads one value and writes it canonically to buf.
func decodeValue(d *json.Decoder, buf *bytes.Buffer, depth int) error {
	tok, err := d.Token()
	if err != nil {
		return errorf("the body is not valid JSON")
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth+1 > MaxDepth {
			return errorf("the document nests deeper than %d levels", MaxDepth)
		}
		if t == '{' {
			o, err := decodeObject(d, depth+1)
			if err != nil {
				return err
			}
			buf.Write(o.Bytes())
			return nil
		}
		buf.WriteByte('[')
		for i := 0; d.More(); i++ {
			if i > 0 {
				buf.WriteByte(',')
			}
			if err := decodeValue(d, buf, depth+1); err != nil {
				return err
			}
		}
		if _, err := d.Token(); err != nil { // ]
			return errorf("the body is not valid JSON")
		}
		buf.WriteByte(']')
	case string:
		if err := checkString(t); err != nil {
			return err
		}
		buf.Write(encodeString(t))
	case json.Number:
		f, err := strconv.ParseFloat(string(t), 64)
		if err != nil || math.IsInf(f, 0) {
			return errorf("the number %.40s is out of range", string(t))
		}
		buf.WriteString(string(t))
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case nil:
		buf.WriteString("null")
	}
	return nil
}

// checkString refuses what storage cannot keep.
func checkString(s string) error {
	if strings.IndexByte(s, 0) >= 0 {
		return errorf("documents may not contain the NUL character")
	}
	return nil
}

// encodeString writes s as a JSON string: valid UTF-8, without HTML
// escaping (documents are data, escaped where they are shown).
func encodeString(s string) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	enc.Encode(s) // a string always encodes
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// Bytes returns the object as compact JSON.
func (o *Object) Bytes() []byte {
	var buf bytes.Buffer
	buf.WriteByte('{')
	for i, m := range o.members {
		if i > 0 {
			buf.WriteByte(',')
		}
		buf.Write(encodeString(m.key))
		buf.WriteByte(':')
		buf.Write(m.value)
	}
	buf.WriteByte('}')
	return buf.Bytes()
}

// Len returns how many members the object has.
func (o *Object) Len() int { return len(o.members) }

// Keys returns the members' names in order.
func (o *Object) Keys() []string {
	keys := make([]string, len(o.members))
	for i, m := range o.members {
		keys[i] = m.key
	}
	return keys
}

func (o *Object) index(key string) int {
	for i, m := range o.members {
		if m.key == key {
			return i
		}
	}
	return -1
}

// Has reports whether the object has the member.
func (o *Object) Has(key string) bool { return o.index(key) >= 0 }

// Raw returns a member's JSON; nil when missing.
func (o *Object) Raw(key string) json.RawMessage {
	if i := o.index(key); i >= 0 {
		return o.members[i].value
	}
	return nil
}

// SetRaw sets a member to canonical JSON, in its place when it exists,
// else at the end.
func (o *Object) SetRaw(key string, value json.RawMessage) {
	if i := o.index(key); i >= 0 {
		o.members[i].value = value
		return
	}
	o.members = append(o.members, member{key: key, value: value})
}

// Set sets a member to v encoded as JSON: a string, a bool, nil, a
// float64 or int64 (non-finite numbers become null, as JavaScript writes
// NaN), or json.RawMessage already canonical.
func (o *Object) Set(key string, v any) {
	switch t := v.(type) {
	case string:
		o.SetRaw(key, encodeString(t))
	case float64:
		if math.IsNaN(t) || math.IsInf(t, 0) {
			o.SetRaw(key, json.RawMessage("null"))
			return
		}
		o.SetRaw(key, json.RawMessage(strconv.FormatFloat(t, 'f', -1, 64)))
	case int64:
		o.SetRaw(key, json.RawMessage(strconv.FormatInt(t, 10)))
	case int:
		o.SetRaw(key, json.RawMessage(strconv.Itoa(t)))
	case bool:
		o.SetRaw(key, json.RawMessage(strconv.FormatBool(t)))
	case json.RawMessage:
		o.SetRaw(key, t)
	case nil:
		o.SetRaw(key, json.RawMessage("null"))
	default:
		panic(fmt.Sprintf("nsdoc: Set of %T", v))
	}
}

// Delete removes a member.
func (o *Object) Delete(key string) {
	if i := o.index(key); i >= 0 {
		o.members = append(o.members[:i], o.members[i+1:]...)
	}
}

// String returns a member that is a string.
func (o *Object) String(key string) (string, bool) {
	raw := o.Raw(key)
	if len(raw) == 0 || raw[0] != '"' {
		return "", false
	}
	var s string
	return s, json.Unmarshal(raw, &s) == nil
}

// Number returns a member that is a number.
func (o *Object) Number(key string) (float64, bool) {
	raw := o.Raw(key)
	if len(raw) == 0 || !(raw[0] == '-' || raw[0] >= '0' && raw[0] <= '9') {
		return 0, false
	}
	f, err := strconv.ParseFloat(string(raw), 64)
	return f, err == nil
}

// IsNull reports whether a member is missing or null.
func (o *Object) IsNull(key string) bool {
	raw := o.Raw(key)
	return raw == nil || string(raw) == "null"
}

// Merge sets every member of other on o, as MongoDB's $set does.
func (o *Object) Merge(other *Object) {
	for _, m := range other.members {
		o.SetRaw(m.key, m.value)
	}
}

// Clone returns a copy that can be changed independently.
func (o *Object) Clone() *Object {
	return &Object{members: append([]member(nil), o.members...)}
}

// IsDecodeError reports whether err is a decoding failure of this package.
func IsDecodeError(err error) bool {
	var e *Error
	return errors.As(err, &e)
}
