package web

import (
	"fmt"
	"net/http"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Image links: read tokens (core.CreateReadToken) put into image URLs for
// devices that cannot sign in — watch faces, widgets, e-ink displays.

type tokenRow struct {
	glucose.ReadToken
	Created string
}

// tokenList is what the "tokens" template lists.
type tokenList struct {
	Rows []tokenRow
	CSRF string
	Back string // the page to come back to: profile or following
}

// newToken is a token just created, with ready-made image URLs. The token
// itself is not stored and cannot be shown again.
type newToken struct {
	Label string
	PNG   string
	SVG   string
	EInk  string
}

func (h *Handler) tokenRows(r *http.Request, v *visit) ([]tokenRow, error) {
	ts, err := h.svc.ReadTokens(r.Context(), v.me.ID)
	if err != nil {
		return nil, err
	}
	out := make([]tokenRow, len(ts))
	for i, t := range ts {
		out[i] = tokenRow{ReadToken: t, Created: t.CreatedAt.Format("2 Jan 2006")}
	}
	return out, nil
}

// POST /tokens — create an image link for the account's own readings or,
// with "subscription", for a sharer it follows. The page is answered
// directly, not redirected to, because the token is shown only this once.
func (h *Handler) createToken(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	token, rt, err := h.svc.CreateReadToken(r.Context(), v.me.ID, r.PostFormValue("subscription"),
		r.PostFormValue("label"), v.now)
	if err != nil {
		return "", err
	}
	img := fmt.Sprintf("%s/image/%s", h.baseURL(r), rt.PublisherID)
	v.newToken = &newToken{Label: rt.Label,
		PNG:  img + ".png?hours=3&w=320&h=160&token=" + token,
		SVG:  img + ".svg?hours=6&w=600&h=300&token=" + token,
		EInk: img + ".png?hours=6&w=800&h=480&theme=eink&token=" + token,
	}
	r.URL.RawQuery = "ok=token"
	return "", h.tokenPage(w, r, v)
}

// POST /tokens/{token}/delete
func (h *Handler) deleteToken(w http.ResponseWriter, r *http.Request, v *visit) (string, error) {
	if err := h.svc.DeleteReadToken(r.Context(), v.me.ID, r.PathValue("token")); err != nil {
		return "", err
	}
	return h.tokenBack(r) + "?ok=removed", nil
}

// tokenPage is the page a token form came from.
func (h *Handler) tokenPage(w http.ResponseWriter, r *http.Request, v *visit) error {
	if h.tokenBack(r) == "/following" {
		return h.followingPage(w, r, v)
	}
	return h.profilePage(w, r, v)
}

func (h *Handler) tokenBack(r *http.Request) string {
	if r.PostFormValue("back") == "following" {
		return "/following"
	}
	return "/profile"
}
