package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// buildServer compiles the glucoshare binary into dir.
func buildServer(dir string) (string, error) {
	bin := filepath.Join(dir, "glucoshare")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/glucoshare/glucoshare/cmd/glucoshare")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return bin, cmd.Run()
}

// child is a server process on loopback.
type child struct {
	cmd  *exec.Cmd
	addr string
}

var listenLine = regexp.MustCompile(`msg="glucoshare listening" addr=(\S+)`)

// startServer runs "glucoshare serve" on a free loopback port and waits
// until it listens.
func startServer(bin, dsn string, extra []string) (*child, error) {
	args := append([]string{"serve", "--db", dsn, "--addr", "127.0.0.1:0", "--log-level", "info"}, extra...)
	cmd := exec.Command(bin, args...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stdout = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		found := false
		for sc.Scan() {
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil && !found {
				found = true
				addr <- m[1]
				continue
			}
			if strings.Contains(sc.Text(), "level=ERROR") || strings.Contains(sc.Text(), "level=WARN") {
				fmt.Fprintln(os.Stderr, "server:", sc.Text())
			}
		}
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			cmd.Wait()
			return nil, fmt.Errorf("server exited before listening")
		}
		return &child{cmd: cmd, addr: a}, nil
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("server did not listen within a minute")
	}
}

// startCeiling runs this program as the bare net/http server that answers
// every request with a constant body of size bytes.
func startCeiling(size int) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-ceiling-size", strconv.Itoa(size))
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		cmd.Wait()
		return nil, fmt.Errorf("ceiling server: %w", err)
	}
	return &child{cmd: cmd, addr: strings.TrimSpace(line)}, nil
}

// serveCeiling is the ceiling process: a bare net/http server with the
// same response shape as the Share API (Content-Type, Content-Length, the
// request body read).
func serveCeiling(size int) error {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	body := []byte(strings.Repeat("x", size))
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	}))
}

// peakRSS returns the process's peak resident set (VmHWM) in bytes.
func (c *child) peakRSS() int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", c.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// stop ends the process gracefully, killing it after 10 s.
func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// loadAvg returns the first three fields of /proc/loadavg.
func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

// clockTicks is USER_HZ, the unit of /proc/<pid>/stat's times: 100 on
// every Linux architecture Go supports (the kernel fixes it for user
// space, whatever CONFIG_HZ is).
const clockTicks = 100

// cpuOf returns the CPU time (user + system) that process pid has used, from
// /proc/<pid>/stat; false when it cannot be read.
func cpuOf(pid int) (time.Duration, bool) {
	_, ticks, ok := statOf(pid)
	return time.Duration(ticks) * time.Second / clockTicks, ok
}

// statOf reads a process's command name and its utime + stime in ticks.
func statOf(pid int) (comm string, ticks int64, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", 0, false
	}
	// The command name is in parentheses and may itself contain spaces or
	// parentheses: the fields after it start after the last ')'.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return "", 0, false
	}
	f := strings.Fields(s[end+1:])
	if len(f) < 13 { // state is field 3 of stat, utime 14, stime 15
		return "", 0, false
	}
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return "", 0, false
	}
	return s[open+1 : end], utime + stime, true
}

// cpu returns the CPU time the child has used so far.
func (c *child) cpu() time.Duration {
	d, _ := cpuOf(c.cmd.Process.Pid)
	return d
}

// cpuSum is the CPU time used by all of cs.
func cpuSum(cs []*child) time.Duration {
	var sum time.Duration
	for _, c := range cs {
		sum += c.cpu()
	}
	return sum
}

// postgresTimes returns the PostgreSQL processes on this machine that
// work for database db, with their CPU ticks: the backends connected to
// it (their process titles name it) and the server's shared processes
// (checkpointer, WAL writer, …: no client address in their titles), which
// other databases' work also keeps busy. Other databases' backends are
// left out, so that other users of the server do not count.
func postgresTimes(db string) map[int]int64 {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	out := map[int]int64{}
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		comm, ticks, ok := statOf(pid)
		if !ok || comm != "postgres" {
			continue
		}
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		title := strings.ReplaceAll(string(b), "\x00", " ")
		if strings.Contains(title, " "+db+" ") || !strings.Contains(title, "(") {
			out[pid] = ticks
		}
	}
	return out
}

// postgresCPU is the CPU time PostgreSQL's processes used between two
// snapshots of postgresTimes; a process that started in between counts in
// full. (A backend that exited in between is lost; the benchmark's
// connections stay open while it measures.)
func postgresCPU(before, after map[int]int64) time.Duration {
	var ticks int64
	for pid, t := range after {
		ticks += t - before[pid]
	}
	return time.Duration(ticks) * time.Second / clockTicks
}
