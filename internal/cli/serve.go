package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"net/netip"
	"net/url"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/glucoshare/glucoshare/internal/clientaddr"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/events"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/mail"
	"github.com/glucoshare/glucoshare/internal/metrics"
	"github.com/glucoshare/glucoshare/internal/mirror"
	"github.com/glucoshare/glucoshare/internal/notify"
	"github.com/glucoshare/glucoshare/internal/relay"
	"github.com/glucoshare/glucoshare/internal/server"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/tlsutil"
	"github.com/glucoshare/glucoshare/internal/web"
)

const serveUsage = `Usage: glucoshare serve [flags]

Runs the Share server. With no flags it listens on :8080 and keeps its data in
glucoshare.db (SQLite) in the working directory, creating and migrating the
database on first start. Point uploaders and follower apps at
http://HOST:8080 (or https:// with --tls-cert and --tls-key).

Stops gracefully on SIGINT or SIGTERM.
`

// dbFlags are the flags of every command that touches the database.
type dbFlags struct {
	dsn             string
	maxOpenConns    int
	maxIdleConns    int
	connMaxLifetime time.Duration
	stmtTimeout     time.Duration
	cacheAccounts   int
	cacheStaleness  time.Duration // serve only
	log             *slog.Logger  // serve only
}

func (d *dbFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&d.dsn, "db", "glucoshare.db",
		"database: a SQLite file path (or sqlite:PATH), or a postgres:// URL")
	fs.IntVar(&d.maxOpenConns, "db-max-conns", 0,
		"connection pool size (PostgreSQL; SQLite readers); 0 = default")
	fs.IntVar(&d.maxIdleConns, "db-max-idle-conns", 0,
		"idle connections kept in the pool; 0 = as many as --db-max-conns")
	fs.DurationVar(&d.connMaxLifetime, "db-conn-max-lifetime", 0,
		"close pooled connections after this long (e.g. behind a PostgreSQL proxy); 0 = never")
	fs.DurationVar(&d.stmtTimeout, "db-statement-timeout", 30*time.Second,
		"PostgreSQL statement timeout")
	fs.IntVar(&d.cacheAccounts, "db-cache-accounts", 0,
		"accounts whose sessions and newest readings are kept in memory (SQLite, always current; PostgreSQL with --db-cache-staleness); 0 = 100000, -1 = off")
}

func (d *dbFlags) open(ctx context.Context) (*store.DB, error) {
	return store.Open(ctx, d.dsn, store.Options{
		MaxOpenConns:     d.maxOpenConns,
		MaxIdleConns:     d.maxIdleConns,
		ConnMaxLifetime:  d.connMaxLifetime,
		StatementTimeout: d.stmtTimeout,
		CacheAccounts:    d.cacheAccounts,
		CacheStaleness:   d.cacheStaleness,
		Logger:           d.log,
	})
}

// maskDSN hides a password in a database URL.
func maskDSN(dsn string) string {
	u, err := url.Parse(dsn)
	if err != nil || u.User == nil {
		return dsn
	}
	if _, has := u.User.Password(); has {
		u.User = url.UserPassword(u.User.Username(), "xxxxx")
	}
	return u.String()
}

type serveFlags struct {
	alarmTick           time.Duration
	webhookAllowPrivate bool
	pushover            notify.Pushover
	pushContact         string
	trustedProxies      string
	secretKey           secretKeyFlag
	trusted             []netip.Prefix // parsed from trustedProxies
	db                  dbFlags
	addr                string
	tlsCert             string
	tlsKey              string
	tlsReload           time.Duration
	retention           ageFlag
	purgeEvery          time.Duration
	cfg                 core.Config
	maxSession          time.Duration
	shared              string
	logFormat           string
	logLevel            string
	noMigrate           bool
	printConfig         bool
	smtp                mail.Config

	relay         bool
	relayUpstream string
	relayKey      string
	relayCoalesce time.Duration

	signup       bool
	cookieSecure bool
	webKey       string

	nightscoutQuota sizeFlag

	mirrorConcurrency int

	pprofAddr    string
	metricsAddr  string
	metricsToken string

	lockoutAlias bool // --login-lockout was given (the old name of --login-max-delay)
}

func (f *serveFlags) register(fs *flag.FlagSet) {
	d := core.DefaultConfig()
	f.db.register(fs)
	fs.DurationVar(&f.db.cacheStaleness, "db-cache-staleness", 0,
		"PostgreSQL: keep sessions and newest readings in memory (up to --db-cache-accounts), "+
			"taking most reads off the database; other instances' changes, logouts included, may then be seen up to this late "+
			"(e.g. 100ms; this instance's own at once); 0 = off, every read from the database")
	fs.StringVar(&f.addr, "addr", ":8080", "listen address (host:port)")
	fs.DurationVar(&f.alarmTick, "alarm-tick", time.Minute,
		"how often alarms are evaluated without uploads (NoData, re-alarms)")
	fs.BoolVar(&f.webhookAllowPrivate, "webhook-allow-private", false,
		"let URLs that people give the server (webhooks, push services) reach loopback, private and other non-global addresses")
	fs.StringVar(&f.pushover.Token, "pushover-token", "",
		"API token of your Pushover application (pushover.net/apps/build): followers can then get alarms through Pushover; prefer the environment variable")
	fs.StringVar(&f.pushover.API, "pushover-api", notify.DefaultPushoverAPI, "base URL of the Pushover API")
	fs.StringVar(&f.pushContact, "push-contact", "",
		"how push services can reach you, sent with every Web Push (mailto:you@example.org or an https URL); default --public-url when it is https")
	f.secretKey.register(fs)
	fs.StringVar(&f.trustedProxies, "trusted-proxies", "127.0.0.0/8,::1",
		"addresses or CIDR prefixes of reverse proxies whose X-Forwarded-For names the client address (for throttling failed credentials); none = trust no proxy")
	fs.StringVar(&f.tlsCert, "tls-cert", "", "TLS certificate file (PEM); serve HTTPS when set with --tls-key")
	fs.StringVar(&f.tlsKey, "tls-key", "", "TLS private key file (PEM)")
	fs.DurationVar(&f.tlsReload, "tls-reload-every", tlsutil.DefaultCheckEvery,
		"how often at most a TLS handshake checks the certificate files for a renewal; 0 = every handshake")
	fs.Var(&f.retention, "retention", "delete readings older than this (e.g. 365d or 8760h); 0 = keep forever")
	fs.DurationVar(&f.purgeEvery, "retention-every", 15*time.Minute, "how often old readings are purged")
	fs.DurationVar(&f.cfg.SessionIdle, "session-idle", d.SessionIdle, "session idle lifetime; a use is recorded once per 48th of it (at least once a minute), so a session may end up to that much early")
	fs.DurationVar(&f.maxSession, "session-max", d.SessionMax, "session absolute lifetime; 0 = none")
	fs.IntVar(&f.cfg.LoginMaxFailures, "login-max-failures", d.LoginMaxFailures,
		"failed logins to an account from one address (or session) before that address waits; each further failure doubles the wait, from 1s")
	fs.IntVar(&f.cfg.LoginAccountFailures, "login-account-failures", d.LoginAccountFailures,
		"failed logins to an account from addresses it never logged in from before all of those wait (a guess spread over many addresses); more than --login-max-failures")
	fs.DurationVar(&f.cfg.LoginFirstDelay, "login-first-delay", d.LoginFirstDelay,
		"the first wait after failed logins, doubled by each further failure")
	fs.DurationVar(&f.cfg.LoginMaxDelay, "login-max-delay", d.LoginMaxDelay, "the longest wait after failed logins")
	fs.Func("login-lockout", "old name of --login-max-delay (logins are slowed down, no longer locked)", func(v string) error {
		d, err := time.ParseDuration(v)
		if err != nil {
			return err
		}
		f.cfg.LoginMaxDelay, f.lockoutAlias = d, true
		return nil
	})
	fs.DurationVar(&f.cfg.LoginWindow, "login-window", d.LoginWindow,
		"how long failed logins are remembered after their last wait ended")
	fs.DurationVar(&f.cfg.LoginRemember, "login-remember", d.LoginRemember,
		"how long an address an account logged in from, and a session it held, are spared the account-wide wait")
	fs.StringVar(&f.cfg.Compat, "compat", d.Compat, "reading format: modern, or legacy for clients from before 2022")
	fs.StringVar(&f.shared, "shared-serials", strings.Join(d.SharedSerials, ","),
		"comma-separated serial numbers any number of accounts may hold")
	fs.BoolVar(&f.cfg.StrictReceiverAssignment, "strict-receiver-assignment", false,
		"refuse to assign a serial implicitly on StartRemoteMonitoringSession")
	fs.IntVar(&f.cfg.MinPasswordLength, "min-password-length", d.MinPasswordLength, "shortest password accepted")
	fs.StringVar(&f.cfg.PublicURL, "public-url", "",
		"the server's address as followers reach it (https://host); invitation e-mails link to it")
	fs.DurationVar(&f.cfg.InviteTTL, "invite-ttl", d.InviteTTL, "how long an invitation can be accepted")
	fs.IntVar(&f.cfg.MaxFollowers, "max-followers", d.MaxFollowers,
		"followers and waiting invitations per publisher")
	fs.StringVar(&f.smtp.Host, "smtp-host", "", "SMTP server for invitation e-mails; none = no e-mail is sent")
	fs.IntVar(&f.smtp.Port, "smtp-port", 0, "SMTP port; 0 = 587 (starttls), 465 (tls) or 25 (none)")
	fs.StringVar(&f.smtp.Username, "smtp-username", "", "SMTP user name; none = no authentication")
	fs.StringVar(&f.smtp.Password, "smtp-password", "", "SMTP password (prefer the environment variable)")
	fs.StringVar(&f.smtp.From, "smtp-from", "", "sender address of invitation e-mails")
	fs.StringVar(&f.smtp.TLS, "smtp-tls", mail.TLSStartTLS, "SMTP encryption: starttls, tls or none")
	fs.StringVar(&f.logFormat, "log-format", "text", "log format: text or json")
	fs.StringVar(&f.logLevel, "log-level", "info", "log level: debug, info, warn or error")
	fs.BoolVar(&f.noMigrate, "no-migrate", false, "refuse to start on an old schema instead of migrating it")
	fs.BoolVar(&f.printConfig, "print-config", false, "print the effective configuration (secrets masked) and exit")
	fs.BoolVar(&f.relay, "relay", false,
		"serve the relay to Dexcom's hosted service at /relay/{us,ous,jp,custom}/ (docs/protocol.md, \"Relay\")")
	fs.StringVar(&f.relayUpstream, "relay-upstream", "",
		"base URL of the relay's custom region, e.g. another Share server")
	fs.StringVar(&f.relayKey, "relay-key", "", "require this relayKey query parameter on relayed calls")
	fs.DurationVar(&f.relayCoalesce, "relay-coalesce", relay.DefaultCoalesce,
		"identical glucose reads through the relay within this window share one upstream call; 0 = off")
	fs.BoolVar(&f.signup, "signup", false, "let visitors create accounts on the web dashboard (/signup)")
	fs.BoolVar(&f.cookieSecure, "cookie-secure", false,
		"mark the dashboard's cookies Secure on plain HTTP too (TLS ends at a proxy)")
	fs.StringVar(&f.webKey, "web-key", "",
		"secret (32+ characters) that signs the dashboard's CSRF tokens; give every instance behind one load balancer the same; none = random per start")
	f.nightscoutQuota = sizeFlag(core.DefaultNightscoutQuota)
	fs.Var(&f.nightscoutQuota, "nightscout-quota",
		"how much an account's Nightscout documents (treatments, device status, profiles…) may take, e.g. 2GiB; 0 = no limit")
	fs.IntVar(&f.mirrorConcurrency, "mirror-concurrency", mirror.DefaultConcurrency,
		"polls of linked Share accounts (docs/mirror.md) this instance runs at once; 0 = this instance polls none")
	fs.StringVar(&f.metricsAddr, "metrics-addr", "",
		"serve /metrics on this address of its own (e.g. 127.0.0.1:9090) instead of the main listener; none = the main listener")
	fs.StringVar(&f.metricsToken, "metrics-token", "",
		"require this bearer token (Authorization: Bearer …) for /metrics; prefer $GLUCOSHARE_METRICS_TOKEN")
	fs.StringVar(&f.pprofAddr, "pprof-addr", "",
		"serve Go's pprof profiles at this loopback address (e.g. 127.0.0.1:6060); none = off")
}

func (f *serveFlags) validate() error {
	if f.pprofAddr != "" {
		host, _, err := net.SplitHostPort(f.pprofAddr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return fmt.Errorf("%w: --pprof-addr must be a loopback address such as 127.0.0.1:6060", errUsage)
		}
	}
	if f.metricsAddr != "" {
		if _, _, err := net.SplitHostPort(f.metricsAddr); err != nil {
			return fmt.Errorf("%w: --metrics-addr must be host:port, e.g. 127.0.0.1:9090", errUsage)
		}
	}
	trusted, err := clientaddr.ParsePrefixes(f.trustedProxies)
	if err != nil {
		return fmt.Errorf("%w: --trusted-proxies: %v", errUsage, err)
	}
	f.trusted = trusted
	if c := f.pushContact; c != "" && !strings.HasPrefix(c, "mailto:") && !strings.HasPrefix(c, "https://") {
		return fmt.Errorf("%w: --push-contact must start with mailto: or https://", errUsage)
	}
	if u, err := url.Parse(f.pushover.API); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return fmt.Errorf("%w: --pushover-api must be an http:// or https:// URL", errUsage)
	}
	if err := f.validateLogin(); err != nil {
		return err
	}
	if f.webKey != "" && len(f.webKey) < 32 {
		return fmt.Errorf("%w: --web-key must be at least 32 characters", errUsage)
	}
	switch f.cfg.Compat {
	case glucose.CompatModern, glucose.CompatLegacy:
	default:
		return fmt.Errorf("%w: --compat must be modern or legacy", errUsage)
	}
	if err := f.validateFollowers(); err != nil {
		return err
	}
	if f.mirrorConcurrency < 0 {
		return fmt.Errorf("%w: --mirror-concurrency must not be negative", errUsage)
	}
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return fmt.Errorf("%w: --tls-cert and --tls-key go together", errUsage)
	}
	f.cfg.NightscoutQuota = int64(f.nightscoutQuota)
	if f.cfg.NightscoutQuota == 0 {
		f.cfg.NightscoutQuota = -1 // no limit
	}
	if f.maxSession == 0 {
		f.cfg.SessionMax = -1
	} else {
		f.cfg.SessionMax = f.maxSession
	}
	f.cfg.SharedSerials = []string{}
	for _, sn := range strings.Split(f.shared, ",") {
		if sn = strings.TrimSpace(sn); sn != "" {
			f.cfg.SharedSerials = append(f.cfg.SharedSerials, strings.ToUpper(sn))
		}
	}
	return nil
}

// validateLogin checks the login throttling settings.
func (f *serveFlags) validateLogin() error {
	c := f.cfg
	switch {
	case c.LoginMaxFailures < 1:
		return fmt.Errorf("%w: --login-max-failures must be at least 1", errUsage)
	case c.LoginAccountFailures <= c.LoginMaxFailures:
		return fmt.Errorf("%w: --login-account-failures must be more than --login-max-failures (%d), or failures from one address alone would make every new address wait",
			errUsage, c.LoginMaxFailures)
	case c.LoginFirstDelay < time.Second || c.LoginMaxDelay < c.LoginFirstDelay:
		return fmt.Errorf("%w: --login-first-delay must be at least 1s, and --login-max-delay (--login-lockout) at least as long", errUsage)
	case c.LoginWindow <= 0 || c.LoginRemember <= 0:
		return fmt.Errorf("%w: --login-window and --login-remember must be positive", errUsage)
	}
	return nil
}

// validateFollowers checks the invitation and mail settings.
func (f *serveFlags) validateFollowers() error {
	if f.cfg.InviteTTL <= 0 {
		return fmt.Errorf("%w: --invite-ttl must be positive", errUsage)
	}
	if f.cfg.MaxFollowers < 1 {
		return fmt.Errorf("%w: --max-followers must be at least 1", errUsage)
	}
	if f.cfg.PublicURL != "" {
		u, err := url.Parse(f.cfg.PublicURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return fmt.Errorf("%w: --public-url must be an http:// or https:// URL", errUsage)
		}
		f.cfg.PublicURL = strings.TrimSuffix(f.cfg.PublicURL, "/")
	}
	switch f.smtp.TLS {
	case mail.TLSStartTLS, mail.TLSImplicit, mail.TLSNone:
	default:
		return fmt.Errorf("%w: --smtp-tls must be starttls, tls or none", errUsage)
	}
	if f.smtp.Host == "" {
		return nil
	}
	if err := f.smtp.Validate(); err != nil {
		return fmt.Errorf("%w: --smtp-*: %v", errUsage, err)
	}
	return nil
}

// mailer starts the invitation e-mail sender when SMTP is configured.
func (f *serveFlags) mailer(log *slog.Logger) (*mail.Sender, error) {
	if f.smtp.Host == "" {
		return nil, nil
	}
	return mail.New(f.smtp, log)
}

func (f *serveFlags) logger(env Env) (*slog.Logger, error) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(f.logLevel)); err != nil {
		return nil, fmt.Errorf("%w: --log-level: %v", errUsage, err)
	}
	opts := &slog.HandlerOptions{Level: level}
	switch f.logFormat {
	case "text":
		return slog.New(slog.NewTextHandler(env.Stderr, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(env.Stderr, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format must be text or json", errUsage)
}

func (f *serveFlags) print(env Env) {
	fmt.Fprintf(env.Stdout, "addr=%s\ndb=%s\ntls-cert=%s\ntls-key=%s\n", f.addr, maskDSN(f.db.dsn), f.tlsCert, f.tlsKey)
	fmt.Fprintf(env.Stdout, "alarm-tick=%s\nwebhook-allow-private=%t\ntrusted-proxies=%s\n", f.alarmTick, f.webhookAllowPrivate, f.trustedProxies)
	fmt.Fprintf(env.Stdout, "tls-reload-every=%s\nretention=%s\nretention-every=%s\n", f.tlsReload, &f.retention, f.purgeEvery)
	fmt.Fprintf(env.Stdout, "session-idle=%s\nsession-max=%s\n", f.cfg.SessionIdle, f.maxSession)
	fmt.Fprintf(env.Stdout, "login-max-failures=%d\nlogin-account-failures=%d\nlogin-first-delay=%s\nlogin-max-delay=%s\nlogin-window=%s\nlogin-remember=%s\n",
		f.cfg.LoginMaxFailures, f.cfg.LoginAccountFailures, f.cfg.LoginFirstDelay, f.cfg.LoginMaxDelay, f.cfg.LoginWindow, f.cfg.LoginRemember)
	fmt.Fprintf(env.Stdout, "compat=%s\nshared-serials=%s\nstrict-receiver-assignment=%t\nmin-password-length=%d\n",
		f.cfg.Compat, strings.Join(f.cfg.SharedSerials, ","), f.cfg.StrictReceiverAssignment, f.cfg.MinPasswordLength)
	fmt.Fprintf(env.Stdout, "public-url=%s\ninvite-ttl=%s\nmax-followers=%d\n",
		f.cfg.PublicURL, f.cfg.InviteTTL, f.cfg.MaxFollowers)
	password := ""
	if f.smtp.Password != "" {
		password = "xxxxx"
	}
	fmt.Fprintf(env.Stdout, "smtp-host=%s\nsmtp-port=%d\nsmtp-username=%s\nsmtp-password=%s\nsmtp-from=%s\nsmtp-tls=%s\n",
		f.smtp.Host, f.smtp.Port, f.smtp.Username, password, f.smtp.From, f.smtp.TLS)
	fmt.Fprintf(env.Stdout, "log-format=%s\nlog-level=%s\n", f.logFormat, f.logLevel)
	relayKey := ""
	if f.relayKey != "" {
		relayKey = "xxxxx"
	}
	fmt.Fprintf(env.Stdout, "relay=%t\nrelay-upstream=%s\nrelay-key=%s\nrelay-coalesce=%s\n",
		f.relay, f.relayUpstream, relayKey, f.relayCoalesce)
	webKey := ""
	if f.webKey != "" {
		webKey = "xxxxx"
	}
	fmt.Fprintf(env.Stdout, "signup=%t\ncookie-secure=%t\nweb-key=%s\n", f.signup, f.cookieSecure, webKey)
	metricsToken := ""
	if f.metricsToken != "" {
		metricsToken = "xxxxx"
	}
	fmt.Fprintf(env.Stdout, "metrics-addr=%s\nmetrics-token=%s\n", f.metricsAddr, metricsToken)
	fmt.Fprintf(env.Stdout, "secret-key=%s\nnightscout-quota=%s\n", &f.secretKey, &f.nightscoutQuota)
	pushoverToken := ""
	if f.pushover.Token != "" {
		pushoverToken = "xxxxx"
	}
	fmt.Fprintf(env.Stdout, "pushover-token=%s\npushover-api=%s\npush-contact=%s\n", pushoverToken, f.pushover.API, f.pushContact)
	fmt.Fprintf(env.Stdout, "mirror-concurrency=%d\n", f.mirrorConcurrency)
}

// webOptions configures the dashboard from the flags.
func (f *serveFlags) webOptions() web.Options {
	return web.Options{Signup: f.signup, CookieSecure: f.cookieSecure, Key: []byte(f.webKey), PublicURL: f.cfg.PublicURL}
}

// mirrorOptions configures the poller of linked Share accounts; nil when
// this instance polls none: told so, or without a secret key, which the
// links' passwords need.
func (f *serveFlags) mirrorOptions(log *slog.Logger) *mirror.Options {
	switch {
	case f.mirrorConcurrency == 0:
		return nil
	case f.secretKey.key == nil:
		log.Info("linked Share accounts are not polled: their passwords need --secret-key (docs/mirror.md)")
		return nil
	}
	return &mirror.Options{Concurrency: f.mirrorConcurrency, AllowPrivate: f.webhookAllowPrivate}
}

// newRelay builds the relay when --relay is on; nil otherwise.
func (f *serveFlags) newRelay(log *slog.Logger, reg prometheus.Registerer) (http.Handler, error) {
	if !f.relay {
		return nil, nil
	}
	coalesce := f.relayCoalesce
	if coalesce <= 0 {
		coalesce = -1 // off
	}
	r, err := relay.New(relay.Options{Upstream: f.relayUpstream, Key: f.relayKey, Coalesce: coalesce,
		Logger: log, Registerer: reg})
	if err != nil {
		return nil, fmt.Errorf("%w: --relay-upstream: %v", errUsage, err)
	}
	return r, nil
}

func runServe(ctx context.Context, args []string, env Env) error {
	var f serveFlags
	fs := flagSet("serve", serveUsage, env)
	f.register(fs)
	if err := parse(fs, args, env); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	}
	if err := f.validate(); err != nil {
		return err
	}
	if f.printConfig {
		f.print(env)
		return nil
	}
	log, err := f.logger(env)
	if err != nil {
		return err
	}
	if f.lockoutAlias {
		log.Warn("--login-lockout is the old name of --login-max-delay: failed logins now slow the address down instead of locking the account (docs/security.md)")
	}
	var tlsConfig *tls.Config
	if f.tlsCert != "" {
		// Renewed certificate files are picked up without a restart.
		every := f.tlsReload
		if every == 0 {
			every = -1
		}
		certs, err := tlsutil.NewReloader(f.tlsCert, f.tlsKey, tlsutil.ReloaderOptions{CheckEvery: every, Logger: log})
		if err != nil {
			return err
		}
		tlsConfig = certs.TLSConfig()
	}
	m := metrics.New()
	registry := m.Registry
	relayHandler, err := f.newRelay(log, registry)
	if err != nil {
		return err
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	f.db.log = log
	db, err := f.db.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := prepareSchema(ctx, db, !f.noMigrate, log); err != nil {
		return err
	}
	// Listen before serving, so that a taken port fails at once.
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return err
	}
	mainMetrics, err := f.serveMetrics(ctx, registry, log)
	if err != nil {
		ln.Close()
		return err
	}
	if f.pprofAddr != "" {
		stopPprof, err := servePprof(f.pprofAddr, log)
		if err != nil {
			return err
		}
		defer stopPprof()
	}
	sender, err := f.mailer(log)
	if err != nil {
		return err
	}
	if sender != nil {
		f.cfg.Mailer = sender
		// After the server stopped: deliver what is queued, briefly.
		defer func() {
			cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := sender.Close(cctx); err != nil {
				log.Warn("invitation e-mails left unsent", "err", err)
			}
		}()
	}
	f.cfg.AllowPrivateAddresses = f.webhookAllowPrivate
	f.cfg.Pushover = f.pushover.Token != ""
	f.cfg.SecretKey = f.secretKey.key
	svc := core.New(db, f.cfg)
	svc.SetLogger(log)
	svc.SetMetrics(m)
	svc.SetEvents(events.NewHub(0))
	m.WatchDB("glucoshare", db.SQL())
	if f.db.cacheStaleness > 0 {
		watchCache(registry, db)
		log.Info("database cache on: other instances' changes may be seen late", "staleness", f.db.cacheStaleness)
	}
	if err := rekeyNightscout(ctx, svc, f.secretKey.key != nil, log); err != nil {
		return err
	}
	rctx, stopRetention := context.WithCancel(ctx)
	waitRetention, err := startRetention(rctx, svc, time.Duration(f.retention), f.purgeEvery, glucose.SystemClock{}, log)
	if err != nil {
		stopRetention()
		return err
	}
	defer func() { stopRetention(); waitRetention() }()
	srv := server.New(svc, server.Options{Mirror: f.mirrorOptions(log), Web: f.webOptions(), Logger: log, TLSConfig: tlsConfig, Relay: relayHandler,
		Metrics: mainMetrics, MetricsToken: f.metricsToken, AppMetrics: m, TrustedProxies: f.trusted,
		Alarms: server.AlarmOptions{Tick: f.alarmTick, WebhookAllowPrivate: f.webhookAllowPrivate,
			Pushover: f.pushover, PushSubject: f.pushContact}})
	scheme := "http"
	if tlsConfig != nil {
		scheme = "https"
	}
	// Connections that arrive meanwhile wait in the listener's backlog.
	warmCache(ctx, db, log)
	log.Info("glucoshare listening", "addr", ln.Addr().String(), "scheme", scheme, "db", db.Dialect())
	if env.Listening != nil {
		env.Listening(ln.Addr().String())
	}
	err = srv.Serve(ctx, ln)
	log.Info("glucoshare stopped")
	return err
}

// rekeyNightscout moves Nightscout credentials under the server key and
// says what the operator must know about them.
func rekeyNightscout(ctx context.Context, svc *core.Service, keyed bool, log *slog.Logger) error {
	res, err := svc.RekeyNightscoutCredentials(ctx)
	if err != nil {
		return err
	}
	if res.Rekeyed > 0 {
		log.Info("Nightscout credentials now kept under the server key", "count", res.Rekeyed)
	}
	if res.Unusable > 0 {
		log.Warn("Nightscout credentials kept under another --secret-key are refused until it is given again or they are set anew",
			"count", res.Unusable)
	}
	if !keyed {
		log.Warn("no --secret-key: Nightscout credentials are kept as unkeyed digests, and Nightscout JWTs are valid on this instance until it restarts")
	}
	return nil
}

// prepareSchema migrates an old schema (unless told not to) and refuses a
// schema newer than this binary knows.
func prepareSchema(ctx context.Context, db *store.DB, migrate bool, log *slog.Logger) error {
	if migrate {
		from, to, err := db.Migrate(ctx)
		if err != nil {
			return err
		}
		if from != to {
			log.Info("database migrated", "from", from, "to", to)
		}
		return nil
	}
	return db.CheckSchema(ctx)
}

func runMigrate(ctx context.Context, args []string, env Env) error {
	var d dbFlags
	fs := flagSet("migrate", `Usage: glucoshare migrate [flags]

Creates the database schema, or upgrades it to the version this binary knows.
Safe to run repeatedly; refuses a database whose schema is newer than this binary.
`, env)
	d.register(fs)
	if err := parse(fs, args, env); err != nil {
		return err
	}
	db, err := d.open(ctx)
	if err != nil {
		return err
	}
	defer db.Close()
	from, to, err := db.Migrate(ctx)
	if err != nil {
		return err
	}
	if from == to {
		fmt.Fprintf(env.Stdout, "schema is up to date (version %d)\n", to)
	} else {
		fmt.Fprintf(env.Stdout, "migrated schema from version %d to %d\n", from, to)
	}
	return nil
}

var errNoPassword = errors.New("no password given")

// serveMetrics starts the listener of --metrics-addr, when given, and
// returns the registry the main listener serves: none then.
func (f *serveFlags) serveMetrics(ctx context.Context, reg *prometheus.Registry, log *slog.Logger) (*prometheus.Registry, error) {
	if f.metricsAddr == "" {
		return reg, nil
	}
	ln, err := net.Listen("tcp", f.metricsAddr)
	if err != nil {
		return nil, err
	}
	if host, _, _ := net.SplitHostPort(f.metricsAddr); f.metricsToken == "" && !isLoopback(host) {
		log.Warn("/metrics is served beyond loopback without --metrics-token", "addr", f.metricsAddr)
	}
	go func() {
		if err := server.ServeMetrics(ctx, ln, reg, f.metricsToken); err != nil {
			log.Error("metrics listener stopped", "err", err)
		}
	}()
	log.Info("metrics listening", "addr", ln.Addr().String())
	return nil, nil
}

// isLoopback reports whether host names a loopback address.
func isLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || ip != nil && ip.IsLoopback()
}

// servePprof serves net/http/pprof's handlers on a loopback address of
// their own, never on the public listener.
func servePprof(addr string, log *slog.Logger) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln)
	log.Info("pprof listening", "addr", ln.Addr().String())
	return func() { srv.Close() }, nil
}

// watchCache exports the counters of the database cache on PostgreSQL
// (--db-cache-staleness).
func watchCache(reg prometheus.Registerer, db *store.DB) {
	counter := func(name, help string, v func(store.CacheStats) uint64) {
		reg.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help},
			func() float64 { return float64(v(db.CacheStats())) }))
	}
	counter("glucoshare_db_cache_polls_total", "Successful polls of the change log by the database cache.",
		func(s store.CacheStats) uint64 { return s.Polls })
	counter("glucoshare_db_cache_poll_failures_total", "Failed polls of the change log; each drops the cache.",
		func(s store.CacheStats) uint64 { return s.PollFailures })
	counter("glucoshare_db_cache_drops_total", "Times the whole database cache was dropped.",
		func(s store.CacheStats) uint64 { return s.Drops })
	counter("glucoshare_db_cache_stale_reads_total",
		"Hot reads sent to the database because the last successful poll was older than --db-cache-staleness.",
		func(s store.CacheStats) uint64 { return s.StaleReads })
	reg.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "glucoshare_db_cache_poll_age_seconds",
		Help: "How long ago the last successful poll of the change log started; -1 after a failed one."},
		func() float64 {
			if s := db.CacheStats(); s.Age >= 0 {
				return s.Age.Seconds()
			}
			return -1
		}))
}

// warmCacheFor bounds the warming of the cache before the server answers.
const warmCacheFor = 30 * time.Second

// warmCache reads the sessions in use into the SQLite cache before the
// server answers: after a restart with many accounts in use, their first
// requests would otherwise all read the database at once, and compete for
// its connections with a warming done beside them. It takes about 3 s
// per 100,000 sessions (docs/performance.md, "Cold start, warmed");
// whatever is left after warmCacheFor fills as requests come.
func warmCache(ctx context.Context, db *store.DB, log *slog.Logger) {
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, warmCacheFor)
	defer cancel()
	n, err := db.WarmCache(wctx, start)
	switch {
	case err != nil && ctx.Err() == nil && wctx.Err() == nil:
		log.Warn("warming the cache failed; it fills as requests come", "err", err)
	case n > 0:
		log.Info("cache warmed", "sessions", n, "took", time.Since(start).Round(time.Millisecond))
	}
}
