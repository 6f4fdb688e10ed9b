package main

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" driver for creating the database

	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store"
	"github.com/glucoshare/glucoshare/share"
)

// loginAccounts have their own real argon2id hashes, for the login
// scenario; every other account carries a copy of the first one's hash
// (also real: its password is password(0)).
const loginAccounts = 8

// benchAccount is what the load generator needs to act as an account.
type benchAccount struct {
	Name, Serial, Session string
	// NSSecret is the SHA-1 of the account's Nightscout API secret, as
	// uploaders send it in api-secret; only the first nsAccounts have one.
	NSSecret string
}

// nsAccounts is how many accounts get a Nightscout API secret, for the
// Nightscout scenarios: setting one checks it against the password
// (argon2id), so not all of them.
const nsAccounts = 64

// dataset is a seeded database.
type dataset struct {
	accounts []benchAccount
	// seededUntil is the newest seeded ST; uploads go after it, backfills
	// before seededFrom.
	seededFrom, seededUntil int64
	nsAccounts              int
}

func password(i int) string { return fmt.Sprintf("bench password %d", i) }

// freshPostgres creates a new database on the server of base and returns
// its URL and a function that drops it.
func freshPostgres(ctx context.Context, base string) (string, func(), error) {
	admin, err := sql.Open("pgx", base)
	if err != nil {
		return "", nil, err
	}
	name := fmt.Sprintf("glucobench_%d_%d", os.Getpid(), time.Now().Unix())
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, err
	}
	u, err := url.Parse(base)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	drop := func() {
		admin.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	return u.String(), drop, nil
}

// seed fills an empty database with n accounts, each with a monitored
// receiver, one open session and days of readings every 5 minutes ending
// now. It writes through internal/store in large transactions.
func seed(ctx context.Context, dsn string, n, days int) (*dataset, error) {
	db, err := store.Open(ctx, dsn, store.Options{})
	if err != nil {
		return nil, err
	}
	defer db.Close()
	if _, _, err := db.Migrate(ctx); err != nil {
		return nil, err
	}
	now := time.Now()
	svc := core.New(db, core.Config{})
	ds := &dataset{accounts: make([]benchAccount, n)}
	var sharedHash string
	for i := range min(loginAccounts, n) {
		a, err := svc.CreateAccount(ctx, core.NewAccount{Name: accountName(i), Password: password(i)}, now)
		if err != nil {
			return nil, err
		}
		if i == 0 {
			sharedHash = a.PasswordHash
		}
		err = db.Update(ctx, func(tx glucose.Tx) error {
			return seedAccount(tx, a, i, now, days, ds)
		})
		if err != nil {
			return nil, err
		}
	}
	const perTx = 100
	for lo := loginAccounts; lo < n; lo += perTx {
		err := db.Update(ctx, func(tx glucose.Tx) error {
			for i := lo; i < min(lo+perTx, n); i++ {
				a := &glucose.Account{ID: share.NewID(), Name: accountName(i), PasswordHash: sharedHash, CreatedAt: now}
				if err := tx.CreateAccount(a); err != nil {
					return err
				}
				if err := seedAccount(tx, a, i, now, days, ds); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if lo%2000 < perTx {
			fmt.Fprintf(os.Stderr, "seeded %d/%d accounts\n", min(lo+perTx, n), n)
		}
	}
	ds.nsAccounts = min(nsAccounts, n)
	for i := range ds.nsAccounts {
		id, err := accountID(ctx, db, accountName(i))
		if err != nil {
			return nil, err
		}
		secret := core.GenerateNightscoutSecret()
		if err := svc.SetNightscoutSecret(ctx, id, secret, now); err != nil {
			return nil, err
		}
		ds.accounts[i].NSSecret = core.NightscoutSecretHash(secret)
	}
	ds.seededUntil = now.UnixMilli()
	ds.seededFrom = now.Add(-time.Duration(days) * 24 * time.Hour).UnixMilli()
	return ds, nil
}

// accountID looks an account's id up by its name.
func accountID(ctx context.Context, db *store.DB, name string) (string, error) {
	var id string
	err := db.View(ctx, func(tx glucose.Tx) error {
		a, err := tx.AccountByName(name)
		if err == nil {
			id = a.ID
		}
		return err
	})
	return id, err
}

// lastUse spreads the seeded sessions' last uses over the minute before
// now, as a server that restarts finds them: each in-use session's last
// use was recorded within the minute that a touch may lag (core/touch.go).
// All at one moment would make every session due for a touch at once.
func lastUse(i int, now time.Time) time.Time {
	return now.Add(-time.Duration((i*7919)%60_000) * time.Millisecond)
}

func accountName(i int) string { return fmt.Sprintf("bench%06d", i) }

// seedAccount gives account i a monitored receiver, a session and its
// readings.
func seedAccount(tx glucose.Tx, a *glucose.Account, i int, now time.Time, days int, ds *dataset) error {
	serial := fmt.Sprintf("SN%06d", i)
	a.Serial, a.ReceiverID, a.Monitoring = serial, share.NewID(), true
	if err := tx.SetReceiver(a.ID, serial, a.ReceiverID, true); err != nil {
		return err
	}
	if err := tx.SetMonitoring(a.ID, true); err != nil {
		return err
	}
	sess := &glucose.Session{ID: share.NewID(), AccountID: a.ID, ApplicationID: share.NewID(),
		CreatedAt: now.Add(-time.Hour), LastUsedAt: lastUse(i, now)}
	if err := tx.CreateSession(sess); err != nil {
		return err
	}
	ds.accounts[i] = benchAccount{Name: a.Name, Serial: serial, Session: sess.ID}
	count := days * 288
	rs := make([]glucose.Reading, count)
	end := now.UnixMilli()
	for k := range rs {
		st := end - int64(count-1-k)*300_000
		rs[k] = glucose.Reading{ST: st, Value: 80 + (k*7+i)%150, Trend: share.Trend(4), ReceivedAt: st}
	}
	// The newest first: SQLite's change log records a stored reading only
	// while it is among an account's 12 newest, so the older ones, stored
	// after them, cost no log entry.
	newest := max(len(rs)-12, 0)
	if _, err := tx.InsertReadings(a.ID, rs[newest:]); err != nil {
		return err
	}
	_, err := tx.InsertReadings(a.ID, rs[:newest])
	return err
}

// isPostgres reports whether dsn names PostgreSQL.
func isPostgres(dsn string) bool {
	return strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://")
}
