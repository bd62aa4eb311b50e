package prwriter

import (
	"context"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/promobot/promobot/internal/ghretry"
)

// Status sets a commit status on sha, e.g. "promotion to staging: PR #12".
func Status(ctx context.Context, gh StatusSetter, repo, sha, state, statusContext, description, targetURL string) error {
	err := gh.CreateStatus(ctx, repo, sha, CommitStatus{
		State: state, Context: statusContext, Description: truncate(description, 140), TargetURL: targetURL,
	})
	if err != nil {
		return fmt.Errorf("status on %s@%s: %w", repo, sha, ghretry.Fate(err, time.Now()))
	}
	return nil
}

// truncate cuts s to at most n bytes (GitHub refuses longer status
// descriptions), at a rune boundary, marking the cut.
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
