package cli

// This file holds what every client command shares: the server and
// credential flags, the config file, password sources, building a
// share.Client, and output for people (aligned, coloured on a terminal) and
// scripts (--format json).

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"golang.org/x/term"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// envPassword is where scripts put the password; it is not a flag, so it
// never shows in the process list.
const envPassword = "GLUCOSHARE_PASSWORD"

// clientFlags are the flags of every command that talks to a Share server.
type clientFlags struct {
	server    string
	username  string
	accountID string
	pwStdin   bool
	config    string
	timeout   time.Duration

	set      map[string]bool // flags given on the command line or in the environment
	password string
	cfgPath  string // the config file read, if any
}

func (f *clientFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "", "Share server: us, ous, jp, or a base URL such as http://127.0.0.1:8080")
	fs.StringVar(&f.username, "username", "", "account name: user name, e-mail address or phone number")
	fs.StringVar(&f.accountID, "account-id", "", "account id, instead of --username (skips one login call)")
	fs.BoolVar(&f.pwStdin, "password-stdin", false, "read the password from the first line of standard input")
	fs.StringVar(&f.config, "config", "", "config file (default $XDG_CONFIG_HOME/glucoshare/client.conf)")
	fs.DurationVar(&f.timeout, "timeout", share.DefaultTimeout, "timeout of each request")
}

const clientFlagsHelp = `
The password comes from --password-stdin, else $GLUCOSHARE_PASSWORD, else the
config file, else a prompt when standard input is a terminal. It is never a
flag, so it does not show in the process list.
`

// parseClient parses args with the client flags and fills what the command
// line and environment left unset from the config file.
func (f *clientFlags) parseClient(fs *flag.FlagSet, args []string, env Env) error {
	if err := parse(fs, args, env); err != nil {
		return err
	}
	f.set = map[string]bool{}
	fs.Visit(func(fl *flag.Flag) { f.set[fl.Name] = true })
	return f.applyConfig(env)
}

// configPath returns the config file to read and whether it was named
// explicitly (then it must exist).
func (f *clientFlags) configPath(env Env) (string, bool) {
	if f.config != "" {
		return f.config, true
	}
	if dir := env.Getenv("XDG_CONFIG_HOME"); dir != "" {
		return filepath.Join(dir, "glucoshare", "client.conf"), false
	}
	if home := env.Getenv("HOME"); home != "" {
		return filepath.Join(home, ".config", "glucoshare", "client.conf"), false
	}
	return "", false
}

// applyConfig reads the config file, if there is one, beneath the flags.
func (f *clientFlags) applyConfig(env Env) error {
	path, explicit := f.configPath(env)
	if path == "" {
		return nil
	}
	cfg, err := readClientConfig(path)
	if errors.Is(err, os.ErrNotExist) && !explicit {
		return nil
	}
	if err != nil {
		return err
	}
	f.cfgPath = path
	if !f.set["server"] {
		f.server = cfg.server
	}
	// The file's password belongs to the file's account: it is used only
	// when the account was not named elsewhere, or is the same one.
	sameAccount := (f.set["username"] || f.set["account-id"]) &&
		(f.username == "" || strings.EqualFold(f.username, cfg.username)) &&
		(f.accountID == "" || strings.EqualFold(f.accountID, cfg.accountID))
	if !f.set["username"] && !f.set["account-id"] {
		f.username, f.accountID, sameAccount = cfg.username, cfg.accountID, true
	}
	if sameAccount {
		f.password = cfg.password
	}
	return nil
}

// clientConfig is the content of the config file.
type clientConfig struct {
	server, username, accountID, password string
}

// readClientConfig reads a config file of "key = value" lines: server,
// username, account-id, password. Blank lines and lines starting with #
// are ignored; a value may be written in double quotes with Go escapes. The
// file holds credentials, so it must not be readable by group or others.
func readClientConfig(path string) (clientConfig, error) {
	var cfg clientConfig
	fi, err := os.Stat(path)
	if err != nil {
		return cfg, err
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 && runtime.GOOS != "windows" {
		return cfg, fmt.Errorf("config file %s has mode %04o; it holds credentials, so make it private: chmod 600 %s", path, perm, path)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return cfg, err
	}
	for i, line := range strings.Split(string(data), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		key, value, ok := strings.Cut(line, "=")
		key, value = strings.TrimSpace(key), strings.TrimSpace(value)
		if strings.HasPrefix(value, `"`) {
			if value, err = strconv.Unquote(value); err != nil {
				return cfg, fmt.Errorf("%s:%d: malformed quoted value", path, i+1)
			}
		}
		dst := map[string]*string{"server": &cfg.server, "username": &cfg.username, "account-id": &cfg.accountID, "password": &cfg.password}[key]
		if !ok || dst == nil {
			return cfg, fmt.Errorf("%s:%d: want key = value with key server, username, account-id or password", path, i+1)
		}
		*dst = value
	}
	return cfg, nil
}

// writeClientConfig writes cfg to path with mode 0600, creating its
// directory with mode 0700. It writes a new file and renames it, so a
// failure leaves the old file as it was.
func writeClientConfig(path string, cfg clientConfig) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	var b strings.Builder
	b.WriteString("# glucoshare client configuration, written by glucoshare login --save.\n# It holds a password: keep it private (mode 0600).\n")
	for _, kv := range [][2]string{{"server", cfg.server}, {"username", cfg.username}, {"account-id", cfg.accountID}} {
		if kv[1] != "" {
			fmt.Fprintf(&b, "%s = %s\n", kv[0], kv[1])
		}
	}
	fmt.Fprintf(&b, "password = %s\n", strconv.Quote(cfg.password))
	tmp, err := os.CreateTemp(filepath.Dir(path), ".client.conf-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return err
	}
	if _, err := tmp.WriteString(b.String()); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// resolvePassword finds the password: --password-stdin, then
// $GLUCOSHARE_PASSWORD, then the config file, then a prompt on a terminal.
func (f *clientFlags) resolvePassword(env Env) error {
	switch {
	case f.pwStdin:
		p, err := readPassword(env, true)
		f.password = p
		return err
	case env.Getenv(envPassword) != "":
		f.password = env.Getenv(envPassword)
		return nil
	case f.password != "":
		return nil
	}
	if in, ok := env.Stdin.(*os.File); ok && term.IsTerminal(int(in.Fd())) {
		fmt.Fprintf(env.Stderr, "Password for %s: ", f.who())
		p, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(env.Stderr)
		if err != nil {
			return err
		}
		f.password = string(p)
	}
	if f.password == "" {
		return fmt.Errorf("%w: no password: set $%s, pass --password-stdin, or save one with glucoshare login --save", errUsage, envPassword)
	}
	return nil
}

// who names the account for messages.
func (f *clientFlags) who() string {
	if f.username != "" {
		return f.username
	}
	return f.accountID
}

// newClient checks the flags and returns a client for them.
func (f *clientFlags) newClient(env Env) (*share.Client, error) {
	if f.server == "" {
		return nil, fmt.Errorf("%w: --server is required: us, ous, jp or a base URL such as http://127.0.0.1:8080", errUsage)
	}
	if f.username == "" && f.accountID == "" {
		return nil, fmt.Errorf("%w: name the account with --username or --account-id", errUsage)
	}
	if err := f.resolvePassword(env); err != nil {
		return nil, err
	}
	opts := []share.Option{share.WithServer(f.server), share.WithTimeout(f.timeout), share.WithUserAgent("glucoshare-cli")}
	if f.accountID != "" {
		opts = append(opts, share.WithAccountID(f.accountID, f.password))
	} else {
		opts = append(opts, share.WithCredentials(f.username, f.password))
	}
	c, err := share.NewClient(opts...)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", errUsage, strings.TrimPrefix(err.Error(), "share: "))
	}
	return c, nil
}

// clientCommand parses a client command's flags (fs already has the
// command's own), checks that exactly nargs positional arguments remain
// (-1: any number), and returns the client and the arguments.
func clientCommand(fs *flag.FlagSet, f *clientFlags, args []string, env Env, nargs int) (*share.Client, []string, error) {
	f.register(fs)
	if err := f.parseClient(fs, interspersed(fs, args), env); err != nil {
		return nil, nil, err
	}
	rest := fs.Args()
	if nargs >= 0 && len(rest) != nargs {
		return nil, nil, fmt.Errorf("%w: want %d argument(s), got %d (see --help)", errUsage, nargs, len(rest))
	}
	c, err := f.newClient(env)
	return c, rest, err
}

// interspersed moves positional arguments behind the flags, so that
// "followers pause Mom --server …" parses like "followers pause --server … Mom".
func interspersed(fs *flag.FlagSet, args []string) []string {
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			name := strings.TrimLeft(a, "-")
			if strings.Contains(name, "=") {
				continue
			}
			if fl := fs.Lookup(name); fl != nil && !isBoolFlag(fl) && i+1 < len(args) {
				flags = append(flags, args[i+1])
				i++
			}
		default:
			pos = append(pos, a)
		}
	}
	return append(append(flags, "--"), pos...)
}

func isBoolFlag(fl *flag.Flag) bool {
	b, ok := fl.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// describeClientError turns a client error into a sentence for people; the
// error chain stays intact for errors.Is.
func describeClientError(err error) error {
	var ce *share.CallError
	var ne net.Error
	switch {
	case err == nil:
		return nil
	case errors.Is(err, share.ErrMaxAttempts):
		wait, _ := share.RetryAfter(err)
		return &describedError{fmt.Sprintf("too many failed logins; try again in %s", wait.Round(time.Second)), err}
	case errors.Is(err, share.ErrAccountPasswordInvalid):
		return &describedError{"login failed: wrong account name or password", err}
	case errors.Is(err, share.ErrInvalidID):
		return &describedError{"login failed: " + strings.TrimPrefix(err.Error(), "share: "), err}
	case errors.As(err, &ce) && ce.Err != nil:
		return &describedError{string(ce.Err.Code) + ": " + ce.Err.Message, err}
	case errors.As(err, &ce):
		return &describedError{strings.TrimPrefix(err.Error(), "share: "), err}
	case errors.As(err, &ne):
		return &describedError{"cannot reach the server: " + strings.TrimPrefix(err.Error(), "share: "), err}
	}
	return err
}

// describedError replaces an error's text and keeps its chain.
type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return e.msg }
func (e *describedError) Unwrap() error { return e.err }

// output knows where and how to print.
type output struct {
	w      io.Writer
	color  bool // ANSI colours: only on a terminal, and not with $NO_COLOR
	format string
	units  glucose.Units
}

func newOutput(env Env, format string, units glucose.Units) *output {
	return &output{w: env.Stdout, color: isTerminal(env.Stdout) && env.Getenv("NO_COLOR") == "" && env.Getenv("TERM") != "dumb",
		format: format, units: units}
}

// isTerminal reports whether w is a terminal.
func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// checkFormat validates --format against the allowed values.
func checkFormat(format string, allowed ...string) error {
	for _, a := range allowed {
		if format == a {
			return nil
		}
	}
	return fmt.Errorf("%w: --format must be %s", errUsage, strings.Join(allowed, ", "))
}

// checkUnits validates --units.
func checkUnits(units string) (glucose.Units, error) {
	u, err := glucose.ParseUnits(units)
	if err != nil || u == glucose.UnitsUnset {
		return "", fmt.Errorf("%w: --units must be mg/dL or mmol/L", errUsage)
	}
	return u, nil
}

// value formats a glucose value in the output's units as the dashboard
// does (glucose.Units, Nightscout's factor 18): LOW and HIGH for the
// markers 39 and 401. share.Reading.MmolL keeps pydexcom's factor for
// library users who compare with pydexcom.
func (o *output) value(v int) string { return o.units.FormatReading(v) }

// paint colours s by the glucose value v when colours are on: red below
// 70, yellow above 180, green between.
func (o *output) paint(v int, s string) string {
	if !o.color {
		return s
	}
	code := "32" // green
	switch {
	case v < 55:
		code = "1;31" // bold red: urgent low
	case v < 70:
		code = "31"
	case v > 180:
		code = "33"
	}
	return "\x1b[" + code + "m" + s + "\x1b[0m"
}

// bold makes s bold when colours are on.
func (o *output) bold(s string) string {
	if !o.color {
		return s
	}
	return "\x1b[1m" + s + "\x1b[0m"
}

// readingOut is a reading in --format json and in the csv/json files
// upload reads.
type readingOut struct {
	Time       string `json:"time"`  // RFC 3339 in the reading's own UTC offset
	Value      int    `json:"value"` // mg/dL; 39 means LOW, 401 HIGH
	Trend      string `json:"trend"`
	MinutesAgo *int   `json:"minutesAgo,omitempty"`
}

func toJSON(r share.Reading) readingOut {
	return readingOut{Time: r.LocalTime().Format(time.RFC3339), Value: r.Value, Trend: r.Trend.String()}
}

// writeJSON writes v indented, as every --format json does.
func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

// readingTimeLayout is how tables show a reading's time: in its own UTC
// offset, the wall-clock time the uploader had.
const readingTimeLayout = "2006-01-02 15:04:05 -0700"

// readingLine formats one reading for tables and watch: time, value,
// arrow and trend name.
func (o *output) readingLine(r share.Reading) string {
	arrow := r.Trend.Arrow()
	if arrow == "" {
		arrow = " "
	}
	return fmt.Sprintf("%s  %s  %-2s %s", r.LocalTime().Format(readingTimeLayout),
		o.paint(r.Value, fmt.Sprintf("%6s", o.value(r.Value))), arrow, r.Trend)
}

// writeReadings prints readings as a table, JSON or CSV.
func (o *output) writeReadings(rs []share.Reading) error {
	switch o.format {
	case "json":
		items := make([]readingOut, len(rs))
		for i, r := range rs {
			items[i] = toJSON(r)
		}
		return writeJSON(o.w, items)
	case "csv":
		fmt.Fprintln(o.w, "time,value,trend")
		for _, r := range rs {
			fmt.Fprintf(o.w, "%s,%d,%s\n", r.LocalTime().Format(time.RFC3339), r.Value, r.Trend)
		}
		return nil
	}
	fmt.Fprintln(o.w, o.bold(fmt.Sprintf("%-25s  %6s  %s", "TIME", unitHeader(o.units), "TREND")))
	for _, r := range rs {
		fmt.Fprintln(o.w, o.readingLine(r))
	}
	return nil
}

// unitHeader is the value column's heading.
func unitHeader(units glucose.Units) string {
	if units.Mmol() {
		return "MMOL/L"
	}
	return "MG/DL"
}

// ago says how long ago t was, for people.
func ago(t, now time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return fmt.Sprintf("%d min ago", int(d/time.Minute))
	case d < 48*time.Hour:
		return fmt.Sprintf("%d h %d min ago", int(d/time.Hour), int(d%time.Hour/time.Minute))
	}
	return fmt.Sprintf("%d days ago", int(d/(24*time.Hour)))
}

// dateTime formats a DateTime for tables, in UTC.
func dateTime(d share.DateTime) string { return d.Time().Format("2006-01-02 15:04 UTC") }

// withSignals returns ctx, also cancelled on SIGINT and SIGTERM, for the
// long-running commands (watch, upload).
func withSignals(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// jsonLine encodes v on one line, for streams of JSON objects.
func jsonLine(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	return append(b, '\n'), err
}

// table prints rows under a bold header, columns aligned on their visible
// width (colour codes take none) and separated by two spaces.
func (o *output) table(header []string, rows [][]string) error {
	widths := make([]int, len(header))
	for _, row := range append([][]string{header}, rows...) {
		for i, cell := range row {
			widths[i] = max(widths[i], visibleWidth(cell))
		}
	}
	var b strings.Builder
	for r, row := range append([][]string{header}, rows...) {
		var line strings.Builder
		for i, cell := range row {
			if i > 0 {
				line.WriteString("  ")
			}
			line.WriteString(cell)
			if i < len(row)-1 {
				line.WriteString(strings.Repeat(" ", widths[i]-visibleWidth(cell)))
			}
		}
		text := strings.TrimRight(line.String(), " ")
		if r == 0 {
			text = o.bold(text)
		}
		b.WriteString(text + "\n")
	}
	_, err := io.WriteString(o.w, b.String())
	return err
}

// visibleWidth counts the runes of s outside ANSI colour codes.
func visibleWidth(s string) int {
	n := 0
	for i := 0; i < len(s); {
		if s[i] == 0x1b {
			if j := strings.IndexByte(s[i:], 'm'); j >= 0 {
				i += j + 1
				continue
			}
		}
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
		n++
	}
	return n
}
