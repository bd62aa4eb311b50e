package githubtest

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
)

const testManifest = `{"name":"promobot-acme","url":"https://github.com/promobot/promobot",
"hook_attributes":{"url":"https://promobot.example.com/webhook"},
"redirect_url":"http://127.0.0.1:1/callback?keep=1",
"default_permissions":{"contents":"write","pull_requests":"write","issues":"write","metadata":"read","actions":"read"},
"default_events":["push","workflow_run","issue_comment","pull_request"]}`

// noRedirect is a browser that stops at GitHub's redirect.
var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func postManifest(t *testing.T, e *env, path, manifest, contentType string) *http.Response {
	t.Helper()
	body := url.Values{"manifest": {manifest}}.Encode()
	req, err := http.NewRequestWithContext(e.ctx, "POST", e.s.URL()+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func convert(t *testing.T, e *env, code string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequestWithContext(e.ctx, "POST", e.s.APIURL()+"app-manifests/"+code+"/conversions", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("conversion answer is not JSON: %s", b)
	}
	return resp.StatusCode, m
}

// TestManifestFlow: the page redirects with a code and the caller's state,
// the code turns into a working App once, and a second use is 404.
func TestManifestFlow(t *testing.T) {
	e := newEnv(t)
	resp := postManifest(t, e, "/organizations/acme/settings/apps/new?state=s1", testManifest, "application/x-www-form-urlencoded")
	if resp.StatusCode != http.StatusFound {
		b, _ := io.ReadAll(resp.Body)
		t.Fatalf("page = %d %s, want 302", resp.StatusCode, b)
	}
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if loc.Host != "127.0.0.1:1" || loc.Path != "/callback" || q.Get("state") != "s1" || q.Get("keep") != "1" || q.Get("code") == "" {
		t.Fatalf("redirect = %s", loc)
	}
	status, app := convert(t, e, q.Get("code"))
	if status != http.StatusCreated {
		t.Fatalf("conversion = %d %v", status, app)
	}
	// Every member the OpenAPI description requires of the answer.
	for _, k := range []string{"id", "node_id", "owner", "name", "description", "external_url", "html_url", "created_at", "updated_at", "permissions", "events", "client_id", "client_secret", "webhook_secret", "pem"} {
		if _, ok := app[k]; !ok {
			t.Errorf("conversion answer lacks %q", k)
		}
	}
	if app["slug"] != "promobot-acme" || app["html_url"] != e.s.URL()+"/apps/promobot-acme" || app["webhook_secret"] == nil ||
		app["owner"].(map[string]any)["login"] != "acme" {
		t.Errorf("conversion answer = %v", app)
	}
	if status, again := convert(t, e, q.Get("code")); status != http.StatusNotFound || again["message"] != "Not Found" {
		t.Errorf("second conversion = %d %v, want 404", status, again)
	}

	// The App authenticates with its own key.
	key, err := jwt.ParseRSAPrivateKeyFromPEM([]byte(app["pem"].(string)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	id := strconv.FormatInt(int64(app["id"].(float64)), 10)
	tok, err := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.RegisteredClaims{Issuer: id,
		IssuedAt: jwt.NewNumericDate(now.Add(-time.Minute)), ExpiresAt: jwt.NewNumericDate(now.Add(5 * time.Minute))}).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequestWithContext(e.ctx, "GET", e.s.APIURL()+"app", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	r2, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	r2.Body.Close()
	if r2.StatusCode != http.StatusOK {
		t.Errorf("GET /app with the new App's JWT = %d", r2.StatusCode)
	}
	if calls := e.s.Calls(); calls[len(calls)-1].Auth != "app-jwt" {
		t.Errorf("auth = %q", calls[len(calls)-1].Auth)
	}

	// The name is taken now.
	if resp := postManifest(t, e, "/settings/apps/new", testManifest, "application/x-www-form-urlencoded"); resp.StatusCode != http.StatusUnprocessableEntity {
		t.Errorf("same name again = %d, want 422", resp.StatusCode)
	}
}

// TestManifestConversionRace: two codes for one name; the second
// conversion finds the name taken (422, GitHub's simple validation shape).
func TestManifestConversionRace(t *testing.T) {
	e := newEnv(t)
	var codes []string
	for range 2 {
		resp := postManifest(t, e, "/settings/apps/new", testManifest, "application/x-www-form-urlencoded")
		loc, _ := url.Parse(resp.Header.Get("Location"))
		codes = append(codes, loc.Query().Get("code"))
	}
	if st, _ := convert(t, e, codes[0]); st != http.StatusCreated {
		t.Fatalf("first = %d", st)
	}
	st, body := convert(t, e, codes[1])
	if st != http.StatusUnprocessableEntity || body["message"] != "Validation Failed" {
		t.Fatalf("second = %d %v", st, body)
	}
	if _, ok := body["errors"].([]any); !ok {
		t.Errorf("422 lacks errors: %v", body)
	}
	if st, _ := convert(t, e, "0123456789abcdef0123"); st != http.StatusNotFound {
		t.Errorf("unknown code = %d", st)
	}
}

func TestManifestPageRefuses(t *testing.T) {
	e := newEnv(t)
	const form = "application/x-www-form-urlencoded"
	huge := `{"name":"x","url":"https://e.com","description":"` + strings.Repeat("a", maxManifestForm) + `"}`
	tests := []struct {
		name, path, manifest, contentType string
		status                            int
		says                              string
	}{
		{"not JSON", "/settings/apps/new", "{", form, 422, "not valid JSON"},
		{"two values", "/settings/apps/new", `{"name":"a","url":"https://e.com"} {}`, form, 422, "not valid JSON"},
		{"no name", "/settings/apps/new", `{"url":"https://e.com"}`, form, 422, "Name can"},
		{"no homepage", "/settings/apps/new", `{"name":"a"}`, form, 422, "Homepage URL"},
		{"hook without url", "/settings/apps/new", `{"name":"a","url":"https://e.com","hook_attributes":{}}`, form, 422, "Hook URL"},
		{"bad redirect", "/settings/apps/new", `{"name":"a","url":"https://e.com","redirect_url":"javascript:alert(1)"}`, form, 422, "Redirect URL"},
		{"event without permission", "/settings/apps/new", `{"name":"a","url":"https://e.com","hook_attributes":{"url":"https://e.com/h"},"default_events":["push"]}`, form, 422, "push is not supported"},
		{"installation subscribed", "/settings/apps/new", `{"name":"a","url":"https://e.com","hook_attributes":{"url":"https://e.com/h"},"default_events":["installation"]}`, form, 422, "unsupported: installation"},
		{"bad level", "/settings/apps/new", `{"name":"a","url":"https://e.com","default_permissions":{"contents":"all"}}`, form, 422, "unknown level"},
		{"wrong type", "/settings/apps/new", `{"name":["a"],"url":"https://e.com"}`, form, 422, "not valid JSON"},
		{"no manifest", "/settings/apps/new", "", form, 422, "missing"},
		{"json body", "/settings/apps/new", `{"name":"a","url":"https://e.com"}`, "application/json", 415, "form"},
		{"bad org", "/organizations/-x-/settings/apps/new", `{"name":"a","url":"https://e.com"}`, form, 404, "Not Found"},
		{"oversized", "/settings/apps/new", huge, form, 413, "too large"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp := postManifest(t, e, tc.path, tc.manifest, tc.contentType)
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.says) {
				t.Fatalf("= %d %s, want %d saying %q", resp.StatusCode, b, tc.status, tc.says)
			}
		})
	}
}
