package web

import (
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// The profile page (docs/protocol.md, "Publisher: profile"): display name, e-mail, avatar,
// password, and image links for the account's own readings.

type profileData struct {
	DisplayName string
	Email       string
	Units       glucose.Units // what the account reads values in
	HasAvatar   bool
	Tokens      []tokenRow
	NewToken    *newToken
	Mirror      *mirrorView // nil: not linked
	// MirrorForm is what the link form shows again after an error (never
	// the password).
	MirrorServer, MirrorURL, MirrorUsername string
}

// GET /profile
func (h *Handler) profilePage(w http.ResponseWriter, r *http.Request, v *visit) error {
	d := profileData{DisplayName: v.me.DisplayName, Email: v.me.Email, NewToken: v.newToken, Units: v.units()}
	if r.Method == http.MethodPost && r.URL.Path == "/profile" {
		d.DisplayName, d.Email = r.PostFormValue("display_name"), r.PostFormValue("email")
	}
	_, err := h.svc.Image(r.Context(), v.me.ID)
	switch code := glucose.ErrorCode(err); {
	case err == nil:
		d.HasAvatar = true
	case code != share.CodeImageNotFound:
		return err
	}
	if d.Mirror, err = h.mirrorOf(r.Context(), v.me.ID); err != nil {
		return err
	}
	d.MirrorServer = "us"
	if r.Method == http.MethodPost && r.URL.Path == "/profile/mirror" {
		d.MirrorServer, d.MirrorURL, d.MirrorUsername = r.PostFormValue("server"), r.PostFormValue("server_url"), r.PostFormValue("username")
	}
	tokens, err := h.tokenRows(r, v)
	if err != nil {
		return err
	}
	for _, t := range tokens {
		if t.SubscriptionID == "" {
			d.Tokens = append(d.Tokens, t)
		}
	}
	return h.render(w, r, v, "profile", layout{Title: "Profile", Nav: "profile", Data: d})
}

// POST /profile — display name and e-mail address.
func (h *Handler) updateProfile(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	ctx := r.Context()
	if name := r.PostFormValue("display_name"); name != v.me.DisplayName {
		if err := h.svc.SetDisplayName(ctx, v.me.ID, name); err != nil {
			return "", err
		}
	}
	if email := r.PostFormValue("email"); email != v.me.Email {
		if err := h.svc.SetEmail(ctx, v.me.ID, email); err != nil {
			return "", err
		}
	}
	return "/profile?ok=saved", nil
}

// POST /profile/units — mg/dL or mmol/L, for every value the account
// reads: pages, alert settings, image links, e-mails.
func (h *Handler) updateUnits(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	u, err := glucose.ParseUnits(r.PostFormValue("units"))
	if err != nil || u == glucose.UnitsUnset {
		return "", glucose.InvalidArgument("choose mg/dL or mmol/L")
	}
	if err := h.svc.SetUnits(r.Context(), v.me.ID, u); err != nil {
		return "", err
	}
	return "/profile?ok=saved#units", nil
}

// POST /profile/avatar — upload (multipart, PNG or JPEG up to 256 KiB) or
// remove.
func (h *Handler) updateAvatar(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	if r.PostFormValue("remove") == "1" {
		return "/profile?ok=removed", h.svc.SetImage(r.Context(), v.me.ID, "", nil)
	}
	f, hdr, err := r.FormFile("avatar")
	if err != nil {
		return "", glucose.InvalidArgument("choose a PNG or JPEG picture to upload")
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, core.MaxImageBytes+1))
	if err != nil {
		return "", err
	}
	if len(data) > core.MaxImageBytes {
		return "", glucose.InvalidArgument("the picture is larger than %d KiB", core.MaxImageBytes>>10)
	}
	if err := h.svc.SetImage(r.Context(), v.me.ID, hdr.Header.Get("Content-Type"), data); err != nil {
		return "", err
	}
	return "/profile?ok=saved", nil
}

// POST /profile/password — the other sessions end (docs/protocol.md, "Sessions").
func (h *Handler) changePassword(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	next := r.PostFormValue("new_password")
	if next != r.PostFormValue("new_password2") {
		return "", glucose.InvalidArgument("the two new passwords differ")
	}
	err := h.svc.ChangePassword(r.Context(), v.sess, r.PostFormValue("old_password"), next, v.now)
	if glucose.ErrorCode(err) == share.CodeAccountPasswordInvalid {
		err = glucose.InvalidArgument("the current password is wrong")
	}
	if err != nil {
		return "", err
	}
	return "/profile?ok=password", nil
}

// GET /app/avatar/{account} — an avatar, to its account and to the
// account's followers.
func (h *Handler) avatar(w http.ResponseWriter, r *http.Request) {
	v, err := h.visitor(r)
	if err != nil || v == nil {
		h.unauthorized(w, r, err)
		return
	}
	a, err := h.svc.ViewerAccess(r.Context(), v.me.ID, r.PathValue("account"))
	if errors.Is(err, glucose.ErrNotFound) {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	img, err := h.svc.Image(r.Context(), a.PublisherID)
	if glucose.ErrorCode(err) == share.CodeImageNotFound {
		http.NotFound(w, r)
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	w.Header().Set("Content-Type", img.ContentType)
	w.Header().Set("Content-Length", fmt.Sprint(len(img.Data)))
	w.Header().Set("Cache-Control", "private, max-age=60")
	w.Write(img.Data)
}
