package shareapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/url"
	"strconv"
	"strings"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// params finds an endpoint's parameters (docs/protocol.md, "Parameters"): first in the
// query string, then in a form body, then among the top-level members of a
// JSON-object body; names compared case-insensitively. The body is parsed
// only when a parameter is missing from the query, so garbage in a body that
// is not needed is harmless.
type params struct {
	query       pairs  // in the order sent
	body        []byte // trimmed, BOM removed; nil when "no body"
	contentType string

	parsed  bool
	form    pairs                      // in the order sent
	members map[string]json.RawMessage // lower-case name → last occurrence
	bodyErr error

	// queryBuf holds the pairs of a usual query (sessionId, minutes,
	// maxCount, compat…), so that reading them allocates nothing beyond
	// params itself: this runs for every request.
	queryBuf [4]pair
}

var utf8BOM = []byte{0xef, 0xbb, 0xbf}

func newParams(rawQuery string, body []byte, contentType string) *params {
	p := &params{}
	p.init(rawQuery, body, contentType)
	return p
}

// init sets up a zero params, such as the one inside a call.
func (p *params) init(rawQuery string, body []byte, contentType string) {
	p.contentType = contentType
	p.query = appendPairs(p.queryBuf[:0], rawQuery)
	body = bytes.TrimSpace(bytes.TrimPrefix(body, utf8BOM))
	switch string(body) {
	case "", "null", "{}", `""`:
	default:
		p.body = body
	}
}

// pair is one unescaped name=value of a query or form string.
type pair struct {
	name, value string
	ascii       bool // name is ASCII
}

// pairs are the pairs of a query or form string in the order sent. A name
// is found case-insensitively and its first value wins. A handful of
// pairs searched in order costs less than building a map of lower-cased
// names for every request.
type pairs []pair

// appendPairs parses a query or form string onto ps. Malformed pairs are
// skipped, like unknown ones.
func appendPairs(ps pairs, s string) pairs {
	for s != "" {
		var kv string
		kv, s, _ = strings.Cut(s, "&")
		name, value, _ := strings.Cut(kv, "=")
		// Without '%' or '+', unescaping changes nothing and cannot fail.
		if strings.IndexByte(kv, '%') >= 0 || strings.IndexByte(kv, '+') >= 0 {
			var err1, err2 error
			name, err1 = url.QueryUnescape(name)
			value, err2 = url.QueryUnescape(value)
			if err1 != nil || err2 != nil {
				continue
			}
		}
		if name == "" {
			continue
		}
		ps = append(ps, pair{name: name, value: value, ascii: isASCII(name)})
	}
	return ps
}

// get returns the first value of a name that strings.ToLower turns into
// the same text as name. ASCII names, which are what handlers look up and
// clients send, are compared byte by byte ignoring ASCII case; other
// names are lower-cased, since Unicode lower-casing can turn a non-ASCII
// letter into an ASCII one (the Kelvin sign into k).
func (ps pairs) get(name string) (string, bool) {
	ascii := isASCII(name)
	for _, p := range ps {
		if p.ascii && ascii {
			if asciiEqualFold(p.name, name) {
				return p.value, true
			}
		} else if strings.ToLower(p.name) == strings.ToLower(name) {
			return p.value, true
		}
	}
	return "", false
}

// asciiEqualFold reports whether ASCII strings a and b are equal ignoring
// ASCII case.
func asciiEqualFold(a, b string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := 0; i < len(a); i++ {
		if asciiLower(a[i]) != asciiLower(b[i]) {
			return false
		}
	}
	return true
}

func asciiLower(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// hasBody reports whether the request carried a body other than the empty
// forms of docs/protocol.md, "Parameters".
func (p *params) hasBody() bool { return p.body != nil }

// rawBody returns the body bytes, or nil for "no body".
func (p *params) rawBody() []byte { return p.body }

// isJSONBody reports whether the body is JSON by its first character.
func (p *params) isJSONBody() bool {
	return p.body != nil && (p.body[0] == '{' || p.body[0] == '[')
}

// parse classifies and parses the body once.
func (p *params) parse() error {
	if p.parsed {
		return p.bodyErr
	}
	p.parsed = true
	switch {
	case p.body == nil:
	case p.body[0] == '{':
		p.members, p.bodyErr = objectMembers(p.body)
	case p.body[0] == '[':
		// An array body carries no named parameters.
	case isForm(p.contentType):
		p.form = appendPairs(nil, string(p.body))
	default:
		p.bodyErr = glucose.InvalidArgument("the request body is neither JSON nor a form")
	}
	return p.bodyErr
}

func isForm(contentType string) bool {
	ct, _, _ := strings.Cut(contentType, ";")
	return strings.EqualFold(strings.TrimSpace(ct), "application/x-www-form-urlencoded")
}

// objectMembers decodes the top-level members of a JSON object, keyed by
// lower-cased name; a repeated member's last occurrence wins. Each value is
// the member's bytes as sent. The body is validated whole first, so the
// walk over it only has to find where each member ends: a decoder's tokens
// cost several times more, once for the body and once per uploaded EGV.
func objectMembers(body []byte) (map[string]json.RawMessage, error) {
	i := skipSpace(body, 0)
	if !json.Valid(body) || i == len(body) || body[i] != '{' {
		return nil, glucose.InvalidArgument("the request body is not valid JSON")
	}
	return validMembers(body), nil
}

// validMembers is objectMembers for an object already known to be valid,
// such as a member of a body objectMembers validated: it is not scanned
// again.
func validMembers(body []byte) map[string]json.RawMessage {
	m := make(map[string]json.RawMessage)
	i := skipSpace(body, skipSpace(body, 0)+1)
	for body[i] == '"' {
		end := skipValue(body, i)
		name := string(body[i+1 : end-1])
		if bytes.IndexByte(body[i:end], '\\') >= 0 || !isASCII(name) {
			json.Unmarshal(body[i:end], &name) // valid: cannot fail
		}
		i = skipSpace(body, skipSpace(body, end)+1) // past the ':'
		end = skipValue(body, i)
		m[strings.ToLower(name)] = json.RawMessage(bytes.Clone(body[i:end]))
		i = skipSpace(body, end)
		if body[i] == ',' {
			i = skipSpace(body, i+1)
		}
	}
	return m
}

// arrayElements splits a JSON array already known to be valid (a member of
// a body objectMembers validated) into its elements, as sent, without
// scanning it again as json.Unmarshal would.
func arrayElements(raw json.RawMessage) []json.RawMessage {
	var out []json.RawMessage
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != ']' {
		end := skipValue(raw, i)
		out = append(out, raw[i:end])
		i = skipSpace(raw, end)
		if i < len(raw) && raw[i] == ',' {
			i = skipSpace(raw, i+1)
		}
	}
	return out
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace.
func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\r' || b[i] == '\n') {
		i++
	}
	return i
}

// skipValue returns the index just past the JSON value that starts at i, in
// a document already known to be valid.
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			for i++; b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the enclosing object
			}
			if depth--; depth == 0 {
				return i + 1
			}
		case ',', ' ', '\t', '\r', '\n':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// lookup finds a parameter's value. fromJSON tells whether raw is a JSON
// value (from the body) rather than query or form text.
func (p *params) lookup(name string) (text string, raw json.RawMessage, fromJSON, ok bool, err error) {
	if v, found := p.query.get(name); found {
		return v, nil, false, true, nil
	}
	if err := p.parse(); err != nil {
		return "", nil, false, false, err
	}
	if v, found := p.form.get(name); found {
		return v, nil, false, true, nil
	}
	if p.members == nil {
		return "", nil, false, false, nil
	}
	if v, found := p.members[strings.ToLower(name)]; found && !bytes.Equal(v, []byte("null")) {
		return "", v, true, true, nil
	}
	return "", nil, false, false, nil
}

// isNull reports whether a raw JSON value is empty or null: absent, for
// decoders that would otherwise read it as a zero value.
func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || bytes.Equal(raw, []byte("null"))
}

// member returns a raw JSON member of the body (for objects such as
// runtimeInfo), or nil.
func (p *params) member(name string) (json.RawMessage, error) {
	if err := p.parse(); err != nil {
		return nil, err
	}
	v := p.members[strings.ToLower(name)]
	if bytes.Equal(v, []byte("null")) {
		return nil, nil
	}
	return v, nil
}

// String returns a string parameter. A JSON number or boolean stands for
// its literal text; isNumber reports a JSON number (docs/protocol.md, "Credential checks" step 5).
func (p *params) String(name string) (s string, isNumber, ok bool, err error) {
	text, raw, fromJSON, ok, err := p.lookup(name)
	if err != nil || !ok || !fromJSON {
		return text, false, ok, err
	}
	switch raw[0] {
	case '"':
		s, err := unquote(raw)
		if err != nil {
			return "", false, false, glucose.InvalidArgument("%s must be a string", name)
		}
		return s, false, true, nil
	case 't', 'f':
		return string(raw), false, true, nil
	case '{', '[':
		return "", false, false, glucose.InvalidArgument("%s must be a string", name)
	default:
		return string(raw), true, true, nil
	}
}

// Int returns an integer parameter: a JSON number without a fractional part
// or a string of decimal digits with an optional leading '-'. Values beyond
// 64 bits saturate.
func (p *params) Int(name string) (int64, bool, error) {
	text, raw, fromJSON, ok, err := p.lookup(name)
	if err != nil || !ok {
		return 0, false, err
	}
	if fromJSON {
		if raw[0] == '"' {
			if text, err = unquote(raw); err != nil {
				return 0, false, glucose.InvalidArgument("%s must be an integer", name)
			}
		} else {
			n, err := jsonInteger(raw)
			if err != nil {
				return 0, false, glucose.InvalidArgument("%s must be an integer", name)
			}
			return n, true, nil
		}
	}
	n, err := decimalInteger(text)
	if err != nil {
		return 0, false, glucose.InvalidArgument("%s must be an integer", name)
	}
	return n, true, nil
}

// unquote decodes a JSON string. It is a function of its own so that the
// string that json.Unmarshal decodes into is allocated only on this path:
// as a variable of String or Int it would be for every parameter read.
func unquote(raw json.RawMessage) (string, error) {
	var s string
	err := json.Unmarshal(raw, &s)
	return s, err
}

var errNotInteger = errors.New("not an integer")

// decimalInteger parses [-]digits, saturating beyond the 64-bit range.
func decimalInteger(s string) (int64, error) {
	digits := strings.TrimPrefix(s, "-")
	if digits == "" || strings.IndexFunc(digits, func(r rune) bool { return r < '0' || r > '9' }) >= 0 {
		return 0, errNotInteger
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil { // only range errors remain
		if s[0] == '-' {
			return math.MinInt64, nil
		}
		return math.MaxInt64, nil
	}
	return n, nil
}

// jsonInteger parses a JSON number that has no fractional part (1440 and
// 1440.0 are both 1440), saturating beyond 64 bits.
func jsonInteger(raw json.RawMessage) (int64, error) {
	s := string(raw)
	if n, err := decimalInteger(s); err == nil {
		return n, nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, errNotInteger
	}
	if f != math.Trunc(f) || math.IsNaN(f) {
		return 0, errNotInteger
	}
	switch {
	case f >= math.MaxInt64:
		return math.MaxInt64, nil
	case f <= math.MinInt64:
		return math.MinInt64, nil
	}
	return int64(f), nil
}

// Bool returns a boolean parameter: true/false, "true"/"false" in any case,
// 1/0.
func (p *params) Bool(name string) (bool, bool, error) {
	s, _, ok, err := p.String(name)
	if err != nil || !ok {
		return false, ok, err
	}
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1":
		return true, true, nil
	case "false", "0":
		return false, true, nil
	}
	return false, false, glucose.InvalidArgument("%s must be true or false", name)
}
