package shareapi_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

// postFrom sends a login call from a client address.
func (e *env) postFrom(addr, path, body string) response {
	e.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/ShareWebServices/Services/"+path, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.RemoteAddr = addr + ":40000"
	rec := httptest.NewRecorder()
	e.h.ServeHTTP(rec, req)
	return response{status: rec.Code, header: rec.Header(), body: rec.Body.String()}
}

// code returns the error Code of an answer, or "OK".
func code(r response) string {
	if r.status == 200 {
		return "OK"
	}
	var we wireError
	json.Unmarshal([]byte(r.body), &we)
	return we.Code
}

const (
	samRight = `{"accountName":"sam","password":"correct horse"}`
	samWrong = `{"accountName":"sam","password":"guess"}`
)

// attack guesses sam's password from addr(i) for d of fake time, waiting
// out every delay it is given, and returns how many guesses were checked
// and the Retry-After values it got. between runs whenever the attacker
// is told to wait, before it waits.
func attack(t *testing.T, e *env, d time.Duration, addr func(i int) string, between func()) (checked int, waits []int) {
	t.Helper()
	end := e.clock.Now().Add(d)
	for i := 0; e.clock.Now().Before(end); i++ {
		r := e.postFrom(addr(i), "General/LoginPublisherAccountByName", samWrong)
		// The owner's turn comes while the attacker is being held off.
		if between != nil && code(r) == "SSO_AuthenticateMaxAttemptsExceeded" {
			between()
		}
		switch code(r) {
		case "AccountPasswordInvalid":
			checked++
		case "SSO_AuthenticateMaxAttemptsExceeded":
			s, err := strconv.Atoi(r.header.Get("Retry-After"))
			if err != nil || s < 1 {
				t.Fatalf("delay without a Retry-After: %q", r.header.Get("Retry-After"))
			}
			waits = append(waits, s)
			e.clock.Advance(time.Duration(s) * time.Second)
		default:
			t.Fatalf("guess %d: %d %s", i, r.status, r.body)
		}
	}
	return checked, waits
}

// TestLoginThrottleAttackerFromOneAddress: a day of guessing from one
// address slows that address down — delays that double up to the 15-minute
// maximum — while the owner keeps logging in from the address it used
// before, from a new address, and with its session from the attacker's own
// address. Before, five wrong passwords locked the account for everyone.
func TestLoginThrottleAttackerFromOneAddress(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	const home, attacker = "203.0.113.10", "198.51.100.7"
	e.ok(e.postFrom(home, "General/LoginPublisherAccountByName", samRight))
	sid := e.login("sam")
	owner, refused, next := 0, []string{}, e.clock.Now()
	checked, waits := attack(t, e, 24*time.Hour, func(int) string { return attacker }, func() {
		if e.clock.Now().Before(next) {
			return
		}
		next = next.Add(10 * time.Minute)
		owner++
		for _, c := range []struct{ addr, body string }{
			{home, samRight},
			{fmt.Sprintf("192.0.2.%d", owner%250+1), samRight}, // an address never seen
			{attacker, `{"accountName":"sam","password":"correct horse","sessionId":"` + sid + `"}`},
		} {
			if r := e.postFrom(c.addr, "General/LoginPublisherAccountByName", c.body); r.status != 200 {
				refused = append(refused, fmt.Sprintf("%s at %s: %s", c.addr, e.clock.Now().Format(time.TimeOnly), code(r)))
			}
		}
	})
	if len(refused) > 0 || owner < 80 {
		t.Errorf("the owner was refused %d times of %d: %v", len(refused), 3*owner, refused[:min(len(refused), 5)])
	}
	// 5 free guesses, 10 while the delay doubles from 1 s to 512 s, then
	// one per 15 minutes.
	if checked > 5+10+24*4 {
		t.Errorf("%d guesses were checked in a day from one address, want at most %d", checked, 5+10+24*4)
	}
	if len(waits) < 10 || waits[0] != 1 || waits[1] != 2 || waits[2] != 4 || waits[len(waits)-1] > 900 {
		t.Errorf("delays %v, want 1, 2, 4 … up to 900 s", waits[:min(len(waits), 15)])
	}
	t.Logf("one address, one day: %d guesses checked, %d delays, the owner logged in %d times", checked, len(waits), 3*owner)
}

// TestLoginThrottleManyAddresses: a guess from a new address each time is
// still bounded: after 20 failures from unrecognised addresses (at most 5
// from any one), every unrecognised address waits the account-wide delay,
// which doubles up to 15 minutes. The address the owner logged in from
// keeps working, and so does a session.
func TestLoginThrottleManyAddresses(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	const home = "203.0.113.10"
	e.ok(e.postFrom(home, "General/LoginPublisherAccountByName", samRight))
	sid := e.login("sam")
	refused, next := 0, e.clock.Now()
	checked, waits := attack(t, e, 24*time.Hour, func(i int) string {
		return fmt.Sprintf("2001:db8:%x:%x::1", i/65536, i%65536) // a new /64 each time
	}, func() {
		if e.clock.Now().Before(next) {
			return
		}
		next = next.Add(10 * time.Minute)
		for _, body := range []string{samRight, `{"accountName":"sam","password":"correct horse","sessionId":"` + sid + `"}`} {
			addr := home
			if strings.Contains(body, "sessionId") {
				addr = "2001:db8:ffff:ffff::1"
			}
			if r := e.postFrom(addr, "General/LoginPublisherAccountByName", body); r.status != 200 {
				refused++
			}
		}
	})
	if refused > 0 {
		t.Errorf("the owner was refused %d times", refused)
	}
	if bound := 20 + 10 + 24*4; checked > bound {
		t.Errorf("%d guesses from many addresses were checked in a day, want at most %d", checked, bound)
	}
	if len(waits) == 0 || waits[len(waits)-1] > 900 {
		t.Errorf("delays %v", waits)
	}
	t.Logf("many addresses, one day: %d guesses checked, %d delays", checked, len(waits))
}

// TestLoginThrottleUnknownNames: names that match no account are throttled
// like an account, on their own counters, so that delays do not tell which
// names exist.
func TestLoginThrottleUnknownNames(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	for _, name := range []string{"sam", "ghost"} {
		var got []string
		for i := 0; i < 7; i++ {
			got = append(got, code(e.postFrom("198.51.100.7", "General/LoginPublisherAccountByName",
				`{"accountName":"`+strings.ToUpper(name)+`","password":"guess"}`)))
		}
		want := "AccountPasswordInvalid AccountPasswordInvalid AccountPasswordInvalid AccountPasswordInvalid " +
			"AccountPasswordInvalid SSO_AuthenticateMaxAttemptsExceeded SSO_AuthenticateMaxAttemptsExceeded"
		if strings.Join(got, " ") != want {
			t.Errorf("%s: %v", name, got)
		}
	}
}

// TestLoginThrottleSessionSpellings: a session id sent with a login is one
// place however it is spelled (case, braces, quotes), so spelling it anew
// gives no fresh free guesses.
func TestLoginThrottleSessionSpellings(t *testing.T) {
	e := newEnv(t)
	e.account("sam")
	sid := e.login("sam")
	spellings := []string{sid, strings.ToUpper(sid), "{" + sid + "}", `\"` + sid + `\"`, " " + sid + " ", "{" + strings.ToUpper(sid) + "}"}
	var got []string
	for _, sp := range spellings {
		got = append(got, code(e.postFrom("198.51.100.7", "General/LoginPublisherAccountByName",
			`{"accountName":"sam","password":"guess","sessionId":"`+sp+`"}`)))
	}
	if got[4] != "AccountPasswordInvalid" || got[5] != "SSO_AuthenticateMaxAttemptsExceeded" {
		t.Errorf("guesses with one session spelled six ways: %v; want the 6th delayed", got)
	}
}
