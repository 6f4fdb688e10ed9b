package cli_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// startServe runs `glucoshare serve` on 127.0.0.1:0 with args until the
// test ends, when it must exit with status 0. It returns the address and
// the server's log.
func startServe(t *testing.T, args ...string) (string, *syncWriter) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	log := &syncWriter{w: &bytes.Buffer{}}
	env := cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: log,
		Getenv: func(string) string { return "" }, Listening: func(a string) { addrc <- a }}
	go func() {
		done <- cli.Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), env)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("serve exited %d; log:\n%s", code, log.w)
			}
		case <-time.After(20 * time.Second):
			t.Error("serve did not stop")
		}
	})
	select {
	case addr := <-addrc:
		return addr, log
	case code := <-done:
		done <- code
		t.Fatalf("serve exited %d before listening; log:\n%s", code, log.w)
	case <-time.After(20 * time.Second):
		t.Fatal("serve did not start")
	}
	return "", nil
}

func (s *syncWriter) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.(*bytes.Buffer).String()
}

func TestCertCommandsAndReload(t *testing.T) {
	dir := t.TempDir()
	caDir, tlsDir := filepath.Join(dir, "ca"), filepath.Join(dir, "tls")
	if code, out, errOut := run(t, "", nil, "cert", "ca", "--out", caDir); code != 0 || !strings.Contains(out, "keep offline") {
		t.Fatalf("cert ca: exit %d, %q %q", code, out, errOut)
	}
	if fi, err := os.Stat(filepath.Join(caDir, "ca-key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("ca-key.pem: %v, mode %v; want 0600", err, fi.Mode())
	}
	if code, _, errOut := run(t, "", nil, "cert", "ca", "--out", caDir); code != 1 || !strings.Contains(errOut, "--force") {
		t.Errorf("cert ca over an existing authority: exit %d, %q", code, errOut)
	}
	issue := func(extra ...string) {
		t.Helper()
		args := append([]string{"cert", "server", "--ca", caDir, "--out", tlsDir, "--dexcom-hosts", "--ip", "127.0.0.1"}, extra...)
		if code, out, errOut := run(t, "", nil, args...); code != 0 || !strings.Contains(out, "share2.dexcom.com") {
			t.Fatalf("%v: exit %d, %q %q", args, code, out, errOut)
		}
	}
	issue("--name", "glucoshare.test")
	if fi, err := os.Stat(filepath.Join(tlsDir, "key.pem")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("key.pem: %v, mode %v; want 0600", err, fi.Mode())
	}
	if code, _, errOut := run(t, "", nil, "cert", "server", "--ca", caDir, "--out", tlsDir, "--name", "x.test"); code != 1 || !strings.Contains(errOut, "exists") {
		t.Errorf("cert server over existing files: exit %d, %q", code, errOut)
	}
	if code, _, _ := run(t, "", nil, "cert", "server", "--ca", caDir, "--out", tlsDir); code != 2 {
		t.Errorf("cert server without names: exit %d, want 2", code)
	}

	caPEM, err := os.ReadFile(filepath.Join(caDir, "ca.pem"))
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)

	certFile, keyFile := filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem")
	addr, log := startServe(t, "--db", storetest.DSN(t), "--tls-cert", certFile, "--tls-key", keyFile,
		"--tls-reload-every", "0")

	// What a fixed-host client sees once DNS sends share2.dexcom.com here
	// and the device trusts the authority.
	peer := func() *x509.Certificate {
		t.Helper()
		conn, err := tls.Dial("tcp", addr, &tls.Config{RootCAs: roots, ServerName: "share2.dexcom.com"})
		if err != nil {
			t.Fatalf("TLS handshake: %v", err)
		}
		defer conn.Close()
		return conn.ConnectionState().PeerCertificates[0]
	}
	a := peer()
	if !slices.Contains(a.DNSNames, "glucoshare.test") {
		t.Fatalf("first certificate names %v", a.DNSNames)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}}
	resp, err := client.Get("https://" + addr + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("healthz over HTTPS, verified by IP: %v %v", resp, err)
	}
	resp.Body.Close()

	// Renew in place with other names: the next handshake gets it.
	issue("--name", "renewed.glucoshare.test", "--force")
	b := peer()
	if b.SerialNumber.Cmp(a.SerialNumber) == 0 || !slices.Contains(b.DNSNames, "renewed.glucoshare.test") {
		t.Fatalf("after renewal: serial %v (was %v), names %v", b.SerialNumber, a.SerialNumber, b.DNSNames)
	}

	// A broken key file: the server keeps the last good certificate.
	if err := os.WriteFile(keyFile, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if c := peer(); c.SerialNumber.Cmp(b.SerialNumber) != 0 {
		t.Errorf("broken key file: serving serial %v, want the previous %v", c.SerialNumber, b.SerialNumber)
	}
	if !strings.Contains(log.String(), "TLS certificate not reloaded") {
		t.Errorf("the failed reload was not logged:\n%s", log)
	}
}

func TestCertConstrainedCA(t *testing.T) {
	dir := t.TempDir()
	if code, out, errOut := run(t, "", nil, "cert", "ca", "--out", dir, "--permit-dexcom", "--permit", "home.arpa",
		"--permit-ip", "192.168.1.0/24"); code != 0 || !strings.Contains(out, "may sign only for") {
		t.Fatalf("cert ca --permit-dexcom: exit %d, %q %q", code, out, errOut)
	}
	if code, _, errOut := run(t, "", nil, "cert", "server", "--ca", dir, "--out", dir, "--dexcom-hosts",
		"--name", "glucoshare.home.arpa", "--ip", "192.168.1.10"); code != 0 {
		t.Errorf("permitted names: exit %d, %q", code, errOut)
	}
	if code, _, errOut := run(t, "", nil, "cert", "server", "--ca", dir, "--out", t.TempDir(), "--name", "bank.example.com"); code != 1 || !strings.Contains(errOut, "cannot sign") {
		t.Errorf("name outside the constraints: exit %d, %q", code, errOut)
	}
}
