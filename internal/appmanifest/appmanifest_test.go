package appmanifest

import (
	"context"
	"encoding/json"
	"errors"
	"html"
	"io"
	"io/fs"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/githubtest"
)

const manifest = `{"name":"promobot-acme","url":"https://github.com/promobot/promobot",
"hook_attributes":{"url":"https://promobot.example.com/webhook","active":true},
"redirect_url":"https://promobot.example.com/","public":false,
"default_permissions":{"contents":"write","metadata":"read","actions":"read"},
"default_events":["push","workflow_run"],"x_unknown":{"kept":1}}`

func newGitHub(t *testing.T) *githubtest.Server {
	t.Helper()
	s, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func start(t *testing.T, gh *githubtest.Server, hook string) *Flow {
	t.Helper()
	f, err := Start(Config{Org: "acme", GitHubURL: gh.URL(), Manifest: []byte(manifest), WebhookURL: hook})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Close() })
	return f
}

var (
	actionRE   = regexp.MustCompile(`<form id="manifest" method="post" action="([^"]+)">`)
	manifestRE = regexp.MustCompile(`name="manifest" value="([^"]+)"`)
)

// readPage is the browser loading the local page: the form's action and
// the manifest it posts.
func readPage(t *testing.T, f *Flow) (action string, posted map[string]any) {
	t.Helper()
	resp, err := http.Get(f.URL())
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Security-Policy"), "form-action") {
		t.Fatalf("page = %d %v", resp.StatusCode, resp.Header)
	}
	a, m := actionRE.FindSubmatch(b), manifestRE.FindSubmatch(b)
	if a == nil || m == nil {
		t.Fatalf("page has no manifest form:\n%s", b)
	}
	if err := json.Unmarshal([]byte(html.UnescapeString(string(m[1]))), &posted); err != nil {
		t.Fatalf("posted manifest: %v", err)
	}
	return html.UnescapeString(string(a[1])), posted
}

// browse plays the browser: it submits the page's form to GitHub and
// follows GitHub's redirect back to the callback.
func browse(t *testing.T, f *Flow) *http.Response {
	t.Helper()
	action, posted := readPage(t, f)
	b, _ := json.Marshal(posted)
	resp, err := http.PostForm(action, url.Values{"manifest": {string(b)}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func wait(t *testing.T, f *Flow) (Credentials, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return f.Wait(ctx)
}

func TestFlowCreatesTheApp(t *testing.T) {
	gh := newGitHub(t)
	f := start(t, gh, "https://promobot.example.com/webhook")
	action, posted := readPage(t, f)
	if !strings.HasPrefix(action, gh.URL()+"/organizations/acme/settings/apps/new?state=") {
		t.Errorf("form posts to %s", action)
	}
	if posted["redirect_url"] != f.URL()+"callback" || posted["x_unknown"] == nil ||
		posted["hook_attributes"].(map[string]any)["url"] != "https://promobot.example.com/webhook" {
		t.Errorf("posted manifest = %v", posted)
	}
	resp := browse(t, f)
	if b, _ := io.ReadAll(resp.Body); resp.StatusCode != 200 || !strings.Contains(string(b), "/apps/promobot-acme/installations/new") {
		t.Fatalf("callback page = %d %s", resp.StatusCode, b)
	}
	c, err := wait(t, f)
	if err != nil {
		t.Fatal(err)
	}
	if c.ID == 0 || c.Slug != "promobot-acme" || c.WebhookSecret == "" || c.ClientID == "" || c.ClientSecret == "" || checkKey(c.PEM) != nil {
		t.Fatalf("credentials = %+v", c)
	}
	if c.InstallURL() != gh.URL()+"/apps/promobot-acme/installations/new" {
		t.Errorf("install url = %s", c.InstallURL())
	}
	// The flow is answered: GitHub's redirect replayed is refused.
	cb := gh.Calls()
	if len(cb) != 1 || cb[0].Route != "POST /app-manifests/{code}/conversions" || len(githubtest.CheckCalls(cb)) != 0 {
		t.Errorf("calls = %+v", cb)
	}
}

func TestFlowWithoutWebhookURL(t *testing.T) {
	gh := newGitHub(t)
	f := start(t, gh, "")
	_, posted := readPage(t, f)
	if posted["hook_attributes"].(map[string]any)["active"] != false {
		t.Errorf("hook = %v, want inactive", posted["hook_attributes"])
	}
}

// TestCallbackHostile: requests to the callback that are not GitHub's answer
// to this flow are refused; a forged state does not end the flow.
func TestCallbackHostile(t *testing.T) {
	gh := newGitHub(t)
	f := start(t, gh, "")
	get := func(t *testing.T, query string, hdr map[string]string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", f.URL()+"callback?"+query, nil)
		for k, v := range hdr {
			if k == "Host" {
				req.Host = v
			} else {
				req.Header.Set(k, v)
			}
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for _, tc := range []struct {
		name, query string
		hdr         map[string]string
		status      int
	}{
		{"no state", "code=abc", nil, 400},
		{"bad state", "code=abc&state=" + strings.Repeat("0", 64), nil, 400},
		{"two states", "code=abc&state=" + f.state + "&state=" + f.state, nil, 400},
		{"malformed query", "code=%zz&state=" + f.state, nil, 400},
		{"huge query", "state=" + strings.Repeat("a", 64<<10), nil, 431},
		{"rebound host", "code=abc&state=" + f.state, map[string]string{"Host": "evil.example:80"}, 421},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := get(t, tc.query, tc.hdr); got != tc.status {
				t.Errorf("= %d, want %d", got, tc.status)
			}
		})
	}
	req, _ := http.NewRequest("POST", f.URL()+"callback?state="+f.state, strings.NewReader(strings.Repeat("x", 1<<20)))
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("POST with a body = %v %v", resp, err)
	}
	req, _ = http.NewRequest("POST", f.URL()+"callback?state="+f.state, nil)
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST = %v %v", resp, err)
	}
	select {
	case <-f.done:
		t.Fatal("requests that are not GitHub's answer ended the flow")
	default:
	}
	// The real answer still works.
	if resp := browse(t, f); resp.StatusCode != 200 {
		t.Fatalf("callback = %d", resp.StatusCode)
	}
	if _, err := wait(t, f); err != nil {
		t.Fatal(err)
	}
	if got := get(t, "code=abc&state="+f.state, nil); got != http.StatusConflict {
		t.Errorf("second answer = %d, want 409", got)
	}
}

// TestCallbackEndsTheFlow: GitHub's answers that end the flow with an error.
func TestCallbackEndsTheFlow(t *testing.T) {
	for _, tc := range []struct {
		name  string
		query func(f *Flow) string
		fault *githubtest.Fault
		says  string
	}{
		{"error from github", func(f *Flow) string {
			return "error=access_denied&error_description=The+user+cancelled%0Athe+flow&state=" + f.state
		}, nil, "access_denied: The user cancelled the flow"},
		{"no code", func(f *Flow) string { return "state=" + f.state }, nil, "no valid code"},
		{"bad code", func(f *Flow) string { return "code=../../x&state=" + f.state }, nil, "no valid code"},
		{"unknown code", func(f *Flow) string { return "code=0123456789abcdef0123&state=" + f.state }, nil, "404"},
		{"validation failed", func(f *Flow) string { return "code=0123456789abcdef0123&state=" + f.state },
			&githubtest.Fault{Status: 422, Body: `{"message":"Validation Failed","errors":["Name is already in use"],"documentation_url":"x"}`}, "422: Validation Failed Name is already in use"},
		{"oversized answer", func(f *Flow) string { return "code=0123456789abcdef0123&state=" + f.state },
			&githubtest.Fault{Status: 201, Body: `{"pem":"` + strings.Repeat("A", maxResponse) + `"}`}, "answer over"},
		{"answer without key", func(f *Flow) string { return "code=0123456789abcdef0123&state=" + f.state },
			&githubtest.Fault{Status: 201, Body: `{"id":1,"html_url":"x","pem":"-----BEGIN RSA PRIVATE KEY-----\nAAAA\n-----END RSA PRIVATE KEY-----\n"}`}, "key"},
		{"not json", func(f *Flow) string { return "code=0123456789abcdef0123&state=" + f.state },
			&githubtest.Fault{Status: 201, Body: `<html>`}, "decode"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := newGitHub(t)
			if tc.fault != nil {
				gh.SetFault(func(githubtest.Call) *githubtest.Fault { return tc.fault })
			}
			f := start(t, gh, "")
			resp, err := http.Get(f.URL() + "callback?" + tc.query(f))
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode < 400 {
				t.Errorf("callback = %d", resp.StatusCode)
			}
			_, err = wait(t, f)
			if err == nil || !strings.Contains(err.Error(), tc.says) {
				t.Fatalf("err = %v, want one saying %q", err, tc.says)
			}
			if strings.ContainsAny(err.Error(), "\n\r") {
				t.Errorf("error carries a line break: %q", err)
			}
		})
	}
}

func TestStartRefuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		says string
	}{
		{"no org", Config{Manifest: []byte(manifest)}, "organization"},
		{"org with a path", Config{Org: "acme/../x", Manifest: []byte(manifest)}, "organization"},
		{"github url with path", Config{Org: "acme", GitHubURL: "https://ghe.example.com/x", Manifest: []byte(manifest)}, "github url"},
		{"github url with query", Config{Org: "acme", GitHubURL: "https://ghe.example.com/?a=b", Manifest: []byte(manifest)}, "github url"},
		{"not loopback", Config{Org: "acme", Listen: "0.0.0.0:0", Manifest: []byte(manifest)}, "loopback"},
		{"manifest not json", Config{Org: "acme", Manifest: []byte("{")}, "app manifest"},
		{"manifest without name", Config{Org: "acme", Manifest: []byte(`{"url":"https://x"}`)}, "no name"},
		{"manifest oversized", Config{Org: "acme", Manifest: []byte(`{"name":"` + strings.Repeat("a", maxManifest) + `"}`)}, "over"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Start(tc.cfg)
			if err == nil {
				_ = f.Close()
				t.Fatal("started")
			}
			if !strings.Contains(err.Error(), tc.says) {
				t.Errorf("err = %v, want %q", err, tc.says)
			}
		})
	}
}

func TestURLs(t *testing.T) {
	for _, tc := range []struct{ in, web, api string }{
		{"", "https://github.com/", "https://api.github.com/"},
		{"https://github.com/", "https://github.com/", "https://api.github.com/"},
		{"https://api.github.com", "https://github.com/", "https://api.github.com/"},
		{"https://GHE.example.com", "https://ghe.example.com/", "https://ghe.example.com/api/v3/"},
	} {
		web, api, err := URLs(tc.in)
		if err != nil || web != tc.web || api != tc.api {
			t.Errorf("URLs(%q) = %s %s %v, want %s %s", tc.in, web, api, err, tc.web, tc.api)
		}
	}
}

func TestWriteRefusesToOverwrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "creds")
	if err := CheckOut(dir); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir = %v %v", st, err)
	}
	c := Credentials{ID: 7, PEM: "pem", WebhookSecret: "w", ClientID: "c", ClientSecret: "cs"}
	written, err := Write(dir, c)
	if err != nil || len(written) != 5 {
		t.Fatal(written, err)
	}
	for _, p := range written {
		if st, err := os.Stat(p); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", p, st, err)
		}
	}
	if err := CheckOut(dir); err == nil || !strings.Contains(err.Error(), "does not overwrite") {
		t.Errorf("CheckOut over existing files = %v", err)
	}
	if _, err := Write(dir, c); !errors.Is(err, fs.ErrExist) {
		t.Errorf("Write over existing files = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, FileAppID)); string(b) != "7" {
		t.Errorf("app-id = %q", b)
	}
}
