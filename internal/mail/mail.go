// Package mail e-mails invitations to followers over SMTP (STARTTLS,
// implicit TLS or plain), through github.com/wneessen/go-mail.
//
// Sending is asynchronous: SendInvitation queues the message and returns at
// once, and one worker delivers the queue with a timeout per message. A
// failure is logged and otherwise ignored — the invitation stays waiting and
// the publisher can still pass its id on by hand (docs/protocol.md, "Publisher: contacts and followers").
package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"strings"
	"sync"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/glucoshare/glucoshare/internal/glucose"
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS = "starttls" // plain connection upgraded with STARTTLS, required
	TLSImplicit = "tls"      // TLS from the first byte (SMTPS)
	TLSNone     = "none"     // no encryption; for a relay on the same host
)

// Defaults.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultQueueSize = 100
)

// Config says how to reach the mail server.
type Config struct {
	Host     string
	Port     int // 0: 587 for starttls, 465 for tls, 25 for none
	Username string
	Password string
	From     string // the sender address, e.g. "glucoshare <share@example.org>"
	TLS      string // TLSStartTLS (default), TLSImplicit or TLSNone
	// Timeout bounds one delivery: connecting, the SMTP dialogue and the
	// upload. Default 30s.
	Timeout   time.Duration
	QueueSize int // messages waiting at most; default 100
}

// Validate checks the settings.
func (c Config) Validate() error {
	switch {
	case c.Host == "":
		return errors.New("mail: no SMTP host")
	case c.Port < 0 || c.Port > 65535:
		return fmt.Errorf("mail: SMTP port %d out of range", c.Port)
	}
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		return fmt.Errorf("mail: TLS mode %q: want starttls, tls or none", c.TLS)
	}
	if _, err := mail.ParseAddress(c.From); err != nil {
		return fmt.Errorf("mail: sender address %q: %w", c.From, err)
	}
	return nil
}

// Sender delivers invitation e-mails in the background. It implements
// glucose.InvitationSender.
type Sender struct {
	cfg   Config
	log   *slog.Logger
	queue chan glucose.InvitationNotice
	done  chan struct{}

	mu     sync.Mutex
	closed bool
}

var _ glucose.InvitationSender = (*Sender)(nil)

// New validates cfg and starts the delivery worker; Close stops it.
func New(cfg Config, log *slog.Logger) (*Sender, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if cfg.TLS == "" {
		cfg.TLS = TLSStartTLS
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.QueueSize <= 0 {
		cfg.QueueSize = DefaultQueueSize
	}
	if log == nil {
		log = slog.Default()
	}
	s := &Sender{cfg: cfg, log: log, queue: make(chan glucose.InvitationNotice, cfg.QueueSize), done: make(chan struct{})}
	go s.work()
	return s, nil
}

// SendInvitation queues an invitation e-mail and returns at once. A full
// queue or a closed sender drops the message, with a log line.
func (s *Sender) SendInvitation(_ context.Context, n glucose.InvitationNotice) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		s.log.Warn("invitation e-mail not sent: mail sender closed", "to", n.To)
		return
	}
	select {
	case s.queue <- n:
	default:
		s.log.Warn("invitation e-mail not sent: queue full", "to", n.To)
	}
}

// Close stops accepting messages and waits until the queued ones were
// delivered or ctx ends.
func (s *Sender) Close(ctx context.Context) error {
	s.mu.Lock()
	if !s.closed {
		s.closed = true
		close(s.queue)
	}
	s.mu.Unlock()
	select {
	case <-s.done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("mail: %d message(s) not delivered: %w", len(s.queue), ctx.Err())
	}
}

func (s *Sender) work() {
	defer close(s.done)
	for n := range s.queue {
		if err := s.deliver(n); err != nil {
			s.log.Warn("invitation e-mail failed", "to", n.To, "err", err)
			continue
		}
		s.log.Info("invitation e-mail sent", "to", n.To)
	}
}

// deliver sends one message on its own connection.
func (s *Sender) deliver(n glucose.InvitationNotice) error {
	msg, err := s.message(n)
	if err != nil {
		return err
	}
	client, err := gomail.NewClient(s.cfg.Host, s.clientOptions()...)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.cfg.Timeout)
	defer cancel()
	return client.DialAndSendWithContext(ctx, msg)
}

func (s *Sender) clientOptions() []gomail.Option {
	opts := []gomail.Option{gomail.WithTimeout(s.cfg.Timeout)}
	port := s.cfg.Port
	switch s.cfg.TLS {
	case TLSImplicit:
		opts = append(opts, gomail.WithSSL())
		port = cmpOr(port, gomail.DefaultPortSSL)
	case TLSNone:
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
		port = cmpOr(port, gomail.DefaultPort)
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
		port = cmpOr(port, gomail.DefaultPortTLS)
	}
	opts = append(opts, gomail.WithPort(port))
	if s.cfg.Username != "" {
		// Auto-discovery never picks a mechanism that sends the password
		// in the clear over an unencrypted connection.
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(s.cfg.Username), gomail.WithPassword(s.cfg.Password))
	}
	return opts
}

func cmpOr(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// message builds the e-mail for an invitation.
func (s *Sender) message(n glucose.InvitationNotice) (*gomail.Msg, error) {
	m := gomail.NewMsg()
	if err := m.From(s.cfg.From); err != nil {
		return nil, fmt.Errorf("sender address: %w", err)
	}
	if err := m.AddToFormat(n.ContactName, n.To); err != nil {
		return nil, fmt.Errorf("recipient address: %w", err)
	}
	subject, body := Compose(n)
	m.Subject(subject)
	m.SetDate()
	m.SetMessageID()
	m.SetBodyString(gomail.TypeTextPlain, body)
	return m, nil
}

// Compose returns the subject and plain-text body of an invitation e-mail.
func Compose(n glucose.InvitationNotice) (subject, body string) {
	who := n.PublisherName
	if who == "" {
		who = "Someone"
	}
	subject = who + " invites you to follow their glucose readings"
	var b strings.Builder
	if n.ContactName != "" {
		fmt.Fprintf(&b, "Hello %s,\n\n", n.ContactName)
	}
	fmt.Fprintf(&b, "%s has invited you to follow their glucose readings with glucoshare", who)
	if !n.History {
		b.WriteString(" (the current value only)")
	}
	b.WriteString(".\n")
	if n.Alerts != "" {
		fmt.Fprintf(&b, "Proposed alerts: %s. You can change them after accepting.\n", n.Alerts)
	}
	b.WriteString("\n")
	if n.Link != "" {
		fmt.Fprintf(&b, "To accept, open:\n%s\n\n", n.Link)
	}
	fmt.Fprintf(&b, "Invitation code: %s\n", n.InvitationID)
	b.WriteString("A follower app that supports glucoshare invitations accepts it with this code.\n\n")
	fmt.Fprintf(&b, "The invitation expires on %s.\n", n.Expires.UTC().Format("2 January 2006 at 15:04 MST"))
	b.WriteString("If you did not expect it, ignore this message.\n")
	return subject, b.String()
}
