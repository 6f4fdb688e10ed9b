package cli

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/tlsutil"
)

const certUsage = `Usage: glucoshare cert <subcommand> [flags]

Creates a private certificate authority and server certificates signed by it,
for serving HTTPS with --tls-cert and --tls-key. Apps with fixed Dexcom host
names (Loop, xDrip+, pydexcom) reach your server when local DNS points
share2.dexcom.com, shareous1.dexcom.com and share.dexcom.jp at it and the device
trusts your authority; see docs/tls.md, including what trusting it risks.

Subcommands:
  ca        create an authority: DIR/ca.pem and DIR/ca-key.pem (0600)
  server    issue a server certificate: DIR/cert.pem and DIR/key.pem (0600)

Keep ca-key.pem offline: whoever holds it can impersonate every name the
authority may sign for, to every device that trusts it.
`

func runCert(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, certUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand", errUsage)
		}
		return nil
	}
	sub := map[string]func(context.Context, []string, Env) error{
		"ca": certCA, "server": certServer,
	}[args[0]]
	if sub == nil {
		return fmt.Errorf("%w: unknown subcommand %q (see glucoshare cert --help)", errUsage, args[0])
	}
	return sub(ctx, args[1:], env)
}

// listFlag is a flag that may be repeated; a comma also separates values,
// so that one environment variable can hold several.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

func certCA(_ context.Context, args []string, env Env) error {
	var (
		out, name      string
		validity       time.Duration
		permit, permIP listFlag
		permitDexcom   bool
		force          bool
	)
	fs := flagSet("cert ca", `Usage: glucoshare cert ca --out DIR [--permit NAME]... [--permit-dexcom] [--permit-ip CIDR]...

Creates a certificate authority: DIR/ca.pem, to install on the devices that
should trust your server, and DIR/ca-key.pem (mode 0600), to keep offline.

With --permit, --permit-dexcom or --permit-ip the authority carries name
constraints: it can sign only for those names (and their subdomains) and
networks, so a stolen key cannot impersonate other sites. Without --permit-ip a
constrained authority signs no IP address. Most current clients honour the
constraints; a few old ones reject constrained authorities (docs/tls.md).
`, env)
	fs.StringVar(&out, "out", "", "directory to write ca.pem and ca-key.pem to (required)")
	fs.StringVar(&name, "name", "glucoshare local CA", "the authority's name, as devices show it")
	fs.DurationVar(&validity, "validity", tlsutil.DefaultCAValidity, "how long the authority is valid")
	fs.Var(&permit, "permit", "constrain the authority to this DNS name and its subdomains (repeatable)")
	fs.BoolVar(&permitDexcom, "permit-dexcom", false, "constrain the authority to include the Dexcom Share host names")
	fs.Var(&permIP, "permit-ip", "constrain the authority to this IP network, e.g. 192.168.1.0/24 (repeatable)")
	fs.BoolVar(&force, "force", false, "overwrite existing files")
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if out == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --out DIR is required, and nothing else", errUsage)
	}
	if permitDexcom {
		permit = append(permit, tlsutil.DexcomHosts...)
	}
	nets, err := tlsutil.ParseIPNets(permIP)
	if err != nil {
		return fmt.Errorf("%w: --permit-ip: %v", errUsage, err)
	}
	certFile, keyFile := filepath.Join(out, "ca.pem"), filepath.Join(out, "ca-key.pem")
	if err := prepareOut(out, force, certFile, keyFile); err != nil {
		return err
	}
	ca, err := tlsutil.NewCA(tlsutil.CAOptions{Name: name, Validity: validity, PermittedNames: permit, PermittedIPs: nets})
	if err != nil {
		return err
	}
	keyPEM, err := ca.KeyPEM()
	if err != nil {
		return err
	}
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(certFile, ca.CertPEM(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s (install on devices) and %s (keep offline, mode 0600)\n", certFile, keyFile)
	if len(permit) > 0 || len(nets) > 0 {
		fmt.Fprintf(env.Stdout, "the authority may sign only for: %s\n", strings.Join(append(permit, permIP...), ", "))
	}
	fmt.Fprintf(env.Stdout, "valid until %s\n", ca.Cert.NotAfter.UTC().Format(time.DateOnly))
	return nil
}

func certServer(_ context.Context, args []string, env Env) error {
	var (
		caDir, out  string
		names, ips  listFlag
		dexcomHosts bool
		validity    time.Duration
		force       bool
		caCertFile  string
		caKeyFile   string
	)
	fs := flagSet("cert server", `Usage: glucoshare cert server --ca DIR --name NAME... [--ip IP]... [--dexcom-hosts] --out DIR

Issues a server certificate signed by the authority in --ca DIR for every --name
and --ip, and writes DIR/cert.pem and DIR/key.pem (mode 0600) for --tls-cert and
--tls-key. A running server picks up renewed files without a restart: renew in
place with --force.

--dexcom-hosts adds share2.dexcom.com, shareous1.dexcom.com and share.dexcom.jp,
for fixed-host apps pointed at this server through local DNS (docs/tls.md).
`, env)
	fs.StringVar(&caDir, "ca", "", "directory holding ca.pem and ca-key.pem (from glucoshare cert ca)")
	fs.StringVar(&caCertFile, "ca-cert", "", "the authority's certificate, if not DIR/ca.pem of --ca")
	fs.StringVar(&caKeyFile, "ca-key", "", "the authority's key, if not DIR/ca-key.pem of --ca")
	fs.Var(&names, "name", "a DNS name for the certificate (repeatable)")
	fs.Var(&ips, "ip", "an IP address for the certificate (repeatable)")
	fs.BoolVar(&dexcomHosts, "dexcom-hosts", false, "add the Dexcom Share host names")
	fs.DurationVar(&validity, "validity", tlsutil.DefaultServerValidity, "how long the certificate is valid (Apple devices accept at most 825 days)")
	fs.StringVar(&out, "out", "", "directory to write cert.pem and key.pem to (required)")
	fs.BoolVar(&force, "force", false, "overwrite existing files (renewal)")
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if out == "" || fs.NArg() > 0 {
		return fmt.Errorf("%w: --out DIR is required, and nothing else", errUsage)
	}
	if caCertFile == "" && caDir != "" {
		caCertFile = filepath.Join(caDir, "ca.pem")
	}
	if caKeyFile == "" && caDir != "" {
		caKeyFile = filepath.Join(caDir, "ca-key.pem")
	}
	if caCertFile == "" || caKeyFile == "" {
		return fmt.Errorf("%w: --ca DIR (or --ca-cert and --ca-key) is required", errUsage)
	}
	if dexcomHosts {
		names = append(names, tlsutil.DexcomHosts...)
	}
	var addrs []net.IP
	for _, s := range ips {
		ip := net.ParseIP(s)
		if ip == nil {
			return fmt.Errorf("%w: --ip %q is not an IP address", errUsage, s)
		}
		addrs = append(addrs, ip)
	}
	if len(names) == 0 && len(addrs) == 0 {
		return fmt.Errorf("%w: give at least one --name, --ip or --dexcom-hosts", errUsage)
	}
	ca, err := tlsutil.LoadCA(caCertFile, caKeyFile)
	if err != nil {
		return err
	}
	certFile, keyFile := filepath.Join(out, "cert.pem"), filepath.Join(out, "key.pem")
	if err := prepareOut(out, force, certFile, keyFile); err != nil {
		return err
	}
	certPEM, keyPEM, err := tlsutil.IssueServerCert(ca, names, addrs, validity)
	if err != nil {
		return err
	}
	// The key first: a server reloading in between sees a pair that does
	// not match and keeps its previous certificate until the second file
	// lands.
	if err := writeFileAtomic(keyFile, keyPEM, 0o600); err != nil {
		return err
	}
	if err := writeFileAtomic(certFile, certPEM, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(env.Stdout, "wrote %s and %s for %s\n", certFile, keyFile, strings.Join(append(names, ips...), ", "))
	return nil
}

// prepareOut creates dir (0700) if needed and refuses to overwrite files
// unless force.
func prepareOut(dir string, force bool, files ...string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if force {
		return nil
	}
	for _, f := range files {
		if _, err := os.Stat(f); err == nil {
			return fmt.Errorf("%s exists; use --force to overwrite it", f)
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// writeFileAtomic writes data to a temporary file beside name and renames
// it over name, so that a reader never sees a half-written file.
func writeFileAtomic(name string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // fails harmlessly after the rename
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, name)
}
