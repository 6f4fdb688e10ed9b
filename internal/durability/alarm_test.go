package durability

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// The tests below prove that a crash cannot delay an urgent low. They use a
// server built with -tags crashhook, which kills itself with SIGKILL right
// after committing an upload that stored a reading of 55 mg/dL or less:
// the reading is durable, its alarm is not (internal/core/crashhook.go).

// alarmBound is how soon after a restart (or a re-sent reading) the urgent
// low must be listed: what issue 18 asks for an alarm a crash interrupted.
const alarmBound = 5 * time.Second

// urgentLow is the crashing reading: under 55 mg/dL, the urgent low that
// every follower gets (docs/protocol.md, "Alert settings": FixedLowAlert is always enabled).
const urgentLow = 50

// buildCrashBinary builds the server with the crash hook.
func buildCrashBinary(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and kills the real server")
	}
	bin := filepath.Join(t.TempDir(), "glucoshare-crashhook")
	out, err := exec.Command("go", "build", "-tags", "crashhook", "-o", bin,
		"github.com/glucoshare/glucoshare/cmd/glucoshare").CombinedOutput()
	if err != nil {
		t.Fatalf("go build -tags crashhook: %v\n%s", err, out)
	}
	return bin
}

// follow is a publisher (from seed) and a follower whose Active
// subscription has the default alert settings.
type follow struct {
	pub      account
	follower string // session id
	sub      string // subscription id
}

// seedFollow creates a publisher and a follower on the database and has the
// follower accept the publisher's invitation through srv.
func seedFollow(t *testing.T, dsn string, srv *server) follow {
	t.Helper()
	ctx := context.Background()
	accts := seed(t, dsn) // 8 accounts monitoring their receivers
	f := follow{pub: accts[0], follower: accts[1].session}
	pub, fol := client(t, srv.addr, f.pub.session), client(t, srv.addr, f.follower)
	contact, err := pub.CreateContact(ctx, "Kim", "")
	if err != nil {
		t.Fatal(err)
	}
	sub, err := pub.CreateSubscriptionInvitation(ctx, contact, share.Invite{})
	if err != nil {
		t.Fatal(err)
	}
	invite, err := pub.ReadSubscriptionInviteID(ctx, sub)
	if err != nil {
		t.Fatal(err)
	}
	if f.sub, err = fol.AcceptInvitation(ctx, invite); err != nil {
		t.Fatal(err)
	}
	return f
}

func client(t *testing.T, addr, session string) *share.Client {
	t.Helper()
	c, err := share.NewClient(share.WithBaseURL("http://"+addr), share.WithSession(session),
		share.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// postUrgentLow uploads an urgent low at st as the publisher's uploader
// would.
func postUrgentLow(ctx context.Context, t *testing.T, addr string, f follow, st int64) error {
	return client(t, addr, f.pub.session).PostReceiverEgvRecords(ctx, f.pub.serial,
		[]share.Reading{{ST: st, Value: urgentLow, Trend: share.Trend(6)}})
}

// crashOnUrgentLow uploads an urgent low to srv, which must die of SIGKILL
// with the reading stored and no alarm: the state a crash between the two
// leaves behind.
func crashOnUrgentLow(t *testing.T, dsn string, srv *server, f follow) int64 {
	t.Helper()
	st := time.Now().UnixMilli()
	if err := postUrgentLow(context.Background(), t, srv.addr, f, st); err == nil {
		t.Fatal("the upload of an urgent low was answered: the crash hook did not kill the server")
	}
	err := srv.wait()
	if ws, ok := srv.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("server exited with %v, want death by SIGKILL", err)
	}
	db := open(t, dsn)
	err = db.View(context.Background(), func(tx glucose.Tx) error {
		rs, err := tx.LatestReadings(f.pub.id, st, 10)
		if err != nil {
			return err
		}
		if len(rs) != 1 || rs[0].Value != urgentLow {
			t.Fatalf("after the crash the readings at or after ST %d are %+v, want the urgent low", st, rs)
		}
		alarms, err := tx.Alarms([]string{f.sub}, time.Time{})
		if err != nil {
			return err
		}
		if len(alarms) != 0 {
			t.Fatalf("after the crash the follower has alarms %+v, want none yet (killed too late)", alarms)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func open(t *testing.T, dsn string) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), dsn, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// alarms lists the follower's alarms of the last day through srv.
func alarms(t *testing.T, addr string, f follow) []share.Alarm {
	t.Helper()
	as, err := client(t, addr, f.follower).ListSubscriptionAlarms(context.Background(), f.sub, 1440)
	if err != nil {
		t.Fatalf("ListSubscriptionAlarms: %v", err)
	}
	return as
}

// waitUrgentLow polls the follower's alarms until one is listed, and fails
// unless that happens by deadline and is exactly the urgent low, once.
func waitUrgentLow(t *testing.T, addr string, f follow, since time.Time, deadline time.Time) {
	t.Helper()
	for {
		as := alarms(t, addr, f)
		if len(as) > 0 {
			t.Logf("alarm listed %s after %s", time.Since(since).Round(time.Millisecond), "the restart or re-send")
			checkOneUrgentLow(t, as)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alarm listed %s after the restart or re-send; want the urgent low within %s",
				time.Since(since).Round(time.Millisecond), alarmBound)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func checkOneUrgentLow(t *testing.T, as []share.Alarm) {
	t.Helper()
	if len(as) != 1 || as[0].AlertType != share.AlertTypeFixedLow || as[0].Value != urgentLow ||
		as[0].State != share.AlarmActive || as[0].NotifyCount != 1 {
		t.Fatalf("alarms %+v, want one Active urgent low of %d notified once", as, urgentLow)
	}
}

// crashed is the state crash leaves.
type crashed struct {
	bin, dsn string
	f        follow
	st       int64     // the urgent low's ST
	running  []*server // instances started before the crash, still up
}

// crash builds the crashhook server, starts it and running more instances
// on a fresh database, sets up a follower, and uploads an urgent low to the
// first instance, which dies between storing it and its alarm.
func crash(t *testing.T, running int) crashed {
	t.Helper()
	c := crashed{bin: buildCrashBinary(t), dsn: storetest.DSN(t)}
	srv := start(t, c.bin, c.dsn)
	for range running {
		c.running = append(c.running, start(t, c.bin, c.dsn))
	}
	c.f = seedFollow(t, c.dsn, srv)
	c.st = crashOnUrgentLow(t, c.dsn, srv, c.f)
	return c
}

// TestUrgentLowAfterSIGKILL: the server dies between storing an urgent low
// and storing its alarm; restarted with the default --alarm-tick, it lists
// the alarm within 5 s, once, and still once after a further tick.
func TestUrgentLowAfterSIGKILL(t *testing.T) {
	c := crash(t, 0)
	bin, dsn, f := c.bin, c.dsn, c.f

	restart := time.Now()
	srv := start(t, bin, dsn)
	waitUrgentLow(t, srv.addr, f, restart, restart.Add(alarmBound))
	waitTick(t, dsn, restart)
	checkOneUrgentLow(t, alarms(t, srv.addr, f))
}

// TestResentUrgentLowAfterSIGKILL: of two instances, the one that stored
// the urgent low dies before its alarm; the uploader's retry of the same
// reading reaches the other, which stores nothing new but evaluates: the
// alarm is listed at once, once.
func TestResentUrgentLowAfterSIGKILL(t *testing.T) {
	c := crash(t, 1)
	b, f, st := c.running[0], c.f, c.st

	resent := time.Now()
	if err := postUrgentLow(context.Background(), t, b.addr, f, st); err != nil {
		t.Fatalf("re-sending the urgent low: %v", err)
	}
	waitUrgentLow(t, b.addr, f, resent, resent.Add(alarmBound))
	// A second retry changes nothing.
	if err := postUrgentLow(context.Background(), t, b.addr, f, st); err != nil {
		t.Fatalf("re-sending the urgent low again: %v", err)
	}
	checkOneUrgentLow(t, alarms(t, b.addr, f))
}

// TestTwoInstancesAfterSIGKILL: after the crash two instances start on the
// database at once, both picking up the interrupted evaluation: the alarm
// is listed within 5 s, once.
func TestTwoInstancesAfterSIGKILL(t *testing.T) {
	c := crash(t, 0)
	bin, dsn, f := c.bin, c.dsn, c.f

	restart := time.Now()
	type launched struct {
		srv *server
		err error
	}
	both := make(chan launched, 2)
	for range 2 {
		go func() {
			srv, err := launch(bin, dsn)
			both <- launched{srv, err}
		}()
	}
	var srvs []*server
	for range 2 {
		if l := <-both; l.err != nil {
			t.Error(l.err)
		} else {
			t.Cleanup(l.srv.kill)
			srvs = append(srvs, l.srv)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	waitUrgentLow(t, srvs[0].addr, f, restart, restart.Add(alarmBound))
	time.Sleep(time.Second) // both instances' pick-ups have long finished
	for _, s := range srvs {
		checkOneUrgentLow(t, alarms(t, s.addr, f))
	}
}

// waitTick waits until the alarm tick (default interval, one minute) has
// run after the given time: a round claimed then moved the tick lease's
// next run at least a minute past it (internal/lease).
func waitTick(t *testing.T, dsn string, after time.Time) {
	t.Helper()
	db := open(t, dsn)
	deadline := time.Now().Add(3 * time.Minute)
	for {
		var l glucose.Lease
		err := db.View(context.Background(), func(tx glucose.Tx) (err error) {
			l, err = tx.Lease("alarm-tick")
			return err
		})
		if err != nil && !errors.Is(err, glucose.ErrNotFound) {
			t.Fatal(err)
		}
		if !l.NextRun.Before(after.Add(time.Minute)) {
			t.Logf("alarm tick ran %s after the restart", l.NextRun.Add(-time.Minute).Sub(after).Round(time.Millisecond))
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no alarm tick ran within 3 minutes of the restart (lease %+v)", l)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// serverLeases names the leases every server takes (internal/server).
var serverLeases = []string{"alarm-tick", "alarm-purge", "session-sweep"}

// leaseHolders returns who holds each of serverLeases ("" for nobody).
func leaseHolders(t *testing.T, db *store.DB) []string {
	t.Helper()
	var holders []string
	err := db.View(context.Background(), func(tx glucose.Tx) error {
		for _, name := range serverLeases {
			l, err := tx.Lease(name)
			if err != nil && !errors.Is(err, glucose.ErrNotFound) {
				return err
			}
			holders = append(holders, l.Holder)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return holders
}

// waitHeld waits until every server lease is held, and none by the process
// gone (0: any holder will do), and returns the holders.
func waitHeld(t *testing.T, db *store.DB, gone int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		hs := leaseHolders(t, db)
		taken := true
		for _, h := range hs { // lease.HolderID: host/pid/random
			taken = taken && h != "" && !strings.Contains(h, fmt.Sprintf("/%d/", gone))
		}
		if taken {
			return hs
		}
		if time.Now().After(deadline) {
			t.Fatalf("leases held by %v after %s; want all taken by a live instance", hs, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestLeasesAfterStopAndCrash: a server takes its leases at start; stopped
// cleanly it releases every one; killed, its leases pass to the instance
// still running within the lease's TTL (15 s) and a heartbeat, whatever
// --alarm-tick is.
func TestLeasesAfterStopAndCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills the real server")
	}
	bin := buildCrashBinary(t)
	dsn := storetest.DSN(t)
	a := start(t, bin, dsn)
	db := open(t, dsn)
	waitHeld(t, db, 0, alarmBound)
	a.stop(t)
	if hs := leaseHolders(t, db); !slices.Equal(hs, []string{"", "", ""}) {
		t.Fatalf("after a clean stop the leases %v are held by %v, want all released", serverLeases, hs)
	}

	b := start(t, bin, dsn)
	waitHeld(t, db, 0, alarmBound)
	c := start(t, bin, dsn)
	b.kill()
	killed := time.Now()
	waitHeld(t, db, b.cmd.Process.Pid, 30*time.Second)
	t.Logf("leases passed from the killed instance to the live one %s after the kill", time.Since(killed).Round(time.Millisecond))
	c.stop(t)
}
