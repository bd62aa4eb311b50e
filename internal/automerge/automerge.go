// Package automerge finishes the pull requests of autoMerge environments.
// Where the repository allows it, GitHub's own auto-merge is enabled on
// the PR (GitHub then merges when every requirement passes); a PR GitHub
// already finds mergeable is merged at once. Where auto-merge is not
// allowed, promobot merges the PR itself when an event shows it mergeable
// with every required check green, and never through a failing or pending
// check: GitHub's mergeable_state "clean" says exactly that. A merge
// GitHub refuses is told once on the PR, in one marked comment, and never
// retried in a loop.
package automerge

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/ghretry"
)

// Settings are the repository's merge settings.
type Settings struct {
	AllowAutoMerge bool
	// Methods are the merge methods the repository allows, in GitHub's
	// order: merge, squash, rebase.
	Methods []string
}

// Pull is what auto-merge reads of a pull request.
type Pull struct {
	Number  int
	NodeID  string // the GraphQL id
	State   string // open or closed
	Merged  bool
	HeadSHA string
	// Mergeable is nil while GitHub computes it (the first read after a
	// change): look again when the next event comes.
	Mergeable      *bool
	MergeableState string // clean, blocked, unstable, behind, dirty, draft, has_hooks, unknown
	// AutoMerge is true when GitHub's auto-merge is already enabled.
	AutoMerge bool
	// Who wrote it and from where: only promobot's own PRs are merged.
	Body     string
	UserType string // "Bot" for an App
	HeadRef  string
	HeadRepo string // owner/name
}

// Comment is a comment on a pull request.
type Comment struct {
	ID   int64
	Body string
}

// GitHub is every call auto-merge makes. repo is owner/name.
type GitHub interface {
	// Settings reads allow_auto_merge and the allowed merge methods.
	Settings(ctx context.Context, repo string) (Settings, error)
	// Pull reads a pull request with its mergeability.
	Pull(ctx context.Context, repo string, number int) (Pull, error)
	// EnableAutoMerge enables GitHub's auto-merge on the pull request
	// (GraphQL enablePullRequestAutoMerge). GitHub answers with an
	// *APIError when it refuses (a PR in clean status among others).
	EnableAutoMerge(ctx context.Context, pullID, method string) error
	// Merge merges the pull request if its head is still headSHA.
	Merge(ctx context.Context, repo string, number int, headSHA, method string) error
	// ListComments lists the PR's comments, oldest first.
	ListComments(ctx context.Context, repo string, number int) ([]Comment, error)
	// CreateComment comments on the PR.
	CreateComment(ctx context.Context, repo string, number int, body string) error
}

// APIError is a refusal GitHub's GraphQL API answered with (HTTP 200 and
// an errors list).
type APIError struct{ Message string }

func (e *APIError) Error() string { return "github graphql: " + e.Message }

// Outcome says what Finish did.
type Outcome string

// The outcomes.
const (
	Merged     Outcome = "merged"      // merged now
	Enabled    Outcome = "enabled"     // GitHub's auto-merge merges it when checks pass
	Waiting    Outcome = "waiting"     // not mergeable yet; an event looks again
	Refused    Outcome = "refused"     // GitHub will not merge it; people were told once
	NotPending Outcome = "not pending" // closed, merged or already on auto-merge
)

// Result is one Finish.
type Result struct {
	Outcome Outcome
	Method  string
	Reason  string
}

// NoteMarker starts promobot's one comment about a merge it could not do.
const NoteMarker = "<!-- promobot:automerge -->"

// Finish does what can be done now for an autoMerge PR: enable GitHub's
// auto-merge when native is true and the repository allows it, merge a PR
// that is mergeable now, or wait for the next event. method is the
// rules' mergeMethod ("" for the repository's first allowed method).
// Events (check suites, statuses, reviews) call it with native false:
// GitHub's auto-merge, once enabled, needs nobody.
func Finish(ctx context.Context, gh GitHub, repo string, number int, method string, native bool) (Result, error) {
	s, err := gh.Settings(ctx, repo)
	if err != nil {
		return Result{}, fmt.Errorf("read merge settings of %s: %w", repo, ghretry.Fate(err, time.Now()))
	}
	pr, err := gh.Pull(ctx, repo, number)
	if err != nil {
		return Result{}, fmt.Errorf("get pull request #%d: %w", number, ghretry.Fate(err, time.Now()))
	}
	if pr.Merged || pr.State != "open" {
		return Result{Outcome: NotPending, Reason: "the pull request is not open"}, nil
	}
	m, ok := chooseMethod(method, s.Methods)
	if !ok {
		return refuse(ctx, gh, repo, pr, fmt.Sprintf("the repository does not allow the %q merge method (allowed: %s)", method, strings.Join(s.Methods, ", ")))
	}
	if s.AllowAutoMerge {
		if pr.AutoMerge {
			return Result{Outcome: NotPending, Method: m, Reason: "GitHub's auto-merge is enabled"}, nil
		}
		if !native {
			// Enabled when the PR was written; an event on a PR whose
			// auto-merge people turned off leaves it to them.
			return Result{Outcome: Waiting, Method: m, Reason: "auto-merge was turned off on the pull request"}, nil
		}
		err := gh.EnableAutoMerge(ctx, pr.NodeID, m)
		var api *APIError
		switch {
		case err == nil:
			return Result{Outcome: Enabled, Method: m, Reason: "GitHub merges it when its required checks pass"}, nil
		case errors.As(err, &api) && strings.Contains(api.Message, "clean status"):
			// Already mergeable: GitHub will not wait for anything.
			return merge(ctx, gh, repo, pr, m)
		case errors.As(err, &api):
			return refuse(ctx, gh, repo, pr, "GitHub would not enable auto-merge: "+api.Message)
		default:
			return Result{}, fmt.Errorf("enable auto-merge on #%d: %w", number, err)
		}
	}
	switch {
	case pr.Mergeable == nil:
		return Result{Outcome: Waiting, Method: m, Reason: "GitHub is still computing mergeability"}, nil
	case pr.MergeableState == "dirty":
		return refuse(ctx, gh, repo, pr, "the pull request conflicts with the base branch")
	case *pr.Mergeable && (pr.MergeableState == "clean" || pr.MergeableState == "has_hooks"):
		return merge(ctx, gh, repo, pr, m)
	}
	return Result{Outcome: Waiting, Method: m, Reason: "waiting for checks and reviews (" + pr.MergeableState + ")"}, nil
}

// Failed tells, once, that a required check failed on the PR: promobot
// will not merge it until the check passes.
func Failed(ctx context.Context, gh GitHub, repo string, number int, check, url string) (Result, error) {
	pr, err := gh.Pull(ctx, repo, number)
	if err != nil {
		return Result{}, fmt.Errorf("get pull request #%d: %w", number, ghretry.Fate(err, time.Now()))
	}
	switch {
	case pr.Merged || pr.State != "open":
		return Result{Outcome: NotPending, Reason: "the pull request is not open"}, nil
	case pr.AutoMerge:
		// GitHub's auto-merge decides: it waits for required checks only.
		return Result{Outcome: NotPending, Reason: "GitHub's auto-merge is enabled"}, nil
	}
	why := fmt.Sprintf("check %q failed", check)
	if url != "" {
		why = fmt.Sprintf("check [%s](%s) failed", check, url)
	}
	return refuse(ctx, gh, repo, pr, why)
}

func merge(ctx context.Context, gh GitHub, repo string, pr Pull, method string) (Result, error) {
	err := gh.Merge(ctx, repo, pr.Number, pr.HeadSHA, method)
	switch {
	case err == nil:
		return Result{Outcome: Merged, Method: method, Reason: fmt.Sprintf("merged #%d (%s)", pr.Number, method)}, nil
	case ghretry.IsStatus(err, http.StatusConflict):
		// The head moved since it was read: the push that moved it
		// brings its own events.
		return Result{Outcome: Waiting, Method: method, Reason: "the head moved; waiting for its checks"}, nil
	case ghretry.IsStatus(err, http.StatusMethodNotAllowed), ghretry.IsStatus(err, http.StatusUnprocessableEntity):
		return refuse(ctx, gh, repo, pr, "GitHub refused the merge: "+errMessage(err))
	}
	return Result{}, fmt.Errorf("merge #%d: %w", pr.Number, ghretry.Fate(err, time.Now()))
}

// refuse tells people once why the PR is not merged: one marked comment,
// edited never, posted again never (a later, different reason waits for
// the PR's next head).
func refuse(ctx context.Context, gh GitHub, repo string, pr Pull, why string) (Result, error) {
	res := Result{Outcome: Refused, Reason: why}
	cs, err := gh.ListComments(ctx, repo, pr.Number)
	if err != nil {
		return Result{}, fmt.Errorf("list comments of #%d: %w", pr.Number, ghretry.Fate(err, time.Now()))
	}
	mark := noteMark(pr.HeadSHA)
	for _, c := range cs {
		if strings.HasPrefix(c.Body, mark) {
			return res, nil
		}
	}
	body := mark + "\n⛔ promobot did not merge this pull request: " + strings.TrimRight(oneLine(why), ". ") +
		".\n\nIt is merged when the cause is fixed and the checks pass on a new commit, or merge it yourself."
	if err := gh.CreateComment(ctx, repo, pr.Number, body); err != nil {
		return Result{}, fmt.Errorf("comment on #%d: %w", pr.Number, ghretry.Fate(err, time.Now()))
	}
	return res, nil
}

// noteMark is the marker of the note about one head commit: a new head
// (a new promotion on the branch) may be told again.
func noteMark(head string) string {
	if len(head) > 12 {
		head = head[:12]
	}
	return strings.TrimSuffix(NoteMarker, " -->") + ":" + head + " -->"
}

var oneLine = strings.NewReplacer("\r", " ", "\n", " ", "<", "&lt;").Replace

// errMessage is GitHub's own message of a refusal, without the request.
func errMessage(err error) string {
	msg := err.Error()
	var er *github.ErrorResponse
	if errors.As(err, &er) && er.Message != "" {
		msg = er.Message
	}
	if len(msg) > 300 {
		msg = msg[:300]
	}
	return msg
}

// chooseMethod returns the rules' method when the repository allows it,
// or the first allowed one when the rules name none.
func chooseMethod(want string, allowed []string) (string, bool) {
	if want == "" {
		if len(allowed) == 0 {
			return "merge", true // GitHub's default when settings say nothing
		}
		return allowed[0], true
	}
	for _, a := range allowed {
		if a == want {
			return want, true
		}
	}
	return "", false
}

// Merger is Finish and Failed as methods, for consumers that declare them
// as an interface.
type Merger struct{}

// Finish calls Finish.
func (Merger) Finish(ctx context.Context, gh GitHub, repo string, number int, method string, native bool) (Result, error) {
	return Finish(ctx, gh, repo, number, method, native)
}

// Failed calls Failed.
func (Merger) Failed(ctx context.Context, gh GitHub, repo string, number int, check, url string) (Result, error) {
	return Failed(ctx, gh, repo, number, check, url)
}
