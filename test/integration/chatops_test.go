package integration

import (
	"context"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/worker"
)

// chatopsRules restricts prod to a team, so authorisation has teeth.
const chatopsRules = `version: 1
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - name: prod
    reviewers: { users: [alice], teams: [acme/payments-leads] }
    promoters: { teams: [acme/payments-leads] }
    ticket:
      required: true
      pattern: 'PAY-\d+'
      url: 'https://jira.example.com/browse/{{.Ticket}}'
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    source: { repo: acme/payment-service, workflow: .github/workflows/build.yml, branch: main, tag: 'sha-{{.ShortSHA}}' }
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:    { kustomize: apps/payment-service/overlays/prod }
`

func startChatops(t *testing.T) (*demo.Harness, context.Context) {
	t.Helper()
	h, ctx := startWith(t, demo.Options{Rules: []byte(chatopsRules)})
	if err := h.GitHub.SetPermission(demo.GitOpsRepo, "carol", "read"); err != nil {
		t.Fatal(err)
	}
	return h, ctx
}

// mergedStagingPR runs build → dev → staging PR → merge and returns the merged PR.
func mergedStagingPR(t *testing.T, ctx context.Context, h *demo.Harness) githubtest.PR {
	t.Helper()
	build(t, ctx, h, "PAY-123: round refunds", 1)
	expect(t, ctx, h, 0, worker.Committed)
	stg := expect(t, ctx, h, 1, worker.Opened)
	if _, err := h.GitHub.Merge(demo.GitOpsRepo, stg.PR, "bob"); err != nil {
		t.Fatal(err)
	}
	if err := h.GitHub.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	return findPR(t, h, stg.PR)
}

// comment posts a comment (GitHub sends issue_comment to promobot) and
// waits until promobot answered the delivery.
func comment(t *testing.T, ctx context.Context, h *demo.Harness, issue int, user, body string) int64 {
	t.Helper()
	id, err := h.GitHub.Comment(demo.GitOpsRepo, issue, user, body)
	if err != nil {
		t.Fatal(err)
	}
	if err := h.GitHub.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	return id
}

// replies returns promobot's comments on an issue.
func replies(h *demo.Harness, issue int) []githubtest.IssueComment {
	var out []githubtest.IssueComment
	for _, c := range h.GitHub.Comments(demo.GitOpsRepo, issue) {
		if c.User == "promobot[bot]" {
			out = append(out, c)
		}
	}
	return out
}

func TestChatOpsPromoteProd(t *testing.T) {
	h, ctx := startChatops(t)
	staging := mergedStagingPR(t, ctx, h)

	// bob is in acme/payments-leads and has write permission.
	cid := comment(t, ctx, h, staging.Number, "bob", "Looks good.\n/promote prod\nthanks!")
	res := expect(t, ctx, h, 2, worker.Opened)
	prod := findPR(t, h, res.PR)
	if prod.Head != "promobot/prod/payment-service" {
		t.Fatalf("prod PR head = %s", prod.Head)
	}
	tag := "sha-" + h.GitHub.Branches(demo.SourceRepo)["main"][:7]
	if got := renderImage(t, h, prod.HeadSHA, "prod"); got != demo.Image+":"+tag {
		t.Errorf("prod PR renders %s, want the tag the staging PR promoted (%s)", got, tag)
	}
	if !contains(prod.Reviewers, "alice") || !contains(prod.TeamReviewers, "payments-leads") {
		t.Errorf("prod reviewers = %v %v", prod.Reviewers, prod.TeamReviewers)
	}
	if !strings.Contains(prod.Body, "[PAY-123](https://jira.example.com/browse/PAY-123)") || !strings.Contains(prod.Body, "@bob") {
		t.Errorf("prod PR body lacks ticket link or requester:\n%s", prod.Body)
	}
	rs := replies(h, staging.Number)
	if len(rs) != 1 || !strings.Contains(rs[0].Body, prod.HTMLURL) {
		t.Fatalf("replies = %+v, want one with %s", rs, prod.HTMLURL)
	}
	if r := h.GitHub.Reactions(cid); len(r) != 1 || r[0].Content != "eyes" {
		t.Errorf("reactions = %+v, want 👀", r)
	}

	// The same delivery again: one PR, one reply.
	redeliverLast(t, ctx, h, "issue_comment")
	if n := countOpenHead(h, "promobot/prod/payment-service"); n != 1 {
		t.Errorf("%d prod PRs after redelivery", n)
	}
	if rs := replies(h, staging.Number); len(rs) != 1 {
		t.Errorf("%d replies after redelivery, want 1", len(rs))
	}

	// /promote help answers with the usage.
	comment(t, ctx, h, staging.Number, "carol", "/promote help")
	expect(t, ctx, h, 3, worker.Skipped)
	if rs := replies(h, staging.Number); len(rs) != 2 || !strings.Contains(rs[1].Body, "/rollback") {
		t.Errorf("help reply = %+v", rs)
	}
}

func redeliverLast(t *testing.T, ctx context.Context, h *demo.Harness, event string) {
	t.Helper()
	ds := h.GitHub.Deliveries()
	for i := len(ds) - 1; i >= 0; i-- {
		if ds[i].Event == event {
			if err := h.GitHub.Redeliver(ds[i].ID); err != nil {
				t.Fatal(err)
			}
			if err := h.GitHub.WaitIdle(ctx); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no %s delivery to redeliver", event)
}

func countOpenHead(h *demo.Harness, head string) int {
	n := 0
	for _, pr := range h.GitHub.PullRequests(demo.GitOpsRepo) {
		if pr.Head == head && pr.State == "open" {
			n++
		}
	}
	return n
}

func TestChatOpsRefusals(t *testing.T) {
	h, ctx := startChatops(t)
	staging := mergedStagingPR(t, ctx, h)

	for i, tc := range []struct {
		user, want string
	}{
		{"carol", "needs write"},                   // read-only
		{"alice", "only @acme/payments-leads may"}, // write, but not in the prod team
	} {
		comment(t, ctx, h, staging.Number, tc.user, "/promote prod")
		r := expect(t, ctx, h, 2+i, worker.Refused)
		if !strings.Contains(r.Reason, tc.want) {
			t.Errorf("%s refused for %q, want %q", tc.user, r.Reason, tc.want)
		}
		rs := replies(h, staging.Number)
		if len(rs) != i+1 || !strings.Contains(rs[i].Body, tc.want) {
			t.Errorf("%s: replies = %+v", tc.user, rs)
		}
		if _, ok := h.GitHub.Branches(demo.GitOpsRepo)["promobot/prod/payment-service"]; ok {
			t.Fatalf("%s was refused but a prod branch exists", tc.user)
		}
	}

	// A bot's comment is ignored: no intent, no reply.
	comment(t, ctx, h, staging.Number, "renovate[bot]", "/promote prod")
	if n := len(h.Results()); n != 4 {
		t.Errorf("a bot's command produced an intent (%d results)", n)
	}
	if rs := replies(h, staging.Number); len(rs) != 2 {
		t.Errorf("a bot's command got a reply: %+v", rs)
	}
}

func TestChatOpsRollback(t *testing.T) {
	h, ctx := startChatops(t)
	// prod runs v1.1.0; v1.0.0 is older.
	prodFile := demo.OverlayPath("prod")
	current, err := h.GitHub.File(demo.GitOpsRepo, "main", prodFile)
	if err != nil {
		t.Fatal(err)
	}
	next := strings.Replace(string(current), "newTag: sha-0a1b2c3", "newTag: v1.1.0", 1)
	if _, err := h.GitHub.Commit(demo.GitOpsRepo, "main", map[string]*string{prodFile: &next}, "prod runs v1.1.0"); err != nil {
		t.Fatal(err)
	}
	if err := h.GitHub.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	issue, err := h.GitHub.CreateIssue(demo.GitOpsRepo, "roll back payments", "bob")
	if err != nil {
		t.Fatal(err)
	}

	comment(t, ctx, h, issue, "bob", "/promote prod payment-service --tag v1.0.0 --ticket PAY-9")
	r := expect(t, ctx, h, 0, worker.Refused)
	if !strings.Contains(r.Reason, "older than v1.1.0") {
		t.Errorf("promote to an older tag: %q, want a downgrade refusal", r.Reason)
	}
	if _, ok := h.GitHub.Branches(demo.GitOpsRepo)["promobot/prod/payment-service"]; ok {
		t.Fatal("a refused downgrade created a branch")
	}

	comment(t, ctx, h, issue, "bob", "/rollback prod payment-service --tag v1.0.0 --ticket PAY-9")
	r = expect(t, ctx, h, 1, worker.Opened)
	pr := findPR(t, h, r.PR)
	if !strings.Contains(strings.ToLower(pr.Title), "roll back") || !strings.Contains(pr.Body, "Rollback") {
		t.Errorf("rollback PR does not say it is a rollback: %q\n%s", pr.Title, pr.Body)
	}
	if got := renderImage(t, h, pr.HeadSHA, "prod"); got != demo.Image+":v1.0.0" {
		t.Errorf("rollback PR renders %s", got)
	}
	rs := replies(h, issue)
	if len(rs) != 2 || !strings.Contains(rs[0].Body, "older than") || !strings.Contains(rs[1].Body, pr.HTMLURL) {
		t.Errorf("replies = %+v", rs)
	}

	// On an issue, a command without services lists them.
	comment(t, ctx, h, issue, "bob", "/promote prod")
	r = expect(t, ctx, h, 2, worker.Refused)
	if rs := replies(h, issue); len(rs) != 3 || !strings.Contains(rs[2].Body, "`payment-service`") {
		t.Errorf("no service list in the reply: %+v (%s)", rs, r.Reason)
	}
}
