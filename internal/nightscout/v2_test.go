package nightscout_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/glucoshare/glucoshare/internal/core"
)

// API v2's authorization: a token's JWT carries its role and works as
// API v3's bearer until it expires; the subjects are the account's own
// tokens, listed for the account's admin only.
func TestAuthorizationRequestAndSubjects(t *testing.T) {
	t.Parallel()
	e := newEnv(t)
	sam, kim := e.account("sam", samSecret), e.account("kim", kimSecret)
	if _, err := e.svc.SetNightscoutSite(context.Background(), kim, "kim-site-handle", false); err != nil {
		t.Fatal(err)
	}
	uploader := e.namedToken(sam, "AAPS", false)
	e.clock.Advance(time.Second)
	display := e.namedToken(sam, "kitchen display", true)
	e.namedToken(kim, "kim's phone", false)

	var got struct {
		Token            string     `json:"token"`
		Sub              string     `json:"sub"`
		PermissionGroups [][]string `json:"permissionGroups"`
		IAT, Exp         int64
	}
	r := e.do("GET", "/api/v2/authorization/request/"+display, "")
	if r.status != 200 || json.Unmarshal([]byte(r.body), &got) != nil {
		t.Fatalf("request: %d %s", r.status, r.body)
	}
	if got.Sub != "kitchen display" || len(got.PermissionGroups) != 2 || strings.Join(got.PermissionGroups[0], ",") != "*:*:read" ||
		got.Exp-got.IAT != 8*3600 || got.IAT != e.clock.Now().Unix() {
		t.Fatalf("request: %+v, want the read-only token's subject and role, valid 8 hours", got)
	}
	bearer := []string{"Authorization", "Bearer " + got.Token}
	if r := e.do("GET", "/api/v3/treatments", "", bearer...); r.status != 200 {
		t.Fatalf("v3 with the JWT: %d %s", r.status, r.body)
	}
	if r := e.do("POST", "/api/v3/treatments", `{"eventType":"Note","date":1745081000000,"utcOffset":0,"app":"x"}`, bearer...); r.status != 403 {
		t.Errorf("v3 create with a read-only JWT: %d %s, want 403", r.status, r.body)
	}
	e.clock.Advance(8*time.Hour + time.Second)
	if r := e.do("GET", "/api/v3/treatments", "", bearer...); r.status != 401 {
		t.Errorf("v3 with an expired JWT: %d %s, want 401", r.status, r.body)
	}

	for _, c := range []struct{ name, path string }{
		{"unknown token", "/api/v2/authorization/request/gs-00000000000000000000000000000000"},
		{"sam's token at kim's site", "/ns/kim-site-handle/api/v2/authorization/request/" + uploader},
	} {
		if r := e.do("GET", c.path, ""); r.status != 401 || strings.Contains(r.body, "token") {
			t.Errorf("%s: %d %s, want 401 and no JWT", c.name, r.status, r.body)
		}
	}

	var subjects []struct {
		ID, Name, AccessToken string
		Roles                 []string
	}
	r = e.do("GET", "/api/v2/authorization/subjects", "", "api-secret", core.NightscoutSecretHash(samSecret))
	if r.status != 200 || json.Unmarshal([]byte(r.body), &subjects) != nil {
		t.Fatalf("subjects: %d %s", r.status, r.body)
	}
	var names []string
	for _, s := range subjects {
		names = append(names, s.Name+"="+strings.Join(s.Roles, ","))
		if s.AccessToken != "" {
			t.Errorf("subject %s shows its token", s.Name)
		}
	}
	if strings.Join(names, " ") != "AAPS=admin kitchen display=readable" {
		t.Errorf("sam's subjects: %v, want his two tokens, oldest first, and none of kim's", names)
	}
	if r := e.do("GET", "/api/v2/authorization/subjects?token="+display, ""); r.status != 401 {
		t.Errorf("subjects with a read-only token: %d, want 401", r.status)
	}
}
