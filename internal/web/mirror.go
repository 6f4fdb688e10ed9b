package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/secretkey"
)

// The mirror of a Share account (docs/mirror.md) on the profile page, and
// its banner on the dashboard. The password goes one way: into the form,
// sealed into the database; no page shows it back.

// mirrorView is what the pages show of a link.
type mirrorView struct {
	Server      string
	Username    string
	Broken      bool
	LastSuccess string // "" when never
	LastReading string
	NextPoll    string
	LastError   string
	ErrorAt     string
}

// mirrorOf returns the account's link as the pages show it; nil when it
// has none.
func (h *Handler) mirrorOf(ctx context.Context, accountID string) (*mirrorView, error) {
	l, err := h.svc.MirrorLink(ctx, accountID)
	if errors.Is(err, glucose.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	m := &mirrorView{Server: l.Server, Username: l.Username, Broken: l.Broken, LastError: l.LastError,
		LastSuccess: stamp(l.LastSuccess), LastReading: stamp(l.LastReading), ErrorAt: stamp(l.LastErrorAt)}
	if !l.Broken {
		m.NextPoll = stamp(l.NextPoll)
	}
	return m, nil
}

// stamp writes a time for the page ("" for the zero time).
func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

// POST /profile/mirror — link the account to a Share account, or link it
// again with new credentials.
func (h *Handler) linkMirror(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	server := r.PostFormValue("server")
	if server == "url" {
		server = r.PostFormValue("server_url")
	}
	_, err := h.svc.LinkMirror(r.Context(), v.me.ID, core.MirrorLinkRequest{Server: server,
		Username: r.PostFormValue("username"), Password: r.PostFormValue("password")}, v.now)
	if errors.Is(err, secretkey.ErrNoKey) {
		return "", glucose.InvalidArgument("this server cannot keep a Share password: its operator has not set a secret key (--secret-key)")
	}
	if err != nil {
		return "", err
	}
	return "/profile?ok=linked#mirror", nil
}

// POST /profile/mirror/unlink — remove the link and erase the password.
func (h *Handler) unlinkMirror(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	err := h.svc.UnlinkMirror(r.Context(), v.me.ID)
	if err != nil && !errors.Is(err, glucose.ErrNotFound) {
		return "", err
	}
	return "/profile?ok=unlinked#mirror", nil
}
