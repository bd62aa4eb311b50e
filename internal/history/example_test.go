package history_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/history/gitfixture"
	"github.com/promobot/promobot/internal/rules"
)

// TestUsage is the way a page or report reads a repository: one Cache for
// the process; a mirror's object store (gitmirror.Objects) or a checkout's
// (OpenDir); the service timeline and what runs now.
func TestUsage(t *testing.T) {
	r := gitfixture.GitOps(t)
	rs, err := rules.Parse("rules.yaml", []byte(gitfixture.GitOpsRules))
	if err != nil {
		t.Fatal(err)
	}
	cache := history.NewCache(16) // one per process: a walk per (repo, rules, head)

	// With a mirror: st, head, err := mirrors.Objects("acme/gitops", "main")
	st, head, err := history.OpenDir(r.Dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	h, err := cache.Walk(context.Background(), st, head, rs, history.Options{Repo: "acme/gitops"})
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range h.Service("web")[:2] { // the timeline, newest first
		lines = append(lines, fmt.Sprintf("%s %s %s→%s via %s #%d by %s ticket %s", c.Env, c.Path, c.From, c.To, c.Via, c.PR, c.Requester, c.Ticket))
	}
	cur, _ := h.CurrentOf("web", "prod")
	lines = append(lines, fmt.Sprintf("web in prod: %s since %s by %s (PR #%d)", cur.Ref, cur.Since.Format("2006-01-02 15:04"), cur.By, cur.PR))
	want := []string{
		"prod apps/web/prod-eu/kustomization.yaml v3→v2 via pr #7 by dave ticket PAY-8",
		"prod apps/web/prod-eu/kustomization.yaml v2→v3 via hand #0 by  ticket ",
		"web in prod: v2 since 2026-03-03 02:00 by dave (PR #7)",
	}
	for i := range want {
		if lines[i] != want[i] {
			t.Errorf("line %d: %s\nwant %s", i, lines[i], want[i])
		}
	}
}
