// Package clitest runs the real glucoshare command line in-process for
// end-to-end tests: `serve` on a free loopback port, and the operator's
// account commands. Every suite that needs a live server uses it, so they
// all exercise the same start-up path as production.
package clitest

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
)

// SyncBuffer collects output written from several goroutines.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns what was written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Server is a glucoshare serve running in-process.
type Server struct {
	DSN  string
	Addr string // 127.0.0.1:port
	Log  *SyncBuffer
}

// Serve runs `glucoshare serve --addr 127.0.0.1:0 --db dsn --log-level warn`
// plus args, and returns once it listens. At cleanup it stops the server and
// fails the test unless serve exited with status 0; the server's output is
// logged when the test failed.
func Serve(t testing.TB, dsn string, args ...string) *Server {
	t.Helper()
	s := &Server{DSN: dsn, Log: &SyncBuffer{}}
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	env := cli.Env{
		Stdin: strings.NewReader(""), Stdout: s.Log, Stderr: s.Log,
		Getenv:    func(string) string { return "" },
		Listening: func(addr string) { addrc <- addr },
	}
	argv := append([]string{"serve", "--addr", "127.0.0.1:0", "--db", dsn, "--log-level", "warn"}, args...)
	go func() { done <- cli.Run(ctx, argv, env) }()
	select {
	case s.Addr = <-addrc:
	case code := <-done:
		cancel()
		t.Fatalf("glucoshare serve exited with status %d before listening; output:\n%s", code, s.Log)
	case <-time.After(30 * time.Second):
		cancel()
		t.Fatalf("glucoshare serve did not listen within 30s; output:\n%s", s.Log)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("glucoshare serve exited with status %d; output:\n%s", code, s.Log)
			}
		case <-time.After(30 * time.Second):
			t.Errorf("glucoshare serve did not stop within 30s")
		}
		if t.Failed() {
			t.Logf("server output:\n%s", s.Log)
		}
	})
	return s
}

// Run runs a glucoshare command line with stdin and returns its exit code,
// standard output and standard error.
func Run(t testing.TB, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errOut,
		Getenv: func(string) string { return "" }}
	code := cli.Run(context.Background(), args, env)
	return code, out.String(), errOut.String()
}

// AddAccount creates an account with `glucoshare account add` and returns
// its id.
func AddAccount(t testing.TB, dsn, name, displayName, password string) string {
	t.Helper()
	args := []string{"account", "add", "--db", dsn, "--name", name, "--password-stdin"}
	if displayName != "" {
		args = append(args, "--display-name", displayName)
	}
	code, out, errOut := Run(t, password+"\n", args...)
	if code != 0 {
		t.Fatalf("account add %s: exit %d: %s", name, code, errOut)
	}
	return strings.TrimSpace(out)
}
