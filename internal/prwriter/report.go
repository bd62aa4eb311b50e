package prwriter

import (
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"
)

func encodeBase64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// Comment posts body on an issue or PR.
func Comment(ctx context.Context, gh *github.Client, repo string, number int, body string) error {
	owner, name, _ := strings.Cut(repo, "/")
	if _, _, err := gh.Issues.CreateComment(ctx, owner, name, number, &github.IssueComment{Body: github.String(body)}); err != nil {
		return fmt.Errorf("comment on %s#%d: %w", repo, number, err)
	}
	return nil
}

// Status sets a commit status on sha, e.g. "promotion to staging: PR #12".
func Status(ctx context.Context, gh *github.Client, repo, sha, state, statusContext, description, targetURL string) error {
	owner, name, _ := strings.Cut(repo, "/")
	st := &github.RepoStatus{State: github.String(state), Context: github.String(statusContext), Description: github.String(truncate(description, 140))}
	if targetURL != "" {
		st.TargetURL = github.String(targetURL)
	}
	if _, _, err := gh.Repositories.CreateStatus(ctx, owner, name, sha, st); err != nil {
		return fmt.Errorf("status on %s@%s: %w", repo, sha, err)
	}
	return nil
}

// truncate cuts s to at most n bytes (GitHub limits status descriptions to
// 140), at a rune boundary, marking the cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n - 3
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "..."
}
