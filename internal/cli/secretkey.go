package cli

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/glucoshare/glucoshare/internal/secretkey"
)

// secretKeyFlag is --secret-key (GLUCOSHARE_SECRET_KEY): the server key
// kept outside the database, from which the keys of stored secrets are
// derived (package secretkey). Several commands take it: serve, and the
// account commands that store Nightscout credentials.
type secretKeyFlag struct {
	text string
	key  *secretkey.Key
}

// secretKeyUsage explains the flag in --help.
const secretKeyUsage = "server key (32+ characters, e.g. `openssl rand -base64 32`) kept outside the database; " +
	"Nightscout credentials are looked up by an HMAC with a key derived from it, and its JWTs signed with another. " +
	"Give every instance and command the same one; prefer GLUCOSHARE_SECRET_KEY"

func (f *secretKeyFlag) register(fs flagSetter) {
	fs.Var(f, "secret-key", secretKeyUsage)
}

// String is the flag's value as --help and --print-config show it: never
// the key.
func (f *secretKeyFlag) String() string {
	if f == nil || f.text == "" {
		return ""
	}
	return "xxxxx"
}

// Set loads the key.
func (f *secretKeyFlag) Set(s string) error {
	k, err := secretkey.Load(s)
	if err != nil {
		return fmt.Errorf("%v", err)
	}
	f.text, f.key = s, k
	return nil
}

// sizeFlag is a number of bytes written with an optional binary unit:
// 512MiB, 2GiB, 1.5GB (taken as GiB), or a plain number of bytes.
type sizeFlag int64

func (s *sizeFlag) String() string {
	if s == nil {
		return "0"
	}
	n := int64(*s)
	for _, u := range []struct {
		name string
		size int64
	}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}} {
		if n >= u.size && n%u.size == 0 {
			return strconv.FormatInt(n/u.size, 10) + u.name
		}
	}
	return strconv.FormatInt(n, 10)
}

// sizeUnits are the units sizeFlag reads, longest suffix first.
var sizeUnits = []struct {
	suffix string
	size   int64
}{{"TiB", 1 << 40}, {"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10},
	{"TB", 1 << 40}, {"GB", 1 << 30}, {"MB", 1 << 20}, {"KB", 1 << 10},
	{"T", 1 << 40}, {"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}}

func (s *sizeFlag) Set(v string) error {
	t, mult := strings.TrimSpace(v), int64(1)
	for _, u := range sizeUnits {
		if rest, ok := strings.CutSuffix(t, u.suffix); ok {
			t, mult = strings.TrimSpace(rest), u.size
			break
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	if err != nil || f < 0 || f*float64(mult) > 1<<62 {
		return fmt.Errorf("%q: want a size such as 2GiB or 500MiB", v)
	}
	*s = sizeFlag(f * float64(mult))
	return nil
}
