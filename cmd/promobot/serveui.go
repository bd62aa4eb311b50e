package main

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/spf13/pflag"

	"github.com/promobot/promobot/internal/app"
	"github.com/promobot/promobot/internal/ui"
)

func boolFlag(fs *pflag.FlagSet, p *bool, name, env, usage string) error {
	d := false
	if v, ok := os.LookupEnv(env); ok && v != "" {
		b, err := strconv.ParseBool(v)
		if err != nil {
			return fmt.Errorf("$%s: %q is not true or false", env, v)
		}
		d = b
	}
	fs.BoolVar(p, name, d, usage+" ($"+env+")")
	return nil
}

// uiConfig sets the status page's sign-in from the flags: the OAuth
// client's id and secrets, or --ui-no-auth.
func uiConfig(cfg *app.Config, f serveFlags) error {
	secret := []byte(os.Getenv("PROMOBOT_GITHUB_OAUTH_CLIENT_SECRET"))
	if f.oauthSecretFile != "" {
		b, err := os.ReadFile(f.oauthSecretFile)
		if err != nil {
			return fmt.Errorf("read oauth client secret: %w", err)
		}
		secret = b
	}
	var secrets [][]byte
	for _, line := range bytes.Split(secret, []byte("\n")) {
		if line = bytes.TrimSpace(line); len(line) > 0 {
			secrets = append(secrets, line)
		}
	}
	switch {
	case f.oauthClientID == "" && len(secrets) > 0:
		return errors.New("an oauth client secret needs --github-oauth-client-id")
	case f.oauthClientID == "":
		cfg.UINoAuth = f.uiNoAuth
		return nil
	case f.uiNoAuth:
		return errors.New("--ui-no-auth and --github-oauth-client-id exclude each other")
	case len(secrets) == 0:
		return errors.New("--github-oauth-client-id needs --github-oauth-client-secret-file or $PROMOBOT_GITHUB_OAUTH_CLIENT_SECRET")
	case f.publicURL == "":
		return errors.New("--github-oauth-client-id needs --public-url: GitHub sends signed-in users back to its /auth/callback")
	}
	cfg.UIOAuth = &ui.OAuth{ClientID: f.oauthClientID, ClientSecrets: secrets}
	return nil
}
