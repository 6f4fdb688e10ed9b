package store_test

import (
	"context"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/glucose"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// One reading per Update: the steady state of an uploader every 5 minutes.
func BenchmarkInsertReading(b *testing.B) {
	db := storetest.New(b)
	a := createAccount(b, db, "alice")
	ctx := context.Background()
	st := glucose.MS(t0)
	for b.Loop() {
		st += 300000
		err := db.Update(ctx, func(tx glucose.Tx) error {
			_, err := tx.InsertReadings(a.ID, []glucose.Reading{reading(st, 120)})
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// The newest reading, and the last 24 hours, out of 7 days of readings.
func BenchmarkLatestReadings(b *testing.B) {
	db := storetest.New(b)
	a := createAccount(b, db, "alice")
	now := t0.Add(7 * 24 * time.Hour)
	var rs []glucose.Reading
	for st := t0; st.Before(now); st = st.Add(5 * time.Minute) {
		rs = append(rs, reading(glucose.MS(st), 120))
	}
	insert(b, db, a.ID, rs)
	since := glucose.MS(now.Add(-24 * time.Hour))
	for _, max := range []int{1, 288} {
		b.Run("maxCount="+strconv.Itoa(max), func(b *testing.B) {
			ctx := context.Background()
			for b.Loop() {
				err := db.View(ctx, func(tx glucose.Tx) error {
					got, err := tx.LatestReadings(a.ID, since, max)
					if err == nil && len(got) != max {
						b.Fatalf("got %d readings, want %d", len(got), max)
					}
					return err
				})
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A maximal upload (10,000 new readings) in one Update.
func BenchmarkInsertReadings10000(b *testing.B) {
	db := storetest.New(b)
	a := createAccount(b, db, "alice")
	ctx := context.Background()
	rs := make([]glucose.Reading, 10000)
	st := glucose.MS(t0)
	for b.Loop() {
		for i := range rs {
			st += 300000
			rs[i] = reading(st, 120)
		}
		err := db.Update(ctx, func(tx glucose.Tx) error {
			n, err := tx.InsertReadings(a.ID, rs)
			if err == nil && n != len(rs) {
				b.Fatalf("stored %d, want %d", n, len(rs))
			}
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// The three document reads of Nightscout's /api/v2/properties (device
// statuses, treatments, the profile), each with its own row limit, one
// after the other on the same statements.
func BenchmarkPropertiesDocuments(b *testing.B) {
	db := storetest.New(b)
	a := createAccount(b, db, "alice")
	ctx := context.Background()
	now := glucose.MS(t0)
	reads := []struct {
		collection string
		limit      int
	}{{glucose.CollectionDeviceStatus, 150}, {glucose.CollectionTreatments, 300}, {glucose.CollectionProfile, 1}}
	for b.Loop() {
		for _, r := range reads {
			err := db.View(ctx, func(tx glucose.Tx) error {
				_, err := tx.FindDocuments(a.ID, r.collection, glucose.DocQuery{Limit: r.limit, Where: []glucose.Cond{
					{Field: glucose.FieldDate, Op: glucose.OpGte, Values: []glucose.Value{glucose.Num(float64(now - 86_400_000))}},
					{Field: glucose.FieldDate, Op: glucose.OpLte, Values: []glucose.Value{glucose.Num(float64(now))}},
				}})
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}

// Concurrent uploads of one reading each, from 1,000 accounts, as the
// upload endpoint stores them (the receiver's INSERT, then the alarm
// mark): the committer groups them. cpu-µs/op is the process's CPU time
// per upload, which wall time on a shared machine does not show.
func BenchmarkGroupedUploads(b *testing.B) {
	db := storetest.New(b)
	ctx := context.Background()
	ids := make([]string, 1000)
	for i := range ids {
		a := createAccount(b, db, "user"+strconv.Itoa(i))
		update(b, db, func(tx glucose.Tx) error {
			if err := tx.SetReceiver(a.ID, "SN"+strconv.Itoa(i), "r", true); err != nil {
				return err
			}
			return tx.SetMonitoring(a.ID, true)
		})
		ids[i] = a.ID
	}
	var next atomic.Int64
	b.SetParallelism(16) // 16 × GOMAXPROCS uploads in flight
	cpu := processCPU()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			n := next.Add(1)
			i := int(n % int64(len(ids)))
			st := glucose.MS(t0) + n*1000
			err := db.Update(ctx, func(tx glucose.Tx) error {
				if _, err := tx.InsertReceiverReadings(ids[i], "SN"+strconv.Itoa(i), []glucose.Reading{reading(st, 120)}); err != nil {
					return err
				}
				_, err := tx.MarkAlarmWork(ids[i])
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
		}
	})
	b.StopTimer()
	b.ReportMetric(float64((processCPU()-cpu).Microseconds())/float64(b.N), "cpu-µs/op")
}

// processCPU is the CPU time (user and system) the process used so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
