package policycheck

import (
	"context"
	"fmt"
	"time"

	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/rules"
)

// MovesOutOf reports whether PR n of repo changes a target file of an
// environment some service enters from env from: whether a change of
// from's health may change its verdict. A PR too large for GitHub to list
// counts (its files cannot be told).
func MovesOutOf(ctx context.Context, gh GitHub, rs *rules.Rules, repo string, n int, from string) (bool, error) {
	files := map[string]bool{}
	for _, s := range rs.ServicesIn(repo) {
		next, ok := rs.Next(s, from)
		if !ok {
			continue
		}
		for _, t := range s.Targets[next] {
			for _, f := range t.Files() {
				files[f] = true
			}
		}
	}
	if len(files) == 0 {
		return false, nil
	}
	listed, err := gh.PullFiles(ctx, repo, n)
	if err != nil {
		return false, fmt.Errorf("list files of PR #%d: %w", n, ghretry.Fate(err, time.Now()))
	}
	if len(listed) >= MaxFiles {
		return true, nil
	}
	for _, f := range listed {
		if files[f.Path] || f.PreviousPath != "" && files[f.PreviousPath] {
			return true, nil
		}
	}
	return false, nil
}
