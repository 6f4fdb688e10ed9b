// Package core holds glucoshare's rules: credential checks and their throttling,
// sessions, receiver assignment, glucose ingestion and reads, profiles and
// named values. It is written against glucose.Store and knows nothing of
// HTTP or SQL; every method that depends on the time takes now, read once
// per request by the caller.
package core

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/glucoshare/glucoshare/internal/events"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/metrics"
	"github.com/glucoshare/glucoshare/internal/secretkey"
)

// Config holds the settings of docs/protocol.md that change behaviour. Zero
// values are replaced by the defaults of DefaultConfig in New.
type Config struct {
	SessionIdle        time.Duration // idle lifetime (session_idle)
	SessionMax         time.Duration // absolute lifetime; negative = none (session_max)
	SessionRemember    time.Duration // how long ended sessions answer SessionNotValid
	SessionsPerAccount int

	// Login throttling (throttle.go, docs/security.md).
	LoginMaxFailures     int           // failures from one address before its delays begin
	LoginAccountFailures int           // failures from unrecognised addresses before all of them wait
	LoginFirstDelay      time.Duration // the first delay, doubled by each further failure
	LoginMaxDelay        time.Duration // the longest delay (the old login_lockout)
	LoginWindow          time.Duration // how long failures are remembered after the last delay ends
	LoginRemember        time.Duration // how long an address that logged in, and a session, are recognised

	SharedSerials            []string // shared_serials
	StrictReceiverAssignment bool     // strict_receiver_assignment

	MinPasswordLength int
	ReadMaxMinutes    int // read_max_minutes
	ReadMaxCount      int // read_max_count
	NamedValueLimit   int // values per partition
	// An account's named values as a whole: partitions, and bytes of
	// names and values.
	NamedValuePartitions int
	NamedValueBytes      int
	Compat               string // server-wide compat: modern or legacy

	InviteTTL    time.Duration // how long an invitation waits (invite_ttl)
	MaxFollowers int           // live subscriptions per publisher (max_followers)
	// PublicURL is the server's address as followers reach it; invitation
	// e-mails link to PublicURL/invite/<id>. "" = no link.
	PublicURL string
	// Mailer e-mails invitations to contacts; nil = nothing is sent and
	// the publisher passes the id on (ReadSubscriptionInviteId).
	Mailer glucose.InvitationSender
	// AllowPrivateAddresses lets URLs that people give the server
	// (webhooks) name loopback and private addresses (netguard).
	AllowPrivateAddresses bool
	// Pushover tells that the operator configured a Pushover application
	// (--pushover-token): followers may then add their user keys.
	Pushover bool
	// SecretKey is the operator's key for secrets kept in the database
	// (package secretkey), which also keys the Nightscout API's
	// credentials and signs its JWTs (nightscout_keys.go); nil when none
	// was given.
	SecretKey *secretkey.Key

	// NightscoutQuota bounds what an account's Nightscout documents take
	// (treatments, device status, profiles, …), in bytes; negative = no
	// limit.
	NightscoutQuota int64

	Argon2 Argon2Params
}

// DefaultConfig returns the protocol's defaults.
func DefaultConfig() Config {
	return Config{
		SessionIdle:          24 * time.Hour,
		SessionMax:           30 * 24 * time.Hour,
		SessionRemember:      7 * 24 * time.Hour,
		SessionsPerAccount:   1000,
		LoginMaxFailures:     5,
		LoginAccountFailures: 20,
		LoginFirstDelay:      time.Second,
		LoginMaxDelay:        15 * time.Minute,
		LoginWindow:          24 * time.Hour,
		LoginRemember:        30 * 24 * time.Hour,
		SharedSerials:        []string{"SM00000000"},
		MinPasswordLength:    8,
		ReadMaxMinutes:       10080,
		ReadMaxCount:         2016,
		NamedValueLimit:      1000,
		NamedValuePartitions: 16,
		NamedValueBytes:      1 << 20,
		Compat:               glucose.CompatModern,
		InviteTTL:            7 * 24 * time.Hour,
		MaxFollowers:         10,
		NightscoutQuota:      DefaultNightscoutQuota,
		Argon2:               DefaultArgon2,
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	if c.SessionIdle <= 0 {
		c.SessionIdle = d.SessionIdle
	}
	if c.SessionMax == 0 {
		c.SessionMax = d.SessionMax
	}
	if c.SessionRemember <= 0 {
		c.SessionRemember = d.SessionRemember
	}
	if c.SessionsPerAccount <= 0 {
		c.SessionsPerAccount = d.SessionsPerAccount
	}
	if c.LoginMaxFailures <= 0 {
		c.LoginMaxFailures = d.LoginMaxFailures
	}
	if c.LoginWindow <= 0 {
		c.LoginWindow = d.LoginWindow
	}
	if c.LoginAccountFailures <= 0 {
		c.LoginAccountFailures = d.LoginAccountFailures
	}
	if c.LoginFirstDelay <= 0 {
		c.LoginFirstDelay = d.LoginFirstDelay
	}
	if c.LoginMaxDelay <= 0 {
		c.LoginMaxDelay = d.LoginMaxDelay
	}
	if c.LoginRemember <= 0 {
		c.LoginRemember = d.LoginRemember
	}
	if c.SharedSerials == nil {
		c.SharedSerials = d.SharedSerials
	}
	if c.MinPasswordLength <= 0 {
		c.MinPasswordLength = d.MinPasswordLength
	}
	if c.ReadMaxMinutes <= 0 {
		c.ReadMaxMinutes = d.ReadMaxMinutes
	}
	if c.ReadMaxCount <= 0 {
		c.ReadMaxCount = d.ReadMaxCount
	}
	if c.NamedValueLimit <= 0 {
		c.NamedValueLimit = d.NamedValueLimit
	}
	if c.NamedValuePartitions <= 0 {
		c.NamedValuePartitions = d.NamedValuePartitions
	}
	if c.NamedValueBytes <= 0 {
		c.NamedValueBytes = d.NamedValueBytes
	}
	if c.Compat == "" {
		c.Compat = d.Compat
	}
	if c.InviteTTL <= 0 {
		c.InviteTTL = d.InviteTTL
	}
	if c.MaxFollowers <= 0 {
		c.MaxFollowers = d.MaxFollowers
	}
	if c.NightscoutQuota == 0 {
		c.NightscoutQuota = d.NightscoutQuota
	}
	if c.Argon2.Memory == 0 {
		c.Argon2 = d.Argon2
	}
	return c
}

// Service implements the rules on top of a Store.
type Service struct {
	store   glucose.Store
	hot     glucose.HotReader // the store's hot reads, when it has them
	touches touches           // sessions' last use, waiting to be written (touch.go)
	cfg     Config
	hasher  *hasher
	shared  map[string]bool
	m       *metrics.Metrics // nil-safe
	hub     *events.Hub      // nil-safe
	log     *slog.Logger

	nsKeys    lookupKeys // Nightscout credentials' lookup keys
	jwtKey    []byte     // signs Nightscout JWTs
	bucketKey bucketKey  // the key of unknown names' throttling buckets (throttle.go)
}

// SetLogger sets where the service reports failures that no caller can
// act on (an alarm evaluation after an upload that was already stored).
func (s *Service) SetLogger(l *slog.Logger) { s.log = l }

// SetMetrics makes the service count logins, login delays and stored readings.
func (s *Service) SetMetrics(m *metrics.Metrics) { s.m = m }

// New returns a Service over store.
func New(store glucose.Store, cfg Config) *Service {
	cfg = cfg.withDefaults()
	s := &Service{store: store, cfg: cfg, hasher: newHasher(cfg.Argon2), shared: map[string]bool{}, log: slog.Default(),
		nsKeys: newLookupKeys(NightscoutKeysFrom(cfg.SecretKey).Lookup), jwtKey: NightscoutKeysFrom(cfg.SecretKey).JWT}
	if s.jwtKey == nil {
		s.jwtKey = randomKey(32)
	}
	s.hot, _ = store.(glucose.HotReader)
	for _, sn := range cfg.SharedSerials {
		s.shared[strings.ToUpper(strings.TrimSpace(sn))] = true
	}
	return s
}

// Fresh marks ctx with the start of a request, so that the request's reads
// of its session and latest readings share one freshness check of the
// store's cache (glucose.HotReader).
func (s *Service) Fresh(ctx context.Context) context.Context {
	if s.hot == nil {
		return ctx
	}
	return s.hot.Fresh(ctx)
}

// Config returns the effective configuration.
func (s *Service) Config() Config { return s.cfg }

// Store returns the store the service works on.
func (s *Service) Store() glucose.Store { return s.store }

// CompatFor resolves the reading format for a request (docs/protocol.md, "Compatibility mode"): the query's
// compat when given, else the account's setting, else the server's.
func (s *Service) CompatFor(query string, acct *glucose.Account) string {
	switch strings.ToLower(query) {
	case glucose.CompatLegacy, glucose.CompatModern:
		return strings.ToLower(query)
	}
	if acct != nil && acct.Compat != glucose.CompatUnset {
		return acct.Compat
	}
	return s.cfg.Compat
}
