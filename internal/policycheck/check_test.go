package policycheck

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/rules"
)

const testRules = `version: 1
environments:
  - name: staging
    auto: true
  - name: prod
    windows:
      - deny: '0 18 * * 5'
        duration: 62h
        timezone: UTC
services:
  - name: api
    repo: acme/gitops
    image: registry.example.com/api
    targets:
      staging: { helm: env/staging.yaml, field: image.tag }
      prod:    { helm: env/prod.yaml, field: image.tag }
`

func values(tag string) string { return "image:\n  tag: " + tag + ".0.0\n" }

var (
	wed10    = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)
	freezeOn = time.Date(2026, 11, 27, 18, 0, 0, 0, time.UTC)
)

type view map[string]string

func (v view) Commit() string { return strings.Repeat("b", 40) }
func (v view) ReadFile(_ context.Context, p string) ([]byte, error) {
	s, ok := v[p]
	if !ok {
		return nil, fmt.Errorf("open %s: %w", p, fs.ErrNotExist)
	}
	return []byte(s), nil
}
func (v view) Exists(p string) bool { _, ok := v[p]; return ok }

// history: staging ran v2 since Tuesday.
type history struct{ v view }

func (h history) FirstSeen(_ context.Context, p string, holds func([]byte) bool) (time.Time, bool, error) {
	if holds([]byte(h.v[p])) {
		return wed10.Add(-24 * time.Hour), true, nil
	}
	return time.Time{}, false, nil
}
func (h history) EverSeen(ctx context.Context, p string, holds func([]byte) bool) (time.Time, bool, error) {
	return h.FirstSeen(ctx, p, holds)
}

type fakeGitHub struct {
	mu     sync.Mutex
	pull   Pull
	files  []PullFile
	blobs  map[string]string
	runs   []CheckRun
	ids    []int64
	writes []string
	calls  int
}

func (f *fakeGitHub) GetPull(_ context.Context, _ string, n int) (Pull, error) {
	f.calls++
	return f.pull, nil
}
func (f *fakeGitHub) PullFiles(context.Context, string, int) ([]PullFile, error) {
	f.calls++
	return f.files, nil
}
func (f *fakeGitHub) Blob(_ context.Context, _ string, sha string) ([]byte, error) {
	f.calls++
	b, ok := f.blobs[sha]
	if !ok {
		return nil, fmt.Errorf("no blob %s", sha)
	}
	return []byte(b), nil
}
func (f *fakeGitHub) FindCheckRun(_ context.Context, _, sha, _ string) (Existing, bool, error) {
	f.calls++
	for i := len(f.runs) - 1; i >= 0; i-- {
		if r := f.runs[i]; r.HeadSHA == sha {
			return Existing{ID: f.ids[i], Conclusion: r.Conclusion, Title: r.Title, Summary: r.Summary, Annotations: len(r.Annotations)}, true, nil
		}
	}
	return Existing{}, false, nil
}
func (f *fakeGitHub) CreateCheckRun(_ context.Context, _ string, r CheckRun) (int64, error) {
	f.calls++
	f.runs = append(f.runs, r)
	f.ids = append(f.ids, int64(len(f.runs)))
	f.writes = append(f.writes, "create "+r.Conclusion)
	return int64(len(f.runs)), nil
}
func (f *fakeGitHub) UpdateCheckRun(_ context.Context, _ string, id int64, r CheckRun) error {
	f.calls++
	f.runs[id-1] = r
	f.writes = append(f.writes, "update "+r.Conclusion)
	return nil
}

type memSchedule map[string]Entry

func (m memSchedule) Set(_ context.Context, e Entry) error { m[e.Key()] = e; return nil }
func (m memSchedule) Clear(_ context.Context, repo string, pr int) error {
	delete(m, intent.PolicyKey(repo, pr))
	return nil
}

func TestCheck(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	base := view{"env/staging.yaml": values("v2"), "env/prod.yaml": values("v1"), "README.md": "hi\n"}
	views := planner.Views{Base: base, History: history{base}}
	head := strings.Repeat("a", 40)
	in := intent.Intent{ID: "d:0", Kind: intent.KindPolicy, Repo: "acme/gitops", InstallationID: 7, Source: intent.SourceRef{Issue: 4, SHA: head}}
	open := Pull{Number: 4, State: "open", Title: "prod api", HeadSHA: head, HeadRef: "hand", BaseRef: "main", Author: "alice"}

	for _, tc := range []struct {
		name      string
		pull      Pull
		files     []PullFile
		now       time.Time
		skip      string // substring; "" : a check run is written
		writes    string
		scheduled time.Time
	}{
		{name: "never staged tag", pull: open, files: []PullFile{{Path: "env/prod.yaml", Status: "modified", SHA: "v3"}},
			writes: "[create failure]", scheduled: freezeOn},
		{name: "staged tag", pull: open, files: []PullFile{{Path: "env/prod.yaml", Status: "modified", SHA: "v2"}},
			writes: "[create success]", scheduled: freezeOn},
		{name: "staged tag in the freeze", pull: open, now: freezeOn, files: []PullFile{{Path: "env/prod.yaml", Status: "modified", SHA: "v2"}},
			writes: "[create failure]", scheduled: freezeOn.Add(62 * time.Hour)},
		{name: "no target touched", pull: open, files: []PullFile{{Path: "README.md", Status: "modified", SHA: "readme"}},
			skip: "touches no target", writes: "[]"},
		{name: "closed PR", pull: Pull{Number: 4, State: "closed", BaseRef: "main"}, skip: "is closed", writes: "[]"},
		{name: "into another branch", pull: Pull{Number: 4, State: "open", BaseRef: "release"}, skip: "not into main", writes: "[]"},
		{name: "more files than GitHub lists", pull: open, files: manyFiles(MaxFiles), writes: "[create failure]"},
		{name: "target renamed away", pull: open, files: []PullFile{{Path: "env/prod-old.yaml", PreviousPath: "env/prod.yaml", Status: "renamed", SHA: "v2"}},
			writes: "[create failure]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now := tc.now
			if now.IsZero() {
				now = wed10
			}
			gh := &fakeGitHub{pull: tc.pull, files: tc.files, blobs: map[string]string{"v2": values("v2"), "v3": values("v3"), "readme": "x"}}
			sched := memSchedule{intent.PolicyKey("acme/gitops", 4): {At: wed10}}
			c := &Checker{Schedule: sched, Now: func() time.Time { return now }}
			out, err := c.Check(context.Background(), gh, rs, views, in)
			if err != nil {
				t.Fatal(err)
			}
			if tc.skip != "" && !strings.Contains(out.Skip, tc.skip) || tc.skip == "" && out.Skip != "" {
				t.Errorf("Skip = %q, want %q", out.Skip, tc.skip)
			}
			if got := fmt.Sprint(gh.writes); got != tc.writes {
				t.Errorf("writes = %s, want %s", got, tc.writes)
			}
			e, ok := sched[intent.PolicyKey("acme/gitops", 4)]
			if ok != !tc.scheduled.IsZero() || ok && (!e.At.Equal(tc.scheduled) || e.HeadSHA != head || e.InstallationID != 7) {
				t.Errorf("schedule = %+v (%v), want at %v", e, ok, tc.scheduled)
			}
			if tc.writes == "[create failure]" && len(gh.runs[0].Annotations) == 0 && !strings.Contains(gh.runs[0].Title, "too many files") {
				t.Error("a failure carries annotations")
			}
		})
	}
}

// TestCheckWritesOnlyChanges: judging again without a change writes
// nothing; a new verdict replaces a run with annotations and updates one
// without.
func TestCheckWritesOnlyChanges(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	base := view{"env/staging.yaml": values("v2"), "env/prod.yaml": values("v1")}
	views := planner.Views{Base: base, History: history{base}}
	head := strings.Repeat("a", 40)
	in := intent.Intent{ID: "d:0", Kind: intent.KindPolicy, Repo: "acme/gitops", Source: intent.SourceRef{Issue: 4, SHA: head}}
	gh := &fakeGitHub{pull: Pull{Number: 4, State: "open", HeadSHA: head, BaseRef: "main"},
		files: []PullFile{{Path: "env/prod.yaml", Status: "modified", SHA: "v2"}}, blobs: map[string]string{"v2": values("v2")}}
	now := wed10
	c := &Checker{Schedule: memSchedule{}, Now: func() time.Time { return now }}
	judge := func(at time.Time) {
		t.Helper()
		now = at
		if _, err := c.Check(context.Background(), gh, rs, views, in); err != nil {
			t.Fatal(err)
		}
	}
	judge(wed10)                        // success: created
	judge(wed10.Add(time.Hour))         // same verdict: nothing
	judge(freezeOn)                     // failure, no annotations before: updated
	judge(freezeOn.Add(time.Hour))      // same
	judge(freezeOn.Add(62 * time.Hour)) // success; the run has annotations: a new one
	if got, want := fmt.Sprint(gh.writes), "[create success update failure create success]"; got != want {
		t.Errorf("writes = %s, want %s", got, want)
	}
	if gh.calls != 5*4+3 { // get PR, files, blob, find per judgement; three writes
		t.Errorf("GitHub calls = %d, want %d", gh.calls, 5*4+3)
	}
}

func manyFiles(n int) []PullFile {
	out := make([]PullFile, n)
	for i := range out {
		out[i] = PullFile{Path: fmt.Sprintf("docs/%d.md", i), Status: "added", SHA: "readme"}
	}
	return out
}
