package webhook

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/promobot/promobot/internal/rules"
)

type movedRecorder struct {
	mu    sync.Mutex
	calls []BranchMoved
	err   error
}

func (m *movedRecorder) hook(_ context.Context, ev BranchMoved) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.calls = append(m.calls, ev)
	return m.err
}

// TestPushesThatMoveAGitOpsBaseBranchAreAnnounced: the status page learns
// of every push to a GitOps repository's base branch, whether or not it
// makes an intent, and of nothing else; a failed announcement does not
// change the delivery's answer.
func TestPushesThatMoveAGitOpsBaseBranchAreAnnounced(t *testing.T) {
	server, err := rules.Parse("rules.yaml", []byte(indexServerRules))
	if err != nil {
		t.Fatal(err)
	}
	teamA, err := rules.ParseRepoConfig(rules.ConfigSource{Repo: "acme/team-a", Path: rules.DefaultRepoConfigPath, Commit: afterSHA}, []byte(indexTeamA), server.Policy)
	if err != nil {
		t.Fatal(err)
	}
	idx := fakeIndex{{Repo: "acme/quiet"}, {Repo: "acme/team-a", Rules: teamA}, {Repo: "acme/team-b", Invalid: true}}
	deleted := strings.Replace(pushPayload("acme/gitops", "main"), `"ref":`, `"deleted":true,"ref":`, 1)
	for _, tc := range []struct {
		name, payload string
		hookErr       error
		want          string // the repository announced, "" for none
	}{
		{"a push to a server-configured repository that touches no target", pushPayload("acme/gitops", "main", "README.md"), nil, "acme/gitops"},
		{"a push to a target", pushPayload("acme/gitops", "main", "apps/payment/dev/kustomization.yaml"), nil, "acme/gitops"},
		{"a push to another branch", pushPayload("acme/gitops", "feature", "apps/payment/dev/kustomization.yaml"), nil, ""},
		{"a push to a self-configured repository", pushPayload("acme/team-a", "main", "README.md"), nil, "acme/team-a"},
		{"a push to a repository whose configuration is broken (it may fix it)", pushPayload("acme/team-b", "main", "README.md"), nil, "acme/team-b"},
		{"a push to an indexed repository without a file", pushPayload("acme/quiet", "main", "README.md"), nil, ""},
		{"a push to a source repository", pushPayload("acme/app", "main", "main.go"), nil, ""},
		{"a deleted branch", deleted, nil, ""},
		{"the announcement fails: the delivery is still answered", pushPayload("acme/gitops", "main", "README.md"), errors.New("nats: connection closed"), "acme/gitops"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			mr := &movedRecorder{err: tc.hookErr}
			f := newFixture(t, func(c *Config) {
				c.Rules = func() *rules.Rules { return server }
				c.RepoConfigs = idx
				c.OnPush = mr.hook
			})
			w := f.do(delivery{event: "push", id: deliveryID, body: []byte(tc.payload)})
			if w.Code != 202 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			switch {
			case tc.want == "" && len(mr.calls) != 0:
				t.Errorf("announced %+v", mr.calls)
			case tc.want != "" && (len(mr.calls) != 1 || mr.calls[0] != BranchMoved{Repo: tc.want, Branch: "main", After: afterSHA}):
				t.Errorf("announced %+v, want %s main at %s once", mr.calls, tc.want, afterSHA)
			}
			if warned := strings.Contains(f.log.String(), "push not announced to the status page"); warned != (tc.hookErr != nil) {
				t.Errorf("warning logged: %v, want %v", warned, tc.hookErr != nil)
			}
		})
	}
}
