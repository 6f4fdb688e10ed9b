package cli

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// exportFormat names the JSON export's layout, for readers of old files.
const exportFormat = "glucoshare-account-export/1"

func accountExport(ctx context.Context, args []string, env Env) error {
	var format, out string
	var force bool
	return withAccount(ctx, "account export", `Usage: glucoshare account export NAME|ID [--format json|csv] --out FILE|-

Writes everything the account holds, for the person it belongs to.

  json  one document: the profile (without the password), image, named values,
        runtime info, contacts, the subscriptions it publishes and those it
        follows (without invitation ids, which are bearer tokens), its
        Nightscout site, tokens (without the tokens) and documents
        (treatments, device status, profiles, …), and every reading, oldest
        first
  csv   the readings only, oldest first, one per line, for spreadsheets

--out - writes to standard output. A file is created with mode 0600 and never
overwritten unless --force: it holds health data.
`, args, env, func(fs flagSetter) {
		fs.StringVar(&format, "format", "json", "json or csv")
		fs.StringVar(&out, "out", "", "file to write, or - for standard output (required)")
		fs.BoolVar(&force, "force", false, "overwrite an existing file")
	}, func(svc *core.Service, a *glucose.Account) error {
		if format != "json" && format != "csv" {
			return fmt.Errorf("%w: --format must be json or csv", errUsage)
		}
		if out == "" {
			return fmt.Errorf("%w: --out FILE (or - for standard output) is required", errUsage)
		}
		write := func(w io.Writer) error {
			if format == "csv" {
				return writeReadingsCSV(ctx, w, svc, a.ID)
			}
			return writeExportJSON(ctx, w, svc, a.ID, time.Now().UTC())
		}
		if out == "-" {
			return write(env.Stdout)
		}
		if err := writeNewFile(out, force, write); err != nil {
			return err
		}
		fmt.Fprintf(env.Stderr, "exported %s to %s\n", a.Name, out)
		return nil
	})
}

// writeNewFile writes a file through write, atomically, with mode 0600.
func writeNewFile(name string, force bool, write func(io.Writer) error) error {
	if !force {
		if _, err := os.Stat(name); err == nil {
			return fmt.Errorf("%s exists; use --force to overwrite it", name)
		}
	}
	f, err := os.CreateTemp(filepath.Dir(name), "."+filepath.Base(name)+".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // fails harmlessly after the rename
	bw := bufio.NewWriter(f)
	err = write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if err = errors.Join(err, f.Close()); err != nil {
		return err
	}
	return os.Rename(f.Name(), name)
}

var readingsHeader = []string{"system_time", "display_time", "value_mgdl", "trend", "trend_code", "st_ms", "received_at", "source"}

func writeReadingsCSV(ctx context.Context, w io.Writer, svc *core.Service, accountID string) error {
	cw := csv.NewWriter(w)
	cw.Write(readingsHeader)
	err := svc.EachReading(ctx, accountID, func(r glucose.Reading, mirrored bool) error {
		e := exportReading(r, mirrored)
		return cw.Write([]string{e.SystemTime, e.DisplayTime, strconv.Itoa(e.Value), e.Trend,
			strconv.Itoa(e.TrendCode), strconv.FormatInt(e.ST, 10), e.ReceivedAt, e.Source})
	})
	if err != nil {
		return err
	}
	cw.Flush()
	return cw.Error()
}

// readingJSON is one reading in the export: times as RFC 3339 (the display
// time in the reading's own UTC offset), the trend by name and number.
type readingJSON struct {
	SystemTime  string `json:"systemTime"`
	DisplayTime string `json:"displayTime"`
	Value       int    `json:"value"`
	Trend       string `json:"trend"`
	TrendCode   int    `json:"trendCode"`
	ST          int64  `json:"st"`
	ReceivedAt  string `json:"receivedAt"`
	// Source is how the reading arrived: exportUpload or exportMirror.
	Source string `json:"source"`
}

// A reading's source in the export, named as the Nightscout API's device
// names them (docs/mirror.md).
const (
	exportUpload = "upload"
	exportMirror = "share-mirror"
)

func exportReading(r glucose.Reading, mirrored bool) readingJSON {
	source := exportUpload
	if mirrored {
		source = exportMirror
	}
	st := glucose.FromMS(r.ST)
	zone := time.FixedZone("", r.Offset*60)
	return readingJSON{
		SystemTime:  st.Format(time.RFC3339),
		DisplayTime: st.In(zone).Format(time.RFC3339),
		Value:       r.Value,
		Trend:       r.Trend.String(),
		TrendCode:   int(r.Trend),
		ST:          r.ST,
		ReceivedAt:  glucose.FromMS(r.ReceivedAt).Format(time.RFC3339Nano),
		Source:      source,
	}
}

type accountJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	DisplayName string    `json:"displayName"`
	Email       string    `json:"email"`
	Disabled    bool      `json:"disabled"`
	Compat      string    `json:"compat"`
	Units       string    `json:"units"`
	CreatedAt   time.Time `json:"createdAt"`
	Serial      string    `json:"serial"`
	ReceiverID  string    `json:"receiverId"`
	Monitoring  bool      `json:"monitoring"`
}

type imageJSON struct {
	ContentType string `json:"contentType"`
	DeclaredAs  string `json:"declaredAs"`
	Data        string `json:"data"` // base64
}

type namedValueJSON struct {
	Partition string `json:"partition"`
	Name      string `json:"name"`
	Value     string `json:"value"`
}

type runtimeInfoJSON struct {
	Role      string          `json:"role"`
	Info      json.RawMessage `json:"info"`
	UpdatedAt time.Time       `json:"updatedAt"`
}

type contactJSON struct {
	ID        string     `json:"id"`
	Name      string     `json:"name"`
	Email     string     `json:"email"`
	CreatedAt time.Time  `json:"createdAt"`
	DeletedAt *time.Time `json:"deletedAt"`
}

type subscriptionJSON struct {
	ID             string              `json:"id"`
	ContactID      string              `json:"contactId"`
	PublisherID    string              `json:"publisherId"`
	SubscriberID   string              `json:"subscriberId"`
	State          int                 `json:"state"`
	StateName      string              `json:"stateName"`
	Permissions    int                 `json:"permissions"`
	DisplayName    string              `json:"displayName"`
	InviteSettings share.AlertSettings `json:"inviteSettings"`
	AlertSettings  share.AlertSettings `json:"alertSettings"`
	InviteExpires  time.Time           `json:"inviteExpires"`
	CreatedAt      time.Time           `json:"createdAt"`
	ModifiedAt     time.Time           `json:"modifiedAt"`
	AcceptedAt     *time.Time          `json:"acceptedAt"`
	ActiveSince    *time.Time          `json:"activeSince"`
}

// stateNames are the docs/protocol.md, "Follower state machine" state names, by number.
var stateNames = [...]string{"Unknown", "Created", "InviteWaiting", "InviteFailed", "InviteRejected",
	"InviteExpired", "Active", "PausedByPublisher", "PausedBySubscriber", "CanceledByPublisher",
	"CanceledBySubscriber", "CanceledByBoth", "AbandonedBySubscriber"}

func stateName(s glucose.State) string {
	if s < 0 || int(s) >= len(stateNames) {
		return strconv.Itoa(int(s))
	}
	return stateNames[s]
}

// timeOrNil is nil for the zero time, so that "never" reads as null.
func timeOrNil(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	return &t
}

// writeExportJSON writes the export as one JSON object whose last member,
// readings, is streamed a reading per line.
func writeExportJSON(ctx context.Context, w io.Writer, svc *core.Service, accountID string, now time.Time) error {
	e, err := svc.ExportAccount(ctx, accountID)
	if err != nil {
		return err
	}
	a := e.Account
	members := []struct {
		key   string
		value any
	}{
		{"format", exportFormat},
		{"exportedAt", now},
		{"account", accountJSON{a.ID, a.Name, a.DisplayName, a.Email, a.Disabled, a.Compat, string(a.Units), a.CreatedAt,
			a.Serial, a.ReceiverID, a.Monitoring}},
		{"image", imageOf(e.Image)},
		{"namedValues", namedValuesOf(e.NamedValues)},
		{"runtimeInfo", runtimeInfoOf(e.RuntimeInfo)},
		{"contacts", contactsOf(e.Contacts)},
		{"subscriptions", subscriptionsOf(e.Subscriptions)},
		{"following", subscriptionsOf(e.Following)},
		{"nightscoutSite", siteOf(e.NightscoutSite)},
		{"nightscoutTokens", tokensOf(e.NightscoutTokens)},
	}
	io.WriteString(w, "{\n")
	for _, m := range members {
		b, err := json.Marshal(m.value)
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%q: %s,\n", m.key, b)
	}
	if err := writeDocumentsJSON(ctx, w, svc, accountID); err != nil {
		return err
	}
	return writeArray(w, "readings", "}\n", func(emit func(any) error) error {
		return svc.EachReading(ctx, accountID, func(r glucose.Reading, mirrored bool) error {
			return emit(exportReading(r, mirrored))
		})
	})
}

// writeArray streams the member key as a JSON array, an element per line,
// from what each emits, and ends it with end.
func writeArray(w io.Writer, key, end string, each func(emit func(any) error) error) error {
	fmt.Fprintf(w, "%q: [", key)
	sep := "\n"
	err := each(func(v any) error {
		b, err := json.Marshal(v)
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(w, "%s%s", sep, b)
		sep = ",\n"
		return err
	})
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, "\n]"+end)
	return err
}

// documentJSON is one Nightscout document in the export: the document as
// the API shows it, and the server's fields beside it.
type documentJSON struct {
	Collection  string          `json:"collection"`
	ID          string          `json:"_id"`
	Identifier  string          `json:"identifier"`
	SrvCreated  int64           `json:"srvCreated"`
	SrvModified int64           `json:"srvModified"`
	Deleted     bool            `json:"deleted"`
	Document    json.RawMessage `json:"document"`
}

// writeDocumentsJSON streams the member "nightscoutDocuments", a document
// per line.
func writeDocumentsJSON(ctx context.Context, w io.Writer, svc *core.Service, accountID string) error {
	return writeArray(w, "nightscoutDocuments", ",\n", func(emit func(any) error) error {
		return svc.EachDocument(ctx, accountID, func(d glucose.Document) error {
			return emit(documentJSON{d.Collection, d.ID, d.Identifier, d.SrvCreated, d.SrvModified, d.Deleted, d.Body})
		})
	})
}

type siteJSON struct {
	Handle        string `json:"handle"`
	AnonymousRead bool   `json:"anonymousRead"`
}

func siteOf(s *glucose.NightscoutSite) *siteJSON {
	if s == nil {
		return nil
	}
	return &siteJSON{s.Handle, s.AnonymousRead}
}

type tokenJSON struct {
	ID             string    `json:"id"`
	Name           string    `json:"name"`
	Access         string    `json:"access"`
	SubscriptionID string    `json:"subscriptionId"`
	CreatedAt      time.Time `json:"createdAt"`
}

func tokensOf(ts []glucose.NightscoutToken) []tokenJSON {
	out := make([]tokenJSON, len(ts))
	for i, t := range ts {
		out[i] = tokenJSON{t.ID, t.Name, access(&t), t.SubscriptionID, t.CreatedAt}
	}
	return out
}

func imageOf(img *glucose.Image) *imageJSON {
	if img == nil {
		return nil
	}
	return &imageJSON{img.ContentType, img.DeclaredAs, base64.StdEncoding.EncodeToString(img.Data)}
}

func namedValuesOf(nvs []glucose.NamedValue) []namedValueJSON {
	out := make([]namedValueJSON, len(nvs))
	for i, nv := range nvs {
		out[i] = namedValueJSON(nv)
	}
	return out
}

func runtimeInfoOf(ris []glucose.RuntimeInfo) []runtimeInfoJSON {
	out := make([]runtimeInfoJSON, len(ris))
	for i, ri := range ris {
		info := json.RawMessage(ri.Info)
		if !json.Valid(info) {
			// Kept as text when the app sent something that is not JSON.
			info, _ = json.Marshal(ri.Info)
		}
		out[i] = runtimeInfoJSON{ri.Role, info, ri.UpdatedAt}
	}
	return out
}

func contactsOf(cs []glucose.Contact) []contactJSON {
	out := make([]contactJSON, len(cs))
	for i, c := range cs {
		out[i] = contactJSON{c.ID, c.Name, c.Email, c.CreatedAt, timeOrNil(c.DeletedAt)}
	}
	return out
}

func subscriptionsOf(subs []glucose.Subscription) []subscriptionJSON {
	out := make([]subscriptionJSON, len(subs))
	for i, s := range subs {
		out[i] = subscriptionJSON{
			ID: s.ID, ContactID: s.ContactID, PublisherID: s.PublisherID, SubscriberID: s.SubscriberID,
			State: int(s.State), StateName: stateName(s.State), Permissions: s.Permissions,
			DisplayName: s.DisplayName, InviteSettings: s.InviteSettings, AlertSettings: s.AlertSettings,
			InviteExpires: s.InviteExpires, CreatedAt: s.CreatedAt, ModifiedAt: s.ModifiedAt,
			AcceptedAt: timeOrNil(s.AcceptedAt), ActiveSince: timeOrNil(s.ActiveSince),
		}
	}
	return out
}

func accountDelete(ctx context.Context, args []string, env Env) error {
	var yes bool
	return withAccount(ctx, "account delete", `Usage: glucoshare account delete NAME|ID --yes

Deletes the account and everything it holds: profile, image, readings,
Nightscout documents and credentials, named values, sessions, its contacts and the subscriptions it publishes (with their
alarms). Subscriptions it follows stay for their publishers as
AbandonedBySubscriber (docs/protocol.md, "Follower state machine") with no follower named. There is no undo:
export first (glucoshare account export). Without --yes it only says what it
would delete.
`, args, env, func(fs flagSetter) {
		fs.BoolVar(&yes, "yes", false, "really delete")
	}, func(svc *core.Service, a *glucose.Account) error {
		f, err := svc.AccountFootprint(ctx, a.ID)
		if err != nil {
			return err
		}
		if !yes {
			fmt.Fprintf(env.Stdout, "would delete account %s (%s): %d readings, %d Nightscout documents, %d sessions, %d named values, "+
				"%d contacts, %d subscriptions it publishes; %d subscriptions it follows would be abandoned or lose their follower\n",
				a.Name, a.ID, f.Readings, f.Documents, f.Sessions, f.NamedValues, f.Contacts, f.Subscriptions, f.Following)
			return fmt.Errorf("%w: refusing to delete without --yes", errUsage)
		}
		abandoned, err := svc.DeleteAccount(ctx, a.ID, time.Now().UTC())
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "deleted account %s (%s): %d readings, %d Nightscout documents, %d contacts, %d subscriptions; %d followed subscriptions abandoned\n",
			a.Name, a.ID, f.Readings, f.Documents, f.Contacts, f.Subscriptions, abandoned)
		return nil
	})
}
