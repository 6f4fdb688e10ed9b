package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
)

const accountUsage = `Usage: glucoshare account <subcommand> [flags]

Manages accounts directly in the database; no running server is needed.

Subcommands:
  add       create an account and print its id
  list      list accounts
  passwd    set an account's password (ends its sessions)
  disable   stop an account from logging in (ends its sessions)
  enable    allow a disabled account to log in again
  compat    set an account's reading format (modern, legacy, or unset)
  units     set the units an account reads values in (mg/dL, mmol/L, or unset)
  export    write everything the account holds (json, or its readings as csv)
  delete    delete the account and everything it holds (needs --yes)
  nightscout-secret, nightscout-token   Nightscout API: set the secret; make tokens
  nightscout-site                       Nightscout API: the account's /ns/{handle} address
  link, unlink, link-status             mirror a Dexcom Share account into this one (docs/mirror.md)

Passwords are read from standard input with --password-stdin, never from a
flag, so they do not show in the process list or shell history.
`

func runAccount(ctx context.Context, args []string, env Env) error {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		fmt.Fprint(env.Stdout, accountUsage)
		if len(args) == 0 {
			return fmt.Errorf("%w: missing subcommand", errUsage)
		}
		return nil
	}
	sub := map[string]func(context.Context, []string, Env) error{
		"add": accountAdd, "list": accountList, "passwd": accountPasswd,
		"disable": accountDisable, "enable": accountEnable, "compat": accountCompat, "units": accountUnits,
		"export": accountExport, "delete": accountDelete,
		"nightscout-secret": accountNightscoutSecret, "nightscout-token": accountNightscoutToken,
		"nightscout-site": accountNightscoutSite, "link": accountLink, "unlink": accountUnlink,
		"link-status": accountLinkStatus,
	}[args[0]]
	if sub == nil {
		return fmt.Errorf("%w: unknown subcommand %q (see glucoshare account --help)", errUsage, args[0])
	}
	return sub(ctx, args[1:], env)
}

// openService opens the database, checks its schema and returns a service.
func openService(ctx context.Context, d *dbFlags) (*core.Service, *store.DB, error) {
	return openServiceWith(ctx, d, core.Config{})
}

// openServiceWith is openService with a configuration.
func openServiceWith(ctx context.Context, d *dbFlags, cfg core.Config) (*core.Service, *store.DB, error) {
	db, err := d.open(ctx)
	if err != nil {
		return nil, nil, err
	}
	if _, _, err := db.Migrate(ctx); err != nil {
		db.Close()
		return nil, nil, err
	}
	return core.New(db, cfg), db, nil
}

// readPassword reads one line from standard input.
func readPassword(env Env, fromStdin bool) (string, error) {
	if !fromStdin {
		return "", fmt.Errorf("%w: %v: pass it on standard input with --password-stdin", errUsage, errNoPassword)
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: %v: standard input was empty", errUsage, errNoPassword)
	}
	return line, nil
}

func accountAdd(ctx context.Context, args []string, env Env) error {
	var d dbFlags
	var name, email, display, units string
	var pwStdin bool
	fs := flagSet("account add", `Usage: glucoshare account add --name NAME [--email E] [--display-name D] [--units U] --password-stdin

Creates an account and prints its id. NAME is what the account logs in with: an
e-mail address, a phone number or a user name. --units sets what the account
reads values in (mg/dL or mmol/L); without it the account reads mg/dL until it
chooses on its profile page (or: glucoshare account units).
`, env)
	d.register(fs)
	fs.StringVar(&name, "name", "", "account name used to log in (required)")
	fs.StringVar(&email, "email", "", "e-mail address")
	fs.StringVar(&display, "display-name", "", "display name followers see")
	fs.StringVar(&units, "units", "", "units the account reads values in: mg/dL or mmol/L (default: unset, read as mg/dL)")
	fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if name == "" {
		return fmt.Errorf("%w: --name is required", errUsage)
	}
	u, err := glucose.ParseUnits(units)
	if err != nil {
		return fmt.Errorf("%w: --units: %v", errUsage, err)
	}
	password, err := readPassword(env, pwStdin)
	if err != nil {
		return err
	}
	svc, db, err := openService(ctx, &d)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := svc.CreateAccount(ctx, core.NewAccount{Name: name, Email: email, DisplayName: display, Password: password,
		Units: u}, time.Now().UTC())
	if err != nil {
		return describe(err)
	}
	fmt.Fprintln(env.Stdout, a.ID)
	return nil
}

// describe turns a protocol error into plain text for the terminal.
func describe(err error) error {
	if e, ok := err.(*glucose.Error); ok {
		return fmt.Errorf("%s", e.Message)
	}
	return err
}

func accountList(ctx context.Context, args []string, env Env) error {
	var d dbFlags
	var format string
	fs := flagSet("account list", "Usage: glucoshare account list [--format table|json]\n\nLists accounts.\n", env)
	d.register(fs)
	fs.StringVar(&format, "format", "table", "output format: table or json")
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if format != "table" && format != "json" {
		return fmt.Errorf("%w: --format must be table or json", errUsage)
	}
	svc, db, err := openService(ctx, &d)
	if err != nil {
		return err
	}
	defer db.Close()
	as, err := svc.Accounts(ctx)
	if err != nil {
		return err
	}
	if format == "json" {
		return writeAccountsJSON(env.Stdout, as)
	}
	tw := tabwriter.NewWriter(env.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tNAME\tDISPLAY NAME\tSERIAL\tMONITORING\tSTATUS")
	for _, a := range as {
		status := "active"
		if a.Disabled {
			status = "disabled"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%t\t%s\n", a.ID, a.Name, a.DisplayName, dash(a.Serial), a.Monitoring, status)
	}
	return tw.Flush()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func writeAccountsJSON(w io.Writer, as []glucose.Account) error {
	type item struct {
		ID          string    `json:"id"`
		Name        string    `json:"name"`
		DisplayName string    `json:"displayName"`
		Email       string    `json:"email"`
		Serial      string    `json:"serial"`
		Monitoring  bool      `json:"monitoring"`
		Disabled    bool      `json:"disabled"`
		Compat      string    `json:"compat"`
		Units       string    `json:"units"`
		CreatedAt   time.Time `json:"createdAt"`
	}
	items := make([]item, len(as))
	for i, a := range as {
		items[i] = item{a.ID, a.Name, a.DisplayName, a.Email, a.Serial, a.Monitoring, a.Disabled, a.Compat, string(a.Units), a.CreatedAt}
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(items)
}

func accountPasswd(ctx context.Context, args []string, env Env) error {
	var pwStdin bool
	return withAccount(ctx, "account passwd", `Usage: glucoshare account passwd NAME|ID --password-stdin

Sets the account's password and ends all of its sessions.
`, args, env, func(fs flagSetter) {
		fs.BoolVar(&pwStdin, "password-stdin", false, "read the password from standard input")
	},
		func(svc *core.Service, a *glucose.Account) error {
			password, err := readPassword(env, pwStdin)
			if err != nil {
				return err
			}
			if err := svc.SetPassword(ctx, a.ID, password, time.Now().UTC()); err != nil {
				return describe(err)
			}
			fmt.Fprintf(env.Stdout, "password changed for %s\n", a.Name)
			return nil
		})
}

func accountDisable(ctx context.Context, args []string, env Env) error {
	return withAccount(ctx, "account disable", "Usage: glucoshare account disable NAME|ID\n\nStops the account from logging in and ends its sessions.\n",
		args, env, nil, func(svc *core.Service, a *glucose.Account) error {
			if err := svc.SetDisabled(ctx, a.ID, true, time.Now().UTC()); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "disabled %s\n", a.Name)
			return nil
		})
}

func accountEnable(ctx context.Context, args []string, env Env) error {
	return withAccount(ctx, "account enable", "Usage: glucoshare account enable NAME|ID\n\nAllows a disabled account to log in again.\n",
		args, env, nil, func(svc *core.Service, a *glucose.Account) error {
			if err := svc.SetDisabled(ctx, a.ID, false, time.Now().UTC()); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "enabled %s\n", a.Name)
			return nil
		})
}

func accountCompat(ctx context.Context, args []string, env Env) error {
	var mode string
	return withAccount(ctx, "account compat", `Usage: glucoshare account compat NAME|ID --mode modern|legacy|unset

Sets the reading format this account's reads get (docs/protocol.md, "Compatibility mode"). legacy
suits clients written before 2022; unset follows the server's --compat.
`, args, env, func(fs flagSetter) { fs.StringVar(&mode, "mode", "", "modern, legacy or unset") },
		func(svc *core.Service, a *glucose.Account) error {
			m := mode
			if m == "unset" {
				m = glucose.CompatUnset
			} else if m == "" {
				return fmt.Errorf("%w: --mode is required", errUsage)
			}
			if err := svc.SetCompat(ctx, a.ID, m); err != nil {
				return fmt.Errorf("%w: %v", errUsage, err)
			}
			fmt.Fprintf(env.Stdout, "compat of %s set to %s\n", a.Name, mode)
			return nil
		})
}

func accountUnits(ctx context.Context, args []string, env Env) error {
	var units string
	return withAccount(ctx, "account units", `Usage: glucoshare account units NAME|ID --units mg/dL|mmol/L|unset

Sets the units the account reads glucose values in, on the dashboard, in
notifications and in images. Values are always stored in mg/dL; unset shows
mg/dL.
`, args, env, func(fs flagSetter) { fs.StringVar(&units, "units", "", "mg/dL, mmol/L or unset") },
		func(svc *core.Service, a *glucose.Account) error {
			if units == "" {
				return fmt.Errorf("%w: --units is required", errUsage)
			}
			u := glucose.UnitsUnset
			if units != "unset" {
				var err error
				if u, err = glucose.ParseUnits(units); err != nil {
					return fmt.Errorf("%w: %v", errUsage, err)
				}
			}
			if err := svc.SetUnits(ctx, a.ID, u); err != nil {
				return describe(err)
			}
			fmt.Fprintf(env.Stdout, "units of %s set to %s\n", a.Name, u)
			return nil
		})
}

// flagSetter is the part of flag.FlagSet that subcommands add flags with.
type flagSetter interface {
	BoolVar(p *bool, name string, value bool, usage string)
	StringVar(p *string, name string, value string, usage string)
	Var(value flag.Value, name string, usage string)
}

// withAccount parses a one-account command (the account's name or id, then
// flags, in any order), opens the database and runs fn on the account.
func withAccount(ctx context.Context, name, usage string, args []string, env Env, flags func(flagSetter), fn func(*core.Service, *glucose.Account) error) error {
	return withAccountConfig(ctx, name, usage, args, env, flags, nil, fn)
}

// withAccountConfig is withAccount with the service's configuration taken
// from config after the flags are parsed (nil: the defaults).
func withAccountConfig(ctx context.Context, name, usage string, args []string, env Env, flags func(flagSetter),
	config func() core.Config, fn func(*core.Service, *glucose.Account) error) error {
	var d dbFlags
	fs := flagSet(name, usage, env)
	d.register(fs)
	if flags != nil {
		flags(fs)
	}
	var ref string
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		ref, args = args[0], args[1:]
	}
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if ref == "" && fs.NArg() > 0 {
		ref = fs.Arg(0)
	}
	if ref == "" {
		return fmt.Errorf("%w: name the account (its name or id)", errUsage)
	}
	cfg := core.Config{}
	if config != nil {
		cfg = config()
	}
	svc, db, err := openServiceWith(ctx, &d, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	a, err := svc.FindAccount(ctx, ref)
	if err != nil {
		return err
	}
	return fn(svc, a)
}
