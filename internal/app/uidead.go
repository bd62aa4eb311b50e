package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
)

// forgetDead is the queue's DeadLettered hook. An intent promobot gave up
// on (its failure will not go away, or the queue's delivery limit ran out)
// is retried by nobody, so nothing may go on saying it waits: the status
// page's wait records it wrote become one failed record per service, and a
// command it left waiting for health is forgotten, so that a status does
// not run it again after its requester was told it failed. Records another
// intent wrote since stay. A KV failure is logged; the dead letter stands.
func (a *App) forgetDead(dl queue.DeadLetter) {
	in, err := intent.Unmarshal(dl.Data)
	if err != nil {
		return // undecodable: the worker never ran it, so it recorded nothing
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	log := a.log.With().Str("intent", in.ID).Str("delivery", in.DeliveryID).Str("repo", in.Repo).Str("env", in.To).Logger()
	if a.live != nil {
		a.live.deadLettered(ctx, in, dl.Reason, dl.Time, log)
	}
	if in.Command() && a.q != nil {
		if err := (waitStore{a.q}).forget(ctx, in); err != nil {
			log.Warn().Err(err).Msg("dead-lettered command not forgotten: a health status may run it again")
		}
	}
}

// promotionKind reports whether intents of kind k move a tag into To.
func promotionKind(k intent.Kind) bool {
	return k == intent.KindUpdate || k == intent.KindPromote || k == intent.KindRollback
}

// deadLettered replaces the wait records intent in wrote with failed
// records, and records the failure of each of its services for which no
// promotion asked for since waits. A command names its services only after it ran,
// so the wait records of its repository and environment are read to find
// them.
func (b *liveBoard) deadLettered(ctx context.Context, in intent.Intent, reason string, at time.Time, log zerolog.Logger) {
	if in.Repo == "" || in.To == "" || !promotionKind(in.Kind) {
		return
	}
	own, newer, err := b.waitsOf(ctx, in)
	if err != nil {
		log.Warn().Err(err).Msg("ui: waits of a dead-lettered intent not read; the page may show it waiting")
	}
	for _, svc := range in.Services {
		if _, ok := own[svc]; !ok {
			own[svc] = liveRecord{Tag: in.Tag}
		}
	}
	if at.IsZero() {
		at = time.Now().UTC()
	}
	for svc, w := range own {
		if newer[svc] {
			continue // superseded: the newer promotion's wait says what comes
		}
		tag := w.Tag
		if tag == "" {
			tag = in.Tag
		}
		rec := liveRecord{Repo: in.Repo, Service: svc, Env: in.To, Tag: tag, Reason: reason, At: at.UTC(), Intent: in.ID, Failed: true}
		data, err := json.Marshal(rec)
		if err == nil {
			_, err = b.kv.Put(ctx, liveKey(liveFail, in.Repo, svc, in.To), data)
		}
		if err != nil {
			log.Warn().Err(err).Str("service", svc).Msg("ui: failed promotion not recorded; the page does not show it")
		}
	}
}

// waitsOf reads the wait records of in's repository and environment. It
// deletes those in wrote (unless rewritten meanwhile) and returns them by
// service (own), and names the services for which a promotion asked for no
// earlier than in waits (newer). own is never nil.
func (b *liveBoard) waitsOf(ctx context.Context, in intent.Intent) (own map[string]liveRecord, newer map[string]bool, err error) {
	own, newer = map[string]liveRecord{}, map[string]bool{}
	keys, err := b.kv.ListKeysFiltered(ctx, liveWait+">")
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return own, newer, nil
	}
	if err != nil {
		return own, newer, fmt.Errorf("list wait records: %w", err)
	}
	var errs []error
	for k := range keys.Keys() {
		e, err := b.kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read %s: %w", k, err))
			continue
		}
		var r liveRecord
		if err := json.Unmarshal(e.Value(), &r); err != nil || !strings.EqualFold(r.Repo, in.Repo) || !strings.EqualFold(r.Env, in.To) {
			continue
		}
		if r.Intent != in.ID {
			// Asked for since (or a woken copy of the same command): it
			// says what comes; an older promotion's wait does not.
			if !r.Created.Before(in.CreatedAt) {
				newer[r.Service] = true
			}
			continue
		}
		err = b.kv.Delete(ctx, k, jetstream.LastRevision(e.Revision()))
		switch {
		case err == nil || errors.Is(err, jetstream.ErrKeyNotFound):
			own[r.Service] = r
		case queue.CASConflict(err):
			newer[r.Service] = true // rewritten since it was read
		default:
			errs = append(errs, fmt.Errorf("clear %s: %w", k, err))
		}
	}
	return own, newer, errors.Join(errs...)
}

// forget drops the health wait that command in left, wherever it waits,
// unless a later run of the same command (woken, with another id) wrote it.
func (s waitStore) forget(ctx context.Context, in intent.Intent) error {
	base, _, _ := strings.Cut(in.ID, "~")
	kv := s.q.State()
	keys, err := kv.ListKeysFiltered(ctx, waitsPrefix+"*."+queue.EscapeKey(base))
	if errors.Is(err, jetstream.ErrNoKeysFound) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("list waiting commands: %w", err)
	}
	var errs []error
	for k := range keys.Keys() {
		e, err := kv.Get(ctx, k)
		if errors.Is(err, jetstream.ErrKeyNotFound) || errors.Is(err, jetstream.ErrKeyDeleted) {
			continue
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("read waiting command: %w", err))
			continue
		}
		if w, err := intent.Unmarshal(e.Value()); err == nil && w.ID != in.ID {
			continue // a later run waits; it is alive
		}
		if err := kv.Delete(ctx, k, jetstream.LastRevision(e.Revision())); err != nil &&
			!queue.CASConflict(err) && !errors.Is(err, jetstream.ErrKeyNotFound) {
			errs = append(errs, fmt.Errorf("forget waiting command: %w", err))
		}
	}
	return errors.Join(errs...)
}

// clearFailed removes the failed record of svc in in's environment: the
// next promotion replaces it. Only a record that exists is deleted, so the
// watchers see no write when there is none.
func (b *liveBoard) clearFailed(ctx context.Context, in intent.Intent, svc string) {
	key := liveKey(liveFail, in.Repo, svc, in.To)
	e, err := b.kv.Get(ctx, key)
	if err == nil {
		err = b.kv.Delete(ctx, key, jetstream.LastRevision(e.Revision()))
	}
	if err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) && !errors.Is(err, jetstream.ErrKeyDeleted) &&
		!queue.CASConflict(err) {
		b.log.Warn().Err(err).Str("intent", in.ID).Str("delivery", in.DeliveryID).Str("service", svc).Msg("ui: failed record not cleared; the page is stale until the next one")
	}
}
