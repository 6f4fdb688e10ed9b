//go:build unix

package store

import (
	"fmt"
	"os"
	"runtime/debug"
	"syscall"
)

// shmHeader reads the wal-index header at the start of a -shm file. On
// Unix it maps the file's first bytes, the way SQLite itself reads them,
// which spares every request a system call.
type shmHeader struct {
	f *os.File
	m []byte // nil: read with pread instead
}

func openShmHeader(path string) (*shmHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	h := &shmHeader{f: f}
	if fi, err := f.Stat(); err == nil && fi.Size() >= walHeaderSize {
		if m, err := syscall.Mmap(int(f.Fd()), 0, walHeaderSize, syscall.PROT_READ, syscall.MAP_SHARED); err == nil {
			h.m = m
		}
	}
	return h, nil
}

func (h *shmHeader) read(hdr *[walHeaderSize]byte) (err error) {
	if h.m == nil {
		_, err = h.f.ReadAt(hdr[:], 0)
		return err
	}
	// SQLite does not shrink the file while a connection (the writer's)
	// has it open; should anything else do so, the fault is an error.
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("the -shm file is no longer readable: %v", p)
		}
	}()
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	copy(hdr[:], h.m)
	return nil
}

func (h *shmHeader) close() error {
	if h.m != nil {
		syscall.Munmap(h.m)
	}
	return h.f.Close()
}
