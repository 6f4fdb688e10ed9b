// Package web serves glucoshare's dashboard from the same binary as the
// protocol: server-rendered pages for sharers and followers, live updates
// over server-sent events, and PNG/SVG glucose images for watch faces,
// widgets and e-ink displays.
//
// Pages work without JavaScript: every change is a form POST answered with
// a redirect, and charts are SVG rendered on the server and inlined. The
// small script in static/app.js only adds live updates (GET /events, then
// the changed panel is fetched again from /app/…) and the chart's hover
// read-out. Templates and assets are embedded; nothing is loaded from
// elsewhere.
//
// Sign-in uses the accounts and sessions of the protocol (core.Service):
// the session id travels in the glucoshare_session cookie and is checked
// through Service.Session on every request, so a logout, password change or
// disabled account takes effect at once on every instance. Every form
// carries a CSRF token derived from the session (see session.go).
package web

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/clientaddr"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/events"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

//go:embed templates static
var files embed.FS

// Options configures the dashboard.
type Options struct {
	Clock  glucose.Clock
	Logger *slog.Logger
	// Key signs the CSRF tokens. Instances behind one load balancer need
	// the same key (--web-key); empty means 32 random bytes per process,
	// which makes open forms fail once after a restart.
	Key []byte
	// Signup lets visitors create accounts at /signup.
	Signup bool
	// CookieSecure marks cookies Secure even on plain-HTTP requests (TLS
	// ends at a proxy). Requests that arrive over TLS always get Secure.
	CookieSecure bool
	// PublicURL is the server's address as followers reach it, used in
	// invitation and image links; "" derives it from each request.
	PublicURL string
	// ClientAddr tells which address a request came from (for the
	// throttling of failed sign-ins); nil trusts a proxy on loopback.
	ClientAddr *clientaddr.Resolver
	// Heartbeat is how often an idle event stream sends a comment, so that
	// proxies keep it open; default 25s.
	Heartbeat time.Duration
	// RenderConcurrency is how many images are drawn at once (default:
	// the number of CPUs, at least 2); RenderWait how long a request waits
	// for a turn before it is answered 503 (default 2s). ImageCacheBytes
	// bounds the rendered images kept by content (default 32 MiB; -1 off).
	RenderConcurrency int
	RenderWait        time.Duration
	ImageCacheBytes   int64
}

// Handler is the dashboard. It serves /, /signin, /signout, /signup,
// /invite/…, /followers…, /following…, /profile…, /events, /app/…,
// /image/… and /static/….
type Handler struct {
	svc    *core.Service
	opts   Options
	hub    *events.Hub
	log    *slog.Logger
	mux    *http.ServeMux
	pages  map[string]*template.Template
	static map[string]asset
	cop    *http.CrossOriginProtection

	acks   *limiter     // acknowledgement links, per client address
	tests  *limiter     // test notifications, per channel
	images *imageCache  // rendered images by content (imagecache.go)
	slots  *renderSlots // images being drawn
	// draw renders an image; tests replace it to hold renders still.
	draw func(sp chartSpec, ext string) ([]byte, error)

	done      chan struct{} // closed by Close: event streams end
	closeOnce sync.Once
}

// asset is one embedded static file.
type asset struct {
	body  []byte
	ctype string
	etag  string
}

// New returns the dashboard over svc. Live events come from svc's hub; a
// service without one gets a hub here. The templates are embedded, so a
// template that does not parse is a bug of the build and panics, as
// regexp.MustCompile does.
func New(svc *core.Service, opts Options) *Handler {
	if opts.Clock == nil {
		opts.Clock = glucose.SystemClock{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 25 * time.Second
	}
	if opts.RenderConcurrency <= 0 {
		opts.RenderConcurrency = max(2, runtime.GOMAXPROCS(0))
	}
	if opts.RenderWait <= 0 {
		opts.RenderWait = 2 * time.Second
	}
	if opts.ImageCacheBytes == 0 {
		opts.ImageCacheBytes = 32 << 20
	}
	if len(opts.Key) == 0 {
		opts.Key = make([]byte, 32)
		rand.Read(opts.Key) // never fails (crypto/rand)
	}
	opts.PublicURL = strings.TrimSuffix(opts.PublicURL, "/")
	h := &Handler{svc: svc, opts: opts, log: opts.Logger, done: make(chan struct{}),
		cop: http.NewCrossOriginProtection(), acks: newLimiter(ackPerAddr, time.Minute), tests: newLimiter(1, testEvery),
		images: newImageCache(opts.ImageCacheBytes), slots: newRenderSlots(opts.RenderConcurrency, opts.RenderWait), draw: renderImage}
	if h.hub = svc.Events(); h.hub == nil {
		h.hub = events.NewHub(0)
		svc.SetEvents(h.hub)
	}
	var err error
	if h.static, err = loadStatic(); err != nil {
		panic(err)
	}
	if h.pages, err = h.loadPages(); err != nil {
		panic(err)
	}
	// Acknowledgement links are called by ntfy's apps (its web app from
	// another origin) and Pushover's servers; the link is the credential.
	h.cop.AddInsecureBypassPattern("POST /notify/ack/{token}")
	h.cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "cross-origin request refused", http.StatusForbidden)
	}))
	h.mux = h.routes()
	return h
}

// routes is the one route table of the dashboard.
func (h *Handler) routes() *http.ServeMux {
	m := http.NewServeMux()
	m.HandleFunc("GET /{$}", h.page(h.dashboard))
	m.HandleFunc("GET /signin", h.signinPage)
	m.HandleFunc("POST /signin", h.signin)
	m.HandleFunc("POST /signout", h.act(h.signout, nil))
	if h.opts.Signup {
		m.HandleFunc("GET /signup", h.signupPage)
		m.HandleFunc("POST /signup", h.signup)
	}
	m.HandleFunc("GET /invite/{invitation}", h.page(h.invitePage))
	m.HandleFunc("POST /invite/{invitation}/accept", h.act(h.acceptInvite, h.invitePage))
	m.HandleFunc("POST /invite/{invitation}/reject", h.act(h.rejectInvite, h.invitePage))

	m.HandleFunc("GET /followers", h.page(h.followersPage))
	m.HandleFunc("POST /followers", h.act(h.invite, h.followersPage))
	m.HandleFunc("POST /followers/{subscription}/permissions", h.act(h.setPermissions, h.followersPage))
	m.HandleFunc("POST /followers/{subscription}/pause", h.act(h.pauseFollower, h.followersPage))
	m.HandleFunc("POST /followers/{subscription}/resume", h.act(h.resumeFollower, h.followersPage))
	m.HandleFunc("POST /contacts/{contact}/remove", h.act(h.removeContact, h.followersPage))
	m.HandleFunc("POST /contacts/{contact}/reinvite", h.act(h.reinvite, h.followersPage))

	m.HandleFunc("GET /following", h.page(h.followingPage))
	m.HandleFunc("POST /following/{subscription}/alerts", h.act(h.updateAlerts, h.followingPage))
	m.HandleFunc("POST /following/{subscription}/pause", h.act(h.pauseFollowing, h.followingPage))
	m.HandleFunc("POST /following/{subscription}/resume", h.act(h.resumeFollowing, h.followingPage))
	m.HandleFunc("POST /following/{subscription}/leave", h.act(h.leave, h.followingPage))
	m.HandleFunc("POST /alarms/{alarm}/ack", h.act(h.acknowledge, h.dashboard))
	m.HandleFunc("POST /webhooks", h.act(h.addWebhook, h.followingPage))
	m.HandleFunc("POST /webhooks/{webhook}/delete", h.act(h.deleteWebhook, h.followingPage))
	m.HandleFunc("POST /devices", h.act(h.addDevice, h.followingPage))
	m.HandleFunc("POST /ntfy", h.act(h.addNtfy, h.followingPage))
	m.HandleFunc("POST /pushover", h.act(h.addPushover, h.followingPage))
	m.HandleFunc("POST /channels/{channel}/delete", h.act(h.deleteChannel, h.followingPage))
	m.HandleFunc("POST /channels/{channel}/test", h.act(h.testChannel, h.followingPage))
	m.HandleFunc("POST /channels/{channel}/prefs", h.act(h.channelPrefs, h.followingPage))
	m.HandleFunc("POST /notify/ack/{token}", h.ackLink)

	m.HandleFunc("GET /profile", h.page(h.profilePage))
	m.HandleFunc("POST /profile", h.act(h.updateProfile, h.profilePage))
	m.HandleFunc("POST /profile/units", h.act(h.updateUnits, h.profilePage))
	m.HandleFunc("POST /profile/avatar", h.act(h.updateAvatar, h.profilePage))
	m.HandleFunc("POST /profile/password", h.act(h.changePassword, h.profilePage))
	m.HandleFunc("POST /profile/mirror", h.act(h.linkMirror, h.profilePage))
	m.HandleFunc("POST /profile/mirror/unlink", h.act(h.unlinkMirror, h.profilePage))
	m.HandleFunc("POST /tokens", h.act(h.createToken, h.tokenPage))
	m.HandleFunc("POST /tokens/{token}/delete", h.act(h.deleteToken, h.tokenPage))

	m.HandleFunc("GET /events", h.events)
	m.HandleFunc("GET /app/panel/{panel}", h.panel)
	m.HandleFunc("GET /app/alarms", h.alarmsFragment)
	m.HandleFunc("GET /app/avatar/{account}", h.avatar)
	m.HandleFunc("GET /image/{file}", h.image)
	m.HandleFunc("GET /static/{file}", h.serveStatic)
	// The app's manifest and service worker live at the root: a worker
	// controls only the paths under its own.
	m.HandleFunc("GET /manifest.webmanifest", h.serveRoot("manifest.webmanifest"))
	m.HandleFunc("GET /sw.js", h.serveRoot("sw.js"))
	return m
}

// ServeHTTP implements http.Handler: security headers, then the route.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	hd := w.Header()
	hd.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; "+
		"style-src-attr 'unsafe-inline'; img-src 'self' data:; connect-src 'self'; manifest-src 'self'; "+
		"worker-src 'self'; form-action 'self'; "+
		"frame-ancestors 'none'; base-uri 'none'")
	hd.Set("X-Content-Type-Options", "nosniff")
	hd.Set("Referrer-Policy", "same-origin")
	hd.Set("X-Frame-Options", "DENY")
	h.cop.Handler(h.mux).ServeHTTP(w, r)
}

// Close ends the open event streams, so that a graceful shutdown does not
// wait for them (http.Server.RegisterOnShutdown).
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.done) })
}

// loadStatic reads the embedded assets and tags each with a content hash.
func loadStatic() (map[string]asset, error) {
	entries, err := fs.ReadDir(files, "static")
	if err != nil {
		return nil, err
	}
	types := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
		".svg": "image/svg+xml", ".png": "image/png", ".webmanifest": "application/manifest+json"}
	out := map[string]asset{}
	for _, e := range entries {
		b, err := fs.ReadFile(files, "static/"+e.Name())
		if err != nil {
			return nil, err
		}
		sum := sha256.Sum256(b)
		out[e.Name()] = asset{body: b, ctype: types[path.Ext(e.Name())], etag: hex.EncodeToString(sum[:6])}
	}
	return out, nil
}

// assetURL is the versioned address of a static file: cached for good,
// changed by every new build of the file.
func (h *Handler) assetURL(name string) string {
	return "/static/" + name + "?v=" + h.static[name].etag
}

func (h *Handler) serveStatic(w http.ResponseWriter, r *http.Request) {
	a, ok := h.static[r.PathValue("file")]
	if !ok {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Type", a.ctype)
	w.Header().Set("ETag", `"`+a.etag+`"`)
	if r.URL.Query().Get("v") == a.etag {
		w.Header().Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		w.Header().Set("Cache-Control", "public, max-age=300")
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// serveRoot serves a static file at a fixed root path, revalidated on
// every use (a new build's worker and manifest are picked up at once).
func (h *Handler) serveRoot(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		a := h.static[name]
		w.Header().Set("Content-Type", a.ctype)
		w.Header().Set("ETag", `"`+a.etag+`"`)
		w.Header().Set("Cache-Control", "no-cache")
		http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
	}
}

// loadPages parses each page with the layout and the shared partials.
func (h *Handler) loadPages() (map[string]*template.Template, error) {
	names, err := fs.Glob(files, "templates/page_*.html")
	if err != nil {
		return nil, err
	}
	funcs := template.FuncMap{
		"asset": h.assetURL,
		"channelItem": func(row channelRow, csrf string) channelItem {
			return channelItem{Row: row, CSRF: csrf}
		},
		"state": stateText,
		"kind":  kindText,
		"tokenList": func(rows []tokenRow, csrf, back string) tokenList {
			return tokenList{Rows: rows, CSRF: csrf, Back: back}
		},
	}
	pages := map[string]*template.Template{}
	for _, name := range names {
		t, err := template.New(path.Base(name)).Funcs(funcs).ParseFS(files, "templates/layout.html", "templates/partials.html",
			"templates/notify.html", name)
		if err != nil {
			return nil, fmt.Errorf("web: %s: %w", name, err)
		}
		key := strings.TrimSuffix(strings.TrimPrefix(path.Base(name), "page_"), ".html")
		pages[key] = t
	}
	if len(pages) == 0 {
		return nil, errors.New("web: no page templates embedded")
	}
	return pages, nil
}
