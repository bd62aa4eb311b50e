package checkout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/rules"
)

const (
	// DefaultFresh is Source.Fresh's default.
	DefaultFresh = 2 * time.Second
	// DefaultMaxAge is Source.MaxAge's default.
	DefaultMaxAge = time.Minute
)

// reuse returns the tree of the mirror without a fetch, or with only the
// fetch that is shared within the freshness bound, when the intent is a
// no-op on it (ok). !ok: the caller fetches and reads afresh.
//
// No-op intents cost no network (issue #10). Most intents of a webhook
// storm end in "skip": the target already runs the tag. Fetching the mirror
// for each of them is what made a storm crawl, so Read first decides the
// intent on the mirror as it is and fetches only when that cannot be
// trusted:
//
//  1. The mirror must be at least as new as what caused the intent. An
//     intent that names a commit of the GitOps repository (a push to it:
//     Source.Repo is the intent's Repo and Source.SHA its "after") needs
//     the mirror's base branch to be that commit or a descendant
//     (View.Reaches); the head cannot be older than the push then. Any
//     other intent (a build of a source repository, whose Source.SHA is
//     that repository's commit) names no GitOps commit and takes a fetch
//     that started at most Fresh ago. Both also need a fetch no older than
//     their bound (Fresh; MaxAge for a commit), and none older than
//     promobot's own last write to the repository in this process
//     (marksStale, gitmirror.MarkStale). When that is not so, FetchSince
//     fetches — once for every intent that asks within the same interval.
//  2. The decision must be a skip. The planner runs on the unfetched view
//     (with the rules and clock the worker's planner will use); a plan, a
//     refusal or an error means that the decision may act or tell someone,
//     so Read fetches (a fetch that started after Read was called, i.e.
//     after the target's lease was taken: it shows what the previous
//     holder pushed) and the worker decides on that. A write therefore
//     always decides on fresh state: the base, and the promotion branch
//     whose content the plan compares (BranchCurrent, Supersedes).
//
// Why a skip on the unfetched view is safe: the base it read is at least
// as new as the intent's cause (the push), or at most Fresh old when the
// cause is outside the GitOps repository, and the target already runs what
// the intent asks for there. That is the decision the intent would get if it
// had run at that moment; it writes nothing, and every later change to
// the base branch is itself a push that GitHub delivers. The worker
// decides again on the very view returned (one gitmirror.View, so the base
// and the branches it reads cannot move in between), so it skips too, or
// at worst refuses on a gate that closed in between (and is retried). What
// the view can miss is a write to the base (a direct commit, an
// auto-merge) or to a group branch by the previous holder of the lease in
// another process within the last Fresh (MaxAge for a push intent):
// writes of this process are never missed (MarkStale), and AlwaysFetch
// turns the whole check off.
//
// Commands (ChatOps) always fetch: their Read serves several services and
// the authorisation, and people are waiting for what they asked for.
// So do promotions asked for in a comment (Event issue_comment), however
// they were queued. Policy checks always fetch too: they judge a PR
// against the base branch as it is, and their Source.SHA is the PR's
// head, not a base commit.
func (s *Source) reuse(ctx context.Context, rs *rules.Rules, in intent.Intent, cloneURL string, creds gitmirror.Credentials, branch string, asked time.Time, inst *ghapp.Installation) (Tree, bool, error) {
	if in.Command() || in.Kind == intent.KindReply || in.Kind == intent.KindPolicy || in.Kind == intent.KindConfig || in.Event == "issue_comment" {
		return Tree{}, false, nil
	}
	commit := gitopsCommit(in)
	age := s.Fresh
	if age <= 0 {
		age = DefaultFresh
	}
	if commit != "" {
		age = s.MaxAge
		if age <= 0 {
			age = DefaultMaxAge
		}
	}
	if err := s.Mirrors.FetchSince(ctx, in.Repo, cloneURL, creds, asked.Add(-age)); err != nil {
		return Tree{}, false, fmt.Errorf("fetch %s: %w", in.Repo, err)
	}
	v, err := s.Mirrors.View(in.Repo)
	if err != nil {
		return Tree{}, false, nil
	}
	if commit != "" {
		if ok, err := v.Reaches(ctx, branch, commit); !ok || err != nil {
			return Tree{}, false, nil // not here yet (or unreadable): fetch
		}
	}
	t, err := s.tree(ctx, rs, in, v, branch, inst)
	if err != nil || !s.skips(ctx, t, in) {
		return Tree{}, false, nil // the fresh read decides, and reports any error
	}
	return t, true, nil
}

// gitopsCommit returns the commit of the intent's GitOps repository that
// caused it, "" when it names none: a push to the GitOps repository sets
// Source.Repo to that repository and Source.SHA to the pushed head
// ("after"); a build (workflow_run) or tag push of a source repository
// names that repository's commit, and a command names none.
func gitopsCommit(in intent.Intent) string {
	if in.Source.SHA == "" || !strings.EqualFold(in.Source.Repo, in.Repo) {
		return ""
	}
	return strings.ToLower(in.Source.SHA)
}

// skips reports whether the worker's planner will skip the intent on t:
// every target part when the environment splits its targets, as the worker
// promotes them.
func (s *Source) skips(ctx context.Context, t Tree, in intent.Intent) bool {
	now := time.Now()
	if s.Now != nil {
		now = s.Now()
	}
	ins := []intent.Intent{in}
	if parts := planner.Parts(t.Rules, in); parts != nil {
		ins = ins[:0]
		for _, p := range parts {
			sub := in
			sub.Part = p
			ins = append(ins, sub)
		}
	}
	for _, in := range ins {
		dec, err := planner.Decide(ctx, t.Rules, in, t.Views, now)
		if err != nil || dec.Skip == "" {
			return false
		}
	}
	return true
}

// marksStale tells the mirrors when promobot moves a ref of a repository
// (creates or moves a branch, merges a pull request), so that no later
// no-op check in this process decides on a fetch made before the write.
// The other calls pass through.
type marksStale struct {
	prwriter.GitHub
	m *gitmirror.Mirrors
}

func (w marksStale) CreateRef(ctx context.Context, repo, branch, sha string) error {
	defer w.m.MarkStale(repo) // after the call, whatever it answered: a timeout may have written
	return w.GitHub.CreateRef(ctx, repo, branch, sha)
}

func (w marksStale) UpdateRef(ctx context.Context, repo, branch, sha string, force bool) error {
	defer w.m.MarkStale(repo)
	return w.GitHub.UpdateRef(ctx, repo, branch, sha, force)
}

func (w marksStale) MergePull(ctx context.Context, repo string, number int, headSHA string) error {
	defer w.m.MarkStale(repo)
	return w.GitHub.MergePull(ctx, repo, number, headSHA)
}
