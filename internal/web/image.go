package web

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Image limits.
const (
	imageMinSide   = 64
	imageMaxSide   = 2000
	imageMaxHours  = 24
	imageSlot      = 5 * time.Minute // the time axis advances in these steps
	imageCacheTime = 60              // seconds
)

// imageParams are the query parameters of an image.
type imageParams struct {
	ext    string // png or svg
	hours  int
	w, h   int
	theme  theme
	pubRef string
	units  glucose.Units // ?units=; unset: the account's
}

// parseImage reads /image/{accountId}.{png|svg}?hours=&w=&h=&theme=&units=.
func parseImage(file string, q url.Values) (imageParams, error) {
	ref, ext, ok := strings.Cut(file, ".")
	p := imageParams{pubRef: ref, ext: ext, hours: 3, w: 320, h: 160}
	if !ok || (ext != "png" && ext != "svg") {
		return p, errors.New("the image must be .png or .svg")
	}
	num := func(key string, dst *int, lo, hi int) error {
		s := q.Get(key)
		if s == "" {
			return nil
		}
		n, err := strconv.Atoi(s)
		if err != nil || n < lo || n > hi {
			return fmt.Errorf("%s must be a whole number from %d to %d", key, lo, hi)
		}
		*dst = n
		return nil
	}
	for _, err := range []error{num("hours", &p.hours, 1, imageMaxHours), num("w", &p.w, imageMinSide, imageMaxSide),
		num("h", &p.h, imageMinSide, imageMaxSide)} {
		if err != nil {
			return p, err
		}
	}
	var err error
	th, ok := themeNamed(q.Get("theme"))
	if !ok {
		return p, errors.New("theme must be light, dark or eink")
	}
	p.theme = th
	if p.units, err = glucose.ParseUnits(q.Get("units")); err != nil {
		return p, errors.New("units must be mg/dL or mmol/L")
	}
	return p, nil
}

// GET /image/{accountId}.png|.svg — the sharer's last hours as a picture,
// for watch faces, widgets and e-ink displays. Allowed with a session (the
// sharer itself, or a follower with an Active subscription) or with a read
// token (?token=). A follower whose subscription has permissions 0 gets
// only the newest value, without the curve. Values and axes are in the
// units of the session's account or of the token's creator, unless
// ?units= asks for others. Cached privately for a minute and revalidated by
// ETag; rendered images are kept by content and drawn a few at a time
// (imagecache.go).
func (h *Handler) image(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	p, err := parseImage(r.PathValue("file"), q)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	ctx := r.Context()
	var access core.Access
	if token := q.Get("token"); token != "" {
		access, err = h.svc.TokenAccess(ctx, token, p.pubRef)
	} else {
		v, verr := h.visitor(r)
		if verr != nil || v == nil {
			h.unauthorized(w, r, verr)
			return
		}
		access, err = h.svc.ViewerAccess(ctx, v.me.ID, p.pubRef)
		access.Units = v.me.Units
	}
	if errors.Is(err, glucose.ErrNotFound) {
		http.NotFound(w, r) // unknown, not allowed and revoked look alike
		return
	}
	if err != nil {
		h.fail(w, r, err)
		return
	}
	now := h.opts.Clock.Now()
	rq := core.ReadQuery{Minutes: int64(p.hours) * 60, MaxCount: int64(p.hours) * 60}
	if !access.History {
		rq = core.ReadQuery{Minutes: 24 * 60, MaxCount: 1}
	}
	rs, err := h.svc.LatestReadings(ctx, access.PublisherID, rq, now)
	if err != nil {
		h.fail(w, r, err)
		return
	}
	sp := imageSpec(p, access, rs, now)
	etag := imageETag(p, access, sp, rs)
	hd := w.Header()
	hd.Set("ETag", etag)
	hd.Set("Cache-Control", fmt.Sprintf("private, max-age=%d", imageCacheTime))
	hd.Set("Vary", "Cookie")
	if matchETag(r.Header.Get("If-None-Match"), etag) {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	if p.ext == "png" {
		hd.Set("Content-Type", "image/png")
	} else {
		hd.Set("Content-Type", "image/svg+xml")
		// Opened on its own, an SVG is a document: it may run nothing.
		hd.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; sandbox")
	}
	body, ok := h.images.get(etag)
	if !ok {
		if !h.slots.acquire(ctx) {
			hd.Del("ETag")
			hd.Set("Cache-Control", "no-store")
			hd.Set("Retry-After", "5")
			http.Error(w, "Too many images are being drawn; try again in a few seconds.", http.StatusServiceUnavailable)
			return
		}
		body, err = h.draw(sp, p.ext)
		h.slots.release()
		if err != nil {
			h.fail(w, r, err)
			return
		}
		h.images.put(etag, body)
	}
	hd.Set("Content-Length", strconv.Itoa(len(body)))
	w.Write(body)
}

// renderImage draws an image for /image/: a PNG, or a standalone SVG.
func renderImage(sp chartSpec, ext string) ([]byte, error) {
	if ext == "png" {
		return renderPNG(sp)
	}
	body, _, err := renderSVG(sp, false, ` role="img" aria-label="Glucose readings"`)
	return body, err
}

// imageSpec lays out an image: the time axis ends at the next whole
// imageSlot, so that the picture — and its ETag — changes only with new
// readings or every few minutes, not with every request.
func imageSpec(p imageParams, a core.Access, rs []glucose.Reading, now time.Time) chartSpec {
	to := now.Truncate(imageSlot)
	if to.Before(now) {
		to = to.Add(imageSlot)
	}
	zone := time.UTC
	if len(rs) > 0 {
		zone = readingZone(rs[0])
	}
	return chartSpec{W: p.w, H: p.h, From: to.Add(-time.Duration(p.hours) * time.Hour), To: to, Readings: rs,
		History: a.History, Theme: p.theme, Zone: zone, Now: to, Overlay: true,
		Units: p.units.Or(a.Units).Or(glucose.DefaultUnits)}
}

// imageETag hashes what the picture is drawn from: the parameters, what
// the viewer may see, the units it is labelled in, the time axis, and the
// readings. Any cache of rendered images must key on the same.
func imageETag(p imageParams, a core.Access, sp chartSpec, rs []glucose.Reading) string {
	hash := sha256.New()
	fmt.Fprintf(hash, "v2|%s|%s|%t|%d|%d|%d|%s|%s|%d|%d", p.ext, a.PublisherID, a.History, p.hours, p.w, p.h,
		p.theme.name, sp.Units, sp.To.Unix(), len(rs))
	for _, r := range rs {
		fmt.Fprintf(hash, "|%d:%d:%d:%d", r.ST, r.Value, r.Trend, r.Offset)
	}
	return `"` + hex.EncodeToString(hash.Sum(nil)[:16]) + `"`
}

// matchETag implements If-None-Match for one strong ETag.
func matchETag(header, etag string) bool {
	for _, t := range strings.Split(header, ",") {
		t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
		if t == etag || t == "*" {
			return true
		}
	}
	return false
}
