package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/localrepo"
	"github.com/promobot/promobot/internal/rules"
)

// repoConfigPath is where a GitOps repository configures itself
// ($PROMOBOT_REPO_CONFIG_PATH, as the server's --repo-config-path).
func repoConfigPath() string {
	return envDefault("PROMOBOT_REPO_CONFIG_PATH", rules.DefaultRepoConfigPath)
}

// isRepoConfig reports whether file names a repository configuration
// rather than a server rules file: its base name is the configuration's.
func isRepoConfig(file string) bool {
	return filepath.Base(file) == path.Base(repoConfigPath())
}

// loadPolicy returns the policy of the server rules file at p; nil when p
// is empty, or missing and not required.
func loadPolicy(p string, required bool) (*rules.Policy, error) {
	if p == "" {
		return nil, nil
	}
	rs, err := rules.Load(p)
	if err != nil {
		if !required && errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, err
	}
	return rs.Policy, nil
}

// parseRepoConfig reads a repository configuration from file (named name
// in errors) for repo, merged with policy.
func parseRepoConfig(file, name, repo, commit string, policy *rules.Policy) (*rules.Rules, error) {
	data, err := readLimited(file)
	if err != nil {
		return nil, err
	}
	return rules.ParseRepoConfig(rules.ConfigSource{Repo: repo, Path: name, Commit: commit}, data, policy)
}

func readLimited(file string) ([]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, rules.MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("read configuration: %w", err)
	}
	return data, nil
}

// checkoutRepo names the repository a checkout is of, from its origin
// remote (owner/name); "local/checkout" when that says nothing.
func checkoutRepo(dir string) string {
	out, err := exec.Command("git", "-C", dir, "config", "--get", "remote.origin.url").Output()
	if err == nil {
		u := strings.TrimSuffix(strings.TrimSpace(string(out)), ".git")
		u = strings.ReplaceAll(u, ":", "/")
		parts := strings.Split(strings.TrimRight(u, "/"), "/")
		if len(parts) >= 2 {
			if repo := parts[len(parts)-2] + "/" + parts[len(parts)-1]; intent.ValidRepo(repo) {
				return repo
			}
		}
	}
	return "local/checkout"
}

// openRepoConfig opens the checkout at dir when it configures itself:
// its configuration merged with the policy of the rules file at rulesPath
// (when there is one), generators expanded over the checkout. ok is false
// when the checkout has no configuration.
func openRepoConfig(ctx context.Context, rulesPath, dir string) (rs *rules.Rules, d *localrepo.Dir, ok bool, err error) {
	name := repoConfigPath()
	file := filepath.Join(dir, filepath.FromSlash(name))
	if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, false, nil
	}
	policy, err := loadPolicy(rulesPath, false)
	if err != nil {
		return nil, nil, true, err
	}
	rs, err = parseRepoConfig(file, name, checkoutRepo(dir), "", policy)
	if err != nil {
		return nil, nil, true, err
	}
	rs, d, err = openCheckout(ctx, rs, dir)
	return rs, d, true, err
}

// writePolicyNotes prints, per environment, what the policy raised.
func writePolicyNotes(w io.Writer, rs *rules.Rules) {
	for _, env := range rs.EnvNames() {
		seen := map[string]bool{}
		for i := range rs.Services {
			st, ok := rs.Env(rs.Services[i].Name, env)
			if !ok {
				continue
			}
			for _, n := range st.Policy.Notes() {
				if !seen[n] {
					seen[n] = true
					fmt.Fprintf(w, "  %s: %s (%s)\n", env, n, rules.ByPolicy)
				}
			}
		}
	}
}

// byPolicy marks a gate the organisation policy raised.
func byPolicy(raised bool) string {
	if raised {
		return " (" + rules.ByPolicy + ")"
	}
	return ""
}

// checkRepoConfigPath refuses a --repo-config-path that is not a clean
// path inside a repository.
func checkRepoConfigPath(p string) error {
	if p == "" || len(p) > 255 || strings.ContainsAny(p, "\\\x00") || path.IsAbs(p) || path.Clean(p) != p || p == "." || strings.HasPrefix(p, "../") || p == ".." {
		return fmt.Errorf("--repo-config-path %q: want a clean relative path inside the repository, e.g. %s", p, rules.DefaultRepoConfigPath)
	}
	return nil
}
