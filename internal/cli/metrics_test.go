package cli_test

import (
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/cli/clitest"
	"github.com/glucoshare/glucoshare/internal/store/storetest"
)

// get fetches url with an optional bearer token.
func get(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestMetricsListenerAndToken: --metrics-addr serves /metrics on a
// listener of its own and no longer on the main one; --metrics-token makes
// it require a bearer token, wherever it is served.
func TestMetricsListenerAndToken(t *testing.T) {
	const token = "a-long-metrics-token"
	srv := clitest.Serve(t, storetest.DSN(t), "--metrics-addr", "127.0.0.1:0", "--metrics-token", token, "--log-level", "info")
	m := regexp.MustCompile(`msg="metrics listening" addr=(\S+)`).FindStringSubmatch(srv.Log.String())
	if m == nil {
		t.Fatalf("no metrics listener in the log:\n%s", srv.Log)
	}
	if status, _ := get(t, "http://"+srv.Addr+"/metrics", token); status != http.StatusNotFound {
		t.Errorf("main listener /metrics: %d, want 404", status)
	}
	if status, _ := get(t, "http://"+m[1]+"/metrics", ""); status != http.StatusUnauthorized {
		t.Errorf("metrics listener without the token: %d, want 401", status)
	}
	if status, _ := get(t, "http://"+m[1]+"/metrics", "wrong"); status != http.StatusUnauthorized {
		t.Errorf("metrics listener with a wrong token: %d, want 401", status)
	}
	if status, body := get(t, "http://"+m[1]+"/metrics", token); status != 200 || !strings.Contains(body, "glucoshare_logins_total") &&
		!strings.Contains(body, "go_goroutines") {
		t.Errorf("metrics listener with the token: %d %.200s", status, body)
	}
	if status, _ := get(t, "http://"+m[1]+"/ShareWebServices/Services/General/SystemUtcTime", ""); status != http.StatusNotFound {
		t.Errorf("the metrics listener serves the protocol: %d", status)
	}

	// The token alone protects /metrics on the main listener.
	main := clitest.Serve(t, storetest.DSN(t), "--metrics-token", token)
	if status, _ := get(t, "http://"+main.Addr+"/metrics", ""); status != http.StatusUnauthorized {
		t.Errorf("main /metrics without the token: %d, want 401", status)
	}
	if status, _ := get(t, "http://"+main.Addr+"/metrics", token); status != 200 {
		t.Errorf("main /metrics with the token: %d", status)
	}
}
