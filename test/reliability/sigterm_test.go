package reliability

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/demo"
	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/queue"
)

// promobotLog reads a promobot process's JSON log lines as they come: the
// address it listens on, and every intent it reports handled.
type promobotLog struct {
	mu      sync.Mutex
	raw     bytes.Buffer
	partial []byte
	listen  string
	handled map[string]string // intent id → outcome
	started chan struct{}
	notify  chan struct{}
}

func newPromobotLog() *promobotLog {
	return &promobotLog{handled: map[string]string{}, started: make(chan struct{}), notify: make(chan struct{}, 1)}
}

func (l *promobotLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.raw.Write(p)
	l.partial = append(l.partial, p...)
	for {
		i := bytes.IndexByte(l.partial, '\n')
		if i < 0 {
			break
		}
		l.line(l.partial[:i])
		l.partial = l.partial[i+1:]
	}
	select {
	case l.notify <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (l *promobotLog) line(b []byte) {
	var e struct {
		Message, Listen, Intent, Outcome string
	}
	if json.Unmarshal(b, &e) != nil {
		return // not a log line (e.g. a panic trace): kept in raw only
	}
	switch e.Message {
	case "promobot started":
		if l.listen == "" {
			l.listen = e.Listen
			close(l.started)
		}
	case "intent handled":
		l.handled[e.Intent] = e.Outcome
	}
}

func (l *promobotLog) handledIDs() map[string]string {
	l.mu.Lock()
	defer l.mu.Unlock()
	out := make(map[string]string, len(l.handled))
	for k, v := range l.handled {
		out[k] = v
	}
	return out
}

func (l *promobotLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.raw.String()
}

// serveProc is one `promobot serve` process.
type serveProc struct {
	cmd  *exec.Cmd
	log  *promobotLog
	done chan struct{} // closed when the process has exited
	err  error         // Wait's result, valid after done
	url  string        // webhook URL
}

func startServe(t *testing.T, ctx context.Context, args []string, env []string) *serveProc {
	t.Helper()
	p := &serveProc{log: newPromobotLog(), done: make(chan struct{})}
	p.cmd = exec.Command(binary, append([]string{"serve"}, args...)...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout = io.Discard
	p.cmd.Stderr = p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start promobot serve: %v", err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			// The test failed before stopping it: no orphan process.
			if err := p.cmd.Process.Kill(); err != nil {
				t.Logf("kill promobot: %v", err)
			}
			<-p.done
		}
		if t.Failed() {
			t.Logf("promobot serve (pid %d) log:\n%s", p.cmd.Process.Pid, p.log.String())
		}
	})
	select {
	case <-p.log.started:
	case <-p.done:
		t.Fatalf("promobot serve exited at start: %v\n%s", p.err, p.log.String())
	case <-ctx.Done():
		t.Fatalf("promobot serve did not start: %v\n%s", ctx.Err(), p.log.String())
	}
	p.url = "http://" + p.log.listen + "/webhook"
	if err := eventually(ctx, 50*time.Millisecond, func() (bool, error) {
		resp, err := client.Get("http://" + p.log.listen + "/readyz")
		if err != nil {
			return false, err
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	}); err != nil {
		t.Fatalf("promobot serve never ready: %v", err)
	}
	return p
}

// stop sends SIGTERM and waits, at most d, for the process to exit.
func (p *serveProc) stop(t *testing.T, d time.Duration) (time.Duration, error) {
	t.Helper()
	start := time.Now()
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("SIGTERM: %v", err)
	}
	select {
	case <-p.done:
		return time.Since(start), p.err
	case <-time.After(d):
		t.Fatalf("promobot did not exit within %v of SIGTERM", d)
		return 0, nil
	}
}

// storedIDs opens the JetStream store under dir with a throwaway embedded
// server and returns the message ids left in the intent stream.
func storedIDs(t *testing.T, ctx context.Context, dir string) map[string]int {
	t.Helper()
	e, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: dir})
	if err != nil {
		t.Fatalf("open the stream store: %v", err)
	}
	defer e.Shutdown()
	nc, err := nats.Connect(e.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	var ids map[string]int
	if err := eventually(ctx, 100*time.Millisecond, func() (bool, error) {
		var err error
		ids, _, err = streamIDs(ctx, js)
		return err == nil, err
	}); err != nil {
		t.Fatalf("read the stream: %v", err)
	}
	return ids
}

// TestSIGTERMUnderLoad runs the real binary (`promobot serve`, embedded
// NATS) against the GitHub test server, sends a steady stream of signed
// deliveries and SIGTERMs it mid-stream. It must exit 0 in bounded time;
// every delivery answered 202 must be handled or still in the stream, and a
// second `promobot serve` on the same --data-dir must handle the rest;
// deliveries after SIGTERM get connection refused or 503, never a lost 202.
//
// The deliveries are pushes of services whose staging already runs dev's
// tag, so each intent is planned for real (mirror fetch, rules, planner;
// the pushes name a commit the mirror never has, so none is decided
// without a fetch) and skips without GitHub writes: the binary paces GitHub writes one per
// second, which would make the backlog, not shutdown, the test.
func TestSIGTERMUnderLoad(t *testing.T) {
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	dir := t.TempDir()
	keyPEM, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	gh, err := githubtest.New(githubtest.Config{Dir: filepath.Join(dir, "github"), AppID: demo.AppID, AppPublicKey: pub, InstallationID: demo.InstallationID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(gh.Close)
	services := []string{"svc-0", "svc-1", "svc-2", "svc-3"}
	files := map[string]string{}
	for _, s := range services {
		for p, c := range serviceFiles(s, map[string]string{"dev": "v2.0.0", "staging": "v2.0.0", "prod": "v1.0.0"}) {
			files[p] = c
		}
	}
	if err := gh.CreateRepo(demo.GitOpsRepo, "main", files); err != nil {
		t.Fatal(err)
	}
	const unfetchable = "feedfacefeedfacefeedfacefeedfacefeedface"
	keyPath := filepath.Join(dir, "app.pem")
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(keyPath, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(rulesPath, rulesFor(services, false), 0o600); err != nil {
		t.Fatal(err)
	}
	secret := []byte("sigterm-test-secret-0123456789abcdef")
	args := []string{"--rules", rulesPath, "--listen", "127.0.0.1:0", "--data-dir", filepath.Join(dir, "data"),
		"--github-api-url", gh.APIURL(), "--app-id", strconv.Itoa(demo.AppID), "--private-key-file", keyPath,
		"--workers", "2", "--log-format", "json", "--log-level", "info"}
	env := []string{"PROMOBOT_WEBHOOK_SECRET=" + string(secret)}
	payloads := make([][]byte, len(services))
	for i, s := range services {
		// A pushed commit the mirror never has: every intent fetches
		// (a push naming a commit the mirror already has is decided
		// without a fetch, and would leave no backlog to restart with).
		if payloads[i], err = push(gh.URL(), unfetchable, []string{overlayPath(s, "dev")}); err != nil {
			t.Fatal(err)
		}
	}

	began := time.Now()
	p1 := startServe(t, ctx, args, env)

	// The load: a delivery every 5 ms (at most), until told to stop.
	rec := newAnswers()
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			id := deliveryID("5e7e0000", n)
			start := time.Now()
			code, err := deliver(ctx, p1.url, secret, "push", id, payloads[n%len(payloads)])
			rec.add(answer{id: id, status: code, err: err, start: start, end: time.Now()})
		}
	}()
	stopLoad := func() {
		select {
		case <-stop:
		default:
			close(stop)
		}
		<-loadDone
	}
	t.Cleanup(stopLoad)

	// Mid-stream: a backlog in the stream and intents in flight.
	if err := rec.await(ctx, time.Minute, "150 deliveries answered 202", func(as []answer) bool { return since(as, time.Time{}, 202) >= 150 }); err != nil {
		t.Fatal(err)
	}
	if err := eventually(ctx, 20*time.Millisecond, func() (bool, error) { return len(p1.log.handledIDs()) >= 5, nil }); err != nil {
		t.Fatalf("promobot handled nothing under load: %v", err)
	}
	sigterm := time.Now()
	exitAfter, exitErr := p1.stop(t, 60*time.Second)
	if exitErr != nil {
		t.Errorf("promobot serve exited with %v after SIGTERM, want 0", exitErr)
	}
	// Keep sending until the listener is surely gone: three refusals.
	if err := rec.await(ctx, 30*time.Second, "three refused connections after exit", func(as []answer) bool {
		n := 0
		for _, x := range as {
			if x.start.After(sigterm) && x.err != nil {
				n++
			}
		}
		return n >= 3
	}); err != nil {
		t.Fatal(err)
	}
	stopLoad()
	all := rec.snapshot()

	// Every 202 is handled, or still in the stream.
	handled1 := p1.log.handledIDs()
	stored := storedIDs(t, ctx, filepath.Join(dir, "data", "jetstream"))
	accepted := map[string]bool{}
	var afterTerm, afterTerm202, inStream, handledBefore int
	codes := map[string]int{}
	for _, x := range all {
		label := strconv.Itoa(x.status)
		if x.err != nil {
			label = "connection error"
		}
		codes[label]++
		if x.start.After(sigterm) {
			afterTerm++
			switch {
			case x.status == 202:
				afterTerm202++
			case x.status == 503 || x.err != nil:
			default:
				t.Errorf("delivery %s after SIGTERM: %d %v, want 503 or a refused connection", x.id, x.status, x.err)
			}
		} else if x.status != 202 {
			t.Errorf("delivery %s before SIGTERM: %d %v", x.id, x.status, x.err)
		}
		if x.status != 202 {
			continue
		}
		accepted[intentID(x.id)] = true
		_, h := handled1[intentID(x.id)]
		s := stored[intentID(x.id)] > 0
		switch {
		case h:
			handledBefore++
		case s:
			inStream++
		default:
			t.Errorf("delivery %s answered 202 is neither handled nor in the stream: lost", x.id)
		}
	}
	if inStream == 0 {
		t.Errorf("no backlog at SIGTERM (%d handled of %d): the test did not exercise a restart", handledBefore, len(accepted))
	}

	// A second promobot on the same data handles what was left.
	restart := time.Now()
	p2 := startServe(t, ctx, args, env)
	if err := eventually(ctx, 50*time.Millisecond, func() (bool, error) {
		h2 := p2.log.handledIDs()
		for id := range accepted {
			if _, ok := handled1[id]; ok {
				continue
			}
			if _, ok := h2[id]; !ok {
				return false, fmt.Errorf("%s not handled yet", id)
			}
		}
		return true, nil
	}); err != nil {
		t.Fatalf("the restarted promobot did not handle the backlog: %v", err)
	}
	drained := time.Since(restart)
	if _, err := p2.stop(t, 60*time.Second); err != nil {
		t.Errorf("second promobot serve exited with %v after SIGTERM, want 0", err)
	}
	if left := storedIDs(t, ctx, filepath.Join(dir, "data", "jetstream")); len(left) != 0 {
		t.Errorf("%d intents left in the stream after the backlog was handled", len(left))
	}
	for id, outcome := range p2.log.handledIDs() {
		if !accepted[id] {
			t.Errorf("intent %s handled but never answered 202", id)
		}
		if outcome != "skipped" {
			t.Errorf("intent %s: %s, want skipped", id, outcome)
		}
	}
	// Neither process logged a secret either.
	for _, l := range leaks(p1.log.String()+p2.log.String(), keyPEM, []secretValue{{"the webhook secret", string(secret)}}) {
		t.Errorf("secret in promobot's log: %s", l)
	}
	t.Logf("sigterm: %d deliveries (%v); %d answered 202: %d handled before exit, %d left in the stream and handled by the restarted process in %v; "+
		"after SIGTERM %d sent, %d answered 202 (all kept); exit 0 %v after SIGTERM; wall %v",
		len(all), codes, len(accepted), handledBefore, inStream, drained.Round(time.Millisecond),
		afterTerm, afterTerm202, exitAfter.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}
