package cli

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
)

// Operator commands for the Nightscout-compatible API: an account's API
// secret, which Nightscout uploaders send, its access tokens, and its
// per-account address /ns/{handle}.

// withNightscoutAccount is withAccount for commands that store Nightscout
// credentials: they take --secret-key, so that what they store is keyed as
// the server keys it.
func withNightscoutAccount(ctx context.Context, name, usage string, args []string, env Env, flags func(flagSetter), fn func(*core.Service, *glucose.Account) error) error {
	var key secretKeyFlag
	return withAccountConfig(ctx, name, usage, args, env, func(fs flagSetter) {
		fs.Var(&key, "secret-key", "the server's --secret-key (prefer $GLUCOSHARE_SECRET_KEY), which Nightscout credentials are keyed with")
		if flags != nil {
			flags(fs)
		}
	}, func() core.Config {
		return core.Config{SecretKey: key.key}
	}, fn)
}

func accountNightscoutSecret(ctx context.Context, args []string, env Env) error {
	var fromStdin, generate, remove bool
	return withNightscoutAccount(ctx, "account nightscout-secret", fmt.Sprintf(`Usage: glucoshare account nightscout-secret NAME|ID --generate
       glucoshare account nightscout-secret NAME|ID --secret-stdin
       glucoshare account nightscout-secret NAME|ID --remove

Sets the API secret with which Nightscout uploaders and followers
(xDrip+, Loop, AndroidAPS, share2nightscout-bridge, …) reach this account's
data at /api/ on this server. It gives full access to the account's
Nightscout data (Nightscout's admin role).

--generate draws a secret of 160 random bits and prints it once; nothing
can show it again. A secret of your own (--secret-stdin) must be %d or more
characters, varied enough to be worth at least %d bits by glucoshare's
estimate, and different from the account's password. Every account needs a
secret of its own, since the secret alone names the account.

Clients send the secret as a plain SHA-1, so it cannot be kept under a slow
hash: it is kept as an HMAC with a key derived from --secret-key, which the
server must be given too (without one, as an unkeyed digest).
`, core.MinNightscoutSecretLength, core.MinNightscoutSecretBits), args, env, func(fs flagSetter) {
		fs.BoolVar(&generate, "generate", false, "generate a secret and print it once")
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
		secret := core.GenerateNightscoutSecret()
		if !generate {
			var err error
			if secret, err = readSecret(env, fromStdin); err != nil {
				return err
			}
		} else if fromStdin {
			return fmt.Errorf("%w: --generate and --secret-stdin exclude each other", errUsage)
		}
		if err := svc.SetNightscoutSecret(ctx, a.ID, secret, time.Now().UTC()); err != nil {
			return describe(err)
		}
		if generate {
			fmt.Fprintln(env.Stdout, secret)
			fmt.Fprintf(env.Stderr, "Nightscout API secret of %s set; shown only now\n", a.Name)
			return nil
		}
		fmt.Fprintf(env.Stdout, "Nightscout API secret of %s set\n", a.Name)
		return nil
	})
}

// readSecret reads one line from standard input.
func readSecret(env Env, fromStdin bool) (string, error) {
	if !fromStdin {
		return "", fmt.Errorf("%w: no secret given: use --generate, or pass one on standard input with --secret-stdin", errUsage)
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
	var revoke, subscription, name string
	return withNightscoutAccount(ctx, "account nightscout-token", `Usage: glucoshare account nightscout-token NAME|ID [--read-only] [--name NAME]
       glucoshare account nightscout-token FOLLOWER --subscription SUBSCRIPTION-ID [--name NAME]
       glucoshare account nightscout-token NAME|ID --list
       glucoshare account nightscout-token NAME|ID --revoke TOKEN-ID

Creates an access token for the Nightscout-compatible API and prints it
once. Clients pass it as ?token=…, as "Authorization: Bearer …", or (the
xDrip+ follower, Home Assistant) as the SHA-1 of the token in the API secret
field.

A token reads the account's own data and, unless --read-only, uploads too:
read-write is Nightscout's admin role, read-only its readable role. With
--subscription, the token belongs to a follower and reads the publisher of
that subscription, read-only, while the subscription is active and the
publisher's account enabled, within its permissions ("current value only"
gives the newest reading alone, and no treatments or device status).

--name labels the token (shown as its subject to apps, and in --list).
Only a digest of the token is kept: a lost token cannot be shown again, only
revoked and replaced.
`, args, env, func(fs flagSetter) {
		fs.BoolVar(&readOnly, "read-only", false, "the token may read but not upload")
		fs.StringVar(&subscription, "subscription", "", "make a follower's token for this subscription the account follows")
		fs.StringVar(&name, "name", "", "a label for the token, e.g. the app it is for")
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
		token, t, err := svc.CreateNamedNightscoutToken(ctx, a.ID,
			core.NewNightscoutToken{Name: name, ReadOnly: readOnly, SubscriptionID: subscription}, time.Now().UTC())
		if err != nil {
			return describe(err)
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
	fmt.Fprintln(tw, "ID\tNAME\tACCESS\tSUBSCRIPTION\tCREATED")
	for _, t := range ts {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", t.ID, dash(t.Name), access(&t), dash(t.SubscriptionID), t.CreatedAt.Format(time.RFC3339))
	}
	return tw.Flush()
}

func access(t *glucose.NightscoutToken) string {
	if t.ReadOnly || t.SubscriptionID != "" {
		return "read"
	}
	return "read, upload"
}

func accountNightscoutSite(ctx context.Context, args []string, env Env) error {
	var handle, anonymous string
	var remove bool
	return withAccount(ctx, "account nightscout-site", fmt.Sprintf(`Usage: glucoshare account nightscout-site NAME|ID [--handle HANDLE] [--anonymous-read on|off]
       glucoshare account nightscout-site NAME|ID --remove

Gives the account its own Nightscout address, /ns/HANDLE/ on this server, and
prints it. Apps that let you type a URL but send no credential (watch faces,
some widgets) name the account there; apps with a credential work there and
at the server's root alike.

The handle is public but should be hard to guess: it is not the login name.
Without --handle a random one is generated (16 characters, 80 bits), or the
current one kept. A handle of your own must be %d to 64 lower-case letters,
digits and hyphens.

--anonymous-read on lets requests without a credential read the account's
data at its address (Nightscout's AUTH_DEFAULT_ROLES=readable); anyone who
learns the address can then read it. Off (the default) answers them 401.
`, core.MinNightscoutHandleLength), args, env, func(fs flagSetter) {
		fs.StringVar(&handle, "handle", "", "the handle to use")
		fs.StringVar(&anonymous, "anonymous-read", "", "on or off: allow reading without a credential")
		fs.BoolVar(&remove, "remove", false, "remove the account's address")
	}, func(svc *core.Service, a *glucose.Account) error {
		if remove {
			if err := svc.RemoveNightscoutSite(ctx, a.ID); err != nil {
				return err
			}
			fmt.Fprintf(env.Stdout, "Nightscout address of %s removed\n", a.Name)
			return nil
		}
		anon, err := onOff(anonymous, func() bool {
			site, err := svc.NightscoutSite(ctx, a.ID)
			return err == nil && site.AnonymousRead
		})
		if err != nil {
			return err
		}
		site, err := svc.SetNightscoutSite(ctx, a.ID, handle, anon)
		if err != nil {
			return describe(err)
		}
		fmt.Fprintf(env.Stdout, "/ns/%s/\n", site.Handle)
		fmt.Fprintf(env.Stderr, "Nightscout address of %s; anonymous reading %s\n", a.Name, map[bool]string{true: "on", false: "off"}[site.AnonymousRead])
		return nil
	})
}

// onOff reads an on/off flag; "" keeps what current says.
func onOff(s string, current func() bool) (bool, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "":
		return current(), nil
	case "on", "true", "yes", "1":
		return true, nil
	case "off", "false", "no", "0":
		return false, nil
	}
	b, err := strconv.ParseBool(s)
	if err != nil {
		return false, fmt.Errorf("%w: --anonymous-read must be on or off", errUsage)
	}
	return b, nil
}
