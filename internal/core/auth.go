package core

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/share"
)

// touchEvery bounds how often a session's last use is recorded: idle
// expiry is measured with this granularity, and a poller does not turn its
// reads into writes. It is a 48th of the idle lifetime (30 minutes of the
// default 24 hours), and at least a minute: an app polling every few
// minutes then writes its use once in many reads, where a minute made every
// read of a 2.5-minute poller a write (the planet's 13,333 reads/s). Recorded
// uses are written in batches (touch.go).
func (s *Service) touchEvery() time.Duration {
	return max(time.Minute, s.cfg.SessionIdle/48)
}

// errCredentials is the single answer for an unknown name, an unknown id and a
// wrong password (docs/protocol.md, "Credential checks" step 4).
func errCredentials() *glucose.Error {
	return glucose.Errorf(share.CodeAccountPasswordInvalid, "The account name or id and the credentials given do not match.")
}

// NewAccount describes an account an operator creates.
type NewAccount struct {
	Name        string
	Email       string
	DisplayName string
	Password    string
	// Units the account reads values in; UnitsUnset reads the default.
	Units glucose.Units
}

// CreateAccount creates an account and returns it.
func (s *Service) CreateAccount(ctx context.Context, in NewAccount, now time.Time) (*glucose.Account, error) {
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > MaxAccountNameRunes || !utf8.ValidString(name) || hasControl(name) {
		return nil, glucose.InvalidArgument("accountName must be 1 to %d characters without control characters", MaxAccountNameRunes)
	}
	if err := s.checkNewPassword("password", in.Password); err != nil {
		return nil, err
	}
	email := strings.TrimSpace(in.Email)
	if email != "" {
		if err := checkEmail(email); err != nil {
			return nil, err
		}
	}
	display, err := checkDisplayName(in.DisplayName, true)
	if err != nil {
		return nil, err
	}
	if err := checkUnits(in.Units); err != nil {
		return nil, err
	}
	hash, err := s.hasher.Hash(ctx, in.Password)
	if err != nil {
		return nil, err
	}
	a := &glucose.Account{
		ID: share.NewID(), Name: name, Email: email, DisplayName: display,
		PasswordHash: hash, Units: in.Units, CreatedAt: now,
	}
	err = s.store.Update(ctx, func(tx glucose.Tx) error { return tx.CreateAccount(a) })
	if errors.Is(err, glucose.ErrConflict) {
		return nil, glucose.InvalidArgument("an account named %q already exists", name)
	}
	return a, err
}

// Accounts lists every account.
func (s *Service) Accounts(ctx context.Context) ([]glucose.Account, error) {
	var as []glucose.Account
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		as, err = tx.Accounts()
		return err
	})
	return as, err
}

// FindAccount resolves an operator's reference to an account: its id or its
// name.
func (s *Service) FindAccount(ctx context.Context, ref string) (*glucose.Account, error) {
	var a *glucose.Account
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		if id, ok := share.ParseID(ref); ok {
			if a, err = tx.AccountByID(id); err == nil {
				return nil
			}
		}
		a, err = tx.AccountByName(glucose.NameKey(ref))
		return err
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return nil, fmt.Errorf("no account %q", ref)
	}
	return a, err
}

// SetPassword sets an account's password as the operator and ends all of its
// sessions.
func (s *Service) SetPassword(ctx context.Context, accountID, password string, now time.Time) error {
	if err := s.checkNewPassword("password", password); err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, password)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.SetPasswordHash(accountID, hash); err != nil {
			return err
		}
		if err := tx.ClearAccountLogins(accountID); err != nil {
			return err
		}
		return tx.EndOtherSessions(accountID, "", now)
	})
}

// SetDisabled disables or re-enables an account. Disabling ends its
// sessions; a disabled account cannot log in, and its followers read
// nothing of it, alarms included.
func (s *Service) SetDisabled(ctx context.Context, accountID string, disabled bool, now time.Time) error {
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.SetDisabled(accountID, disabled); err != nil {
			return err
		}
		if !disabled {
			return nil
		}
		return tx.EndOtherSessions(accountID, "", now)
	})
	if err != nil {
		return err
	}
	// Its followers' alarms clear (disabled) or resume (enabled) at once
	// rather than at the next tick.
	return s.EvaluatePublisher(ctx, accountID, now)
}

// SetUnits sets the units an account reads values in; UnitsUnset returns
// it to the default.
func (s *Service) SetUnits(ctx context.Context, accountID string, units glucose.Units) error {
	if err := checkUnits(units); err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error { return tx.SetUnits(accountID, units) })
}

// checkUnits accepts the units an account can store.
func checkUnits(units glucose.Units) error {
	switch units {
	case glucose.UnitsUnset, glucose.UnitsMgdl, glucose.UnitsMmol:
		return nil
	}
	return glucose.InvalidArgument("units must be mg/dL or mmol/L, not %q", units)
}

// SetCompat sets an account's reading format (docs/protocol.md, "Compatibility mode"); "" unsets it.
func (s *Service) SetCompat(ctx context.Context, accountID, compat string) error {
	switch compat {
	case glucose.CompatUnset, glucose.CompatModern, glucose.CompatLegacy:
	default:
		return fmt.Errorf("compat must be modern, legacy or empty, not %q", compat)
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error { return tx.SetCompat(accountID, compat) })
}

// Credentials identify an account at login. Exactly one of Name and ID is
// used: Name for the by-name calls, ID for the by-id calls.
type Credentials struct {
	Name          string
	NameIsNumber  bool // the name arrived as a JSON number (docs/protocol.md, "Credential checks" step 5)
	ID            string
	ByID          bool
	Password      string
	ApplicationID string
	// Addr is the client's address (clientaddr); the zero Addr counts as
	// one address of its own. Failures are throttled per address.
	Addr netip.Addr
	// SessionHint is a session id the client holds (the dashboard's
	// cookie, a sessionId sent along): when it is a session of the account
	// that was valid recently, the check is throttled on its own, apart
	// from every address (throttle.go).
	SessionHint string
}

// Input limits of a credential check: no account name is longer
// (CreateAccount), and no password that can be set is longer than 256
// characters of 4 bytes.
const (
	MaxAccountNameRunes = 254
	MaxPasswordBytes    = 1024
	MaxApplicationID    = 64
)

// Authenticate checks credentials (docs/protocol.md, "Credential checks") under the login throttling of
// throttle.go, and returns the account.
func (s *Service) Authenticate(ctx context.Context, c Credentials, now time.Time) (*glucose.Account, error) {
	return s.authenticate(ctx, c, now, nil)
}

// authenticate checks credentials; after a success, then runs in the same
// transaction that gives the throttling reservation back, so that a login
// commits once after the password check (Login opens its session there).
func (s *Service) authenticate(ctx context.Context, c Credentials, now time.Time,
	then func(tx glucose.Tx, acct *glucose.Account) error) (*glucose.Account, error) {
	if err := validateCredentials(&c); err != nil {
		return nil, err
	}
	key, err := s.loginBucketKey(ctx)
	if err != nil {
		return nil, err
	}
	var (
		acct *glucose.Account
		g    loginGate
		at   attempt
	)
	err = s.store.Update(ctx, func(tx glucose.Tx) error {
		a, subject, err := resolveAccount(tx, c)
		if err != nil {
			return err
		}
		if g, err = s.gate(tx, a, c, subject, key, now); err != nil {
			return err
		}
		acct = a
		at, err = s.reserve(tx, g, now)
		return err
	})
	if err != nil {
		return nil, err
	}
	if !at.blockedUntil.IsZero() {
		s.m.Login("locked")
		return nil, delayedError(at.blockedUntil, now)
	}
	hash := ""
	if acct != nil && !acct.Disabled {
		hash = acct.PasswordHash
	}
	ok, err := s.hasher.Verify(ctx, hash, c.Password)
	if err != nil {
		return nil, err
	}
	if !ok {
		s.m.Login("invalid")
		if at.delayed {
			s.m.Lockout()
		}
		return nil, errCredentials()
	}
	s.m.Login("ok")
	err = s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := s.release(tx, acct, g, now); err != nil || then == nil {
			return err
		}
		return then(tx, acct)
	})
	if err != nil {
		return nil, err
	}
	return acct, nil
}

// Login checks credentials and opens a new session.
func (s *Service) Login(ctx context.Context, c Credentials, now time.Time) (*glucose.Session, error) {
	sess := &glucose.Session{
		ID: share.NewID(), ApplicationID: cleanLabel(c.ApplicationID, MaxApplicationID),
		CreatedAt: now, LastUsedAt: now,
	}
	_, err := s.authenticate(ctx, c, now, func(tx glucose.Tx, acct *glucose.Account) error {
		sess.AccountID = acct.ID
		if err := tx.EvictSessions(acct.ID, s.cfg.SessionsPerAccount-1, now); err != nil {
			return err
		}
		return tx.CreateSession(sess)
	})
	if err != nil {
		return nil, err
	}
	return sess, nil
}

// validateCredentials applies steps 1 and 2 of docs/protocol.md, "Credential checks" and caps every value
// before it reaches a look-up: a name longer than any account's, a name
// that is not text, or a password longer than any that can be set is
// refused with InvalidArgument and counts as no attempt.
func validateCredentials(c *Credentials) error {
	if !c.ByID {
		c.Name = strings.TrimSpace(c.Name)
		switch {
		case c.Name == "":
			return glucose.InvalidArgument("accountName must not be empty")
		case len(c.Name) > 4*MaxAccountNameRunes || utf8.RuneCountInString(c.Name) > MaxAccountNameRunes:
			return glucose.InvalidArgument("accountName must be at most %d characters", MaxAccountNameRunes)
		case !utf8.ValidString(c.Name) || hasControl(c.Name):
			return glucose.InvalidArgument("accountName must be text without control characters")
		}
	}
	switch {
	case c.Password == "":
		return glucose.InvalidArgument("password must not be empty")
	case len(c.Password) > MaxPasswordBytes:
		return glucose.InvalidArgument("password must be at most %d bytes", MaxPasswordBytes)
	}
	if !c.ByID {
		return nil
	}
	if strings.TrimSpace(c.ID) == "" {
		return errCredentials()
	}
	id, ok := share.ParseID(c.ID)
	if !ok {
		return glucose.InvalidArgument("accountId must be a UUID in the 36-character form")
	}
	if id == share.ZeroID {
		return errCredentials()
	}
	c.ID = id
	return nil
}

// resolveAccount finds the account the credentials name, or nil, and what
// they named (for the throttling of unknown names, docs/protocol.md, "Login throttling").
func resolveAccount(tx glucose.Tx, c Credentials) (*glucose.Account, string, error) {
	var a *glucose.Account
	var err error
	if c.ByID {
		a, err = tx.AccountByID(c.ID)
	} else {
		a, err = tx.AccountByName(glucose.NameKey(c.Name))
		if errors.Is(err, glucose.ErrNotFound) && c.NameIsNumber {
			a, err = tx.AccountByName(glucose.NameKey("+" + c.Name))
		}
	}
	switch {
	case err == nil:
		return a, "", nil
	case !errors.Is(err, glucose.ErrNotFound):
		return nil, "", err
	case c.ByID:
		return nil, "id:" + c.ID, nil
	default:
		return nil, "name:" + glucose.NameKey(c.Name), nil
	}
}

// Session checks a session id and returns the session and its account. It
// renews the session's idle lifetime (docs/protocol.md, "Sessions").
func (s *Service) Session(ctx context.Context, rawID string, now time.Time) (*glucose.Session, *glucose.Account, error) {
	id, ok := share.ParseID(rawID)
	if !ok || id == share.ZeroID {
		return nil, nil, sessionNotFound(rawID)
	}
	sess, acct, err := s.sessionWithAccount(ctx, id)
	if errors.Is(err, glucose.ErrNotFound) {
		return nil, nil, sessionNotFound(id)
	}
	if err != nil {
		return nil, nil, err
	}
	if now.Sub(sess.LastUsedAt) >= s.touchEvery() {
		// A use not written yet (touch.go) renews the session all the same.
		if at, ok := s.pendingTouch(id); ok && at.After(sess.LastUsedAt) {
			sess.LastUsedAt = at
		}
	}
	if !s.sessionValid(sess, acct, now) {
		return nil, nil, glucose.Errorf(share.CodeSessionNotValid, "Session is not valid. [SessionId = %s]", id)
	}
	if now.Sub(sess.LastUsedAt) >= s.touchEvery() {
		s.touchLater(id, now)
		sess.LastUsedAt = now
	}
	return sess, acct, nil
}

// sessionWithAccount reads a session and its account, from the store's
// cache when it has one. It is a function of its own so that the results,
// which the transaction's closure captures, are moved to the heap only
// when the cache is not used.
func (s *Service) sessionWithAccount(ctx context.Context, id string) (*glucose.Session, *glucose.Account, error) {
	if s.hot != nil {
		return s.hot.SessionWithAccount(ctx, id)
	}
	var sess *glucose.Session
	var acct *glucose.Account
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		sess, acct, err = tx.SessionWithAccount(id)
		return err
	})
	return sess, acct, err
}

func (s *Service) sessionValid(sess *glucose.Session, acct *glucose.Account, now time.Time) bool {
	switch {
	case sess.Ended(), acct.Disabled:
		return false
	case now.Sub(sess.LastUsedAt) > s.cfg.SessionIdle:
		return false
	case s.cfg.SessionMax > 0 && now.Sub(sess.CreatedAt) > s.cfg.SessionMax:
		return false
	}
	return true
}

func sessionNotFound(id string) *glucose.Error {
	return glucose.Errorf(share.CodeSessionIDNotFound, "Session not found. [SessionId = %s]", sanitizeID(id))
}

// sanitizeID keeps an echoed id short and printable.
func sanitizeID(s string) string {
	if len(s) > 40 {
		s = s[:40]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, s)
}

// Logout ends a session of any account; ending one that already ended
// succeeds, one that was never issued answers SessionIdNotFound.
func (s *Service) Logout(ctx context.Context, rawID string, now time.Time) error {
	id, ok := share.ParseID(rawID)
	if !ok || id == share.ZeroID {
		return sessionNotFound(rawID)
	}
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		sess, err := tx.SessionByID(id)
		if err != nil || sess.Ended() {
			return err
		}
		return tx.EndSession(id, now)
	})
	if errors.Is(err, glucose.ErrNotFound) {
		return sessionNotFound(id)
	}
	return err
}

// ForgetSessions deletes sessions that ended, or went idle, long enough ago
// that they may answer SessionIdNotFound.
func (s *Service) ForgetSessions(ctx context.Context, now time.Time) (int, error) {
	idle := s.cfg.SessionIdle
	if s.cfg.SessionMax > idle {
		idle = s.cfg.SessionMax
	}
	cutoff := now.Add(-s.cfg.SessionRemember)
	if idleCut := now.Add(-idle - s.cfg.SessionRemember); idleCut.Before(cutoff) {
		cutoff = idleCut
	}
	var n int
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		n, err = tx.ForgetSessions(cutoff)
		return err
	})
	return n, err
}

// ChangePassword changes the caller's password after checking the old one;
// every other session of the account ends, the calling one stays valid.
func (s *Service) ChangePassword(ctx context.Context, sess *glucose.Session, oldPassword, newPassword string, now time.Time) error {
	if oldPassword == "" {
		return glucose.InvalidArgument("oldPassword must not be empty")
	}
	if err := s.checkNewPassword("newPassword", newPassword); err != nil {
		return err
	}
	_, err := s.Authenticate(ctx, Credentials{ID: sess.AccountID, ByID: true, Password: oldPassword, SessionHint: sess.ID}, now)
	if err != nil {
		return err
	}
	hash, err := s.hasher.Hash(ctx, newPassword)
	if err != nil {
		return err
	}
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		if err := tx.SetPasswordHash(sess.AccountID, hash); err != nil {
			return err
		}
		return tx.EndOtherSessions(sess.AccountID, sess.ID, now)
	})
}

// checkNewPassword applies the length rule to a password about to be set;
// param names it in the message.
func (s *Service) checkNewPassword(param, p string) error {
	n := utf8.RuneCountInString(p)
	if n < s.cfg.MinPasswordLength || n > 256 {
		return glucose.InvalidArgument("%s must be %d to 256 characters", param, s.cfg.MinPasswordLength)
	}
	return nil
}

// Account returns an account by its id.
func (s *Service) Account(ctx context.Context, id string) (*glucose.Account, error) {
	var a *glucose.Account
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		a, err = tx.AccountByID(id)
		return err
	})
	return a, err
}
