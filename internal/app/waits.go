package app

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
)

// waitsPrefix is the state bucket's key prefix of commands waiting for the
// health of the environment they leave: waits.<repo/env>.<intent id>.
const waitsPrefix = "waits."

// waitStore keeps waiting commands in the state bucket and queues them
// again when a status of their environment's health arrives (the worker's
// Waits).
type waitStore struct{ q *queue.Queue }

func waitsGroup(repo, env string) string { return waitsPrefix + queue.EscapeKey(repo+"/"+env) }

func (s waitStore) Wait(ctx context.Context, repo, env string, in intent.Intent) error {
	b, err := in.Marshal()
	if err != nil {
		return err
	}
	base, _, _ := strings.Cut(in.ID, "~")
	_, err = s.q.State().Put(ctx, waitsGroup(repo, env)+"."+queue.EscapeKey(base), b)
	return err
}

func (s waitStore) Wake(ctx context.Context, repo, env, by string) (int, error) {
	kv := s.q.State()
	keys, err := kv.ListKeysFiltered(ctx, waitsGroup(repo, env)+".>")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("list waiting commands: %w", err)
	}
	woken := 0
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			return woken, fmt.Errorf("read waiting command: %w", err)
		}
		in, err := intent.Unmarshal(e.Value())
		if err == nil {
			// A fresh message id, so that the stream's duplicate window
			// keeps it; the reply is the command's one comment, edited.
			base, _, _ := strings.Cut(in.ID, "~")
			in.ID = base + "~" + by
			if err = (queuePublisher{s.q}).Publish(ctx, in); err != nil {
				return woken, fmt.Errorf("queue waiting command: %w", err)
			}
			woken++
		}
		// Woken (or unreadable, so nobody could wake it): forgotten, unless
		// it waits again since.
		if err := kv.Delete(ctx, k, jetstream.LastRevision(e.Revision())); err != nil &&
			!queue.CASConflict(err) && !errors.Is(err, jetstream.ErrKeyNotFound) {
			return woken, fmt.Errorf("forget waiting command: %w", err)
		}
	}
	return woken, nil
}
