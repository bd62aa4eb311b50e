package prwriter_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/prwriter/prwritertest"
	"github.com/promobot/promobot/internal/rules"
)

// Unit tests: the writer against the in-memory fake, one scenario a row.

const (
	branch = "promobot/prod/web"
	key    = "acme/gitops/web/prod"
	path   = "apps/web/overlays/prod/kustomization.yaml"
)

// The calls of each step, as the fake names them.
var (
	commitCalls = []string{"CreateTree", "CreateCommit"}
	newPRCalls  = []string{"CreatePull", "RequestReviewers", "AddLabels"}
)

func unitPlan() *planner.Plan {
	return &planner.Plan{
		Target:     intent.Target{Repo: repo, Service: "web", Env: "prod"},
		BaseBranch: "main", BaseSHA: "base", BaseTree: "basetree",
		Branch:        branch,
		Edits:         []planner.FileEdit{{Path: path, Old: []byte("newTag: v1\n"), New: []byte("newTag: v2\n")}},
		CommitMessage: "Promote web v2 to prod", Title: "Promote web v2 to prod", Body: "body v2",
		Reviewers: rules.Principals{Users: []string{"alice"}, Teams: []string{"acme/leads"}},
		Labels:    []string{"promotion", "env:prod"},
	}
}

// withPR arranges an earlier promotion: the branch exists, PR #1 from it
// is in state, and the state remembers it.
func withPR(state string) func(*prwritertest.GitHub, *memState, *planner.Plan) {
	return func(g *prwritertest.GitHub, st *memState, p *planner.Plan) {
		g.Branches[branch] = "old"
		g.Commits["old"] = &prwritertest.Commit{Parent: "base"}
		g.Pulls = append(g.Pulls, &prwritertest.Pull{
			PR: prwriter.PR{Number: 1, State: state}, Head: branch, Base: "main", Title: "Promote web v1 to prod",
		})
		st.m[key] = prwriter.PRRecord{Number: 1, Branch: branch}
		p.BranchExists = true
	}
}

func fail(method string, err error) func(*prwritertest.GitHub, *memState, *planner.Plan) {
	return func(g *prwritertest.GitHub, _ *memState, _ *planner.Plan) { g.Fail[method] = err }
}

func all(fs ...func(*prwritertest.GitHub, *memState, *planner.Plan)) func(*prwritertest.GitHub, *memState, *planner.Plan) {
	return func(g *prwritertest.GitHub, st *memState, p *planner.Plan) {
		for _, f := range fs {
			f(g, st, p)
		}
	}
}

func rateLimited(reset time.Time) error {
	return &github.RateLimitError{
		Rate:     github.Rate{Reset: github.Timestamp{Time: reset}},
		Response: &http.Response{StatusCode: http.StatusForbidden, Request: &http.Request{Method: "POST", URL: &url.URL{Path: "/x"}}},
		Message:  "API rate limit exceeded",
	}
}

func TestApply(t *testing.T) {
	reset := time.Now().Add(time.Hour).Truncate(time.Second)
	type check func(t *testing.T, g *prwritertest.GitHub, st *memState, res prwriter.Result)
	for _, tc := range []struct {
		name    string
		arrange func(*prwritertest.GitHub, *memState, *planner.Plan)
		calls   []string
		fate    fate.Kind // of the error, when errText is set
		at      time.Time // when to retry, for fate.RetryAt (zero: at once)
		errText string
		check   check
	}{
		{
			name:  "new PR",
			calls: slices.Concat(commitCalls, []string{"CreateRef"}, newPRCalls),
			check: func(t *testing.T, g *prwritertest.GitHub, st *memState, res prwriter.Result) {
				pr := g.Pull(res.Number)
				if !res.Created || pr == nil || pr.Head != branch || pr.Base != "main" || pr.Title != "Promote web v2 to prod" || pr.Body != "body v2" {
					t.Fatalf("result %+v, PR %+v", res, pr)
				}
				if !slices.Equal(pr.Users, []string{"alice"}) || !slices.Equal(pr.Teams, []string{"leads"}) || len(pr.Labels) != 2 {
					t.Errorf("reviewers %v teams %v labels %v", pr.Users, pr.Teams, pr.Labels)
				}
				if res.URL != pr.URL || res.URL == "" {
					t.Errorf("URL = %q, want %q", res.URL, pr.URL)
				}
				if r := st.m[key]; r.Number != res.Number || r.Branch != branch || len(r.Unrequested) != 0 {
					t.Errorf("state = %+v", st.m[key])
				}
				c := g.Commits[g.Branches[branch]]
				if res.CommitSHA != g.Branches[branch] || c.Parent != "base" || string(c.Files[path]) != "newTag: v2\n" || c.Message != "Promote web v2 to prod" {
					t.Errorf("branch commit %s = %+v", res.CommitSHA, c)
				}
			},
		},
		{
			name:    "update of the open PR",
			arrange: withPR("open"),
			calls:   slices.Concat(commitCalls, []string{"UpdateRef", "EditPull"}),
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
				if res.Created || res.Number != 1 || g.Pull(1).Title != "Promote web v2 to prod" {
					t.Errorf("result %+v, PR %+v", res, g.Pull(1))
				}
				if g.Branches[branch] != res.CommitSHA || g.Commits[res.CommitSHA].Parent != "base" {
					t.Errorf("branch not rebuilt on the base: %s", g.Branches[branch])
				}
			},
		},
		{
			name:    "branch current: no commit",
			arrange: all(withPR("open"), func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.BranchCurrent = true }),
			calls:   []string{"EditPull"},
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
				if res.CommitSHA != "" || res.Number != 1 || g.Branches[branch] != "old" {
					t.Errorf("result %+v, branch %s", res, g.Branches[branch])
				}
			},
		},
		{
			name:    "branch stale: new PR, the merged one untouched",
			arrange: all(withPR("closed"), func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.BranchStale = true }),
			calls:   slices.Concat(commitCalls, []string{"UpdateRef"}, newPRCalls),
			check: func(t *testing.T, g *prwritertest.GitHub, st *memState, res prwriter.Result) {
				if !res.Created || res.Number != 2 || st.m[key].Number != 2 {
					t.Errorf("result %+v, state %+v", res, st.m[key])
				}
				if g.Pull(1).Title != "Promote web v1 to prod" {
					t.Errorf("the old PR was edited: %q", g.Pull(1).Title)
				}
			},
		},
		{
			name: "branch made by a crashed attempt: 422 on create, then update",
			arrange: func(g *prwritertest.GitHub, _ *memState, _ *planner.Plan) {
				g.Branches[branch] = "base"
			},
			calls: slices.Concat(commitCalls, []string{"CreateRef", "UpdateRef"}, newPRCalls),
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
				if g.Branches[branch] != res.CommitSHA || !res.Created {
					t.Errorf("result %+v, branch %s", res, g.Branches[branch])
				}
			},
		},
		{
			name: "PR opened by a crashed attempt: 422 on create, found and decorated",
			arrange: func(g *prwritertest.GitHub, st *memState, p *planner.Plan) {
				withPR("open")(g, st, p)
				delete(st.m, key)
				p.BranchExists = false // the plan predates the crashed attempt
			},
			calls: slices.Concat(commitCalls, []string{"CreateRef", "UpdateRef", "CreatePull", "ListOpenPulls", "EditPull", "RequestReviewers", "AddLabels"}),
			check: func(t *testing.T, g *prwritertest.GitHub, st *memState, res prwriter.Result) {
				pr := g.Pull(1)
				if res.Created || res.Number != 1 || len(g.Pulls) != 1 || st.m[key].Number != 1 {
					t.Errorf("result %+v, %d PRs, state %+v", res, len(g.Pulls), st.m[key])
				}
				if pr.Title != "Promote web v2 to prod" || len(pr.Users) != 1 || len(pr.Labels) != 2 {
					t.Errorf("found PR not updated and decorated: %+v", pr)
				}
			},
		},
		{
			name:    "remembered PR closed: new PR",
			arrange: withPR("closed"),
			calls:   slices.Concat(commitCalls, []string{"UpdateRef", "EditPull"}, newPRCalls),
			check: func(t *testing.T, _ *prwritertest.GitHub, st *memState, res prwriter.Result) {
				if !res.Created || res.Number != 2 || st.m[key].Number != 2 {
					t.Errorf("result %+v, state %+v", res, st.m[key])
				}
			},
		},
		{
			name: "remembered PR gone (404): new PR",
			arrange: all(withPR("open"), func(g *prwritertest.GitHub, st *memState, _ *planner.Plan) {
				g.Pulls = nil
				st.m[key] = prwriter.PRRecord{Number: 7, Branch: branch}
			}),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "EditPull"}, newPRCalls),
			check: func(t *testing.T, _ *prwritertest.GitHub, st *memState, res prwriter.Result) {
				if !res.Created || st.m[key].Number != res.Number {
					t.Errorf("result %+v, state %+v", res, st.m[key])
				}
			},
		},
		{
			name: "remembered PR of another branch is not reused",
			arrange: all(withPR("open"), func(_ *prwritertest.GitHub, st *memState, _ *planner.Plan) {
				st.m[key] = prwriter.PRRecord{Number: 1, Branch: "promobot/prod/old-name"}
			}),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "CreatePull", "ListOpenPulls", "EditPull", "RequestReviewers", "AddLabels"}),
		},
		{
			name:    "PR refused for another reason",
			arrange: fail("CreatePull", prwritertest.Err(http.StatusUnprocessableEntity)),
			calls:   slices.Concat(commitCalls, []string{"CreateRef", "CreatePull", "ListOpenPulls"}),
			fate:    fate.Terminal, errText: "open pull request for " + branch,
		},
		{
			name:    "direct commit",
			arrange: func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.Direct = true },
			calls:   slices.Concat(commitCalls, []string{"UpdateRef"}),
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
				if res.CommitSHA == "" || g.Branches["main"] != res.CommitSHA || res.Number != 0 || len(g.Pulls) != 0 {
					t.Errorf("result %+v, main %s", res, g.Branches["main"])
				}
			},
		},
		{
			name: "direct commit, base moved: retry at once",
			arrange: func(g *prwritertest.GitHub, _ *memState, p *planner.Plan) {
				p.Direct = true
				g.Commits["other"] = &prwritertest.Commit{Parent: "base"}
				g.Branches["main"] = "other"
			},
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "GetRef"}),
			fate:  fate.RetryAt, errText: "base branch moved",
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, _ prwriter.Result) {
				if g.Branches["main"] != "other" {
					t.Errorf("the other push was lost: main = %s", g.Branches["main"])
				}
			},
		},
		{
			name: "direct commit, base protected: terminal",
			arrange: all(fail("UpdateRef", prwritertest.Err(http.StatusUnprocessableEntity)),
				func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.Direct = true }),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "GetRef"}),
			fate:  fate.Terminal, errText: "protected? use direct: false",
		},
		{
			name: "direct commit refused, base unreadable: retry",
			arrange: all(fail("UpdateRef", prwritertest.Err(http.StatusUnprocessableEntity)), fail("GetRef", prwritertest.Err(http.StatusBadGateway)),
				func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.Direct = true }),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "GetRef"}),
			fate:  fate.Retryable, errText: "read main",
		},
		{
			name: "direct commit, 502 on tree: retry, base untouched",
			arrange: all(fail("CreateTree", prwritertest.Err(http.StatusBadGateway)),
				func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.Direct = true }),
			calls: []string{"CreateTree"},
			fate:  fate.Retryable, errText: "create tree",
		},
		{
			name: "direct commit, 502: retry",
			arrange: all(fail("UpdateRef", prwritertest.Err(http.StatusBadGateway)),
				func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.Direct = true }),
			calls: slices.Concat(commitCalls, []string{"UpdateRef"}),
			fate:  fate.Retryable, errText: "update main",
		},
		{
			name: "binary file goes as a blob",
			arrange: func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) {
				p.Edits = append(p.Edits, planner.FileEdit{Path: "logo.bin", New: []byte{0xff, 0x00, 0xfe}})
			},
			calls: slices.Concat([]string{"CreateBlob"}, commitCalls, []string{"CreateRef"}, newPRCalls),
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
				files := g.Commits[res.CommitSHA].Files
				if string(files["logo.bin"]) != "\xff\x00\xfe" || string(files[path]) != "newTag: v2\n" {
					t.Errorf("files = %q", files)
				}
			},
		},
		// Reviewers GitHub will not ask do not stop the PR.
		{
			name: "a reviewer GitHub refuses: the others asked one by one, PR labelled, remembered, noted",
			arrange: func(g *prwritertest.GitHub, _ *memState, p *planner.Plan) {
				g.Unreviewable["mallory"] = notCollaborator
				p.Reviewers.Users = []string{"alice", "mallory"}
			},
			calls: slices.Concat(commitCalls, []string{"CreateRef", "CreatePull", "RequestReviewers", "RequestReviewers", "RequestReviewers", "RequestReviewers", "AddLabels", "ListComments", "CreateComment"}),
			check: func(t *testing.T, g *prwritertest.GitHub, st *memState, res prwriter.Result) {
				pr := g.Pull(res.Number)
				if !slices.Equal(pr.Users, []string{"alice"}) || !slices.Equal(pr.Teams, []string{"leads"}) || len(pr.Labels) != 2 {
					t.Errorf("users %v teams %v labels %v", pr.Users, pr.Teams, pr.Labels)
				}
				if r := st.m[key]; r.Number != res.Number || !slices.Equal(r.Unrequested, []string{"mallory"}) || !slices.Equal(res.Unrequested, r.Unrequested) {
					t.Errorf("state %+v, result %+v", r, res)
				}
				cs := g.PullComments(res.Number)
				if len(cs) != 1 || !strings.HasPrefix(cs[0].Body, prwriter.NoteMarker) ||
					!strings.Contains(cs[0].Body, "| `@mallory` | is not a collaborator of acme/gitops |") || strings.Contains(cs[0].Body, "alice") {
					t.Errorf("comments = %+v", cs)
				}
			},
		},
		{
			name: "the only reviewer refused: not asked twice",
			arrange: func(g *prwritertest.GitHub, _ *memState, p *planner.Plan) {
				g.Unreviewable["mallory"] = notCollaborator
				p.Reviewers = rules.Principals{Users: []string{"mallory"}}
			},
			calls: slices.Concat(commitCalls, []string{"CreateRef", "CreatePull", "RequestReviewers", "AddLabels", "ListComments", "CreateComment"}),
		},
		{
			name: "the author as reviewer",
			arrange: func(g *prwritertest.GitHub, _ *memState, p *planner.Plan) {
				g.Unreviewable["promobot"] = "Review cannot be requested from pull request author."
				p.Reviewers = rules.Principals{Users: []string{"promobot"}, Teams: []string{"acme/leads"}}
			},
			calls: slices.Concat(commitCalls, []string{"CreateRef", "CreatePull", "RequestReviewers", "RequestReviewers", "RequestReviewers", "AddLabels", "ListComments", "CreateComment"}),
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
				if cs := g.PullComments(res.Number); len(cs) != 1 || !strings.Contains(cs[0].Body, "| `@promobot` | is the author of this pull request") {
					t.Errorf("comments = %+v", cs)
				}
			},
		},
		{
			name: "a team of another organization is never sent",
			arrange: func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) {
				p.Reviewers = rules.Principals{Teams: []string{"other/sre"}}
			},
			calls: slices.Concat(commitCalls, []string{"CreateRef", "CreatePull", "AddLabels", "ListComments", "CreateComment"}),
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
				if cs := g.PullComments(res.Number); len(cs) != 1 || !strings.Contains(cs[0].Body, "| `@other/sre` | is a team of other: GitHub asks only teams of acme") {
					t.Errorf("comments = %+v", cs)
				}
			},
		},
		{
			name: "update: a refused reviewer who can now review is asked, the note edited",
			arrange: all(withPR("open"), func(g *prwritertest.GitHub, st *memState, _ *planner.Plan) {
				st.m[key] = prwriter.PRRecord{Number: 1, Branch: branch, Unrequested: []string{"alice"}}
				g.Comments = append(g.Comments, &prwritertest.Comment{ID: 90, Number: 1, Body: "hello"},
					&prwritertest.Comment{ID: 91, Number: 1, Body: prwriter.NoteMarker + "\nalice could not be asked"})
			}),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "EditPull", "RequestReviewers", "ListComments", "EditComment"}),
			check: func(t *testing.T, g *prwritertest.GitHub, st *memState, res prwriter.Result) {
				cs := g.PullComments(1)
				if len(cs) != 2 || cs[0].Body != "hello" || !strings.Contains(cs[1].Body, "Every reviewer the rules name for **prod** is now requested") {
					t.Errorf("comments = %+v", cs)
				}
				if !slices.Equal(g.Pull(1).Users, []string{"alice"}) || len(st.m[key].Unrequested) != 0 || len(res.Unrequested) != 0 {
					t.Errorf("users %v, state %+v", g.Pull(1).Users, st.m[key])
				}
			},
		},
		{
			name: "update: still refused, note deleted meanwhile: noted again",
			arrange: all(withPR("open"), func(g *prwritertest.GitHub, st *memState, _ *planner.Plan) {
				st.m[key] = prwriter.PRRecord{Number: 1, Branch: branch, Unrequested: []string{"alice"}}
				g.Unreviewable["alice"] = notCollaborator
			}),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "EditPull", "RequestReviewers", "ListComments", "CreateComment"}),
			check: func(t *testing.T, g *prwritertest.GitHub, st *memState, res prwriter.Result) {
				if cs := g.PullComments(1); len(cs) != 1 || !strings.Contains(cs[0].Body, "`@alice`") {
					t.Errorf("comments = %+v", cs)
				}
				if !slices.Equal(st.m[key].Unrequested, []string{"alice"}) || !slices.Equal(res.Unrequested, []string{"alice"}) {
					t.Errorf("state %+v, result %+v", st.m[key], res)
				}
			},
		},
		{
			name:    "502 asking for reviewers: retry, the PR not remembered",
			arrange: fail("RequestReviewers", prwritertest.Err(http.StatusBadGateway)),
			calls:   slices.Concat(commitCalls, []string{"CreateRef", "CreatePull", "RequestReviewers"}),
			fate:    fate.Retryable, errText: "request reviewers on #1",
			check: func(t *testing.T, _ *prwritertest.GitHub, st *memState, _ prwriter.Result) {
				if _, ok := st.m[key]; ok {
					t.Error("an undecorated PR was remembered")
				}
			},
		},

		// Force pushes forbidden on the promotion branch.
		{
			name: "forced update refused by a ruleset: a commit on top of the branch",
			arrange: all(withPR("open"), func(g *prwritertest.GitHub, _ *memState, _ *planner.Plan) {
				g.NoForce[branch] = "Repository rule violations found\n\nCannot force-push to this branch\n\n"
			}),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "GetRef", "CreateCommit", "UpdateRef", "EditPull"}),
			check: onTop,
		},
		{
			name: "forced update refused by branch protection: a commit on top of the branch",
			arrange: all(withPR("open"), func(g *prwritertest.GitHub, _ *memState, _ *planner.Plan) {
				g.NoForce[branch] = "Cannot force-push to this branch"
			}),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "GetRef", "CreateCommit", "UpdateRef", "EditPull"}),
			check: onTop,
		},
		{
			name: "branch made by a crashed attempt, force pushes forbidden",
			arrange: func(g *prwritertest.GitHub, _ *memState, _ *planner.Plan) {
				g.Branches[branch] = "old"
				g.Commits["old"] = &prwritertest.Commit{Parent: "base"}
				g.NoForce[branch] = "Cannot force-push to this branch"
			},
			calls: slices.Concat(commitCalls, []string{"CreateRef", "UpdateRef", "GetRef", "CreateCommit", "UpdateRef"}, newPRCalls),
			check: func(t *testing.T, g *prwritertest.GitHub, st *memState, res prwriter.Result) {
				onTop(t, g, st, res)
				if !res.Created {
					t.Errorf("result %+v", res)
				}
			},
		},
		{
			name: "forced update and the commit on top both refused: terminal",
			arrange: all(withPR("open"),
				fail("UpdateRef", prwritertest.ErrMsg(http.StatusUnprocessableEntity, "Repository rule violations found\n\nCannot force-push to this branch\n\nCommits must have verified signatures.\n\n"))),
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "GetRef", "CreateCommit", "UpdateRef"}),
			fate:  fate.Terminal, errText: "force pushes are forbidden, and so was a commit on top",
		},
		{
			name: "another 422 on the forced update: terminal, no commit on top",
			arrange: all(withPR("open"),
				fail("UpdateRef", prwritertest.ErrMsg(http.StatusUnprocessableEntity, "Reference cannot be updated"))),
			calls: slices.Concat(commitCalls, []string{"UpdateRef"}),
			fate:  fate.Terminal, errText: "update branch " + branch,
		},

		// File modes.
		{
			name: "an executable stays executable",
			arrange: func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) {
				p.Edits[0].Mode = "100755"
				p.Edits = append(p.Edits, planner.FileEdit{Path: "logo.bin", New: []byte{0xff}, Mode: "100755"}, planner.FileEdit{Path: "plain.yaml", New: []byte("a: 1\n")})
			},
			calls: slices.Concat([]string{"CreateBlob"}, commitCalls, []string{"CreateRef"}, newPRCalls),
			check: func(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
				modes := g.Commits[res.CommitSHA].Modes
				if modes[path] != "100755" || modes["logo.bin"] != "100755" || modes["plain.yaml"] != "100644" {
					t.Errorf("modes = %v", modes)
				}
			},
		},
		{
			name:    "a symlink or submodule edit: terminal, nothing written",
			arrange: func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.Edits[0].Mode = "120000" },
			fate:    fate.Terminal, errText: path + " has git mode 120000",
		},

		// The fate of each failure, decided where it is first seen.
		{
			name:    "404 on create tree: terminal",
			arrange: fail("CreateTree", prwritertest.Err(http.StatusNotFound)),
			calls:   []string{"CreateTree"},
			fate:    fate.Terminal, errText: "create tree",
		},
		{
			name:    "502 on create tree: retry",
			arrange: fail("CreateTree", prwritertest.Err(http.StatusBadGateway)),
			calls:   []string{"CreateTree"},
			fate:    fate.Retryable, errText: "create tree",
		},
		{
			name: "502 on create blob: retry",
			arrange: all(fail("CreateBlob", prwritertest.Err(http.StatusBadGateway)), func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) {
				p.Edits[0].New = []byte{0xff}
			}),
			calls: []string{"CreateBlob"},
			fate:  fate.Retryable, errText: "create blob " + path,
		},
		{
			name:    "409 on create commit: terminal",
			arrange: fail("CreateCommit", prwritertest.Err(http.StatusConflict)),
			calls:   commitCalls,
			fate:    fate.Terminal, errText: "create commit",
		},
		{
			name:    "502 on create branch: retry",
			arrange: fail("CreateRef", prwritertest.Err(http.StatusBadGateway)),
			calls:   slices.Concat(commitCalls, []string{"CreateRef"}),
			fate:    fate.Retryable, errText: "create branch " + branch,
		},
		{
			name:    "404 on update branch: terminal",
			arrange: all(withPR("open"), fail("UpdateRef", prwritertest.Err(http.StatusNotFound))),
			calls:   slices.Concat(commitCalls, []string{"UpdateRef"}),
			fate:    fate.Terminal, errText: "update branch " + branch,
		},
		{
			name:    "502 on edit of the open PR: retry",
			arrange: all(withPR("open"), fail("EditPull", prwritertest.Err(http.StatusBadGateway))),
			calls:   slices.Concat(commitCalls, []string{"UpdateRef", "EditPull"}),
			fate:    fate.Retryable, errText: "update pull request #1",
		},
		{
			name:    "rate limited on open PR: retry at the reset",
			arrange: fail("CreatePull", rateLimited(reset)),
			calls:   slices.Concat(commitCalls, []string{"CreateRef", "CreatePull"}),
			fate:    fate.RetryAt, errText: "open pull request", at: reset.Add(time.Second),
		},
		{
			name: "502 finding the crashed attempt's PR: retry",
			arrange: all(fail("CreatePull", prwritertest.Err(http.StatusUnprocessableEntity)),
				fail("ListOpenPulls", prwritertest.Err(http.StatusBadGateway))),
			calls: slices.Concat(commitCalls, []string{"CreateRef", "CreatePull", "ListOpenPulls"}),
			fate:  fate.Retryable, errText: "find pull request for " + branch,
		},
		{
			name: "404 editing the crashed attempt's PR: terminal",
			arrange: func(g *prwritertest.GitHub, st *memState, p *planner.Plan) {
				withPR("open")(g, st, p)
				delete(st.m, key)
				g.Fail["EditPull"] = prwritertest.Err(http.StatusNotFound)
			},
			calls: slices.Concat(commitCalls, []string{"UpdateRef", "CreatePull", "ListOpenPulls", "EditPull"}),
			fate:  fate.Terminal, errText: "update pull request #1",
		},
		{
			name:    "403 on review request: terminal",
			arrange: fail("RequestReviewers", prwritertest.Err(http.StatusForbidden)),
			calls:   slices.Concat(commitCalls, []string{"CreateRef", "CreatePull", "RequestReviewers"}),
			fate:    fate.Terminal, errText: "request reviewers on #1",
			check: func(t *testing.T, _ *prwritertest.GitHub, st *memState, _ prwriter.Result) {
				if _, ok := st.m[key]; ok {
					t.Error("an undecorated PR was remembered: a retry would not decorate it")
				}
			},
		},
		{
			name:    "502 on labels: retry",
			arrange: fail("AddLabels", prwritertest.Err(http.StatusBadGateway)),
			calls:   slices.Concat(commitCalls, []string{"CreateRef"}, newPRCalls),
			fate:    fate.Retryable, errText: "label #1",
		},
		{
			name:    "another repository: terminal",
			arrange: func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.Target.Repo = "acme/other" },
			calls:   []string{"CreateTree"},
			fate:    fate.Terminal, errText: "create tree",
		},
		{
			name:    "invalid repository: terminal",
			arrange: func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.Target.Repo = "gitops" },
			fate:    fate.Terminal, errText: `invalid repository "gitops"`,
		},
		{
			name:    "no base tree: terminal, nothing written",
			arrange: func(_ *prwritertest.GitHub, _ *memState, p *planner.Plan) { p.BaseTree = "" },
			fate:    fate.Terminal, errText: "no base tree",
		},
		{
			name:    "state unreadable: retry",
			arrange: func(_ *prwritertest.GitHub, st *memState, _ *planner.Plan) { st.getErr = errors.New("kv down") },
			calls:   slices.Concat(commitCalls, []string{"CreateRef"}),
			fate:    fate.Retryable, errText: "read pr state: kv down",
		},
		{
			name:    "state unwritable: retry",
			arrange: func(_ *prwritertest.GitHub, st *memState, _ *planner.Plan) { st.putErr = errors.New("kv down") },
			calls:   slices.Concat(commitCalls, []string{"CreateRef"}, newPRCalls),
			fate:    fate.Retryable, errText: "save pr state: kv down",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := prwritertest.New(repo)
			st := &memState{m: map[string]prwriter.PRRecord{}}
			p := unitPlan()
			if tc.arrange != nil {
				tc.arrange(g, st, p)
			}
			w := &prwriter.Writer{State: st}
			res, err := w.Apply(context.Background(), g, p)
			if got := g.Calls(); !slices.Equal(got, tc.calls) {
				t.Errorf("calls:\n got %v\nwant %v", got, tc.calls)
			}
			switch {
			case tc.errText == "" && err != nil:
				t.Fatalf("err = %v", err)
			case tc.errText != "" && (err == nil || !strings.Contains(err.Error(), tc.errText)):
				t.Fatalf("err = %v, want one saying %q", err, tc.errText)
			case tc.errText != "":
				k, at := fate.Of(err)
				if k != tc.fate {
					t.Errorf("fate of %q = %v, want %v", err, k, tc.fate)
				}
				if !at.Equal(tc.at) {
					t.Errorf("retry at %v, want %v", at, tc.at)
				}
			}
			if tc.check != nil {
				tc.check(t, g, st, res)
			}
		})
	}
}

const notCollaborator = "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the acme/gitops repository."

// onTop checks that the branch moved forward to a commit of the plan's
// tree whose parents are the old head and the base.
func onTop(t *testing.T, g *prwritertest.GitHub, _ *memState, res prwriter.Result) {
	t.Helper()
	c := g.Commits[g.Branches[branch]]
	if res.CommitSHA != g.Branches[branch] || c == nil || !slices.Equal(c.Parents, []string{"old", "base"}) || string(c.Files[path]) != "newTag: v2\n" {
		t.Errorf("branch at %s (result %s): %+v", g.Branches[branch], res.CommitSHA, c)
	}
}

func TestApplyNilPlan(t *testing.T) {
	w := &prwriter.Writer{State: &memState{m: map[string]prwriter.PRRecord{}}}
	if _, err := w.Apply(context.Background(), prwritertest.New(repo), nil); !fate.IsTerminal(err) {
		t.Errorf("err = %v, want terminal", err)
	}
}

// TestReapplyIsIdempotent applies the same plan twice, as a redelivered
// intent does: one PR, updated in place.
func TestReapplyIsIdempotent(t *testing.T) {
	g := prwritertest.New(repo)
	w := &prwriter.Writer{State: &memState{m: map[string]prwriter.PRRecord{}}}
	ctx := context.Background()
	first, err := w.Apply(ctx, g, unitPlan())
	if err != nil {
		t.Fatal(err)
	}
	p := unitPlan()
	p.BranchExists = true
	second, err := w.Apply(ctx, g, p)
	if err != nil {
		t.Fatal(err)
	}
	if second.Created || second.Number != first.Number || len(g.Pulls) != 1 {
		t.Errorf("first %+v second %+v, %d PRs", first, second, len(g.Pulls))
	}
	if calls := g.Calls(); len(calls) != 6+4 {
		t.Errorf("calls = %v, want 6 then 4", calls)
	}
}

func TestStatus(t *testing.T) {
	ctx := context.Background()
	g := prwritertest.New(repo)
	long := strings.Repeat("é", 100) // 200 bytes: cut inside no rune
	if err := prwriter.Status(ctx, g, repo, "abc", "failure", "promobot/prod", long, "https://x/1"); err != nil {
		t.Fatal(err)
	}
	if err := prwriter.Status(ctx, g, repo, "abc", "success", "promobot/prod", "short", ""); err != nil {
		t.Fatal(err)
	}
	if len(g.Statuses) != 2 {
		t.Fatalf("statuses = %+v", g.Statuses)
	}
	d := g.Statuses[0].Description
	if len(d) > 140 || !strings.HasSuffix(d, "...") || !strings.HasPrefix(long, strings.TrimSuffix(d, "...")) {
		t.Errorf("long description cut to %q (%d bytes)", d, len(d))
	}
	if s := g.Statuses[0]; s.SHA != "abc" || s.State != "failure" || s.Context != "promobot/prod" || s.TargetURL != "https://x/1" {
		t.Errorf("status = %+v", s)
	}
	if d := g.Statuses[1].Description; d != "short" {
		t.Errorf("short description changed to %q", d)
	}
	for code, want := range map[int]fate.Kind{http.StatusNotFound: fate.Terminal, http.StatusBadGateway: fate.Retryable} {
		g.Fail["CreateStatus"] = prwritertest.Err(code)
		err := prwriter.Status(ctx, g, repo, "abc", "success", "c", "d", "")
		if k, _ := fate.Of(err); err == nil || k != want || !strings.Contains(err.Error(), "status on acme/gitops@abc") {
			t.Errorf("%d: err = %v (%v), want %v", code, err, k, want)
		}
	}
}
