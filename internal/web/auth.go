package web

import (
	"errors"
	"net/http"
	"net/url"
	"strconv"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// authForm is the sign-in and sign-up page.
type authForm struct {
	Next        string
	Name        string
	DisplayName string
	Email       string
	Units       glucose.Units // sign-up: preselected from the browser's language
}

// GET /signin
func (h *Handler) signinPage(w http.ResponseWriter, r *http.Request) {
	if v, err := h.visitor(r); err == nil && v != nil {
		http.Redirect(w, r, safeNext(r.URL.Query().Get("next")), http.StatusSeeOther)
		return
	}
	h.showAuth(w, r, "signin", "", http.StatusOK, authForm{Next: safeNext(r.URL.Query().Get("next"))})
}

func (h *Handler) showAuth(w http.ResponseWriter, r *http.Request, page, msg string, status int, f authForm) {
	l := layout{Title: "Sign in", CSRF: h.preToken(w, r), Data: f}
	if page == "signup" {
		l.Title = "Create an account"
	}
	// No session yet: the page has no account, menu or alarms.
	if err := h.render(w, r, &visit{status: status, errMsg: msg}, page, l); err != nil {
		h.fail(w, r, err)
	}
}

// POST /signin — the protocol's credential check and login throttling (docs/protocol.md, "Credential checks", "Login throttling"),
// then a new session in the cookie.
func (h *Handler) signin(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	if !h.checkPreToken(r) {
		h.forbidden(w)
		return
	}
	f := authForm{Next: safeNext(r.PostFormValue("next")), Name: r.PostFormValue("name")}
	if len(f.Name) > maxNameBytes {
		f.Name = "" // not shown again: no account has such a name
	}
	sess, err := h.svc.Login(r.Context(), core.Credentials{Name: r.PostFormValue("name"), Password: r.PostFormValue("password"),
		ApplicationID: webApplicationID, Addr: h.opts.ClientAddr.Addr(r), SessionHint: h.sessionHint(r)}, h.opts.Clock.Now())
	if err != nil {
		h.authFailed(w, r, "signin", err, f)
		return
	}
	h.setSessionCookie(w, r, sess.ID)
	h.clearCookie(w, r, preCookie)
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// maxNameBytes is the longest account name (254 characters of up to 4
// bytes) a form shows again.
const maxNameBytes = 4 * core.MaxAccountNameRunes

// sessionHint is the session the browser's cookie names, valid or not: a
// session of the account that was valid recently spares its sign-in the
// throttling of other addresses' failures (core/throttle.go).
func (h *Handler) sessionHint(r *http.Request) string {
	if c, err := r.Cookie(sessionCookie); err == nil {
		return c.Value
	}
	return ""
}

// authFailed shows the form again with the protocol's message; a lockout
// answers 429 with Retry-After.
func (h *Handler) authFailed(w http.ResponseWriter, r *http.Request, page string, err error, f authForm) {
	var pe *glucose.Error
	if !errors.As(err, &pe) {
		h.fail(w, r, err)
		return
	}
	status := http.StatusUnauthorized
	msg := pe.Message
	if pe.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(pe.RetryAfter))
		status = http.StatusTooManyRequests
	}
	if page == "signup" {
		status = http.StatusUnprocessableEntity
	} else if pe.RetryAfter == 0 {
		msg = "The name or the password is wrong."
	}
	h.showAuth(w, r, page, msg, status, f)
}

// POST /signout
func (h *Handler) signout(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	if err := h.svc.Logout(r.Context(), v.sess.ID, v.now); err != nil {
		return "", err
	}
	h.clearCookie(w, r, sessionCookie)
	return "/signin?ok=signed-out", nil
}

// GET /signup (only with --signup)
func (h *Handler) signupPage(w http.ResponseWriter, r *http.Request) {
	h.showAuth(w, r, "signup", "", http.StatusOK, authForm{Next: safeNext(r.URL.Query().Get("next")),
		Units: unitsFromLocale(r.Header.Get("Accept-Language")).Or(glucose.DefaultUnits)})
}

// signupUnits reads the sign-up form's choice of units; a form without one
// (an old page, a script) takes the default of the browser's language.
func signupUnits(r *http.Request) glucose.Units {
	if u, err := glucose.ParseUnits(r.PostFormValue("units")); err == nil && u != glucose.UnitsUnset {
		return u
	}
	return unitsFromLocale(r.Header.Get("Accept-Language"))
}

// POST /signup — creates an account with the operator's rules
// (Service.CreateAccount) and signs it in.
func (h *Handler) signup(w http.ResponseWriter, r *http.Request) {
	if !h.readForm(w, r) {
		return
	}
	if !h.checkPreToken(r) {
		h.forbidden(w)
		return
	}
	f := authForm{Next: safeNext(r.PostFormValue("next")), Name: r.PostFormValue("name"),
		DisplayName: r.PostFormValue("display_name"), Email: r.PostFormValue("email"), Units: signupUnits(r)}
	password := r.PostFormValue("password")
	if password != r.PostFormValue("password2") {
		h.showAuth(w, r, "signup", "The two passwords differ.", http.StatusUnprocessableEntity, f)
		return
	}
	now := h.opts.Clock.Now()
	acct, err := h.svc.CreateAccount(r.Context(), core.NewAccount{Name: f.Name, Email: f.Email,
		DisplayName: f.DisplayName, Password: password, Units: f.Units}, now)
	if err != nil {
		h.authFailed(w, r, "signup", err, f)
		return
	}
	sess, err := h.svc.Login(r.Context(), core.Credentials{ID: acct.ID, ByID: true, Password: password,
		ApplicationID: webApplicationID}, now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	h.setSessionCookie(w, r, sess.ID)
	h.clearCookie(w, r, preCookie)
	http.Redirect(w, r, f.Next, http.StatusSeeOther)
}

// signinURL is the sign-in page that comes back to next.
func signinURL(next string) string { return "/signin?next=" + url.QueryEscape(next) }
