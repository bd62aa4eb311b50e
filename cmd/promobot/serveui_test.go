package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/app"
)

func TestUIConfig(t *testing.T) {
	dir := t.TempDir()
	secrets := filepath.Join(dir, "oauth")
	if err := os.WriteFile(secrets, []byte("new-secret-0123456789abcdef\n\nold-secret-0123456789abcdef\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		f       serveFlags
		env     string
		wantErr string
		check   func(t *testing.T, cfg app.Config)
	}{
		{name: "nothing: the page is off", check: func(t *testing.T, cfg app.Config) {
			if cfg.UIOAuth != nil || cfg.UINoAuth {
				t.Errorf("cfg = %+v", cfg)
			}
		}},
		{name: "no auth", f: serveFlags{uiNoAuth: true}, check: func(t *testing.T, cfg app.Config) {
			if !cfg.UINoAuth || cfg.UIOAuth != nil {
				t.Errorf("cfg = %+v", cfg)
			}
		}},
		{name: "oauth from a file with a rotation", f: serveFlags{oauthClientID: "Iv1.x", oauthSecretFile: secrets, publicURL: "https://p.example.com"},
			check: func(t *testing.T, cfg app.Config) {
				if cfg.UIOAuth == nil || len(cfg.UIOAuth.ClientSecrets) != 2 || string(cfg.UIOAuth.ClientSecrets[0]) != "new-secret-0123456789abcdef" {
					t.Errorf("oauth = %+v", cfg.UIOAuth)
				}
			}},
		{name: "oauth from the environment", f: serveFlags{oauthClientID: "Iv1.x", publicURL: "https://p.example.com"}, env: "s3cret-0123456789abcdef",
			check: func(t *testing.T, cfg app.Config) {
				if cfg.UIOAuth == nil || string(cfg.UIOAuth.ClientSecrets[0]) != "s3cret-0123456789abcdef" {
					t.Errorf("oauth = %+v", cfg.UIOAuth)
				}
			}},
		{name: "both", f: serveFlags{oauthClientID: "Iv1.x", oauthSecretFile: secrets, publicURL: "https://p.example.com", uiNoAuth: true}, wantErr: "exclude each other"},
		{name: "no secret", f: serveFlags{oauthClientID: "Iv1.x", publicURL: "https://p.example.com"}, wantErr: "needs --github-oauth-client-secret-file"},
		{name: "no public url", f: serveFlags{oauthClientID: "Iv1.x", oauthSecretFile: secrets}, wantErr: "needs --public-url"},
		{name: "secret without id", f: serveFlags{oauthSecretFile: secrets}, wantErr: "needs --github-oauth-client-id"},
		{name: "missing file", f: serveFlags{oauthClientID: "Iv1.x", oauthSecretFile: filepath.Join(dir, "nope"), publicURL: "https://p.example.com"}, wantErr: "read oauth client secret"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("PROMOBOT_GITHUB_OAUTH_CLIENT_SECRET", tt.env)
			var cfg app.Config
			err := uiConfig(&cfg, tt.f)
			switch {
			case tt.wantErr != "":
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				if err != nil && (strings.Contains(err.Error(), "new-secret") || strings.Contains(err.Error(), "s3cret")) {
					t.Errorf("the error shows the secret: %v", err)
				}
			case err != nil:
				t.Fatal(err)
			default:
				tt.check(t, cfg)
			}
		})
	}
}

func TestUINoAuthEnv(t *testing.T) {
	t.Setenv("PROMOBOT_UI_NO_AUTH", "maybe")
	cmd := newServe(modeAll)
	if err := cmd.RunE(cmd, nil); err == nil || !strings.Contains(err.Error(), "PROMOBOT_UI_NO_AUTH") {
		t.Errorf("a malformed PROMOBOT_UI_NO_AUTH: %v", err)
	}
}
