package relay_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// runCLI runs a glucoshare command line and returns its exit code and
// output.
func runCLI(t *testing.T, stdin string, args ...string) (int, string, string) {
	return clitest.Run(t, stdin, args...)
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
	return "http://" + clitest.Serve(t, dsn, rest...).Addr
}

// TestServeRelay runs two glucoshare servers as `glucoshare serve` runs
// them: an upstream holding the account, and a relay in front of it
// (--relay --relay-upstream --relay-key). An uploader and a fleet of watches
// go through the relay.
func TestServeRelay(t *testing.T) {
	t.Parallel()
	const pw = "correct horse battery"
	upDSN := storetest.DSN(t)
	code, out, errOut := runCLI(t, pw+"\n", "account", "add", "--db", upDSN, "--name", "sam@example.org", "--password-stdin")
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
	code, out, _ := runCLI(t, "", "serve", "--print-config", "--relay", "--relay-upstream", "https://share.example.org", "--relay-key", "hidden-key")
	if code != 0 || strings.Contains(out, "hidden-key") {
		t.Errorf("print-config: %d\n%s", code, out)
	}
	for _, want := range []string{"relay=true", "relay-upstream=https://share.example.org", "relay-key=xxxxx", "relay-coalesce=5s"} {
		if !strings.Contains(out, want) {
			t.Errorf("print-config lacks %q:\n%s", want, out)
		}
	}
	code, _, errOut := runCLI(t, "", "serve", "--relay", "--relay-upstream", "ftp://nope", "--db", storetest.DSN(t))
	if code != 2 || !strings.Contains(errOut, "--relay-upstream") {
		t.Errorf("bad upstream: %d %s", code, errOut)
	}
}
