package tlsutil_test

import (
	"bytes"
	"crypto/x509"
	"encoding/pem"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/tlsutil"
)

func parseCert(t *testing.T, certPEM []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(certPEM)
	if block == nil {
		t.Fatal("no PEM block")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

func verify(ca *tlsutil.CA, cert *x509.Certificate, host string) error {
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: host})
	return err
}

func TestIssueServerCert(t *testing.T) {
	ca, err := tlsutil.NewCA(tlsutil.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !ca.Cert.IsCA || !ca.Cert.MaxPathLenZero || ca.Cert.Subject.CommonName != "glucoshare local CA" {
		t.Errorf("CA certificate: IsCA %t, MaxPathLenZero %t, CN %q", ca.Cert.IsCA, ca.Cert.MaxPathLenZero, ca.Cert.Subject.CommonName)
	}
	names := append([]string{"glucoshare.example.org"}, tlsutil.DexcomHosts...)
	ips := []net.IP{net.ParseIP("192.168.1.10")}
	certPEM, keyPEM, err := tlsutil.IssueServerCert(ca, names, ips, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(keyPEM, []byte("PRIVATE KEY")) {
		t.Errorf("key PEM %q", keyPEM)
	}
	cert := parseCert(t, certPEM)
	for _, host := range append(names, "192.168.1.10") {
		if err := verify(ca, cert, host); err != nil {
			t.Errorf("verify for %s: %v", host, err)
		}
	}
	if err := verify(ca, cert, "example.com"); err == nil {
		t.Error("certificate verifies for a name it does not carry")
	}
	// Apple platforms refuse server certificates valid for more than 825 days.
	if days := cert.NotAfter.Sub(cert.NotBefore).Hours() / 24; days > 826 {
		t.Errorf("server certificate valid for %.0f days, want at most 825", days)
	}
	if len(cert.ExtKeyUsage) != 1 || cert.ExtKeyUsage[0] != x509.ExtKeyUsageServerAuth {
		t.Errorf("ExtKeyUsage %v, want serverAuth", cert.ExtKeyUsage)
	}
	if _, _, err := tlsutil.IssueServerCert(ca, nil, nil, 0); err == nil {
		t.Error("a certificate without names was issued")
	}
}

func TestConstrainedCA(t *testing.T) {
	nets, err := tlsutil.ParseIPNets([]string{"192.168.1.0/24"})
	if err != nil {
		t.Fatal(err)
	}
	ca, err := tlsutil.NewCA(tlsutil.CAOptions{
		PermittedNames: append([]string{"home.arpa"}, tlsutil.DexcomHosts...),
		PermittedIPs:   nets,
	})
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := tlsutil.IssueServerCert(ca, []string{"share2.dexcom.com", "glucoshare.home.arpa"},
		[]net.IP{net.ParseIP("192.168.1.10")}, 0)
	if err != nil {
		t.Fatalf("permitted names refused: %v", err)
	}
	if err := verify(ca, parseCert(t, certPEM), "share2.dexcom.com"); err != nil {
		t.Errorf("verify: %v", err)
	}
	for _, tc := range []struct {
		names []string
		ips   []net.IP
	}{
		{names: []string{"bank.example.com"}},
		{names: []string{"dexcom.com"}}, // the parent of a permitted host is not permitted
		{ips: []net.IP{net.ParseIP("10.0.0.1")}},
	} {
		if _, _, err := tlsutil.IssueServerCert(ca, tc.names, tc.ips, 0); err == nil {
			t.Errorf("constrained CA signed %v %v", tc.names, tc.ips)
		}
	}

	// Constrained to names only: no IP address at all.
	onlyNames, err := tlsutil.NewCA(tlsutil.CAOptions{PermittedNames: tlsutil.DexcomHosts})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tlsutil.IssueServerCert(onlyNames, nil, []net.IP{net.ParseIP("192.168.1.10")}, 0); err == nil {
		t.Error("a CA constrained to names signed an IP address")
	}
}

func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	ca, err := tlsutil.NewCA(tlsutil.CAOptions{Name: "test CA", Validity: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "ca-key.pem")
	os.WriteFile(certFile, ca.CertPEM(), 0o644)
	os.WriteFile(keyFile, keyPEM, 0o600)
	got, err := tlsutil.LoadCA(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(ca.Cert) || !got.Key.Equal(ca.Key) {
		t.Error("loaded CA differs")
	}
	other, _ := tlsutil.NewCA(tlsutil.CAOptions{})
	otherKey, _ := other.KeyPEM()
	os.WriteFile(keyFile, otherKey, 0o600)
	if _, err := tlsutil.LoadCA(certFile, keyFile); err == nil || !strings.Contains(err.Error(), "not the private key") {
		t.Errorf("mismatched key: %v", err)
	}
}

// writePair issues a certificate for name and writes it to the files,
// setting their modification time to mod.
func writePair(t *testing.T, ca *tlsutil.CA, name, certFile, keyFile string, mod time.Time) {
	t.Helper()
	certPEM, keyPEM, err := tlsutil.IssueServerCert(ca, []string{name}, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	for file, data := range map[string][]byte{certFile: certPEM, keyFile: keyPEM} {
		if err := os.WriteFile(file, data, 0o600); err != nil {
			t.Fatal(err)
		}
		os.Chtimes(file, mod, mod)
	}
}

func TestReloader(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	ca, err := tlsutil.NewCA(tlsutil.CAOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mod := time.Now().Add(-time.Hour)
	writePair(t, ca, "a.example.org", certFile, keyFile, mod)

	now := time.Now()
	var logBuf bytes.Buffer
	r, err := tlsutil.NewReloader(certFile, keyFile, tlsutil.ReloaderOptions{
		CheckEvery: time.Minute,
		Logger:     slog.New(slog.NewTextHandler(&logBuf, nil)),
		Now:        func() time.Time { return now },
	})
	if err != nil {
		t.Fatal(err)
	}
	served := func() string {
		t.Helper()
		c, err := r.GetCertificate(nil)
		if err != nil {
			t.Fatal(err)
		}
		return c.Leaf.DNSNames[0]
	}
	if got := served(); got != "a.example.org" {
		t.Fatalf("serving %s, want a.example.org", got)
	}

	writePair(t, ca, "b.example.org", certFile, keyFile, mod.Add(time.Second))
	if got := served(); got != "a.example.org" {
		t.Errorf("checked before CheckEvery passed: serving %s", got)
	}
	now = now.Add(time.Minute)
	if got := served(); got != "b.example.org" {
		t.Errorf("after the change: serving %s, want b.example.org", got)
	}

	// A certificate whose key has not been written yet: keep serving b,
	// log once, and pick the pair up once the key follows.
	certC, keyC, _ := tlsutil.IssueServerCert(ca, []string{"c.example.org"}, nil, 0)
	os.WriteFile(certFile, certC, 0o600)
	os.Chtimes(certFile, mod.Add(2*time.Second), mod.Add(2*time.Second))
	for range 3 {
		now = now.Add(time.Minute)
		if got := served(); got != "b.example.org" {
			t.Errorf("half-written pair: serving %s, want b.example.org", got)
		}
	}
	if n := strings.Count(logBuf.String(), "not reloaded"); n != 1 {
		t.Errorf("failure logged %d times, want once:\n%s", n, logBuf.String())
	}
	os.WriteFile(keyFile, keyC, 0o600)
	os.Chtimes(keyFile, mod.Add(3*time.Second), mod.Add(3*time.Second))
	now = now.Add(time.Minute)
	if got := served(); got != "c.example.org" {
		t.Errorf("completed pair: serving %s, want c.example.org", got)
	}

	// Files removed: keep serving.
	os.Remove(certFile)
	if changed, err := r.Reload(); changed || err == nil {
		t.Errorf("Reload of a missing file: %t %v", changed, err)
	}
	if got := r.Leaf().DNSNames[0]; got != "c.example.org" {
		t.Errorf("missing file: serving %s", got)
	}

	if _, err := tlsutil.NewReloader(certFile, keyFile, tlsutil.ReloaderOptions{}); err == nil {
		t.Error("NewReloader without a certificate file succeeded")
	}
}
