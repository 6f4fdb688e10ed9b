package nightscout

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/glucoshare/glucoshare/internal/core"
)

// Authorisation of every request, as lib/authorization/index.js does it:
// the credentials presented are tried in Nightscout's order (the API
// secret, which may also be an access token or its SHA-1, then the token
// of ?token= or Authorization: Bearer, a JWT or the token itself), the
// first accepted one wins, and a request whose credentials are all refused
// is refused even where anonymous reading is on. A refused credential
// delays the client's next attempts (throttle.go); a request that
// presents none is not a guess and is not delayed.

// presented are the credentials a request carries.
type presented struct {
	secrets []string // api-secret header, ?secret=
	tokens  []string // ?token=, Authorization: Bearer
}

func credentialsOf(r *http.Request, q url.Values) presented {
	var p presented
	// "Api-Secret" is the canonical form of the header's name: Get would
	// allocate it for every request given "api-secret".
	for _, s := range []string{r.Header.Get("Api-Secret"), q.Get("secret")} {
		// Some clients send the literal "null" for no secret
		// (index.js: "TODO find what's sending this anomaly").
		s = strings.TrimSpace(s)
		switch t, isToken := strings.CutPrefix(s, "token="); {
		case s == "" || s == "null":
		case isToken:
			// py-nightscout (Home Assistant) sends an access token as
			// `api-secret: token=…`, which Nightscout's token look-up
			// accepts.
			p.tokens = append(p.tokens, strings.TrimSpace(t))
		default:
			p.secrets = append(p.secrets, s)
		}
	}
	if v, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok && strings.TrimSpace(v) != "" {
		p.tokens = append(p.tokens, strings.TrimSpace(v))
	}
	if t := strings.TrimSpace(q.Get("token")); t != "" {
		p.tokens = append(p.tokens, t)
	}
	return p
}

func (p presented) any() bool { return len(p.secrets)+len(p.tokens) > 0 }

// authorize resolves the request's access: nil and no error when it
// presents no credential at a site closed to anonymous reading (or at the
// root), ErrNightscoutDenied when it presents only refused ones.
func (a *API) authorize(c *call) error {
	sc, _ := c.r.Context().Value(siteKey{}).(siteContext)
	c.site = sc.site
	creds := credentialsOf(c.r, c.query())
	if !creds.any() {
		c.acc = sc.anonymous
		return nil
	}
	c.presented = true
	addr := a.addrs.Addr(c.r)
	if err := a.throttle.wait(c.ctx, addr); err != nil {
		return err
	}
	acc, err := a.resolve(c, creds)
	if errors.Is(err, core.ErrNightscoutDenied) {
		a.throttle.failed(addr)
		return err
	}
	if err != nil {
		return err
	}
	// A valid credential of another account names the wrong site.
	if c.site != nil && acc.AccountID != c.site.AccountID {
		return core.ErrNightscoutDenied
	}
	c.acc = acc
	return nil
}

// resolve tries each credential in Nightscout's order.
func (a *API) resolve(c *call, creds presented) (*core.NightscoutAccess, error) {
	for _, s := range creds.secrets {
		acc, err := a.svc.NightscoutSecretAccess(c.ctx, s, c.now)
		if !errors.Is(err, core.ErrNightscoutDenied) {
			return acc, err
		}
	}
	for _, t := range creds.tokens {
		acc, err := a.tokenAccess(c, t)
		if !errors.Is(err, core.ErrNightscoutDenied) {
			return acc, err
		}
	}
	return nil, core.ErrNightscoutDenied
}

// tokenAccess checks a token given as a token: a JWT of one, or itself.
func (a *API) tokenAccess(c *call, t string) (*core.NightscoutAccess, error) {
	if core.LooksLikeJWT(t) {
		return a.svc.NightscoutJWTAccess(c.ctx, t, c.now)
	}
	return a.svc.NightscoutTokenAccess(c.ctx, t, c.now)
}

// handle wraps a handler that needs permission (isPermitted in
// index.js): the caller's access must hold it, or the answer is 401.
func (a *API) handle(permission string, fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := a.newCall(w, r)
		err := a.authorize(c)
		if err == nil && !c.acc.Permits(permission) {
			err = core.ErrNightscoutDenied
		}
		if err == nil {
			err = fn(c)
		}
		if err != nil {
			a.fail(w, r, err)
		}
	})
}

// open wraps a handler that answers every caller, with c.acc nil when no
// credential was accepted; refused credentials still answer 401.
func (a *API) open(fn handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := a.newCall(w, r)
		err := a.authorize(c)
		if errors.Is(err, core.ErrNightscoutDenied) {
			c.acc, err = nil, nil
		}
		if err == nil {
			err = fn(c)
		}
		if err != nil {
			a.fail(w, r, err)
		}
	})
}

// query returns the request's query parameters, parsed once for the
// credential check and the handler. They are shared: a handler that
// changes them must copy them first.
func (c *call) query() url.Values {
	if c.values == nil {
		c.values = c.r.URL.Query()
	}
	return c.values
}

func (a *API) newCall(w http.ResponseWriter, r *http.Request) *call {
	// Fresh: the request's hot reads (its credential, its account's
	// newest readings) share one check of the store's cache.
	return &call{w: w, r: r, ctx: a.svc.Fresh(r.Context()), now: a.clock.Now()}
}
