// Package bridgetest supports interoperability tests with the real
// share2nightscout-bridge: it installs the published package from npm and
// makes the self-signed certificate the bridge's forced HTTPS needs.
package bridgetest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Version is the share2nightscout-bridge release under test.
const Version = "0.2.12"

// Install installs share2nightscout-bridge from the npm registry
// into a temporary directory and returns the path of its index.js. It
// skips the test when the registry cannot be reached.
func Install(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	// A package.json of its own keeps npm from installing into a parent.
	if err := os.WriteFile(filepath.Join(dir, "package.json"), []byte(`{"name":"glucoshare-bridge-test","private":true}`), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "npm", "install", "--no-audit", "--no-fund", "--prefer-offline", "share2nightscout-bridge@"+Version)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if err != nil {
		for _, offline := range []string{"ENOTFOUND", "EAI_AGAIN", "ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "ENETUNREACH", "EHOSTUNREACH"} {
			if strings.Contains(string(out), offline) {
				t.Skipf("npm registry unreachable, cannot install share2nightscout-bridge@%s: %v\n%s", Version, err, out)
			}
		}
		t.Fatalf("npm install share2nightscout-bridge@%s: %v\n%s", Version, err, out)
	}
	index := filepath.Join(dir, "node_modules", "share2nightscout-bridge", "index.js")
	if _, err := os.Stat(index); err != nil {
		t.Fatalf("npm install succeeded but %v\n%s", err, out)
	}
	return index
}

// SelfSignedCert writes a self-signed certificate for 127.0.0.1 (and
// Dexcom's US host) and its key to a temporary directory.
func SelfSignedCert(t testing.TB) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "glucoshare test"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:     []string{"share2.dexcom.com"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
