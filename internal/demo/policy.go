package demo

import (
	"context"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/promobot/promobot/internal/worker"
)

func (h *Harness) observePolicy(r worker.Result) {
	h.mu.Lock()
	h.policy = append(h.policy, r)
	h.mu.Unlock()
	select {
	case h.policyNotify <- struct{}{}:
	default:
	}
}

// PolicyResults returns every policy check result so far, in order.
func (h *Harness) PolicyResults() []worker.Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]worker.Result(nil), h.policy...)
}

// AwaitPolicy waits until the n-th policy check result (counting from 0)
// exists and returns it. Policy results are counted apart from Await's.
func (h *Harness) AwaitPolicy(ctx context.Context, n int) (worker.Result, error) {
	for {
		h.mu.Lock()
		if len(h.policy) > n {
			r := h.policy[n]
			h.mu.Unlock()
			return r, nil
		}
		h.mu.Unlock()
		select {
		case <-h.policyNotify:
		case <-ctx.Done():
			return worker.Result{}, fmt.Errorf("waiting for policy result #%d (have %d): %w", n+1, len(h.PolicyResults()), ctx.Err())
		}
	}
}

// showPolicy is the demo's last step: a hand-written PR that puts a tag
// staging never ran into prod gets a failed promobot/policy check with an
// annotation on the tag line.
func showPolicy(ctx context.Context, h *Harness, out io.Writer, step func(int, string)) error {
	step(6, "mallory opens a hand-written PR that puts a never-staged tag into prod")
	cur, err := h.GitHub.File(GitOpsRepo, "main", OverlayPath("prod"))
	if err != nil {
		return err
	}
	edited := newTagRe.ReplaceAllString(string(cur), "${1}sha-badc0de")
	head, err := h.GitHub.Commit(GitOpsRepo, "hotfix", map[string]*string{OverlayPath("prod"): &edited}, "hotfix: prod on sha-badc0de")
	if err != nil {
		return err
	}
	n, err := h.GitHub.OpenPullRequest(GitOpsRepo, "hotfix", "main", "Hotfix prod PAY-9", "Straight to prod.", "mallory")
	if err != nil {
		return err
	}
	for i := 0; ; i++ {
		r, err := h.AwaitPolicy(ctx, i)
		if err != nil {
			return err
		}
		if r.Intent.Source.Issue == n {
			break
		}
	}
	for _, run := range h.GitHub.CheckRuns(GitOpsRepo, head) {
		if run.Name != "promobot/policy" {
			continue
		}
		fmt.Fprintf(out, "PR #%d check run promobot/policy: %s — %s\n", n, run.Conclusion, run.Title)
		for _, line := range strings.Split(run.Summary, "\n") {
			if strings.HasPrefix(line, "- ") {
				fmt.Fprintf(out, "  %s\n", line)
			}
		}
		for _, a := range run.Annotations {
			fmt.Fprintf(out, "  annotation %s:%d: %s\n", a.Path, a.StartLine, a.Message)
		}
	}
	fmt.Fprintln(out, "Make promobot/policy a required check and this PR cannot merge, whoever wrote it.")
	return nil
}

var newTagRe = regexp.MustCompile(`(?m)^(\s*newTag:\s*)\S+`)
