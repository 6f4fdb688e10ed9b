package cli

import (
	"context"
	"flag"
	"fmt"

	"github.com/glucoshare/glucoshare/internal/secretkey"
)

// secretKeyFlag is --secret-key: the operator's key for secrets kept in
// the database (package secretkey). Prefer GLUCOSHARE_SECRET_KEY or a file
// read by the service manager: a flag shows in the process list.
type secretKeyFlag struct {
	key *secretkey.Key
}

func (f *secretKeyFlag) register(fs *flag.FlagSet) {
	fs.Var(f, "secret-key", fmt.Sprintf("the key (%d+ characters) that encrypts secrets kept in the database; prefer $GLUCOSHARE_SECRET_KEY; 'glucoshare secret-key generate' makes one", secretkey.MinLength))
}

// String implements flag.Value; it never shows the key.
func (f *secretKeyFlag) String() string {
	if f == nil || f.key == nil {
		return ""
	}
	return "xxxxx"
}

// Set implements flag.Value.
func (f *secretKeyFlag) Set(s string) error {
	k, err := secretkey.Load(s)
	if err != nil {
		return err
	}
	f.key = k
	return nil
}

const secretKeyUsage = `Usage: glucoshare secret-key generate

Prints a new random secret key for --secret-key / GLUCOSHARE_SECRET_KEY.
Keep it outside the database and its backups (a service manager's
credential, an environment file readable only by the service): secrets the
server keeps encrypted under it cannot be read without it, and are lost if
it is lost.
`

func runSecretKey(ctx context.Context, args []string, env Env) error {
	fs := flagSet("secret-key", secretKeyUsage, env)
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 || fs.Arg(0) != "generate" {
		return fmt.Errorf("%w: expected 'glucoshare secret-key generate'", errUsage)
	}
	fmt.Fprintln(env.Stdout, secretkey.Generate())
	return nil
}
