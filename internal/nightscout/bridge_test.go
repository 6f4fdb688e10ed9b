package nightscout_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"github.com/glucoshare/glucoshare/internal/bridgetest"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/core"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
	"github.com/glucoshare/glucoshare/share"
)

// TestBridgeIntoOwnNightscoutAPI is the interop test of the Nightscout
// API: the real share2nightscout-bridge from npm reads account A's
// readings from glucoshare's Share API and posts them into glucoshare's own
// Nightscout API with account B's API secret; B's entries, read back
// through /api/v1/entries.json, equal the originals.
func TestBridgeIntoOwnNightscoutAPI(t *testing.T) {
	t.Parallel()
	for _, tool := range []string{"node", "npm"} {
		if _, err := exec.LookPath(tool); err != nil {
			t.Skipf("the share2nightscout-bridge test needs node and npm: %s is not on PATH", tool)
		}
	}
	index := bridgetest.Install(t)

	const (
		samPassword = "correct horse battery"
		kimSecret   = "kim's bridge api secret"
	)
	dsn := storetest.DSN(t)
	runCLI(t, samPassword+"\n", "account", "add", "--db", dsn, "--name", "sam@example.org", "--password-stdin")
	runCLI(t, "kim's password 1\n", "account", "add", "--db", dsn, "--name", "kim@example.org", "--password-stdin")
	runCLI(t, kimSecret+"\n", "account", "nightscout-secret", "kim@example.org", "--db", dsn, "--secret-stdin")
	cert, key := bridgetest.SelfSignedCert(t)
	addr := serve(t, "--db", dsn, "--tls-cert", cert, "--tls-key", key)
	base := "https://" + addr
	client := &http.Client{Timeout: 10 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}

	// Sam uploads through the Share API, as an uploader does. Trends
	// include the names the bridge spells differently (NotComputable,
	// RateOutOfRange, None).
	now := time.Now().UTC().Truncate(time.Second)
	trends := []share.Trend{9, 8, 4, 0, 1, 7, 3}
	originals := make([]core.EGV, len(trends))
	for i, tr := range trends {
		originals[i] = core.EGV{ST: now.Add(-time.Duration(5*i) * time.Minute).UnixMilli(), Value: 300 - 25*i, Trend: tr}
	}
	uploadShare(t, client, base, "sam@example.org", samPassword, originals)

	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", index, "run")
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"BRIDGE_SERVER=" + addr,
		"DEXCOM_ACCOUNT_NAME=sam@example.org",
		"DEXCOM_PASSWORD=" + samPassword,
		"API_SECRET=" + kimSecret,
		"NS=" + base,
		fmt.Sprintf("maxCount=%d", len(originals)),
	}
	out := &clitest.SyncBuffer{}
	cmd.Stdout, cmd.Stderr = out, out
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting node: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	defer func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("bridge output:\n%s", out)
		}
	}()

	// `run` may linger after its post: poll Kim's entries until they are
	// all there.
	kimAuth := core.NightscoutSecretHash(kimSecret)
	list := base + "/api/v1/entries.json?count=100"
	got := readEntries(t, client, list, kimAuth)
	for len(got) < len(originals) {
		select {
		case err := <-exited:
			exited <- err // for the deferred clean-up
			if got = readEntries(t, client, list, kimAuth); len(got) < len(originals) {
				t.Fatalf("the bridge exited (%v) and Kim has %d entries, want %d", err, len(got), len(originals))
			}
		case <-ctx.Done():
			t.Fatalf("Kim has %d entries after 90s, want %d", len(got), len(originals))
		case <-time.After(200 * time.Millisecond):
			got = readEntries(t, client, list, kimAuth)
		}
	}

	if len(got) != len(originals) {
		t.Fatalf("Kim has %d entries, want %d", len(got), len(originals))
	}
	for i, o := range originals {
		g := got[i]
		if g.SGV != o.Value || g.Date != o.ST || g.Direction != share.NightscoutDirection(o.Trend) || g.Trend != int(o.Trend) || g.Type != "sgv" {
			t.Errorf("entry %d: got sgv %d date %d direction %q trend %d, want %d %d %q %d",
				i, g.SGV, g.Date, g.Direction, g.Trend, o.Value, o.ST, share.NightscoutDirection(o.Trend), o.Trend)
		}
	}
}

// runCLI runs a glucoshare command that must succeed.
func runCLI(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	code, out, errOut := clitest.Run(t, stdin, args...)
	if code != 0 {
		t.Fatalf("glucoshare %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// serve runs `glucoshare serve` on a free port of 127.0.0.1 until the test
// ends (args must include --db) and returns its address.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	i := slices.Index(args, "--db")
	if i < 0 || i+1 >= len(args) {
		t.Fatal("serve needs --db")
	}
	dsn := args[i+1]
	rest := append(slices.Clone(args[:i]), args[i+2:]...)
	return clitest.Serve(t, dsn, rest...).Addr
}

// uploadShare posts readings as the official uploader would: login,
// start monitoring, post.
func uploadShare(t *testing.T, client *http.Client, base, name, password string, egvs []core.EGV) {
	t.Helper()
	creds, _ := json.Marshal(map[string]string{"accountName": name, "password": password,
		"applicationId": "d89443d2-327c-4a6f-89e5-496bbb0317db"})
	body := sharePost(t, client, base+"/ShareWebServices/Services/General/LoginPublisherAccountByName", string(creds))
	var session string
	if err := json.Unmarshal(body, &session); err != nil {
		t.Fatalf("login answer %q: %v", body, err)
	}
	sharePost(t, client, base+"/ShareWebServices/Services/Publisher/StartRemoteMonitoringSession?sessionId="+session+"&serialNumber=SM12345678", "")
	type wireEGV struct {
		ST, DT string
		Value  int
		Trend  int
	}
	post := struct {
		SN   string
		Egvs []wireEGV
		TA   int
	}{SN: "SM12345678", TA: -5}
	for _, e := range egvs {
		date := fmt.Sprintf("/Date(%d)/", e.ST)
		post.Egvs = append(post.Egvs, wireEGV{ST: date, DT: date, Value: e.Value, Trend: int(e.Trend)})
	}
	raw, _ := json.Marshal(post)
	sharePost(t, client, base+"/ShareWebServices/Services/Publisher/PostReceiverEgvRecords?sessionId="+session, string(raw))
}

func sharePost(t *testing.T, client *http.Client, target, body string) []byte {
	t.Helper()
	resp, err := client.Post(target, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("POST %s: %d %s", target, resp.StatusCode, b)
	}
	return b
}

// readEntries reads entries with an api-secret.
func readEntries(t *testing.T, client *http.Client, target, apiSecret string) []entry {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, target, nil)
	req.Header.Set("api-secret", apiSecret)
	resp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var es []entry
	if resp.StatusCode != 200 || json.Unmarshal(b, &es) != nil {
		t.Fatalf("GET %s: %d %s", target, resp.StatusCode, b)
	}
	return es
}
