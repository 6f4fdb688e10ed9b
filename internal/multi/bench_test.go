package multi_test

import (
	"sync/atomic"
	"testing"

	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// The read benchmarks report reads/s of ReadPublisherLatestGlucoseValues
// (maxCount=1, the follower apps' poll) for one instance and for two on
// the same PostgreSQL database; their ratio is the scale-out factor:
//
//	GLUCOSHARE_TEST_DB=postgres://… go test ./internal/multi -run '^$' -bench Read -benchtime 5s
//
// The instances run in this process, beside the HTTP clients and, on a
// single machine, the database: the ratio measures how much of one
// machine's capacity a second instance unlocks, not what a second machine
// would add.

func BenchmarkReadOneInstance(b *testing.B)  { benchmarkRead(b, 1) }
func BenchmarkReadTwoInstances(b *testing.B) { benchmarkRead(b, 2) }

// clientsPerCPU is how many client goroutines per GOMAXPROCS send reads,
// enough to keep every instance's connection pool busy.
const clientsPerCPU = 8

func benchmarkRead(b *testing.B, instances int) {
	if !onPostgres() {
		b.Skip("the read benchmarks compare instances on PostgreSQL: set " + storetest.EnvDB + "=postgres://…")
	}
	dsn := storetest.DSN(b)
	ins := startInstances(b, dsn, instances)
	const password = "benchmark password"
	addAccount(b, dsn, "pub", password)
	sid := ins[0].login(b, "pub", password)
	startMonitoring(b, ins[0], ins[0], sid)
	day := readings(288)
	want(b, "seeding a day of readings", ins[0].call(b, "Publisher/PostReceiverEgvRecords?sessionId="+sid, egvBody(day)), "")
	if got := ins[len(ins)-1].latest(b, sid, 1000); len(got) != len(day) {
		b.Fatalf("seeded %d readings, read %d", len(day), len(got))
	}
	path := "Publisher/ReadPublisherLatestGlucoseValues?sessionId=" + sid + "&maxCount=1"

	// Each client goroutine keeps to one instance over keep-alive
	// connections; the goroutines are spread evenly over the instances.
	var next atomic.Int64
	b.SetParallelism(clientsPerCPU)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		in := ins[int(next.Add(1))%len(ins)]
		for pb.Next() {
			r, err := in.post(path, "")
			if err != nil || r.status != 200 {
				b.Errorf("read on %s: %v %d %s", in.name, err, r.status, r.body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "reads/s")
}
