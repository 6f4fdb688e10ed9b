// Command glucobench measures a glucoshare server against the planet's
// Dexcom Share load (issue 9). It seeds a database, starts "glucoshare
// serve" as a child process on 127.0.0.1, drives it from its own process
// over many keep-alive connections, and measures in the same run a bare
// net/http server answering a constant body of the same size, so that each
// throughput figure is also a ratio to that ceiling.
//
//	go run ./cmd/glucobench                          # SQLite, every scenario, 10 s each
//	go run ./cmd/glucobench --scenarios planet --planet-duration 60s
//	go run ./cmd/glucobench --db postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable
//
// See docs/performance.md.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"
	"time"
)

type options struct {
	accounts, days  int
	duration        time.Duration
	planetDuration  time.Duration
	planetWarmup    time.Duration
	db              string
	scenarios       string
	connections     int
	planetConns     int
	planetScale     float64
	out             string
	bin             string
	serverArgs      string
	readUploadRatio float64
	repeat          int
}

// Planet load (issue 9): 1,000,000 sharers uploading every 5 minutes, about
// two followers each polling every 2.5 minutes.
const (
	planetUploads = 1_000_000.0 / 300
	planetReads   = 2 * 1_000_000.0 / 150
)

func main() {
	var o options
	ceiling := flag.Int("ceiling-size", -1, "internal: run as the ceiling server with this body size")
	flag.IntVar(&o.accounts, "accounts", 10000, "accounts to seed")
	flag.IntVar(&o.days, "days", 7, "days of readings per account (every 5 minutes)")
	flag.DurationVar(&o.duration, "duration", 10*time.Second, "duration of each throughput scenario")
	flag.DurationVar(&o.planetDuration, "planet-duration", 10*time.Second, "duration of the planet scenario (the target is 60s)")
	flag.DurationVar(&o.planetWarmup, "planet-warmup", 5*time.Second,
		"the planet load offered before measuring, so that the figures are of a running server rather than a cold start; 0 = none")
	flag.StringVar(&o.db, "db", "sqlite", `"sqlite" (a temporary file) or a postgres:// URL of a server on which a fresh database is created`)
	flag.StringVar(&o.scenarios, "scenarios", "latest,day,login,upload,backfill,planet",
		"comma-separated: latest, day, login, upload, backfill, nslatest, nsupload (Nightscout v1 entries), nsprops (Nightscout v2 properties), planet, latest2 and upload2 (two instances; PostgreSQL)")
	flag.IntVar(&o.connections, "connections", 64, "keep-alive connections of the closed-loop scenarios")
	flag.IntVar(&o.planetConns, "planet-connections", 512, "keep-alive connections of the planet scenario")
	flag.Float64Var(&o.planetScale, "planet-scale", 1.0, "fraction of the planet rates to offer")
	flag.StringVar(&o.out, "out", "", "also write the results as JSON to this file")
	flag.StringVar(&o.bin, "bin", "", "glucoshare binary to run (default: build it)")
	flag.StringVar(&o.serverArgs, "server-args", "", "extra flags for glucoshare serve, space-separated")
	flag.IntVar(&o.repeat, "repeat", 1,
		"run the scenarios this many times, in turn, and also report each figure's median: CPU per request drifts with the machine's other load")
	flag.Parse()
	if *ceiling >= 0 {
		if err := serveCeiling(*ceiling); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		return
	}
	if err := run(context.Background(), o); err != nil {
		fmt.Fprintln(os.Stderr, "glucobench:", err)
		os.Exit(1)
	}
}

// row is one line of the report.
type row struct {
	Scenario     string  `json:"scenario"`
	Engine       string  `json:"engine"`
	Rate         float64 `json:"rate"`    // successful requests per second
	Target       float64 `json:"target"`  // offered rate (planet) or 0
	Ceiling      float64 `json:"ceiling"` // bare net/http rate with the same body size
	Ratio        float64 `json:"ratio"`   // Rate/Ceiling, or Rate/Target for planet
	BodyBytes    int     `json:"body_bytes"`
	P50, P99     float64 `json:"-"`
	P50ms        float64 `json:"p50_ms"`
	P99ms        float64 `json:"p99_ms"`
	P999ms       float64 `json:"p999_ms"`
	Errors       int     `json:"errors"`
	FirstError   string  `json:"first_error,omitempty"`
	PeakRSSMiB   float64 `json:"peak_rss_mib"`
	Load         string  `json:"loadavg"`
	CeilingP99ms float64 `json:"ceiling_p99_ms"`
	// CPU per answered request, in µs: the server processes' (summed over
	// instances), the ceiling's in the same run, and their ratio; the
	// server's cores used over the measured run; on a local PostgreSQL the
	// database processes' CPU per request and cores.
	CPUus        float64 `json:"cpu_us_per_req"`
	CeilingCPUus float64 `json:"ceiling_cpu_us_per_req"`
	CPURatio     float64 `json:"cpu_ratio"`
	Cores        float64 `json:"server_cores"`
	CeilingCores float64 `json:"ceiling_cores,omitempty"` // planet: the ceiling's cores at the same offered load
	DBCPUus      float64 `json:"db_cpu_us_per_req,omitempty"`
	DBCores      float64 `json:"db_cores,omitempty"`
}

func run(ctx context.Context, o options) error {
	tmp, err := os.MkdirTemp("", "glucobench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if o.bin == "" {
		fmt.Fprintln(os.Stderr, "building glucoshare…")
		if o.bin, err = buildServer(tmp); err != nil {
			return err
		}
	}
	engine, dsn := "sqlite", "sqlite:"+filepath.Join(tmp, "bench.db")
	if isPostgres(o.db) {
		var drop func()
		engine = "postgres"
		if dsn, drop, err = freshPostgres(ctx, o.db); err != nil {
			return err
		}
		defer drop()
	}
	t0 := time.Now()
	fmt.Fprintf(os.Stderr, "seeding %d accounts × %d days on %s…\n", o.accounts, o.days, engine)
	ds, err := seed(ctx, dsn, o.accounts, o.days)
	if err != nil {
		return fmt.Errorf("seeding: %w", err)
	}
	fmt.Fprintf(os.Stderr, "seeded in %s (load %s)\n", time.Since(t0).Round(time.Second), loadAvg())
	b := &bench{o: o, ds: ds, bin: o.bin, dsn: dsn, engine: engine}
	b.initCursors()
	var rows []row
	for rep := range max(o.repeat, 1) {
		for _, name := range strings.Split(o.scenarios, ",") {
			name = strings.TrimSpace(name)
			fmt.Fprintf(os.Stderr, "scenario %s, run %d (load %s)…\n", name, rep+1, loadAvg())
			rs, err := b.scenario(name)
			if err != nil {
				return fmt.Errorf("%s: %w", name, err)
			}
			for _, r := range rs {
				r.Engine = engine
				rows = append(rows, r)
				fmt.Fprintf(os.Stderr, "  %s: %.0f/s, ratio %.2f, p99 %.2f ms, errors %d, CPU %.1f µs/req (ceiling %.1f, ×%.2f), %.2f cores\n",
					r.Scenario, r.Rate, r.Ratio, r.P99ms, r.Errors, r.CPUus, r.CeilingCPUus, r.CPURatio, r.Cores)
			}
		}
	}
	printTable(os.Stdout, o, rows)
	if o.repeat > 1 {
		fmt.Printf("\nmedians of %d runs:\n", o.repeat)
		printTable(os.Stdout, o, medians(rows))
	}
	if o.out != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		return os.WriteFile(o.out, b, 0o644)
	}
	return nil
}

func printTable(f *os.File, o options, rows []row) {
	fmt.Fprintf(f, "glucobench: %d accounts × %d days, %d connections (planet %d), %s per scenario, planet %s at scale %.2f\n",
		o.accounts, o.days, o.connections, o.planetConns, o.duration, o.planetDuration, o.planetScale)
	w := tabwriter.NewWriter(f, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(w, "scenario\tengine\treq/s\tceiling or target\tratio\tbody B\tp50 ms\tp99 ms\tp99.9 ms\terrors\tpeak RSS MiB\t"+
		"CPU µs/req\tceiling µs/req\tCPU ratio\tcores\tceiling cores\tdb µs/req\tdb cores\tload avg\t")
	for _, r := range rows {
		ref := r.Ceiling
		if r.Target > 0 {
			ref = r.Target
		}
		fmt.Fprintf(w, "%s\t%s\t%.0f\t%.0f\t%.2f\t%d\t%.2f\t%.2f\t%.2f\t%d\t%.1f\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			r.Scenario, r.Engine, r.Rate, ref, r.Ratio, r.BodyBytes, r.P50ms, r.P99ms, r.P999ms,
			r.Errors, r.PeakRSSMiB, blank(r.CPUus, "%.1f"), blank(r.CeilingCPUus, "%.1f"), blank(r.CPURatio, "%.2f"),
			blank(r.Cores, "%.2f"), blank(r.CeilingCores, "%.2f"), blank(r.DBCPUus, "%.1f"), blank(r.DBCores, "%.2f"), r.Load)
	}
	w.Flush()
	for _, r := range rows {
		if r.FirstError != "" {
			fmt.Fprintf(f, "%s: first error: %s\n", r.Scenario, r.FirstError)
		}
	}
}

// medians returns, for each scenario in rows (in order of first
// appearance), a row of the medians of its figures. The errors are summed
// and the load averages listed, so that nothing a run went through is
// hidden.
func medians(rows []row) []row {
	var order []string
	by := map[string][]row{}
	for _, r := range rows {
		if _, ok := by[r.Scenario]; !ok {
			order = append(order, r.Scenario)
		}
		by[r.Scenario] = append(by[r.Scenario], r)
	}
	out := make([]row, 0, len(order))
	for _, name := range order {
		rs := by[name]
		m := rs[0]
		med := func(f func(row) float64) float64 {
			v := make([]float64, len(rs))
			for i, r := range rs {
				v[i] = f(r)
			}
			return median(v)
		}
		m.Rate, m.Target, m.Ceiling, m.Ratio = med(func(r row) float64 { return r.Rate }), med(func(r row) float64 { return r.Target }),
			med(func(r row) float64 { return r.Ceiling }), med(func(r row) float64 { return r.Ratio })
		m.P50ms, m.P99ms, m.P999ms = med(func(r row) float64 { return r.P50ms }), med(func(r row) float64 { return r.P99ms }),
			med(func(r row) float64 { return r.P999ms })
		m.PeakRSSMiB = med(func(r row) float64 { return r.PeakRSSMiB })
		m.CPUus, m.CeilingCPUus, m.CPURatio = med(func(r row) float64 { return r.CPUus }), med(func(r row) float64 { return r.CeilingCPUus }),
			med(func(r row) float64 { return r.CPURatio })
		m.Cores, m.DBCPUus, m.DBCores = med(func(r row) float64 { return r.Cores }), med(func(r row) float64 { return r.DBCPUus }),
			med(func(r row) float64 { return r.DBCores })
		m.CeilingCores, m.CeilingP99ms = med(func(r row) float64 { return r.CeilingCores }), med(func(r row) float64 { return r.CeilingP99ms })
		m.Errors, m.FirstError = 0, ""
		loads := make([]string, len(rs))
		for i, r := range rs {
			m.Errors += r.Errors
			if m.FirstError == "" {
				m.FirstError = r.FirstError
			}
			loads[i] = strings.Fields(r.Load + " -")[0]
		}
		m.Load = strings.Join(loads, "/")
		out = append(out, m)
	}
	return out
}

// median returns the median of v (the mean of the middle two for an even
// count), sorting v.
func median(v []float64) float64 {
	slices.Sort(v)
	n := len(v)
	if n%2 == 1 {
		return v[n/2]
	}
	return (v[n/2-1] + v[n/2]) / 2
}

// blank formats v, or "-" when it was not measured.
func blank(v float64, format string) string {
	if v == 0 {
		return "-"
	}
	return fmt.Sprintf(format, v)
}

func ms(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func fill(r *row, res *result) {
	r.Rate = res.Rate()
	r.P50ms, r.P99ms, r.P999ms = ms(res.Quantile(0.50)), ms(res.Quantile(0.99)), ms(res.Quantile(0.999))
	r.Errors, r.FirstError = res.Errors, res.FirstError
}
