package mail_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/mail"
	"github.com/glucoshare/glucoshare/internal/mail/mailtest"
)

var notice = glucose.InvitationNotice{
	To: "mom@example.org", ContactName: "Mom", PublisherName: "Sam",
	InvitationID: "e81b3d5f-0c2a-4f6e-9b7d-1a3c5e7f9b2d",
	Link:         "https://gs.example.org/invite/e81b3d5f-0c2a-4f6e-9b7d-1a3c5e7f9b2d",
	Expires:      time.Date(2025, 4, 26, 16, 43, 0, 0, time.UTC),
	Alerts:       "urgent low below 3.1 mmol/L, low below 3.9 mmol/L",
	History:      true,
}

// syncBuffer is a log sink the worker goroutine may write to.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func newSender(t *testing.T, cfg mail.Config) (*mail.Sender, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	s, err := mail.New(cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, logs
}

func TestCompose(t *testing.T) {
	subject, body := mail.Compose(notice)
	if subject != "Sam invites you to follow their glucose readings" {
		t.Errorf("subject %q", subject)
	}
	for _, want := range []string{"Hello Mom,", notice.Link, "Invitation code: " + notice.InvitationID, "26 April 2025 at 16:43 UTC",
		"Proposed alerts: urgent low below 3.1 mmol/L, low below 3.9 mmol/L."} {
		if !strings.Contains(body, want) {
			t.Errorf("body lacks %q:\n%s", want, body)
		}
	}
	n := notice
	n.Link, n.PublisherName = "", ""
	subject, body = mail.Compose(n)
	if strings.Contains(body, "current value only") {
		t.Errorf("with history, the body says current value only:\n%s", body)
	}
	n.History, n.Alerts = false, ""
	if _, body = mail.Compose(n); !strings.Contains(body, "(the current value only).") || strings.Contains(body, "Proposed alerts") {
		t.Errorf("without history and alerts:\n%s", body)
	}
	if strings.Contains(body, "open:") || !strings.HasPrefix(subject, "Someone ") {
		t.Errorf("without link and name: %q\n%s", subject, body)
	}
}

func TestValidate(t *testing.T) {
	good := mail.Config{Host: "smtp.example.org", From: "glucoshare <share@example.org>"}
	if err := good.Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	for name, mod := range map[string]func(*mail.Config){
		"no host":  func(c *mail.Config) { c.Host = "" },
		"bad port": func(c *mail.Config) { c.Port = 70000 },
		"bad tls":  func(c *mail.Config) { c.TLS = "ssl3" },
		"bad from": func(c *mail.Config) { c.From = "not an address" },
	} {
		c := good
		mod(&c)
		if err := c.Validate(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestDeliver(t *testing.T) {
	srv := mailtest.Start(t)
	s, logs := newSender(t, mail.Config{Host: srv.Host, Port: srv.Port, TLS: mail.TLSNone, From: "glucoshare <share@example.org>"})
	s.SendInvitation(context.Background(), notice)
	m := srv.Next(t, 10*time.Second)
	if m.From != "share@example.org" || len(m.To) != 1 || m.To[0] != "mom@example.org" {
		t.Errorf("envelope from %q to %q", m.From, m.To)
	}
	if got := m.Header.Get("Subject"); got != "Sam invites you to follow their glucose readings" {
		t.Errorf("Subject %q", got)
	}
	if !strings.Contains(m.Header.Get("To"), "mom@example.org") || !strings.Contains(m.Body, notice.Link) {
		t.Errorf("message To %q body:\n%s", m.Header.Get("To"), m.Body)
	}
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "invitation e-mail sent") {
		t.Errorf("logs: %s", logs)
	}
	// After Close nothing more is queued, and nothing panics.
	s.SendInvitation(context.Background(), notice)
	if !strings.Contains(logs.String(), "mail sender closed") {
		t.Errorf("logs after close: %s", logs)
	}
}

func TestDeliveryFailureIsLogged(t *testing.T) {
	// A port that refuses connections.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	s, logs := newSender(t, mail.Config{Host: "127.0.0.1", Port: port, TLS: mail.TLSNone,
		From: "share@example.org", Timeout: 5 * time.Second})
	s.SendInvitation(context.Background(), notice)
	if err := s.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), "invitation e-mail failed") || strings.Contains(logs.String(), notice.InvitationID) {
		t.Errorf("logs: %s", logs)
	}
}
