package cli

// glucoshare upload: readings from files to a Share server, in batches,
// safe to run again (the server keeps the first copy of each reading and
// skips the rest silently, docs/protocol.md, "Publisher: glucose").

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/share"
)

const uploadUsage = `Usage: glucoshare upload [flags] FILE...

Uploads glucose readings from files: a Dexcom Clarity CSV export (EGV rows;
Low and High become 39 and 401; trends come from the rate of change), the csv
or json output of glucoshare readings, or a JSON array of Share readings. FILE
- reads standard input. Readings are sent oldest first in batches; running the
same upload again is safe, because the server keeps each reading once.

Times without a UTC offset (Clarity's) are read in --tz. Uploading needs a
receiver serial: the account's own (--serial), or the shared SM00000000. When
the monitoring session is off, upload starts it; when the account monitors
another serial, upload stops unless --replace-receiver is given.

A progress bar is shown on a terminal, plain progress lines otherwise.
` + clientFlagsHelp

// uploadFlags configure upload.
type uploadFlags struct {
	serial    string
	batch     int
	tz        string
	format    string
	replace   bool
	progress  string
	loc       *time.Location
	readStdin bool
}

func runUpload(ctx context.Context, args []string, env Env) error {
	var f clientFlags
	var uf uploadFlags
	fs := flagSet("upload", uploadUsage, env)
	fs.StringVar(&uf.serial, "serial", "SM00000000", "receiver or transmitter serial number to upload as")
	fs.IntVar(&uf.batch, "batch-size", 1000, "readings per request (1 to 10000)")
	fs.StringVar(&uf.tz, "tz", "Local", "time zone of times without an offset: Local, UTC, an IANA name or ±hh:mm")
	fs.StringVar(&uf.format, "format", "auto", "input format: auto, clarity, csv or json")
	fs.BoolVar(&uf.replace, "replace-receiver", false, "assign --serial to the account even if it monitors another serial")
	fs.StringVar(&uf.progress, "progress", "auto", "progress display: auto, bar, lines or none")
	c, files, err := clientCommand(fs, &f, args, env, -1)
	if err != nil {
		return err
	}
	if err := uf.check(files, f.pwStdin); err != nil {
		return err
	}
	readings, err := readUploadFiles(files, uf, env)
	if err != nil {
		return err
	}
	ctx, stop := withSignals(ctx)
	defer stop()
	return upload(ctx, c, readings, len(files), uf, env)
}

// check validates the flags.
func (uf *uploadFlags) check(files []string, pwStdin bool) error {
	if len(files) == 0 {
		return fmt.Errorf("%w: name at least one file (- for standard input)", errUsage)
	}
	if uf.batch < 1 || uf.batch > share.MaxEGVsPerPost {
		return fmt.Errorf("%w: --batch-size must be 1 to %d", errUsage, share.MaxEGVsPerPost)
	}
	if err := checkFormat(uf.format, "auto", "clarity", "csv", "json"); err != nil {
		return err
	}
	if err := checkFormat(uf.progress, "auto", "bar", "lines", "none"); err != nil {
		return fmt.Errorf("%w (--progress)", err)
	}
	if _, err := share.NormalizeSerial(uf.serial); err != nil {
		return fmt.Errorf("%w: --serial: %v", errUsage, err)
	}
	loc, err := parseZone(uf.tz)
	if err != nil {
		return fmt.Errorf("%w: --tz: %v", errUsage, err)
	}
	uf.loc = loc
	uf.readStdin = slices.Contains(files, "-")
	if uf.readStdin && pwStdin {
		return fmt.Errorf("%w: standard input cannot carry both the password and a file", errUsage)
	}
	return nil
}

// parseZone reads Local, UTC, an IANA zone name or a fixed ±hh:mm offset.
func parseZone(s string) (*time.Location, error) {
	if len(s) > 0 && (s[0] == '+' || s[0] == '-') {
		t, err := time.Parse("-07:00", s)
		if err != nil {
			if t, err = time.Parse("-0700", s); err != nil {
				return nil, fmt.Errorf("%q is not an offset like +02:00", s)
			}
		}
		_, off := t.Zone()
		return time.FixedZone(s, off), nil
	}
	return time.LoadLocation(s)
}

// readUploadFiles reads every file, then keeps the first reading of each
// instant and sorts them oldest first.
func readUploadFiles(files []string, uf uploadFlags, env Env) ([]share.Reading, error) {
	var all []share.Reading
	for _, name := range files {
		rs, err := readUploadFile(name, uf, env)
		if err != nil {
			return nil, err
		}
		all = append(all, rs...)
	}
	seen := make(map[int64]bool, len(all))
	out := all[:0]
	for _, r := range all {
		if !seen[r.ST] {
			seen[r.ST] = true
			out = append(out, r)
		}
	}
	slices.SortStableFunc(out, func(a, b share.Reading) int { return int(min(max(a.ST-b.ST, -1), 1)) })
	return out, nil
}

func readUploadFile(name string, uf uploadFlags, env Env) ([]share.Reading, error) {
	var data []byte
	var err error
	if name == "-" {
		data, err = io.ReadAll(env.Stdin)
	} else {
		data, err = os.ReadFile(name)
	}
	if err != nil {
		return nil, err
	}
	rs, err := parseReadings(data, uf.format, uf.loc)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rs, nil
}

// upload sends readings in batches and reports progress.
func upload(ctx context.Context, c *share.Client, readings []share.Reading, files int, uf uploadFlags, env Env) error {
	p := newProgress(env.Stderr, uf.progress, len(readings))
	future := 0
	sent := 0
	for start := 0; start < len(readings); start += uf.batch {
		batch := readings[start:min(start+uf.batch, len(readings))]
		n, err := postBatch(ctx, c, batch, uf)
		if err != nil {
			p.abort()
			return fmt.Errorf("after %d of %d readings: %w", sent, len(readings), err)
		}
		future += n
		sent += len(batch)
		p.update(sent)
	}
	p.done()
	batches := (len(readings) + uf.batch - 1) / uf.batch
	fmt.Fprintf(env.Stdout, "Uploaded %d readings from %d file(s) in %d request(s) to %s; readings the server already had were skipped.\n",
		len(readings), files, batches, c.BaseURL())
	if future > 0 {
		return fmt.Errorf("the server discarded %d reading(s) more than 5 minutes ahead of its clock", future)
	}
	return nil
}

// postBatch posts one batch, starting the monitoring session (and, with
// --replace-receiver, assigning the serial) when the server asks for it.
// It returns how many readings the server discarded as future ones.
func postBatch(ctx context.Context, c *share.Client, batch []share.Reading, uf uploadFlags) (int, error) {
	err := c.PostReceiverEgvRecords(ctx, uf.serial, batch)
	code := callCode(err)
	switch code {
	case share.CodeMonitoringSessionNotActive, share.CodeMonitoredReceiverSerialNumberDoesNotMatch:
		if err := startMonitoring(ctx, c, uf); err != nil {
			return 0, err
		}
		err = c.PostReceiverEgvRecords(ctx, uf.serial, batch)
		code = callCode(err)
	}
	if code == share.CodeFutureEgvPosted {
		return countFuture(batch), nil
	}
	return 0, describeClientError(err)
}

// startMonitoring turns monitoring on for the serial, assigning it first
// when the account has none, or when --replace-receiver allows it.
func startMonitoring(ctx context.Context, c *share.Client, uf uploadFlags) error {
	err := c.StartRemoteMonitoringSession(ctx, uf.serial)
	switch callCode(err) {
	case "":
		return nil
	case share.CodeMonitoredReceiverNotAssigned, share.CodeMonitoredReceiverSerialNumberDoesNotMatch:
		if !uf.replace {
			return fmt.Errorf("the account monitors another receiver than %s: pass --serial with its serial number, or --replace-receiver to switch to %s: %w",
				uf.serial, uf.serial, describeClientError(err))
		}
		if _, err := c.ReplacePublisherAccountMonitoredReceiver(ctx, uf.serial); err != nil {
			return describeClientError(err)
		}
		return describeClientError(c.StartRemoteMonitoringSession(ctx, uf.serial))
	}
	return describeClientError(err)
}

// callCode returns the protocol code of a client error, "" for none.
func callCode(err error) share.Code {
	var ce *share.CallError
	if errors.As(err, &ce) {
		return ce.Code()
	}
	return ""
}

// countFuture counts readings the server discards as future (docs/protocol.md, "Publisher: glucose"):
// later than its clock plus 5 minutes, as far as ours tells.
func countFuture(batch []share.Reading) int {
	limit := time.Now().Add(5 * time.Minute).UnixMilli()
	n := 0
	for _, r := range batch {
		if r.ST > limit {
			n++
		}
	}
	return max(n, 1)
}

// progress shows how far an upload got: a redrawn bar on a terminal,
// one line per batch otherwise.
type progress struct {
	w     io.Writer
	mode  string // bar, lines or none
	total int
	drawn bool
}

func newProgress(w io.Writer, mode string, total int) *progress {
	if mode == "auto" {
		mode = "lines"
		if isTerminal(w) {
			mode = "bar"
		}
	}
	return &progress{w: w, mode: mode, total: total}
}

func (p *progress) update(done int) {
	switch p.mode {
	case "bar":
		fmt.Fprintf(p.w, "\r%s", progressBar(done, p.total, 30))
		p.drawn = true
	case "lines":
		fmt.Fprintf(p.w, "sent %d of %d readings\n", done, p.total)
	}
}

// done ends the bar's line.
func (p *progress) done() {
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

func (p *progress) abort() { p.done() }

// progressBar draws [#####.....]  50%  1000/2000 readings.
func progressBar(done, total, width int) string {
	if total <= 0 {
		total, done = 1, 1
	}
	filled := done * width / total
	return fmt.Sprintf("[%s%s] %3d%%  %d/%d readings", strings.Repeat("#", filled), strings.Repeat(".", width-filled), done*100/total, done, total)
}
