//go:build unix

package store

import (
	"syscall"
	"unsafe"
)

// mapChunk returns n zeroed entries in an anonymous private mapping, and
// the mapping. Should the mapping fail, the entries are on the heap and
// the mapping nil. Pages of the mapping take memory once written.
func mapChunk(n int) ([]hotAccount, []byte) {
	m, err := syscall.Mmap(-1, 0, n*int(entrySize), syscall.PROT_READ|syscall.PROT_WRITE,
		syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]hotAccount, n), nil
	}
	return unsafe.Slice((*hotAccount)(unsafe.Pointer(unsafe.SliceData(m))), n), m
}

func unmapChunk(m []byte) { syscall.Munmap(m) }
