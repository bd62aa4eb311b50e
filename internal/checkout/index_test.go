package checkout

import (
	"context"
	"strings"
	"sync"
	"testing"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// recordIndex records what the Source indexes.
type recordIndex struct {
	mu  sync.Mutex
	got []LoadedConfig
}

func (r *recordIndex) IndexConfig(_ context.Context, c LoadedConfig) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, c)
	return nil
}

// TestConfigurationReadsAreIndexed: every configuration read at a new
// commit is handed to the index once, with what was found: none, a valid
// file, an invalid one.
func TestConfigurationReadsAreIndexed(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.withPolicy(t)
	idx := &recordIndex{}
	f.src.Index = idx

	none := f.head(t)
	if _, err := f.read(t, none); err != nil {
		t.Fatal(err)
	}
	valid := f.writeConfig(t, teamConfig)
	for range 2 { // the second read of the commit is a cache hit: not indexed again
		if _, err := f.read(t, valid); err != nil {
			t.Fatal(err)
		}
	}
	broken := f.writeConfig(t, strings.Replace(teamConfig, "  - { name: prod }\n", "  - { name: prod, autoMerge: true }\n", 1))
	if _, err := f.read(t, broken); err == nil {
		t.Fatal("a configuration that weakens the policy was read")
	}
	if len(idx.got) != 3 {
		t.Fatalf("indexed %d reads %+v, want 3", len(idx.got), idx.got)
	}
	for i, want := range []struct {
		commit      string
		found, errs bool
	}{{none, false, false}, {valid, true, false}, {broken, true, true}} {
		g := idx.got[i]
		if g.Repo != gitopsRepo || g.Path != rules.DefaultRepoConfigPath || g.Commit != want.commit || g.Found != want.found || (g.Err != nil) != want.errs {
			t.Errorf("read %d: %+v, want commit %.7s found %v error %v", i, g, want.commit, want.found, want.errs)
		}
		if want.found && len(g.Data) == 0 {
			t.Errorf("read %d: no file content", i)
		}
	}
	if errs := ConfigErrors(idx.got[2].Err); len(errs) != 1 || !strings.Contains(errs[0], "autoMerge") {
		t.Errorf("errors %q", errs)
	}
}

// TestCheckPullRequest: a pull request that weakens the policy gets a
// failed promobot/config check run with the violation annotated on its
// line, written once however often the event is delivered; a pull
// request that does not change the file gets none.
func TestCheckPullRequest(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	f.withPolicy(t)
	ctx := context.Background()
	f.writeConfig(t, teamConfig)
	weak := strings.Replace(teamConfig, "  - { name: prod }\n", "  - { name: prod, ticket: { required: false } }\n", 1)
	head, err := f.gh.Commit(gitopsRepo, "weaken", map[string]*string{rules.DefaultRepoConfigPath: &weak}, "no tickets")
	if err != nil {
		t.Fatal(err)
	}
	n, err := f.gh.OpenPullRequest(gitopsRepo, "weaken", "main", "no tickets", "", "dave")
	if err != nil {
		t.Fatal(err)
	}
	in := intent.Intent{ID: "pr:0", Kind: intent.KindConfigCheck, DeliveryID: "pr", Repo: gitopsRepo,
		Source: intent.SourceRef{Repo: gitopsRepo, SHA: head, Issue: n}}
	for range 2 {
		out, err := f.src.CheckPullRequest(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		if out.Conclusion != "failure" || out.Annotated != 1 {
			t.Fatalf("check %+v, want one failure annotation", out)
		}
	}
	runs := f.gh.CheckRuns(gitopsRepo, head)
	if len(runs) != 1 || runs[0].Name != ConfigCheckName || runs[0].Conclusion != "failure" || len(runs[0].Annotations) != 1 {
		t.Fatalf("check runs %+v, want one failed %s", runs, ConfigCheckName)
	}
	if a := runs[0].Annotations[0]; a.StartLine != 4 || a.Title != "weakens the organisation policy" {
		t.Errorf("annotation %+v, want line 4, a policy violation", a)
	}

	other := overlay("v9.9.9")
	head2, err := f.gh.Commit(gitopsRepo, "bump", map[string]*string{overlayPath("dev"): &other}, "bump")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := f.gh.OpenPullRequest(gitopsRepo, "bump", "main", "bump", "", "dave")
	if err != nil {
		t.Fatal(err)
	}
	in.Source.SHA, in.Source.Issue = head2, n2
	out, err := f.src.CheckPullRequest(ctx, in)
	if err != nil || out.Skip == "" || len(f.gh.CheckRuns(gitopsRepo, head2)) != 0 {
		t.Errorf("pull request without the file: %+v %v, check runs %v", out, err, f.gh.CheckRuns(gitopsRepo, head2))
	}
}
