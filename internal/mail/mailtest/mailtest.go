// Package mailtest runs a small SMTP server on 127.0.0.1 for tests: it
// speaks EHLO/HELO, MAIL, RCPT, DATA, RSET, NOOP and QUIT without
// encryption or authentication, and hands every message it receives to the
// test.
package mailtest

import (
	"bufio"
	"io"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
)

// Message is one message the server received.
type Message struct {
	From   string   // MAIL FROM
	To     []string // RCPT TO
	Header mail.Header
	Body   string // decoded from quoted-printable when so encoded
}

// Server is a running test SMTP server.
type Server struct {
	Host string
	Port int
	// Messages receives each message once its DATA is complete.
	Messages chan Message

	ln net.Listener
	wg sync.WaitGroup
}

// Start starts a server that stops when the test ends.
func Start(t testing.TB) *Server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("mailtest: %v", err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	s := &Server{Host: "127.0.0.1", Port: addr.Port, Messages: make(chan Message, 16), ln: ln}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

// Next waits up to timeout for the next message.
func (s *Server) Next(t testing.TB, timeout time.Duration) Message {
	t.Helper()
	select {
	case m := <-s.Messages:
		return m
	case <-time.After(timeout):
		t.Fatalf("mailtest: no message within %s", timeout)
		return Message{}
	}
}

func (s *Server) accept() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.serve(conn)
		}()
	}
}

// serve runs one SMTP session.
func (s *Server) serve(conn net.Conn) {
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(conn)
	reply := func(lines ...string) {
		conn.Write([]byte(strings.Join(lines, "\r\n") + "\r\n"))
	}
	reply("220 127.0.0.1 mailtest ESMTP")
	var m Message
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, arg, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(verb) {
		case "EHLO":
			reply("250-127.0.0.1 hello", "250-8BITMIME", "250 SMTPUTF8")
		case "HELO":
			reply("250 127.0.0.1 hello")
		case "MAIL":
			m = Message{From: address(arg)}
			reply("250 OK")
		case "RCPT":
			m.To = append(m.To, address(arg))
			reply("250 OK")
		case "DATA":
			reply("354 end with <CRLF>.<CRLF>")
			data, err := readData(r)
			if err != nil {
				return
			}
			s.deliver(m, data)
			reply("250 OK queued")
		case "RSET":
			m = Message{}
			reply("250 OK")
		case "QUIT":
			reply("221 bye")
			return
		default:
			reply("250 OK")
		}
	}
}

// address extracts the path of "FROM:<a@b> …" or "TO:<a@b>".
func address(arg string) string {
	_, rest, _ := strings.Cut(arg, ":")
	rest = strings.TrimSpace(rest)
	if i := strings.IndexByte(rest, '>'); strings.HasPrefix(rest, "<") && i > 0 {
		return rest[1:i]
	}
	return rest
}

// readData reads the DATA section up to the lone dot, undoing dot-stuffing.
func readData(r *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == ".\r\n" || line == ".\n" {
			return b.String(), nil
		}
		b.WriteString(strings.TrimPrefix(line, "."))
	}
}

func (s *Server) deliver(m Message, data string) {
	msg, err := mail.ReadMessage(strings.NewReader(data))
	if err != nil {
		m.Body = data
		s.Messages <- m
		return
	}
	m.Header = msg.Header
	var body io.Reader = msg.Body
	if strings.EqualFold(msg.Header.Get("Content-Transfer-Encoding"), "quoted-printable") {
		body = quotedprintable.NewReader(body)
	}
	raw, _ := io.ReadAll(body)
	m.Body = strings.ReplaceAll(string(raw), "\r\n", "\n")
	if subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err == nil {
		m.Header["Subject"] = []string{subj}
	}
	s.Messages <- m
}
