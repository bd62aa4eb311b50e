package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/nats-io/nuid"
)

// Recovery is what Open took back from the processes that ran on its
// Instance before (see Instance).
type Recovery struct {
	Gone    []string // earlier boot ids with no process behind them: recovered
	Alive   []string // earlier boot ids a live process answered for: left alone
	Unknown []string // no answer either way: left to the ack wait and the lease TTL
	// Leases of gone boots deleted.
	Leases int
	// Deliveries in flight in gone boots handed back for redelivery now.
	Deliveries int
	// Stale counts in-flight deliveries of gone boots not handed back: too
	// close to (or past) their ack wait, JetStream redelivers them itself,
	// maybe already to another worker, whose delivery a late hand-back would
	// disturb (processNak does not check the delivery count); or the
	// hand-back failed.
	Stale int
}

// nakMargin is how far from its redelivery time an in-flight delivery may
// still be handed back: JetStream keeps pending timestamps to the second
// across a restart, and the hand-back must reach it before it redelivers.
const nakMargin = 2 * time.Second

// leaseValue is a lease's content when its holder has an Instance.
type leaseValue struct {
	Holder string `json:"holder"`
	Boot   string `json:"boot"`
}

const presencePrefix = "promobot.instance."

func presenceAnswer(boot string) []byte { return []byte("promobot " + boot) }

// Recovery reports what Open recovered; zero without an Instance.
func (q *Queue) Recovery() Recovery { return q.recovery }

// recover runs once in Open with an Instance: answer for this boot, then
// recover the boots found in the directory that nobody answers for. It is
// best effort: what it cannot recover comes back after the ack wait and
// the lease TTL, as without an Instance.
func (q *Queue) recover(ctx context.Context) {
	in := q.cfg.Instance
	log := q.log.With().Str("boot", in.boot).Logger()
	if q.advertise(ctx) {
		q.boot = in.boot
	} else {
		// Leases without a boot id can never be recovered by another
		// process: right when no process can ask whether this one lives.
		log.Warn().Msg("queue cannot answer on NATS for this process: its leases will not name it, so after a crash they wait out their TTL")
	}

	var entries []journalEntry
	for _, e := range q.readJournal() {
		if e.ok && e.boot == in.boot {
			continue // this process's own (a second Queue on the Instance)
		}
		entries = append(entries, e)
	}
	boots := slices.Clone(in.previous)
	for _, e := range entries {
		if e.ok && !slices.Contains(boots, e.boot) {
			boots = append(boots, e.boot)
		}
	}
	rec := &q.recovery
	gone := map[string]bool{}
	for _, b := range boots {
		switch q.liveness(ctx, b) {
		case bootGone:
			gone[b] = true
			rec.Gone = append(rec.Gone, b)
		case bootAlive:
			rec.Alive = append(rec.Alive, b)
		default:
			rec.Unknown = append(rec.Unknown, b)
		}
	}
	if len(gone) > 0 {
		// Leases first: a delivery handed back must not find its target
		// still held by its dead worker.
		n, err := q.dropLeases(ctx, gone)
		rec.Leases = n
		if err != nil {
			log.Warn().Err(err).Msg("queue recovery: leases of the previous process not all released; they expire after their TTL")
		}
	}
	for _, e := range entries {
		switch {
		case !e.ok || !gone[e.boot]:
		case time.Now().Before(e.sent.Add(q.cfg.AckWait - nakMargin)):
			if err := q.handBack(ctx, e.reply); err != nil {
				log.Warn().Err(err).Msg("queue recovery: a delivery of the previous process not handed back; it returns after the ack wait")
				rec.Stale++
			} else {
				rec.Deliveries++
			}
		default:
			rec.Stale++
		}
		// The directory is this process's alone: every entry in it is an
		// earlier process's, handed back or not.
		if err := os.Remove(e.path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Warn().Err(err).Msg("queue in-flight record not removed")
		}
	}
	in.previous = slices.Clone(rec.Unknown)
	if err := in.recovered(rec.Unknown); err != nil {
		log.Warn().Err(err).Msg("queue instance boots not written")
	}
	if len(boots) > 0 {
		log.Info().Strs("gone", rec.Gone).Strs("alive", rec.Alive).Strs("unknown", rec.Unknown).
			Int("leases_released", rec.Leases).Int("deliveries_handed_back", rec.Deliveries).Int("deliveries_stale", rec.Stale).
			Msg("queue recovered from the previous process on this data directory")
	}
}

// advertise answers on this boot's presence subject and checks, by asking
// itself, that the answer gets through (subject permissions may deny it).
func (q *Queue) advertise(ctx context.Context) bool {
	in := q.cfg.Instance
	subj := presencePrefix + in.boot
	answer := presenceAnswer(in.boot)
	if _, err := q.nc.Subscribe(subj, func(m *nats.Msg) { _ = m.Respond(answer) }); err != nil {
		return false
	}
	for range 3 {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		m, err := q.nc.RequestWithContext(rctx, subj, nil)
		cancel()
		if err == nil {
			return string(m.Data) == string(answer)
		}
		if ctx.Err() != nil {
			return false
		}
	}
	return false
}

type liveness int

const (
	bootUnknown liveness = iota
	bootGone
	bootAlive
)

// liveness asks NATS whether a process answers for boot. Only "no
// responders" (the server knows no subscriber) proves it gone. A timeout
// means a subscriber that does not answer: a client that died a moment ago
// and that the server has not dropped yet, or a stuck one; ask again a few
// times, then give up (unknown).
func (q *Queue) liveness(ctx context.Context, boot string) liveness {
	for range 3 {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		_, err := q.nc.RequestWithContext(rctx, presencePrefix+boot, nil)
		cancel()
		switch {
		case err == nil:
			return bootAlive // any answer, even one that is not a promobot's
		case errors.Is(err, nats.ErrNoResponders):
			return bootGone
		case ctx.Err() != nil:
			return bootUnknown
		}
	}
	return bootUnknown
}

// dropLeases deletes every lease held by a gone boot, each only at the
// revision read (a lease that changed since is someone else's).
func (q *Queue) dropLeases(ctx context.Context, gone map[string]bool) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	w, err := q.leases.WatchAll(ctx, jetstream.IgnoreDeletes())
	if err != nil {
		return 0, err
	}
	defer func() { _ = w.Stop() }()
	var held []jetstream.KeyValueEntry
	for listing := true; listing; {
		select {
		case e, ok := <-w.Updates():
			if !ok || e == nil { // nil marks the end of the current values
				listing = false
				break
			}
			held = append(held, e)
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	n := 0
	var errs []error
	for _, e := range held {
		var v leaseValue
		if json.Unmarshal(e.Value(), &v) != nil || !gone[v.Boot] {
			continue
		}
		err := q.leases.Delete(ctx, e.Key(), jetstream.LastRevision(e.Revision()))
		switch {
		case err == nil:
			n++
		case CASConflict(err):
			// Expired and taken by another worker since it was read.
		default:
			errs = append(errs, fmt.Errorf("delete lease %s: %w", e.Key(), err))
		}
	}
	return n, errors.Join(errs...)
}

// handBack naks a delivery by its ack subject, so JetStream redelivers it
// now, and waits for the server to confirm.
func (q *Queue) handBack(ctx context.Context, reply string) error {
	if !strings.HasPrefix(reply, "$JS.ACK.") {
		return fmt.Errorf("not an ack subject: %q", reply)
	}
	ctx, cancel := context.WithTimeout(ctx, q.cfg.PublishTimeout)
	defer cancel()
	_, err := q.nc.RequestWithContext(ctx, reply, []byte("-NAK"))
	return err
}

// journalEntry is one in-flight record: "<sent unix ns> <boot> <ack subject>".
type journalEntry struct {
	path, boot, reply string
	sent              time.Time
	ok                bool // parsed
}

func (q *Queue) readJournal() []journalEntry {
	dir := filepath.Join(q.cfg.Instance.dir, inflightDir)
	des, err := os.ReadDir(dir)
	if err != nil {
		q.log.Warn().Err(err).Msg("queue in-flight records not read")
		return nil
	}
	var out []journalEntry
	for _, de := range des {
		if de.IsDir() {
			continue
		}
		e := journalEntry{path: filepath.Join(dir, de.Name())}
		if b, err := os.ReadFile(e.path); err == nil {
			// An entry cut short by a crash does not parse and is dropped.
			if f := strings.Fields(string(b)); len(f) == 3 && validBoot(f[1]) {
				if ns, err := strconv.ParseInt(f[0], 10, 64); err == nil {
					e.sent, e.boot, e.reply, e.ok = time.Unix(0, ns), f[1], f[2], true
				}
			}
		}
		out = append(out, e)
	}
	return out
}

// journalPath names the record of one delivery in the instance directory.
func (q *Queue) journalPath(meta *jetstream.MsgMetadata) string {
	if q.cfg.Instance == nil {
		return ""
	}
	return filepath.Join(q.cfg.Instance.dir, inflightDir,
		strconv.FormatUint(meta.Sequence.Stream, 10)+"-"+strconv.FormatUint(meta.NumDelivered, 10))
}

// record writes the in-flight record of d with the time its last confirmed
// heartbeat was sent: JetStream redelivers it no earlier than AckWait after.
// A failure costs only the fast hand-back after a crash.
func (q *Queue) record(d *Delivery, sent time.Time) {
	b := fmt.Appendf(nil, "%d %s %s\n", sent.UnixNano(), q.cfg.Instance.boot, d.msg.Reply())
	if err := os.WriteFile(d.record, b, 0o600); err != nil {
		q.log.Warn().Err(err).Str("subject", d.Subject()).Msg("queue in-flight record not written")
	}
}

// newHolder is a lease's value: a unique holder, with this process's boot id
// when it can be recovered.
func (q *Queue) newHolder() []byte {
	id := nuid.Next()
	if q.boot == "" {
		return []byte(id)
	}
	b, err := json.Marshal(leaseValue{Holder: id, Boot: q.boot})
	if err != nil {
		return []byte(id)
	}
	return b
}
