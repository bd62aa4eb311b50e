package githubtest

import (
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"sort"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// requiredKeys fails the test unless body is a JSON object with every key.
func requiredKeys(t *testing.T, what string, body []byte, keys ...string) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(body, &m); err != nil {
		t.Fatalf("%s: %v: %s", what, err, body)
	}
	var missing []string
	for _, k := range keys {
		if _, ok := m[k]; !ok {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		t.Errorf("%s lacks %v", what, missing)
	}
	return m
}

// TestGetUser: GET /user answers a token's own account in GitHub's
// "private-user" shape; an installation token is refused as GitHub does.
func TestGetUser(t *testing.T) {
	e := newEnv(t)
	code, _, body := e.raw("GET", "/api/v3/user", "token "+testStatic, "")
	if code != http.StatusOK {
		t.Fatalf("GET /user = %d %s", code, body)
	}
	// The keys GitHub's OpenAPI description requires of "private-user".
	m := requiredKeys(t, "GET /user", body, "avatar_url", "events_url", "followers_url", "following_url", "gists_url",
		"gravatar_id", "html_url", "id", "node_id", "login", "organizations_url", "received_events_url", "repos_url",
		"site_admin", "starred_url", "subscriptions_url", "type", "url", "bio", "blog", "company", "email", "followers",
		"following", "hireable", "location", "name", "public_gists", "public_repos", "created_at", "updated_at",
		"collaborators", "disk_usage", "owned_private_repos", "private_gists", "total_private_repos", "two_factor_authentication")
	if m["login"] != "promobot-user" || m["type"] != "User" {
		t.Errorf("GET /user = %v %v, want the static token's user promobot-user, type User", m["login"], m["type"])
	}
	u, _, err := e.tokenClient(testStatic).Users.Get(e.ctx, "")
	if err != nil || u.GetLogin() != "promobot-user" || u.GetType() != "User" {
		t.Errorf("go-github Users.Get = %v %v", u, err)
	}

	gh, _ := e.installationClient()
	_, _, err = gh.Users.Get(e.ctx, "")
	if code, msg := ghStatus(t, err); code != http.StatusForbidden || msg != "Resource not accessible by integration" {
		t.Errorf("GET /user with an installation token = %d %q, want 403 Resource not accessible by integration", code, msg)
	}
	if code, _, _ := e.raw("GET", "/api/v3/user", "", ""); code != http.StatusUnauthorized {
		t.Errorf("GET /user without credentials = %d, want 401", code)
	}
}

// TestGetApp: GET /app answers the App to its JWT, in GitHub's
// "integration" shape; its bot user is "<slug>[bot]".
func TestGetApp(t *testing.T) {
	e := newEnv(t)
	app, resp, err := e.appClient().Apps.Get(e.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if app.GetSlug() != "promobot" || app.GetID() != testAppID {
		t.Errorf("GET /app = %s %d", app.GetSlug(), app.GetID())
	}
	_ = resp
	// The raw body, for the keys GitHub's OpenAPI description requires.
	atr := e.appTransport()
	req, err := http.NewRequestWithContext(e.ctx, "GET", e.s.APIURL()+"app", nil)
	if err != nil {
		t.Fatal(err)
	}
	r, err := (&http.Client{Transport: atr}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(r.Body)
	_ = r.Body.Close()
	requiredKeys(t, "GET /app", body, "id", "node_id", "owner", "name", "description", "external_url", "html_url",
		"created_at", "updated_at", "permissions", "events")

	// An installation token may not ask.
	gh, _ := e.installationClient()
	if _, _, err := gh.Apps.Get(e.ctx, ""); err == nil {
		t.Error("GET /app with an installation token succeeded")
	}
	// The bot writes as <slug>[bot], type Bot.
	id, _, err := gh.Issues.CreateComment(e.ctx, "acme", "gitops", mustIssue(t, e), &github.IssueComment{Body: github.String("hi")})
	if err != nil || id.GetUser().GetLogin() != "promobot[bot]" || id.GetUser().GetType() != "Bot" {
		t.Errorf("comment by the installation: %v %v", id.GetUser(), err)
	}
}

func mustIssue(t *testing.T, e *env) int {
	t.Helper()
	n, err := e.s.CreateIssue(testRepo, "an issue", "alice")
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// TestSetInstallation: uninstalling revokes the installation's tokens (401
// Bad credentials), its token exchange answers 404, and the repository's
// installation is the new one; installation webhooks tell so.
func TestSetInstallation(t *testing.T) {
	e := newEnv(t)
	gh, _ := e.installationClient()
	if _, _, err := gh.Repositories.Get(e.ctx, "acme", "gitops"); err != nil {
		t.Fatal(err)
	}
	e.wait()
	e.hook.reset()

	e.s.SetInstallation(0)
	_, _, err := gh.Repositories.Get(e.ctx, "acme", "gitops")
	if code, msg := ghStatus(t, err); code != http.StatusUnauthorized || msg != "Bad credentials" {
		t.Errorf("revoked token = %d %q, want 401 Bad credentials", code, msg)
	}
	app := e.appClient()
	if _, _, err := app.Apps.FindRepositoryInstallation(e.ctx, "acme", "gitops"); !isStatus(err, http.StatusNotFound) {
		t.Errorf("installation of an uninstalled App's repository: %v, want 404", err)
	}
	if _, _, err := app.Apps.CreateInstallationToken(e.ctx, testInstID, nil); !isStatus(err, http.StatusNotFound) {
		t.Errorf("token for the uninstalled installation: %v, want 404", err)
	}

	e.s.SetInstallation(88)
	inst, _, err := app.Apps.FindRepositoryInstallation(e.ctx, "acme", "gitops")
	if err != nil || inst.GetID() != 88 {
		t.Fatalf("installation after reinstalling = %v %v, want 88", inst.GetID(), err)
	}
	tok, _, err := app.Apps.CreateInstallationToken(e.ctx, 88, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.tokenClient(tok.GetToken()).Repositories.Get(e.ctx, "acme", "gitops"); err != nil {
		t.Errorf("the new installation's token: %v", err)
	}
	if _, _, err := app.Apps.CreateInstallationToken(e.ctx, testInstID, nil); !isStatus(err, http.StatusNotFound) {
		t.Errorf("token for the old installation: %v, want 404", err)
	}

	e.wait()
	var got []string
	for _, h := range e.hook.all() {
		var ev github.InstallationEvent
		if err := json.Unmarshal(h.Body, &ev); err != nil {
			t.Fatal(err)
		}
		var repos []string
		for _, r := range ev.Repositories {
			repos = append(repos, r.GetFullName())
		}
		sort.Strings(repos)
		got = append(got, strings.Join([]string{h.Event, ev.GetAction(), itoa(ev.GetInstallation().GetID()), strings.Join(repos, ",")}, " "))
	}
	want := []string{"installation deleted 77 acme/gitops", "installation created 88 acme/gitops"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("webhooks %q, want %q", got, want)
	}
}

func isStatus(err error, code int) bool {
	var er *github.ErrorResponse
	return errors.As(err, &er) && er.Response.StatusCode == code
}

func itoa(n int64) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// TestFaultAfter: a fault with After answers only once the request took
// effect; with Drop the connection closes unanswered.
func TestFaultAfter(t *testing.T) {
	e := newEnv(t)
	n := mustIssue(t, e)
	gh := e.tokenClient(testStatic)
	for _, tc := range []struct {
		name   string
		fault  *Fault
		status int // recorded
	}{
		{"performed, then the connection dropped", &Fault{After: true, Drop: true}, 0},
		{"performed, then 502", &Fault{After: true, Status: http.StatusBadGateway}, http.StatusBadGateway},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := len(e.s.Comments(testRepo, n))
			e.s.ResetCalls()
			e.s.SetFault(func(c Call) *Fault {
				if c.Route == "POST /repos/{owner}/{repo}/issues/{issue_number}/comments" {
					return tc.fault
				}
				return nil
			})
			defer e.s.SetFault(nil)
			_, _, err := gh.Issues.CreateComment(e.ctx, "acme", "gitops", n, &github.IssueComment{Body: github.String(tc.name)})
			if err == nil {
				t.Fatal("the faulted call succeeded")
			}
			if tc.fault.Drop {
				var er *github.ErrorResponse
				if errors.As(err, &er) {
					t.Errorf("err = %v, want a broken connection", err)
				}
			} else if !isStatus(err, tc.status) {
				t.Errorf("err = %v, want %d", err, tc.status)
			}
			cs := e.s.Comments(testRepo, n)
			if len(cs) != before+1 || cs[len(cs)-1].Body != tc.name {
				t.Errorf("comments %+v: the request did not take effect exactly once", cs)
			}
			calls := e.s.Calls()
			if len(calls) != 1 || calls[0].Status != tc.status {
				t.Errorf("calls %+v, want one with status %d", calls, tc.status)
			}
		})
	}
	// Without After, the fault replaces the request.
	e.s.SetFault(func(Call) *Fault { return &Fault{Drop: true} })
	before := len(e.s.Comments(testRepo, n))
	if _, _, err := gh.Issues.CreateComment(e.ctx, "acme", "gitops", n, &github.IssueComment{Body: github.String("x")}); err == nil {
		t.Fatal("the dropped call succeeded")
	}
	e.s.SetFault(nil)
	if got := len(e.s.Comments(testRepo, n)); got != before {
		t.Errorf("a dropped request without After took effect")
	}
}
