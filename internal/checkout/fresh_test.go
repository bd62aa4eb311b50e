package checkout

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/ghapp"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/gitmirror"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

const (
	gitopsRepo = "acme/gitops"
	sourceRepo = "acme/api"
	token      = "ghp_checkoutTestToken0123456789abcdef"
)

// testRules: dev (direct) → staging (auto) → prod, whose two regions get a
// PR each (splitTargets).
const testRules = `version: 1
defaults:
  baseBranch: main
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true }
  - { name: prod, splitTargets: true }
services:
  - name: api
    repo: acme/gitops
    image: registry.example.com/api
    targets:
      dev:     { kustomize: apps/api/overlays/dev }
      staging: { kustomize: apps/api/overlays/staging }
      prod:
        - { kustomize: apps/api/overlays/prod-eu }
        - { kustomize: apps/api/overlays/prod-us }
`

func overlayPath(env string) string { return "apps/api/overlays/" + env + "/kustomization.yaml" }

func overlay(tag string) string {
	return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n" +
		"images:\n  - name: registry.example.com/api\n    newTag: " + tag + "\n"
}

type fixture struct {
	gh  *githubtest.Server
	src *Source
	rs  *rules.Rules
	ids atomic.Int64
}

// newFixture serves acme/gitops with dev and staging at v2.0.0, prod at v1.0.0,
// and a Source over it (token mode, no pacing).
func newFixture(t *testing.T) *fixture {
	t.Helper()
	dir := t.TempDir()
	gh, err := githubtest.New(githubtest.Config{Dir: filepath.Join(dir, "github"), StaticToken: token})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	files := map[string]string{"apps/api/base/kustomization.yaml": "resources: []\n"}
	for env, tag := range map[string]string{"dev": "v2.0.0", "staging": "v2.0.0", "prod-eu": "v1.0.0", "prod-us": "v1.0.0"} {
		files[overlayPath(env)] = overlay(tag)
	}
	if err := gh.CreateRepo(gitopsRepo, "main", files); err != nil {
		t.Fatal(err)
	}
	clients, err := ghapp.New(ghapp.Config{APIURL: gh.APIURL(), Token: token, Retry: ghretry.Config{ContentPace: -1}})
	if err != nil {
		t.Fatal(err)
	}
	rs, err := rules.Parse("promotion-rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{gh: gh, rs: rs}
	f.src = &Source{Clients: clients, Mirrors: gitmirror.New(filepath.Join(dir, "mirrors")), Rules: func() *rules.Rules { return rs }}
	return f
}

func (f *fixture) head(t *testing.T) string {
	t.Helper()
	return f.gh.Branches(gitopsRepo)["main"]
}

func (f *fixture) commit(t *testing.T, env, tag string) string {
	t.Helper()
	c := overlay(tag)
	sha, err := f.gh.Commit(gitopsRepo, "main", map[string]*string{overlayPath(env): &c}, "set "+env+" to "+tag)
	if err != nil {
		t.Fatal(err)
	}
	return sha
}

// push is the intent of a push of sha to acme/gitops that changed dev.
func (f *fixture) push(sha string) intent.Intent {
	n := f.ids.Add(1)
	return intent.Intent{
		ID: fmt.Sprintf("push-%d:0", n), Kind: intent.KindPromote, DeliveryID: fmt.Sprintf("push-%d", n), Event: "push",
		Repo: gitopsRepo, Services: []string{"api"}, From: "dev", To: "staging",
		Source: intent.SourceRef{Repo: gitopsRepo, SHA: sha, Ref: "main"}, CreatedAt: time.Now(),
	}
}

// build is the intent of a build of acme/api tagged tag: update dev.
func (f *fixture) build(tag string) intent.Intent {
	n := f.ids.Add(1)
	return intent.Intent{
		ID: fmt.Sprintf("run-%d:0", n), Kind: intent.KindUpdate, DeliveryID: fmt.Sprintf("run-%d", n), Event: "workflow_run",
		Repo: gitopsRepo, Services: []string{"api"}, To: "dev", Tag: tag,
		Source: intent.SourceRef{Repo: sourceRepo, SHA: fmt.Sprintf("%040x", n)}, CreatedAt: time.Now(),
	}
}

// decide reads in's repository and decides as the worker does; it returns
// the decision ("skip" or "plan") and the base commit decided on.
func (f *fixture) decide(t *testing.T, in intent.Intent) (string, string) {
	t.Helper()
	ctx := context.Background()
	repo, err := f.src.Open(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := repo.Read(ctx)
	if err != nil {
		t.Fatalf("read %s: %v", in.ID, err)
	}
	base := tree.Views.Base.Commit()
	ins := []intent.Intent{in}
	if parts := planner.Parts(tree.Rules, in); parts != nil {
		ins = nil
		for _, p := range parts {
			sub := in
			sub.Part = p
			ins = append(ins, sub)
		}
	}
	what := "skip"
	for _, in := range ins {
		dec, err := planner.Decide(ctx, tree.Rules, in, tree.Views, time.Now())
		switch {
		case err != nil:
			t.Fatalf("decide %s: %v", in.ID, err)
		case dec.Plan != nil:
			what = "plan"
		case dec.Refusal != nil:
			t.Fatalf("decide %s: refused: %s", in.ID, dec.Refusal.Reason)
		}
	}
	return what, base
}

// fetches runs fn and returns how many network fetches it made.
func (f *fixture) fetches(fn func()) int64 {
	before := f.src.Mirrors.Fetches()
	fn()
	return f.src.Mirrors.Fetches() - before
}

// TestNoopPushCostsNoFetch: once the mirror holds a pushed commit, push
// intents naming it (or an older commit of main) that end in a skip fetch
// nothing; one naming a commit the mirror lacks fetches, and decides on it.
func TestNoopPushCostsNoFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.src.MaxAge = time.Hour // a slow machine must not turn the mirror stale mid-test
	first := f.head(t)
	if n := f.fetches(func() { f.decide(t, f.push(first)) }); n != 1 {
		t.Fatalf("first read: %d fetches, want 1 (empty mirror)", n)
	}
	n := f.fetches(func() {
		for range 20 {
			if what, base := f.decide(t, f.push(first)); what != "skip" || base != first {
				t.Fatalf("decision %s on %.7s, want skip on %.7s", what, base, first)
			}
		}
	})
	if n != 0 {
		t.Errorf("20 no-op push intents: %d fetches, want 0", n)
	}

	// A push the mirror has not seen: fetched, and the base is that commit.
	second := f.commit(t, "prod-eu", "v1.0.0") // same content, a new commit
	n = f.fetches(func() {
		if what, base := f.decide(t, f.push(second)); what != "skip" || base != second {
			t.Errorf("new commit: decision %s on %.7s, want skip on %.7s", what, base, second)
		}
	})
	if n != 1 {
		t.Errorf("push of a commit the mirror lacks: %d fetches, want 1", n)
	}
	// The older commit is an ancestor of the mirror's main: still no fetch.
	if n := f.fetches(func() { f.decide(t, f.push(first)) }); n != 0 {
		t.Errorf("push of an ancestor of main: %d fetches, want 0", n)
	}
}

// TestWriteDecidesOnFreshState: when the mirror says "write", Read fetches
// (after the call, i.e. after the lease) and the worker decides on that:
// here the write was already done upstream, so the fresh decision is a skip
// — the duplicate storm's case, where a reviewer merged the PR meanwhile.
func TestWriteDecidesOnFreshState(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.src.Fresh, f.src.MaxAge = time.Hour, time.Hour
	old := f.head(t)
	f.decide(t, f.push(old))     // mirror at old: dev v2, staging v2
	f.commit(t, "dev", "v3.0.0") // a build moved dev; mirror does not know yet

	// The push of old (staging already v2 there) is a no-op: no fetch.
	if n := f.fetches(func() { f.decide(t, f.push(old)) }); n != 0 {
		t.Errorf("no-op on the mirror: %d fetches, want 0", n)
	}
	// A build of v3 is a write on the mirror (dev v2): fetch, then decide
	// on the fresh base, where dev already runs v3: skip.
	var what, base string
	if n := f.fetches(func() { what, base = f.decide(t, f.build("v3.0.0")) }); n != 1 {
		t.Errorf("write on the mirror: %d fetches, want 1", n)
	}
	if what != "skip" || base != f.head(t) {
		t.Errorf("decision %s on %.7s, want skip on the fresh head %.7s", what, base, f.head(t))
	}
	// A build of v4 is a write either way: decided on the fresh head.
	merged := f.commit(t, "staging", "v3.0.0")
	if n := f.fetches(func() { what, base = f.decide(t, f.build("v4.0.0")) }); n != 1 || what != "plan" || base != merged {
		t.Errorf("write: %d fetches, %s on %.7s; want 1 fetch, plan on %.7s", n, what, base, merged)
	}
}

// TestSplitTargetsEveryPartMustSkip: a promotion into an environment that
// splits its targets skips without a fetch only when every part would.
func TestSplitTargetsEveryPartMustSkip(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.src.Fresh = time.Hour
	in := func(tag string) intent.Intent {
		in := f.build(tag)
		in.Kind, in.To = intent.KindPromote, "prod"
		return in
	}
	f.decide(t, in("v1.0.0")) // fetch once: both regions run v1
	if n := f.fetches(func() {
		if what, _ := f.decide(t, in("v1.0.0")); what != "skip" {
			t.Errorf("both parts at v1: %s, want skip", what)
		}
	}); n != 0 {
		t.Errorf("both parts at v1: %d fetches, want 0", n)
	}
	// prod-eu already runs v2 upstream, prod-us does not: one part writes.
	f.commit(t, "prod-eu", "v2.0.0")
	if n := f.fetches(func() {
		if what, _ := f.decide(t, in("v2.0.0")); what != "plan" {
			t.Errorf("one part at v2: %s, want plan", what)
		}
	}); n != 1 {
		t.Errorf("one part to write: %d fetches, want 1", n)
	}
}

// TestBuildsShareOneFetchPerInterval: intents that name no GitOps commit
// reuse a fetch made within Fresh, and concurrent ones share one fetch.
func TestBuildsShareOneFetchPerInterval(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.src.Fresh = time.Hour
	const n = 16
	var wg sync.WaitGroup
	got := f.fetches(func() {
		for range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if what, _ := f.decide(t, f.build("v2.0.0")); what != "skip" {
					t.Errorf("build of v2: %s, want skip", what)
				}
			}()
		}
		wg.Wait()
	})
	if got != 1 {
		t.Errorf("%d concurrent no-op builds on an empty mirror: %d fetches, want 1", n, got)
	}
	if got := f.fetches(func() { f.decide(t, f.build("v2.0.0")) }); got != 0 {
		t.Errorf("no-op build within Fresh: %d fetches, want 0", got)
	}

	// Past the interval, a no-op build fetches again.
	f.src.Fresh = time.Nanosecond
	if got := f.fetches(func() { f.decide(t, f.build("v2.0.0")) }); got != 1 {
		t.Errorf("no-op build past Fresh: %d fetches, want 1", got)
	}
}

// TestOwnWriteMarksMirrorStale: after promobot moves a ref through the
// Repo's writer, no no-op check decides on a fetch from before the write.
func TestOwnWriteMarksMirrorStale(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.src.Fresh, f.src.MaxAge = time.Hour, time.Hour
	head := f.head(t)
	f.decide(t, f.push(head))
	ctx := context.Background()
	repo, err := f.src.Open(ctx, f.push(head))
	if err != nil {
		t.Fatal(err)
	}
	if err := repo.Writer.CreateRef(ctx, gitopsRepo, "promobot/staging/api", head); err != nil {
		t.Fatal(err)
	}
	for _, in := range []intent.Intent{f.push(head), f.build("v2.0.0")} {
		var tree Tree
		if n := f.fetches(func() {
			repo, err := f.src.Open(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if tree, err = repo.Read(ctx); err != nil {
				t.Fatal(err)
			}
		}); n != 1 {
			t.Errorf("%s after promobot's own write: %d fetches, want 1", in.Event, n)
		}
		if b, err := tree.Views.Branches.Branch(ctx, "promobot/staging/api"); err != nil || b == nil {
			t.Errorf("the branch promobot created is not in the view: %v, %v", b, err)
		}
		f.src.Mirrors.MarkStale(gitopsRepo)
	}
}

// TestCommandsAndAlwaysFetch: a command's Read fetches every time, and
// AlwaysFetch restores a fetch per Read for every intent.
func TestCommandsAndAlwaysFetch(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.src.Fresh = time.Hour
	head := f.head(t)
	f.decide(t, f.push(head))
	cmd := f.push("")
	cmd.Source = intent.SourceRef{Repo: gitopsRepo, CommentID: 7, Issue: 3}
	for range 3 {
		if n := f.fetches(func() { f.decide(t, cmd) }); n != 1 {
			t.Errorf("command read: %d fetches, want 1", n)
		}
	}
	f.src.AlwaysFetch = true
	for _, in := range []intent.Intent{f.push(head), f.build("v2.0.0")} {
		if n := f.fetches(func() { f.decide(t, in) }); n != 1 {
			t.Errorf("AlwaysFetch, %s: %d fetches, want 1", in.Event, n)
		}
	}
}

// TestBranchesPinnedToTheView: the promotion branches a tree shows are
// those of the fetch its base came from, not of a later fetch.
func TestBranchesPinnedToTheView(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	ctx := context.Background()
	head := f.head(t)
	in := f.push(head)
	repo, err := f.src.Open(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	tree, err := repo.Read(ctx)
	if err != nil {
		t.Fatal(err)
	}
	c := overlay("v9.0.0")
	if _, err := f.gh.Commit(gitopsRepo, "promobot/staging/api", map[string]*string{overlayPath("staging"): &c}, "branch"); err != nil {
		t.Fatal(err)
	}
	if err := f.src.Mirrors.Fetch(ctx, gitopsRepo, f.gh.URL()+"/"+gitopsRepo+".git", func(context.Context) (string, string, error) {
		return "x-access-token", token, nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.src.Mirrors.Head(gitopsRepo, "promobot/staging/api"); err != nil {
		t.Fatalf("the mirror did not fetch the branch: %v", err)
	}
	if b, err := tree.Views.Branches.Branch(ctx, "promobot/staging/api"); err != nil || b != nil {
		t.Errorf("tree read before the branch existed shows it: %v, %v", b, err)
	}
}

func TestGitOpsCommit(t *testing.T) {
	t.Parallel()
	sha := strings.Repeat("ab", 20)
	for _, tc := range []struct {
		name string
		src  intent.SourceRef
		want string
	}{
		{"push to the gitops repository", intent.SourceRef{Repo: gitopsRepo, SHA: sha, Ref: "main"}, sha},
		{"owner and name case differ", intent.SourceRef{Repo: "ACME/GitOps", SHA: strings.ToUpper(sha)}, sha},
		{"build of a source repository", intent.SourceRef{Repo: sourceRepo, SHA: sha}, ""},
		{"command", intent.SourceRef{Repo: gitopsRepo, CommentID: 1, Issue: 2}, ""},
		{"no source", intent.SourceRef{}, ""},
	} {
		if got := gitopsCommit(intent.Intent{Repo: gitopsRepo, Source: tc.src}); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}
