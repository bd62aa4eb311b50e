package ghapp

import (
	"context"
	"net/http"
	"testing"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
)

// TestIdentity: promobot's own login is the App's bot user (GET /app with
// the JWT) or the token's user (GET /user), asked once.
func TestIdentity(t *testing.T) {
	ctx := context.Background()
	key, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), AppID: 99, AppPublicKey: pub, AppSlug: "acme-promoter",
		InstallationID: 1234, StaticToken: "pat", StaticTokenUser: "release-bot-user"})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	if err := srv.CreateRepo(testRepo, "main", map[string]string{"a.txt": "a\n"}); err != nil {
		t.Fatal(err)
	}
	retry := ghretry.Config{ContentPace: -1}
	for _, tc := range []struct {
		name  string
		cfg   Config
		want  string
		route string
	}{
		{"app", Config{AppID: 99, PrivateKey: key}, "acme-promoter[bot]", "GET /app"},
		{"token", Config{Token: "pat"}, "release-bot-user", "GET /user"},
		{"configured", Config{Token: "pat", Login: "someone"}, "someone", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.ResetCalls()
			tc.cfg.APIURL, tc.cfg.Retry = srv.APIURL(), retry
			c, err := New(tc.cfg)
			if err != nil {
				t.Fatal(err)
			}
			for range 3 {
				if got, err := c.Identity(ctx); err != nil || got != tc.want {
					t.Fatalf("Identity = %q, %v; want %q", got, err, tc.want)
				}
			}
			calls := srv.Calls()
			if tc.route == "" && len(calls) != 0 || tc.route != "" && (len(calls) != 1 || calls[0].Route != tc.route) {
				t.Errorf("calls %+v, want one %s", calls, tc.route)
			}
		})
	}

	// A token that is no user (an installation token) cannot ask: GitHub's
	// 403 is terminal, and nothing is remembered.
	in, err := func() (*Installation, error) {
		c, err := New(Config{APIURL: srv.APIURL(), AppID: 99, PrivateKey: key, Retry: retry})
		if err != nil {
			return nil, err
		}
		return c.For(ctx, testRepo, 1234)
	}()
	if err != nil {
		t.Fatal(err)
	}
	tok, err := in.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{APIURL: srv.APIURL(), Token: tok, Retry: retry})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Identity(ctx)
	if !fate.IsTerminal(err) || !ghretry.IsStatus(err, http.StatusForbidden) {
		t.Errorf("Identity with an installation token: %v, want a terminal 403", err)
	}
}
