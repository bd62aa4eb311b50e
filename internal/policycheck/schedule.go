package policycheck

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
)

// Stored is a schedule entry as the store holds it, with the revision a
// conditional delete compares.
type Stored struct {
	Entry
	Revision uint64
}

// Store is the durable schedule (JetStream KV in production): every
// process's Checker writes it, the one Scheduler reads it.
type Store interface {
	List(ctx context.Context) ([]Stored, error)
	// DeleteAt deletes the entry only if it is still at revision; an entry
	// rewritten since (a newer verdict) is kept, and that is no error.
	DeleteAt(ctx context.Context, key string, revision uint64) error
	// Updates signals each change to the schedule, from any process, until
	// ctx ends.
	Updates(ctx context.Context) (<-chan struct{}, error)
}

// Publisher queues one intent.
type Publisher interface {
	Publish(ctx context.Context, in intent.Intent) error
}

// Clock is the scheduler's time; tests move a fake one.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// RealClock is the wall clock.
type RealClock struct{}

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// After is time.After.
func (RealClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// DefaultBackstop is how often the scheduler reads the whole schedule
// again even when no update was signalled.
const DefaultBackstop = 5 * time.Minute

// Scheduler turns due schedule entries into policy intents at their time.
// One process of a deployment runs it at a time (the caller holds a lease).
//
// Why a KV schedule and one timer, not a message redelivered with a delay:
// a PR can stay open across many freezes, and every delayed redelivery of
// a JetStream message counts towards its delivery limit, which would end
// in the dead-letter stream; a delay also runs on the server's clock, which
// tests cannot move. The schedule survives restarts (it lives in
// JetStream KV, replicated like the queue), each PR has exactly one entry
// (the latest verdict's), and a new scheduler reads it whole on start.
type Scheduler struct {
	Store    Store
	Publish  Publisher
	Clock    Clock
	Log      zerolog.Logger
	Backstop time.Duration // zero: DefaultBackstop
}

// Run publishes each entry when it falls due, until ctx ends.
func (s *Scheduler) Run(ctx context.Context) error {
	updates, err := s.Store.Updates(ctx)
	if err != nil {
		return fmt.Errorf("watch policy schedule: %w", err)
	}
	backstop := s.Backstop
	if backstop <= 0 {
		backstop = DefaultBackstop
	}
	for {
		next, err := s.fire(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			s.Log.Warn().Err(err).Msg("policy schedule not read; trying again")
		}
		wait := backstop
		if !next.IsZero() {
			wait = min(wait, next.Sub(s.Clock.Now()))
		}
		select {
		case <-ctx.Done():
			return nil
		case _, ok := <-updates:
			if !ok {
				return fmt.Errorf("policy schedule watch ended")
			}
		case <-s.Clock.After(max(wait, 0)):
		}
	}
}

// fire publishes every due entry and returns when the next one falls due.
func (s *Scheduler) fire(ctx context.Context) (time.Time, error) {
	entries, err := s.Store.List(ctx)
	if err != nil {
		return time.Time{}, err
	}
	now := s.Clock.Now()
	var next time.Time
	for _, e := range entries {
		if e.At.After(now) {
			if next.IsZero() || e.At.Before(next) {
				next = e.At
			}
			continue
		}
		in := Due(e.Entry, now)
		if err := s.Publish.Publish(ctx, in); err != nil {
			return next, fmt.Errorf("publish policy check of %s: %w", e.Key(), err)
		}
		s.Log.Info().Str("intent", in.ID).Str("delivery", in.DeliveryID).Str("repo", e.Repo).Int("pr", e.PR).
			Time("at", e.At).Msg("policy check due: judged again")
		if err := s.Store.DeleteAt(ctx, e.Key(), e.Revision); err != nil {
			return next, fmt.Errorf("clear policy schedule of %s: %w", e.Key(), err)
		}
	}
	return next, nil
}

// Due is the intent that asks for e's PR to be judged again. Its id is the
// same for the same entry, so a scheduler that published it and died
// before clearing the entry publishes a duplicate JetStream drops.
func Due(e Entry, now time.Time) intent.Intent {
	id := "schedule:" + e.Key() + "@" + strconv.FormatInt(e.At.Unix(), 10)
	return intent.Intent{
		ID: id, Kind: intent.KindPolicy, DeliveryID: id, Event: "schedule",
		InstallationID: e.InstallationID, Repo: e.Repo,
		Source:    intent.SourceRef{Repo: e.Repo, SHA: e.HeadSHA, Issue: e.PR},
		CreatedAt: now,
	}
}
