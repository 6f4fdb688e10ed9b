package cli

// The publisher's own commands: login, latest, readings and watch.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

const loginUsage = `Usage: glucoshare login --server S (--username U | --account-id ID) [--save] [flags]

Logs in to check the credentials and prints the account id. With --save, it
writes the server, the account and the password to the config file (mode
0600, created if needed) so that later commands need no flags.
` + clientFlagsHelp

func runLogin(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var save bool
	var format string
	fs := flagSet("login", loginUsage, env)
	fs.BoolVar(&save, "save", false, "save server, account and password to the config file")
	fs.StringVar(&format, "format", "text", "output format: text or json")
	c, _, err := clientCommand(fs, &f, args, env, 0)
	if err != nil {
		return err
	}
	if err := checkFormat(format, "text", "json"); err != nil {
		return err
	}
	if err := c.Login(ctx); err != nil {
		return describeClientError(err)
	}
	id := c.AccountID()
	var saved string
	if save {
		path, _ := f.configPath(env)
		if path == "" {
			return fmt.Errorf("%w: no config file: set --config, $XDG_CONFIG_HOME or $HOME", errUsage)
		}
		cfg := clientConfig{server: f.server, username: f.username, accountID: id, password: f.password}
		if err := writeClientConfig(path, cfg); err != nil {
			return fmt.Errorf("saving %s: %w", path, err)
		}
		saved = path
	}
	if format == "json" {
		return writeJSON(env.Stdout, struct {
			Server    string `json:"server"`
			Username  string `json:"username,omitempty"`
			AccountID string `json:"accountId"`
			Config    string `json:"config,omitempty"`
		}{c.BaseURL(), f.username, id, saved})
	}
	fmt.Fprintf(env.Stdout, "Logged in to %s as %s (account %s).\n", c.BaseURL(), f.who(), id)
	if saved != "" {
		fmt.Fprintf(env.Stdout, "Saved the server, account and password to %s (mode 0600).\n", saved)
	}
	return nil
}

const latestUsage = `Usage: glucoshare latest [--minutes N] [--units mg/dL|mmol/L] [--format text|json] [flags]

Prints the newest reading of the account: value, trend arrow and how long ago
it was taken. Fails when there is none in the last --minutes.
` + clientFlagsHelp

func runLatest(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var minutes int
	var format, units string
	fs := flagSet("latest", latestUsage, env)
	fs.IntVar(&minutes, "minutes", 1440, "look back this many minutes")
	fs.StringVar(&format, "format", "text", "output format: text or json")
	fs.StringVar(&units, "units", "mg/dL", "units: mg/dL or mmol/L")
	c, _, err := clientCommand(fs, &f, args, env, 0)
	if err != nil {
		return err
	}
	o, err := readOutput(env, format, units, minutes, 1, "text", "json")
	if err != nil {
		return err
	}
	rs, err := c.ReadPublisherLatestGlucoseValues(ctx, minutes, 1)
	if err != nil {
		return describeClientError(err)
	}
	if len(rs) == 0 {
		return fmt.Errorf("no reading in the last %d minutes", minutes)
	}
	return o.writeLatest(rs[0], time.Now())
}

// readOutput checks the flags shared by the read commands.
func readOutput(env Env, format, units string, minutes, maxCount int, formats ...string) (*output, error) {
	if err := checkFormat(format, formats...); err != nil {
		return nil, err
	}
	u, err := checkUnits(units)
	if err != nil {
		return nil, err
	}
	if minutes < 1 || maxCount < 1 {
		return nil, fmt.Errorf("%w: --minutes and --max-count must be at least 1", errUsage)
	}
	return newOutput(env, format, u), nil
}

// writeLatest prints one reading with its age: "224 mg/dL → Flat, 3 min ago".
func (o *output) writeLatest(r share.Reading, now time.Time) error {
	if o.format == "json" {
		j := toJSON(r)
		m := int(now.Sub(r.Time()) / time.Minute)
		j.MinutesAgo = &m
		return writeJSON(o.w, j)
	}
	parts := []string{o.paint(r.Value, o.bold(o.value(r.Value))+" "+o.units.String())}
	if a := r.Trend.Arrow(); a != "" {
		parts = append(parts, a)
	}
	fmt.Fprintf(o.w, "%s %s, %s\n", strings.Join(parts, " "), r.Trend, ago(r.Time(), now))
	return nil
}

const readingsUsage = `Usage: glucoshare readings [--minutes N] [--max-count N] [--format table|json|csv] [flags]

Prints the account's readings of the last --minutes, newest first, at most
--max-count. Times are the readings' own local times. The csv and json
output can be uploaded again with glucoshare upload.
` + clientFlagsHelp

func runReadings(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	fs := flagSet("readings", readingsUsage, env)
	rf := readFlags(fs)
	c, _, err := clientCommand(fs, &f, args, env, 0)
	if err != nil {
		return err
	}
	o, err := readOutput(env, rf.format, rf.units, rf.minutes, rf.maxCount, "table", "json", "csv")
	if err != nil {
		return err
	}
	rs, err := c.ReadPublisherLatestGlucoseValues(ctx, rf.minutes, rf.maxCount)
	if err != nil {
		return describeClientError(err)
	}
	if len(rs) == 0 && rf.format == "table" {
		fmt.Fprintf(env.Stderr, "No readings in the last %d minutes.\n", rf.minutes)
	}
	return o.writeReadings(rs)
}

// readingFlags are the flags of commands that print readings.
type readingFlags struct {
	minutes, maxCount int
	format, units     string
}

func readFlags(fs *flag.FlagSet) *readingFlags {
	var rf readingFlags
	fs.IntVar(&rf.minutes, "minutes", 1440, "look back this many minutes (glucoshare serves up to 10080)")
	fs.IntVar(&rf.maxCount, "max-count", 288, "at most this many readings (glucoshare serves up to 2016)")
	fs.StringVar(&rf.format, "format", "table", "output format: table, json or csv")
	fs.StringVar(&rf.units, "units", "mg/dL", "units: mg/dL or mmol/L")
	return &rf
}

const watchUsage = `Usage: glucoshare watch [--interval D] [--count N] [--max-errors N] [--format text|json] [flags]

Prints the newest reading, then every new reading as it arrives, until
interrupted. Readings come every 5 minutes, so by default it polls 5 minutes
and 10 seconds after the newest reading, then every 30 seconds while the
next one is late. --format json prints one JSON object per line.

A failed poll is reported on standard error and retried; after --max-errors
failures in a row, or a failed login, watch exits with status 1.
` + clientFlagsHelp

// watchFlags configure watch.
type watchFlags struct {
	interval  time.Duration // 0 = follow the readings' cadence
	count     int           // stop after this many readings; 0 = never
	maxErrors int
	format    string
	units     string
}

func runWatch(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var wf watchFlags
	fs := flagSet("watch", watchUsage, env)
	fs.DurationVar(&wf.interval, "interval", 0, "poll at this fixed interval instead of following the readings")
	fs.IntVar(&wf.count, "count", 0, "exit after printing this many readings; 0 = run until interrupted")
	fs.IntVar(&wf.maxErrors, "max-errors", 5, "give up after this many failed polls in a row")
	fs.StringVar(&wf.format, "format", "text", "output format: text, or json (one object per line)")
	fs.StringVar(&wf.units, "units", "mg/dL", "units: mg/dL or mmol/L")
	c, _, err := clientCommand(fs, &f, args, env, 0)
	if err != nil {
		return err
	}
	o, err := readOutput(env, wf.format, wf.units, 1, 1, "text", "json")
	if err != nil {
		return err
	}
	if wf.maxErrors < 1 || wf.interval < 0 || wf.count < 0 {
		return fmt.Errorf("%w: --max-errors must be at least 1; --interval and --count not negative", errUsage)
	}
	ctx, stop := withSignals(ctx)
	defer stop()
	return watch(ctx, c, o, wf, env)
}

// Cadence of watch (docs/protocol.md: a reading every 5 minutes).
const (
	readingEvery = 5 * time.Minute
	uploadLag    = 10 * time.Second // readings reach the server a little after ST
	lateEvery    = 30 * time.Second // poll this often while a reading is overdue
)

// watch polls until ctx ends, the count is reached or errors persist.
func watch(ctx context.Context, c *share.Client, o *output, wf watchFlags, env Env) error {
	var last share.Reading // newest printed; ST 0 before the first
	printed, failures := 0, 0
	for {
		rs, err := pollNew(ctx, c, last.ST)
		switch {
		case ctx.Err() != nil:
			return nil // interrupted: a normal end
		case err != nil:
			failures++
			if fatalWatchError(err) || failures >= wf.maxErrors {
				return fmt.Errorf("giving up after %d failed poll(s): %w", failures, describeClientError(err))
			}
			fmt.Fprintf(env.Stderr, "glucoshare watch: %v (failure %d of %d; retrying)\n", describeClientError(err), failures, wf.maxErrors)
		default:
			failures = 0
			for i := len(rs) - 1; i >= 0; i-- { // oldest first
				if err := o.writeWatched(rs[i]); err != nil {
					return err
				}
				last = rs[i]
				if printed++; wf.count > 0 && printed >= wf.count {
					return nil
				}
			}
		}
		wait := nextPoll(wf.interval, last, failures, time.Now())
		if err := sleepCtx(ctx, wait); err != nil {
			return nil
		}
	}
}

// pollNew returns the readings newer than after (milliseconds; 0 = just
// the newest one), newest first.
func pollNew(ctx context.Context, c *share.Client, after int64) ([]share.Reading, error) {
	if after == 0 {
		return c.ReadPublisherLatestGlucoseValues(ctx, 1440, 1)
	}
	minutes := int(time.Since(time.UnixMilli(after))/time.Minute) + 2
	rs, err := c.ReadPublisherLatestGlucoseValues(ctx, min(max(minutes, 10), 1440), 288)
	if err != nil {
		return nil, err
	}
	n := 0
	for n < len(rs) && rs[n].ST > after {
		n++
	}
	return rs[:n], nil
}

// fatalWatchError reports errors that retrying cannot fix.
func fatalWatchError(err error) bool {
	return errors.Is(err, share.ErrAccountPasswordInvalid) || errors.Is(err, share.ErrMaxAttempts) ||
		errors.Is(err, share.ErrInvalidID) || errors.Is(err, share.ErrNoCredentials)
}

// nextPoll says how long to wait before the next poll: the fixed interval
// if one is set; after failures a growing pause; otherwise until the next
// reading is due (5 minutes after the newest, plus the upload lag), or 30
// seconds while it is late.
func nextPoll(interval time.Duration, last share.Reading, failures int, now time.Time) time.Duration {
	switch {
	case interval > 0:
		return interval
	case failures > 0:
		return min(time.Duration(failures)*lateEvery, readingEvery)
	case last.ST == 0:
		return lateEvery
	}
	due := last.Time().Add(readingEvery + uploadLag).Sub(now)
	if due < time.Second {
		return lateEvery
	}
	return min(due, readingEvery+uploadLag)
}

// writeWatched prints a reading as watch does: a table row, or a JSON line.
func (o *output) writeWatched(r share.Reading) error {
	if o.format == "json" {
		b, err := jsonLine(toJSON(r))
		if err != nil {
			return err
		}
		_, err = o.w.Write(b)
		return err
	}
	_, err := fmt.Fprintln(o.w, o.readingLine(r))
	return err
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
