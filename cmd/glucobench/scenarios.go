package main

import (
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

const (
	servicesPath = "/ShareWebServices/Services/"
	readPath     = servicesPath + "Publisher/ReadPublisherLatestGlucoseValues"
	uploadPath   = servicesPath + "Publisher/PostReceiverEgvRecords"
	loginPath    = servicesPath + "General/LoginPublisherAccountByName"
	backfillEGVs = 288
)

// bench holds what the scenarios share.
type bench struct {
	o                options
	ds               *dataset
	bin, dsn, engine string
	// lastST is each account's newest uploaded ST, so that every upload
	// is new; backfillST each account's oldest backfilled ST.
	lastST, backfillST []atomic.Int64
	latestRate         float64 // the single-instance latest read, for latest2
}

func (b *bench) initCursors() {
	n := len(b.ds.accounts)
	b.lastST = make([]atomic.Int64, n)
	b.backfillST = make([]atomic.Int64, n)
	for i := range n {
		b.lastST[i].Store(b.ds.seededUntil)
		b.backfillST[i].Store(b.ds.seededFrom)
	}
}

// spread maps a request number onto an account, scattering consecutive
// requests over the table.
func (b *bench) spread(i uint64) int {
	return int((i * 2654435761) % uint64(len(b.ds.accounts)))
}

func appendRequest(buf []byte, path string, body []byte) []byte {
	return appendHTTP(buf, "POST", path, "", body)
}

// appendHTTP writes a request; header is "" or lines ending in CRLF.
func appendHTTP(buf []byte, method, path, header string, body []byte) []byte {
	buf = append(buf, method...)
	buf = append(buf, ' ')
	buf = append(buf, path...)
	buf = append(buf, " HTTP/1.1\r\nHost: 127.0.0.1\r\n"...)
	buf = append(buf, header...)
	if method == "GET" {
		return append(buf, "\r\n"...)
	}
	buf = append(buf, "Content-Type: application/json\r\nContent-Length: "...)
	buf = strconv.AppendInt(buf, int64(len(body)), 10)
	buf = append(buf, "\r\n\r\n"...)
	return append(buf, body...)
}

// nsAccount maps a request number onto one of the accounts that have a
// Nightscout API secret.
func (b *bench) nsAccount(i uint64) int {
	return int((i * 2654435761) % uint64(b.ds.nsAccounts))
}

// nsLatest is Nightscout's GET /api/v1/entries.json?count=1, as uploaders
// and followers poll it, with the account's hashed API secret.
func (b *bench) nsLatest() request {
	return func(buf []byte, i uint64) []byte {
		a := b.ds.accounts[b.nsAccount(i)]
		return appendHTTP(buf, "GET", "/api/v1/entries.json?count=1", "api-secret: "+a.NSSecret+"\r\n", nil)
	}
}

// nsProperties is Nightscout's GET /api/v2/properties, every property, as
// Nightguard reads it each minute (with a token in the query there; the
// API secret here, as nsLatest).
func (b *bench) nsProperties() request {
	return func(buf []byte, i uint64) []byte {
		a := b.ds.accounts[b.nsAccount(i)]
		return appendHTTP(buf, "GET", "/api/v2/properties", "api-secret: "+a.NSSecret+"\r\n", nil)
	}
}

// nsUpload is Nightscout's POST /api/v1/entries with one new sgv entry, as
// an uploader sends it.
func (b *bench) nsUpload() request {
	return func(buf []byte, i uint64) []byte {
		k := b.nsAccount(i)
		st := b.nextST(k)
		a := b.ds.accounts[k]
		body := `[{"type":"sgv","sgv":` + strconv.Itoa(100+int(i%100)) + `,"direction":"Flat","device":"glucobench","date":` +
			strconv.FormatInt(st, 10) + `,"dateString":"` + time.UnixMilli(st).UTC().Format("2006-01-02T15:04:05.000Z") + `"}]`
		return appendHTTP(buf, "POST", "/api/v1/entries", "api-secret: "+a.NSSecret+"\r\n", []byte(body))
	}
}

// nextST returns a new ST for account k: now, or just after its last one.
func (b *bench) nextST(k int) int64 {
	now := time.Now().UnixMilli()
	for {
		last := b.lastST[k].Load()
		st := max(now, last+1)
		if b.lastST[k].CompareAndSwap(last, st) {
			return st
		}
	}
}

// read is ReadPublisherLatestGlucoseValues of a spread account.
func (b *bench) read(maxCount int) request {
	return func(buf []byte, i uint64) []byte {
		a := b.ds.accounts[b.spread(i)]
		path := readPath + "?sessionId=" + a.Session + "&minutes=1440&maxCount=" + strconv.Itoa(maxCount)
		return appendRequest(buf, path, nil)
	}
}

// login logs one of the accounts with their own hash in.
func (b *bench) login() request {
	n := min(loginAccounts, len(b.ds.accounts))
	return func(buf []byte, i uint64) []byte {
		k := int(i % uint64(n))
		body := fmt.Sprintf(`{"accountName":%q,"password":%q,"applicationId":"d89443d2-327c-4a6f-89e5-496bbb0317db"}`,
			b.ds.accounts[k].Name, password(k))
		return appendRequest(buf, loginPath, []byte(body))
	}
}

// upload posts one new reading for a spread account: its ST is now, or
// just after the account's last upload.
func (b *bench) upload() request {
	return func(buf []byte, i uint64) []byte {
		k := b.spread(i)
		st := b.nextST(k)
		a := b.ds.accounts[k]
		var body strings.Builder
		body.WriteString(`{"SN":"` + a.Serial + `","Egvs":[`)
		writeEGV(&body, st, 100+int(i%100))
		body.WriteString(`]}`)
		return appendRequest(buf, uploadPath+"?sessionId="+a.Session, []byte(body.String()))
	}
}

// backfill posts a day (288 readings) before the account's oldest ones.
func (b *bench) backfill() request {
	return func(buf []byte, i uint64) []byte {
		k := b.spread(i)
		end := b.backfillST[k].Add(-backfillEGVs*300_000) + backfillEGVs*300_000
		a := b.ds.accounts[k]
		var body strings.Builder
		body.Grow(64 + backfillEGVs*90)
		body.WriteString(`{"SN":"` + a.Serial + `","Egvs":[`)
		for j := range backfillEGVs {
			if j > 0 {
				body.WriteByte(',')
			}
			writeEGV(&body, end-int64(j+1)*300_000, 90+j%120)
		}
		body.WriteString(`]}`)
		return appendRequest(buf, uploadPath+"?sessionId="+a.Session, []byte(body.String()))
	}
}

func writeEGV(w *strings.Builder, st int64, value int) {
	date := "/Date(" + strconv.FormatInt(st, 10) + ")/"
	w.WriteString(`{"ST":"` + date + `","DT":"` + date + `","Value":` + strconv.Itoa(value) + `,"Trend":4}`)
}

// scenario runs one named scenario.
func (b *bench) scenario(name string) ([]row, error) {
	switch name {
	case "latest":
		r, err := b.closed(name, b.read(1), 1)
		b.latestRate = r.Rate
		return []row{r}, err
	case "day":
		r, err := b.closed(name, b.read(288), 1)
		return []row{r}, err
	case "login":
		r, err := b.closed(name, b.login(), 1)
		return []row{r}, err
	case "upload":
		r, err := b.closed(name, b.upload(), 1)
		return []row{r}, err
	case "backfill":
		r, err := b.closed(name, b.backfill(), 1)
		return []row{r}, err
	case "nslatest":
		r, err := b.closed(name, b.nsLatest(), 1)
		return []row{r}, err
	case "nsprops":
		r, err := b.closed(name, b.nsProperties(), 1)
		return []row{r}, err
	case "nsupload":
		r, err := b.closed(name, b.nsUpload(), 1)
		return []row{r}, err
	case "upload2":
		r, err := b.closed(name, b.upload(), 2)
		return []row{r}, err
	case "latest2":
		r, err := b.closed(name, b.read(1), 2)
		if err == nil && b.latestRate > 0 {
			r.Target, r.Ratio = 0, r.Rate/b.latestRate
			r.Scenario = "latest2 (ratio: to latest)"
		}
		return []row{r}, err
	case "planet":
		return b.planet()
	case "mirror":
		return b.mirror()
	}
	return nil, fmt.Errorf("unknown scenario %q", name)
}

// servers starts n server processes on the database.
func (b *bench) servers(n int) ([]*child, []string, error) {
	var cs []*child
	var addrs []string
	for range n {
		c, err := startServer(b.bin, b.dsn, strings.Fields(b.o.serverArgs))
		if err != nil {
			stopAll(cs)
			return nil, nil, err
		}
		cs, addrs = append(cs, c), append(addrs, c.addr)
	}
	return cs, addrs, nil
}

func stopAll(cs []*child) {
	for _, c := range cs {
		c.stop()
	}
}

func peak(cs []*child) float64 {
	var sum int64
	for _, c := range cs {
		sum += c.peakRSS()
	}
	return float64(sum) / (1 << 20)
}

// closed runs a closed-loop scenario against instances fresh servers, then
// the same load against the ceiling with the same body size.
func (b *bench) closed(name string, req request, instances int) (row, error) {
	r := row{Scenario: name}
	cs, addrs, err := b.servers(instances)
	if err != nil {
		return r, err
	}
	status, size, err := sample(addrs[0], req, 1<<40)
	if err != nil || status != 200 {
		stopAll(cs)
		return r, fmt.Errorf("sample request: status %d, %v", status, err)
	}
	r.BodyBytes = size
	closedLoop(addrs, b.o.connections, time.Second, req) // warm-up
	r.Load = loadAvg()
	m := b.startMeter(cs)
	res := closedLoop(addrs, b.o.connections, b.o.duration, req)
	m.stop(&r, res)
	r.PeakRSSMiB = peak(cs)
	stopAll(cs)
	fill(&r, res)

	ceil, err := startCeiling(size)
	if err != nil {
		return r, err
	}
	defer ceil.stop()
	closedLoop([]string{ceil.addr}, b.o.connections, time.Second, req)
	c0 := ceil.cpu()
	cres := closedLoop([]string{ceil.addr}, b.o.connections, b.o.duration, req)
	r.CeilingCPUus = perRequest(ceil.cpu()-c0, cres)
	r.Ceiling = cres.Rate()
	r.CeilingP99ms = ms(cres.Quantile(0.99))
	if r.Ceiling > 0 {
		r.Ratio = r.Rate / r.Ceiling
	}
	if r.CeilingCPUus > 0 {
		r.CPURatio = r.CPUus / r.CeilingCPUus
	}
	return r, nil
}

// perRequest is CPU time per answered request, in microseconds.
func perRequest(cpu time.Duration, res *result) float64 {
	n := res.OK + res.Errors
	if n == 0 {
		return 0
	}
	return float64(cpu.Microseconds()) / float64(n)
}

// meter measures the CPU the servers (and, on a local PostgreSQL, the
// database's processes) use during one measured run.
type meter struct {
	cs       []*child
	t0       time.Time
	cpu0     time.Duration
	pg0      map[int]int64
	postgres bool
	db       string // the database's name
}

// dbName is the name of the benchmark's PostgreSQL database.
func (b *bench) dbName() string {
	u, err := url.Parse(b.dsn)
	if err != nil {
		return ""
	}
	return strings.TrimPrefix(u.Path, "/")
}

func (b *bench) startMeter(cs []*child) *meter {
	m := &meter{cs: cs, t0: time.Now(), cpu0: cpuSum(cs), postgres: b.engine == "postgres", db: b.dbName()}
	if m.postgres {
		m.pg0 = postgresTimes(m.db)
	}
	return m
}

// stop fills r's CPU figures for the requests of res.
func (m *meter) stop(r *row, res *result) {
	wall := time.Since(m.t0).Seconds()
	cpu := cpuSum(m.cs) - m.cpu0
	r.CPUus, r.Cores = perRequest(cpu, res), cpu.Seconds()/wall
	if m.postgres {
		db := postgresCPU(m.pg0, postgresTimes(m.db))
		r.DBCPUus, r.DBCores = perRequest(db, res), db.Seconds()/wall
	}
}

// planet offers the mixed planet load open-loop: single-EGV uploads and
// latest reads at planet rates × --planet-scale.
func (b *bench) planet() ([]row, error) {
	cs, addrs, err := b.servers(1)
	if err != nil {
		return nil, err
	}
	defer stopAll(cs)
	up, rd := planetUploads*b.o.planetScale, planetReads*b.o.planetScale
	kinds, rates := []request{b.upload(), b.read(1)}, []float64{up, rd}
	status, size, err := sample(addrs[0], kinds[1], 1<<40)
	if err != nil || status != 200 {
		return nil, fmt.Errorf("sample request: status %d, %v", status, err)
	}
	if b.o.planetWarmup > 0 { // the same load, not measured
		openLoop(addrs, b.o.planetConns, b.o.planetWarmup, kinds, rates)
	}
	load := loadAvg()
	m := b.startMeter(cs)
	res := openLoop(addrs, b.o.planetConns, b.o.planetDuration, kinds, rates)
	rss := peak(cs)
	rows := []row{{Scenario: "planet upload", Target: up}, {Scenario: "planet read", Target: rd}}
	for k, r := range res {
		fill(&rows[k], r)
		rows[k].Ratio = rows[k].Rate / rows[k].Target
	}
	all := combine(res, b.o.planetDuration)
	total := row{Scenario: "planet total", Target: up + rd}
	m.stop(&total, all)
	fill(&total, all)
	total.Ratio = total.Rate / total.Target
	stopAll(cs) // before the ceiling runs; the deferred stop then finds it ended
	if err := b.planetCeiling(&total, size, kinds, rates); err != nil {
		return nil, err
	}
	rows = append(rows, total)
	for i := range rows {
		rows[i].PeakRSSMiB, rows[i].Load = rss, load
	}
	return rows, nil
}

// planetCeiling offers the planet load, warm-up included, to the bare
// net/http ceiling (answering every request with a body of the latest
// read's size) once glucoshare has stopped, and records its CPU per request
// and cores on total: what the same offered load costs a server that does
// nothing, on the same machine in the same run.
func (b *bench) planetCeiling(total *row, size int, kinds []request, rates []float64) error {
	ceil, err := startCeiling(size)
	if err != nil {
		return err
	}
	defer ceil.stop()
	addrs := []string{ceil.addr}
	if b.o.planetWarmup > 0 {
		openLoop(addrs, b.o.planetConns, b.o.planetWarmup, kinds, rates)
	}
	t0, c0 := time.Now(), ceil.cpu()
	res := openLoop(addrs, b.o.planetConns, b.o.planetDuration, kinds, rates)
	cpu := ceil.cpu() - c0
	all := combine(res, b.o.planetDuration)
	total.CeilingCPUus = perRequest(cpu, all)
	total.CeilingCores = cpu.Seconds() / time.Since(t0).Seconds()
	total.CeilingP99ms = ms(all.Quantile(0.99))
	if total.CeilingCPUus > 0 {
		total.CPURatio = total.CPUus / total.CeilingCPUus
	}
	return nil
}
