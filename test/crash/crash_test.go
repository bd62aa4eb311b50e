package crash

import (
	"bytes"
	"context"
	"crypto/rsa"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/githubtest"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
)

// The worker runs with promobot's default queue timings (ack wait and lease
// TTL 20 s), and the test's own queue.Open uses the same defaults, so
// neither rewrites the consumer or the lease bucket with other settings. A
// restarted worker takes the killed one's intent and lease back at once
// because it restarts on the same --data-dir (queue.Instance), which every
// trial checks in its log.

const (
	gitopsRepo = "acme/gitops"
	buildsRepo = "acme/builds" // source commits that get the build's status
	appID      = 4242
	instID     = 77
)

// bin is the promobot binary built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	flag.Parse()
	// Trials spend most of their time waiting (AckWait, lease expiry, the
	// worker's pacing of GitHub writes), so run more of them at once than
	// GOMAXPROCS unless asked.
	if !flagSet("test.parallel") {
		if err := flag.Set("test.parallel", "10"); err != nil {
			fmt.Fprintln(os.Stderr, "set parallel:", err)
			os.Exit(2)
		}
	}
	dir, err := os.MkdirTemp("", "promobot-crash-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(2)
	}
	bin = filepath.Join(dir, "promobot")
	code := build(bin)
	if code == 0 {
		code = m.Run()
	}
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "remove temp dir:", err)
	}
	os.Exit(code)
}

func flagSet(name string) bool {
	set := false
	flag.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}

func build(out string) int {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.Command(gobin, "build", "-o", out, "./cmd/promobot")
	cmd.Dir = filepath.Join("..", "..")
	if b, err := cmd.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build promobot: %v\n%s", err, b)
		return 1
	}
	return 0
}

// killPoint is where in the handling of an intent the worker dies: when the
// GitHub test server receives a matching request, the worker is killed and
// reaped before the request is answered (with a 502 that nobody reads), so
// the request has no effect and the worker does nothing after it.
type killPoint struct {
	name   string
	routes []string
	// fresh: the route is only called when no PR exists yet for the target.
	fresh bool
}

var (
	// Nothing written yet: the commit's tree is being made.
	beforeCommit = killPoint{name: "before-commit", routes: []string{"POST /repos/{owner}/{repo}/git/trees"}}
	// The commit object exists; the branch does not point at it yet.
	afterCommit = killPoint{name: "after-commit", routes: []string{
		"POST /repos/{owner}/{repo}/git/refs", "PATCH /repos/{owner}/{repo}/git/refs/{ref}"}}
	// The branch holds the commit; no PR opened (or updated) yet.
	afterBranch = killPoint{name: "after-branch", routes: []string{
		"POST /repos/{owner}/{repo}/pulls", "PATCH /repos/{owner}/{repo}/pulls/{pull_number}"}}
	// The PR is open (and recorded); reviewers and labels not yet added.
	afterPR = killPoint{name: "after-pr", fresh: true, routes: []string{
		"POST /repos/{owner}/{repo}/pulls/{pull_number}/requested_reviewers"}}
	// Reviewers requested; labels not yet added.
	afterReviewers = killPoint{name: "after-reviewers", fresh: true, routes: []string{
		"POST /repos/{owner}/{repo}/issues/{issue_number}/labels"}}
	// Every PR effect exists; the status on the build's commit is the last
	// GitHub call before the ack, so dying on it is dying before the ack.
	beforeAck = killPoint{name: "before-ack", routes: []string{"POST /repos/{owner}/{repo}/statuses/{sha}"}}
)

func (k killPoint) matches(c githubtest.Call) bool { return slices.Contains(k.routes, c.Route) }

// trial is one crash: intents for n services (one target each), the worker
// killed at the victim-th (0-based) call matching point. existing: every
// target already has an open PR from an earlier promotion, so the crash
// interrupts an update of that PR.
type trial struct {
	point    killPoint
	n        int
	victim   int
	existing bool
}

func (tr trial) String() string {
	s := fmt.Sprintf("%s/n=%d/victim=%d", tr.point.name, tr.n, tr.victim)
	if tr.existing {
		s += "/update"
	}
	return s
}

// trials: every kill point with 1 to 3 intents and the worker dying on the
// first, a middle or the last of them, on new PRs and on updates of open PRs.
func trials() []trial {
	shapes := []struct{ n, victim int }{{1, 0}, {2, 0}, {2, 1}, {3, 1}, {3, 2}}
	var out []trial
	for _, p := range []killPoint{beforeCommit, afterCommit, afterBranch, afterPR, afterReviewers, beforeAck} {
		for _, s := range shapes {
			out = append(out, trial{point: p, n: s.n, victim: s.victim})
			if !p.fresh {
				out = append(out, trial{point: p, n: s.n, victim: s.victim, existing: true})
			}
		}
	}
	return out
}

func TestWorkerKilledMidIntent(t *testing.T) {
	all := trials()
	if len(all) < 50 {
		t.Fatalf("only %d trials", len(all))
	}
	start := time.Now()
	t.Cleanup(func() {
		t.Logf("%d trials in %s; from the restart of the killed worker to its recovery logged: %s; to its intent done: %s; to all intents done: %s",
			len(all), time.Since(start).Round(time.Millisecond), recoveryLogged.summary(), recovered.summary(), drained.summary())
	})
	for _, tr := range all {
		t.Run(tr.String(), func(t *testing.T) {
			t.Parallel()
			runTrial(t, tr)
		})
	}
}

func runTrial(t *testing.T, tr trial) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	e := newEnv(t, ctx, tr.n, false)

	var seen atomic.Int64
	var armed, killing atomic.Bool
	killed := make(chan struct{})
	var victim atomic.Pointer[worker]
	e.gh.SetFault(func(c githubtest.Call) *githubtest.Fault {
		if !armed.Load() || !tr.point.matches(c) || seen.Add(1)-1 != int64(tr.victim) {
			return nil
		}
		// Reap the worker before answering: once the request is
		// answered, nothing of the dead worker acts any more.
		killing.Store(true)
		victim.Load().kill()
		close(killed)
		return &githubtest.Fault{Status: 502}
	})
	w1 := e.startWorker(t, "victim")
	victim.Store(w1)
	if tr.existing {
		// The same worker opens a PR per target first, unharmed.
		e.publish(t, ctx, "round1", "v1.0.0")
		e.waitDrained(t, ctx, w1)
		if prs := e.gh.PullRequests(gitopsRepo); len(prs) != tr.n {
			t.Fatalf("setup: %d PRs, want %d", len(prs), tr.n)
		}
	}
	armed.Store(true)
	const tag = "v1.1.0"
	ids := e.publish(t, ctx, "round2", tag)
	select {
	case <-killed:
	case <-w1.exited:
		if !killing.Load() {
			t.Fatalf("worker exited before the kill point:\n%s", w1.logTail())
		}
		<-killed // the fault hook closes it right after reaping the worker
	case <-ctx.Done():
		t.Fatalf("kill point %s never reached (seen %d matching calls)\n%s", tr.point.name, seen.Load(), w1.logTail())
	}

	restart := time.Now()
	w2 := e.startWorker(t, "restarted")
	e.waitDrained(t, ctx, w2)
	drained.add(time.Since(restart))
	// The intent handed back is redelivered first: the restarted worker's
	// first ack is the killed worker's intent.
	if first, err := w2.log.waitFor(ctx, "an ack", func(ln logLine) bool {
		return ln.Message == "intent handled" && ln.Action == "ack"
	}); err == nil {
		recovered.add(first.Time.Sub(restart))
	}
	w2.kill()
	if t.Failed() {
		return
	}
	// The restarted worker took the killed one's lease and intent back at
	// once rather than waiting out the 20 s lease TTL and ack wait.
	rec, ok := w2.log.recovery()
	if want := 1 + w1.log.singletons(); !ok || rec.Leases != want || rec.Deliveries != 1 {
		t.Errorf("restarted worker's recovery %+v (logged: %v), want %d lease(s) released and 1 delivery handed back", rec, ok, want)
	} else {
		recoveryLogged.add(rec.Time.Sub(restart))
	}
	e.check(t, ctx, tag, ids)
}

// env is one trial's world: NATS, the GitHub test server, the rules and a
// data directory shared by the worker processes.
type env struct {
	dir, natsURL, apiURL, keyFile, rules, data string
	gh                                         *githubtest.Server
	q                                          *queue.Queue
	js                                         jetstream.JetStream
	n                                          int
	shas                                       []string // build commit per service, last round
	workers                                    int
}

// appKey is one App key pair for every trial: generating an RSA key under
// the race detector costs more than a whole trial's planning.
var (
	keyOnce sync.Once
	keyPEM  []byte
	keyPub  *rsa.PublicKey
	keyErr  error
)

func appKey() ([]byte, *rsa.PublicKey, error) {
	keyOnce.Do(func() { keyPEM, keyPub, keyErr = githubtest.GenerateAppKey() })
	return keyPEM, keyPub, keyErr
}

func service(i int) string { return fmt.Sprintf("svc-%d", i) }

func overlay(i int, envName string) string {
	return fmt.Sprintf("apps/%s/overlays/%s/kustomization.yaml", service(i), envName)
}

// newEnv builds a trial's world for n services; with source, each service
// is built by a workflow of acme/builds, so a workflow_run webhook promotes it.
func newEnv(t *testing.T, ctx context.Context, n int, source bool) *env {
	t.Helper()
	dir := t.TempDir()
	e := &env{dir: dir, n: n, data: filepath.Join(dir, "promobot")}

	ns, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: filepath.Join(dir, "nats")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	e.natsURL = ns.ClientURL()
	nc, err := nats.Connect(e.natsURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	if e.q, err = queue.Open(ctx, nc, queue.Config{}); err != nil {
		t.Fatal(err)
	}
	if e.js, err = jetstream.New(nc); err != nil {
		t.Fatal(err)
	}

	key, pub, err := appKey()
	if err != nil {
		t.Fatal(err)
	}
	e.keyFile = filepath.Join(dir, "app.pem")
	if err := os.WriteFile(e.keyFile, key, 0o600); err != nil {
		t.Fatal(err)
	}
	e.gh, err = githubtest.New(githubtest.Config{Dir: filepath.Join(dir, "github"), AppID: appID, AppPublicKey: pub, InstallationID: instID})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.gh.Close)
	e.apiURL = e.gh.APIURL()

	files := map[string]string{}
	var rules strings.Builder
	rules.WriteString(`version: 1
defaults:
  baseBranch: main
  labels: [promotion]
environments:
  - name: dev
    auto: true
    reviewers: { users: [alice] }
  - name: staging
    auto: true
  - name: prod
services:
`)
	for i := range n {
		svc := service(i)
		files[fmt.Sprintf("apps/%s/base/kustomization.yaml", svc)] = "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\nresources:\n  - deployment.yaml\n"
		files[fmt.Sprintf("apps/%s/base/deployment.yaml", svc)] = fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels: { app: %[1]s }
  template:
    metadata:
      labels: { app: %[1]s }
    spec:
      containers:
        - name: %[1]s
          image: registry.example.com/%[1]s:latest
`, svc)
		for _, en := range []string{"dev", "staging", "prod"} {
			files[overlay(i, en)] = fmt.Sprintf(`# %[1]s in %[2]s; the tag is managed by promobot.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
  - ../../base
images:
  - name: registry.example.com/%[1]s
    newTag: v0.9.0 # promoted by promobot
`, svc, en)
		}
		fmt.Fprintf(&rules, `  - name: %[1]s
    repo: %[2]s
    image: registry.example.com/%[1]s
    targets:
      dev:     { kustomize: apps/%[1]s/overlays/dev }
      staging: { kustomize: apps/%[1]s/overlays/staging }
      prod:    { kustomize: apps/%[1]s/overlays/prod }
`, svc, gitopsRepo)
		if source {
			fmt.Fprintf(&rules, "    source: { repo: %s, workflow: %s, branch: main }\n", buildsRepo, buildWorkflow)
		}
	}
	if err := e.gh.CreateRepo(gitopsRepo, "main", files); err != nil {
		t.Fatal(err)
	}
	if err := e.gh.CreateRepo(buildsRepo, "main", map[string]string{"README.md": "builds\n"}); err != nil {
		t.Fatal(err)
	}
	if err := e.gh.SetPermission(gitopsRepo, "alice", "write"); err != nil {
		t.Fatal(err)
	}
	e.rules = filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(e.rules, []byte(rules.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return e
}

// publish stores one update intent (a build of tag) per service, exactly as
// the webhook does: subject from the target, message id from the delivery.
func (e *env) publish(t *testing.T, ctx context.Context, delivery, tag string) []string {
	t.Helper()
	var msgs []queue.Message
	var ids []string
	e.shas = e.shas[:0]
	for i := range e.n {
		// A build commit of its own per intent, for the status check.
		content := delivery + "\n"
		sha, err := e.gh.Commit(buildsRepo, "main", map[string]*string{service(i) + ".txt": &content}, "build "+service(i))
		if err != nil {
			t.Fatal(err)
		}
		e.shas = append(e.shas, sha)
		in := intent.Intent{
			ID: fmt.Sprintf("%s-%d", delivery, i), Kind: intent.KindUpdate, DeliveryID: delivery, Event: "workflow_run",
			InstallationID: instID, Repo: gitopsRepo, Services: []string{service(i)}, To: "dev", Tag: tag,
			Source:    intent.SourceRef{Repo: buildsRepo, SHA: e.shas[i], Ref: "main", Message: "build " + service(i)},
			CreatedAt: time.Now().UTC(),
		}
		b, err := in.Marshal()
		if err != nil {
			t.Fatal(err)
		}
		msgs = append(msgs, queue.Message{Subject: in.Subject(), ID: intent.MsgID(delivery, i), Data: b})
		ids = append(ids, in.ID)
	}
	if err := e.q.Publish(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	return ids
}

// worker is one promobot process (promobot worker, or promobot serve).
type worker struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	log     *procLog
	exited  chan struct{}
	once    sync.Once
}

func (e *env) startWorker(t *testing.T, name string) *worker {
	t.Helper()
	return e.startProc(t, name, e.data, "worker", "--nats-url", e.natsURL)
}

// startProc starts `promobot <mode> args...` on dataDir with the trial's
// rules and GitHub, one planner worker and no pacing of GitHub writes.
func (e *env) startProc(t *testing.T, name, dataDir, mode string, args ...string) *worker {
	t.Helper()
	e.workers++
	w := &worker{name: name, logPath: filepath.Join(e.dir, fmt.Sprintf("worker-%d-%s.log", e.workers, name)), exited: make(chan struct{})}
	logf, err := os.Create(w.logPath)
	if err != nil {
		t.Fatal(err)
	}
	w.log = newProcLog(logf)
	w.cmd = exec.Command(bin, append([]string{mode,
		"--rules", e.rules, "--data-dir", dataDir, "--listen", "127.0.0.1:0",
		"--github-api-url", e.apiURL, "--app-id", fmt.Sprint(appID), "--private-key-file", e.keyFile,
		"--log-level", "debug"}, args...)...)
	w.cmd.Env = append(cleanEnv(), "PROMOBOT_WORKERS=1", "PROMOBOT_GITHUB_PACE=0", "PROMOBOT_WEBHOOK_SECRET="+webhookSecret)
	w.cmd.Stdout, w.cmd.Stderr = w.log, w.log
	if err := w.cmd.Start(); err != nil {
		logf.Close()
		t.Fatal(err)
	}
	go func() {
		err := w.cmd.Wait()
		_ = err // killed or exited: the log tells which
		logf.Close()
		w.log.close()
		close(w.exited)
	}()
	t.Cleanup(w.kill)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("worker %s log:\n%s", w.name, w.logTail())
		}
	})
	return w
}

// cleanEnv is the test's environment without PROMOBOT_* settings.
func cleanEnv() []string {
	var out []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PROMOBOT_") {
			out = append(out, kv)
		}
	}
	return out
}

// kill sends SIGKILL and returns once the process is gone.
func (w *worker) kill() {
	w.once.Do(func() {
		// An error means the process already exited; Wait reaps it either way.
		_ = w.cmd.Process.Kill()
	})
	<-w.exited
}

func (w *worker) logTail() string {
	b, err := os.ReadFile(w.logPath)
	if err != nil {
		return err.Error()
	}
	const max = 16 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}

// waitDrained waits until the intent stream is empty: every intent was
// acked or dead-lettered. Polling is the only way to watch the external
// worker process; the deadline is generous.
func (e *env) waitDrained(t *testing.T, ctx context.Context, w *worker) {
	t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		s, err := e.js.Stream(ctx, queue.DefaultStream)
		if err == nil {
			var info *jetstream.StreamInfo
			if info, err = s.Info(ctx); err == nil && info.State.Msgs == 0 {
				return
			}
		}
		select {
		case <-w.exited:
			t.Fatalf("worker %s exited while intents were pending", w.name)
		case <-ctx.Done():
			dead, _ := e.q.DeadLetters(context.Background())
			t.Fatalf("intents still pending (last error %v, dead letters %d)", err, len(dead))
		case <-tick.C:
		}
	}
}

// check asserts the outcome: every intent's effect exactly once.
func (e *env) check(t *testing.T, ctx context.Context, tag string, ids []string) {
	t.Helper()
	dead, err := e.q.DeadLetters(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range dead {
		t.Errorf("intent lost to the dead-letter stream: %s (%s) after %d deliveries: %s", d.MsgID, d.Subject, d.NumDelivered, d.Reason)
	}
	prs := e.gh.PullRequests(gitopsRepo)
	if len(prs) != e.n {
		t.Errorf("%d PRs, want %d (one per target)", len(prs), e.n)
	}
	branches := e.gh.Branches(gitopsRepo)
	mainSHA := branches["main"]
	for i := range e.n {
		branch := "promobot/dev/" + service(i)
		var mine []githubtest.PR
		for _, pr := range prs {
			if pr.Head == branch {
				mine = append(mine, pr)
			}
		}
		if len(mine) != 1 {
			t.Errorf("%s: %d PRs for the target, want 1", branch, len(mine))
			continue
		}
		pr := mine[0]
		if pr.State != "open" || pr.Base != "main" {
			t.Errorf("%s: PR #%d is %s into %s", branch, pr.Number, pr.State, pr.Base)
		}
		if pr.HeadSHA != branches[branch] || pr.HeadSHA == "" {
			t.Errorf("%s: PR #%d head %s, branch at %q", branch, pr.Number, pr.HeadSHA, branches[branch])
		}
		f, err := e.gh.File(gitopsRepo, branch, overlay(i, "dev"))
		if err != nil {
			t.Errorf("%s: %v", branch, err)
		} else if !bytes.Contains(f, []byte("newTag: "+tag+" # promoted by promobot\n")) {
			t.Errorf("%s: overlay does not set %s:\n%s", branch, tag, f)
		}
		if !strings.Contains(pr.Body, ids[i]) {
			t.Errorf("%s: PR #%d body does not name intent %s:\n%s", branch, pr.Number, ids[i], pr.Body)
		}
		if !slices.Contains(pr.Reviewers, "alice") {
			t.Errorf("%s: PR #%d reviewers %v, want alice", branch, pr.Number, pr.Reviewers)
		}
		for _, l := range []string{"promotion", "env:dev"} {
			if !slices.Contains(pr.Labels, l) {
				t.Errorf("%s: PR #%d labels %v, want %s", branch, pr.Number, pr.Labels, l)
			}
		}
		if n, err := e.commitsAhead(ctx, mainSHA, branch); err != nil {
			t.Error(err)
		} else if n != 1 {
			t.Errorf("%s: %d commits on top of main, want exactly 1", branch, n)
		}
		ok := false
		for _, s := range e.gh.Statuses(buildsRepo, e.shas[i]) {
			ok = ok || (s.State == "success" && s.Context == "promobot/dev")
		}
		if !ok {
			t.Errorf("%s: no success status on the build commit %s", branch, e.shas[i])
		}
	}
	for b := range branches {
		if b != "main" && !strings.HasPrefix(b, "promobot/dev/svc-") {
			t.Errorf("unexpected branch %s", b)
		}
	}
	f, err := e.gh.File(gitopsRepo, "main", overlay(0, "dev"))
	if err != nil || !bytes.Contains(f, []byte("newTag: v0.9.0")) {
		t.Errorf("main changed (%v):\n%s", err, f)
	}
}

// commitsAhead counts the commits on branch that main does not have, with
// the git CLI on the test server's bare repository.
func (e *env) commitsAhead(ctx context.Context, mainSHA, branch string) (int, error) {
	gitDir := filepath.Join(e.dir, "github", filepath.FromSlash(gitopsRepo)+".git")
	cmd := exec.CommandContext(ctx, "git", "--git-dir", gitDir, "rev-list", "--count", mainSHA+".."+"refs/heads/"+branch)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null")
	out, err := cmd.Output()
	if err != nil {
		return 0, fmt.Errorf("git rev-list %s: %w", branch, err)
	}
	var n int
	if _, err := fmt.Sscan(string(out), &n); err != nil {
		return 0, fmt.Errorf("git rev-list %s: %q: %w", branch, out, err)
	}
	return n, nil
}
