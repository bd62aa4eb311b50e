package integration

import (
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/worker"
)

// TestHostileRepositoryFiles: a GitOps file promobot must edit is hostile or
// broken. The intent ends at once in the dead-letter stream, the reason is
// posted as a failed commit status where the push came from, nothing is
// written, and promobot keeps working.
func TestHostileRepositoryFiles(t *testing.T) {
	h, ctx := start(t)
	gh := h.GitHub
	staging := demo.OverlayPath("staging")
	bomb := "a: &a [x, x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\n" +
		"d: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]\nimages: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n"
	cases := []struct{ name, content, reason string }{
		{"alias bomb", bomb, "staging"},
		{"invalid YAML", "images:\n  - name: registry.example.com/payment-service\n   newTag: [unclosed\n", "staging"},
		{"images is not a list", "images:\n  name: registry.example.com/payment-service\n  newTag: v1\n", "staging"},
		{"duplicate keys", "images: []\nimages:\n  - name: registry.example.com/payment-service\n    newTag: v1\n", "staging"},
		{"11 MiB file", "# " + strings.Repeat("x", 11<<20) + "\nimages: []\n", "staging"},
	}
	n := 0
	for i, tc := range cases {
		content := tc.content
		if _, err := gh.Commit(demo.GitOpsRepo, "main", map[string]*string{staging: &content}, "break staging: "+tc.name); err != nil {
			t.Fatal(err)
		}
		if err := gh.WaitIdle(ctx); err != nil {
			t.Fatal(err)
		}
		build(t, ctx, h, "PAY-1: build "+tc.name, 100+i)
		dev := expect(t, ctx, h, n, worker.Committed)
		r := expect(t, ctx, h, n+1, worker.Failed)
		n += 2
		if _, ok := gh.Branches(demo.GitOpsRepo)["promobot/staging/payment-service"]; ok {
			t.Fatalf("%s: a branch was written", tc.name)
		}
		st := gh.Statuses(demo.GitOpsRepo, dev.Commit)
		if len(st) != 1 || st[0].State != "failure" || st[0].Context != "promobot/staging" {
			t.Errorf("%s: statuses on the push commit = %+v, want one promobot/staging failure (%s)", tc.name, st, r.Reason)
		}
	}
	// The worker reports a result before the queue stores its dead letter:
	// wait for the queue to catch up (a dead letter missing for good ends
	// the test's context).
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		dead, err := h.App.Queue().DeadLetters(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(dead) > len(cases) {
			t.Fatalf("%d dead letters, want %d", len(dead), len(cases))
		}
		if len(dead) == len(cases) {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%d dead letters, want %d", len(dead), len(cases))
		case <-tick.C:
		}
	}
	// promobot still works: a sane file again, and the next build promotes.
	good := "images:\n  - name: registry.example.com/payment-service\n    newTag: sha-0a1b2c3\n"
	if _, err := gh.Commit(demo.GitOpsRepo, "main", map[string]*string{staging: &good}, "fix staging"); err != nil {
		t.Fatal(err)
	}
	if err := gh.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	build(t, ctx, h, "PAY-2: works again", 200)
	expect(t, ctx, h, n, worker.Committed)
	expect(t, ctx, h, n+1, worker.Opened)
}
