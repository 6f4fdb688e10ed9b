// Package events fans live events (new readings, alarm changes) out to the
// streams that accounts have open, for the dashboard's server-sent events.
//
// The hub is per process. Delivery is best effort and never blocks the
// publisher of an event: a stream that does not keep up loses events and is
// told so (Dropped), and clients then re-read state over the normal API.
// With several instances behind a load balancer, a stream sees the events
// produced by the instance it is connected to, plus whatever the periodic
// alarm tick on that instance produces; the page's periodic refresh covers
// the rest.
package events

import (
	"sync"
	"time"
)

// Event types.
const (
	TypeReading = "reading"
	TypeAlarm   = "alarm"
	// TypeDocuments says an account's Nightscout documents (or deleted
	// readings) changed; only the account's own streams receive it.
	TypeDocuments = "documents"
)

// Event is one live event, addressed to accounts.
type Event struct {
	Type string
	// PublisherID is the account whose data changed.
	PublisherID string
	// SubscriptionID is set for alarm events.
	SubscriptionID string
	At             time.Time
	// Data is the event's JSON payload, ready to send.
	Data []byte
}

// Stream receives events for one account.
type Stream struct {
	C chan Event
	// Dropped counts events lost because C was full.
	Dropped int

	hub     *Hub
	account string
}

// Hub routes events to the streams of the accounts they concern.
type Hub struct {
	mu      sync.Mutex
	streams map[string]map[*Stream]bool // account id → streams
	buffer  int
}

// NewHub returns a hub whose streams buffer up to buffer events.
func NewHub(buffer int) *Hub {
	if buffer <= 0 {
		buffer = 64
	}
	return &Hub{streams: map[string]map[*Stream]bool{}, buffer: buffer}
}

// Subscribe opens a stream for an account. Close it when done.
func (h *Hub) Subscribe(accountID string) *Stream {
	s := &Stream{C: make(chan Event, h.buffer), hub: h, account: accountID}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.streams[accountID] == nil {
		h.streams[accountID] = map[*Stream]bool{}
	}
	h.streams[accountID][s] = true
	return s
}

// Close ends the stream; its channel is closed.
func (s *Stream) Close() {
	h := s.hub
	h.mu.Lock()
	defer h.mu.Unlock()
	if set := h.streams[s.account]; set[s] {
		delete(set, s)
		if len(set) == 0 {
			delete(h.streams, s.account)
		}
		close(s.C)
	}
}

// Publish delivers e to the open streams of each account in to, without
// blocking: a full stream drops the event.
func (h *Hub) Publish(e Event, to ...string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, id := range to {
		for s := range h.streams[id] {
			select {
			case s.C <- e:
			default:
				s.Dropped++
			}
		}
	}
}

// Streams returns how many streams are open.
func (h *Hub) Streams() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for _, set := range h.streams {
		n += len(set)
	}
	return n
}
