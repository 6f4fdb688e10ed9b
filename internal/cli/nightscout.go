package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Operator commands for the Nightscout-compatible API: an account's API
// secret, which Nightscout uploaders send, and its access tokens.

func accountNightscoutSecret(ctx context.Context, args []string, env Env) error {
	var fromStdin, remove bool
	return withAccount(ctx, "account nightscout-secret", fmt.Sprintf(`Usage: glucoshare account nightscout-secret NAME|ID --secret-stdin
       glucoshare account nightscout-secret NAME|ID --remove

Sets the API secret with which Nightscout uploaders and followers
(xDrip+, share2nightscout-bridge, …) reach this account's data at
/api/v1/ on this server. It gives full access to the account's readings.

The secret must be at least %d characters and must differ from the
account's password: Nightscout clients send it as an unsalted SHA-1 hash,
so glucoshare can keep it only under a fast hash, unlike the password.
Every account needs a secret of its own, since the secret alone names the
account.
`, core.MinNightscoutSecretLength), args, env, func(fs flagSetter) {
		fs.BoolVar(&fromStdin, "secret-stdin", false, "read the secret from standard input")
		fs.BoolVar(&remove, "remove", false, "remove the account's secret")
	}, func(svc *core.Service, a *glucose.Account) error {
		if remove {
			if err := svc.RemoveNightscoutSecret(ctx, a.ID); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Nightscout API secret of %s removed\n", a.Name)
			return nil
		}
		secret, err := readSecret(env, fromStdin)
		if err != nil {
			return err
		}
		if err := svc.SetNightscoutSecret(ctx, a.ID, secret, time.Now().UTC()); err != nil {
			return describe(err)
		}
		fmt.Fprintf(env.Stdout, "Nightscout API secret of %s set\n", a.Name)
		return nil
	})
}

// readSecret reads one line from standard input.
func readSecret(env Env, fromStdin bool) (string, error) {
	if !fromStdin {
		return "", fmt.Errorf("%w: no secret given: pass it on standard input with --secret-stdin", errUsage)
	}
	line, err := bufio.NewReader(env.Stdin).ReadString('\n')
	if err != nil && err != io.EOF {
		return "", err
	}
	line = strings.TrimRight(line, "\r\n")
	if line == "" {
		return "", fmt.Errorf("%w: no secret given: standard input was empty", errUsage)
	}
	return line, nil
}

func accountNightscoutToken(ctx context.Context, args []string, env Env) error {
	var readOnly, list bool
	var revoke, subscription string
	return withAccount(ctx, "account nightscout-token", `Usage: glucoshare account nightscout-token NAME|ID [--read-only]
       glucoshare account nightscout-token FOLLOWER --subscription SUBSCRIPTION-ID
       glucoshare account nightscout-token NAME|ID --list
       glucoshare account nightscout-token NAME|ID --revoke TOKEN-ID

Creates an access token for the Nightscout-compatible API and prints it
once; clients pass it as ?token=… or in an "Authorization: Bearer …" header.

A token reads the account's own readings and, unless --read-only, uploads
readings too. With --subscription, the token belongs to a follower and reads
the publisher of that subscription, read-only, while the subscription is
active and within its permissions ("current value only" gives the newest
reading alone).

Only a hash of the token is kept: a lost token cannot be shown again, only
revoked and replaced.
`, args, env, func(fs flagSetter) {
		fs.BoolVar(&readOnly, "read-only", false, "the token may read but not upload")
		fs.StringVar(&subscription, "subscription", "", "make a follower's token for this subscription the account follows")
		fs.BoolVar(&list, "list", false, "list the account's tokens (without the tokens themselves)")
		fs.StringVar(&revoke, "revoke", "", "revoke the token with this id")
	}, func(svc *core.Service, a *glucose.Account) error {
		switch {
		case list:
			return listNightscoutTokens(ctx, svc, a, env.Stdout)
		case revoke != "":
			if err := svc.RevokeNightscoutToken(ctx, a.ID, strings.TrimSpace(revoke)); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "token %s revoked\n", revoke)
			return nil
		}
		var (
			token string
			t     *glucose.NightscoutToken
			err   error
		)
		if subscription != "" {
			token, t, err = svc.CreateNightscoutFollowerToken(ctx, a.ID, subscription, time.Now().UTC())
		} else {
			token, t, err = svc.CreateNightscoutToken(ctx, a.ID, readOnly, time.Now().UTC())
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(env.Stdout, "%s\n", token)
		fmt.Fprintf(env.Stderr, "token id %s for %s (%s); shown only now\n", t.ID, a.Name, access(t))
		return nil
	})
}

func listNightscoutTokens(ctx context.Context, svc *core.Service, a *glucose.Account, w io.Writer) error {
	ts, err := svc.NightscoutTokens(ctx, a.ID)
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tACCESS\tSUBSCRIPTION\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", t.ID, access(&t), dash(t.SubscriptionID), t.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func access(t *glucose.NightscoutToken) string {
	if t.ReadOnly || t.SubscriptionID != "" {
		return "read"
	}
	return "read, upload"
}
