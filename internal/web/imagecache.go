package web

import (
	"container/list"
	"context"
	"sync"
	"time"
)

// Rendering a picture costs real CPU (about half a second for a
// 2000×2000 PNG of a day), and watch faces and e-ink displays ask for the
// same picture every minute. So rendered pictures are kept by content —
// the ETag, which hashes everything the picture is drawn from — and
// renders run a few at a time: a request that finds no free slot within
// RenderWait answers 503 with Retry-After instead of piling up.

// imageCache is a least-recently-used cache of rendered pictures, bounded
// by their total size.
type imageCache struct {
	mu    sync.Mutex
	max   int64
	size  int64
	order *list.List // front: most recently used
	items map[string]*list.Element
}

type cachedImage struct {
	key  string
	body []byte
}

func newImageCache(max int64) *imageCache {
	return &imageCache{max: max, order: list.New(), items: map[string]*list.Element{}}
}

// get returns the picture stored under key.
func (c *imageCache) get(key string) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	el, ok := c.items[key]
	if !ok {
		return nil, false
	}
	c.order.MoveToFront(el)
	return el.Value.(*cachedImage).body, true
}

// put stores a picture, dropping the least recently used ones beyond the
// size bound. A picture larger than an eighth of the bound is not kept.
func (c *imageCache) put(key string, body []byte) {
	n := int64(len(body))
	if c.max <= 0 || n > c.max/8 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.items[key]; ok {
		return
	}
	c.items[key] = c.order.PushFront(&cachedImage{key: key, body: body})
	c.size += n
	for c.size > c.max {
		old := c.order.Back()
		img := old.Value.(*cachedImage)
		c.order.Remove(old)
		delete(c.items, img.key)
		c.size -= int64(len(img.body))
	}
}

// renderSlots bounds how many pictures are drawn at once.
type renderSlots struct {
	slots chan struct{}
	wait  time.Duration
}

func newRenderSlots(n int, wait time.Duration) *renderSlots {
	return &renderSlots{slots: make(chan struct{}, n), wait: wait}
}

// acquire takes a slot, waiting at most the slots' wait; it reports
// whether it got one. A slot taken must be given back with release.
func (s *renderSlots) acquire(ctx context.Context) bool {
	select {
	case s.slots <- struct{}{}:
		return true
	default:
	}
	t := time.NewTimer(s.wait)
	defer t.Stop()
	select {
	case s.slots <- struct{}{}:
		return true
	case <-t.C:
	case <-ctx.Done():
	}
	return false
}

func (s *renderSlots) release() { <-s.slots }
