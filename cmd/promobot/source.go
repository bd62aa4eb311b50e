package main

import (
	"context"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/spf13/pflag"

	"github.com/promobot/promobot/internal/audit"
	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/status"
)

// source is a GitOps repository's history for the offline commands: a
// checkout's git repository, or (--github) a mirror fetched from GitHub
// with the App's (or the token's) credentials.
type source struct {
	rules   *rules.Rules    // expanded over the repository's tree
	files   status.Checkout // the tree status reads: the working tree, or the base branch's head
	git     error           // why there is no history (a checkout without git); objects is nil then
	objects storer.EncodedObjectStorer
	head    plumbing.Hash
	reviews audit.Reviews // nil without GitHub access
	webURL  string
	close   func()
}

// githubFlags are the credentials flags serve takes, for --github.
type githubFlags struct{ apiURL, appID, keyFile string }

func (g *githubFlags) add(fs *pflag.FlagSet) {
	stringFlag(fs, &g.apiURL, "github-api-url", "PROMOBOT_GITHUB_API_URL", "https://api.github.com/", "GitHub REST API URL, with --github (GHES: https://HOST)")
	stringFlag(fs, &g.appID, "app-id", "PROMOBOT_APP_ID", "", "GitHub App id, with --github (or $PROMOBOT_GITHUB_TOKEN)")
	stringFlag(fs, &g.keyFile, "private-key-file", "PROMOBOT_PRIVATE_KEY_FILE", "", "GitHub App private key (PEM file), with --github")
}

// openSource opens the checkout at dir, or the GitHub repository ghRepo
// when it is set.
func openSource(ctx context.Context, g githubFlags, rulesPath, dir, ghRepo string) (*source, error) {
	if ghRepo != "" {
		return openGitHub(ctx, g, rulesPath, ghRepo)
	}
	rs, d, err := loadCheckout(ctx, rulesPath, dir)
	if err != nil {
		return nil, err
	}
	src := &source{rules: rs, files: d, close: func() { _ = d.Close() }} // read-only: nothing to flush
	src.objects, src.head, src.git = history.OpenDir(dir, rs.Defaults.BaseBranch)
	return src, nil
}

// openGitHub fetches repo's mirror into a temporary directory (removed by
// close) and reads the rules' generators over its base branch.
func openGitHub(ctx context.Context, g githubFlags, rulesPath, repo string) (*source, error) {
	if !intent.ValidRepo(repo) {
		return nil, fmt.Errorf("--github %q: want owner/name", repo)
	}
	rs, err := rules.Load(rulesPath)
	if err != nil {
		return nil, err
	}
	cfg := ghapp.Config{APIURL: g.apiURL, Token: os.Getenv("PROMOBOT_GITHUB_TOKEN")}
	if g.appID != "" {
		if _, err := fmt.Sscan(g.appID, &cfg.AppID); err != nil {
			return nil, fmt.Errorf("--app-id %q is not a number", g.appID)
		}
	}
	if g.keyFile != "" {
		if cfg.PrivateKey, err = os.ReadFile(g.keyFile); err != nil {
			return nil, fmt.Errorf("read private key: %w", err)
		}
	}
	clients, err := ghapp.New(cfg)
	if err != nil {
		return nil, err
	}
	in, err := clients.For(ctx, repo, 0)
	if err != nil {
		return nil, err
	}
	cloneURL, err := clients.CloneURL(ctx, in, repo, "")
	if err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "promobot-audit-")
	if err != nil {
		return nil, fmt.Errorf("mirror directory: %w", err)
	}
	cleanup := func() { _ = os.RemoveAll(tmp) } // a temporary copy: nothing to keep
	m := gitmirror.New(tmp)
	creds := func(ctx context.Context) (string, string, error) {
		tok, err := in.Token(ctx)
		return "x-access-token", tok, err
	}
	if err := m.Fetch(ctx, repo, cloneURL, creds); err != nil {
		cleanup()
		return nil, err
	}
	branch := rs.Defaults.BaseBranch
	snap, err := m.Snapshot(ctx, repo, branch)
	if err != nil {
		cleanup()
		return nil, err
	}
	if rs, err = rs.Expand(ctx, func(string) (fs.FS, error) { return snap.FS(), nil }); err != nil {
		cleanup()
		return nil, err
	}
	st, head, err := m.Objects(repo, branch)
	if err != nil {
		cleanup()
		return nil, err
	}
	return &source{rules: rs, files: snap, objects: st, head: head, reviews: audit.REST{Client: in.Client},
		webURL: webURL(g.apiURL), close: cleanup}, nil
}

// webURL is GitHub's web address for an API URL: github.com for
// api.github.com, the host itself for GitHub Enterprise Server.
func webURL(api string) string {
	u, err := url.Parse(api)
	if err != nil || u.Host == "" || u.Host == "api.github.com" {
		return "https://github.com"
	}
	return u.Scheme + "://" + strings.TrimPrefix(u.Host, "api.")
}
