package githubtest

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"
)

func TestAppTokenExchange(t *testing.T) {
	e := newEnv(t)
	app := e.appClient()
	inst, _, err := app.Apps.GetInstallation(e.ctx, testInstID)
	if err != nil {
		t.Fatal(err)
	}
	if inst.GetID() != testInstID || inst.GetAppID() != testAppID {
		t.Fatalf("installation = %v", inst)
	}
	ri, _, err := app.Apps.FindRepositoryInstallation(e.ctx, "acme", "gitops")
	if err != nil || ri.GetID() != testInstID || ri.GetAccount().GetLogin() != "acme" {
		t.Fatalf("repo installation = %v, %v", ri, err)
	}
	if _, _, err := app.Apps.GetInstallation(e.ctx, 999); err == nil {
		t.Fatal("unknown installation: want 404")
	}
	client, itr := e.installationClient()
	tok, err := itr.Token(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(tok, "ghs_") {
		t.Fatalf("token %q lacks ghs_ prefix", tok)
	}
	repo, _, err := client.Repositories.Get(e.ctx, "acme", "gitops")
	if err != nil {
		t.Fatal(err)
	}
	if repo.GetFullName() != testRepo || repo.GetDefaultBranch() != "main" ||
		repo.GetCloneURL() != e.s.URL()+"/acme/gitops.git" || repo.GetOwner().GetLogin() != "acme" || !repo.GetPrivate() {
		t.Fatalf("repo = %v", repo)
	}
	counts := e.s.CallCounts()
	if counts["POST /app/installations/{installation_id}/access_tokens"] != 1 || counts["GET /repos/{owner}/{repo}"] != 1 {
		t.Fatalf("counts = %v", counts)
	}
	var auths []string
	for _, c := range e.s.Calls() {
		auths = append(auths, c.Auth)
	}
	if want := []string{"app-jwt", "app-jwt", "app-jwt", "app-jwt", "installation"}; !slices.Equal(auths, want) {
		t.Fatalf("auth kinds = %v, want %v", auths, want)
	}
	// A JWT is not an installation token on repository endpoints, and vice versa.
	if _, _, err := app.Repositories.Get(e.ctx, "acme", "gitops"); err == nil {
		t.Fatal("JWT on repo endpoint: want error")
	}
	if code, _ := ghStatus(t, func() error { _, _, err := e.tokenClient(tok).Apps.GetInstallation(e.ctx, testInstID); return err }()); code != 401 {
		t.Fatalf("token on app endpoint = %d, want 401", code)
	}
}

func TestAuthFailures(t *testing.T) {
	e := newEnv(t)
	priv, _ := appKey()
	key, err := jwt.ParseRSAPrivateKeyFromPEM(priv)
	if err != nil {
		t.Fatal(err)
	}
	otherPriv, _, err := GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := jwt.ParseRSAPrivateKeyFromPEM(otherPriv)
	mint := func(k any, iss string, iat, exp time.Time, method jwt.SigningMethod) string {
		tok, err := jwt.NewWithClaims(method, jwt.RegisteredClaims{Issuer: iss, IssuedAt: jwt.NewNumericDate(iat), ExpiresAt: jwt.NewNumericDate(exp)}).SignedString(k)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	now := time.Now()
	id := fmt.Sprint(testAppID)
	tests := []struct {
		name, method, path, auth string
		want                     int
	}{
		{"no auth", "GET", "/api/v3/repos/acme/gitops", "", 401},
		{"bad token", "GET", "/api/v3/repos/acme/gitops", "token nope", 401},
		{"bad scheme", "GET", "/api/v3/repos/acme/gitops", "Basic " + testStatic, 401},
		{"static ok", "GET", "/api/v3/repos/acme/gitops", "token " + testStatic, 200},
		{"static bearer ok", "GET", "/api/v3/repos/acme/gitops", "Bearer " + testStatic, 200},
		{"valid jwt", "GET", "/api/v3/app/installations/77", "Bearer " + mint(key, id, now.Add(-30*time.Second), now.Add(2*time.Minute), jwt.SigningMethodRS256), 200},
		{"jwt too long", "GET", "/api/v3/app/installations/77", "Bearer " + mint(key, id, now.Add(-time.Minute), now.Add(10*time.Minute), jwt.SigningMethodRS256), 401},
		{"jwt expired", "GET", "/api/v3/app/installations/77", "Bearer " + mint(key, id, now.Add(-5*time.Minute), now.Add(-time.Minute), jwt.SigningMethodRS256), 401},
		{"jwt wrong issuer", "GET", "/api/v3/app/installations/77", "Bearer " + mint(key, "1", now, now.Add(time.Minute), jwt.SigningMethodRS256), 401},
		{"jwt wrong key", "GET", "/api/v3/app/installations/77", "Bearer " + mint(otherKey, id, now, now.Add(time.Minute), jwt.SigningMethodRS256), 401},
		{"jwt hs256", "GET", "/api/v3/app/installations/77", "Bearer " + mint([]byte("k"), id, now, now.Add(time.Minute), jwt.SigningMethodHS256), 401},
		{"jwt garbage", "GET", "/api/v3/app/installations/77", "Bearer a.b.c", 401},
		{"static on app endpoint", "GET", "/api/v3/app/installations/77", "token " + testStatic, 401},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, h, body := e.raw(tc.method, tc.path, tc.auth, "")
			if code != tc.want {
				t.Fatalf("status = %d, want %d (%s)", code, tc.want, body)
			}
			if h.Get("X-RateLimit-Limit") == "" || h.Get("X-RateLimit-Remaining") == "" || h.Get("X-RateLimit-Reset") == "" || h.Get("X-GitHub-Request-Id") == "" {
				t.Fatalf("missing GitHub headers: %v", h)
			}
			if code == 401 {
				var m map[string]string
				if err := json.Unmarshal(body, &m); err != nil || m["message"] == "" || m["documentation_url"] == "" {
					t.Fatalf("error body = %s", body)
				}
			}
		})
	}
}

func TestNotFound(t *testing.T) {
	e := newEnv(t)
	auth := "token " + testStatic
	tests := []struct{ name, method, path string }{
		{"unrouted", "GET", "/api/v3/nonsense"},
		{"wrong method", "DELETE", "/api/v3/repos/acme/gitops/pulls"},
		{"unknown repo", "GET", "/api/v3/repos/acme/nope"},
		{"missing file", "GET", "/api/v3/repos/acme/gitops/contents/nope.yaml"},
		{"missing ref", "GET", "/api/v3/repos/acme/gitops/git/ref/heads/nope"},
		{"missing pull", "GET", "/api/v3/repos/acme/gitops/pulls/99"},
		{"bad pull number", "GET", "/api/v3/repos/acme/gitops/pulls/abc"},
		{"missing commit", "GET", "/api/v3/repos/acme/gitops/git/commits/0123456789012345678901234567890123456789"},
		{"missing team member", "GET", "/api/v3/orgs/acme/teams/leads/memberships/bob"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := e.raw(tc.method, tc.path, auth, "")
			var m map[string]string
			if code != 404 || json.Unmarshal(body, &m) != nil || m["message"] == "" {
				t.Fatalf("got %d %s, want 404 JSON", code, body)
			}
		})
	}
}

func TestGitDataCommitFlow(t *testing.T) {
	e := newEnv(t)
	gh, itr := e.installationClient()
	ctx := e.ctx
	base, _, err := gh.Git.GetRef(ctx, "acme", "gitops", "heads/main")
	if err != nil {
		t.Fatal(err)
	}
	baseCommit, _, err := gh.Git.GetCommit(ctx, "acme", "gitops", base.GetObject().GetSHA())
	if err != nil {
		t.Fatal(err)
	}
	blob, _, err := gh.Git.CreateBlob(ctx, "acme", "gitops", &github.Blob{Content: github.String(base64.StdEncoding.EncodeToString([]byte("binary\x00data"))), Encoding: github.String("base64")})
	if err != nil {
		t.Fatal(err)
	}
	gb, _, err := gh.Git.GetBlob(ctx, "acme", "gitops", blob.GetSHA())
	if err != nil {
		t.Fatal(err)
	}
	if dec, _ := base64.StdEncoding.DecodeString(strings.ReplaceAll(gb.GetContent(), "\n", "")); string(dec) != "binary\x00data" {
		t.Fatalf("blob round trip = %q", dec)
	}
	newKust := "images:\n- name: registry.example.com/payment\n  newTag: v1.1.0\n"
	tree, _, err := gh.Git.CreateTree(ctx, "acme", "gitops", baseCommit.GetTree().GetSHA(), []*github.TreeEntry{
		{Path: github.String("apps/payment/overlays/dev/kustomization.yaml"), Mode: github.String("100644"), Type: github.String("blob"), Content: github.String(newKust)},
		{Path: github.String("apps/new/deep/file.bin"), Mode: github.String("100644"), Type: github.String("blob"), SHA: blob.SHA},
		{Path: github.String("README.md"), Mode: github.String("100644"), Type: github.String("blob")}, // sha: null deletes
	})
	if err != nil {
		t.Fatal(err)
	}
	commit, _, err := gh.Git.CreateCommit(ctx, "acme", "gitops", &github.Commit{Message: github.String("promote payment"), Tree: &github.Tree{SHA: tree.SHA}, Parents: []*github.Commit{{SHA: base.Object.SHA}}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !commit.GetVerification().GetVerified() || commit.GetAuthor().GetName() != "promobot[bot]" {
		t.Fatalf("commit = %v", commit)
	}
	ref, _, err := gh.Git.CreateRef(ctx, "acme", "gitops", &github.Reference{Ref: github.String("refs/heads/promote/payment-dev"), Object: &github.GitObject{SHA: commit.SHA}})
	if err != nil {
		t.Fatal(err)
	}
	if ref.GetObject().GetSHA() != commit.GetSHA() {
		t.Fatalf("ref = %v", ref)
	}
	fc, _, _, err := gh.Repositories.GetContents(ctx, "acme", "gitops", "apps/payment/overlays/dev/kustomization.yaml", &github.RepositoryContentGetOptions{Ref: "promote/payment-dev"})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := fc.GetContent(); got != newKust {
		t.Fatalf("contents = %q", got)
	}
	_, _, resp, err := gh.Repositories.GetContents(ctx, "acme", "gitops", "README.md", &github.RepositoryContentGetOptions{Ref: "promote/payment-dev"})
	if err == nil || resp.StatusCode != 404 {
		t.Fatalf("deleted file: %v", err)
	}
	_, dir, _, err := gh.Repositories.GetContents(ctx, "acme", "gitops", "apps", &github.RepositoryContentGetOptions{Ref: "promote/payment-dev"})
	if err != nil || len(dir) != 2 {
		t.Fatalf("dir listing = %v, %v", dir, err)
	}
	full, _, err := gh.Git.GetTree(ctx, "acme", "gitops", tree.GetSHA(), true)
	if err != nil {
		t.Fatal(err)
	}
	var paths []string
	for _, te := range full.Entries {
		if te.GetType() == "blob" {
			paths = append(paths, te.GetPath())
		}
	}
	want := []string{"apps/new/deep/file.bin", "apps/payment/overlays/dev/kustomization.yaml", "apps/payment/overlays/prod/kustomization.yaml"}
	if !slices.Equal(paths, want) {
		t.Fatalf("tree paths = %v, want %v", paths, want)
	}

	// A real git client clones over smart HTTP with the installation token.
	tok, err := itr.Token(ctx)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(t.TempDir(), "clone")
	u := strings.Replace(e.s.URL(), "http://", "http://x-access-token:"+tok+"@", 1) + "/acme/gitops.git"
	if _, err := runGit(ctx, t.TempDir(), nil, "clone", "--quiet", "--branch", "promote/payment-dev", u, dst); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(filepath.Join(dst, "apps/payment/overlays/dev/kustomization.yaml"))
	if err != nil || string(got) != newKust {
		t.Fatalf("cloned file = %q, %v", got, err)
	}
	if _, err := runGit(ctx, t.TempDir(), nil, "clone", "--quiet", e.s.URL()+"/acme/gitops.git", filepath.Join(t.TempDir(), "x")); err == nil {
		t.Fatal("clone without credentials succeeded")
	}

	e.wait()
	pushes := e.hook.pushes()
	if len(pushes) != 1 {
		t.Fatalf("pushes = %d, want 1", len(pushes))
	}
	p := pushes[0]
	if p.GetRef() != "refs/heads/promote/payment-dev" || !p.GetCreated() || p.GetDeleted() || p.GetAfter() != commit.GetSHA() ||
		p.GetInstallation().GetID() != testInstID || p.GetRepo().GetFullName() != testRepo || p.GetSender().GetType() != "Bot" {
		t.Fatalf("push = %v", p)
	}
	if len(p.Commits) != 1 {
		t.Fatalf("commits = %v", p.Commits)
	}
	hc := p.GetHeadCommit()
	if !slices.Equal(hc.Added, []string{"apps/new/deep/file.bin"}) || !slices.Equal(hc.Removed, []string{"README.md"}) ||
		!slices.Equal(hc.Modified, []string{"apps/payment/overlays/dev/kustomization.yaml"}) {
		t.Fatalf("head commit files = %v %v %v", hc.Added, hc.Removed, hc.Modified)
	}
	if errs := CheckCalls(e.s.Calls()); len(errs) > 0 {
		t.Fatalf("undocumented calls: %v", errs)
	}
}

func TestRefUpdates(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	ctx := e.ctx
	main := e.s.Branches(testRepo)["main"]
	c1, err := e.s.Commit(testRepo, "feature", map[string]*string{"a.txt": github.String("1\n")}, "one")
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = gh.Git.CreateRef(ctx, "acme", "gitops", &github.Reference{Ref: github.String("refs/heads/feature"), Object: &github.GitObject{SHA: github.String(main)}})
	if code, msg := ghStatus(t, err); code != 422 || msg != "Reference already exists" {
		t.Fatalf("create existing = %d %q", code, msg)
	}
	_, _, err = gh.Git.CreateRef(ctx, "acme", "gitops", &github.Reference{Ref: github.String("refs/heads/x"), Object: &github.GitObject{SHA: github.String(strings.Repeat("ab", 20))}})
	if code, _ := ghStatus(t, err); code != 422 {
		t.Fatalf("create with missing object = %d", code)
	}
	// Moving feature back to main is not a fast-forward.
	_, _, err = gh.Git.UpdateRef(ctx, "acme", "gitops", &github.Reference{Ref: github.String("heads/feature"), Object: &github.GitObject{SHA: github.String(main)}}, false)
	if code, msg := ghStatus(t, err); code != 422 || msg != "Update is not a fast forward" {
		t.Fatalf("non-ff update = %d %q", code, msg)
	}
	if _, _, err := gh.Git.UpdateRef(ctx, "acme", "gitops", &github.Reference{Ref: github.String("heads/feature"), Object: &github.GitObject{SHA: github.String(main)}}, true); err != nil {
		t.Fatal(err)
	}
	refs, _, err := gh.Git.ListMatchingRefs(ctx, "acme", "gitops", &github.ReferenceListOptions{Ref: "heads/feat"})
	if err != nil || len(refs) != 1 || refs[0].GetObject().GetSHA() != main {
		t.Fatalf("matching refs = %v, %v", refs, err)
	}
	if _, err := gh.Git.DeleteRef(ctx, "acme", "gitops", "heads/feature"); err != nil {
		t.Fatal(err)
	}
	_, err = gh.Git.DeleteRef(ctx, "acme", "gitops", "heads/feature")
	if code, _ := ghStatus(t, err); code != 422 {
		t.Fatalf("delete missing = %d", code)
	}
	e.wait()
	pushes := e.hook.pushes()
	if len(pushes) != 3 {
		t.Fatalf("pushes = %d, want 3 (commit, force, delete)", len(pushes))
	}
	if !pushes[0].GetCreated() || pushes[0].GetAfter() != c1 || len(pushes[0].Commits) != 1 || !slices.Equal(pushes[0].Commits[0].Added, []string{"a.txt"}) {
		t.Fatalf("commit push = %v", pushes[0])
	}
	if !pushes[1].GetForced() || pushes[1].GetBefore() != c1 || pushes[1].GetAfter() != main {
		t.Fatalf("forced push = %v", pushes[1])
	}
	if !pushes[2].GetDeleted() || pushes[2].GetAfter() != strings.Repeat("0", 40) || pushes[2].HeadCommit != nil {
		t.Fatalf("delete push = %v", pushes[2])
	}
}

func TestPullRequestLifecycle(t *testing.T) {
	e := newEnv(t)
	gh, _ := e.installationClient()
	ctx := e.ctx
	edit := "images:\n- name: registry.example.com/payment\n  newTag: v1.0.0\n"
	head, err := e.s.Commit(testRepo, "promote/payment-prod", map[string]*string{
		"apps/payment/overlays/prod/kustomization.yaml": &edit,
		"CHANGELOG.md": github.String("v1.0.0\n"),
	}, "promote payment to prod")
	if err != nil {
		t.Fatal(err)
	}
	newPR := &github.NewPullRequest{Title: github.String("Promote payment to prod"), Head: github.String("promote/payment-prod"), Base: github.String("main"), Body: github.String("ticket PAY-1")}
	pr, _, err := gh.PullRequests.Create(ctx, "acme", "gitops", newPR)
	if err != nil {
		t.Fatal(err)
	}
	if pr.GetNumber() != 1 || pr.GetHead().GetSHA() != head || pr.GetHTMLURL() != e.s.URL()+"/acme/gitops/pull/1" || pr.GetUser().GetLogin() != "promobot[bot]" {
		t.Fatalf("pr = %v", pr)
	}
	_, _, err = gh.PullRequests.Create(ctx, "acme", "gitops", newPR)
	if code, msg := ghStatus(t, err); code != 422 || !strings.Contains(msg, "A pull request already exists for acme:promote/payment-prod.") {
		t.Fatalf("duplicate = %d %q", code, msg)
	}
	_, _, err = gh.PullRequests.Create(ctx, "acme", "gitops", &github.NewPullRequest{Title: github.String("x"), Head: github.String("main"), Base: github.String("main")})
	if code, msg := ghStatus(t, err); code != 422 || !strings.Contains(msg, "No commits between main and main") {
		t.Fatalf("no commits = %d %q", code, msg)
	}
	list, _, err := gh.PullRequests.List(ctx, "acme", "gitops", &github.PullRequestListOptions{Head: "acme:promote/payment-prod", Base: "main"})
	if err != nil || len(list) != 1 || list[0].GetNumber() != 1 {
		t.Fatalf("list by head = %v, %v", list, err)
	}
	list, _, _ = gh.PullRequests.List(ctx, "acme", "gitops", &github.PullRequestListOptions{Head: "acme:other"})
	if len(list) != 0 {
		t.Fatalf("list by other head = %v", list)
	}
	if _, _, err := gh.PullRequests.Edit(ctx, "acme", "gitops", 1, &github.PullRequest{Title: github.String("Promote payment v1.0.0 to prod")}); err != nil {
		t.Fatal(err)
	}
	// Reviewers must be collaborators or known teams.
	_, _, err = gh.PullRequests.RequestReviewers(ctx, "acme", "gitops", 1, github.ReviewersRequest{Reviewers: []string{"mallory"}})
	if code, _ := ghStatus(t, err); code != 422 {
		t.Fatalf("unknown reviewer = %d", code)
	}
	if err := e.s.SetPermission(testRepo, "alice", "write"); err != nil {
		t.Fatal(err)
	}
	e.s.AddTeamMember("acme", "payments-leads", "alice")
	if _, _, err := gh.PullRequests.RequestReviewers(ctx, "acme", "gitops", 1, github.ReviewersRequest{Reviewers: []string{"alice"}, TeamReviewers: []string{"payments-leads"}}); err != nil {
		t.Fatal(err)
	}
	rv, _, err := gh.PullRequests.ListReviewers(ctx, "acme", "gitops", 1, nil)
	if err != nil || len(rv.Users) != 1 || rv.Users[0].GetLogin() != "alice" || len(rv.Teams) != 1 || rv.Teams[0].GetSlug() != "payments-leads" {
		t.Fatalf("reviewers = %v, %v", rv, err)
	}
	if _, _, err := gh.Issues.AddLabelsToIssue(ctx, "acme", "gitops", 1, []string{"promotion", "env:prod"}); err != nil {
		t.Fatal(err)
	}

	// Statuses drive mergeable_state.
	mergeState := func() string {
		t.Helper()
		if err := e.s.Settle(testRepo, 1); err != nil {
			t.Fatal(err)
		}
		p, _, err := gh.PullRequests.Get(ctx, "acme", "gitops", 1)
		if err != nil {
			t.Fatal(err)
		}
		if !p.GetMergeable() {
			t.Fatalf("pr not mergeable: %v", p)
		}
		return p.GetMergeableState()
	}
	if st := mergeState(); st != "clean" {
		t.Fatalf("no statuses: state %q, want clean", st)
	}
	if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "gitops", head, &github.RepoStatus{State: github.String("pending"), Context: github.String("ci")}); err != nil {
		t.Fatal(err)
	}
	if st := mergeState(); st != "unstable" {
		t.Fatalf("pending status (not required): state %q, want unstable", st)
	}
	if _, _, err := gh.Repositories.CreateStatus(ctx, "acme", "gitops", head, &github.RepoStatus{State: github.String("success"), Context: github.String("ci")}); err != nil {
		t.Fatal(err)
	}
	if st := mergeState(); st != "clean" {
		t.Fatalf("success status: state %q, want clean", st)
	}
	cs, _, err := gh.Repositories.GetCombinedStatus(ctx, "acme", "gitops", "promote/payment-prod", nil)
	if err != nil || cs.GetState() != "success" || cs.GetTotalCount() != 1 {
		t.Fatalf("combined = %v, %v", cs, err)
	}

	files, _, err := gh.PullRequests.ListFiles(ctx, "acme", "gitops", 1, nil)
	if err != nil || len(files) != 2 {
		t.Fatalf("files = %v, %v", files, err)
	}
	if files[0].GetFilename() != "CHANGELOG.md" || files[0].GetStatus() != "added" || files[1].GetStatus() != "modified" ||
		files[1].GetAdditions() != 1 || files[1].GetDeletions() != 1 || !strings.Contains(files[1].GetPatch(), "+  newTag: v1.0.0") {
		t.Fatalf("files = %v", files)
	}

	_, _, err = gh.PullRequests.Merge(ctx, "acme", "gitops", 1, "", &github.PullRequestOptions{SHA: strings.Repeat("1", 40)})
	if code, _ := ghStatus(t, err); code != 409 {
		t.Fatalf("merge with stale sha = %d, want 409", code)
	}
	e.wait()
	e.hook.reset()
	res, _, err := gh.PullRequests.Merge(ctx, "acme", "gitops", 1, "", &github.PullRequestOptions{SHA: head})
	if err != nil || !res.GetMerged() {
		t.Fatalf("merge = %v, %v", res, err)
	}
	mc, _, err := gh.Git.GetCommit(ctx, "acme", "gitops", res.GetSHA())
	if err != nil {
		t.Fatal(err)
	}
	if len(mc.Parents) != 2 || mc.Parents[1].GetSHA() != head || mc.GetMessage() != "Merge pull request #1 from acme/promote/payment-prod\n\nPromote payment v1.0.0 to prod" {
		t.Fatalf("merge commit = %v", mc)
	}
	if got, _ := e.s.File(testRepo, "main", "apps/payment/overlays/prod/kustomization.yaml"); string(got) != edit {
		t.Fatalf("main after merge = %q", got)
	}
	_, _, err = gh.PullRequests.Merge(ctx, "acme", "gitops", 1, "", nil)
	if code, _ := ghStatus(t, err); code != 405 {
		t.Fatalf("second merge = %d, want 405", code)
	}

	e.wait()
	closed := e.hook.pulls("closed")
	if len(closed) != 1 || !closed[0].GetPullRequest().GetMerged() || closed[0].GetPullRequest().GetMergeCommitSHA() != res.GetSHA() ||
		closed[0].GetPullRequest().GetMergedBy().GetLogin() != "promobot[bot]" || closed[0].GetInstallation().GetID() != testInstID {
		t.Fatalf("closed events = %v", closed)
	}
	pushes := e.hook.pushes()
	if len(pushes) != 1 {
		t.Fatalf("pushes = %d, want 1", len(pushes))
	}
	p := pushes[0]
	if p.GetRef() != "refs/heads/main" || p.GetAfter() != res.GetSHA() || p.GetForced() || p.GetCreated() {
		t.Fatalf("merge push = %v", p)
	}
	if hc := p.GetHeadCommit(); !slices.Equal(hc.Added, []string{"CHANGELOG.md"}) || !slices.Equal(hc.Modified, []string{"apps/payment/overlays/prod/kustomization.yaml"}) {
		t.Fatalf("merge push files: added %v modified %v", hc.Added, hc.Modified)
	}
	if len(p.Commits) != 2 || p.Commits[0].GetID() != head {
		t.Fatalf("merge push commits = %v", p.Commits)
	}
	prs := e.s.PullRequests(testRepo)
	if len(prs) != 1 || !prs[0].Merged || prs[0].State != "closed" || !slices.Equal(prs[0].Labels, []string{"promotion", "env:prod"}) ||
		!slices.Equal(prs[0].Reviewers, []string{"alice"}) || prs[0].MergeSHA != res.GetSHA() {
		t.Fatalf("snapshot = %+v", prs)
	}
	if errs := CheckCalls(e.s.Calls()); len(errs) > 0 {
		t.Fatalf("undocumented calls: %v", errs)
	}
}

func TestPullRequestEvents(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	ctx := e.ctx
	if _, err := e.s.Commit(testRepo, "b", map[string]*string{"x": github.String("1")}, "x"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.PullRequests.Create(ctx, "acme", "gitops", &github.NewPullRequest{Title: github.String("t"), Head: github.String("b"), Base: github.String("main")}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.PullRequests.Edit(ctx, "acme", "gitops", 1, &github.PullRequest{Body: github.String("new body")}); err != nil {
		t.Fatal(err)
	}
	second, err := e.s.Commit(testRepo, "b", map[string]*string{"x": github.String("2")}, "y")
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.PullRequests.Edit(ctx, "acme", "gitops", 1, &github.PullRequest{State: github.String("closed")}); err != nil {
		t.Fatal(err)
	}
	e.wait()
	var actions []string
	for _, ev := range e.hook.pulls("") {
		actions = append(actions, ev.GetAction())
		if ev.GetSender().GetLogin() != "promobot-user" && ev.GetAction() != "synchronize" {
			t.Errorf("%s sender = %v", ev.GetAction(), ev.GetSender())
		}
		if ev.GetAction() == "synchronize" && (ev.GetAfter() != second || ev.GetPullRequest().GetHead().GetSHA() != second) {
			t.Errorf("synchronize = %v", ev)
		}
		if ev.GetAction() == "edited" && ev.GetChanges().GetBody().GetFrom() != "" {
			t.Errorf("edited changes = %v", ev.GetChanges())
		}
		if ev.GetAction() == "closed" && ev.GetPullRequest().GetMerged() {
			t.Errorf("closed without merge marked merged")
		}
	}
	if want := []string{"opened", "edited", "synchronize", "closed"}; !slices.Equal(actions, want) {
		t.Fatalf("actions = %v, want %v", actions, want)
	}
}

func TestMergeConflict(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	if _, err := e.s.Commit(testRepo, "b", map[string]*string{"README.md": github.String("branch\n")}, "b"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.Commit(testRepo, "main", map[string]*string{"README.md": github.String("main\n")}, "m"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.PullRequests.Create(e.ctx, "acme", "gitops", &github.NewPullRequest{Title: github.String("t"), Head: github.String("acme:b"), Base: github.String("main")}); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Settle(testRepo, 1); err != nil {
		t.Fatal(err)
	}
	pr, _, err := gh.PullRequests.Get(e.ctx, "acme", "gitops", 1)
	if err != nil || pr.GetMergeable() || pr.GetMergeableState() != "dirty" {
		t.Fatalf("pr = %v %v", pr.Mergeable, pr.MergeableState)
	}
	_, _, err = gh.PullRequests.Merge(e.ctx, "acme", "gitops", 1, "", nil)
	if code, msg := ghStatus(t, err); code != 405 || msg != "Pull Request is not mergeable" {
		t.Fatalf("merge = %d %q", code, msg)
	}
	if _, err := e.s.Merge(testRepo, 1, "alice"); err == nil {
		t.Fatal("helper merge of conflicting PR succeeded")
	}
}

func TestIssuesCommentsReactions(t *testing.T) {
	e := newEnv(t)
	gh, _ := e.installationClient()
	ctx := e.ctx
	n, err := e.s.CreateIssue(testRepo, "promote please", "carol")
	if err != nil {
		t.Fatal(err)
	}
	id, err := e.s.Comment(testRepo, n, "carol", "/promote prod PAY-7")
	if err != nil {
		t.Fatal(err)
	}
	is, _, err := gh.Issues.Get(ctx, "acme", "gitops", n)
	if err != nil || is.GetTitle() != "promote please" || is.IsPullRequest() {
		t.Fatalf("issue = %v, %v", is, err)
	}
	re, resp, err := gh.Reactions.CreateIssueCommentReaction(ctx, "acme", "gitops", id, "eyes")
	if err != nil || resp.StatusCode != 201 || re.GetContent() != "eyes" {
		t.Fatalf("reaction = %v, %v", re, err)
	}
	_, resp, err = gh.Reactions.CreateIssueCommentReaction(ctx, "acme", "gitops", id, "eyes")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("repeated reaction status = %v, %v", resp.StatusCode, err)
	}
	_, _, err = gh.Reactions.CreateIssueCommentReaction(ctx, "acme", "gitops", id, "thumbs")
	if code, _ := ghStatus(t, err); code != 422 {
		t.Fatalf("bad reaction = %d", code)
	}
	if got := e.s.Reactions(id); len(got) != 1 || got[0].User != "promobot[bot]" {
		t.Fatalf("reactions = %v", got)
	}
	c, _, err := gh.Issues.CreateComment(ctx, "acme", "gitops", n, &github.IssueComment{Body: github.String("Queued.")})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.Issues.EditComment(ctx, "acme", "gitops", c.GetID(), &github.IssueComment{Body: github.String("Done.")}); err != nil {
		t.Fatal(err)
	}
	list, _, err := gh.Issues.ListComments(ctx, "acme", "gitops", n, nil)
	if err != nil || len(list) != 2 || list[1].GetBody() != "Done." || list[1].GetUser().GetType() != "Bot" {
		t.Fatalf("comments = %v, %v", list, err)
	}
	if got := e.s.Comments(testRepo, n); len(got) != 2 || got[0].User != "carol" {
		t.Fatalf("snapshot comments = %v", got)
	}
	if _, _, err := gh.Issues.AddLabelsToIssue(ctx, "acme", "gitops", n, []string{"a", "b", "a"}); err != nil {
		t.Fatal(err)
	}
	labels, _, err := gh.Issues.ListLabelsByIssue(ctx, "acme", "gitops", n, nil)
	if err != nil || len(labels) != 2 {
		t.Fatalf("labels = %v, %v", labels, err)
	}
	e.wait()
	var senders []string
	for _, h := range e.hook.all() {
		if h.Event != "issue_comment" {
			continue
		}
		var ev github.IssueCommentEvent
		if err := json.Unmarshal(h.Body, &ev); err != nil {
			t.Fatal(err)
		}
		senders = append(senders, ev.GetAction()+":"+ev.GetSender().GetLogin()+":"+ev.GetSender().GetType())
		if ev.GetIssue().GetNumber() != n || ev.GetInstallation().GetID() != testInstID {
			t.Errorf("event = %v", ev)
		}
	}
	if want := []string{"created:carol:User", "created:promobot[bot]:Bot", "edited:promobot[bot]:Bot"}; !slices.Equal(senders, want) {
		t.Fatalf("issue_comment events = %v, want %v", senders, want)
	}
}

func TestPermissionsAndTeams(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	for user, role := range map[string]string{"admin1": "admin", "maint": "maintain", "dev": "write", "tri": "triage", "reader": "read"} {
		if err := e.s.SetPermission(testRepo, user, role); err != nil {
			t.Fatal(err)
		}
	}
	if err := e.s.SetPermission(testRepo, "x", "owner"); err == nil {
		t.Fatal("unknown role accepted")
	}
	tests := []struct{ user, perm, role string }{
		{"admin1", "admin", "admin"}, {"maint", "write", "maintain"}, {"dev", "write", "write"},
		{"tri", "read", "triage"}, {"reader", "read", "read"}, {"stranger", "none", ""},
	}
	for _, tc := range tests {
		lvl, _, err := gh.Repositories.GetPermissionLevel(e.ctx, "acme", "gitops", tc.user)
		if err != nil || lvl.GetPermission() != tc.perm || lvl.GetUser().GetRoleName() != tc.role {
			t.Errorf("%s: %v %v, want %s/%s", tc.user, lvl, err, tc.perm, tc.role)
		}
	}
	e.s.AddTeamMember("acme", "leads", "dev")
	m, _, err := gh.Teams.GetTeamMembershipBySlug(e.ctx, "acme", "leads", "dev")
	if err != nil || m.GetState() != "active" {
		t.Fatalf("membership = %v, %v", m, err)
	}
	_, _, err = gh.Teams.GetTeamMembershipBySlug(e.ctx, "acme", "leads", "reader")
	if code, _ := ghStatus(t, err); code != 404 {
		t.Fatalf("non-member = %d", code)
	}
}

func TestFaultInjection(t *testing.T) {
	e := newEnv(t)
	tests := []struct {
		name  string
		fault *Fault
		check func(error) bool
	}{
		{"bad gateway", &Fault{Status: 502}, func(err error) bool { c, _ := ghStatus(t, err); return c == 502 }},
		{"secondary rate limit", SecondaryRateLimitFault(30 * time.Second),
			func(err error) bool {
				var ae *github.AbuseRateLimitError
				return asErr(err, &ae) && ae.GetRetryAfter() == 30*time.Second
			}},
		{"primary rate limit", PrimaryRateLimitFault(time.Now().Add(time.Hour)),
			func(err error) bool { var re *github.RateLimitError; return asErr(err, &re) && re.Rate.Remaining == 0 }},
		{"custom body", &Fault{Status: 500, Body: "oops"}, func(err error) bool { c, _ := ghStatus(t, err); return c == 500 }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e.s.ResetCalls()
			e.s.SetFault(func(c Call) *Fault {
				if c.Route == "GET /repos/{owner}/{repo}/pulls" {
					return tc.fault
				}
				return nil
			})
			defer e.s.SetFault(nil)
			// go-github remembers rate limits per client, so each case gets its own.
			_, _, err := e.tokenClient(testStatic).PullRequests.List(e.ctx, "acme", "gitops", nil)
			if err == nil || !tc.check(err) {
				t.Fatalf("err = %v", err)
			}
			if _, _, err := e.tokenClient(testStatic).Repositories.Get(e.ctx, "acme", "gitops"); err != nil {
				t.Fatalf("unfaulted route failed: %v", err)
			}
			calls := e.s.Calls()
			if len(calls) != 2 || calls[0].Status != tc.fault.Status || calls[1].Status != 200 || calls[0].Auth != "static" {
				t.Fatalf("calls = %+v", calls)
			}
		})
	}
	if _, _, err := e.tokenClient(testStatic).PullRequests.List(e.ctx, "acme", "gitops", nil); err != nil {
		t.Fatalf("after clearing fault: %v", err)
	}
}

func TestHostileInput(t *testing.T) {
	e := newEnv(t)
	auth := "token " + testStatic
	e.s.maxBody.Store(1 << 16)
	main := e.s.Branches(testRepo)["main"]
	tests := []struct {
		name, method, path, body string
		want                     int
	}{
		{"malformed json", "POST", "/api/v3/repos/acme/gitops/git/trees", `{"tree":`, 400},
		{"empty body", "POST", "/api/v3/repos/acme/gitops/pulls", ``, 400},
		{"wrong types", "POST", "/api/v3/repos/acme/gitops/git/refs", `{"ref":1,"sha":[]}`, 400},
		{"dotdot path", "POST", "/api/v3/repos/acme/gitops/git/trees", `{"tree":[{"path":"../x","mode":"100644","type":"blob","content":"x"}]}`, 422},
		{".git path", "POST", "/api/v3/repos/acme/gitops/git/trees", `{"tree":[{"path":"a/.git/config","mode":"100644","type":"blob","content":"x"}]}`, 422},
		{"absolute path", "POST", "/api/v3/repos/acme/gitops/git/trees", `{"tree":[{"path":"/etc/passwd","mode":"100644","type":"blob","content":"x"}]}`, 422},
		{"bad mode", "POST", "/api/v3/repos/acme/gitops/git/trees", `{"tree":[{"path":"x","mode":"777","type":"blob","content":"x"}]}`, 422},
		{"sha and content", "POST", "/api/v3/repos/acme/gitops/git/trees", `{"tree":[{"path":"x","mode":"100644","type":"blob","content":"x","sha":"` + main + `"}]}`, 422},
		{"commit sha as blob", "POST", "/api/v3/repos/acme/gitops/git/trees", `{"tree":[{"path":"x","mode":"100644","type":"blob","sha":"` + main + `"}]}`, 422},
		{"bad base tree", "POST", "/api/v3/repos/acme/gitops/git/trees", `{"base_tree":"zz","tree":[]}`, 422},
		{"bad base64", "POST", "/api/v3/repos/acme/gitops/git/blobs", `{"content":"!!!","encoding":"base64"}`, 422},
		{"commit with bad tree", "POST", "/api/v3/repos/acme/gitops/git/commits", `{"message":"m","tree":"` + main + `"}`, 422},
		{"commit without message", "POST", "/api/v3/repos/acme/gitops/git/commits", `{"tree":"` + main + `"}`, 422},
		{"ref without refs/", "POST", "/api/v3/repos/acme/gitops/git/refs", `{"ref":"heads/x","sha":"` + main + `"}`, 422},
		{"ref with ..", "POST", "/api/v3/repos/acme/gitops/git/refs", `{"ref":"refs/heads/a..b","sha":"` + main + `"}`, 422},
		{"pull without head", "POST", "/api/v3/repos/acme/gitops/pulls", `{"title":"t","base":"main"}`, 422},
		{"pull from fork", "POST", "/api/v3/repos/acme/gitops/pulls", `{"title":"t","head":"evil:main","base":"main"}`, 422},
		{"bad status state", "POST", "/api/v3/repos/acme/gitops/statuses/" + main, `{"state":"great"}`, 422},
		{"status on missing sha", "POST", "/api/v3/repos/acme/gitops/statuses/" + strings.Repeat("0", 40), `{"state":"success"}`, 422},
		{"contents traversal", "GET", "/api/v3/repos/acme/gitops/contents/../../etc/passwd", ``, 404},
		{"oversized body", "POST", "/api/v3/repos/acme/gitops/git/blobs", `{"content":"` + strings.Repeat("a", 1<<16) + `"}`, 413},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, body := e.raw(tc.method, tc.path, auth, tc.body)
			if code != tc.want {
				t.Fatalf("status = %d, want %d: %.200s", code, tc.want, body)
			}
			var m map[string]any
			if err := json.Unmarshal(body, &m); err != nil || m["message"] == nil {
				t.Fatalf("error body not GitHub-shaped: %.200s", body)
			}
		})
	}
	if got := e.s.Branches(testRepo); len(got) != 1 || got["main"] != main {
		t.Fatalf("hostile input changed branches: %v", got)
	}
}

func TestWebhookRedeliverAndRecord(t *testing.T) {
	e := newEnv(t)
	if _, err := e.s.Commit(testRepo, "main", map[string]*string{"README.md": nil}, "rm readme"); err != nil {
		t.Fatal(err)
	}
	e.wait()
	ds := e.s.Deliveries()
	if len(ds) != 1 || ds[0].Event != "push" || ds[0].Status != http.StatusAccepted {
		t.Fatalf("deliveries = %+v", ds)
	}
	if err := e.s.Redeliver(ds[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := e.s.Redeliver("nope"); err == nil {
		t.Fatal("redeliver of unknown id succeeded")
	}
	e.wait()
	got := e.hook.all()
	if len(got) != 2 || got[0].ID != got[1].ID || string(got[0].Body) != string(got[1].Body) {
		t.Fatalf("redelivery = %+v", got)
	}
	h := got[0].Header
	if !strings.HasPrefix(h.Get("User-Agent"), "GitHub-Hookshot/") || h.Get("X-GitHub-Hook-Installation-Target-ID") != fmt.Sprint(testAppID) || h.Get("Content-Type") != "application/json" || len(h.Get("X-GitHub-Delivery")) != 36 {
		t.Fatalf("headers = %v", h)
	}
	var p github.PushEvent
	if err := json.Unmarshal(got[0].Body, &p); err != nil || !slices.Equal(p.GetHeadCommit().Removed, []string{"README.md"}) {
		t.Fatalf("push = %v, %v", p, err)
	}
	// Changing the URL later redirects deliveries; an empty URL only records.
	e.s.SetWebhook("", nil)
	if _, err := e.s.Commit(testRepo, "main", map[string]*string{"n": github.String("1")}, "n"); err != nil {
		t.Fatal(err)
	}
	e.wait()
	if ds := e.s.Deliveries(); len(ds) != 3 || ds[2].Sent || len(e.hook.all()) != 2 {
		t.Fatalf("deliveries after unset = %+v", ds)
	}
}

func TestGitPushOverSmartHTTP(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	ctx := e.ctx
	if _, err := e.s.Commit(testRepo, "feature", map[string]*string{"f.txt": github.String("1\n")}, "f"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := gh.PullRequests.Create(ctx, "acme", "gitops", &github.NewPullRequest{Title: github.String("t"), Head: github.String("feature"), Base: github.String("main")}); err != nil {
		t.Fatal(err)
	}
	e.wait()
	e.hook.reset()
	work := filepath.Join(t.TempDir(), "w")
	u := strings.Replace(e.s.URL(), "http://", "http://anyone:"+testStatic+"@", 1) + "/acme/gitops.git"
	git := func(args ...string) {
		t.Helper()
		if _, err := runGit(ctx, work, nil, append([]string{"-c", "user.name=Dev", "-c", "user.email=dev@example.com"}, args...)...); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := runGit(ctx, t.TempDir(), nil, "clone", "--quiet", "--branch", "feature", u, work); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(work, "f.txt"), []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	git("commit", "--quiet", "-am", "edit f")
	git("push", "--quiet", "origin", "feature")
	e.wait()
	pushes := e.hook.pushes()
	if len(pushes) != 1 || !slices.Equal(pushes[0].GetHeadCommit().Modified, []string{"f.txt"}) || pushes[0].GetPusher().GetName() != "promobot-user" {
		t.Fatalf("pushes = %v", pushes)
	}
	syncs := e.hook.pulls("synchronize")
	if len(syncs) != 1 || syncs[0].GetAfter() != pushes[0].GetAfter() {
		t.Fatalf("synchronize = %v", syncs)
	}
	// Checkout writes the tree for tools like kustomize.
	dir := t.TempDir()
	if err := e.s.Checkout(testRepo, "feature", dir); err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "f.txt")); err != nil || string(b) != "2\n" {
		t.Fatalf("checkout = %q, %v", b, err)
	}
	d, err := e.s.Diff(testRepo, "main", "feature")
	if err != nil || !strings.Contains(d, "+2") || !strings.Contains(d, "f.txt") {
		t.Fatalf("diff = %q, %v", d, err)
	}
}

func TestCheckCalls(t *testing.T) {
	s := &Server{}
	for _, rt := range s.routes() {
		ops, err := loadOps()
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, o := range ops {
			if o.Method == rt.method && o.Path == rt.path {
				found = true
			}
		}
		if !found {
			t.Errorf("route %s %s is not a documented operation", rt.method, rt.path)
		}
	}
	tests := []struct {
		name string
		call Call
		ok   bool
	}{
		{"create tree", Call{Method: "POST", Path: "/api/v3/repos/o/r/git/trees", Body: []byte(`{"tree":[]}`)}, true},
		{"get ref with slashes", Call{Method: "GET", Path: "/api/v3/repos/o/r/git/ref/heads/feature/x"}, true},
		{"contents deep", Call{Method: "GET", Path: "/api/v3/repos/o/r/contents/a/b/c.yaml"}, true},
		{"labels as array", Call{Method: "POST", Path: "/api/v3/repos/o/r/issues/1/labels", Body: []byte(`["a"]`)}, true},
		{"merge without body", Call{Method: "PUT", Path: "/api/v3/repos/o/r/pulls/1/merge"}, true},
		{"bogus path", Call{Method: "POST", Path: "/api/v3/repos/o/r/git/nonsense"}, false},
		{"bogus method", Call{Method: "DELETE", Path: "/api/v3/repos/o/r/pulls"}, false},
		{"pull without head", Call{Method: "POST", Path: "/api/v3/repos/o/r/pulls", Body: []byte(`{"title":"t","base":"main"}`)}, false},
		{"pull without body", Call{Method: "POST", Path: "/api/v3/repos/o/r/pulls"}, false},
		{"commit body not object", Call{Method: "POST", Path: "/api/v3/repos/o/r/git/commits", Body: []byte(`[]`)}, false},
		{"update ref without sha", Call{Method: "PATCH", Path: "/api/v3/repos/o/r/git/refs/heads/x", Body: []byte(`{"force":true}`)}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			errs := CheckCalls([]Call{tc.call})
			if (len(errs) == 0) != tc.ok {
				t.Fatalf("errs = %v, want ok=%v", errs, tc.ok)
			}
		})
	}
}

func TestWaitIdleHonoursContext(t *testing.T) {
	blocked := make(chan struct{})
	release := make(chan struct{})
	e := newEnv(t)
	srv := http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(blocked)
		<-release
	})}
	hs := newBlockingServer(t, &srv)
	e.s.SetWebhook(hs, []byte(testSecret))
	if _, err := e.s.Commit(testRepo, "main", map[string]*string{"z": github.String("z")}, "z"); err != nil {
		t.Fatal(err)
	}
	<-blocked
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := e.s.WaitIdle(ctx); err == nil {
		t.Fatal("WaitIdle returned nil while a delivery was in flight")
	}
	close(release)
	e.wait()
}

func TestCommitAndCompare(t *testing.T) {
	e := newEnv(t)
	gh := e.tokenClient(testStatic)
	main := e.s.Branches(testRepo)["main"]
	c1, err := e.s.Commit(testRepo, "release/v2", map[string]*string{"a.txt": github.String("a\n"), "README.md": nil}, "one")
	if err != nil {
		t.Fatal(err)
	}
	c2, err := e.s.Commit(testRepo, "release/v2", map[string]*string{"a.txt": github.String("b\n")}, "two")
	if err != nil {
		t.Fatal(err)
	}
	rc, _, err := gh.Repositories.GetCommit(e.ctx, "acme", "gitops", "release/v2", nil)
	if err != nil || rc.GetSHA() != c2 || len(rc.Files) != 1 || rc.Files[0].GetStatus() != "modified" || rc.GetStats().GetTotal() != 2 || rc.Parents[0].GetSHA() != c1 {
		t.Fatalf("commit = %v, %v", rc, err)
	}
	cmp, _, err := gh.Repositories.CompareCommits(e.ctx, "acme", "gitops", "main", "release/v2", nil)
	if err != nil {
		t.Fatal(err)
	}
	var files []string
	for _, f := range cmp.Files {
		files = append(files, f.GetFilename()+":"+f.GetStatus())
	}
	if cmp.GetStatus() != "ahead" || cmp.GetAheadBy() != 2 || len(cmp.Commits) != 2 || cmp.GetMergeBaseCommit().GetSHA() != main ||
		!slices.Equal(files, []string{"README.md:removed", "a.txt:added"}) {
		t.Fatalf("compare = %v %v %v", cmp.GetStatus(), cmp.GetAheadBy(), files)
	}
	cmp, _, err = gh.Repositories.CompareCommits(e.ctx, "acme", "gitops", "release/v2", "main", nil)
	if err != nil || cmp.GetStatus() != "behind" || cmp.GetBehindBy() != 2 {
		t.Fatalf("reverse compare = %v, %v", cmp, err)
	}
	if _, _, err := gh.Repositories.GetCombinedStatus(e.ctx, "acme", "gitops", "release/v2", nil); err != nil {
		t.Fatal(err)
	}
	counts := e.s.CallCounts()
	for _, r := range []string{"GET /repos/{owner}/{repo}/commits/{ref}", "GET /repos/{owner}/{repo}/compare/{basehead}", "GET /repos/{owner}/{repo}/commits/{ref}/status"} {
		if counts[r] == 0 {
			t.Errorf("no call recorded for %s: %v", r, counts)
		}
	}
	if errs := CheckCalls(e.s.Calls()); len(errs) > 0 {
		t.Fatalf("undocumented calls: %v", errs)
	}
}

func TestRestrictedTokenAndGitAuth(t *testing.T) {
	e := newEnv(t)
	if err := e.s.CreateRepo("acme/other", "trunk", map[string]string{"x": "y"}); err != nil {
		t.Fatal(err)
	}
	it, resp, err := e.appClient().Apps.CreateInstallationToken(e.ctx, testInstID, &github.InstallationTokenOptions{Repositories: []string{"other"}})
	if err != nil || resp.StatusCode != 201 || time.Until(it.GetExpiresAt().Time) < 50*time.Minute {
		t.Fatalf("token = %v, %v", it, err)
	}
	gh := e.tokenClient(it.GetToken())
	if r, _, err := gh.Repositories.Get(e.ctx, "acme", "other"); err != nil || r.GetDefaultBranch() != "trunk" {
		t.Fatalf("allowed repo: %v, %v", r, err)
	}
	_, _, err = gh.Repositories.Get(e.ctx, "acme", "gitops")
	if code, _ := ghStatus(t, err); code != 404 {
		t.Fatalf("repo outside token = %d, want 404", code)
	}
	_, _, err = e.appClient().Apps.CreateInstallationToken(e.ctx, testInstID, &github.InstallationTokenOptions{Repositories: []string{"missing"}})
	if code, _ := ghStatus(t, err); code != 422 {
		t.Fatalf("token for missing repo = %d, want 422", code)
	}

	tests := []struct {
		name, user, pass string
		want             int
	}{
		{"no credentials", "", "", 401},
		{"bad token", "x-access-token", "nope", 401},
		{"restricted token, other repo", "x-access-token", it.GetToken(), 404},
		{"static token", "whoever", testStatic, 200},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequestWithContext(e.ctx, "GET", e.s.URL()+"/acme/gitops.git/info/refs?service=git-upload-pack", nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Fatalf("status = %d, want %d", resp.StatusCode, tc.want)
			}
			if tc.want == 401 && !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic") {
				t.Fatalf("WWW-Authenticate = %q", resp.Header.Get("WWW-Authenticate"))
			}
			if tc.want == 200 && resp.Header.Get("Content-Type") != "application/x-git-upload-pack-advertisement" {
				t.Fatalf("content type = %q", resp.Header.Get("Content-Type"))
			}
		})
	}
}
