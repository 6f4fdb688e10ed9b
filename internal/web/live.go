package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/glucoshare/glucoshare/internal/events"
)

// liveEvent is what the page's script receives: which panel changed. The
// script then fetches the panel again (/app/panel/…, /app/alarms), so the
// stream carries no glucose data itself.
type liveEvent struct {
	Publisher    string `json:"publisher"`
	Subscription string `json:"subscription,omitempty"`
}

// GET /events — server-sent events for the signed-in account: "reading"
// when a sharer it sees (itself included) stored new readings, "alarm"
// when one of its alarms fired, repeated or cleared. A comment every
// Heartbeat keeps proxies from closing an idle stream; at each one the
// session is checked again, and a "signout" event ends a stream whose
// session ended. Streams end when the client goes away or the server shuts
// down (Close).
func (h *Handler) events(w http.ResponseWriter, r *http.Request) {
	v, err := h.visitor(r)
	if err != nil || v == nil {
		h.unauthorized(w, r, err)
		return
	}
	rc := http.NewResponseController(w)
	// The server's WriteTimeout is for ordinary answers; a stream lives on.
	if err := rc.SetWriteDeadline(time.Time{}); err != nil {
		h.log.Debug("event stream keeps the write deadline", "err", err)
	}
	hd := w.Header()
	hd.Set("Content-Type", "text/event-stream")
	hd.Set("Cache-Control", "no-store")
	hd.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	stream := h.hub.Subscribe(v.me.ID)
	defer stream.Close()
	fmt.Fprint(w, "retry: 5000\n: connected\n\n")
	if rc.Flush() != nil {
		return
	}
	beat := time.NewTicker(h.opts.Heartbeat)
	defer beat.Stop()
	for {
		var err error
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case ev, ok := <-stream.C:
			if !ok {
				return
			}
			if ev.Type != events.TypeReading && ev.Type != events.TypeAlarm {
				continue // the page shows neither documents nor their changes
			}
			err = writeEvent(w, ev)
		case <-beat.C:
			if cur, verr := h.visitor(r); verr == nil && cur == nil {
				fmt.Fprint(w, "event: signout\ndata: {}\n\n")
				rc.Flush()
				return
			}
			_, err = fmt.Fprint(w, ": ping\n\n")
		}
		if err == nil {
			err = rc.Flush()
		}
		if err != nil {
			return
		}
	}
}

func writeEvent(w http.ResponseWriter, ev events.Event) error {
	name := "reading"
	if ev.Type == events.TypeAlarm {
		name = "alarm"
	}
	data, err := json.Marshal(liveEvent{Publisher: ev.PublisherID, Subscription: ev.SubscriptionID})
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "event: %s\ndata: %s\n\n", name, data)
	return err
}
