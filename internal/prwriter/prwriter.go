// Package prwriter applies a plan to GitHub idempotently: one commit made
// through the Git Data API on the plan's branch (or directly on the base
// branch), one pull request per target that later promotions update, the
// environment's reviewers and labels, and the statuses people see.
//
// Every failure leaves here with its fate decided (see package fate): the
// writer is where a GitHub answer is first understood.
package prwriter

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/planner"
)

// Result is what was done.
type Result struct {
	CommitSHA string
	Number    int
	URL       string
	Created   bool // a new PR was opened
	// Unrequested names the reviewers of the rules GitHub would not ask
	// for a review (as the rules name them: "alice", "acme/leads"); the
	// PR's reviewer note says why. Not a failure: the PR is open.
	Unrequested []string
}

// PRRecord is what the writer remembers per target, so that an update
// needs no search call.
type PRRecord struct {
	Number int    `json:"number"`
	Branch string `json:"branch"`
	// Unrequested are the reviewers GitHub refused on this PR; later
	// promotions ask for them again and keep the PR's note current.
	Unrequested []string `json:"unrequested,omitempty"`
}

// StateStore remembers the PR of each target key.
type StateStore interface {
	GetPR(ctx context.Context, key string) (PRRecord, bool, error)
	PutPR(ctx context.Context, key string, r PRRecord) error
}

// ErrBaseMoved means a direct commit lost a race with another push to the
// base branch; re-planning on the new head fixes it. It is marked to retry
// at once.
var ErrBaseMoved = errors.New("base branch moved")

// Writer applies plans. It is safe for concurrent use on different targets;
// the caller's lease keeps one target to one writer at a time.
type Writer struct {
	State StateStore
}

// Apply writes p. Re-applying the same plan after a crash at any point
// finds what was already made and finishes the job.
func (w *Writer) Apply(ctx context.Context, gh GitHub, p *planner.Plan) (Result, error) {
	if p == nil {
		return Result{}, fate.Terminalf("no plan to apply")
	}
	if _, _, err := split(p.Target.Repo); err != nil {
		return Result{}, fate.MarkTerminal(err)
	}
	if p.Direct {
		sha, _, err := makeCommit(ctx, gh, p)
		if err != nil {
			return Result{}, err
		}
		if err := updateBase(ctx, gh, p, sha); err != nil {
			return Result{}, err
		}
		return Result{CommitSHA: sha}, nil
	}

	var res Result
	if !p.BranchCurrent {
		sha, tree, err := makeCommit(ctx, gh, p)
		if err != nil {
			return Result{}, err
		}
		if sha, err = setBranch(ctx, gh, p, sha, tree); err != nil {
			return Result{}, err
		}
		res.CommitSHA = sha
	}
	pr, created, unrequested, err := w.ensurePR(ctx, gh, p)
	if err != nil {
		return Result{}, err
	}
	res.Number, res.URL, res.Created, res.Unrequested = pr.Number, pr.URL, created, unrequested
	return res, nil
}

// makeCommit makes one commit with every edit on top of BaseSHA: a tree
// with inline contents (no blob calls for text) and a commit. It returns
// the commit and its tree.
func makeCommit(ctx context.Context, gh GitHub, p *planner.Plan) (sha, tree string, err error) {
	if p.BaseTree == "" {
		// Without a base tree GitHub would make a tree of the edited files
		// alone: a commit deleting everything else.
		return "", "", fate.Terminalf("plan for %s has no base tree", p.Target)
	}
	repo := p.Target.Repo
	entries := make([]TreeEntry, 0, len(p.Edits))
	for _, e := range p.Edits {
		// The file keeps the mode it has on the base (an executable stays
		// one); a plan that does not know it writes a regular file.
		mode := e.Mode
		if mode == "" {
			mode = ModeFile
		}
		if mode != ModeFile && mode != ModeExecutable {
			return "", "", fate.Terminalf("%s has git mode %s: promobot writes only regular files", e.Path, mode)
		}
		if utf8.Valid(e.New) {
			entries = append(entries, TreeEntry{Path: e.Path, Content: string(e.New), Mode: mode})
			continue
		}
		// Inline tree content must be UTF-8 text; anything else goes as a blob.
		sha, err := gh.CreateBlob(ctx, repo, e.New)
		if err != nil {
			return "", "", fmt.Errorf("create blob %s: %w", e.Path, ghretry.Fate(err, time.Now()))
		}
		entries = append(entries, TreeEntry{Path: e.Path, SHA: sha, Mode: mode})
	}
	tree, err = gh.CreateTree(ctx, repo, p.BaseTree, entries)
	if err != nil {
		return "", "", fmt.Errorf("create tree: %w", ghretry.Fate(err, time.Now()))
	}
	sha, err = gh.CreateCommit(ctx, repo, p.CommitMessage, tree, p.BaseSHA)
	if err != nil {
		return "", "", fmt.Errorf("create commit: %w", ghretry.Fate(err, time.Now()))
	}
	return sha, tree, nil
}

// updateBase fast-forwards the base branch to sha, the direct commit.
func updateBase(ctx context.Context, gh GitHub, p *planner.Plan, sha string) error {
	err := gh.UpdateRef(ctx, p.Target.Repo, p.BaseBranch, sha, false)
	if err == nil {
		return nil
	}
	if !ghretry.IsStatus(err, http.StatusUnprocessableEntity) {
		return fmt.Errorf("update %s: %w", p.BaseBranch, ghretry.Fate(err, time.Now()))
	}
	// Either someone pushed meanwhile (re-plan on the new head) or the
	// branch refuses direct pushes (protected): only the first can succeed
	// on a retry.
	head, rerr := gh.GetRef(ctx, p.Target.Repo, p.BaseBranch)
	if rerr != nil {
		return fmt.Errorf("read %s after a refused update: %w", p.BaseBranch, ghretry.Fate(rerr, time.Now()))
	}
	if head != p.BaseSHA {
		return fate.MarkRetryAt(fmt.Errorf("update %s: %w", p.BaseBranch, ErrBaseMoved), time.Time{})
	}
	return fate.MarkTerminal(fmt.Errorf("update %s (protected? use direct: false): %w", p.BaseBranch, err))
}

// setBranch points the promotion branch at sha (a commit of tree on the
// base), creating the branch when needed, and returns the commit the branch
// now points at. The branch is promobot's own: it is rebuilt on the base
// each time, so the update is forced.
//
// Many organisations forbid force pushes with a ruleset on every branch
// ("Block force pushes"), or protect branches the classic way. When GitHub
// refuses the forced update for that reason, the branch gets a commit on
// top of its head instead: the same tree, the branch head as first parent
// (a fast-forward, which such rules allow) and the base as second parent.
// The second parent keeps the PR honest: GitHub diffs a PR against the
// merge base of its head and base, and with the base as a parent that is
// this plan's base, so the PR shows exactly this plan's edits and merging
// it cannot bring back anything the base has since dropped. Deleting and
// re-creating the branch is not an option: deleting a PR's head branch
// closes the PR, and the same rulesets usually restrict deletions too.
func setBranch(ctx context.Context, gh GitHub, p *planner.Plan, sha, tree string) (string, error) {
	if !p.BranchExists {
		err := gh.CreateRef(ctx, p.Target.Repo, p.Branch, sha)
		if err == nil {
			return sha, nil
		}
		if !ghretry.IsStatus(err, http.StatusUnprocessableEntity) {
			return "", fmt.Errorf("create branch %s: %w", p.Branch, ghretry.Fate(err, time.Now()))
		}
		// Created since the plan was made (a crashed earlier attempt): update it.
	}
	err := gh.UpdateRef(ctx, p.Target.Repo, p.Branch, sha, true)
	switch {
	case err == nil:
		return sha, nil
	case !forceRefused(err):
		return "", fmt.Errorf("update branch %s: %w", p.Branch, ghretry.Fate(err, time.Now()))
	}
	return commitOnTop(ctx, gh, p, tree, err)
}

// forceRefused reports whether err is GitHub refusing a forced update
// because force pushes are forbidden on the branch. GitHub words it
// "Cannot force-push to this branch" (a protection rule), the same after
// "Repository rule violations found" (a ruleset), or "Cannot force-push to
// a protected branch" (older answers).
func forceRefused(err error) bool {
	if !ghretry.IsStatus(err, http.StatusUnprocessableEntity) {
		return false
	}
	m := strings.ToLower(githubMessage(err))
	return strings.Contains(m, "force-push") || strings.Contains(m, "force push")
}

// githubMessage is what GitHub said in an error answer: its message and
// the messages of its errors list.
func githubMessage(err error) string {
	var er *github.ErrorResponse
	if !errors.As(err, &er) {
		return ""
	}
	msg := er.Message
	for _, e := range er.Errors {
		if e.Message != "" {
			msg += " " + e.Message
		}
	}
	return strings.TrimSpace(msg)
}

// commitOnTop moves the branch forward to a commit of tree whose parents
// are the branch head and the base (see setBranch). refused is GitHub's
// refusal of the forced update, for the error should this fail too.
func commitOnTop(ctx context.Context, gh GitHub, p *planner.Plan, tree string, refused error) (string, error) {
	repo := p.Target.Repo
	head, err := gh.GetRef(ctx, repo, p.Branch)
	if err != nil {
		return "", fmt.Errorf("read branch %s after a refused forced update: %w", p.Branch, ghretry.Fate(err, time.Now()))
	}
	parents := []string{head}
	if head != p.BaseSHA {
		parents = append(parents, p.BaseSHA)
	}
	sha, err := gh.CreateCommit(ctx, repo, p.CommitMessage, tree, parents...)
	if err != nil {
		return "", fmt.Errorf("create commit on %s: %w", p.Branch, ghretry.Fate(err, time.Now()))
	}
	err = gh.UpdateRef(ctx, repo, p.Branch, sha, false)
	switch {
	case err == nil:
		return sha, nil
	case ghretry.IsStatus(err, http.StatusUnprocessableEntity) && strings.Contains(strings.ToLower(githubMessage(err)), "fast forward"):
		// Someone pushed to the branch since it was read: read it again.
		return "", fate.MarkRetryAt(fmt.Errorf("update branch %s: it moved while promobot updated it: %w", p.Branch, err), time.Time{})
	}
	return "", fmt.Errorf("update branch %s (force pushes are forbidden, and so was a commit on top: %s): %w",
		p.Branch, githubMessage(refused), ghretry.Fate(err, time.Now()))
}

// ensurePR updates the target's open PR or opens one. It returns the PR,
// whether it opened it, and the reviewers GitHub refused on it.
func (w *Writer) ensurePR(ctx context.Context, gh GitHub, p *planner.Plan) (PR, bool, []string, error) {
	repo, key := p.Target.Repo, p.Target.String()
	rec, ok, err := w.State.GetPR(ctx, key)
	if err != nil {
		return PR{}, false, nil, fmt.Errorf("read pr state: %w", err)
	}
	if ok && rec.Branch == p.Branch && p.BranchExists && !p.BranchStale {
		pr, err := gh.EditPull(ctx, repo, rec.Number, p.Title, p.Body)
		switch {
		case err == nil && pr.State == "open":
			if len(rec.Unrequested) == 0 {
				return pr, false, nil, nil
			}
			unrequested, err := w.askAgain(ctx, gh, p, key, rec)
			return pr, false, unrequested, err
		case err != nil && !ghretry.IsStatus(err, http.StatusNotFound):
			return PR{}, false, nil, fmt.Errorf("update pull request #%d: %w", rec.Number, ghretry.Fate(err, time.Now()))
		}
		// Closed or gone since: open a new one below.
	}
	pr, err := gh.CreatePull(ctx, repo, NewPull{Title: p.Title, Body: p.Body, Head: p.Branch, Base: p.BaseBranch})
	created := err == nil
	if ghretry.IsStatus(err, http.StatusUnprocessableEntity) {
		// An open PR exists for the branch that the state does not know
		// (a crash before PutPR): find it and update it.
		pr, err = findOpen(ctx, gh, p, err)
	} else if err != nil {
		err = fmt.Errorf("open pull request: %w", ghretry.Fate(err, time.Now()))
	}
	if err != nil {
		return PR{}, false, nil, err
	}
	// Reviewers and labels on a new PR, and again on a found one in case a
	// crash came between opening it and decorating it (both are idempotent).
	// The PR is remembered only once it is decorated: until then a retry
	// takes this path again instead of the update path.
	unrequested, err := decorate(ctx, gh, p, pr.Number)
	if err != nil {
		return PR{}, false, nil, err
	}
	if err := w.State.PutPR(ctx, key, PRRecord{Number: pr.Number, Branch: p.Branch, Unrequested: unrequested}); err != nil {
		return PR{}, false, nil, fmt.Errorf("save pr state: %w", err)
	}
	return pr, created, unrequested, nil
}

// findOpen finds the open PR that made GitHub refuse a new one (refused)
// and updates it.
func findOpen(ctx context.Context, gh GitHub, p *planner.Plan, refused error) (PR, error) {
	prs, err := gh.ListOpenPulls(ctx, p.Target.Repo, p.Branch, p.BaseBranch)
	if err != nil {
		return PR{}, fmt.Errorf("find pull request for %s: %w", p.Branch, ghretry.Fate(err, time.Now()))
	}
	if len(prs) == 0 {
		// GitHub refused the PR for another reason (no difference to the
		// base, say): its answer is what a person needs to read.
		return PR{}, fmt.Errorf("open pull request for %s: %w", p.Branch, ghretry.Fate(refused, time.Now()))
	}
	pr, err := gh.EditPull(ctx, p.Target.Repo, prs[0].Number, p.Title, p.Body)
	if err != nil {
		return PR{}, fmt.Errorf("update pull request #%d: %w", prs[0].Number, ghretry.Fate(err, time.Now()))
	}
	return pr, nil
}

// decorate asks the environment's reviewers for a review, labels the PR
// and, when GitHub refused some reviewers, says so on the PR. A reviewer
// GitHub refuses does not stop the PR: it returns who was refused.
func decorate(ctx context.Context, gh GitHub, p *planner.Plan, number int) ([]string, error) {
	refused, err := requestReviewers(ctx, gh, p, number, p.Reviewers)
	if err != nil {
		return nil, err
	}
	if len(p.Labels) > 0 {
		if err := gh.AddLabels(ctx, p.Target.Repo, number, p.Labels); err != nil {
			return nil, fmt.Errorf("label #%d: %w", number, ghretry.Fate(err, time.Now()))
		}
	}
	if len(refused) > 0 {
		if err := writeNote(ctx, gh, p, number, refused, true); err != nil {
			return nil, err
		}
	}
	return names(refused), nil
}
