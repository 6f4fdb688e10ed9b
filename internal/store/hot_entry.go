package store

import (
	"math"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// The cache's entries are compact so that a cache of 100,000 accounts in
// use fits the memory budget (docs/performance.md, "Cold start with
// 100,000 accounts" and "Cost per request, round seven"): ids as 16 bytes,
// times as Unix milliseconds, an account's text fields inline, readings as
// 16-byte values in a fixed array, and no pointers (hot_table.go). Whatever
// does not fit these forms is not cached and is read from the database, so
// every answer stays exact.

// sessionKey is a session id in 16 bytes.
type sessionKey [16]byte

// packID packs a canonical id (lower-case hexadecimal, hyphenated as
// glucose.NewID writes it). ok is false for any other form: such a session
// is read from the database.
func packID(id string) (k sessionKey, ok bool) {
	if len(id) != 36 || id[8] != '-' || id[13] != '-' || id[18] != '-' || id[23] != '-' {
		return k, false
	}
	j := 0
	for i := 0; i < 36; i++ {
		if i == 8 || i == 13 || i == 18 || i == 23 {
			continue
		}
		v, ok := lowerHex(id[i])
		if !ok {
			return k, false
		}
		k[j/2] |= v << (4 * (1 - j%2))
		j++
	}
	return k, true
}

func lowerHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'a' <= c && c <= 'f':
		return c - 'a' + 10, true
	}
	return 0, false
}

// hotSession is a cached session without its id (its key in
// hotCache.sessions) and its account. It is kept in its account's entry
// (hotAccount.sess), or, for the account's further sessions, in
// hotCache.more; it holds no pointer, so its application id is packed
// when it is in NewID's form and otherwise named by its index in
// hotCache.apps.
type hotSession struct {
	created   int64
	used      int64
	ended     int64      // meaningful when hasEnded
	app       sessionKey // the application id, when appPacked
	appIndex  uint16     // its index in hotCache.apps, when not appPacked
	appPacked bool
	hasEnded  bool
}

// sessionRef is where a cached session is kept: in the entry acct, which
// was of generation gen when the session was cached (hotCache.sessionLocked
// checks it), itself when more < 0, and otherwise at more in
// hotCache.more's sessions of that account.
type sessionRef struct {
	acct *hotAccount
	gen  uint32
	more int32
}

// moreSession is a further session of an account (hotKeys).
type moreSession struct {
	id sessionKey
	s  hotSession
}

// acctTexts is how many text fields hotAcct packs.
const acctTexts = 7

// acctTextBytes bounds an account's packed texts: longer ones are not
// cached (hotAcct). At most 255: hotAcct.ends are bytes.
const acctTextBytes = 160

// hotAcct is a cached account row without its id (the entry's key) and
// without its password hash, which no hot read's caller uses
// (glucose.HotReader). It holds no pointer (hotAccount says why), so its
// texts are inline, up to acctTextBytes in all.
type hotAcct struct {
	created    int64
	ends       [acctTexts]uint8    // where each text ends in text
	text       [acctTextBytes]byte // Name, DisplayName, Email, Compat, Units, Serial, ReceiverID
	disabled   bool
	monitoring bool
}

// packAccount packs a; ok is false when its texts are too long to pack.
func packAccount(a *glucose.Account) (h hotAcct, ok bool) {
	texts := [acctTexts]string{a.Name, a.DisplayName, a.Email, a.Compat, string(a.Units), a.Serial, a.ReceiverID}
	n := 0
	for i, s := range texts {
		if len(s) > acctTextBytes-n {
			return hotAcct{}, false
		}
		n += copy(h.text[n:], s)
		h.ends[i] = uint8(n)
	}
	h.created, h.disabled, h.monitoring = glucose.MS(a.CreatedAt), a.Disabled, a.Monitoring
	return h, true
}

func (h *hotAcct) account(id sessionKey) *glucose.Account {
	a := new(glucose.Account)
	var buf [idLen + acctTextBytes]byte
	h.fill(a, string(h.appendTexts(buf[:0], id)))
	return a
}

// idLen is the length of an id in NewID's form.
const idLen = 36

// appendTexts appends to b the account's id, which packs to id, and its
// texts, which fill reads back. An entry's memory is reused once the entry
// is dropped, so what a request takes from it is copied out, in one string.
func (h *hotAcct) appendTexts(b []byte, id sessionKey) []byte {
	return append(share.AppendUUID(b, id), h.text[:h.ends[acctTexts-1]]...)
}

// fill sets *a to the account, s holding what appendTexts appended.
func (h *hotAcct) fill(a *glucose.Account, s string) {
	field := func(i int) string {
		start := 0
		if i > 0 {
			start = int(h.ends[i-1])
		}
		return s[idLen+start : idLen+int(h.ends[i])]
	}
	*a = glucose.Account{ID: s[:idLen], Name: field(0), DisplayName: field(1), Email: field(2),
		Compat: field(3), Units: glucose.Units(field(4)), Serial: field(5), ReceiverID: field(6),
		Disabled: h.disabled, Monitoring: h.monitoring, CreatedAt: glucose.FromMS(h.created)}
}

// hotReading is a reading in 16 bytes: its time, when it was received
// relative to that time, and value, trend and offset.
type hotReading struct {
	st         int64
	received   int32  // ReceivedAt - ST, milliseconds
	valueTrend uint16 // value << 4 | trend
	offsetMin  int16
}

// packReading packs r; ok is false when a field is out of the packed
// ranges (such an account's readings are read from the database).
func packReading(r glucose.Reading) (p hotReading, ok bool) {
	d := r.ReceivedAt - r.ST
	if d < math.MinInt32 || d > math.MaxInt32 || r.Value < 0 || r.Value >= 1<<12 ||
		r.Trend < 0 || r.Trend >= 1<<4 || r.Offset < math.MinInt16 || r.Offset > math.MaxInt16 {
		return p, false
	}
	return hotReading{st: r.ST, received: int32(d), valueTrend: uint16(r.Value)<<4 | uint16(r.Trend),
		offsetMin: int16(r.Offset)}, true
}

func (p hotReading) reading() glucose.Reading {
	return glucose.Reading{ST: p.st, Value: int(p.valueTrend >> 4), Trend: share.Trend(p.valueTrend & 0xf),
		Offset: int(p.offsetMin), ReceivedAt: p.st + int64(p.received)}
}

// hotReadingList is an account's newest readings, newest first.
type hotReadingList struct {
	n  uint8
	rs [hotReadings]hotReading
}

// set replaces the list with rs (newest first, at most hotReadings); ok is
// false, and the list unchanged, when one of them cannot be packed.
func (l *hotReadingList) set(rs []glucose.Reading) bool {
	var nl hotReadingList
	for _, r := range rs[:min(len(rs), hotReadings)] {
		p, ok := packReading(r)
		if !ok {
			return false
		}
		nl.rs[nl.n] = p
		nl.n++
	}
	*l = nl
	return true
}

// add adds r in its place, at most hotReadings kept; ok is false when r
// cannot be packed. r may be there already, when a fill read it before its
// entry was applied.
func (l *hotReadingList) add(r glucose.Reading) bool {
	p, ok := packReading(r)
	if !ok {
		return false
	}
	i := 0
	for i < int(l.n) && l.rs[i].st > r.ST {
		i++
	}
	switch {
	case i < int(l.n) && l.rs[i].st == r.ST:
		l.rs[i] = p // the same reading (a reading's ST never changes hands)
	case i < hotReadings:
		end := min(int(l.n), hotReadings-1)
		copy(l.rs[i+1:end+1], l.rs[i:end])
		l.rs[i] = p
		l.n = uint8(end + 1)
	}
	return true
}

// newest returns the readings with ST >= since, newest first, at most max.
func (l *hotReadingList) newest(since int64, max int) []glucose.Reading {
	n := 0
	for n < int(l.n) && n < max && l.rs[n].st >= since {
		n++
	}
	out := make([]glucose.Reading, n)
	for i := range out {
		out[i] = l.rs[i].reading()
	}
	return out
}
