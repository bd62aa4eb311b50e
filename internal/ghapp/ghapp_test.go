package ghapp

import (
	"context"
	"testing"

	"github.com/promobot/promobot/internal/githubtest"
)

func TestInstallationFromDeliveryOrLookup(t *testing.T) {
	key, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), AppID: 99, AppPublicKey: pub, InstallationID: 1234})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.CreateRepo("acme/gitops", "main", map[string]string{"a.txt": "a\n"}); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{APIURL: srv.APIURL(), AppID: 99, PrivateKey: key})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	// No installation id in the delivery: promobot asks GitHub with the App JWT, once.
	in, err := c.For(ctx, "acme/gitops", 0)
	if err != nil {
		t.Fatal(err)
	}
	if in.ID != 1234 {
		t.Errorf("looked-up installation = %d, want 1234", in.ID)
	}
	if _, err := c.For(ctx, "acme/gitops", 0); err != nil {
		t.Fatal(err)
	}
	if n := srv.CallCounts()["GET /repos/{owner}/{repo}/installation"]; n != 1 {
		t.Errorf("installation looked up %d times, want once per repository", n)
	}
	// The client works: an installation token is exchanged and used.
	u, err := c.CloneURL(ctx, in, "acme/gitops", "")
	if err != nil || u != srv.URL()+"/acme/gitops.git" {
		t.Errorf("clone url = %q %v", u, err)
	}
	tok, err := in.Token(ctx)
	if err != nil || tok == "" {
		t.Errorf("token for git: %q %v", tok, err)
	}

	// With the id from the delivery, no lookup is made.
	srv.ResetCalls()
	if _, err := c.For(ctx, "acme/other", 1234); err != nil {
		t.Fatal(err)
	}
	if n := srv.CallCounts()["GET /repos/{owner}/{repo}/installation"]; n != 0 {
		t.Errorf("installation looked up although the delivery named it")
	}
}

func TestNewRefusesMissingCredentials(t *testing.T) {
	if _, err := New(Config{}); err == nil {
		t.Error("New accepted no credentials")
	}
	if _, err := New(Config{AppID: 1, PrivateKey: []byte("not a key")}); err == nil {
		t.Error("New accepted a malformed private key")
	}
}

func TestRoute(t *testing.T) {
	for _, tc := range []struct{ method, path, want string }{
		{"POST", "/api/v3/repos/acme/gitops/git/trees", "POST /repos/{owner}/{repo}/git/trees"},
		{"PATCH", "/repos/acme/gitops/git/refs/heads/promobot/prod/web", "PATCH /repos/{owner}/{repo}/git/refs/{ref}"},
		{"POST", "/repos/acme/gitops/pulls/12/requested_reviewers", "POST /repos/{owner}/{repo}/pulls/{n}/requested_reviewers"},
		{"POST", "/repos/acme/gitops/statuses/0123456789abcdef0123456789abcdef01234567", "POST /repos/{owner}/{repo}/statuses/{n}"},
		{"POST", "/app/installations/77/access_tokens", "POST /app/installations/{n}/access_tokens"},
		{"POST", "/api/v3/app/installations/77/access_tokens", "POST /app/installations/{n}/access_tokens"},
		{"GET", "/api/v3/user", "GET /user"},
	} {
		if got := Route(tc.method, tc.path); got != tc.want {
			t.Errorf("Route(%s %s) = %q, want %q", tc.method, tc.path, got, tc.want)
		}
	}
}
