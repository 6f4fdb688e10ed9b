package events

import "testing"

func TestHubRoutesByAccountAndNeverBlocks(t *testing.T) {
	h := NewHub(2)
	a := h.Subscribe("a")
	b := h.Subscribe("b")
	h.Publish(Event{Type: TypeReading, PublisherID: "a"}, "a")
	if got := len(a.C); got != 1 {
		t.Fatalf("account a got %d events, want 1", got)
	}
	if got := len(b.C); got != 0 {
		t.Fatalf("account b got %d events of account a", got)
	}
	// A full stream drops instead of blocking the publisher.
	for i := 0; i < 5; i++ {
		h.Publish(Event{Type: TypeAlarm}, "a", "b")
	}
	if a.Dropped != 4 || b.Dropped != 3 {
		t.Errorf("dropped a=%d b=%d, want 4 and 3", a.Dropped, b.Dropped)
	}
	if h.Streams() != 2 {
		t.Errorf("Streams() = %d, want 2", h.Streams())
	}
	a.Close()
	a.Close() // idempotent
	if _, open := <-a.C; open {
		// drain the buffered events first
		for range a.C {
		}
	}
	h.Publish(Event{Type: TypeAlarm}, "a") // no stream left: must not panic
	if h.Streams() != 1 {
		t.Errorf("Streams() after close = %d, want 1", h.Streams())
	}
	var nilHub *Hub
	nilHub.Publish(Event{}, "a") // a server without live updates
}
