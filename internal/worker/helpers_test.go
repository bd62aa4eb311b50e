package worker

import (
	"context"
	"io/fs"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/automerge/automergetest"
	"github.com/promobot/promobot/internal/chatops"
	"github.com/promobot/promobot/internal/chatops/chatopstest"
	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/planner"
	"github.com/promobot/promobot/internal/policycheck"
	"github.com/promobot/promobot/internal/prwriter"
	"github.com/promobot/promobot/internal/prwriter/prwritertest"
	"github.com/promobot/promobot/internal/rules"
)

const repoName = "acme/gitops"

const testRules = `version: 1
defaults:
  baseBranch: main
  labels: [promotion]
environments:
  - { name: dev, auto: true, direct: true }
  - { name: staging, auto: true, soak: 1h }
  - name: prod
    splitTargets: true
    reviewers: { users: [alice] }
services:
  - name: payment-service
    repo: acme/gitops
    image: registry.example.com/payment-service
    targets:
      dev:     { kustomize: apps/payment-service/overlays/dev }
      staging: { kustomize: apps/payment-service/overlays/staging }
      prod:
        - { kustomize: apps/payment-service/overlays/prod-eu }
        - { kustomize: apps/payment-service/overlays/prod-us }
`

func overlay(tag string) string {
	return "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - ../../base\n" +
		"images:\n  - name: registry.example.com/payment-service\n    newTag: " + tag + "\n"
}

// view is a repository at one commit: path → content.
type view struct {
	sha   string
	files map[string]string
}

func (v view) Commit() string { return v.sha }
func (v view) Tree() string   { return v.sha + "-tree" }
func (v view) Exists(p string) bool {
	_, ok := v.files[p]
	return ok
}
func (v view) ReadFile(_ context.Context, p string) ([]byte, error) {
	s, ok := v.files[p]
	if !ok {
		return nil, &fs.PathError{Op: "read", Path: p, Err: fs.ErrNotExist}
	}
	return []byte(s), nil
}

// since says every file has held what it holds since a fixed time.
type since time.Time

func (s since) FirstSeen(context.Context, string, func([]byte) bool) (time.Time, bool, error) {
	return time.Time(s), true, nil
}

// holder records the keys held, in order; fail makes Hold fail.
type holder struct {
	mu   sync.Mutex
	keys []string
	fail error
}

func (h *holder) Hold(ctx context.Context, key string) (context.Context, func(), error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.keys = append(h.keys, key)
	if h.fail != nil {
		return nil, nil, h.fail
	}
	return ctx, func() {}, nil
}

// states is an in-memory PR state store.
type states struct {
	mu sync.Mutex
	m  map[string]prwriter.PRRecord
}

func (s *states) GetPR(_ context.Context, key string) (prwriter.PRRecord, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	r, ok := s.m[key]
	return r, ok, nil
}

func (s *states) PutPR(_ context.Context, key string, r prwriter.PRRecord) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m == nil {
		s.m = map[string]prwriter.PRRecord{}
	}
	s.m[key] = r
	return nil
}

// repos opens the one fake repository; openErr and readErr make it fail.
type repos struct {
	rules    *rules.Rules
	base     view
	branches map[string]view
	gh       *prwritertest.GitHub
	src      *prwritertest.GitHub // statuses on the build's repository
	chat     *chatopstest.GitHub
	soakFrom time.Time
	openErr  error
	readErr  error
	reads    int
	merge    *automergetest.Fake // nil: no automerge client
	checks   planner.Checks
	commits  checkout.CommitComments
	policy   policycheck.GitHub
}

func (r *repos) Open(_ context.Context, in intent.Intent) (checkout.Repo, error) {
	if r.openErr != nil {
		return checkout.Repo{}, r.openErr
	}
	repo := checkout.Repo{Writer: r.gh, ChatOps: r.chat, Statuses: r.src, Policy: r.policy}
	if r.merge != nil {
		repo.Merge = r.merge
	}
	repo.Commits = r.commits
	repo.Read = func(context.Context) (checkout.Tree, error) {
		r.reads++
		if r.readErr != nil {
			return checkout.Tree{}, r.readErr
		}
		return checkout.Tree{Rules: r.rules, Views: planner.Views{
			Base: r.base,
			Branches: planner.BranchFunc(func(_ context.Context, name string) (planner.RepoView, error) {
				if v, ok := r.branches[name]; ok {
					return v, nil
				}
				return nil, nil
			}),
			History: since(r.soakFrom),
			Checks:  r.checks,
		}}, nil
	}
	return repo, nil
}

// delivery is a queued intent.
type delivery struct {
	data []byte
	n    uint64
}

func (d delivery) Data() []byte         { return d.data }
func (d delivery) Subject() string      { return "promobot.intents.test" }
func (d delivery) MsgID() string        { return "msg-1" }
func (d delivery) NumDelivered() uint64 { return d.n }

func deliver(t *testing.T, in intent.Intent) delivery {
	t.Helper()
	data, err := in.Marshal()
	if err != nil {
		t.Fatalf("marshal intent: %v", err)
	}
	return delivery{data: data, n: 1}
}

var now = time.Date(2026, 11, 25, 10, 0, 0, 0, time.UTC)

// fixture is a worker over fakes: a repository where dev runs sha-2222222
// (since two hours), staging and prod run sha-1111111.
type fixture struct {
	w       *Worker
	hold    *holder
	repos   *repos
	gh      *prwritertest.GitHub
	src     *prwritertest.GitHub
	chat    *chatopstest.GitHub
	replies *chatopstest.Replies
	results []Result
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	rs, err := rules.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatalf("rules: %v", err)
	}
	files := map[string]string{}
	for env, tag := range map[string]string{"dev": "sha-2222222", "staging": "sha-1111111", "prod-eu": "sha-1111111", "prod-us": "sha-1111111"} {
		files["apps/payment-service/overlays/"+env+"/kustomization.yaml"] = overlay(tag)
	}
	gh := prwritertest.New(repoName)
	chat := &chatopstest.GitHub{Perms: map[string]string{"bob": "write", "alice": "admin"}}
	src := prwritertest.New("acme/payment-service")
	f := &fixture{hold: &holder{}, gh: gh, src: src, chat: chat, replies: &chatopstest.Replies{}}
	f.repos = &repos{rules: rs, base: view{sha: "base", files: files}, branches: map[string]view{}, gh: gh, src: src, chat: chat, soakFrom: now.Add(-2 * time.Hour)}
	f.w = &Worker{
		Holder:   f.hold,
		Repos:    f.repos,
		Writer:   &prwriter.Writer{State: &states{}},
		Commands: &chatops.Commands{Replies: f.replies},
		Now:      func() time.Time { return now },
		Observe:  func(r Result) { f.results = append(f.results, r) },
	}
	return f
}

func (f *fixture) last(t *testing.T) Result {
	t.Helper()
	if len(f.results) == 0 {
		t.Fatal("no result observed")
	}
	return f.results[len(f.results)-1]
}

func promoteIntent(to string) intent.Intent {
	return intent.Intent{ID: "d1:0", DeliveryID: "d1", Event: "push", Kind: intent.KindPromote, Repo: repoName,
		Services: []string{"payment-service"}, To: to,
		Source: intent.SourceRef{Repo: "acme/payment-service", SHA: strings.Repeat("a", 40)}}
}
