package policycheck

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/policycheck/policychecktest"
)

// memStore is a Store with revisions, like JetStream KV.
type memStore struct {
	mu      sync.Mutex
	rev     uint64
	entries map[string]Stored
	updates chan struct{}
}

func newMemStore() *memStore {
	return &memStore{entries: map[string]Stored{}, updates: make(chan struct{}, 100)}
}

func (m *memStore) put(e Entry) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.rev++
	m.entries[e.Key()] = Stored{Entry: e, Revision: m.rev}
	m.updates <- struct{}{}
}

func (m *memStore) List(context.Context) ([]Stored, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []Stored
	for _, s := range m.entries {
		out = append(out, s)
	}
	return out, nil
}

func (m *memStore) DeleteAt(_ context.Context, key string, rev uint64) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if s, ok := m.entries[key]; ok && s.Revision == rev {
		delete(m.entries, key)
	}
	return nil
}

func (m *memStore) Updates(context.Context) (<-chan struct{}, error) { return m.updates, nil }

func (m *memStore) get(key string) (Stored, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	s, ok := m.entries[key]
	return s, ok
}

// publisher hands each intent to the test, which may rewrite the schedule
// as the worker would before the scheduler clears the entry.
type publisher chan intent.Intent

func (p publisher) Publish(_ context.Context, in intent.Intent) error { p <- in; return nil }

func TestSchedulerFiresAtTheTime(t *testing.T) {
	clock := policychecktest.NewClock(wed10)
	store := newMemStore()
	pub := make(publisher)
	s := &Scheduler{Store: store, Publish: pub, Clock: clock, Log: zerolog.Nop(), Backstop: 24 * time.Hour}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()

	head := "0123456789abcdef0123456789abcdef01234567"
	store.put(Entry{Repo: "acme/gitops", PR: 4, HeadSHA: head, InstallationID: 9, At: freezeOn})
	store.put(Entry{Repo: "acme/gitops", PR: 5, HeadSHA: head, At: freezeOn.Add(time.Hour)})
	waitTimer(t, clock, freezeOn)

	// Nothing is due a second early.
	clock.Set(freezeOn.Add(-time.Second))
	select {
	case in := <-pub:
		t.Fatalf("published %s early", in.ID)
	default:
	}
	waitTimer(t, clock, freezeOn)
	clock.Set(freezeOn)
	in := <-pub
	if in.Kind != intent.KindPolicy || in.Source.Issue != 4 || in.Source.SHA != head || in.InstallationID != 9 || in.Validate() != nil {
		t.Fatalf("intent %+v", in)
	}
	if again := Due(Entry{Repo: "acme/gitops", PR: 4, At: freezeOn}, wed10); again.ID != in.ID {
		t.Errorf("the same entry must publish the same id: %s, %s", again.ID, in.ID)
	}
	// The worker judges it and schedules the freeze's end before the
	// scheduler clears the entry: the new entry stays.
	store.put(Entry{Repo: "acme/gitops", PR: 4, HeadSHA: head, At: freezeOn.Add(62 * time.Hour)})
	waitTimer(t, clock, freezeOn.Add(time.Hour))
	if e, ok := store.get(intent.PolicyKey("acme/gitops", 4)); !ok || !e.At.Equal(freezeOn.Add(62*time.Hour)) {
		t.Fatalf("the rewritten entry was lost: %+v %v", e, ok)
	}
	clock.Set(freezeOn.Add(time.Hour))
	if in := <-pub; in.Source.Issue != 5 {
		t.Fatalf("want PR 5, got %d", in.Source.Issue)
	}
	waitTimer(t, clock, freezeOn.Add(62*time.Hour))
	if _, ok := store.get(intent.PolicyKey("acme/gitops", 5)); ok {
		t.Error("a fired entry is cleared")
	}
}

// waitTimer waits until the scheduler has set a timer at or before t.
func waitTimer(t *testing.T, c *policychecktest.Clock, at time.Time) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		ok, armed := c.WaitingFor(at)
		if ok {
			return
		}
		select {
		case <-armed:
		case <-timeout:
			t.Fatalf("no timer set for %v", at)
		}
	}
}
