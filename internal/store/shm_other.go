//go:build !unix

package store

import "os"

// shmHeader reads the wal-index header at the start of a -shm file.
type shmHeader struct{ f *os.File }

func openShmHeader(path string) (*shmHeader, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	return &shmHeader{f: f}, nil
}

func (h *shmHeader) read(hdr *[walHeaderSize]byte) error {
	_, err := h.f.ReadAt(hdr[:], 0)
	return err
}

func (h *shmHeader) close() error { return h.f.Close() }
