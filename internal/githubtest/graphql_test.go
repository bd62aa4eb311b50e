package githubtest

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-github/v60/github"
)

const enableAutoMerge = `mutation($id: ID!, $method: PullRequestMergeMethod) {
  enablePullRequestAutoMerge(input: {pullRequestId: $id, mergeMethod: $method}) {
    clientMutationId
    pullRequest { id number autoMergeRequest { mergeMethod enabledBy { login } } }
  }
}`

type gqlAnswer struct {
	Data   map[string]any `json:"data"`
	Errors []struct {
		Type    string `json:"type"`
		Path    []any  `json:"path"`
		Message string `json:"message"`
	} `json:"errors"`
}

func (e *env) graphql(path, auth, query string, vars map[string]any) (int, gqlAnswer, string) {
	e.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query, "variables": vars})
	code, _, raw := e.raw("POST", path, auth, string(body))
	var a gqlAnswer
	_ = json.Unmarshal(raw, &a)
	return code, a, string(raw)
}

func TestGraphQLAutoMergeMergesWhenRequiredChecksPass(t *testing.T) {
	e := newEnv(t)
	gh, itr := e.installationClient()
	if err := e.s.RequireChecks(testRepo, "main", false, "ci", "promobot/policy"); err != nil {
		t.Fatal(err)
	}
	if err := e.s.SetRepoSettings(testRepo, RepoSettings{AllowMergeCommit: true, AllowSquashMerge: true, AllowAutoMerge: true}); err != nil {
		t.Fatal(err)
	}
	head, _ := e.s.Commit(testRepo, "promote/staging", map[string]*string{"apps/payment/overlays/dev/kustomization.yaml": github.String("images:\n- name: registry.example.com/payment\n  newTag: v2\n")}, "promote")
	pr, _, err := gh.PullRequests.Create(e.ctx, "acme", "gitops", &github.NewPullRequest{Title: github.String("Promote"), Head: github.String("promote/staging"), Base: github.String("main")})
	if err != nil {
		t.Fatal(err)
	}
	tok, err := itr.Token(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	auth := "token " + tok
	code, a, raw := e.graphql("/api/graphql", auth, enableAutoMerge, map[string]any{"id": pr.GetNodeID(), "method": "SQUASH"})
	if code != 200 || len(a.Errors) != 0 || dig(a.Data, "enablePullRequestAutoMerge", "pullRequest", "autoMergeRequest", "mergeMethod") != "SQUASH" ||
		dig(a.Data, "enablePullRequestAutoMerge", "pullRequest", "autoMergeRequest", "enabledBy", "login") != "promobot[bot]" {
		t.Fatalf("enable = %d %s", code, raw)
	}
	got, _, err := gh.PullRequests.Get(e.ctx, "acme", "gitops", pr.GetNumber())
	if err != nil || got.GetAutoMerge().GetMergeMethod() != "squash" || got.GetAutoMerge().GetEnabledBy().GetLogin() != "promobot[bot]" {
		t.Fatalf("REST auto_merge = %v %v", got.AutoMerge, err)
	}
	// The optional query reads it back, on github.com's path too.
	q := `query($n: Int!) { repository(owner: "acme", name: "gitops") { autoMergeAllowed pullRequest(number: $n) { id autoMergeRequest { mergeMethod } } } }`
	code, a, raw = e.graphql("/graphql", auth, q, map[string]any{"n": pr.GetNumber()})
	if code != 200 || dig(a.Data, "repository", "pullRequest", "id") != pr.GetNodeID() || dig(a.Data, "repository", "pullRequest", "autoMergeRequest", "mergeMethod") != "SQUASH" {
		t.Fatalf("query = %d %s", code, raw)
	}

	// CI passes, then the policy check: only then does GitHub merge.
	e.wait()
	e.hook.reset()
	if err := e.s.SetStatus(testRepo, head, "ci", "success", "", "ci-bot"); err != nil {
		t.Fatal(err)
	}
	if e.s.PullRequests(testRepo)[0].Merged {
		t.Fatal("merged before the required policy check")
	}
	id, _ := e.s.CreateCheckRun(testRepo, head, "promobot/policy")
	if err := e.s.CompleteCheckRun(testRepo, id, "success"); err != nil {
		t.Fatal(err)
	}
	prs := e.s.PullRequests(testRepo)
	if !prs[0].Merged || prs[0].State != "closed" {
		t.Fatalf("not auto-merged: %+v", prs[0])
	}
	e.wait()
	var order []string
	for _, h := range e.hook.all() {
		order = append(order, h.Event)
	}
	closed := e.hook.pulls("closed")
	if len(closed) != 1 || !closed[0].GetPullRequest().GetMerged() || closed[0].GetSender().GetLogin() != "promobot[bot]" {
		t.Fatalf("closed hooks = %v (events %v)", closed, order)
	}
	pushes := e.hook.pushes()
	if len(pushes) != 1 || pushes[0].GetRef() != "refs/heads/main" || pushes[0].GetAfter() != prs[0].MergeSHA {
		t.Fatalf("push hooks = %v (events %v)", pushes, order)
	}
	if want := "status check_run check_run check_suite pull_request push"; strings.Join(order, " ") != want {
		t.Errorf("events = %v, want %s", order, want)
	}
	// A squash merge has one parent.
	if _, err := e.s.File(testRepo, "main", "apps/payment/overlays/dev/kustomization.yaml"); err != nil {
		t.Fatal(err)
	}
	if errs := CheckCalls(e.s.Calls()); len(errs) > 0 {
		t.Errorf("calls off the spec: %v", errs)
	}
}

func TestGraphQLRefusals(t *testing.T) {
	e := newEnv(t)
	auth := "token " + testStatic
	n, _ := e.openHandPR("bump")
	_ = n
	var node string
	{
		gh := e.tokenClient(testStatic)
		p, _, err := gh.PullRequests.Get(e.ctx, "acme", "gitops", 1)
		if err != nil {
			t.Fatal(err)
		}
		node = p.GetNodeID()
	}
	cases := []struct {
		name     string
		setup    func()
		query    string
		vars     map[string]any
		typ, msg string
		path     string
	}{
		{"auto-merge not allowed", nil, enableAutoMerge, map[string]any{"id": node}, "UNPROCESSABLE", "Auto merge is not allowed for this repository", "enablePullRequestAutoMerge"},
		{"already clean", func() { _ = e.s.SetRepoSettings(testRepo, RepoSettings{AllowMergeCommit: true, AllowAutoMerge: true}) }, enableAutoMerge, map[string]any{"id": node}, "UNPROCESSABLE", "Pull request Pull request is in clean status", "enablePullRequestAutoMerge"},
		{"method not allowed", func() { _ = e.s.RequireChecks(testRepo, "main", false, "ci") }, enableAutoMerge, map[string]any{"id": node, "method": "REBASE"}, "UNPROCESSABLE", "Rebase merges are not allowed on this repository.", "enablePullRequestAutoMerge"},
		{"unknown node", nil, enableAutoMerge, map[string]any{"id": "PR_424242"}, "NOT_FOUND", "Could not resolve to a node with the global id of 'PR_424242'", "enablePullRequestAutoMerge"},
		{"garbage node", nil, enableAutoMerge, map[string]any{"id": "'; DROP TABLE"}, "NOT_FOUND", "Could not resolve to a node", "enablePullRequestAutoMerge"},
		{"unknown repository", nil, `{ repository(owner: "acme", name: "nope") { id } }`, nil, "NOT_FOUND", "Could not resolve to a Repository with the name 'acme/nope'.", "repository"},
		{"unknown pull", nil, `{ repository(owner: "acme", name: "gitops") { pullRequest(number: 99) { id } } }`, nil, "NOT_FOUND", "Could not resolve to a PullRequest with the number of 99.", "repository"},
		{"syntax error", nil, `mutation { enablePullRequestAutoMerge(input: {`, nil, "", "Expected", ""},
		{"unknown field", nil, `{ repository(owner: "acme", name: "gitops") { secrets } }`, nil, "", `Cannot query field "secrets" on type "Repository".`, ""},
		{"missing input", nil, `mutation { enablePullRequestAutoMerge { clientMutationId } }`, nil, "", "input", ""},
		{"bad enum", nil, enableAutoMerge, map[string]any{"id": node, "method": "FAST_FORWARD"}, "", "FAST_FORWARD", ""},
		{"empty query", nil, "", nil, "", "A query attribute must be specified and must be a string.", ""},
		{"oversized query", nil, "{ " + strings.Repeat("__typename ", 8000) + "}", nil, "", "Query is too large", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			code, a, raw := e.graphql("/api/graphql", auth, tc.query, tc.vars)
			if code != 200 || len(a.Errors) == 0 {
				t.Fatalf("= %d %s, want 200 with errors", code, raw)
			}
			er := a.Errors[0]
			if er.Type != tc.typ || !strings.Contains(er.Message, tc.msg) {
				t.Errorf("error = %+v, want %s %q", er, tc.typ, tc.msg)
			}
			if tc.path != "" && (len(er.Path) == 0 || er.Path[0] != tc.path) {
				t.Errorf("path = %v, want %s", er.Path, tc.path)
			}
		})
	}
	if prs := e.s.PullRequests(testRepo); prs[0].Merged {
		t.Fatal("a refused request merged the pull request")
	}
	for _, tc := range []struct {
		name, auth, body string
		code             int
	}{
		{"malformed JSON", auth, `{"query":`, 400},
		{"no credentials", "", `{"query":"{ repository(owner: \"acme\", name: \"gitops\") { id } }"}`, 401},
		{"bad token", "token nope", `{"query":"{ __typename }"}`, 401},
	} {
		if code, _, body := e.raw("POST", "/api/graphql", tc.auth, tc.body); code != tc.code {
			t.Errorf("%s = %d %s, want %d", tc.name, code, body, tc.code)
		}
	}
	if err := CheckGraphQL([]byte(`{"query":"{ viewer { login } }"}`)); err == nil {
		t.Error("CheckGraphQL accepted a field outside the schema")
	}
	ok, _ := json.Marshal(map[string]any{"query": enableAutoMerge, "variables": map[string]any{"id": "PR_1"}})
	if err := CheckGraphQL(ok); err != nil {
		t.Errorf("CheckGraphQL refused the mutation: %v", err)
	}
}

func FuzzGraphQL(f *testing.F) {
	f.Add([]byte(`{"query":"mutation { enablePullRequestAutoMerge(input: {pullRequestId: \"PR_1\"}) { clientMutationId } }"}`))
	f.Add([]byte(`{"query":"{ repository(owner: \"a\", name: \"b\") { pullRequest(number: 1) { id ...on Node { id } } } }"}`))
	f.Add([]byte(`{"query":"query($n: Int!) { repository(owner: \"a\", name: \"b\") { pullRequest(number: $n) { id } } }","variables":{"n":"x"}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		_, _, _, _, _ = parseGraphQL(body)
	})
}
