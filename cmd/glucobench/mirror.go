package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/secretkey"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/share"
)

// The mirror scenario (docs/mirror.md): how many links one instance keeps
// current. The seeded server plays Dexcom: every seeded account uploads a
// reading every 5 minutes, the accounts' phases spread evenly over the 5
// minutes, each reading appearing upstream when its upload is answered. A
// second glucoshare, on a database of its own, mirrors --mirror-links of
// them. After --mirror-duration (and a minute's grace), each uploaded
// reading's time of storage in the mirror is compared with its appearance
// upstream: the target is every reading within 30 s.
//
// The links start as polling leaves them in a steady state — the newest
// reading known, the upstream session kept — so that the figure is of
// keeping links current, not of the first day's backfill.

var (
	mirrorLinks    = flag.Int("mirror-links", 10000, "mirror scenario: links (at most --accounts)")
	mirrorDuration = flag.Duration("mirror-duration", 6*time.Minute, "mirror scenario: how long readings are uploaded (5 minutes gives each link one)")
	mirrorConc     = flag.Int("mirror-concurrency", 32, "mirror scenario: the mirror's --mirror-concurrency")
)

// mirrorTarget is the longest a reading may take from its appearance
// upstream to its storage in the mirror.
const mirrorTarget = 30 * time.Second

// appearance is when an uploaded reading appeared upstream.
type appearance struct {
	link int
	st   int64
	at   time.Time
}

func (b *bench) mirror() ([]row, error) {
	n := min(*mirrorLinks, len(b.ds.accounts))
	ups, upAddrs, err := b.servers(1)
	if err != nil {
		return nil, err
	}
	defer stopAll(ups)
	tmp, err := os.MkdirTemp("", "glucobench-mirror")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	dsn := "sqlite:" + filepath.Join(tmp, "mirror.db")
	if b.engine == "postgres" {
		var drop func()
		if dsn, drop, err = freshPostgres(context.Background(), b.o.db); err != nil {
			return nil, err
		}
		defer drop()
	}
	key := secretkey.Generate()
	fmt.Fprintf(os.Stderr, "  linking %d accounts…\n", n)
	ids, err := b.linkMirrors(dsn, key, "http://"+upAddrs[0], n)
	if err != nil {
		return nil, err
	}
	start := time.Now().Add(20 * time.Second).Truncate(time.Second) // the first reading
	phase := func(i int) time.Duration { return time.Duration(i) * 5 * time.Minute / time.Duration(n) }
	if err := b.scheduleMirrors(dsn, ids, start, phase); err != nil {
		return nil, err
	}
	extra := append(strings.Fields(b.o.serverArgs), "--secret-key", key, "--webhook-allow-private",
		"--mirror-concurrency", fmt.Sprint(*mirrorConc))
	mir, err := startServer(b.bin, dsn, extra)
	if err != nil {
		return nil, err
	}
	defer mir.stop()
	load := loadAvg()
	seen := b.uploadSpread(upAddrs[0], n, start, phase, *mirrorDuration)
	time.Sleep(time.Minute) // the last readings' polls
	rss := float64(mir.peakRSS()) / (1 << 20)
	mir.stop()
	return b.mirrorReport(dsn, ids, seen, rss, load)
}

// linkMirrors creates n accounts in the mirror's database, each linked to
// the seeded account of the same number with that account's session kept
// as the upstream session, and returns their ids.
func (b *bench) linkMirrors(dsn, key, upstream string, n int) ([]string, error) {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	k, err := secretkey.Load(key)
	if err != nil {
		return nil, err
	}
	svc := core.New(db, core.Config{SecretKey: k, AllowPrivateAddresses: true})
	now := time.Now()
	ids := make([]string, n)
	for i := range n {
		a := &glucose.Account{ID: share.NewID(), Name: fmt.Sprintf("mirror%06d", i), PasswordHash: "-", CreatedAt: now}
		if err := db.Update(ctx, func(tx glucose.Tx) error { return tx.CreateAccount(a) }); err != nil {
			return nil, err
		}
		pw := password(0) // the seeded accounts share account 0's hash
		if i < loginAccounts {
			pw = password(i)
		}
		if _, err := svc.LinkMirror(ctx, a.ID, core.MirrorLinkRequest{Server: upstream, Username: b.ds.accounts[i].Name,
			Password: pw}, now); err != nil {
			return nil, err
		}
		_, err := db.SQL().ExecContext(ctx, b.rebind(`UPDATE mirror_links SET session_sealed = ? WHERE account_id = ?`),
			svc.SealMirrorSession(a.ID, b.ds.accounts[i].Session), a.ID)
		if err != nil {
			return nil, err
		}
		ids[i] = a.ID
	}
	return ids, nil
}

// scheduleMirrors leaves each link as polling leaves it in a steady
// state: the newest reading 5 minutes before the link's first upload, and
// the next poll due then plus the delay first assumed.
func (b *bench) scheduleMirrors(dsn string, ids []string, start time.Time, phase func(int) time.Duration) error {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	tx, err := db.SQL().BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	q := b.rebind(`UPDATE mirror_links SET last_reading_st = ?, next_poll_at = ?, last_success_at = ? WHERE account_id = ?`)
	for i, id := range ids {
		first := start.Add(phase(i))
		if _, err := tx.ExecContext(ctx, q, first.Add(-5*time.Minute).UnixMilli(), first.Add(core.DefaultMirrorLag).UnixMilli(),
			time.Now().UnixMilli(), id); err != nil {
			return err
		}
	}
	return tx.Commit()
}

// uploadSpread uploads, for d, a reading for each of the first n seeded
// accounts every 5 minutes at its phase, with ST the time it is due, and
// returns when each appeared (its upload answered).
func (b *bench) uploadSpread(addr string, n int, start time.Time, phase func(int) time.Duration, d time.Duration) []appearance {
	type job struct {
		link int
		st   time.Time
	}
	jobs := make(chan job, 1024)
	var (
		mu   sync.Mutex
		seen []appearance
		wg   sync.WaitGroup
	)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range jobs {
				a := b.ds.accounts[j.link]
				var body strings.Builder
				body.WriteString(`{"SN":"` + a.Serial + `","Egvs":[`)
				writeEGV(&body, j.st.UnixMilli(), 60+j.link%200)
				body.WriteString(`]}`)
				res, err := hc.Post("http://"+addr+uploadPath+"?sessionId="+a.Session, "application/json",
					bytes.NewReader([]byte(body.String())))
				if err != nil {
					fmt.Fprintln(os.Stderr, "  upload:", err)
					continue
				}
				res.Body.Close()
				if res.StatusCode == http.StatusOK {
					mu.Lock()
					seen = append(seen, appearance{link: j.link, st: j.st.UnixMilli(), at: time.Now()})
					mu.Unlock()
				}
			}
		}()
	}
	end := start.Add(d)
	for round := start; round.Before(end); round = round.Add(5 * time.Minute) {
		for i := range n {
			due := round.Add(phase(i))
			if !due.Before(end) {
				break
			}
			time.Sleep(time.Until(due))
			jobs <- job{link: i, st: due}
		}
	}
	close(jobs)
	wg.Wait()
	return seen
}

// mirrorReport compares each reading's appearance upstream with its
// storage in the mirror.
func (b *bench) mirrorReport(dsn string, ids []string, seen []appearance, rss float64, load string) ([]row, error) {
	ctx := context.Background()
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	var delays []time.Duration
	missing, late := 0, 0
	for _, s := range seen {
		var received int64
		err := db.SQL().QueryRowContext(ctx, b.rebind(`SELECT received_at FROM readings WHERE account_id = ? AND st = ?`),
			ids[s.link], s.st).Scan(&received)
		if err != nil {
			missing++
			continue
		}
		d := time.UnixMilli(received).Sub(s.at)
		delays = append(delays, d)
		if d > mirrorTarget {
			late++
		}
	}
	slices.Sort(delays)
	q := func(f float64) float64 {
		if len(delays) == 0 {
			return 0
		}
		return ms(delays[min(len(delays)-1, int(f*float64(len(delays))))])
	}
	r := row{Scenario: fmt.Sprintf("mirror %d links (rate: readings mirrored/s; ratio: share within 30 s)", len(ids)),
		Target: float64(len(seen)) / mirrorDuration.Seconds(), PeakRSSMiB: rss, Load: load,
		P50ms: q(0.50), P99ms: q(0.99), P999ms: q(0.999), Errors: missing + late}
	r.Rate = float64(len(delays)) / mirrorDuration.Seconds()
	if len(seen) > 0 {
		r.Ratio = float64(len(delays)-late) / float64(len(seen))
	}
	if missing+late > 0 {
		r.FirstError = fmt.Sprintf("%d of %d readings not mirrored, %d later than %s", missing, len(seen), late, mirrorTarget)
	}
	return []row{r}, nil
}

// rebind numbers the placeholders of q for PostgreSQL.
func (b *bench) rebind(q string) string {
	if b.engine != "postgres" {
		return q
	}
	var out strings.Builder
	n := 0
	for _, c := range q {
		if c == '?' {
			n++
			fmt.Fprintf(&out, "$%d", n)
			continue
		}
		out.WriteRune(c)
	}
	return out.String()
}
