package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// request builds the bytes of request number i into buf. Each call must be
// safe for concurrent use.
type request func(buf []byte, i uint64) []byte

// conn is one keep-alive HTTP/1.1 connection. The generator speaks the
// protocol itself rather than through net/http's client: on a 2-core
// machine that client's own CPU (goroutine per connection for reading,
// header maps, …) would be a large share of what the server is measured
// against.
type conn struct {
	addr string
	c    net.Conn
	r    *bufio.Reader
}

func (c *conn) close() {
	if c.c != nil {
		c.c.Close()
		c.c = nil
	}
}

// do sends req and reads one response, returning its status and body
// length. Any failure closes the connection; the next call redials.
func (c *conn) do(req []byte) (status, bodyLen int, err error) {
	if c.c == nil {
		nc, err := net.Dial("tcp", c.addr)
		if err != nil {
			return 0, 0, err
		}
		c.c, c.r = nc, bufio.NewReaderSize(nc, 16<<10)
	}
	if _, err := c.c.Write(req); err != nil {
		c.close()
		return 0, 0, err
	}
	status, bodyLen, err = readResponse(c.r)
	if err != nil {
		c.close()
	}
	return status, bodyLen, err
}

var errChunked = errors.New("response without Content-Length")

// readResponse reads a response with a Content-Length body and discards
// the body.
func readResponse(r *bufio.Reader) (int, int, error) {
	line, err := r.ReadSlice('\n')
	if err != nil {
		return 0, 0, err
	}
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.1 ")) {
		return 0, 0, fmt.Errorf("bad status line %q", line)
	}
	status, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return 0, 0, err
	}
	length, closing := -1, false
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			return 0, 0, err
		}
		line = bytes.TrimRight(line, "\r\n")
		if len(line) == 0 {
			break
		}
		name, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimSpace(value)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.Atoi(string(value)); err != nil {
				return 0, 0, err
			}
		case bytes.EqualFold(name, []byte("Connection")) && bytes.EqualFold(value, []byte("close")):
			closing = true
		}
	}
	if length < 0 {
		return 0, 0, errChunked
	}
	if _, err := r.Discard(length); err != nil {
		return 0, 0, err
	}
	if closing {
		return status, length, io.EOF // reconnect next time, but the answer counts
	}
	return status, length, nil
}

// sample fetches one response, for its status and body size.
func sample(addr string, req request, i uint64) (status, bodyLen int, err error) {
	c := &conn{addr: addr}
	defer c.close()
	status, bodyLen, err = c.do(req(nil, i))
	if err == io.EOF {
		err = nil
	}
	return status, bodyLen, err
}

// result is what one load run measured.
type result struct {
	OK, Errors int
	Elapsed    time.Duration
	Latencies  []time.Duration // of every answered request, sorted
	FirstError string
}

// Rate is the rate of successful requests.
func (r *result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.OK) / r.Elapsed.Seconds()
}

// Quantile returns the q-quantile latency (0 when nothing was answered).
func (r *result) Quantile(q float64) time.Duration {
	if len(r.Latencies) == 0 {
		return 0
	}
	i := int(q * float64(len(r.Latencies)))
	return r.Latencies[min(i, len(r.Latencies)-1)]
}

// tally collects one worker's counts; merged at the end.
type tally struct {
	ok, errs int
	lat      []time.Duration
	firstErr string
}

func (t *tally) record(status int, err error, lat time.Duration) {
	if err != nil && err != io.EOF {
		t.errs++
		if t.firstErr == "" {
			t.firstErr = err.Error()
		}
		return
	}
	t.lat = append(t.lat, lat)
	if status != 200 {
		t.errs++
		if t.firstErr == "" {
			t.firstErr = "HTTP " + strconv.Itoa(status)
		}
		return
	}
	t.ok++
}

func merge(ts []*tally, elapsed time.Duration) *result {
	rs := make([]*result, len(ts))
	for i, t := range ts {
		rs[i] = &result{OK: t.ok, Errors: t.errs, Latencies: t.lat, FirstError: t.firstErr}
	}
	return combine(rs, elapsed)
}

// combine is the result of several kinds of request run together over the
// same elapsed time: the planet's uploads and reads.
func combine(rs []*result, elapsed time.Duration) *result {
	all := &result{Elapsed: elapsed}
	for _, r := range rs {
		all.OK += r.OK
		all.Errors += r.Errors
		all.Latencies = append(all.Latencies, r.Latencies...)
		if all.FirstError == "" {
			all.FirstError = r.FirstError
		}
	}
	sortDurations(all.Latencies)
	return all
}

// closedLoop runs conns connections, each sending its next request as soon
// as the previous one was answered, for d. addrs are used round-robin.
func closedLoop(addrs []string, conns int, d time.Duration, req request) *result {
	var (
		seq   atomic.Uint64
		wg    sync.WaitGroup
		stop  atomic.Bool
		ts    = make([]*tally, conns)
		start = time.Now()
	)
	for w := range conns {
		ts[w] = &tally{lat: make([]time.Duration, 0, 1<<14)}
		wg.Go(func() {
			c := &conn{addr: addrs[w%len(addrs)]}
			defer c.close()
			var buf []byte
			for !stop.Load() {
				buf = req(buf[:0], seq.Add(1))
				t0 := time.Now()
				status, _, err := c.do(buf)
				ts[w].record(status, err, time.Since(t0))
			}
		})
	}
	time.Sleep(d)
	stop.Store(true)
	wg.Wait()
	return merge(ts, time.Since(start))
}

// job is one scheduled request of an open-loop run.
type job struct {
	due  time.Time
	kind int
	seq  uint64
}

// openLoop sends requests on a fixed schedule, whatever the answers take:
// kinds[k] at rates[k] per second, for d. Latency is measured from each
// request's scheduled time, so a stalled server shows up as latency rather
// than as fewer requests sent (no coordinated omission). Requests still
// unanswered 10 s after the schedule ended count as errors.
func openLoop(addrs []string, conns int, d time.Duration, kinds []request, rates []float64) []*result {
	total := 0.0
	for _, r := range rates {
		total += r
	}
	interval := time.Duration(float64(time.Second) / total)
	jobs := make(chan job, 1<<20)
	ts := make([][]*tally, len(kinds))
	for k := range kinds {
		ts[k] = make([]*tally, conns)
		for w := range conns {
			ts[k][w] = &tally{}
		}
	}
	var wg sync.WaitGroup
	for w := range conns {
		wg.Go(func() {
			c := &conn{addr: addrs[w%len(addrs)]}
			defer c.close()
			var buf []byte
			for j := range jobs {
				buf = kinds[j.kind](buf[:0], j.seq)
				status, _, err := c.do(buf)
				ts[j.kind][w].record(status, err, time.Since(j.due))
			}
		})
	}
	// The schedule: request n is due at start + n·interval; its kind keeps
	// each kind's share of the total (a deterministic interleave).
	start := time.Now().Add(10 * time.Millisecond)
	sent := make([]float64, len(kinds))
	seqs := make([]uint64, len(kinds))
	n := int(d / interval)
	for i := range n {
		due := start.Add(time.Duration(i) * interval)
		if wait := time.Until(due); wait > time.Millisecond {
			time.Sleep(wait)
		}
		k := 0
		for j := range kinds { // the kind furthest behind its share
			if rates[j]*float64(i+1)/total-sent[j] > rates[k]*float64(i+1)/total-sent[k] {
				k = j
			}
		}
		sent[k]++
		seqs[k]++
		jobs <- job{due: due, kind: k, seq: seqs[k]}
	}
	close(jobs)
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
	}
	elapsed := d
	out := make([]*result, len(kinds))
	for k := range kinds {
		res := merge(ts[k], elapsed)
		if missing := int(sent[k]) - res.OK - res.Errors; missing > 0 {
			res.Errors += missing
			if res.FirstError == "" {
				res.FirstError = "unanswered at the end"
			}
		}
		out[k] = res
	}
	return out
}

func sortDurations(ds []time.Duration) { slices.Sort(ds) }
