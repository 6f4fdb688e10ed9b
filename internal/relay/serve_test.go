package relay_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// runCLI runs a glucoshare command line and returns its exit code and
// output.
func runCLI(stdin string, args ...string) (int, string, string) {
	var stdout, stderr bytes.Buffer
	env := cli.Env{Stdin: strings.NewReader(stdin), Stdout: &stdout, Stderr: &stderr, Getenv: func(string) string { return "" }}
	code := cli.Run(context.Background(), args, env)
	return code, stdout.String(), stderr.String()
}

// serve runs `glucoshare serve` on a free port of 127.0.0.1 until the test
// ends and returns its base URL.
func serve(t *testing.T, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	addrc := make(chan string, 1)
	done := make(chan int, 1)
	logs := &syncBuffer{}
	go func() {
		env := cli.Env{Stdin: strings.NewReader(""), Stdout: io.Discard, Stderr: logs,
			Getenv: func(string) string { return "" }, Listening: func(a string) { addrc <- a }}
		done <- cli.Run(ctx, append([]string{"serve", "--addr", "127.0.0.1:0"}, args...), env)
	}()
	t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			t.Errorf("serve exited %d; log:\n%s", code, logs)
		}
	})
	select {
	case addr := <-addrc:
		return "http://" + addr
	case code := <-done:
		done <- code
		t.Fatalf("serve exited %d before listening; log:\n%s", code, logs)
	case <-time.After(30 * time.Second):
		t.Fatal("serve did not start")
	}
	return ""
}

// TestServeRelay runs two glucoshare servers as `glucoshare serve` runs
// them: an upstream holding the account, and a relay in front of it
// (--relay --relay-upstream --relay-key). An uploader and a fleet of watches
// go through the relay.
func TestServeRelay(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery"
	upDSN := storetest.DSN(t)
	code, out, errOut := runCLI(pw+"\n", "account", "add", "--db", upDSN, "--name", "sam@example.org", "--password-stdin")
	if code != 0 {
		t.Fatalf("account add: %d %s", code, errOut)
	}
	id := strings.TrimSpace(out)
	upBase := serve(t, "--db", upDSN)
	front := serve(t, "--db", storetest.DSN(t), "--relay", "--relay-upstream", upBase,
		"--relay-key", "k3y", "--relay-coalesce", "1h")
	base := front + "/relay/custom"
	key := "relayKey=k3y"

	wantCode(t, "no key", post(t, base+api+"General/SystemUtcTime", ""), 404, "EndpointNotFound")

	// The uploader: login, start, post — every call relayed.
	r := post(t, base+api+"General/LoginPublisherAccountByName?format=text&"+key,
		`{"accountName":"sam@example.org","password":"`+pw+`"}`)
	if r.status != 200 || len(r.body) != 36 {
		t.Fatalf("login through the relay: %d %q", r.status, r.body)
	}
	session := r.body
	if r := post(t, base+api+"Publisher/StartRemoteMonitoringSession?sessionId="+session+"&serialNumber=SM12345678&"+key, ""); r.status != 200 {
		t.Fatalf("start: %d %s", r.status, r.body)
	}
	now := time.Now().UnixMilli()
	egvs := fmt.Sprintf(`{"SN":"SM12345678","Egvs":[{"ST":"/Date(%d)/","DT":"/Date(%d)/","Value":131,"Trend":4},{"ST":"/Date(%d)/","DT":"/Date(%d)/","Value":127,"Trend":3}]}`,
		now, now, now-300_000, now-300_000)
	if r := post(t, base+api+"Publisher/PostReceiverEgvRecords?sessionId="+session+"&"+key, egvs); r.status != 200 {
		t.Fatalf("post: %d %s", r.status, r.body)
	}

	// The watches: a watch-style login by id, then many identical reads.
	r = post(t, base+api+"General/LoginPublisherAccountById?format=object&"+key, `{"accountId":"`+id+`","password":"`+pw+`"}`)
	var obj struct{ SessionId string }
	if r.status != 200 || json.Unmarshal([]byte(r.body), &obj) != nil || len(obj.SessionId) != 36 {
		t.Fatalf("watch login: %d %s", r.status, r.body)
	}
	var wg sync.WaitGroup
	bodies := make([]string, 20)
	for i := range bodies {
		wg.Go(func() {
			bodies[i] = post(t, base+api+"Publisher/ReadPublisherLatestGlucoseValues?sessionId="+obj.SessionId+"&minutes=60&maxCount=5&"+key, "").body
		})
	}
	wg.Wait()
	for i, b := range bodies {
		var rs []struct{ Value int }
		if json.Unmarshal([]byte(b), &rs) != nil || len(rs) != 2 || rs[0].Value != 131 || rs[1].Value != 127 {
			t.Errorf("watch %d read %s", i, b)
		}
	}

	// The relay's metrics: five calls went upstream (login, start, post,
	// login, one read), the other 19 reads were shared.
	metrics := call(t, "GET", front+"/metrics", "").body
	for _, want := range []string{
		`glucoshare_relay_upstream_requests_total{region="custom"} 5`,
		`glucoshare_relay_coalesced_total{region="custom"} 19`,
		`glucoshare_relay_requests_total{region="custom"} 24`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
}

func TestRelayFlags(t *testing.T) {
	t.Parallel()
	code, out, _ := runCLI("", "serve", "--print-config", "--relay", "--relay-upstream", "https://share.example.org", "--relay-key", "hidden-key")
	if code != 0 || strings.Contains(out, "hidden-key") {
		t.Errorf("print-config: %d\n%s", code, out)
	}
	for _, want := range []string{"relay=true", "relay-upstream=https://share.example.org", "relay-key=xxxxx", "relay-coalesce=5s"} {
		if !strings.Contains(out, want) {
			t.Errorf("print-config lacks %q:\n%s", want, out)
		}
	}
	code, _, errOut := runCLI("", "serve", "--relay", "--relay-upstream", "ftp://nope", "--db", storetest.DSN(t))
	if code != 2 || !strings.Contains(errOut, "--relay-upstream") {
		t.Errorf("bad upstream: %d %s", code, errOut)
	}
}
