package githubtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// These tests pin the refusals GitHub answers where promobot meets them:
// review requests, forced updates and deletions under rulesets and branch
// protection, and over-long pull request titles and bodies. The wordings
// and shapes are GitHub's, as recorded from its API.

// apiJSON sends a REST request with the static token and decodes the answer.
func (e *env) apiJSON(method, path, body string) (int, map[string]any) {
	e.t.Helper()
	code, _, b := e.raw(method, "/api/v3"+path, "token "+testStatic, body)
	var out map[string]any
	if len(b) > 0 && b[0] == '{' {
		if err := json.Unmarshal(b, &out); err != nil {
			e.t.Fatalf("%s %s: %v: %s", method, path, err, b)
		}
	}
	return code, out
}

// openPR opens a pull request from a new branch with one commit, as user
// of the static token (promobot-user), and returns its number.
func (e *env) openPR(branch string) int {
	e.t.Helper()
	content := "x\n"
	if _, err := e.s.Commit(testRepo, branch, map[string]*string{"f-" + branch: &content}, "change"); err != nil {
		e.t.Fatal(err)
	}
	code, pr := e.apiJSON("POST", "/repos/acme/gitops/pulls", `{"title":"t","head":"`+branch+`","base":"main"}`)
	if code != 201 {
		e.t.Fatalf("open PR: %d %v", code, pr)
	}
	return int(pr["number"].(float64))
}

func TestReviewRequestRefusals(t *testing.T) {
	e := newEnv(t)
	n := e.openPR("feature")
	for user, perm := range map[string]string{"alice": "write", "gone": "none"} {
		if err := e.s.SetPermission(testRepo, user, perm); err != nil {
			t.Fatal(err)
		}
	}
	e.s.AddTeamMember("acme", "leads", "bob") // members, no permission set: pull access
	if err := e.s.SetTeamPermission(testRepo, "acme/outsiders", "none"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetTeamPermission(testRepo, "other/sre", "push"); err == nil {
		t.Error("a team of another organisation was given access")
	}
	notCollab := "Reviews may only be requested from collaborators. One or more of the users or teams you specified is not a collaborator of the acme/gitops repository."
	for _, tc := range []struct {
		name, body string
		code       int
		message    string
	}{
		{"the pull request's author", `{"reviewers":["promobot-user"]}`, 422, "Review cannot be requested from pull request author."},
		{"the author, in other case", `{"reviewers":["Promobot-User"]}`, 422, "Review cannot be requested from pull request author."},
		{"a user without access", `{"reviewers":["mallory"]}`, 422, notCollab},
		{"a user whose access was removed", `{"reviewers":["gone"]}`, 422, notCollab},
		{"a team without access", `{"team_reviewers":["outsiders"]}`, 422, notCollab},
		{"a team that does not exist", `{"team_reviewers":["nobody"]}`, 422, notCollab},
		{"a team named org/slug", `{"team_reviewers":["acme/leads"]}`, 422, notCollab},
		{"one bad reviewer refuses the whole request", `{"reviewers":["alice","mallory"],"team_reviewers":["leads"]}`, 422, notCollab},
		{"collaborators and teams with access", `{"reviewers":["alice","bob"],"team_reviewers":["leads"]}`, 201, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out := e.apiJSON("POST", fmt.Sprintf("/repos/acme/gitops/pulls/%d/requested_reviewers", n), tc.body)
			if code != tc.code {
				t.Fatalf("status %d, want %d: %v", code, tc.code, out)
			}
			if tc.code != 422 {
				return
			}
			want := map[string]any{"message": tc.message, "status": "422",
				"documentation_url": "https://docs.github.com/rest/pulls/review-requests#request-reviewers-for-a-pull-request"}
			if fmt.Sprint(out) != fmt.Sprint(want) {
				t.Errorf("body %v\nwant %v", out, want)
			}
		})
	}
	// The refused mixed request asked nobody; the accepted one everybody.
	pr := e.s.PullRequests(testRepo)[0]
	if strings.Join(pr.Reviewers, ",") != "alice,bob" || strings.Join(pr.TeamReviewers, ",") != "leads" {
		t.Errorf("requested %v and %v, want alice,bob and leads", pr.Reviewers, pr.TeamReviewers)
	}
	// Taking a team's access away takes its members' with it.
	if err := e.s.SetTeamPermission(testRepo, "acme/leads", "none"); err != nil {
		t.Fatal(err)
	}
	if code, out := e.apiJSON("POST", fmt.Sprintf("/repos/acme/gitops/pulls/%d/requested_reviewers", n), `{"reviewers":["bob"]}`); code != 422 || out["message"] != notCollab {
		t.Errorf("bob after his team lost access: %d %v", code, out)
	}
}

func TestRulesetsAndProtection(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	// branch makes name point at a commit whose sibling (same parent) is
	// returned: moving the branch there is not a fast-forward.
	branch := func(name string) (sibling, child string) {
		t.Helper()
		a, b, c := "a\n", "b\n", "c\n"
		if _, err := e.s.Commit(testRepo, name, map[string]*string{"f": &a}, "one"); err != nil {
			t.Fatal(err)
		}
		head := e.s.Branches(testRepo)[name]
		base := e.s.Branches(testRepo)["main"]
		cm, _, err := gh.Git.GetCommit(e.ctx, "acme", "gitops", base)
		if err != nil {
			t.Fatal(err)
		}
		tree, _, err := gh.Git.CreateTree(e.ctx, "acme", "gitops", cm.GetTree().GetSHA(), []*github.TreeEntry{{Path: github.String("f"), Mode: github.String("100644"), Type: github.String("blob"), Content: &b}})
		if err != nil {
			t.Fatal(err)
		}
		sib, _, err := gh.Git.CreateCommit(e.ctx, "acme", "gitops", &github.Commit{Message: github.String("other"), Tree: tree, Parents: []*github.Commit{{SHA: &base}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		tree2, _, err := gh.Git.CreateTree(e.ctx, "acme", "gitops", cm.GetTree().GetSHA(), []*github.TreeEntry{{Path: github.String("f"), Mode: github.String("100644"), Type: github.String("blob"), Content: &c}})
		if err != nil {
			t.Fatal(err)
		}
		ch, _, err := gh.Git.CreateCommit(e.ctx, "acme", "gitops", &github.Commit{Message: github.String("on top"), Tree: tree2, Parents: []*github.Commit{{SHA: &head}}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		return sib.GetSHA(), ch.GetSHA()
	}
	if err := e.s.AddRuleset(testRepo, Ruleset{Name: "promotions", Include: []string{"refs/heads/promobot/**", "~DEFAULT_BRANCH"}, Exclude: []string{"refs/heads/promobot/scratch/*"}, NonFastForward: true, Deletion: true}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.AddRuleset(testRepo, Ruleset{Name: "none", Include: nil}); err == nil {
		t.Error("a ruleset without a target was accepted")
	}
	if err := e.s.ProtectBranch(testRepo, "release/*", BranchProtection{}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.ProtectBranch(testRepo, "hotfix/**", BranchProtection{AllowForcePushes: true, AllowDeletions: true}); err != nil {
		t.Fatal(err)
	}
	ruleset := func(rule string) string { return "Repository rule violations found\n\n" + rule + "\n\n" }
	update := "https://docs.github.com/rest/git/refs#update-a-reference"
	del := "https://docs.github.com/rest/git/refs#delete-a-reference"
	for _, tc := range []struct {
		name, branch       string
		forceCode          int
		forceMsg, forceDoc string
		deleteCode         int
		deleteMsg          string
	}{
		{"ruleset", "promobot/prod/web", 422, ruleset("Cannot force-push to this branch"), update, 422, ruleset("Cannot delete this branch")},
		{"branch the ruleset excludes", "promobot/scratch/x", 200, "", "", 204, ""},
		{"branch no rule targets", "feature/x", 200, "", "", 204, ""},
		{"classic protection", "release/1", 422, "Cannot force-push to this branch", update, 422, "Cannot delete this branch"},
		{"classic protection allowing both", "hotfix/a/b", 200, "", "", 204, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sibling, child := branch(tc.branch)
			path := "/repos/acme/gitops/git/refs/heads/" + tc.branch
			code, out := e.apiJSON("PATCH", path, `{"sha":"`+sibling+`","force":true}`)
			if code != tc.forceCode {
				t.Fatalf("forced update: %d %v, want %d", code, out, tc.forceCode)
			}
			if code == 422 {
				want := map[string]any{"message": tc.forceMsg, "documentation_url": tc.forceDoc, "status": "422"}
				if fmt.Sprint(out) != fmt.Sprint(want) {
					t.Errorf("forced update body %q\nwant %q", out, want)
				}
				// Without force, a move that is not a fast-forward is refused as before.
				if code, out := e.apiJSON("PATCH", path, `{"sha":"`+sibling+`","force":false}`); code != 422 || out["message"] != "Update is not a fast forward" {
					t.Errorf("unforced update: %d %v", code, out)
				}
				// A fast-forward is allowed, forced or not.
				if code, out := e.apiJSON("PATCH", path, `{"sha":"`+child+`","force":true}`); code != 200 {
					t.Errorf("fast-forward: %d %v", code, out)
				}
			}
			code, out = e.apiJSON("DELETE", path, "")
			if code != tc.deleteCode {
				t.Fatalf("delete: %d %v, want %d", code, out, tc.deleteCode)
			}
			if code == 422 {
				want := map[string]any{"message": tc.deleteMsg, "documentation_url": del, "status": "422"}
				if fmt.Sprint(out) != fmt.Sprint(want) {
					t.Errorf("delete body %q\nwant %q", out, want)
				}
				if _, ok := e.s.Branches(testRepo)[tc.branch]; !ok {
					t.Error("the refused delete removed the branch")
				}
			}
		})
	}
}

func TestRefConditions(t *testing.T) {
	r := &repo{defaultBranch: "main"}
	for _, tc := range []struct {
		pattern, ref string
		want         bool
	}{
		{"~ALL", "refs/heads/anything/at/all", true},
		{"~DEFAULT_BRANCH", "refs/heads/main", true},
		{"~DEFAULT_BRANCH", "refs/heads/mainline", false},
		{"promobot/*", "refs/heads/promobot/x", true},
		{"refs/heads/promobot/*", "refs/heads/promobot/x/y", false},
	} {
		if got := refMatches(r, tc.pattern, tc.ref); got != tc.want {
			t.Errorf("refMatches(%q, %q) = %v, want %v", tc.pattern, tc.ref, got, tc.want)
		}
	}
}

func TestFnmatch(t *testing.T) {
	for _, tc := range []struct {
		pattern, name string
		want          bool
	}{
		{"refs/heads/main", "refs/heads/main", true},
		{"refs/heads/*", "refs/heads/main", true},
		{"refs/heads/*", "refs/heads/promobot/prod", false},
		{"refs/heads/promobot/**", "refs/heads/promobot/prod/web", true},
		{"refs/heads/promobot/**/web", "refs/heads/promobot/prod/eu/web", true},
		{"refs/heads/release-?", "refs/heads/release-1", true},
		{"refs/heads/a.b", "refs/heads/axb", false},
	} {
		if got := fnmatch(tc.pattern, tc.name); got != tc.want {
			t.Errorf("fnmatch(%q, %q) = %v, want %v", tc.pattern, tc.name, got, tc.want)
		}
	}
}

func TestPullRequestTextLimits(t *testing.T) {
	e := newEnv(t)
	for _, b := range []string{"a", "b"} {
		content := b + "\n"
		if _, err := e.s.Commit(testRepo, b, map[string]*string{b: &content}, "change"); err != nil {
			t.Fatal(err)
		}
	}
	// GitHub counts characters: "é" is one character, two bytes.
	title256, title257 := strings.Repeat("é", 256), strings.Repeat("é", 257)
	body65536, body65537 := strings.Repeat("é", 65536), strings.Repeat("é", 65537)
	quote := func(s string) string { b, _ := json.Marshal(s); return string(b) }
	titleErr := map[string]any{"resource": "Issue", "code": "custom", "field": "title", "message": "title is too long (maximum is 256 characters)"}
	bodyErr := map[string]any{"resource": "Issue", "code": "custom", "field": "body", "message": "body is too long (maximum is 65536 characters)"}
	check := func(what string, code int, out map[string]any, errs ...map[string]any) {
		t.Helper()
		if code != 422 || out["message"] != "Validation Failed" {
			t.Fatalf("%s: %d %v, want 422 Validation Failed", what, code, out["message"])
		}
		got, _ := json.Marshal(out["errors"])
		want, _ := json.Marshal(errs)
		var g, w any
		_ = json.Unmarshal(got, &g)
		_ = json.Unmarshal(want, &w)
		if fmt.Sprint(g) != fmt.Sprint(w) {
			t.Errorf("%s: errors %s, want %s", what, got, want)
		}
	}
	code, out := e.apiJSON("POST", "/repos/acme/gitops/pulls", `{"title":`+quote(title257)+`,"head":"a","base":"main"}`)
	check("create, long title", code, out, titleErr)
	code, out = e.apiJSON("POST", "/repos/acme/gitops/pulls", `{"title":"t","body":`+quote(body65537)+`,"head":"a","base":"main"}`)
	check("create, long body", code, out, bodyErr)
	code, out = e.apiJSON("POST", "/repos/acme/gitops/pulls", `{"title":`+quote(title257)+`,"body":`+quote(body65537)+`,"head":"a","base":"main"}`)
	check("create, both", code, out, titleErr, bodyErr)
	if len(e.s.PullRequests(testRepo)) != 0 {
		t.Fatal("a refused pull request was opened")
	}
	code, out = e.apiJSON("POST", "/repos/acme/gitops/pulls", `{"title":`+quote(title256)+`,"body":`+quote(body65536)+`,"head":"a","base":"main"}`)
	if code != 201 {
		t.Fatalf("at the limits: %d %v", code, out["message"])
	}
	n := int(out["number"].(float64))
	path := fmt.Sprintf("/repos/acme/gitops/pulls/%d", n)
	code, out = e.apiJSON("PATCH", path, `{"title":`+quote(title257)+`}`)
	check("edit, long title", code, out, titleErr)
	code, out = e.apiJSON("PATCH", path, `{"body":`+quote(body65537)+`}`)
	check("edit, long body", code, out, bodyErr)
	if pr := e.s.PullRequests(testRepo)[0]; pr.Title != title256 || pr.Body != body65536 {
		t.Error("a refused edit changed the pull request")
	}
}
