package crash

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
)

// How soon promobot is back after a crash, with its default settings
// (issue #10): from the restart of a process killed with SIGKILL to the
// effect of the intent it was working on (PR written, build status set,
// intent acked).
const (
	// restartBound: the killed process restarted on the same --data-dir
	// (promobot serve with its embedded NATS, or a promobot worker).
	restartBound = 10 * time.Second
	// takeoverBound: any other worker, e.g. one with another data directory
	// on another machine: the ack wait and the lease TTL (20 s by default),
	// plus the work.
	takeoverBound = 30 * time.Second
)

const (
	webhookSecret = "crash-test-webhook-secret"
	buildWorkflow = ".github/workflows/build.yml"
)

// TestRestartAfterKill: `promobot serve` (webhook server, worker and
// embedded NATS in one process) acknowledges a workflow_run webhook with
// 202, is killed with SIGKILL while working on its intent (before the
// commit, after opening the PR, and on the last GitHub call before the ack),
// and is started again on the same data directory with default settings. The intent's effect must come within
// restartBound of the restart, exactly once.
func TestRestartAfterKill(t *testing.T) {
	var mu sync.Mutex
	var figures []string
	t.Cleanup(func() {
		for _, f := range figures {
			t.Log(f)
		}
	})
	for _, p := range []killPoint{beforeCommit, afterPR, beforeAck} {
		t.Run(p.name, func(t *testing.T) {
			t.Parallel()
			took, restart, rec := restartAfterKill(t, p)
			mu.Lock()
			figures = append(figures, fmt.Sprintf("%s: intent done %s after the restart (bound %s); recovery logged after %s: %d lease(s) released, %d delivery handed back",
				p.name, took.Round(time.Millisecond), restartBound, rec.Time.Sub(restart).Round(time.Millisecond), rec.Leases, rec.Deliveries))
			mu.Unlock()
		})
	}
}

func restartAfterKill(t *testing.T, p killPoint) (took time.Duration, restart time.Time, recovery logLine) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newEnv(t, ctx, 1, true)

	var victim sync.Mutex
	var cur *worker
	var armed, fired bool
	killed := make(chan struct{})
	e.gh.SetFault(func(c githubtest.Call) *githubtest.Fault {
		victim.Lock()
		defer victim.Unlock()
		if !armed || fired || !p.matches(c) {
			return nil
		}
		fired = true
		cur.kill() // reaped before the request is answered
		close(killed)
		return &githubtest.Fault{Status: 502}
	})
	start := func(name string) *worker {
		w := e.startProc(t, name, e.data, "serve")
		victim.Lock()
		cur = w
		victim.Unlock()
		return w
	}

	s1 := start("serve-1")
	addr := listenAddr(t, ctx, s1)
	content := "build\n"
	sha, err := e.gh.Commit(buildsRepo, "main", map[string]*string{"svc-0.txt": &content}, "build svc-0")
	if err != nil {
		t.Fatal(err)
	}
	e.shas = []string{sha}
	const delivery = "4e5f6a70-0000-4000-8000-000000000010"
	victim.Lock()
	armed = true
	victim.Unlock()
	if code, err := deliver(ctx, "http://"+addr+"/webhook", "workflow_run", delivery, workflowRun(e.gh.URL(), sha)); err != nil || code != http.StatusAccepted {
		t.Fatalf("webhook = %d, %v; want 202", code, err)
	}
	id := intent.MsgID(delivery, 0)
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatalf("kill point %s never reached\n%s", p.name, s1.logTail())
	}

	restart = time.Now()
	s2 := start("serve-2")
	done, err := s2.log.waitFor(ctx, "intent "+id+" acked", func(ln logLine) bool {
		return ln.Message == "intent handled" && ln.Intent == id && ln.Action == "ack"
	})
	if err != nil {
		t.Fatal(err)
	}
	took = done.Time.Sub(restart)
	if took > restartBound {
		t.Errorf("intent done %s after the restart, bound %s", took, restartBound)
	}
	// The killed process held the target's lease at every kill point (and
	// the policy scheduler's, when it had taken it).
	rec, ok := s2.log.recovery()
	if want := 1 + s1.log.singletons(); !ok || len(rec.Gone) != 1 || rec.Deliveries != 1 || rec.Leases != want {
		t.Errorf("recovery %+v (logged: %v), want the killed boot gone, %d lease(s) released, 1 delivery handed back", rec, ok, want)
	}

	// Stop gracefully, then read the queue from the data directory.
	if err := s2.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-s2.exited:
	case <-ctx.Done():
		t.Fatal("promobot serve did not stop on SIGTERM")
	}
	var js jetstream.JetStream
	e.q, js = openDataDirQueue(t, ctx, e.data)
	e.check(t, ctx, "sha-"+sha[:7], []string{id})
	if n := streamMsgs(t, ctx, js); n != 0 {
		t.Errorf("%d intents left in the stream", n)
	}
	return took, restart, rec
}

// TestTakeoverAfterKill: a promobot worker is killed with SIGKILL while
// holding an intent and its target's lease, and another worker (its own
// data directory, so nothing to recover from) takes over with default
// settings: the effect comes within takeoverBound of its start, once the
// ack wait and the lease TTL have run out.
func TestTakeoverAfterKill(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newEnv(t, ctx, 1, false)
	var fired bool
	var mu sync.Mutex
	killed := make(chan struct{})
	var w1 *worker
	e.gh.SetFault(func(c githubtest.Call) *githubtest.Fault {
		mu.Lock()
		defer mu.Unlock()
		if fired || !beforeCommit.matches(c) {
			return nil
		}
		fired = true
		w1.kill()
		close(killed)
		return &githubtest.Fault{Status: 502}
	})
	mu.Lock()
	w1 = e.startWorker(t, "victim")
	mu.Unlock()
	ids := e.publish(t, ctx, "takeover", "v1.1.0")
	select {
	case <-killed:
	case <-ctx.Done():
		t.Fatalf("kill point never reached\n%s", w1.logTail())
	}
	kill := time.Now()

	restart := time.Now()
	w2 := e.startProc(t, "other", filepath.Join(e.dir, "other-data"), "worker", "--nats-url", e.natsURL)
	done, err := w2.log.waitFor(ctx, "intent acked", func(ln logLine) bool {
		return ln.Message == "intent handled" && ln.Intent == ids[0] && ln.Action == "ack"
	})
	if err != nil {
		t.Fatal(err)
	}
	took := done.Time.Sub(restart)
	t.Logf("intent done %s after the other worker started, %s after the kill (bound %s; ack wait and lease TTL %s)",
		took.Round(time.Millisecond), done.Time.Sub(kill).Round(time.Millisecond), takeoverBound, queue.DefaultAckWait)
	if took > takeoverBound {
		t.Errorf("intent done %s after the other worker started, bound %s", took, takeoverBound)
	}
	if rec, ok := w2.log.recovery(); ok {
		t.Errorf("a worker on a fresh data directory recovered %+v", rec)
	}
	e.waitDrained(t, ctx, w2)
	e.check(t, ctx, "v1.1.0", ids)
}

// listenAddr waits for the process to report the address it serves on.
func listenAddr(t *testing.T, ctx context.Context, w *worker) string {
	t.Helper()
	ln, err := w.log.waitFor(ctx, "start", func(ln logLine) bool { return ln.Message == "promobot started" })
	if err != nil {
		t.Fatalf("%v\n%s", err, w.logTail())
	}
	return ln.Listen
}

// workflowRun is a successful run of the build workflow of acme/builds at sha.
func workflowRun(ghURL, sha string) []byte {
	b, err := json.Marshal(map[string]any{
		"action":       "completed",
		"installation": map[string]any{"id": instID},
		"repository":   map[string]any{"full_name": buildsRepo, "html_url": ghURL + "/" + buildsRepo},
		"sender":       map[string]any{"login": "alice"},
		"workflow":     map[string]any{"path": buildWorkflow},
		"workflow_run": map[string]any{
			"conclusion": "success", "status": "completed", "event": "push", "head_branch": "main", "head_sha": sha,
			"path": buildWorkflow, "run_number": 7, "display_title": "build svc-0",
			"html_url":    ghURL + "/" + buildsRepo + "/actions/runs/7",
			"head_commit": map[string]any{"id": sha, "message": "build svc-0"},
		},
	})
	if err != nil {
		panic(err)
	}
	return b
}

// deliver POSTs a signed webhook delivery as GitHub does.
func deliver(ctx context.Context, url, event, id string, payload []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(payload))
	if err != nil {
		return 0, err
	}
	mac := hmac.New(sha256.New, []byte(webhookSecret))
	mac.Write(payload)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-GitHub-Event", event)
	req.Header.Set("X-GitHub-Delivery", id)
	req.Header.Set("X-Hub-Signature-256", "sha256="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}

// openDataDirQueue opens the queue of a stopped promobot serve from its data
// directory, with a throwaway embedded server.
func openDataDirQueue(t *testing.T, ctx context.Context, dataDir string) (*queue.Queue, jetstream.JetStream) {
	t.Helper()
	ns, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: filepath.Join(dataDir, "jetstream")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	nc, err := nats.Connect(ns.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	q, err := queue.Open(ctx, nc, queue.Config{})
	if err != nil {
		t.Fatal(err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return q, js
}

// streamMsgs counts the intents left in the stream.
func streamMsgs(t *testing.T, ctx context.Context, js jetstream.JetStream) uint64 {
	t.Helper()
	s, err := js.Stream(ctx, queue.DefaultStream)
	if err != nil {
		t.Fatal(err)
	}
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return info.State.Msgs
}
