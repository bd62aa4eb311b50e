package githubtest

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"golang.org/x/oauth2"
)

const (
	oauthClientID = "Iv1.0123456789abcdef"
	oauthSecret   = "0123456789abcdef0123456789abcdef01234567"
	oauthCallback = "https://promobot.example.com/auth/callback"
)

func newOAuthEnv(t *testing.T) *env {
	e := newEnv(t)
	if err := e.s.CreateRepo("acme/private-gitops", "main", map[string]string{"README.md": "x\n"}); err != nil {
		t.Fatal(err)
	}
	e.s.SetOAuthClient(oauthClientID, oauthSecret, oauthCallback)
	e.s.SetUserAccess("alice", testRepo)
	e.s.SetUserAccess("bob", testRepo, "acme/private-gitops")
	return e
}

// authorize runs the browser's step: it returns the callback GitHub sent
// the browser to.
func authorize(t *testing.T, e *env, q url.Values) *url.URL {
	t.Helper()
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(e.s.URL() + "/login/oauth/authorize?" + q.Encode())
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusFound {
		t.Fatalf("authorize: %d", resp.StatusCode)
	}
	u, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u
}

func oauthConfig(e *env) *oauth2.Config {
	return &oauth2.Config{ClientID: oauthClientID, ClientSecret: oauthSecret, RedirectURL: oauthCallback,
		Endpoint: oauth2.Endpoint{AuthURL: e.s.URL() + "/login/oauth/authorize", TokenURL: e.s.URL() + "/login/oauth/access_token", AuthStyle: oauth2.AuthStyleInParams}}
}

func TestOAuthWebFlowGivesAUserTokenThatListsOnlyTheUsersRepositories(t *testing.T) {
	e := newOAuthEnv(t)
	e.s.SignInAs("alice")
	cfg := oauthConfig(e)
	authURL, _ := url.Parse(cfg.AuthCodeURL("st4te"))
	cb := authorize(t, e, authURL.Query())
	if got := cb.Scheme + "://" + cb.Host + cb.Path; got != oauthCallback || cb.Query().Get("state") != "st4te" || len(cb.Query().Get("code")) != 20 {
		t.Fatalf("callback = %s", cb)
	}
	tok, err := cfg.Exchange(e.ctx, cb.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok.AccessToken, "ghu_") || tok.TokenType != "bearer" {
		t.Errorf("token = %+v", tok)
	}
	gh := e.tokenClient(tok.AccessToken)
	u, _, err := gh.Users.Get(e.ctx, "")
	if err != nil || u.GetLogin() != "alice" {
		t.Fatalf("GET /user = %v, %v", u.GetLogin(), err)
	}
	insts, _, err := gh.Apps.ListUserInstallations(e.ctx, nil)
	if err != nil || len(insts) != 1 || insts[0].GetID() != testInstID {
		t.Fatalf("installations = %v, %v", insts, err)
	}
	rs, _, err := gh.Apps.ListUserRepos(e.ctx, testInstID, nil)
	if err != nil || rs.GetTotalCount() != 1 || rs.Repositories[0].GetFullName() != testRepo {
		t.Fatalf("repositories = %+v, %v", rs, err)
	}
	// The code is spent.
	if _, err := cfg.Exchange(e.ctx, cb.Query().Get("code")); !isOAuthError(err, "bad_verification_code") {
		t.Errorf("second exchange: %v", err)
	}
	// An installation token is no user.
	if code, _, _ := e.raw("GET", "/api/v3/user/installations", "", ""); code != http.StatusUnauthorized {
		t.Errorf("no token: %d", code)
	}
	if code, _, _ := e.raw("GET", "/api/v3/user/installations/999/repositories", "token "+tok.AccessToken, ""); code != http.StatusNotFound {
		t.Errorf("other installation: %d", code)
	}
}

func isOAuthError(err error, code string) bool {
	var re *oauth2.RetrieveError
	return errors.As(err, &re) && re.ErrorCode == code
}

func TestOAuthTokenErrorsAnswer200WithAnErrorField(t *testing.T) {
	e := newOAuthEnv(t)
	e.s.SignInAs("bob")
	cb := authorize(t, e, url.Values{"client_id": {oauthClientID}, "state": {"s"}})
	code := cb.Query().Get("code")
	post := func(accept string, form url.Values) (int, string, string) {
		req, _ := http.NewRequestWithContext(e.ctx, "POST", e.s.URL()+"/login/oauth/access_token", strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if accept != "" {
			req.Header.Set("Accept", accept)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header.Get("Content-Type"), string(b)
	}
	tests := []struct {
		name, accept string
		form         url.Values
		status       int
		body         string
	}{
		{"bad code, form", "", url.Values{"client_id": {oauthClientID}, "client_secret": {oauthSecret}, "code": {"nope"}}, 200,
			"error=bad_verification_code&error_description=The+code+passed+is+incorrect+or+expired.&error_uri=https%3A%2F%2Fdocs.github.com%2Fapps%2Fmanaging-oauth-apps%2Ftroubleshooting-oauth-app-access-token-request-errors%2F%23bad-verification-code"},
		{"bad code, json", "application/json", url.Values{"client_id": {oauthClientID}, "client_secret": {oauthSecret}, "code": {"nope"}}, 200,
			`{"error":"bad_verification_code","error_description":"The code passed is incorrect or expired.","error_uri":"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#bad-verification-code"}`},
		{"wrong secret", "application/json", url.Values{"client_id": {oauthClientID}, "client_secret": {"x"}, "code": {code}}, 200,
			`{"error":"incorrect_client_credentials","error_description":"The client_id and/or client_secret passed are incorrect.","error_uri":"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#incorrect-client-credentials"}`},
		{"unknown client", "application/json", url.Values{"client_id": {"Iv1.other"}, "client_secret": {oauthSecret}, "code": {code}}, 404, `{"error":"Not Found"}`},
		{"wrong redirect", "application/json", url.Values{"client_id": {oauthClientID}, "client_secret": {oauthSecret}, "code": {code}, "redirect_uri": {"https://evil.example/cb"}}, 200,
			`{"error":"redirect_uri_mismatch","error_description":"The redirect_uri MUST match the registered callback URL for this application.","error_uri":"https://docs.github.com/apps/managing-oauth-apps/troubleshooting-authorization-request-errors/#redirect-uri-mismatch2"}`},
	}
	for _, tt := range tests {
		status, _, body := post(tt.accept, tt.form)
		if status != tt.status || body != tt.body {
			t.Errorf("%s: %d %s\nwant %d %s", tt.name, status, body, tt.status, tt.body)
		}
	}
}

func TestOAuthAuthorizeRefusals(t *testing.T) {
	e := newOAuthEnv(t)
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Get(e.s.URL() + "/login/oauth/authorize?client_id=Iv1.unknown&state=x")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown client: %d", resp.StatusCode)
	}
	cb := authorize(t, e, url.Values{"client_id": {oauthClientID}, "state": {"x"}, "redirect_uri": {"https://evil.example/auth/callback"}})
	if cb.Host != "promobot.example.com" || cb.Query().Get("error") != "redirect_uri_mismatch" {
		t.Errorf("foreign redirect_uri: %s", cb)
	}
	e.s.SignInAs("") // the user denies access
	cb = authorize(t, e, url.Values{"client_id": {oauthClientID}, "state": {"x"}})
	if cb.Query().Get("error") != "access_denied" || cb.Query().Get("code") != "" || cb.Query().Get("state") != "x" {
		t.Errorf("denied: %s", cb)
	}
}

func TestUserRepositoriesArePaged(t *testing.T) {
	e := newOAuthEnv(t)
	e.s.SignInAs("bob")
	cb := authorize(t, e, url.Values{"client_id": {oauthClientID}, "state": {"x"}})
	tok, err := oauthConfig(e).Exchange(context.Background(), cb.Query().Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	code, h, body := e.raw("GET", "/api/v3/user/installations/"+itoa(testInstID)+"/repositories?per_page=1", "token "+tok.AccessToken, "")
	if code != 200 || !strings.Contains(h.Get("Link"), `page=2&per_page=1>; rel="next"`) || !strings.Contains(string(body), `"total_count":2`) {
		t.Errorf("page 1: %d %q %s", code, h.Get("Link"), body)
	}
}

func TestPullRequestPage(t *testing.T) {
	e := newEnv(t)
	if code, _, _ := e.raw("GET", "/"+testRepo+"/pull/99", "", ""); code != http.StatusNotFound {
		t.Errorf("missing PR page: %d", code)
	}
	if code, _, _ := e.raw("GET", "/"+testRepo+"/pull/x", "", ""); code != http.StatusNotFound {
		t.Errorf("malformed PR page: %d", code)
	}
}
