//go:build !unix

package store

// mapChunk returns n entries on the heap, without anonymous mappings
// here: correct, but each entry counts twice against memory (hot_table.go).
func mapChunk(n int) ([]hotAccount, []byte) { return make([]hotAccount, n), nil }

func unmapChunk([]byte) {}
