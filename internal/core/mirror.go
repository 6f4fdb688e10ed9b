package core

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"
	"unicode"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/netguard"
	"github.com/glucoshare/glucoshare/internal/notify"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/share"
)

// Mirror links (docs/mirror.md): an account's readings copied from an
// account on another Share server, Dexcom's hosted service above all. This
// file keeps the links and stores what the poller (internal/mirror) reads;
// the readings take the upload path's rules (readings.go).

// Purposes of the keys that seal a link's secrets (package secretkey).
const (
	mirrorPasswordPurpose = "mirror-password"
	mirrorSessionPurpose  = "mirror-session"
)

// Bounds of what a link's owner types.
const (
	maxMirrorUsername = 256
	maxMirrorPassword = 256
	maxMirrorServer   = 512
)

// DefaultMirrorLag is the delay first assumed between a reading's time and
// its appearance upstream; each link then adjusts it to what it observes.
const DefaultMirrorLag = 15 * time.Second

// MirrorNotice is the name of the notice that tells an owner their link
// stopped (webhook event, push tag).
const MirrorNotice = "link_broken"

// ErrMirrorStale means a poll's claim on its link was lost, or the link was
// re-linked or removed, before the poll's outcome was recorded: the outcome
// and its readings are dropped.
var ErrMirrorStale = errors.New("mirror: the link changed or was claimed elsewhere during the poll")

// MirrorLinkRequest is what an owner gives to link an account.
type MirrorLinkRequest struct {
	Server   string // us, ous, jp, or a base URL
	Username string
	Password string
}

// LinkMirror links the account to a Share account, replacing any link it
// had; the poller reads the last 24 hours at once. The password is sealed
// under the operator's key, and refused without one: it must be usable
// again, so a hash will not do, and the database alone must not give it
// away.
func (s *Service) LinkMirror(ctx context.Context, accountID string, req MirrorLinkRequest, now time.Time) (*glucose.MirrorLink, error) {
	if s.cfg.SecretKey == nil {
		return nil, fmt.Errorf("linking a Share account needs the server's secret key to encrypt the password: %w", secretkey.ErrNoKey)
	}
	server, err := s.checkMirrorServer(req.Server)
	if err != nil {
		return nil, err
	}
	if err := checkMirrorCredential("user name", req.Username, maxMirrorUsername); err != nil {
		return nil, err
	}
	if err := checkMirrorCredential("password", req.Password, maxMirrorPassword); err != nil {
		return nil, err
	}
	l := &glucose.MirrorLink{AccountID: accountID, Server: server, Username: strings.TrimSpace(req.Username),
		PasswordSealed: s.cfg.SecretKey.Seal(mirrorPasswordPurpose, []byte(req.Password), []byte(accountID)),
		NextPoll:       now, Lag: DefaultMirrorLag, Created: now}
	err = s.store.Update(ctx, func(tx glucose.Tx) error {
		if _, err := tx.AccountByID(accountID); err != nil {
			return err
		}
		return tx.PutMirrorLink(l)
	})
	if err != nil {
		return nil, err
	}
	return l, nil
}

// checkMirrorServer returns the server in the form kept: a region's name,
// or a base URL that the client accepts and that netguard allows.
func (s *Service) checkMirrorServer(server string) (string, error) {
	server = strings.TrimSpace(server)
	if r, err := share.ParseRegion(server); err == nil {
		return string(r), nil
	}
	c, err := share.NewClient(share.WithServer(server))
	if err != nil || len(server) > maxMirrorServer {
		return "", glucose.Errorf(share.CodeInvalidArgument,
			"Share server %q: want us, ous, jp or a URL such as https://share.example.org", server)
	}
	u, _ := url.Parse(c.BaseURL()) // the client built it
	if err := netguard.CheckURL(u, s.cfg.AllowPrivateAddresses); err != nil {
		return "", glucose.Errorf(share.CodeInvalidArgument, "Share server %q: %v", server, err)
	}
	return server, nil
}

func checkMirrorCredential(what, v string, max int) error {
	switch {
	case strings.TrimSpace(v) == "":
		return glucose.Errorf(share.CodeInvalidArgument, "The %s of the Share account is empty.", what)
	case len(v) > max:
		return glucose.Errorf(share.CodeInvalidArgument, "The %s of the Share account is longer than %d bytes.", what, max)
	case strings.ContainsFunc(v, unicode.IsControl):
		return glucose.Errorf(share.CodeInvalidArgument, "The %s of the Share account contains control characters.", what)
	}
	return nil
}

// UnlinkMirror removes the account's link and erases its sealed password
// and session; glucose.ErrNotFound when there is none. Mirrored readings
// stay.
func (s *Service) UnlinkMirror(ctx context.Context, accountID string) error {
	return s.store.Update(ctx, func(tx glucose.Tx) error {
		return tx.DeleteMirrorLink(accountID)
	})
}

// MirrorLink returns the account's link; glucose.ErrNotFound when it has
// none. Its sealed fields are for the poller only.
func (s *Service) MirrorLink(ctx context.Context, accountID string) (*glucose.MirrorLink, error) {
	var l *glucose.MirrorLink
	err := s.store.View(ctx, func(tx glucose.Tx) (err error) {
		l, err = tx.MirrorLink(accountID)
		return err
	})
	return l, err
}

// ClaimMirrorLinks claims up to max due links for holder until until.
func (s *Service) ClaimMirrorLinks(ctx context.Context, holder string, now, until time.Time, max int) ([]glucose.MirrorLink, error) {
	var ls []glucose.MirrorLink
	err := s.store.Update(ctx, func(tx glucose.Tx) (err error) {
		ls, err = tx.ClaimMirrorLinks(holder, now, until, max)
		return err
	})
	return ls, err
}

// ReleaseMirrorClaims ends holder's claims (a poller that stops).
func (s *Service) ReleaseMirrorClaims(ctx context.Context, holder string) error {
	return s.store.Update(ctx, func(tx glucose.Tx) error { return tx.ReleaseMirrorClaims(holder) })
}

// MirrorSecrets opens a link's password and upstream session ("" when
// there is none, or when it no longer opens under the key).
func (s *Service) MirrorSecrets(l *glucose.MirrorLink) (password, session string, err error) {
	if s.cfg.SecretKey == nil {
		return "", "", secretkey.ErrNoKey
	}
	ad := []byte(l.AccountID)
	pw, err := s.cfg.SecretKey.Open(mirrorPasswordPurpose, l.PasswordSealed, ad)
	if err != nil {
		return "", "", err
	}
	if l.SessionSealed != nil {
		if sid, err := s.cfg.SecretKey.Open(mirrorSessionPurpose, l.SessionSealed, ad); err == nil {
			session = string(sid)
		}
	}
	return string(pw), session, nil
}

// SealMirrorSession seals an upstream session id for the link's row.
func (s *Service) SealMirrorSession(accountID, session string) []byte {
	return s.cfg.SecretKey.Seal(mirrorSessionPurpose, []byte(session), []byte(accountID))
}

// RecordMirrorPoll stores what a poll read and its outcome in one
// transaction: the readings by the upload's rules (PostReadings, without
// the receiver checks: the link is the account's receiver), and the link's
// new state, both only while the poller's claim holds (ErrMirrorStale
// otherwise). A disabled account stores no readings; they are read again
// once it is enabled. A link the upstream broke tells its owner through
// their channels, with the commit. Alarms and live updates follow the
// commit as after an upload.
func (s *Service) RecordMirrorPoll(ctx context.Context, accountID string, p glucose.MirrorPoll, egvs []EGV, now time.Time) (PostResult, error) {
	var (
		res               PostResult
		alarmWork, resent bool
	)
	err := s.store.Update(ctx, func(tx glucose.Tx) error {
		res, alarmWork, resent = PostResult{}, false, false
		me, err := tx.AccountByID(accountID)
		if err != nil {
			return err
		}
		poll := p
		if rs := s.acceptable(egvs, now, &res); len(rs) > 0 && !me.Disabled {
			had, err := readingsAt(tx, accountID, rs)
			if err != nil {
				return err
			}
			if alarmWork, resent, err = storeReadings(tx, accountID, rs, &res); err != nil {
				return err
			}
			if res.Stored > 0 {
				if err := markMirrored(tx, accountID, rs, had); err != nil {
					return err
				}
			}
		} else if me.Disabled {
			poll.LastReading = time.Time{}
		}
		ok, err := tx.RecordMirrorPoll(accountID, poll)
		if err != nil {
			return err
		}
		if !ok {
			return ErrMirrorStale
		}
		if p.Broken {
			return EnqueueNotice(tx, accountID, brokenNotice(p.Error), now)
		}
		return nil
	})
	if err != nil {
		return PostResult{}, err
	}
	s.m.EGVs(res.Stored)
	s.afterUpload(ctx, accountID, now, res.Stored > 0, alarmWork, resent)
	return res, nil
}

// readingsAt returns the account's readings at the STs of rs, by ST:
// probes of the primary key, however far apart an upstream spreads them.
func readingsAt(tx glucose.Tx, accountID string, rs []glucose.Reading) (map[int64]glucose.Reading, error) {
	stored, err := tx.ReadingsAt(accountID, stsOf(rs))
	if err != nil {
		return nil, err
	}
	byST := make(map[int64]glucose.Reading, len(stored))
	for _, r := range stored {
		byST[r.ST] = r
	}
	return byST, nil
}

// markMirrored marks the readings of rs that this transaction stored: not
// there before it (had) and there now with rs's received time. A reading
// that an upload stored first stays an upload. The received time settles
// most of the one case had cannot: on PostgreSQL (READ COMMITTED) an
// upload of the same reading that commits between the two reads; only one
// received in the same millisecond as the poll would still be marked.
func markMirrored(tx glucose.Tx, accountID string, rs []glucose.Reading, had map[int64]glucose.Reading) error {
	now, err := readingsAt(tx, accountID, rs)
	if err != nil {
		return err
	}
	for _, r := range rs {
		stored, ok := now[r.ST]
		if _, before := had[r.ST]; before || !ok || stored.ReceivedAt != r.ReceivedAt {
			continue
		}
		if err := tx.MarkMirroredReading(accountID, r.ST); err != nil {
			return err
		}
	}
	return nil
}

// mirroredAmong returns which of rs are mirrored readings, in one batched
// lookup; nil when rs is empty.
func mirroredAmong(tx glucose.Tx, accountID string, rs []glucose.Reading) (map[int64]bool, error) {
	if len(rs) == 0 {
		return nil, nil
	}
	marked, err := tx.MirroredReadings(accountID, stsOf(rs))
	if err != nil || len(marked) == 0 {
		return nil, err
	}
	set := make(map[int64]bool, len(marked))
	for _, st := range marked {
		set[st] = true
	}
	return set, nil
}

// stsOf returns the STs of rs.
func stsOf(rs []glucose.Reading) []int64 {
	sts := make([]int64, len(rs))
	for i, r := range rs {
		sts[i] = r.ST
	}
	return sts
}

// brokenNotice tells an owner that their link stopped.
func brokenNotice(reason string) notify.Notice {
	return notify.Notice{Name: MirrorNotice, Title: "Dexcom mirror stopped", Priority: notify.PriorityHigh,
		Body: "The Share server refused the linked account's user name or password (" + truncate(reason, 200) +
			"). glucoshare stopped reading it, so as not to lock the account; link it again with the current password."}
}

// truncate cuts s to at most n bytes, on a rune boundary.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

func utf8RuneStart(b byte) bool { return b&0xC0 != 0x80 }
