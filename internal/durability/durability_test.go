// Package durability proves that an acknowledged upload survives the
// server being killed: concurrent uploaders post single readings while the
// real server process is SIGKILLed and restarted several times; afterwards
// every reading that got a 200 must be stored, exactly once.
package durability

import (
	"bufio"
	"context"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

const (
	accounts  = 8
	uploaders = 32 // four per account, on disjoint STs
	kills     = 4
)

type account struct{ id, serial, session string }

func TestAcknowledgedUploadsSurviveSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real server")
	}
	bin := filepath.Join(t.TempDir(), "glucoshare")
	if out, err := exec.Command("go", "build", "-o", bin, "github.com/glucoshare/glucoshare/cmd/glucoshare").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	dsn := storetest.DSN(t)
	accts := seed(t, dsn)

	var addr atomic.Value // the running server's address, "" while down
	addr.Store("")
	srv := start(t, bin, dsn)
	addr.Store(srv.addr)

	base := time.Now().Add(-24 * time.Hour).UnixMilli()
	acked := make([][]int64, uploaders) // per uploader: STs answered 200
	var stop atomic.Bool
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 3 * time.Second}
	for u := range uploaders {
		wg.Go(func() {
			a := accts[u%accounts]
			for k := int64(0); !stop.Load(); k++ {
				st := base + k*uploaders + int64(u) // unique per account
				if upload(client, addr.Load().(string), a, st) {
					acked[u] = append(acked[u], st)
				}
			}
		})
	}
	for range kills {
		time.Sleep(time.Duration(300+rand.IntN(700)) * time.Millisecond)
		addr.Store("")
		srv.kill()
		srv = start(t, bin, dsn)
		addr.Store(srv.addr)
	}
	time.Sleep(500 * time.Millisecond)
	stop.Store(true)
	wg.Wait()
	srv.kill() // the last one too

	verify(t, dsn, accts, acked)
}

// upload posts one reading and reports whether it was acknowledged.
func upload(client *http.Client, addr string, a account, st int64) bool {
	if addr == "" {
		time.Sleep(5 * time.Millisecond)
		return false
	}
	date := fmt.Sprintf("/Date(%d)/", st)
	body := fmt.Sprintf(`{"SN":%q,"Egvs":[{"ST":%q,"DT":%q,"Value":120,"Trend":4}]}`, a.serial, date, date)
	url := "http://" + addr + "/ShareWebServices/Services/Publisher/PostReceiverEgvRecords?sessionId=" + a.session
	resp, err := client.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		time.Sleep(5 * time.Millisecond)
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func verify(t *testing.T, dsn string, accts []account, acked [][]int64) {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ackedTotal, found, dups, stored := 0, 0, 0, 0
	for i, a := range accts {
		var rs []glucose.Reading
		err := db.View(ctx, func(tx glucose.Tx) (err error) {
			rs, err = tx.LatestReadings(a.id, 0, 1<<30)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		have := map[int64]int{}
		for _, r := range rs {
			have[r.ST]++
		}
		stored += len(rs)
		for st, n := range have {
			if n > 1 {
				dups += n - 1
				t.Errorf("account %d: ST %d stored %d times", i, st, n)
			}
		}
		for u := i; u < uploaders; u += accounts {
			for _, st := range acked[u] {
				ackedTotal++
				if have[st] > 0 {
					found++
				} else {
					t.Errorf("account %d: acknowledged ST %d is missing", i, st)
				}
			}
		}
	}
	t.Logf("%d kills: acknowledged %d, found %d, duplicates %d (stored %d, including unacknowledged ones)",
		kills, ackedTotal, found, dups, stored)
	if ackedTotal == 0 {
		t.Fatal("no upload was acknowledged")
	}
}

// seed creates the accounts, each monitoring its receiver with a session.
func seed(t *testing.T, dsn string) []account {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, _, err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	var accts []account
	now := time.Now()
	err = db.Update(ctx, func(tx glucose.Tx) error {
		for i := range accounts {
			a := &glucose.Account{Name: fmt.Sprintf("durable%d", i), PasswordHash: "x", CreatedAt: now}
			if err := tx.CreateAccount(a); err != nil {
				return err
			}
			serial := fmt.Sprintf("SM%08d", i)
			if err := tx.SetReceiver(a.ID, serial, share.NewID(), true); err != nil {
				return err
			}
			if err := tx.SetMonitoring(a.ID, true); err != nil {
				return err
			}
			s := &glucose.Session{AccountID: a.ID, CreatedAt: now, LastUsedAt: now}
			if err := tx.CreateSession(s); err != nil {
				return err
			}
			accts = append(accts, account{id: a.ID, serial: serial, session: s.ID})
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return accts
}

type server struct {
	cmd    *exec.Cmd
	addr   string
	exited chan struct{} // closed once the process has exited
	err    error         // its exit, once exited is closed
}

var listening = regexp.MustCompile(`msg="glucoshare listening" addr=(\S+)`)

// start runs the server on a free loopback port with the extra flags in
// args and waits until it listens. The server is killed at cleanup if it
// still runs.
func start(t *testing.T, bin, dsn string, args ...string) *server {
	t.Helper()
	srv, err := launch(bin, dsn, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.kill)
	return srv
}

// launch is start without a test: it may run in another goroutine.
func launch(bin, dsn string, args ...string) (*server, error) {
	cmd := exec.Command(bin, append([]string{"serve", "--db", dsn, "--addr", "127.0.0.1:0"}, args...)...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	srv := &server{cmd: cmd, exited: make(chan struct{})}
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
		// Wait closes the pipe: only after reading it to the end.
		srv.err = cmd.Wait()
		close(srv.exited)
	}()
	select {
	case srv.addr = <-found:
		return srv, nil
	case <-srv.exited:
		return nil, fmt.Errorf("server exited before listening: %v", srv.err)
	case <-time.After(20 * time.Second):
		srv.kill()
		return nil, fmt.Errorf("server did not start listening")
	}
}

// wait waits for the process to exit and returns how it did.
func (s *server) wait() error {
	<-s.exited
	return s.err
}

// kill ends the process with SIGKILL, as a crash would.
func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	<-s.exited
}

// stop ends the process with SIGTERM, as an operator would, and waits for
// its clean shutdown.
func (s *server) stop(t *testing.T) {
	t.Helper()
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
		if s.err != nil {
			t.Errorf("server stopped with %v, want a clean exit", s.err)
		}
	case <-time.After(30 * time.Second):
		s.kill()
		t.Errorf("server did not stop within 30 s of SIGTERM")
	}
}
