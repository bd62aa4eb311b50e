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

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/planner"
)

// Result is what was done.
type Result struct {
	CommitSHA string
	Number    int
	URL       string
	Created   bool  // a new PR was opened
	Merged    bool  // auto-merged
	MergeErr  error // why an auto-merge did not happen, when GitHub said no
}

// PRRecord is what the writer remembers per target, so that an update
// needs no search call.
type PRRecord struct {
	Number int    `json:"number"`
	Branch string `json:"branch"`
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
		sha, err := commit(ctx, gh, p)
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
		sha, err := commit(ctx, gh, p)
		if err != nil {
			return Result{}, err
		}
		if err := setBranch(ctx, gh, p, sha); err != nil {
			return Result{}, err
		}
		res.CommitSHA = sha
	}
	pr, created, err := w.ensurePR(ctx, gh, p)
	if err != nil {
		return Result{}, err
	}
	res.Number, res.URL, res.Created = pr.Number, pr.URL, created
	if p.AutoMerge {
		// The PR exists whatever happens here: a merge GitHub refuses (checks
		// pending, not mergeable yet) leaves it for people to merge, and is
		// not a failed promotion.
		res.Merged, res.MergeErr = tryMerge(ctx, gh, p.Target.Repo, pr.Number)
	}
	return res, nil
}

// commit makes one commit with every edit on top of BaseSHA: a tree with
// inline contents (no blob calls for text) and a commit.
func commit(ctx context.Context, gh GitHub, p *planner.Plan) (string, error) {
	if p.BaseTree == "" {
		// Without a base tree GitHub would make a tree of the edited files
		// alone: a commit deleting everything else.
		return "", fate.Terminalf("plan for %s has no base tree", p.Target)
	}
	repo := p.Target.Repo
	entries := make([]TreeEntry, 0, len(p.Edits))
	for _, e := range p.Edits {
		if utf8.Valid(e.New) {
			entries = append(entries, TreeEntry{Path: e.Path, Content: string(e.New)})
			continue
		}
		// Inline tree content must be UTF-8 text; anything else goes as a blob.
		sha, err := gh.CreateBlob(ctx, repo, e.New)
		if err != nil {
			return "", fmt.Errorf("create blob %s: %w", e.Path, ghretry.Fate(err, time.Now()))
		}
		entries = append(entries, TreeEntry{Path: e.Path, SHA: sha})
	}
	tree, err := gh.CreateTree(ctx, repo, p.BaseTree, entries)
	if err != nil {
		return "", fmt.Errorf("create tree: %w", ghretry.Fate(err, time.Now()))
	}
	sha, err := gh.CreateCommit(ctx, repo, p.CommitMessage, tree, p.BaseSHA)
	if err != nil {
		return "", fmt.Errorf("create commit: %w", ghretry.Fate(err, time.Now()))
	}
	return sha, nil
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

// setBranch points the promotion branch at sha, creating it when needed.
// The branch is promobot's own: it is rebuilt on the base each time, so the
// update is forced.
func setBranch(ctx context.Context, gh GitHub, p *planner.Plan, sha string) error {
	if !p.BranchExists {
		err := gh.CreateRef(ctx, p.Target.Repo, p.Branch, sha)
		if err == nil {
			return nil
		}
		if !ghretry.IsStatus(err, http.StatusUnprocessableEntity) {
			return fmt.Errorf("create branch %s: %w", p.Branch, ghretry.Fate(err, time.Now()))
		}
		// Created since the plan was made (a crashed earlier attempt): update it.
	}
	if err := gh.UpdateRef(ctx, p.Target.Repo, p.Branch, sha, true); err != nil {
		return fmt.Errorf("update branch %s: %w", p.Branch, ghretry.Fate(err, time.Now()))
	}
	return nil
}

// ensurePR updates the target's open PR or opens one.
func (w *Writer) ensurePR(ctx context.Context, gh GitHub, p *planner.Plan) (PR, bool, error) {
	repo, key := p.Target.Repo, p.Target.String()
	rec, ok, err := w.State.GetPR(ctx, key)
	if err != nil {
		return PR{}, false, fmt.Errorf("read pr state: %w", err)
	}
	if ok && rec.Branch == p.Branch && p.BranchExists && !p.BranchStale {
		pr, err := gh.EditPull(ctx, repo, rec.Number, p.Title, p.Body)
		switch {
		case err == nil && pr.State == "open":
			return pr, false, nil
		case err != nil && !ghretry.IsStatus(err, http.StatusNotFound):
			return PR{}, false, fmt.Errorf("update pull request #%d: %w", rec.Number, ghretry.Fate(err, time.Now()))
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
		return PR{}, false, err
	}
	// Reviewers and labels on a new PR, and again on a found one in case a
	// crash came between opening it and decorating it (both are idempotent).
	// The PR is remembered only once it is decorated: until then a retry
	// takes this path again instead of the update path.
	if err := decorate(ctx, gh, p, pr.Number); err != nil {
		return PR{}, false, err
	}
	if err := w.State.PutPR(ctx, key, PRRecord{Number: pr.Number, Branch: p.Branch}); err != nil {
		return PR{}, false, fmt.Errorf("save pr state: %w", err)
	}
	return pr, created, nil
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

// decorate asks the environment's reviewers for a review and labels the PR.
func decorate(ctx context.Context, gh GitHub, p *planner.Plan, number int) error {
	if len(p.Reviewers.Users)+len(p.Reviewers.Teams) > 0 {
		// The rules name teams as org/slug; GitHub wants the slug, the
		// organization being the repository's.
		var teams []string
		for _, t := range p.Reviewers.Teams {
			_, slug, _ := strings.Cut(t, "/")
			teams = append(teams, slug)
		}
		if err := gh.RequestReviewers(ctx, p.Target.Repo, number, p.Reviewers.Users, teams); err != nil {
			return fmt.Errorf("request reviewers on #%d: %w", number, ghretry.Fate(err, time.Now()))
		}
	}
	if len(p.Labels) > 0 {
		if err := gh.AddLabels(ctx, p.Target.Repo, number, p.Labels); err != nil {
			return fmt.Errorf("label #%d: %w", number, ghretry.Fate(err, time.Now()))
		}
	}
	return nil
}

// tryMerge merges when GitHub reports the PR mergeable with checks passing;
// otherwise it leaves the PR for people (or a later promotion) to merge.
func tryMerge(ctx context.Context, gh GitHub, repo string, number int) (bool, error) {
	pr, err := gh.GetPull(ctx, repo, number)
	if err != nil {
		return false, fmt.Errorf("get pull request #%d: %w", number, ghretry.Fate(err, time.Now()))
	}
	if !pr.Mergeable || pr.MergeableState != "clean" {
		return false, nil
	}
	if err := gh.MergePull(ctx, repo, number, pr.HeadSHA); err != nil {
		return false, fmt.Errorf("merge pull request #%d: %w", number, ghretry.Fate(err, time.Now()))
	}
	return true, nil
}
