package demo

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/worker"
)

// DeliveryID returns a fresh GitHub-style delivery id.
func DeliveryID() string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		return fmt.Sprintf("demo-%d", time.Now().UnixNano())
	}
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// Request asks for a promotion the way `/promote <env>` on a merged PR
// does: an intent on the queue naming the requester, the PR and the ticket.
type Request struct {
	Env, Requester, Ticket string
	PR                     githubtest.PR // the merged promotion PR it was asked on
	Tag                    string
	Rollback               bool
}

// RequestPromotion publishes a requested promotion intent and returns its id.
func (h *Harness) RequestPromotion(ctx context.Context, r Request) (string, error) {
	kind := intent.KindPromote
	if r.Rollback {
		kind = intent.KindRollback
	}
	id := DeliveryID()
	in := intent.Intent{
		ID: intent.MsgID(id, 0), Kind: kind, DeliveryID: id, Event: "issue_comment", InstallationID: InstallationID,
		Repo: GitOpsRepo, Services: []string{Service}, To: r.Env, Tag: r.Tag, Ticket: r.Ticket, Requester: r.Requester,
		Source: intent.SourceRef{Repo: GitOpsRepo, Issue: r.PR.Number, PRURL: r.PR.HTMLURL, Message: r.PR.Title,
			CommentURL: r.PR.HTMLURL + "#issuecomment-1"},
		CreatedAt: time.Now().UTC(),
	}
	if err := in.Validate(); err != nil {
		return "", err
	}
	data, err := in.Marshal()
	if err != nil {
		return "", err
	}
	if err := h.App.Queue().Publish(ctx, []queue.Message{{Subject: in.Subject(), ID: in.ID, Data: data}}); err != nil {
		return "", fmt.Errorf("publish request: %w", err)
	}
	return in.ID, nil
}

// PR returns the pull request with number n.
func (h *Harness) PR(n int) (githubtest.PR, error) { return h.PRIn(GitOpsRepo, n) }

// PRIn returns the pull request of repo with number n.
func (h *Harness) PRIn(repo string, n int) (githubtest.PR, error) {
	for _, pr := range h.GitHub.PullRequests(repo) {
		if pr.Number == n {
			return pr, nil
		}
	}
	return githubtest.PR{}, fmt.Errorf("no pull request #%d in %s", n, repo)
}

// Run narrates the whole flow on out and ends with the status page's URL
// (served to everyone on loopback, like --ui-no-auth); with stay it keeps
// serving until ctx ends (Ctrl-C).
func Run(parent context.Context, dir string, out io.Writer, log zerolog.Logger, stay bool) error {
	ctx, cancel := context.WithTimeout(parent, 2*time.Minute)
	defer cancel()
	say := func(format string, args ...any) { fmt.Fprintf(out, format+"\n", args...) }
	step := func(n int, title string) { say("\n== %d. %s", n, title) }

	say("promobot demo: a GitHub test server with %s and %s, and promobot with embedded NATS JetStream.", GitOpsRepo, SourceRepo)
	rules, err := healthRules()
	if err != nil {
		return err
	}
	h, err := Start(ctx, Options{Dir: dir, Log: log, Rules: rules, UINoAuth: true})
	if err != nil {
		return err
	}
	defer h.Close()
	say("GitHub test server: %s   promobot webhook: %s", h.GitHub.URL(), h.WebhookURL())
	next := 0
	await := func(want worker.Outcome) (worker.Result, error) {
		r, err := h.Await(ctx, next)
		next++
		if err != nil {
			return r, err
		}
		if r.Outcome != want {
			return r, fmt.Errorf("intent %s: want %s, got %s (%s)", r.Intent.ID, want, r.Outcome, r.Reason)
		}
		return r, nil
	}

	step(1, "A build of acme/payment-service succeeds (signed workflow_run webhook)")
	sha, err := h.SourceCommit("PAY-123: round refunds to the cent")
	if err != nil {
		return err
	}
	payload, err := h.WorkflowRun(Build{SHA: sha, Message: "PAY-123: round refunds to the cent", RunNumber: 42})
	if err != nil {
		return err
	}
	status, err := h.Send(ctx, "workflow_run", DeliveryID(), payload)
	if err != nil {
		return err
	}
	say("POST /webhook workflow_run -> %d (answered after JetStream stored the intent)", status)
	dev, err := await(worker.Committed)
	if err != nil {
		return err
	}
	say("dev: %s (dev is `direct: true`)", dev.Reason)
	if err := showDiff(h, out, dev.Base, dev.Commit); err != nil {
		return err
	}

	step(2, "The commit to main changed dev, and staging is `auto: true`: a staging PR")
	stg, err := await(worker.Opened)
	if err != nil {
		return err
	}
	pr, err := showPR(h, out, stg.PR)
	if err != nil {
		return err
	}

	step(3, "A reviewer merges the staging PR; prod is not auto, so nothing happens until someone asks")
	if _, err := h.GitHub.Merge(GitOpsRepo, pr.Number, "bob"); err != nil {
		return err
	}
	if err := h.GitHub.WaitIdle(ctx); err != nil {
		return err
	}
	say("merged #%d; push delivered to promobot; intents handled so far: %d (no prod PR)", pr.Number, len(h.Results()))

	step(4, "staging has `health`: a promotion out of it waits until Argo CD reports the tag healthy there")
	early, err := h.GitHub.Comment(GitOpsRepo, pr.Number, "bob", "/promote prod --ticket PAY-123")
	if err != nil {
		return err
	}
	wait, err := await(worker.Delayed)
	if err != nil {
		return err
	}
	say("bob asks too early: %s", wait.Reason)
	say("(simulated) Argo CD Notifications posts commit status %s = success on main", demoCheck)
	if err := h.GitHub.SetStatus(GitOpsRepo, "main", demoCheck, "success", "https://argocd.example.com/applications/payment-service-staging", "argocd-notifications"); err != nil {
		return err
	}
	if err := h.GitHub.WaitIdle(ctx); err != nil {
		return err
	}

	step(5, "alice comments `/promote prod --ticket PAY-123` on the merged staging PR")
	cid, err := h.GitHub.Comment(GitOpsRepo, pr.Number, "alice", "Ship it.\n/promote prod --ticket PAY-123")
	if err != nil {
		return err
	}
	prod, err := awaitCommand(h, &next, ctx, worker.Opened)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(mustPR(h, prod.PR).Body, "\n") {
		if strings.Contains(line, "health:") {
			say("  %s", line)
		}
	}
	if _, err := showPR(h, out, prod.PR); err != nil {
		return err
	}
	for _, r := range h.GitHub.Reactions(cid) {
		say("reaction on alice's comment: %s", r.Content)
	}
	for _, c := range h.GitHub.Comments(GitOpsRepo, pr.Number) {
		if c.ID != cid && c.ID != early && c.User != "bob" {
			body, _, _ := strings.Cut(c.Body, "<!--")
			say("reply by %s: %s", c.User, strings.Join(strings.Fields(body), " "))
		}
	}

	if err := showPolicy(ctx, h, out, step); err != nil {
		return err
	}

	calls := h.GitHub.CallCounts()
	total := 0
	for _, n := range calls {
		total += n
	}
	say("\nGitHub REST calls in this demo: %d (git reads go through a local go-git mirror, not the API)", total)
	if errs := githubtest.CheckCalls(h.GitHub.Calls()); len(errs) > 0 {
		return fmt.Errorf("a request promobot sent is not a documented GitHub operation: %v", errs[0])
	}
	say("Every request promobot sent is a documented operation of GitHub's OpenAPI description.")
	say("\nStatus page (open to everyone on this machine, as with --ui-no-auth): %s", h.StatusURL())
	if stay {
		say("Serving until Ctrl-C.")
		<-parent.Done()
	}
	return nil
}

func showPR(h *Harness, out io.Writer, n int) (githubtest.PR, error) {
	pr, err := h.PR(n)
	if err != nil {
		return pr, err
	}
	fmt.Fprintf(out, "PR #%d %q  (%s -> %s)\n  %s\n  labels: %s\n", pr.Number, pr.Title, pr.Head, pr.Base, pr.HTMLURL, strings.Join(pr.Labels, ", "))
	if len(pr.Reviewers)+len(pr.TeamReviewers) > 0 {
		fmt.Fprintf(out, "  reviewers requested: %s\n", strings.Join(append(append([]string{}, pr.Reviewers...), pr.TeamReviewers...), ", "))
	}
	for _, line := range strings.Split(pr.Body, "\n") {
		if strings.Contains(line, "Change ticket") || strings.HasPrefix(line, "| payment-service") {
			fmt.Fprintf(out, "  %s\n", line)
		}
	}
	return pr, showDiff(h, out, pr.Base, pr.HeadSHA)
}

func showDiff(h *Harness, out io.Writer, base, head string) error {
	d, err := h.GitHub.Diff(GitOpsRepo, base, head)
	if err != nil {
		return err
	}
	for _, line := range strings.Split(strings.TrimRight(d, "\n"), "\n") {
		fmt.Fprintf(out, "    %s\n", line)
	}
	return nil
}

// demoCheck is the health check the demo's staging names (Argo CD
// Notifications' GitHub service posts it on the synced commit).
const demoCheck = "continuous-delivery/payment-service-staging"

// healthRules are the sample rules with staging's health check.
func healthRules() ([]byte, error) {
	b, err := sample.ReadFile("sample/rules.yaml")
	if err != nil {
		return nil, fmt.Errorf("read sample rules: %w", err)
	}
	const at = "    auto: true       # a PR as soon as dev changes\n"
	if !strings.Contains(string(b), at) {
		return nil, fmt.Errorf("sample rules: no staging entry to add health to")
	}
	return []byte(strings.Replace(string(b), at, at+"    health:          # a promotion out of staging waits for Argo CD's report\n"+
		"      checks: ['continuous-delivery/{{.Service}}-staging']\n      timeout: 30m\n", 1)), nil
}

// awaitCommand waits for the next result of a ChatOps command (a waiting
// command's later re-checks may come first) and checks its outcome.
func awaitCommand(h *Harness, next *int, ctx context.Context, want worker.Outcome) (worker.Result, error) {
	for {
		r, err := h.Await(ctx, *next)
		*next++
		if err != nil {
			return r, err
		}
		if !r.Intent.Command() || r.Outcome == worker.Delayed {
			continue
		}
		if r.Outcome != want {
			return r, fmt.Errorf("intent %s: want %s, got %s (%s)", r.Intent.ID, want, r.Outcome, r.Reason)
		}
		return r, nil
	}
}

func mustPR(h *Harness, n int) githubtest.PR {
	pr, _ := h.PR(n)
	return pr
}
