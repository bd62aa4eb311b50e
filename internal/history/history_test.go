package history_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/history/gitfixture"
	"github.com/promobot/promobot/internal/rules"
)

func walkFixture(t *testing.T) *history.History {
	t.Helper()
	o := gitfixture.OpenGitOps(t)
	rs, st, head := o.Rules, o.Store, o.Head
	h, err := history.Walk(context.Background(), st, head, rs, history.Options{Repo: "acme/gitops"})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestWalkFindsEveryChangeAndHowItCame(t *testing.T) {
	h := walkFixture(t)
	var got []string
	for _, c := range h.Changes {
		got = append(got, fmt.Sprintf("%s %s/%s %s %q->%q via=%s pr=%d kind=%s req=%s ticket=%s gates=%d by=%s",
			c.Time.Format("02T15"), c.Service, c.Env, c.Path[strings.LastIndex(c.Path[:strings.LastIndex(c.Path, "/")], "/")+1:],
			c.From, c.To, c.Via, c.PR, c.Kind, c.Requester, c.Ticket, len(c.Gates), c.Author.Name))
	}
	want := []string{
		`03T11 api/staging staging/values.yaml "a1"->"a2" via=hand pr=0 kind= req= ticket= gates=0 by=Bob`,
		`03T02 web/prod prod-eu/kustomization.yaml "v3"->"v2" via=pr pr=7 kind=rollback req=dave ticket=PAY-8 gates=1 by=Bob`,
		`03T01 web/prod prod-eu/kustomization.yaml "v2"->"v3" via=hand pr=0 kind= req= ticket= gates=0 by=Alice`,
		`02T15 web/prod prod-eu/kustomization.yaml "v1"->"v2" via=pr pr=6 kind=promote req=carol ticket=PAY-7 gates=1 by=Alice`,
		`02T15 web/prod prod-us/kustomization.yaml "v1"->"v2" via=pr pr=6 kind=promote req=carol ticket=PAY-7 gates=1 by=Alice`,
		`01T14 web/staging staging/kustomization.yaml "v1"->"v2" via=pr pr=5 kind=promote req= ticket= gates=2 by=Bob`,
		`01T10 web/dev dev/kustomization.yaml "v1"->"v2" via=direct pr=0 kind=update req= ticket= gates=1 by=promobot[bot]`,
		`01T09 api/dev dev/values.yaml ""->"a1" via=hand pr=0 kind= req= ticket= gates=0 by=Alice`,
		`01T09 api/staging staging/values.yaml ""->"a1" via=hand pr=0 kind= req= ticket= gates=0 by=Alice`,
		`01T09 api/prod prod/values.yaml ""->"a1" via=hand pr=0 kind= req= ticket= gates=0 by=Alice`,
		`01T09 web/dev dev/kustomization.yaml ""->"v1" via=hand pr=0 kind= req= ticket= gates=0 by=Alice`,
		`01T09 web/staging staging/kustomization.yaml ""->"v1" via=hand pr=0 kind= req= ticket= gates=0 by=Alice`,
		`01T09 web/prod prod-eu/kustomization.yaml ""->"v1" via=hand pr=0 kind= req= ticket= gates=0 by=Alice`,
		`01T09 web/prod prod-us/kustomization.yaml ""->"v1" via=hand pr=0 kind= req= ticket= gates=0 by=Alice`,
	}
	if d := diffLines(want, got); d != "" {
		t.Errorf("changes:\n%s", d)
	}
	if h.Commits != 8 || h.Truncated {
		t.Errorf("commits %d truncated %v, want 8 walked to the root", h.Commits, h.Truncated)
	}
}

func TestWalkReportsWhatRunsNowAndSinceWhen(t *testing.T) {
	h := walkFixture(t)
	var got []string
	for _, c := range h.Current {
		got = append(got, fmt.Sprintf("%s/%s %s image=%s since=%s by=%s via=%s pr=%d mixed=%v err=%q",
			c.Service, c.Env, c.Ref, c.Image, c.Since.Format("02T15"), c.By, c.Via, c.PR, c.Mixed, c.Error))
	}
	want := []string{
		`api/dev a1 image=registry.example.com/api since=01T09 by=Alice via=hand pr=0 mixed=false err=""`,
		`api/staging a2 image=mirror.example.com/api since=03T11 by=Bob via=hand pr=0 mixed=false err=""`,
		`api/prod a1 image=registry.example.com/api since=01T09 by=Alice via=hand pr=0 mixed=false err=""`,
		`web/dev v2 image=registry.example.com/web since=01T10 by=promobot[bot] via=direct pr=0 mixed=false err=""`,
		`web/staging v2 image=registry.example.com/web since=01T14 by=Bob via=pr pr=5 mixed=false err=""`,
		`web/prod v2 image=registry.example.com/web since=03T02 by=dave via=pr pr=7 mixed=false err=""`,
	}
	if d := diffLines(want, got); d != "" {
		t.Errorf("current:\n%s", d)
	}
}

func TestWalkStopsAtTheCommitLimit(t *testing.T) {
	o := gitfixture.OpenGitOps(t)
	rs, st, head := o.Rules, o.Store, o.Head
	for _, tc := range []struct {
		limit   int
		commits int
		trunc   bool
		err     string
	}{
		{limit: 2, commits: 2, trunc: true},
		{limit: 10, commits: 8},
		{limit: -1, err: "out of range"},
		{limit: history.MaxCommits + 1, err: "out of range"},
	} {
		h, err := history.Walk(context.Background(), st, head, rs, history.Options{MaxCommits: tc.limit})
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("limit %d: error %v, want %q", tc.limit, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		if h.Commits != tc.commits || h.Truncated != tc.trunc {
			t.Errorf("limit %d: %d commits truncated %v, want %d %v", tc.limit, h.Commits, h.Truncated, tc.commits, tc.trunc)
		}
	}
}

func TestCacheWalksOncePerHead(t *testing.T) {
	o := gitfixture.OpenGitOps(t)
	rs, st, head := o.Rules, o.Store, o.Head
	c := history.NewCache(2)
	a, err := c.Walk(context.Background(), st, head, rs, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Walk(context.Background(), st, head, rs, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Error("the same head walked twice")
	}
	if _, err := c.Walk(context.Background(), st, head, rs, history.Options{MaxCommits: -1}); err == nil {
		t.Error("a bad limit gave no error")
	}
}

func diffLines(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "  line %d\n   want %s\n    got %s\n", i, w, g)
		}
	}
	return b.String()
}

func TestWalkFromABaseEqualsAFullWalk(t *testing.T) {
	o := gitfixture.OpenGitOps(t)
	rs, st, head := o.Rules, o.Store, o.Head
	ctx := context.Background()
	full, err := history.Walk(ctx, st, head, rs, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	old := plumbing.NewHash(o.Git(time.Time{}, gitfixture.Who{}, "rev-parse", "HEAD~3"))
	base, err := history.Walk(ctx, st, old, rs, history.Options{})
	if err != nil {
		t.Fatal(err)
	}
	inc, err := history.Walk(ctx, st, head, rs, history.Options{Base: base})
	if err != nil {
		t.Fatal(err)
	}
	if !sameJSON(t, full, inc) {
		t.Errorf("walk from a base differs from a full walk:\n%+v\n%+v", full, inc)
	}
	// The cache walks the new head from the old one.
	c := history.NewCache(4)
	if _, err := c.Walk(ctx, st, old, rs, history.Options{}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Walk(ctx, st, head, rs, history.Options{})
	if err != nil || !sameJSON(t, full, got) {
		t.Errorf("cache after a new head: %v, or it differs from a full walk", err)
	}
}

func sameJSON(t *testing.T, a, b *history.History) bool {
	t.Helper()
	ja, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	jb, err := json.Marshal(b)
	if err != nil {
		t.Fatal(err)
	}
	return string(ja) == string(jb)
}

// TestCacheTellsGeneratedServicesApart: rules from one file expanded over
// two commits list different services; the walk with the new service must
// not start from a walk that did not track it (its past would be lost).
func TestCacheTellsGeneratedServicesApart(t *testing.T) {
	o := gitfixture.OpenGitOps(t)
	file := gitfixture.GitOpsRules + `generators:
  - repo: acme/gitops
    directories: 'apps/web'
    service:
      name: 'gen-{{.Dir}}'
      image: registry.example.com/web
      targets:
        dev: { kustomize: '{{.Path}}/dev' }
`
	rs, err := rules.Parse("rules.yaml", []byte(file))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	expand := func(fsys fstest.MapFS) *rules.Rules {
		out, err := rs.Expand(ctx, func(string) (fs.FS, error) { return fsys, nil })
		if err != nil {
			t.Fatal(err)
		}
		return out
	}
	without := expand(fstest.MapFS{})
	with := expand(fstest.MapFS{"apps/web/dev/kustomization.yaml": {}})
	if len(with.Services) != len(without.Services)+1 || with.Digest() != without.Digest() {
		t.Fatalf("fixture: %d and %d services, digests %s %s", len(with.Services), len(without.Services), with.Digest(), without.Digest())
	}
	st, head := o.Store, o.Head
	old := plumbing.NewHash(o.Git(time.Time{}, gitfixture.Who{}, "rev-parse", "HEAD~1"))
	c := history.NewCache(4)
	if _, err := c.Walk(ctx, st, old, without, history.Options{Repo: "acme/gitops"}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Walk(ctx, st, head, with, history.Options{Repo: "acme/gitops"})
	if err != nil {
		t.Fatal(err)
	}
	full, err := history.Walk(ctx, st, head, with, history.Options{Repo: "acme/gitops"})
	if err != nil {
		t.Fatal(err)
	}
	if len(full.Service("gen-web")) == 0 {
		t.Fatal("fixture: gen-web has no history")
	}
	if len(got.Service("gen-web")) != len(full.Service("gen-web")) {
		t.Errorf("gen-web: %d changes from the cache, %d in a full walk", len(got.Service("gen-web")), len(full.Service("gen-web")))
	}
}
