package cli_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// TestMetricsAndLogsWithoutSecrets drives a real server through logins (good
// and bad), an upload and reads, then checks that /metrics counted each
// exactly, and that the debug-level JSON log names requests without ever
// containing the password, the session id, or the e-mail address.
func TestMetricsAndLogsWithoutSecrets(t *testing.T) {
	const (
		password = "s3cret-Passw0rd!"
		email    = "sam.private@example.org"
	)
	dsn := storetest.DSN(t)
	code, _, errOut := clitest.Run(t, password+"\n", "account", "add", "--db", dsn, "--name", email, "--email", email, "--password-stdin")
	if code != 0 {
		t.Fatalf("account add: %s", errOut)
	}
	srv := clitest.Serve(t, dsn, "--log-level", "debug", "--log-format", "json")
	base := "http://" + srv.Addr + "/ShareWebServices/Services/"
	client := &http.Client{Timeout: 10 * time.Second}
	post := func(path, body string) (int, string) {
		t.Helper()
		resp, err := client.Post(base+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	creds := fmt.Sprintf(`{"accountName":%q,"password":%q}`, email, password)
	status, body := post("General/LoginPublisherAccountByName", creds)
	var session string
	if status != 200 || json.Unmarshal([]byte(body), &session) != nil {
		t.Fatalf("login: %d %s", status, body)
	}
	for i := 0; i < 2; i++ {
		if status, _ := post("General/LoginPublisherAccountByName", fmt.Sprintf(`{"accountName":%q,"password":"wrong-%s"}`, email, password)); status != 500 {
			t.Fatalf("wrong password answered %d", status)
		}
	}
	q := "?sessionId=" + session
	post("Publisher/StartRemoteMonitoringSession"+q+"&serialNumber=SM00000000", "")
	now := time.Now().UnixMilli()
	egvs := fmt.Sprintf(`{"SN":"SM00000000","Egvs":[{"ST":"/Date(%d)/","Value":120,"Trend":4},{"ST":"/Date(%d)/","Value":125,"Trend":4},{"ST":"/Date(%d)/","Value":125,"Trend":4}]}`,
		now-600000, now-300000, now-300000)
	if status, body := post("Publisher/PostReceiverEgvRecords"+q, egvs); status != 200 {
		t.Fatalf("upload: %d %s", status, body)
	}
	for i := 0; i < 3; i++ {
		post("Publisher/ReadPublisherLatestGlucoseValues"+q+"&maxCount=2", "")
	}

	resp, err := client.Get("http://" + srv.Addr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	raw, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	metrics := string(raw)
	for _, want := range []string{
		`glucoshare_logins_total{result="ok"} 1`,
		`glucoshare_logins_total{result="invalid"} 2`,
		`glucoshare_egvs_ingested_total 2`,
		`glucoshare_share_requests_total{code="OK",endpoint="Publisher/ReadPublisherLatestGlucoseValues"} 3`,
		`glucoshare_share_requests_total{code="AccountPasswordInvalid",endpoint="General/LoginPublisherAccountByName"} 2`,
		`glucoshare_share_request_duration_seconds_count{endpoint="Publisher/PostReceiverEgvRecords"} 1`,
		`go_sql_open_connections{db_name="glucoshare"}`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if regexp.MustCompile(`glucoshare_lockouts_total [1-9]`).MatchString(metrics) {
		t.Errorf("two failures counted as a lockout")
	}

	logs := srv.Log.String()
	if !strings.Contains(logs, `"endpoint":"General/LoginPublisherAccountByName"`) {
		t.Fatalf("the debug log does not name the requests:\n%s", logs)
	}
	for name, secret := range map[string]string{"password": password, "session id": session, "e-mail": email,
		"e-mail local part": "sam.private"} {
		if strings.Contains(logs, secret) {
			t.Errorf("the log contains the %s", name)
		}
	}
}
