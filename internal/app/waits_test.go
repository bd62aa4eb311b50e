package app

import (
	"context"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
)

// TestWaitStore: a waiting command is kept once per command under the
// repository and environment it leaves, woken once by a status of that
// environment, and hostile names neither collide nor escape their group.
func TestWaitStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := config(t)
	cfg.GitHubAPIURL = "http://127.0.0.1:1/" // the woken command's GitHub calls fail; the store does not need them
	a, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Shutdown(context.Background()) }()
	s := waitStore{a.q}
	cmd := intent.Intent{ID: "d1:0", Kind: intent.KindPromote, Repo: "acme/gitops", To: "prod", Requester: "alice",
		Source: intent.SourceRef{Issue: 4, CommentID: 9}, CreatedAt: time.Unix(0, 0)}
	again := cmd
	again.ID = "d1:0~d2:1" // the same command, woken once and waiting again
	for _, in := range []intent.Intent{cmd, again} {
		if err := s.Wait(ctx, "acme/gitops", "staging", in); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Wait(ctx, "acme/gitops", "staging.>", cmd); err != nil { // hostile: its own group
		t.Fatal(err)
	}
	for _, tc := range []struct {
		repo, env string
		want      int
	}{
		{"acme/gitops", "dev", 0},
		{"acme/other", "staging", 0},
		{"acme/gitops", "staging", 1}, // one command, however often it waited
		{"acme/gitops", "staging", 0}, // woken: forgotten
		{"acme/gitops", "staging.>", 1},
	} {
		n, err := s.Wake(ctx, tc.repo, tc.env, "d3:0")
		if err != nil || n != tc.want {
			t.Errorf("Wake(%s, %s) = %d, %v; want %d", tc.repo, tc.env, n, err, tc.want)
		}
	}
}
