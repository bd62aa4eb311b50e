package app

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/worker"
)

// liveRecord is what the status page shows beside a service's tag in one
// environment: an open promotion PR, a promotion a closed gate holds, or
// one promobot gave up on. The workers write them to the state KV (keys
// "ui.pr.<target>", "ui.wait.<target>" and "ui.fail.<target>"); every
// process that serves the page watches them.
type liveRecord struct {
	Repo    string    `json:"repo"`
	Service string    `json:"service"`
	Env     string    `json:"env"`
	Tag     string    `json:"tag,omitempty"`
	PR      int       `json:"pr,omitempty"`
	PRURL   string    `json:"prUrl,omitempty"`
	Gate    string    `json:"gate,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	OpensAt time.Time `json:"opensAt,omitzero"`
	At      time.Time `json:"at"`
	// Intent is the id of the intent that wrote the record: a dead letter
	// clears only its own (uidead.go).
	Intent string `json:"intent,omitempty"`
	// Created is when that intent was created: a failure is not shown
	// beside a wait of a promotion asked for since.
	Created time.Time `json:"created,omitzero"`
	// Failed: the intent was dead-lettered; Reason says why.
	Failed bool `json:"failed,omitempty"`
}

const (
	livePR   = "ui.pr."
	liveWait = "ui.wait."
	liveFail = "ui.fail."
)

func liveKey(kind, repo, svc, env string) string {
	return kind + queue.EscapeKey(strings.ToLower(repo+"/"+svc+"/"+env))
}

// liveBoard is the in-memory copy of the live records, kept by a KV watch.
type liveBoard struct {
	kv  jetstream.KeyValue
	log zerolog.Logger

	mu   sync.Mutex
	recs map[string]liveRecord // KV key → record

	// Health records by KV key (under mu) and the rendered health check
	// names (their own lock): uihealth.go.
	health map[string]healthRecord
	names  healthNames

	applied func()           // tests: called after each update is applied
	now     func() time.Time // nil: the wall clock (tests move a fake one)
}

func (b *liveBoard) clock() time.Time {
	if b.now != nil {
		return b.now().UTC()
	}
	return time.Now().UTC()
}

func newLiveBoard(kv jetstream.KeyValue, log zerolog.Logger) *liveBoard {
	return &liveBoard{kv: kv, log: log, recs: map[string]liveRecord{}}
}

// watch keeps the board current until ctx ends.
func (b *liveBoard) watch(ctx context.Context) {
	for ctx.Err() == nil {
		w, err := b.kv.Watch(ctx, "ui.>")
		if err != nil {
			b.log.Warn().Err(err).Msg("ui: cannot watch the live state; retrying")
			select {
			case <-ctx.Done():
			case <-time.After(5 * time.Second):
			}
			continue
		}
		for e := range w.Updates() {
			if e == nil {
				continue // the initial values are in
			}
			b.apply(e.Key(), e.Operation(), e.Value())
		}
		_ = w.Stop() // the channel closed: the watch ended; nothing to report
	}
}

func (b *liveBoard) apply(key string, op jetstream.KeyValueOp, value []byte) {
	if b.applied != nil {
		defer b.applied()
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if strings.HasPrefix(key, liveHealth) {
		b.applyHealth(key, op, value)
		return
	}
	if op != jetstream.KeyValuePut {
		delete(b.recs, key)
		return
	}
	var r liveRecord
	if err := json.Unmarshal(value, &r); err != nil {
		b.log.Warn().Err(err).Str("key", key).Msg("ui: unreadable live record ignored")
		return
	}
	b.recs[key] = r
}

// records returns the live records of one service in one environment.
func (b *liveBoard) records(repo, svc, env string) []liveRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []liveRecord
	for _, k := range []string{liveKey(livePR, repo, svc, env), liveKey(liveWait, repo, svc, env), liveKey(liveFail, repo, svc, env)} {
		if r, ok := b.recs[k]; ok {
			out = append(out, r)
		}
	}
	return out
}

// observe records what a handled intent means for the page: a PR opened
// or updated is open; a closed gate holds the promotion; a direct commit
// clears both. Each replaces the record of a promotion given up on. A few
// KV writes per service, never on the intent's path to failure: a write
// that fails is logged and the page is merely stale.
func (b *liveBoard) observe(ctx context.Context, res worker.Result) {
	in := res.Intent
	if in.To == "" || in.Repo == "" {
		return
	}
	for _, svc := range in.Services {
		var put, del []string
		var rec liveRecord
		base := liveRecord{Repo: in.Repo, Service: svc, Env: in.To, Tag: in.Tag, At: b.clock(), Intent: in.ID, Created: in.CreatedAt}
		switch {
		case (res.Outcome == worker.Opened || res.Outcome == worker.Updated) && res.PR != 0:
			rec = base
			rec.PR, rec.PRURL = res.PR, res.PRURL
			put, del = []string{livePR}, []string{liveWait}
		case res.Outcome == worker.Committed:
			del = []string{livePR, liveWait}
		case (res.Outcome == worker.Refused || res.Outcome == worker.Delayed) && res.Gate != "":
			rec = base
			rec.Gate, rec.Reason, rec.OpensAt = res.Gate, res.Reason, res.RetryAt
			put = []string{liveWait}
		default:
			continue
		}
		for _, kind := range put {
			data, err := json.Marshal(rec)
			if err == nil {
				_, err = b.kv.Put(ctx, liveKey(kind, in.Repo, svc, in.To), data)
			}
			if err != nil {
				b.log.Warn().Err(err).Str("intent", in.ID).Str("delivery", in.DeliveryID).Msg("ui: live record not written; the page is stale until the next one")
			}
		}
		for _, kind := range del {
			if err := b.kv.Delete(ctx, liveKey(kind, in.Repo, svc, in.To)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
				b.log.Warn().Err(err).Str("intent", in.ID).Str("delivery", in.DeliveryID).Msg("ui: live record not cleared; the page is stale until the next one")
			}
		}
		b.clearFailed(ctx, in, svc)
	}
}
