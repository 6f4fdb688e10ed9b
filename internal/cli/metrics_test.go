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

// TestLoginFlags: the login throttling flags, the old --login-lockout as
// the name of --login-max-delay (flag or environment), the metrics token
// masked, and settings that would let one address make every new address
// wait refused.
func TestLoginFlags(t *testing.T) {
	code, out, errOut := clitest.Run(t, "", "serve", "--print-config", "--login-lockout", "10m", "--login-account-failures", "30",
		"--metrics-token", "hidden-token")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"login-max-failures=5\n", "login-account-failures=30\n", "login-first-delay=1s\n",
		"login-max-delay=10m0s\n", "login-window=24h0m0s\n", "login-remember=720h0m0s\n", "metrics-token=xxxxx\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if strings.Contains(out, "hidden-token") {
		t.Error("the metrics token is printed")
	}
	if code, out, _ := run(t, "", map[string]string{"GLUCOSHARE_LOGIN_LOCKOUT": "5m"}, "serve", "--print-config"); code != 0 ||
		!strings.Contains(out, "login-max-delay=5m0s\n") {
		t.Errorf("GLUCOSHARE_LOGIN_LOCKOUT: exit %d\n%s", code, out)
	}
	for _, args := range [][]string{
		{"--login-account-failures", "5"},
		{"--login-first-delay", "20m"},
		{"--login-max-failures", "0"},
		{"--metrics-addr", "9090"},
	} {
		if code, _, errOut := clitest.Run(t, "", append([]string{"serve", "--print-config"}, args...)...); code != 2 {
			t.Errorf("%v: exit %d %q, want a usage error", args, code, errOut)
		}
	}
}
