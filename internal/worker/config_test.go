package worker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/promobot/promobot/internal/checkout"
	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

// once is an in-memory worker.Once.
type once struct {
	mu   sync.Mutex
	seen map[string]bool
}

func (o *once) Seen(_ context.Context, key string) (bool, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.seen[key], nil
}

func (o *once) Remember(_ context.Context, key string) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.seen == nil {
		o.seen = map[string]bool{}
	}
	o.seen[key] = true
	return nil
}

func noConfigIntent(comment int64) intent.Intent {
	return intent.Intent{ID: fmt.Sprintf("c%d:0", comment), DeliveryID: fmt.Sprintf("c%d", comment), Event: "issue_comment",
		Kind: intent.KindNoConfig, Repo: "acme/quiet", Requester: "bob", Reply: "add .github/promobot.yaml",
		Source: intent.SourceRef{Repo: "acme/quiet", Issue: 3, CommentID: comment}}
}

// TestNoConfigAnsweredOncePerRepository: the first command in a
// repository without configuration is answered; later ones are not; a
// repository that has a configuration by now is not answered at all.
func TestNoConfigAnsweredOncePerRepository(t *testing.T) {
	f := newFixture(t)
	f.w.Once = &once{}
	empty, err := rules.Parse("rules.yaml", []byte("version: 1\nenvironments: [{name: dev}]\nservices: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	f.repos.rules = empty
	for i, want := range []string{"told how to add a configuration", "already told this repository how to add a configuration"} {
		if out := f.w.Handle(context.Background(), deliver(t, noConfigIntent(int64(i+1)))); out.Action != queue.Ack {
			t.Fatalf("command %d: action %v", i+1, out.Action)
		}
		if r := f.last(t); r.Reason != want {
			t.Errorf("command %d: %q, want %q", i+1, r.Reason, want)
		}
	}
	if bodies := f.chat.Bodies(); len(bodies) != 1 || !strings.Contains(bodies[0], "add .github/promobot.yaml") {
		t.Errorf("replies %q, want exactly one", bodies)
	}

	g := newFixture(t)
	g.w.Once = &once{}
	in := noConfigIntent(9)
	in.Repo = repoName // the fixture's rules have services there
	g.w.Handle(context.Background(), deliver(t, in))
	if r := g.last(t); r.Reason != "the repository is configured now" || len(g.chat.Bodies()) != 0 {
		t.Errorf("configured repository: %q, replies %q", r.Reason, g.chat.Bodies())
	}
}

// TestConfigReadOutcomes: a configuration read is done when it indexes a
// configuration or finds none, refused (not failed, not retried) when it
// is invalid, and a read error is retried.
func TestConfigReadOutcomes(t *testing.T) {
	in := intent.Intent{ID: "p:0", DeliveryID: "p", Event: "push", Kind: intent.KindConfig, Repo: repoName,
		Source: intent.SourceRef{Repo: repoName, Ref: "main"}}
	for _, tc := range []struct {
		name    string
		readErr error
		action  queue.Action
		outcome Outcome
	}{
		{"none", nil, queue.Ack, Skipped},
		{"invalid", fate.MarkTerminal(fmt.Errorf("%w acme/gitops@base: bad", checkout.ErrInvalidConfig)), queue.Ack, Refused},
		{"read failed", errors.New("fetch: connection reset"), queue.Retry, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.repos.readErr = tc.readErr
			out := f.w.Handle(context.Background(), deliver(t, in))
			if out.Action != tc.action {
				t.Fatalf("action %v (%s), want %v", out.Action, out.Reason, tc.action)
			}
			if tc.outcome != "" && f.last(t).Outcome != tc.outcome {
				t.Errorf("outcome %s, want %s", f.last(t).Outcome, tc.outcome)
			}
		})
	}
}
