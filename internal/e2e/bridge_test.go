package e2e

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"github.com/glucoshare/glucoshare/internal/bridgetest"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
)

// nightscoutPost is one request the capture received.
type nightscoutPost struct {
	path, apiSecret string
	body            []byte
}

// nightscoutCapture stands in for Nightscout: it records every request and
// answers 200 [] as Nightscout's entries API does. entries is closed when
// the first POST /api/v1/entries.json has been recorded.
type nightscoutCapture struct {
	*httptest.Server
	mu      sync.Mutex
	posts   []nightscoutPost
	once    sync.Once
	entries chan struct{}
}

func newNightscoutCapture(t *testing.T) *nightscoutCapture {
	c := &nightscoutCapture{entries: make(chan struct{})}
	c.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		c.mu.Lock()
		c.posts = append(c.posts, nightscoutPost{path: r.Method + " " + r.URL.Path, apiSecret: r.Header.Get("api-secret"), body: body})
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte("[]"))
		if r.Method == http.MethodPost && r.URL.Path == "/api/v1/entries.json" {
			c.once.Do(func() { close(c.entries) })
		}
	}))
	t.Cleanup(c.Close)
	return c
}

func (c *nightscoutCapture) received() []nightscoutPost {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]nightscoutPost(nil), c.posts...)
}

// TestShare2NightscoutBridge runs the real share2nightscout-bridge from npm
// (`index.js run`: Authenticate → LoginById → one read → one post to
// Nightscout) against glucoshare over HTTPS, and checks that Nightscout
// receives the uploaded readings.
func TestShare2NightscoutBridge(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the share2nightscout-bridge test needs node and npm: %s is not on PATH", tool)
		}
	}
	index := bridgetest.Install(t)

	cert, key := bridgetest.SelfSignedCert(t)
	s := startServer(t, "--tls-cert", cert, "--tls-key", key)
	readings := series(4)
	// Names the bridge has to map: RateOutOfRange and NotComputable are
	// spelled differently in its DIRECTIONS table.
	readings[0].trend, readings[1].trend, readings[2].trend = 9, 8, 4
	readings[0].value = 401
	p := newPublisher(t, s, readings)
	ns := newNightscoutCapture(t)

	const apiSecret = "glucoshare-e2e-api-secret"
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", index, "run")
	// A clean environment: no proxy variables (the request module honours
	// them) and none of the bridge's optional settings from the caller.
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"BRIDGE_SERVER=" + s.addr,
		"DEXCOM_ACCOUNT_NAME=" + p.name,
		"DEXCOM_PASSWORD=" + p.password,
		"API_SECRET=" + apiSecret,
		"NS=" + ns.URL,
		"maxCount=3",
	}
	out := &clitest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()

	// `run` may linger after its post; once Nightscout has the entries the
	// bridge has done its work.
	select {
	case <-ns.entries:
		cmd.Process.Kill()
		<-exited
	case err := <-exited:
		t.Fatalf("the bridge exited (%v) without posting entries to Nightscout; output:\n%s", err, out)
	case <-ctx.Done():
		<-exited
		t.Fatalf("the bridge posted no entries within 60s; output:\n%s", out)
	}
	defer func() {
		if t.Failed() {
			t.Logf("bridge output:\n%s", out)
		}
	}()

	var posts []nightscoutPost
	for _, post := range ns.received() {
		if post.path == "POST /api/v1/entries.json" {
			posts = append(posts, post)
		}
	}
	if len(posts) != 1 {
		t.Fatalf("Nightscout received %d entries posts, want 1", len(posts))
	}
	sum := sha1.Sum([]byte(apiSecret))
	if got, want := posts[0].apiSecret, hex.EncodeToString(sum[:]); got != want {
		t.Errorf("api-secret header %q, want the SHA-1 of API_SECRET %q", got, want)
	}

	type entry struct {
		Sgv        int    `json:"sgv"`
		Date       int64  `json:"date"`
		DateString string `json:"dateString"`
		Trend      int    `json:"trend"`
		Direction  string `json:"direction"`
		Device     string `json:"device"`
		Type       string `json:"type"`
	}
	var got []entry
	if err := json.Unmarshal(posts[0].body, &got); err != nil {
		t.Fatalf("entries body %s: %v", posts[0].body, err)
	}
	var want []entry
	for _, r := range newest(p.readings, 3) { // maxCount=3, newest first
		want = append(want, entry{
			Sgv:        r.value,
			Date:       r.st,
			DateString: time.UnixMilli(r.st).UTC().Format("2006-01-02T15:04:05.000Z"),
			Trend:      r.trend,
			Direction:  bridgeTrends[r.trend],
			Device:     "share2",
			Type:       "sgv",
		})
	}
	if len(got) != len(want) {
		t.Fatalf("Nightscout received %d entries, want %d: %s", len(got), len(want), posts[0].body)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("entry %d\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}
