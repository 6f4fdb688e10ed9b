package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/glucoshare/glucoshare/internal/clocktest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/internal/web"
)

// TestStrictTransportSecurity: answers over TLS carry HSTS, so that a
// browser never again tries the site in clear text, and so do answers on
// plain HTTP when the operator says TLS ends at a proxy (--cookie-secure);
// other plain-HTTP answers do not (browsers ignore it there, and a server
// reached only over HTTP must not promise HTTPS).
func TestStrictTransportSecurity(t *testing.T) {
	db := storetest.New(t)
	svc := core.New(db, core.Config{Argon2: cheapArgon})
	handler := func(cookieSecure bool) http.Handler {
		return server.New(svc, server.Options{Clock: clocktest.New(t0), Logger: slog.New(slog.NewTextHandler(testLog{t}, nil)),
			Web: web.Options{CookieSecure: cookieSecure}}).Handler()
	}
	const want = "max-age=31536000"
	tlsSrv := httptest.NewTLSServer(handler(false))
	defer tlsSrv.Close()
	plain := httptest.NewServer(handler(false))
	defer plain.Close()
	proxied := httptest.NewServer(handler(true))
	defer proxied.Close()
	for _, c := range []struct {
		srv  *httptest.Server
		want string
	}{{tlsSrv, want}, {plain, ""}, {proxied, want}} {
		for _, path := range []string{"/signin", "/ShareWebServices/Services/General/SystemUtcTime", "/healthz", "/nope"} {
			res, err := c.srv.Client().Get(c.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if got := res.Header.Get("Strict-Transport-Security"); got != c.want {
				t.Errorf("%s%s: Strict-Transport-Security %q, want %q", c.srv.URL, path, got, c.want)
			}
		}
	}
}
