package githubtest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

// openHandPR commits to branch and opens a pull request from it into main as
// a person; it returns the number and the head SHA.
func (e *env) openHandPR(branch string) (int, string) {
	e.t.Helper()
	head, err := e.s.Commit(testRepo, branch, map[string]*string{"apps/payment/overlays/prod/kustomization.yaml": github.String("images:\n- name: registry.example.com/payment\n  newTag: v2.0.0\n")}, "bump "+branch)
	if err != nil {
		e.t.Fatal(err)
	}
	n, err := e.s.OpenPullRequest(testRepo, branch, "main", "Bump "+branch, "by hand", "alice")
	if err != nil {
		e.t.Fatal(err)
	}
	return n, head
}

func TestMergeableComputedInBackground(t *testing.T) {
	e := newEnv(t)
	gh, _ := e.installationClient()
	if _, err := e.s.Commit(testRepo, "b", map[string]*string{"x": github.String("1")}, "x"); err != nil {
		t.Fatal(err)
	}
	pr, _, err := gh.PullRequests.Create(e.ctx, "acme", "gitops", &github.NewPullRequest{Title: github.String("t"), Head: github.String("b"), Base: github.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Mergeable != nil || pr.GetMergeableState() != "unknown" {
		t.Fatalf("create answer: mergeable %v state %q, want null/unknown", pr.Mergeable, pr.GetMergeableState())
	}
	get := func() (*bool, string) {
		t.Helper()
		p, _, err := gh.PullRequests.Get(e.ctx, "acme", "gitops", 1)
		if err != nil {
			t.Fatal(err)
		}
		return p.Mergeable, p.GetMergeableState()
	}
	steps := []struct {
		name   string
		change func()
	}{
		{"create", func() {}},
		{"push to head", func() { _, _ = e.s.Commit(testRepo, "b", map[string]*string{"x": github.String("2")}, "x2") }},
		{"push to base", func() { _, _ = e.s.Commit(testRepo, "main", map[string]*string{"y": github.String("1")}, "y") }},
	}
	for _, st := range steps {
		st.change()
		if m, s := get(); m != nil || s != "unknown" {
			t.Errorf("%s: first GET = %v %q, want null/unknown", st.name, m, s)
		}
		if m, s := get(); m == nil || !*m || s != "clean" {
			t.Errorf("%s: second GET = %v %q, want true/clean", st.name, m, s)
		}
	}
	// Settle finishes the computation without a GET.
	_, _ = e.s.Commit(testRepo, "b", map[string]*string{"x": github.String("3")}, "x3")
	if err := e.s.Settle(testRepo, 1); err != nil {
		t.Fatal(err)
	}
	if m, s := get(); m == nil || s != "clean" {
		t.Errorf("after Settle: %v %q", m, s)
	}
	// On the wire the unknown values are null, as GitHub sends them.
	_, _ = e.s.Commit(testRepo, "b", map[string]*string{"x": github.String("4")}, "x4")
	_, _, raw := e.raw("GET", "/api/v3/repos/acme/gitops/pulls/1", "token "+testStatic, "")
	for _, want := range []string{`"mergeable":null`, `"rebaseable":null`, `"mergeable_state":"unknown"`, `"auto_merge":null`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("first GET lacks %s", want)
		}
	}
	if err := e.s.Settle(testRepo, 99); err == nil {
		t.Error("Settle of a missing PR succeeded")
	}
}

func TestRequiredStatusChecksBlockMerging(t *testing.T) {
	e := newEnv(t)
	gh, _ := e.installationClient()
	if err := e.s.SetPermission(testRepo, "alice", "write"); err != nil {
		t.Fatal(err)
	}
	_, _, err := gh.Repositories.UpdateBranchProtection(e.ctx, "acme", "gitops", "main", &github.ProtectionRequest{
		RequiredStatusChecks: &github.RequiredStatusChecks{Strict: false, Checks: &[]*github.RequiredStatusCheck{{Context: "ci"}, {Context: "promobot/policy"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	rsc, _, err := gh.Repositories.GetRequiredStatusChecks(e.ctx, "acme", "gitops", "main")
	if err != nil || rsc.Strict || len(*rsc.Checks) != 2 || len(*rsc.Contexts) != 2 || (*rsc.Contexts)[1] != "promobot/policy" {
		t.Fatalf("required checks = %v %v", rsc, err)
	}
	n, head := e.openHandPR("bump")
	state := func() string {
		t.Helper()
		if err := e.s.Settle(testRepo, n); err != nil {
			t.Fatal(err)
		}
		p, _, err := gh.PullRequests.Get(e.ctx, "acme", "gitops", n)
		if err != nil {
			t.Fatal(err)
		}
		return p.GetMergeableState()
	}
	merge := func() (int, string) {
		t.Helper()
		_, _, err := gh.PullRequests.Merge(e.ctx, "acme", "gitops", n, "", nil)
		return ghStatus(t, err)
	}
	policy, _ := e.s.CreateCheckRun(testRepo, head, "promobot/policy")
	steps := []struct {
		name  string
		act   func()
		state string
		code  int
		msg   string
	}{
		{"nothing reported", func() {}, "blocked", 405, `Required status check "ci" is expected.`},
		{"ci pending", func() { _ = e.s.SetStatus(testRepo, head, "ci", "pending", "", "ci-bot") }, "blocked", 405, `Required status check "ci" is expected.`},
		{"ci failing", func() { _ = e.s.SetStatus(testRepo, head, "ci", "failure", "", "ci-bot") }, "blocked", 405, `Required status check "ci" is failing.`},
		{"policy running", func() { _ = e.s.SetStatus(testRepo, head, "ci", "success", "", "ci-bot") }, "blocked", 405, `Required status check "promobot/policy" is in progress.`},
		{"policy failed", func() { _ = e.s.CompleteCheckRun(testRepo, policy, "failure") }, "blocked", 405, `Required status check "promobot/policy" is failing.`},
		{"lint (not required) failing", func() {
			_ = e.s.CompleteCheckRun(testRepo, policy, "success")
			_ = e.s.SetStatus(testRepo, head, "lint", "failure", "", "ci-bot")
		}, "unstable", 0, ""},
	}
	for _, st := range steps {
		st.act()
		if got := state(); got != st.state {
			t.Errorf("%s: mergeable_state %q, want %q", st.name, got, st.state)
		}
		if st.code == 0 {
			continue
		}
		if code, msg := merge(); code != st.code || msg != st.msg {
			t.Errorf("%s: merge = %d %q, want %d %q", st.name, code, msg, st.code, st.msg)
		}
	}
	e.wait()
	e.hook.reset()
	if code, msg := merge(); code != 200 {
		t.Fatalf("merge with required checks green = %d %q", code, msg)
	}
	e.wait()
	closed := e.hook.pulls("closed")
	if len(closed) != 1 || !closed[0].GetPullRequest().GetMerged() || len(e.hook.pushes()) != 1 {
		t.Errorf("after merge: %d closed, %d pushes", len(closed), len(e.hook.pushes()))
	}
}

func TestBranchProtectionAPI(t *testing.T) {
	e := newEnv(t)
	auth := "token " + testStatic
	base := "/api/v3/repos/acme/gitops/branches/"
	cases := []struct {
		name, method, path, body string
		code                     int
		msg                      string
	}{
		{"unprotected", "GET", base + "main/protection", "", 404, "Branch not protected"},
		{"no such branch", "PUT", base + "nope/protection", `{}`, 404, "Branch not found"},
		{"malformed", "PUT", base + "main/protection", `{"required_status_checks":`, 400, "Problems parsing JSON"},
		{"missing keys", "PUT", base + "main/protection", `{"required_status_checks":null}`, 422, `"enforce_admins", "required_pull_request_reviews", "restrictions" weren't supplied.`},
		{"checks without strict", "PUT", base + "main/protection", `{"required_status_checks":{"contexts":["ci"]},"enforce_admins":null,"required_pull_request_reviews":null,"restrictions":null}`, 422, `"strict" wasn't supplied.`},
		{"reviews only", "PUT", base + "main/protection", `{"required_status_checks":null,"enforce_admins":null,"required_pull_request_reviews":{"required_approving_review_count":1},"restrictions":null}`, 200, ""},
		{"checks not enabled", "GET", base + "main/protection/required_status_checks", "", 404, "Required status checks not enabled"},
		{"too many approvals", "PUT", base + "main/protection", `{"required_status_checks":null,"enforce_admins":null,"required_pull_request_reviews":{"required_approving_review_count":7},"restrictions":null}`, 422, "between 0 and 6"},
		{"checks", "PUT", base + "main/protection", `{"required_status_checks":{"strict":true,"contexts":["ci"]},"enforce_admins":true,"required_pull_request_reviews":null,"restrictions":null}`, 200, ""},
		{"get", "GET", base + "main/protection", "", 200, ""},
		{"get checks", "GET", base + "main/protection/required_status_checks", "", 200, ""},
		{"delete", "DELETE", base + "main/protection", "", 204, ""},
		{"delete again", "DELETE", base + "main/protection", "", 404, "Branch not protected"},
	}
	for _, tc := range cases {
		code, _, body := e.raw(tc.method, tc.path, auth, tc.body)
		var m struct{ Message string }
		_ = json.Unmarshal(body, &m)
		if code != tc.code || !strings.Contains(m.Message, tc.msg) {
			t.Errorf("%s: %d %q, want %d %q", tc.name, code, m.Message, tc.code, tc.msg)
		}
		if tc.name == "get checks" && !strings.Contains(string(body), `"strict":true`) {
			t.Errorf("get checks = %s", body)
		}
	}
	// Protection set through the API refuses force pushes, as GitHub's default.
	_, _, _ = e.raw("PUT", base+"main/protection", auth, `{"required_status_checks":null,"enforce_admins":null,"required_pull_request_reviews":null,"restrictions":null}`)
	side, _ := e.s.Commit(testRepo, "side", map[string]*string{"z": github.String("1")}, "z")
	if _, err := e.s.Commit(testRepo, "main", map[string]*string{"m": github.String("1")}, "m"); err != nil {
		t.Fatal(err)
	}
	if code, _, body := e.raw("PATCH", "/api/v3/repos/acme/gitops/git/refs/heads/main", auth, `{"sha":"`+side+`","force":true}`); code != 422 {
		t.Errorf("force push onto protected main = %d %s", code, body)
	}
}

func TestStrictChecksAndBehind(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	if err := e.s.RequireChecks(testRepo, "main", true, "ci"); err != nil {
		t.Fatal(err)
	}
	n, head := e.openHandPR("bump")
	_ = e.s.SetStatus(testRepo, head, "ci", "success", "", "ci-bot")
	if _, err := e.s.Commit(testRepo, "main", map[string]*string{"other": github.String("1")}, "base moves"); err != nil {
		t.Fatal(err)
	}
	_ = e.s.Settle(testRepo, n)
	p, _, _ := gh.PullRequests.Get(e.ctx, "acme", "gitops", n)
	if p.GetMergeableState() != "behind" {
		t.Errorf("state = %q, want behind", p.GetMergeableState())
	}
	_, _, err := gh.PullRequests.Merge(e.ctx, "acme", "gitops", n, "", nil)
	if code, msg := ghStatus(t, err); code != 405 || !strings.Contains(msg, "not up to date") {
		t.Errorf("merge behind = %d %q", code, msg)
	}
}

func TestMergeMethodsAndRepoSettings(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	repo, _, err := gh.Repositories.Get(e.ctx, "acme", "gitops")
	if err != nil || !repo.GetAllowMergeCommit() || !repo.GetAllowSquashMerge() || repo.GetAllowAutoMerge() {
		t.Fatalf("defaults = %v %v", repo, err)
	}
	n, _ := e.openHandPR("bump")
	if err := e.s.SetRepoSettings(testRepo, RepoSettings{AllowSquashMerge: true}); err != nil {
		t.Fatal(err)
	}
	for method, want := range map[string]string{"merge": "Merge commits are not allowed on this repository.", "": "Merge commits are not allowed on this repository.",
		"rebase": "Rebase merges are not allowed on this repository."} {
		_, _, err := gh.PullRequests.Merge(e.ctx, "acme", "gitops", n, "", &github.PullRequestOptions{MergeMethod: method})
		if code, msg := ghStatus(t, err); code != 405 || msg != want {
			t.Errorf("%q: %d %q, want 405 %q", method, code, msg, want)
		}
	}
	// The settings go through PATCH /repos too.
	if code, _, body := e.raw("PATCH", "/api/v3/repos/acme/gitops", "token "+testStatic, `{"allow_squash_merge":false}`); code != 422 || !strings.Contains(string(body), "at least one merge strategy") {
		t.Errorf("disallow every method = %d %s", code, body)
	}
	if code, _, body := e.raw("PATCH", "/api/v3/repos/acme/gitops", "token "+testStatic, `{"allow_auto_merge":true,"allow_merge_commit":true}`); code != 200 || !strings.Contains(string(body), `"allow_auto_merge":true`) {
		t.Errorf("allow auto-merge = %d %s", code, body)
	}
	if code, _, _ := e.raw("PATCH", "/api/v3/repos/acme/gitops", "token "+testStatic, `[`); code != 400 {
		t.Errorf("malformed PATCH = %d", code)
	}
	if _, _, err := gh.PullRequests.Merge(e.ctx, "acme", "gitops", n, "", &github.PullRequestOptions{MergeMethod: "squash"}); err != nil {
		t.Fatalf("squash = %v", err)
	}
}

func TestReviewsAndRequiredApprovals(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic) // acts as promobot-user
	if err := e.s.RequireApprovals(testRepo, "main", 1); err != nil {
		t.Fatal(err)
	}
	_ = e.s.SetPermission(testRepo, "bob", "write")
	_ = e.s.SetPermission(testRepo, "promobot-user", "write")
	n, _ := e.openHandPR("bump") // opened by alice
	_, _, err := gh.PullRequests.Merge(e.ctx, "acme", "gitops", n, "", nil)
	if code, msg := ghStatus(t, err); code != 405 || msg != "At least 1 approving review is required by reviewers with write access." {
		t.Fatalf("unreviewed merge = %d %q", code, msg)
	}
	for _, bad := range []struct{ body, want string }{
		{`{"event":"LGTM"}`, "Validation Failed"},
		{`{"event":"REQUEST_CHANGES"}`, "Unprocessable Entity"},
		{`{"event":`, "Problems parsing JSON"},
	} {
		code, _, body := e.raw("POST", "/api/v3/repos/acme/gitops/pulls/1/reviews", "token "+testStatic, bad.body)
		if code == 200 || !strings.Contains(string(body), bad.want) {
			t.Errorf("%s = %d %s", bad.body, code, body)
		}
	}
	e.wait()
	e.hook.reset()
	rv, _, err := gh.PullRequests.CreateReview(e.ctx, "acme", "gitops", n, &github.PullRequestReviewRequest{Event: github.String("APPROVE")})
	if err != nil || rv.GetState() != "APPROVED" {
		t.Fatalf("approve = %v %v", rv, err)
	}
	e.wait()
	got := e.hook.hooksOf("pull_request_review", "submitted")
	if len(got) != 1 || dig(got[0], "review", "state") != "APPROVED" || dig(got[0], "pull_request", "number") != float64(n) {
		t.Fatalf("pull_request_review hooks = %v", got)
	}
	list, _, err := gh.PullRequests.ListReviews(e.ctx, "acme", "gitops", n, nil)
	if err != nil || len(list) != 1 {
		t.Fatalf("reviews = %v %v", list, err)
	}
	if _, _, err := gh.PullRequests.Merge(e.ctx, "acme", "gitops", n, "", nil); err != nil {
		t.Fatalf("approved merge = %v", err)
	}
	// Nobody approves their own pull request.
	n2, err := e.s.OpenPullRequest(testRepo, "main", "main", "x", "", "promobot-user")
	if err == nil {
		t.Fatalf("PR without commits opened: %d", n2)
	}
	_, _ = e.s.Commit(testRepo, "own", map[string]*string{"o": github.String("1")}, "o")
	pr, _, err := gh.PullRequests.Create(e.ctx, "acme", "gitops", &github.NewPullRequest{Title: github.String("own"), Head: github.String("own"), Base: github.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.PullRequests.CreateReview(e.ctx, "acme", "gitops", pr.GetNumber(), &github.PullRequestReviewRequest{Event: github.String("APPROVE")})
	if code, msg := ghStatus(t, err); code != 422 || !strings.Contains(msg, "Unprocessable Entity") {
		t.Errorf("self-approval = %d %q", code, msg)
	}
}
