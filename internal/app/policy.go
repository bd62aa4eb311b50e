package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/policycheck"
	"github.com/promobot/promobot/internal/queue"
)

// policyScheduleLease is the lease of the one process that runs the
// policy scheduler.
const policyScheduleLease = "policy-schedule"

// policyPrefix is the state bucket's key prefix of the policy schedule:
// one key per open pull request with a time gate ahead.
const policyPrefix = "policy."

// policyLeaseRetry is how often a standby process asks for the scheduler's lease.
const policyLeaseRetry = 15 * time.Second

// policySchedule keeps the policy schedule in the state bucket; it is the
// Checker's Schedule and the Scheduler's Store.
type policySchedule struct{ kv jetstream.KeyValue }

func policyKey(repo string, pr int) string {
	return policyPrefix + queue.EscapeKey(intent.PolicyKey(repo, pr))
}

func (s policySchedule) Set(ctx context.Context, e policycheck.Entry) error {
	b, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode policy schedule: %w", err)
	}
	_, err = s.kv.Put(ctx, policyKey(e.Repo, e.PR), b)
	return err
}

func (s policySchedule) Clear(ctx context.Context, repo string, pr int) error {
	err := s.kv.Delete(ctx, policyKey(repo, pr))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil
	}
	return err
}

func (s policySchedule) List(ctx context.Context) ([]policycheck.Stored, error) {
	keys, err := s.kv.ListKeysFiltered(ctx, policyPrefix+">")
	if err != nil {
		return nil, err
	}
	var out []policycheck.Stored
	for k := range keys.Keys() {
		e, err := s.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return nil, err
		}
		var en policycheck.Entry
		if err := json.Unmarshal(e.Value(), &en); err != nil || policyKey(en.Repo, en.PR) != k {
			// Not ours to keep: an entry nobody can fire is dropped.
			_ = s.kv.Delete(ctx, k, jetstream.LastRevision(e.Revision())) // best effort; a newer write wins
			continue
		}
		out = append(out, policycheck.Stored{Entry: en, Revision: e.Revision()})
	}
	return out, nil
}

func (s policySchedule) DeleteAt(ctx context.Context, key string, rev uint64) error {
	if rev == 0 {
		return nil // no revision: JetStream would delete unconditionally
	}
	k := policyPrefix + queue.EscapeKey(key)
	err := s.kv.Delete(ctx, k, jetstream.LastRevision(rev))
	if queue.CASConflict(err) || errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil // rewritten since: the newer verdict stays
	}
	return err
}

func (s policySchedule) Updates(ctx context.Context) (<-chan struct{}, error) {
	w, err := s.kv.Watch(ctx, policyPrefix+">", jetstream.UpdatesOnly())
	if err != nil {
		return nil, err
	}
	out := make(chan struct{}, 1)
	go func() {
		defer close(out)
		defer func() { _ = w.Stop() }() // the watch ends with ctx either way
		for {
			select {
			case <-ctx.Done():
				return
			case e, ok := <-w.Updates():
				if !ok {
					return
				}
				if e == nil {
					continue
				}
				select {
				case out <- struct{}{}:
				default: // one pending signal is enough: the scheduler reads the whole schedule
				}
			}
		}
	}()
	return out, nil
}

// queuePublisher publishes one intent on the queue.
type queuePublisher struct{ q *queue.Queue }

func (p queuePublisher) Publish(ctx context.Context, in intent.Intent) error {
	b, err := in.Marshal()
	if err != nil {
		return err
	}
	return p.q.Publish(ctx, []queue.Message{{Subject: in.Subject(), ID: in.ID, Data: b}})
}

// startPolicyScheduler runs the policy scheduler in whichever worker
// process holds its lease; the others ask again now and then and take over
// when the holder is gone.
func (a *App) startPolicyScheduler(ctx context.Context, clock policycheck.Clock, log zerolog.Logger) {
	log = log.With().Str("component", "policy-schedule").Logger()
	s := &policycheck.Scheduler{Store: policySchedule{a.q.State()}, Publish: queuePublisher{a.q}, Clock: clock, Log: log}
	a.wg.Add(1)
	go func() {
		defer a.wg.Done()
		for {
			held, release, err := a.q.TryHold(ctx, policyScheduleLease)
			switch {
			case err == nil:
				log.Info().Msg("policy scheduler started: pull requests are judged again when a time gate changes")
				if err := s.Run(held); err != nil {
					log.Warn().Err(err).Msg("policy scheduler stopped; starting again")
				}
				release()
			case !errors.Is(err, queue.ErrLeaseHeld) && ctx.Err() == nil:
				log.Warn().Err(err).Msg("policy scheduler lease not taken")
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(policyLeaseRetry):
			}
		}
	}()
}
