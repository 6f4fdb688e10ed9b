package store

import (
	"runtime"
	"unsafe"
)

// The cache's account entries live outside the collector's heap. With
// 100,000 accounts in use they are most of the server's live memory, and
// the collector lets the heap grow to twice what is live before it
// collects again: kept on the heap, every byte of an entry cost two bytes
// of memory (docs/performance.md, "Cost per request, round seven"). In
// memory of their own (mapChunk: anonymous mappings on Unix) they cost
// one, and the collector never scans them.
//
// That is safe because an entry holds no pointer
// (TestHotAccountHoldsNoPointer): the collector could not see one there.
// Its memory is reused once the entry is dropped, so what a request takes
// from it is copied out under the cache's lock, and a session names its
// entry together with the entry's generation, which changes on reuse.

// tableChunk is how many entries are mapped at a time.
const tableChunk = 1024

// acctTable holds the cache's account entries, keyed by their packed ids.
type acctTable struct {
	index  map[sessionKey]*hotAccount
	chunks *chunkSet
	next   int           // entries used in the last chunk
	free   []*hotAccount // dropped entries, for reuse
}

// chunkSet is the memory of a table's entries, released when the table is
// no longer reachable.
type chunkSet struct {
	entries [][]hotAccount
	mapped  [][]byte // to unmap; nil for chunks on the heap
}

func newAcctTable() *acctTable {
	t := &acctTable{index: map[sessionKey]*hotAccount{}, chunks: &chunkSet{}}
	// Only the cache reaches its entries, and only while it is reachable:
	// every method that uses an entry holds the cache's lock, so the cache
	// stays reachable until the entry's fields are copied out.
	runtime.AddCleanup(t, func(c *chunkSet) {
		for _, m := range c.mapped {
			unmapChunk(m)
		}
	}, t.chunks)
	return t
}

func (t *acctTable) len() int { return len(t.index) }

// get returns the entry of accountID, nil when there is none or the id
// is not in the canonical form that entries are keyed by.
func (t *acctTable) get(accountID string) *hotAccount {
	k, ok := packID(accountID)
	if !ok {
		return nil
	}
	return t.index[k]
}

// add returns a new, empty entry for k, which has none.
func (t *acctTable) add(k sessionKey) *hotAccount {
	var ha *hotAccount
	if n := len(t.free); n > 0 {
		ha, t.free = t.free[n-1], t.free[:n-1]
	} else {
		c := t.chunks.entries
		if len(c) == 0 || t.next == tableChunk {
			entries, mapped := mapChunk(tableChunk)
			t.chunks.entries = append(t.chunks.entries, entries)
			if mapped != nil {
				t.chunks.mapped = append(t.chunks.mapped, mapped)
			}
			c, t.next = t.chunks.entries, 0
		}
		ha = &c[len(c)-1][t.next]
		t.next++
	}
	ha.id = k
	t.index[k] = ha
	return ha
}

// remove drops ha and readies its memory for reuse under a new
// generation, so that a session naming the old one no longer finds it.
func (t *acctTable) remove(ha *hotAccount) {
	delete(t.index, ha.id)
	*ha = hotAccount{gen: ha.gen + 1}
	t.free = append(t.free, ha)
}

// clear drops every entry.
func (t *acctTable) clear() {
	for _, ha := range t.index {
		t.remove(ha)
	}
}

// entrySize is the memory of one entry.
const entrySize = unsafe.Sizeof(hotAccount{})
