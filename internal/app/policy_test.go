package app

import (
	"context"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/policycheck"
	"github.com/promobot/promobot/internal/policycheck/policychecktest"
)

// TestPolicyScheduleSurvivesRestart: a PR's next re-evaluation is kept in
// JetStream KV; a promobot started again on the same data directory fires
// it once due, with no webhook to remind it.
func TestPolicyScheduleSurvivesRestart(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	t0 := time.Date(2026, 11, 27, 17, 0, 0, 0, time.UTC)
	cfg := config(t)
	cfg.GitHubAPIURL = "http://127.0.0.1:1/" // nothing listens: the worker's GitHub calls fail, the schedule does not need them
	cfg.Clock = policychecktest.NewClock(t0)
	a, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s := policySchedule{a.q.State()}
	e := policycheck.Entry{Repo: "acme/gitops", PR: 3, HeadSHA: "0123456789abcdef0123456789abcdef01234567", At: t0.Add(time.Hour)}
	stale := e
	stale.At = t0.Add(time.Minute)
	for _, en := range []policycheck.Entry{stale, e} { // a newer verdict replaces the older
		if err := s.Set(ctx, en); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.List(ctx)
	if err != nil || len(got) != 1 || got[0].Entry != e {
		t.Fatalf("List = %+v, %v; want the entry", got, err)
	}
	// A conditional delete of an older revision keeps the newer entry.
	for _, rev := range []uint64{got[0].Revision - 1, 0} {
		if err := s.DeleteAt(ctx, e.Key(), rev); err != nil {
			t.Fatal(err)
		}
	}
	if again, _ := s.List(ctx); len(again) != 1 {
		t.Fatal("a stale delete removed the entry")
	}
	if err := a.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}

	// Started again an hour and a half later: the entry is due and fired.
	cfg.Clock = policychecktest.NewClock(t0.Add(90 * time.Minute))
	a, err = Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Shutdown(context.Background()) }()
	w, err := a.q.State().Watch(ctx, policyKey(e.Repo, e.PR))
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Stop() }()
	for {
		select {
		case <-ctx.Done():
			t.Fatal("the scheduled re-evaluation never fired after the restart")
		case kv := <-w.Updates():
			if kv != nil && kv.Operation() == jetstream.KeyValueDelete {
				return // published, then cleared
			}
		}
	}
}

func TestPolicyScheduleDropsForeignEntries(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cfg := config(t)
	cfg.GitHubAPIURL = "http://127.0.0.1:1/"
	a, err := Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = a.Shutdown(context.Background()) }()
	kv := a.q.State()
	// Garbage under the prefix, and an entry filed under another PR's key.
	if _, err := kv.Put(ctx, policyPrefix+"junk", []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Put(ctx, policyKey("acme/gitops", 9), []byte(`{"repo":"acme/gitops","pr":8,"at":"2026-01-01T00:00:00Z"}`)); err != nil {
		t.Fatal(err)
	}
	s := policySchedule{kv}
	got, err := s.List(ctx)
	if err != nil || len(got) != 0 {
		t.Fatalf("List = %+v, %v; want nothing", got, err)
	}
	if err := s.Clear(ctx, "acme/gitops", 9); err != nil {
		t.Fatalf("Clear of a dropped entry: %v", err)
	}
}
