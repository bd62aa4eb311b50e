package githubtest

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/google/go-github/v60/github"
)

// suiteState is a suite's status and conclusion from its latest runs.
func suiteState(r *repo, su *checkSuite) (status, conclusion string) {
	latest := map[string]*checkRun{}
	for _, run := range r.ci().runs {
		if run.suite == su {
			latest[run.name] = run
		}
	}
	if len(latest) == 0 {
		return "queued", ""
	}
	status = "completed"
	queued := true
	rank := map[string]int{"action_required": 7, "startup_failure": 6, "timed_out": 5, "cancelled": 4, "failure": 3, "stale": 2, "neutral": 1, "skipped": 0, "success": 1}
	best := -1
	for _, run := range latest {
		if run.status != "completed" {
			status = "in_progress"
		}
		queued = queued && run.status == "queued"
		if run.status == "completed" && (rank[run.conclusion] > best || (rank[run.conclusion] == best && run.conclusion == "success")) {
			best, conclusion = rank[run.conclusion], run.conclusion
		}
	}
	if queued {
		return "queued", ""
	}
	if status != "completed" {
		return status, ""
	}
	return status, conclusion
}

func (s *Server) appJSON() *github.App {
	return &github.App{ID: github.Int64(s.cfg.AppID), Slug: github.String(s.slug), Name: github.String(s.slug),
		NodeID:      github.String(fmt.Sprintf("A_%d", s.cfg.AppID)),
		Owner:       s.user(s.installationAccount(), "Organization"),
		Description: github.String(""), ExternalURL: github.String("https://promobot.example.com"),
		HTMLURL:   github.String(s.URL() + "/apps/" + s.slug),
		CreatedAt: ts(appCreated), UpdatedAt: ts(appCreated),
		Permissions: s.installation("").Permissions, Events: s.installation("").Events}
}

// prRefs are the minimal pull request objects check runs and suites list:
// the open pull requests whose head is sha.
func (s *Server) prRefs(r *repo, sha string) []map[string]any {
	out := []map[string]any{}
	for _, n := range sortedNumbers(r) {
		is := r.issues[n]
		if is.pr == nil || is.state != "open" || is.pr.headSHA != sha {
			continue
		}
		rr := map[string]any{"id": r.id, "url": s.APIURL() + "repos/" + r.fullName(), "name": r.name}
		base := is.pr.baseSHA
		if g, err := r.open(); err == nil {
			if h := branchHash(g, is.pr.base); !h.IsZero() {
				base = h.String()
			}
		}
		out = append(out, map[string]any{"url": s.apiURL(r, "pulls", strconv.Itoa(n)), "id": is.id, "number": n,
			"head": map[string]any{"ref": is.pr.head, "sha": is.pr.headSHA, "repo": rr},
			"base": map[string]any{"ref": is.pr.base, "sha": base, "repo": rr}})
	}
	return out
}

func strOrNil(p *string) any {
	if p == nil {
		return nil
	}
	return *p
}

func tsOrNil(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return ts(t)
}

// checkRunJSON is a check run as the REST API answers it; inHook nests the
// full suite, as check_run webhooks do.
func (s *Server) checkRunJSON(r *repo, run *checkRun, inHook bool) map[string]any {
	id := strconv.FormatInt(run.id, 10)
	var suite any = map[string]any{"id": run.suite.id}
	if inHook {
		suite = s.checkSuiteJSON(r, run.suite, false)
	}
	details := run.detailsURL
	if details == "" {
		details = "https://promobot.example.com"
	}
	var concl, completed any
	if run.status == "completed" {
		concl, completed = run.conclusion, tsOrNil(run.completed)
	}
	return map[string]any{
		"id": run.id, "node_id": fmt.Sprintf("CR_%d", run.id), "head_sha": run.headSHA, "external_id": run.externalID,
		"url": s.apiURL(r, "check-runs", id), "html_url": s.htmlURL(r, "runs", id), "details_url": details,
		"status": run.status, "conclusion": concl, "started_at": tsOrNil(run.started), "completed_at": completed,
		"output": map[string]any{"title": strOrNil(run.title), "summary": strOrNil(run.summary), "text": strOrNil(run.text),
			"annotations_count": len(run.annotations), "annotations_url": s.apiURL(r, "check-runs", id, "annotations")},
		"name": run.name, "check_suite": suite, "app": s.appJSON(), "pull_requests": s.prRefs(r, run.headSHA),
	}
}

func (s *Server) checkSuiteJSON(r *repo, su *checkSuite, inHook bool) map[string]any {
	status, concl := suiteState(r, su)
	id := strconv.FormatInt(su.id, 10)
	count := 0
	seen := map[string]bool{}
	for _, run := range r.ci().runs {
		if run.suite == su && !seen[run.name] {
			seen[run.name] = true
			count++
		}
	}
	var branch, conclusion any
	if su.headBranch != "" {
		branch = su.headBranch
	}
	if concl != "" {
		conclusion = concl
	}
	before := su.before
	if before == "" {
		before = strings.Repeat("0", 40)
	}
	out := map[string]any{
		"id": su.id, "node_id": fmt.Sprintf("CS_%d", su.id), "head_branch": branch, "head_sha": su.headSHA,
		"status": status, "conclusion": conclusion, "url": s.apiURL(r, "check-suites", id),
		"before": before, "after": su.headSHA, "pull_requests": s.prRefs(r, su.headSHA), "app": s.appJSON(),
		"created_at": ts(su.created), "updated_at": ts(su.upd), "latest_check_runs_count": count,
		"check_runs_url": s.apiURL(r, "check-suites", id, "check-runs"), "rerequestable": true, "runs_rerequestable": true,
	}
	if g, err := r.open(); err == nil {
		if cm, err := resolve(g, su.headSHA); err == nil {
			hc, err := s.headCommit(r, cm)
			if err == nil {
				out["head_commit"] = map[string]any{"id": hc.GetID(), "tree_id": hc.GetTreeID(), "message": hc.GetMessage(),
					"timestamp": hc.GetTimestamp(), "author": map[string]any{"name": hc.GetAuthor().GetName(), "email": hc.GetAuthor().GetEmail()},
					"committer": map[string]any{"name": hc.GetCommitter().GetName(), "email": hc.GetCommitter().GetEmail()}}
			}
		}
	}
	if inHook {
		out["repository"] = s.repoLinks(r)
	}
	return out
}

// sortedBranches lists the repository's branch names in order.
func sortedBranches(g *git.Repository) []string {
	var out []string
	it, err := g.Branches()
	if err != nil {
		return nil
	}
	_ = it.ForEach(func(ref *plumbing.Reference) error {
		out = append(out, ref.Name().Short())
		return nil
	})
	sort.Strings(out)
	return out
}
