package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
)

// latest is an in-memory HealthRecords: the latest report per check.
type latest struct {
	mu   sync.Mutex
	recs map[string]intent.Check
	err  error
}

func (l *latest) Record(_ context.Context, repo, _ string, c intent.Check) (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false, l.err
	}
	if l.recs == nil {
		l.recs = map[string]intent.Check{}
	}
	k := repo + "/" + c.Name
	if old, ok := l.recs[k]; ok && c.At.Before(old.At) {
		return false, nil
	}
	l.recs[k] = c
	return true, nil
}

func healthIntent(state string, at time.Time) intent.Intent {
	return intent.Intent{ID: "h:0", DeliveryID: "h", Event: "status", Kind: intent.KindHealth, Repo: repoName,
		Source: intent.SourceRef{SHA: strings.Repeat("b", 40), Ref: "main"},
		Check:  &intent.Check{Name: "continuous-delivery/payment-service-prod", State: state, At: at}}
}

// TestHealthReportsAreRecordedWithoutGitHub: a report is recorded without
// opening the repository; an older one is not; a store that fails makes
// the queue try again; a process without a store acknowledges it.
func TestHealthReportsAreRecordedWithoutGitHub(t *testing.T) {
	f := newFixture(t)
	store := &latest{}
	f.w.Health = store
	f.repos.openErr = errors.New("the repository must not be opened for a health report")
	tests := []struct {
		name     string
		in       intent.Intent
		storeErr error
		action   queue.Action
		outcome  Outcome
	}{
		{"a report", healthIntent("success", now), nil, queue.Ack, Recorded},
		{"a later one", healthIntent("failure", now.Add(time.Minute)), nil, queue.Ack, Recorded},
		{"a redelivered older one", healthIntent("success", now), nil, queue.Ack, Skipped},
		{"the store fails", healthIntent("pending", now.Add(2*time.Minute)), errors.New("nats: timeout"), queue.Retry, Delayed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			store.err = tt.storeErr
			n := len(f.results)
			out := f.w.Handle(context.Background(), deliver(t, tt.in))
			if out.Action != tt.action {
				t.Fatalf("action %v (%s), want %v", out.Action, out.Reason, tt.action)
			}
			if len(f.results) != n+1 || f.results[n].Outcome != tt.outcome {
				t.Fatalf("results %+v, want one %s", f.results[n:], tt.outcome)
			}
		})
	}
	if got := store.recs[repoName+"/continuous-delivery/payment-service-prod"]; got.State != "failure" {
		t.Errorf("kept %+v, want the later failure", got)
	}
	f.hold.mu.Lock()
	if len(f.hold.keys) != 0 {
		t.Errorf("leases taken: %v", f.hold.keys)
	}
	f.hold.mu.Unlock()

	f.w.Health = nil
	if out := f.w.Handle(context.Background(), deliver(t, healthIntent("success", now.Add(time.Hour)))); out.Action != queue.Ack {
		t.Errorf("without a store: action %v, want ack", out.Action)
	}
}
