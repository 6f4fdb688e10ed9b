// Package cli is glucoshare's command line: serve, migrate and the
// operator's account commands. cmd/glucoshare only calls Run, so tests run
// the very same code in-process.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Env is what a command sees of the outside world.
type Env struct {
	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	Getenv func(string) string
	// Listening, when set, is called with the address the server listens
	// on once it accepts connections (tests use it with --addr :0).
	Listening func(addr string)
}

// OSEnv returns the process's environment.
func OSEnv() Env {
	return Env{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr, Getenv: os.Getenv}
}

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// errUsage marks an error caused by how the command was called.
var errUsage = errors.New("usage error")

type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, env Env) error
}

func commands() []command {
	return []command{
		{"serve", "run the Share server", runServe},
		{"migrate", "create or upgrade the database schema", runMigrate},
		{"account", "manage accounts (add, list, passwd, disable, enable, compat, export, delete)", runAccount},
		{"cert", "create a local certificate authority and server certificates", runCert},
		{"backup", "copy a live SQLite database consistently", runBackup},
		{"restore", "check a backup and install it as the SQLite database", runRestore},
		{"copy", "copy a database into another (e.g. SQLite to PostgreSQL), verified", runCopy},
		{"secret-key", "generate a key for --secret-key (secrets kept encrypted in the database)", runSecretKey},
		{"login", "client: log in to a Share server, optionally saving the credentials", runLogin},
		{"latest", "client: print the newest reading (value, arrow, age)", runLatest},
		{"readings", "client: print readings as a table, JSON or CSV", runReadings},
		{"watch", "client: print new readings as they arrive", runWatch},
		{"upload", "client: upload readings from Clarity CSV, CSV or JSON files", runUpload},
		{"followers", "client: manage who follows you (list, invite, permissions, pause, resume, remove)", runFollowers},
		{"follow", "client: follow others (invitations, accept, list, read, alarms, ack)", runFollow},
		{"version", "print the version, commit, build date and Go version", runVersion},
	}
}

const mainUsage = `glucoshare — a self-hosted Dexcom Share server.

Usage:
  glucoshare <command> [flags]

Commands:
%s
Run 'glucoshare <command> --help' for a command's flags, and 'glucoshare
--version' for the build. Every flag can also be set through an environment
variable: --db is GLUCOSHARE_DB, --tls-cert is GLUCOSHARE_TLS_CERT, and so on.
A flag given on the command line wins.

The client commands talk to any Share server (--server us, ous, jp or a URL)
and take the password from --password-stdin, $GLUCOSHARE_PASSWORD or the
config file that 'glucoshare login --save' writes; see docs/client.md.
`

// Run runs the command line args (without the program name) and returns the
// process exit code.
func Run(ctx context.Context, args []string, env Env) int {
	if env.Getenv == nil {
		env.Getenv = func(string) string { return "" }
	}
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		printMainUsage(env.Stdout)
		if len(args) == 0 {
			return exitUsage
		}
		return exitOK
	}
	if args[0] == "--version" || args[0] == "-version" {
		args = []string{"version"}
	}
	for _, c := range commands() {
		if c.name != args[0] {
			continue
		}
		err := c.run(ctx, args[1:], env)
		switch {
		case err == nil:
			return exitOK
		case errors.Is(err, flag.ErrHelp):
			return exitOK
		case errors.Is(err, errUsage):
			fmt.Fprintf(env.Stderr, "glucoshare %s: %v\n", c.name, err)
			return exitUsage
		default:
			fmt.Fprintf(env.Stderr, "glucoshare %s: %v\n", c.name, err)
			return exitError
		}
	}
	fmt.Fprintf(env.Stderr, "glucoshare: unknown command %q\n\n", args[0])
	printMainUsage(env.Stderr)
	return exitUsage
}

func printMainUsage(w io.Writer) {
	var b strings.Builder
	width := 0
	for _, c := range commands() {
		width = max(width, len(c.name))
	}
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, c.name, c.summary)
	}
	fmt.Fprintf(w, mainUsage, b.String())
}

// flagSet returns a FlagSet whose --help prints usage, a description and the
// flags with their environment variables.
func flagSet(name, usage string, env Env) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(env.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(env.Stdout, "%s\nFlags:\n", usage)
		fs.VisitAll(func(f *flag.Flag) {
			if !commandLineOnly[f.Name] && !strings.Contains(f.Usage, "$GLUCOSHARE_") {
				f.Usage += " ($" + envName(f.Name) + ")"
			}
		})
		fs.SetOutput(env.Stdout)
		fs.PrintDefaults()
		fs.SetOutput(env.Stderr)
	}
	return fs
}

// envName is the environment variable that sets a flag: GLUCOSHARE_ and the
// flag's name upper-cased with '-' as '_'.
func envName(flagName string) string {
	return "GLUCOSHARE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

// parse parses args, then fills every flag not given on the command line
// from its environment variable.
// commandLineOnly are flags that confirm something destructive or act once;
// an exported environment variable must never answer for the operator.
var commandLineOnly = map[string]bool{"yes": true, "force": true, "print-config": true}

func parse(fs *flag.FlagSet, args []string, env Env) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	var names []string
	fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
	sort.Strings(names)
	for _, name := range names {
		if set[name] || commandLineOnly[name] {
			continue
		}
		if v := env.Getenv(envName(name)); v != "" {
			if err := fs.Set(name, v); err != nil {
				return fmt.Errorf("%w: %s=%q: %v", errUsage, envName(name), v, err)
			}
		}
	}
	return nil
}
