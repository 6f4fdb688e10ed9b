package nightscout

import (
	"errors"
	"net/http"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// API v2's authorization (lib/authorization/endpoints.js): a JWT for an
// access token, which API v3 requires as its bearer, and the list of
// subjects. glucoshare's subjects are the account's access tokens.

// GET /api/v2/authorization/request/{accessToken}
// endpoints.js: {"token","sub","permissionGroups","iat","exp"} for a known
// access token, else 401 Unauthorized. An unknown token counts as a
// refused credential for the throttle, as any other.
func (a *API) authorizationRequest(c *call) error {
	addr := a.addrs.Addr(c.r)
	if err := a.throttle.wait(c.ctx, addr); err != nil {
		return err
	}
	acc, err := a.svc.NightscoutTokenAccess(c.ctx, c.r.PathValue("accessToken"), c.now)
	if err == nil && c.site != nil && acc.AccountID != c.site.AccountID {
		err = core.ErrNightscoutDenied
	}
	if errors.Is(err, core.ErrNightscoutDenied) {
		a.throttle.failed(addr)
	}
	if err != nil {
		return err
	}
	jwt, err := a.svc.IssueNightscoutJWT(acc, c.now)
	if err != nil {
		return err
	}
	_, perms := acc.Role()
	_, defaults := defaultRoles(c)
	writeJSON(c.w, http.StatusOK, authorized{Token: jwt.Token, Sub: acc.Subject,
		PermissionGroups: [][]string{perms, defaults}, IAT: jwt.IssuedAt, Exp: jwt.Expires})
	return nil
}

// subject is one of Nightscout's subjects as GET /subjects lists them.
// accessToken is left out: glucoshare keeps only a keyed digest of each
// token, which is shown once, when it is made.
type subject struct {
	ID        string   `json:"_id"`
	Name      string   `json:"name"`
	Roles     []string `json:"roles"`
	CreatedAt string   `json:"created_at"`
}

// GET /api/v2/authorization/subjects
// endpoints.js (admin:api:subjects:read): the account's access tokens as
// subjects — a read-write token is admin, a read-only or follower's token
// readable.
func (a *API) listSubjects(c *call) error {
	ts, err := a.svc.NightscoutTokens(c.ctx, c.acc.AccountID)
	if err != nil {
		return err
	}
	// NightscoutTokens lists them oldest first, as Nightscout lists its
	// subjects.
	out := make([]subject, 0, len(ts))
	for _, t := range ts {
		out = append(out, subjectOf(t))
	}
	writeJSON(c.w, http.StatusOK, out)
	return nil
}

func subjectOf(t glucose.NightscoutToken) subject {
	role := "admin"
	if t.ReadOnly || t.SubscriptionID != "" {
		role = "readable"
	}
	return subject{ID: t.ID, Name: core.NightscoutSubject(&t), Roles: []string{role},
		CreatedAt: t.CreatedAt.UTC().Format(isoMillis)}
}
