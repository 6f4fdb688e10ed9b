// Package tlsutil creates a small private certificate authority and server
// certificates signed by it, and serves certificate files that are reloaded
// when they change on disk.
//
// The authority exists for one purpose (docs/protocol.md, "Known clients"): apps with fixed
// Dexcom host names (Loop, xDrip+, pydexcom) reach a self-hosted server when
// local DNS points those names at it and the device trusts an authority that
// signed a certificate for them. Keys are ECDSA P-256, which every client of
// docs/protocol.md, "Known clients" accepts.
package tlsutil

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"strings"
	"time"
)

// DexcomHosts are the host names fixed-host clients use (docs/protocol.md, "Hosts and paths").
var DexcomHosts = []string{"share2.dexcom.com", "shareous1.dexcom.com", "share.dexcom.jp"}

// Validity defaults. Apple platforms reject TLS server certificates valid
// for more than 825 days, even from a private authority.
const (
	DefaultCAValidity     = 10 * 365 * 24 * time.Hour
	DefaultServerValidity = 825 * 24 * time.Hour
)

// backdate covers clocks that run a little behind the issuer's.
const backdate = time.Hour

// CA is a certificate authority: its certificate and private key.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
}

// CAOptions describes a new authority.
type CAOptions struct {
	// Name is the authority's common name, shown on the device that
	// installs it. Default "glucoshare local CA".
	Name string
	// Validity defaults to DefaultCAValidity.
	Validity time.Duration
	// PermittedNames, when not empty, constrains the authority (RFC 5280
	// name constraints, marked critical) to these DNS names and their
	// subdomains, so that its key cannot sign for any other host.
	PermittedNames []string
	// PermittedIPs are the networks a constrained authority may sign IP
	// addresses in. A constrained authority without them signs no IP.
	PermittedIPs []*net.IPNet
}

// NewCA creates a self-signed authority with a new key.
func NewCA(opts CAOptions) (*CA, error) {
	if opts.Name == "" {
		opts.Name = "glucoshare local CA"
	}
	if opts.Validity <= 0 {
		opts.Validity = DefaultCAValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: opts.Name, Organization: []string{"glucoshare"}},
		NotBefore:             now.Add(-backdate),
		NotAfter:              now.Add(opts.Validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true, // signs server certificates only, no intermediates
	}
	if len(opts.PermittedNames) > 0 || len(opts.PermittedIPs) > 0 {
		constrain(tmpl, opts.PermittedNames, opts.PermittedIPs)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key}, nil
}

// constrain limits tmpl to names and ips. Without permitted IP networks
// every address is excluded: otherwise a name-constrained authority could
// still sign for any IP address.
func constrain(tmpl *x509.Certificate, names []string, ips []*net.IPNet) {
	tmpl.PermittedDNSDomainsCritical = true
	tmpl.PermittedDNSDomains = names
	if len(ips) > 0 {
		tmpl.PermittedIPRanges = ips
		return
	}
	tmpl.ExcludedIPRanges = []*net.IPNet{
		{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		{IP: net.IPv6zero, Mask: net.CIDRMask(0, 128)},
	}
}

// IssueServerCert signs a new server certificate for names and ips with
// ca and returns it and its new private key, both PEM-encoded. It refuses
// names the authority's constraints do not permit, rather than issuing a
// certificate that clients would reject.
func IssueServerCert(ca *CA, names []string, ips []net.IP, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if len(names) == 0 && len(ips) == 0 {
		return nil, nil, errors.New("a server certificate needs at least one name or IP address")
	}
	if validity <= 0 {
		validity = DefaultServerValidity
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	notAfter := now.Add(validity)
	if notAfter.After(ca.Cert.NotAfter) {
		notAfter = ca.Cert.NotAfter
	}
	subject := "glucoshare"
	if len(names) > 0 {
		subject = names[0]
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: subject, Organization: []string{"glucoshare"}},
		NotBefore:    now.Add(-backdate),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     names,
		IPAddresses:  ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return nil, nil, err
	}
	if err := checkChain(der, ca); err != nil {
		return nil, nil, err
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), keyPEM, nil
}

// checkChain verifies the new certificate as a client would, which
// enforces the authority's name constraints on every name.
func checkChain(der []byte, ca *CA) error {
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca.Cert)
	_, err = cert.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}})
	if err != nil {
		return fmt.Errorf("the authority cannot sign for these names: %w", err)
	}
	return nil
}

func newSerial() (*big.Int, error) {
	return rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
}

// CertPEM returns the authority's certificate, PEM-encoded.
func (ca *CA) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

// KeyPEM returns the authority's private key, PEM-encoded (PKCS #8).
func (ca *CA) KeyPEM() ([]byte, error) { return encodeKey(ca.Key) }

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), nil
}

// LoadCA reads an authority written by CertPEM and KeyPEM.
func LoadCA(certFile, keyFile string) (*CA, error) {
	certDER, err := readPEM(certFile, "CERTIFICATE")
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(certDER)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", certFile, err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("%s is not a certificate authority", certFile)
	}
	keyDER, err := readPEM(keyFile, "PRIVATE KEY")
	if err != nil {
		return nil, err
	}
	parsed, err := x509.ParsePKCS8PrivateKey(keyDER)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", keyFile, err)
	}
	key, ok := parsed.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s is not the private key of %s", keyFile, certFile)
	}
	return &CA{Cert: cert, Key: key}, nil
}

// readPEM returns the first block of the given type in file.
func readPEM(file, typ string) ([]byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	for {
		var block *pem.Block
		block, data = pem.Decode(data)
		if block == nil {
			return nil, fmt.Errorf("%s: no %s PEM block", file, typ)
		}
		if block.Type == typ {
			return block.Bytes, nil
		}
	}
}

// ParseIPNets parses CIDR networks ("192.168.1.0/24"); a bare address is a
// network of that address alone.
func ParseIPNets(ss []string) ([]*net.IPNet, error) {
	var nets []*net.IPNet
	for _, s := range ss {
		if !strings.Contains(s, "/") {
			ip := net.ParseIP(s)
			if ip == nil {
				return nil, fmt.Errorf("%q is not an IP address or network", s)
			}
			if v4 := ip.To4(); v4 != nil {
				ip = v4
			}
			nets = append(nets, &net.IPNet{IP: ip, Mask: net.CIDRMask(len(ip)*8, len(ip)*8)})
			continue
		}
		_, n, err := net.ParseCIDR(s)
		if err != nil {
			return nil, err
		}
		nets = append(nets, n)
	}
	return nets, nil
}
