package queue

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
)

const recoverKey = "acme/gitops/web/dev"

// Environment of the child process TestRecoverChild runs as.
const (
	childNATSDir  = "PROMOBOT_QUEUE_CHILD_NATS_DIR" // start an embedded server here (serve)
	childNATSURL  = "PROMOBOT_QUEUE_CHILD_NATS_URL" // or connect to this one (worker)
	childInstance = "PROMOBOT_QUEUE_CHILD_INSTANCE"
	childNoLease  = "PROMOBOT_QUEUE_CHILD_NO_LEASE" // die before taking the lease
)

// TestRecoverChild is not a test: TestRecoverAfterKill runs the test binary
// with it as a promobot-like worker process, which takes one intent, holds
// its target's lease, reports "HELD <boot>" on stdout and works until it is
// killed.
func TestRecoverChild(t *testing.T) {
	instDir := os.Getenv(childInstance)
	if instDir == "" {
		t.Skip("run by TestRecoverAfterKill")
	}
	url := os.Getenv(childNATSURL)
	if dir := os.Getenv(childNATSDir); dir != "" {
		url = startServer(t, dir).ClientURL()
	}
	inst, err := OpenInstance(instDir)
	if err != nil {
		t.Fatal(err)
	}
	q := openQueue(t, connectURL(t, url), Config{Instance: inst})
	publish(t, q, msg(1))
	consume(t, q, 1, func(ctx context.Context, d *Delivery) Outcome {
		if os.Getenv(childNoLease) == "" {
			_, release, err := q.Hold(ctx, recoverKey)
			if err != nil {
				return Outcome{Action: Retry, Reason: err.Error()}
			}
			defer release()
		}
		fmt.Fprintf(os.Stdout, "HELD %s\n", inst.Boot())
		<-ctx.Done()
		return Outcome{Action: Release}
	})
	select {} // until SIGKILL
}

// A worker process killed with SIGKILL while it works on an intent (holding
// its target's lease, or before taking it), restarted on the same instance
// directory with default settings: the restarted process finds the lease
// already gone and gets the intent again at once, not after the 20 s ack
// wait and lease TTL. Both with the NATS server killed along with the
// process (promobot serve, embedded) and with NATS outliving it (promobot
// worker).
func TestRecoverAfterKill(t *testing.T) {
	for _, tc := range []struct {
		name            string
		embedded, lease bool
	}{{"serve", true, true}, {"worker", false, true}, {"worker-before-lease", false, false}} {
		embedded := tc.embedded
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			natsDir, instDir := filepath.Join(dir, "nats"), filepath.Join(dir, "instance")
			env := append(os.Environ(), childInstance+"="+instDir)
			var e *Embedded
			if embedded {
				env = append(env, childNATSDir+"="+natsDir)
			} else {
				e = startServer(t, natsDir)
				env = append(env, childNATSURL+"="+e.ClientURL())
			}
			if !tc.lease {
				env = append(env, childNoLease+"=1")
			}
			boot := runChildUntilKilled(t, env)

			if embedded {
				e = startServer(t, natsDir) // the same store, as a restarted promobot serve
			}
			restart := time.Now()
			inst, err := OpenInstance(instDir)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = inst.Close() })
			q := openQueue(t, connect(t, e), Config{Instance: inst})
			rec := q.Recovery()
			wantLeases := 0
			if tc.lease {
				wantLeases = 1
			}
			if len(rec.Gone) != 1 || rec.Gone[0] != boot || rec.Leases != wantLeases || rec.Deliveries != 1 {
				t.Fatalf("recovery = %+v, want boot %s gone, %d lease(s) and 1 delivery taken back", rec, boot, wantLeases)
			}
			// The dead process's lease is gone already: no waiting for its TTL.
			l, err := q.Lease(context.Background(), recoverKey)
			if err != nil {
				t.Fatalf("lease right after recovery: %v", err)
			}
			_ = l.Release(context.Background())
			got := make(chan uint64, 1)
			consume(t, q, 1, func(_ context.Context, d *Delivery) Outcome {
				got <- d.NumDelivered()
				return Outcome{Action: Ack}
			})
			select {
			case n := <-got:
				took := time.Since(restart)
				t.Logf("intent back %s after the restart (ack wait %s)", took.Round(time.Millisecond), DefaultAckWait)
				if n != 2 {
					t.Errorf("NumDelivered = %d, want 2", n)
				}
				// Handed back, not redelivered by the ack wait: that would
				// take about DefaultAckWait from the child's last heartbeat.
				if took > DefaultAckWait/2 {
					t.Errorf("intent back after %s, not at once", took)
				}
			case <-time.After(waitLong):
				t.Fatal("intent never redelivered")
			}
			settled(t, q)
			if b, err := os.ReadFile(filepath.Join(instDir, bootsFile)); err != nil || strings.TrimSpace(string(b)) != inst.Boot() {
				t.Errorf("boots file = %q, %v; want only the current boot", b, err)
			}
		})
	}
}

// runChildUntilKilled starts TestRecoverChild, waits for it to hold the
// lease and kills it with SIGKILL. It returns the child's boot id.
func runChildUntilKilled(t *testing.T, env []string) string {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestRecoverChild$", "-test.count=1")
	cmd.Env = env
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	held := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if b, ok := strings.CutPrefix(sc.Text(), "HELD "); ok {
				held <- b
			}
		}
		close(held)
	}()
	var boot string
	select {
	case b, ok := <-held:
		if !ok {
			_ = cmd.Wait()
			t.Fatal("child exited before holding the lease")
		}
		boot = b
	case <-time.After(waitLong):
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		t.Fatal("child never held the lease")
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait() // "signal: killed"
	return boot
}

// A live process is never recovered from: a second process on a copy of the
// first one's instance directory (same earlier boots, same in-flight
// records) finds the first one answering and leaves its lease and its
// delivery alone.
func TestRecoverNeverTouchesLiveProcess(t *testing.T) {
	e := startServer(t, t.TempDir())
	dirA, dirB := t.TempDir(), t.TempDir()
	instA, err := OpenInstance(dirA)
	if err != nil {
		t.Fatal(err)
	}
	defer instA.Close()
	qA := openQueue(t, connect(t, e), Config{Instance: instA})
	if rec := qA.Recovery(); len(rec.Gone)+len(rec.Alive)+len(rec.Unknown) != 0 {
		t.Fatalf("fresh instance recovered %+v", rec)
	}
	publish(t, qA, msg(1))
	held, finish := make(chan struct{}), make(chan struct{})
	var calls atomic.Int32
	consume(t, qA, 1, func(ctx context.Context, d *Delivery) Outcome {
		calls.Add(1)
		_, release, err := qA.Hold(ctx, recoverKey)
		if err != nil {
			return Outcome{Action: Retry, Reason: err.Error()}
		}
		defer release()
		close(held)
		<-finish
		return Outcome{Action: Ack}
	})
	<-held
	copyDir(t, dirA, dirB)

	instB, err := OpenInstance(dirB)
	if err != nil {
		t.Fatal(err)
	}
	defer instB.Close()
	qB := openQueue(t, connect(t, e), Config{Instance: instB})
	rec := qB.Recovery()
	if len(rec.Alive) != 1 || rec.Alive[0] != instA.Boot() || len(rec.Gone) != 0 || rec.Leases != 0 || rec.Deliveries != 0 {
		t.Fatalf("recovery = %+v, want %s alive and nothing taken", rec, instA.Boot())
	}
	if _, err := qB.Lease(context.Background(), recoverKey); !errors.Is(err, ErrLeaseHeld) {
		t.Fatalf("lease of the live process = %v, want ErrLeaseHeld", err)
	}
	if info := consumerInfo(t, qA); info.NumRedelivered != 0 || info.NumAckPending != 1 {
		t.Fatalf("consumer redelivered %d, ack pending %d: the live delivery was disturbed", info.NumRedelivered, info.NumAckPending)
	}
	close(finish)
	settled(t, qA)
	if n := calls.Load(); n != 1 {
		t.Errorf("handler ran %d times, want 1", n)
	}
}

// Leases name their holder's boot; one directory has one live process.
func TestInstanceLockAndLeaseValue(t *testing.T) {
	dir := t.TempDir()
	a, err := OpenInstance(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := OpenInstance(dir); !errors.Is(err, ErrInstanceBusy) {
		t.Fatalf("second OpenInstance = %v, want ErrInstanceBusy", err)
	}
	q, _ := newQueue(t, Config{Instance: a})
	ctx := context.Background()
	l, err := q.Lease(ctx, recoverKey)
	if err != nil {
		t.Fatal(err)
	}
	ent, err := q.leases.Get(ctx, EscapeKey(recoverKey))
	if err != nil {
		t.Fatal(err)
	}
	var v leaseValue
	if err := json.Unmarshal(ent.Value(), &v); err != nil || v.Boot != a.Boot() || v.Holder == "" {
		t.Errorf("lease value %q (%v), want holder and boot %s", ent.Value(), err, a.Boot())
	}
	if err := l.Refresh(ctx); err != nil {
		t.Errorf("refresh: %v", err)
	}
	if err := l.Release(ctx); err != nil {
		t.Errorf("release: %v", err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := OpenInstance(dir)
	if err != nil {
		t.Fatalf("OpenInstance after Close: %v", err)
	}
	defer b.Close()
	if len(b.previous) != 1 || b.previous[0] != a.Boot() || b.Boot() == a.Boot() {
		t.Errorf("previous boots %v, boot %s; want [%s] and a new boot", b.previous, b.Boot(), a.Boot())
	}
}

// An in-flight record too close to its redelivery time is not handed back
// (the delivery may be another worker's by then), and is cleared.
func TestRecoverSkipsStaleRecord(t *testing.T) {
	dir := t.TempDir()
	const dead = "AAAAAAAAAAAAAAAAAAAAAA" // a boot id nobody answers for
	rec := filepath.Join(dir, inflightDir, "7-1")
	if err := os.MkdirAll(filepath.Dir(rec), 0o700); err != nil {
		t.Fatal(err)
	}
	sent := time.Now().Add(-DefaultAckWait + nakMargin/2)
	if err := os.WriteFile(rec, fmt.Appendf(nil, "%d %s $JS.ACK.PROMOBOT_INTENTS.promobot-planner.1.7.1.0.0\n", sent.UnixNano(), dead), 0o600); err != nil {
		t.Fatal(err)
	}
	inst, err := OpenInstance(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer inst.Close()
	q, _ := newQueue(t, Config{Instance: inst})
	if r := q.Recovery(); len(r.Gone) != 1 || r.Stale != 1 || r.Deliveries != 0 {
		t.Errorf("recovery = %+v, want the dead boot gone and its record stale", r)
	}
	if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("stale record kept: %v", err)
	}
}

func connectURL(t testing.TB, url string) *nats.Conn {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func copyDir(t *testing.T, from, to string) {
	t.Helper()
	err := filepath.WalkDir(from, func(p string, de os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		if de.Name() == lockFile {
			return nil
		}
		if de.IsDir() {
			return os.MkdirAll(filepath.Join(to, rel), 0o700)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(to, rel), b, 0o600)
	})
	if err != nil {
		t.Fatal(err)
	}
}
