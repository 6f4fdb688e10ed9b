package web

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"net/http"
	"net/url"
	"path"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Cookies. The session cookie holds a protocol session id; the pre-session
// cookie holds a random value that the sign-in and sign-up forms' CSRF
// tokens are derived from, before there is a session.
const (
	sessionCookie = "glucoshare_session"
	preCookie     = "glucoshare_pre"
	csrfField     = "csrf"
	// webApplicationID is recorded with the sessions the dashboard opens.
	webApplicationID = "glucoshare-web"
	maxFormBytes     = 1 << 20
)

// visit is one request of a signed-in account.
type visit struct {
	sess *glucose.Session
	me   *glucose.Account
	now  time.Time
	csrf string
	// For a page shown again after a failed form: the status and the
	// message to show.
	status int
	errMsg string
	// A read token just created, shown once.
	newToken *newToken
}

// units are what the visitor reads values in.
func (v *visit) units() glucose.Units { return v.me.Units.Or(glucose.DefaultUnits) }

// visitor returns the visit of the request's session, or nil when it has
// no valid one. Service.Session renews the session's idle lifetime.
func (h *Handler) visitor(r *http.Request) (*visit, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil, nil
	}
	now := h.opts.Clock.Now()
	sess, me, err := h.svc.Session(r.Context(), c.Value, now)
	if err != nil {
		var pe *glucose.Error
		if errors.As(err, &pe) {
			return nil, nil // ended, expired or unknown: sign in again
		}
		return nil, err
	}
	return &visit{sess: sess, me: me, now: now, csrf: h.mac("session", sess.ID)}, nil
}

// mac is the CSRF token for a purpose and a value: HMAC-SHA256 under the
// server key, so that it cannot be computed without the key and is bound
// to one session (or one pre-session cookie).
func (h *Handler) mac(purpose, value string) string {
	m := hmac.New(sha256.New, h.opts.Key)
	m.Write([]byte(purpose))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return base64.RawURLEncoding.EncodeToString(m.Sum(nil))
}

// validToken compares a submitted token with the expected one in constant
// time.
func validToken(got, want string) bool {
	return got != "" && hmac.Equal([]byte(got), []byte(want))
}

// secure reports whether cookies must be Secure for this request.
func (h *Handler) secure(r *http.Request) bool { return r.TLS != nil || h.opts.CookieSecure }

func (h *Handler) setSessionCookie(w http.ResponseWriter, r *http.Request, id string) {
	maxAge := int((30 * 24 * time.Hour).Seconds())
	if m := h.svc.Config().SessionMax; m > 0 {
		maxAge = int(m.Seconds())
	}
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: id, Path: "/", MaxAge: maxAge,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
}

func (h *Handler) clearCookie(w http.ResponseWriter, r *http.Request, name string) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteLaxMode})
}

// preToken returns the CSRF token of the sign-in and sign-up forms, setting
// the pre-session cookie it is derived from when the browser has none.
func (h *Handler) preToken(w http.ResponseWriter, r *http.Request) string {
	if c, err := r.Cookie(preCookie); err == nil && len(c.Value) == 22 {
		return h.mac("pre", c.Value)
	}
	var b [16]byte
	rand.Read(b[:])
	v := base64.RawURLEncoding.EncodeToString(b[:])
	http.SetCookie(w, &http.Cookie{Name: preCookie, Value: v, Path: "/", MaxAge: 24 * 3600,
		HttpOnly: true, Secure: h.secure(r), SameSite: http.SameSiteStrictMode})
	return h.mac("pre", v)
}

// checkPreToken checks the token of a sign-in or sign-up form.
func (h *Handler) checkPreToken(r *http.Request) bool {
	c, err := r.Cookie(preCookie)
	return err == nil && validToken(r.PostFormValue(csrfField), h.mac("pre", c.Value))
}

// safeNext returns where to go after signing in: a path on this site,
// never another site and never a URL with a scheme. It returns the value
// exactly as it will be sent in Location — decoded, cleaned as
// http.Redirect cleans, and encoded again — so that what is checked is
// what the browser gets. Anything doubtful becomes "/": backslashes, which
// browsers read as slashes, and control characters, which they drop
// ("/\t/evil.example" would become "//evil.example").
func safeNext(next string) string {
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return "/"
	}
	p := u.Path
	if !strings.HasPrefix(p, "/") || strings.HasPrefix(p, "//") || !printable(p) || !printable(u.RawQuery) {
		return "/"
	}
	clean := path.Clean(p)
	if strings.HasSuffix(p, "/") && clean != "/" {
		clean += "/"
	}
	out := (&url.URL{Path: clean, RawQuery: u.RawQuery}).String()
	if !strings.HasPrefix(out, "/") || strings.HasPrefix(out, "//") {
		return "/"
	}
	return out
}

// printable reports whether s has no backslash and no control, space or
// format characters (tabs, newlines, NUL, bidi controls): none of them
// belongs in a path the server itself links to.
func printable(s string) bool {
	return utf8.ValidString(s) && strings.IndexFunc(s, func(r rune) bool {
		return r == '\\' || r <= ' ' || r == 0x7f || unicode.IsControl(r) || unicode.Is(unicode.Cf, r)
	}) < 0
}

// pageFunc renders a page for a visit.
type pageFunc func(w http.ResponseWriter, r *http.Request, v *visit) error

// actionFunc handles a form POST and returns where to redirect, or ""
// when it wrote the answer itself.
type actionFunc func(w http.ResponseWriter, r *http.Request, v *visit) (string, error)

// page wraps a page that needs a session: without one the browser goes to
// the sign-in page and comes back afterwards.
func (h *Handler) page(fn pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		v, err := h.visitor(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if v == nil {
			http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if err := fn(w, r, v); err != nil {
			h.fail(w, r, err)
		}
	}
}

// act wraps a form POST: session, CSRF token, then fn; a redirect on
// success (POST-redirect-GET). When fn fails with a protocol error, onErr
// shows its page again with the message; without onErr, the dashboard.
func (h *Handler) act(fn actionFunc, onErr pageFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.readForm(w, r) {
			return
		}
		v, err := h.visitor(r)
		if err != nil {
			h.fail(w, r, err)
			return
		}
		if v == nil {
			http.Redirect(w, r, "/signin", http.StatusSeeOther)
			return
		}
		if !validToken(r.PostFormValue(csrfField), v.csrf) {
			h.forbidden(w)
			return
		}
		to, err := fn(w, r, v)
		var pe *glucose.Error
		switch {
		case err == nil && to == "":
			return // fn answered itself
		case err == nil:
			http.Redirect(w, r, to, http.StatusSeeOther)
			return
		case !errors.As(err, &pe):
			h.fail(w, r, err)
			return
		}
		if onErr == nil {
			onErr = h.dashboard
		}
		v.status, v.errMsg = http.StatusUnprocessableEntity, pe.Message
		if err := onErr(w, r, v); err != nil {
			h.fail(w, r, err)
		}
	}
}

// readForm reads a form POST within maxFormBytes. A larger one is answered
// 413 here: left to PostFormValue, it would read as a form without its
// CSRF token and be refused as expired. Other malformed bodies read as
// empty forms, which the CSRF check refuses.
func (h *Handler) readForm(w http.ResponseWriter, r *http.Request) bool {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	err := r.ParseForm() // url-encoded bodies; ParseMultipartForm would hide its error
	if err == nil {
		err = r.ParseMultipartForm(maxFormBytes)
	}
	var tooLarge *http.MaxBytesError
	if errors.As(err, &tooLarge) {
		http.Error(w, "The form is larger than 1 MiB. Go back and send less (a smaller picture).",
			http.StatusRequestEntityTooLarge)
		return false
	}
	return true
}

func (h *Handler) forbidden(w http.ResponseWriter) {
	http.Error(w, "The form has expired or did not come from this site. Go back, reload the page and try again.",
		http.StatusForbidden)
}

// fail answers an unexpected error: logged with detail, shown without.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, context.Canceled) {
		return
	}
	h.log.Error("web request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	http.Error(w, "Something went wrong on the server. Please try again.", http.StatusInternalServerError)
}

// layout is what every page template receives.
type layout struct {
	Title  string
	Nav    string // the current section, for the menu
	Me     *glucose.Account
	CSRF   string
	Path   string // the page's own address, to come back to after a form
	Error  string
	Notice string
	Alarms *alarmsView
	Live   bool // the page listens for live events
	Signup bool
	Data   any
}

// render executes a page into a buffer first, so that a template error
// becomes a clean 500 instead of half a page.
func (h *Handler) render(w http.ResponseWriter, r *http.Request, v *visit, name string, l layout) error {
	if v != nil {
		l.Error = v.errMsg
	}
	if v != nil && v.me != nil {
		l.Me, l.CSRF = v.me, v.csrf
		if l.Alarms == nil {
			a, err := h.alarms(r.Context(), v, r.URL.RequestURI())
			if err != nil {
				return err
			}
			l.Alarms = a
		}
	}
	if l.Notice == "" {
		l.Notice = notices[r.URL.Query().Get("ok")]
	}
	l.Path = r.URL.RequestURI()
	l.Signup = h.opts.Signup
	var b bytes.Buffer
	if err := h.pages[name].ExecuteTemplate(&b, "layout", l); err != nil {
		return err
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/html; charset=utf-8")
	hd.Set("Cache-Control", "no-store")
	status := http.StatusOK
	if v != nil && v.status != 0 {
		status = v.status
	}
	w.WriteHeader(status)
	_, err := w.Write(b.Bytes())
	return err
}

// notices are the confirmations a redirect may ask for with ?ok=; fixed
// texts, so that a link cannot make the page say anything else.
var notices = map[string]string{
	"invited":    "Invitation created. Send the link below to your follower.",
	"saved":      "Saved.",
	"removed":    "Removed.",
	"accepted":   "You now follow this sharer.",
	"declined":   "Invitation declined.",
	"password":   "Password changed. Your other sessions were signed out.",
	"token":      "Image link created. Copy it now: it is shown only once.",
	"webhook":    "Webhook registered.",
	"device":     "This device will receive alarms. Send it a test to be sure.",
	"channel":    "Added. Send it a test to be sure.",
	"test":       "Test sent. It should arrive within a few seconds.",
	"paused":     "Paused.",
	"resumed":    "Resumed.",
	"signed-out": "You are signed out.",
	"linked":     "Linked. The last 24 hours are read at once; the status below shows how it went.",
	"unlinked":   "Unlinked. The Share password is erased from this server; mirrored readings stay.",
}
