package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Operator commands for mirror links (docs/mirror.md): an account that
// copies its readings from an account on another Share server.

func accountLink(ctx context.Context, args []string, env Env) error {
	var (
		key                   secretKeyFlag
		server, username      string
		pwStdin, allowPrivate bool
	)
	return withAccountConfig(ctx, "account link", `Usage: glucoshare account link NAME|ID --server us|ous|jp|URL --username U --password-stdin

Links the account to an account on a Share server — Dexcom's hosted service in
the US (us), outside the US (ous) or in Japan (jp), or any other Share server
by its URL — whose readings the running server then copies into it
(docs/mirror.md). Linking again replaces the link and its password.

The password is read from standard input and kept encrypted under the
server's --secret-key (prefer $GLUCOSHARE_SECRET_KEY), which this command
needs too; it is never shown again. A wrong password stops the link at the
first refused login, so as not to lock the Share account: link it again.
`, args, env, func(fs flagSetter) {
		fs.Var(&key, "secret-key", "the server's --secret-key (prefer $GLUCOSHARE_SECRET_KEY), which encrypts the password")
		fs.StringVar(&server, "server", "", "us, ous, jp, or the URL of a Share server (required)")
		fs.StringVar(&username, "username", "", "the Share account's user name, e-mail address or phone number (required)")
		fs.BoolVar(&pwStdin, "password-stdin", false, "read the Share account's password from standard input")
		fs.BoolVar(&allowPrivate, "allow-private", false,
			"allow a URL on a loopback or private address (the server must run with --webhook-allow-private to reach it)")
	}, func() core.Config {
		return core.Config{SecretKey: key.key, AllowPrivateAddresses: allowPrivate}
	}, func(svc *core.Service, a *glucose.Account) error {
		if server == "" || username == "" {
			return fmt.Errorf("%w: --server and --username are required", errUsage)
		}
		password, err := readPassword(env, pwStdin)
		if err != nil {
			return err
		}
		if _, err := svc.LinkMirror(ctx, a.ID, core.MirrorLinkRequest{Server: server, Username: username, Password: password},
			time.Now().UTC()); err != nil {
			return describe(err)
		}
		fmt.Fprintf(env.Stdout, "%s linked to %s on %s; the server reads the last 24 hours at its next poll\n",
			a.Name, username, server)
		return nil
	})
}

func accountUnlink(ctx context.Context, args []string, env Env) error {
	return withAccount(ctx, "account unlink", `Usage: glucoshare account unlink NAME|ID

Removes the account's mirror link and erases the Share account's password
and session from the database (docs/mirror.md). Mirrored readings stay.
`, args, env, nil, func(svc *core.Service, a *glucose.Account) error {
		err := svc.UnlinkMirror(ctx, a.ID)
		if errors.Is(err, glucose.ErrNotFound) {
			return fmt.Errorf("%s has no mirror link", a.Name)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s unlinked; its Share password is erased\n", a.Name)
		return nil
	})
}

func accountLinkStatus(ctx context.Context, args []string, env Env) error {
	return withAccount(ctx, "account link-status", `Usage: glucoshare account link-status NAME|ID

Shows the account's mirror link: the Share server and user name, whether it
is polled or stopped, the last successful poll, the newest mirrored reading,
the next poll and the last error. The password is never shown.
`, args, env, nil, func(svc *core.Service, a *glucose.Account) error {
		l, err := svc.MirrorLink(ctx, a.ID)
		if errors.Is(err, glucose.ErrNotFound) {
			return fmt.Errorf("%s has no mirror link", a.Name)
		}
		if err != nil {
			return err
		}
		writeLinkStatus(env.Stdout, l)
		return nil
	})
}

// writeLinkStatus prints a link, one field a line.
func writeLinkStatus(w io.Writer, l *glucose.MirrorLink) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	state := "polling"
	if l.Broken {
		state = "stopped: the server refused the user name or password; link again"
	}
	fmt.Fprintf(tw, "server\t%s\n", l.Server)
	fmt.Fprintf(tw, "username\t%s\n", l.Username)
	fmt.Fprintf(tw, "state\t%s\n", state)
	fmt.Fprintf(tw, "linked\t%s\n", when(l.Created))
	fmt.Fprintf(tw, "last success\t%s\n", when(l.LastSuccess))
	fmt.Fprintf(tw, "last reading\t%s\n", when(l.LastReading))
	if l.Broken {
		fmt.Fprintf(tw, "next poll\tnone\n")
	} else {
		fmt.Fprintf(tw, "next poll\t%s\n", when(l.NextPoll))
	}
	if l.LastError != "" {
		fmt.Fprintf(tw, "last error\t%s (%s)\n", l.LastError, when(l.LastErrorAt))
	}
	tw.Flush()
}

// when writes a time for people, or "never" for the zero time.
func when(t time.Time) string {
	if t.IsZero() {
		return "never"
	}
	return t.UTC().Format(time.RFC3339)
}
