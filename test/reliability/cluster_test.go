package reliability

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/app"
	"github.com/promobot/promobot/internal/queue"
)

// answer is one delivery sent by a load generator and what came back.
type answer struct {
	id         string
	status     int // 0: no HTTP answer (err)
	err        error
	start, end time.Time
}

// answers records a load generator's answers and wakes waiters on each.
type answers struct {
	mu     sync.Mutex
	all    []answer
	notify chan struct{}
}

func newAnswers() *answers { return &answers{notify: make(chan struct{}, 1)} }

func (a *answers) add(x answer) {
	a.mu.Lock()
	a.all = append(a.all, x)
	a.mu.Unlock()
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

func (a *answers) snapshot() []answer {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]answer(nil), a.all...)
}

// await waits until cond holds over the answers so far, at most d.
func (a *answers) await(ctx context.Context, d time.Duration, what string, cond func([]answer) bool) error {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	for {
		if cond(a.snapshot()) {
			return nil
		}
		select {
		case <-a.notify:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// since counts answers with status code that were sent after t.
func since(as []answer, t time.Time, code int) int {
	n := 0
	for _, x := range as {
		if x.start.After(t) && x.status == code {
			n++
		}
	}
	return n
}

// freePorts reserves n loopback ports (a node's address must be known to
// every other node before any of them starts).
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ports []int
	var ls []net.Listener
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return ports
}

// TestClusterNodeLoss runs promobot's webhook server against a three-node
// JetStream cluster (stream replicas 3) under a steady load of signed
// deliveries. Losing the stream leader loses no delivery answered 202;
// losing a second node (no quorum) turns answers into 503 within the
// publish timeout; restarting both nodes on their data directories brings
// 202s back without restarting promobot; and every delivery answered 202 is
// in the stream at the end.
func TestClusterNodeLoss(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	began := time.Now()
	clientPorts, routePorts := freePorts(t, 3), freePorts(t, 3)
	var routes, urls []string
	for i := range 3 {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", routePorts[i]))
		urls = append(urls, fmt.Sprintf("nats://127.0.0.1:%d", clientPorts[i]))
	}
	dirs := []string{t.TempDir(), t.TempDir(), t.TempDir()}
	nodes := make([]*queue.Embedded, 3)
	startNodes := func(which ...int) {
		t.Helper()
		errs := make(chan error, len(which))
		for _, i := range which {
			go func() {
				e, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: dirs[i], ServerName: fmt.Sprintf("n%d", i), Port: clientPorts[i],
					Cluster: &queue.EmbeddedCluster{Name: "promobot-reliability", Port: routePorts[i], Routes: routes}})
				nodes[i] = e
				errs <- err
			}()
		}
		for range which {
			if err := <-errs; err != nil {
				t.Fatalf("start nats node: %v", err)
			}
		}
	}
	kill := func(i int) {
		nodes[i].Shutdown()
		nodes[i] = nil
	}
	startNodes(0, 1, 2)
	t.Cleanup(func() {
		for i, n := range nodes {
			if n != nil {
				kill(i)
			}
		}
	})

	secret := []byte("cluster-test-secret")
	rulesPath := filepath.Join(t.TempDir(), "rules.yaml")
	if err := os.WriteFile(rulesPath, rulesFor([]string{"svc-a"}, true), 0o600); err != nil {
		t.Fatal(err)
	}
	a, err := app.Start(ctx, app.Config{
		RulesPath: rulesPath, Listen: "127.0.0.1:0", DataDir: t.TempDir(), NATSURL: strings.Join(urls, ","),
		WebhookSecret: secret, Webhook: true, Log: zerolog.New(zerolog.NewTestWriter(t)).Level(zerolog.WarnLevel),
		Queue: queue.Config{Replicas: 3},
	})
	if err != nil {
		t.Fatalf("start promobot webhook server on the cluster: %v", err)
	}
	// Registered after the nodes' cleanup, so it runs before it.
	t.Cleanup(func() {
		sctx, scancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer scancel()
		if err := a.Shutdown(sctx); err != nil {
			t.Logf("promobot shutdown: %v", err)
		}
	})
	url := "http://" + a.Addr() + "/webhook"

	// The load: one signed workflow_run after another, paced by a ticker.
	rec := newAnswers()
	stop := make(chan struct{})
	loadDone := make(chan struct{})
	go func() {
		defer close(loadDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for n := 0; ; n++ {
			select {
			case <-stop:
				return
			case <-tick.C:
			}
			id := deliveryID("c1a57e00", n)
			payload, err := workflowRun("https://github.example", ".github/workflows/svc-a.yml", hexID('c', n), n+1)
			start := time.Now()
			code := 0
			if err == nil {
				code, err = deliver(ctx, url, secret, "workflow_run", id, payload)
			}
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

	if err := rec.await(ctx, time.Minute, "30 deliveries answered 202", func(as []answer) bool { return since(as, time.Time{}, 202) >= 30 }); err != nil {
		t.Fatal(err)
	}

	// 1. Kill the stream's leader: two of three nodes keep a quorum.
	js := jsConnect(t, strings.Join(urls, ","))
	var leader string
	if err := eventually(ctx, 100*time.Millisecond, func() (bool, error) {
		s, err := js.Stream(ctx, queue.DefaultStream)
		if err != nil {
			return false, err
		}
		info, err := s.Info(ctx)
		if err != nil {
			return false, err
		}
		if info.Cluster != nil {
			leader = info.Cluster.Leader
		}
		return leader != "", nil
	}); err != nil {
		t.Fatalf("stream leader: %v", err)
	}
	first := -1
	for i := range 3 {
		if fmt.Sprintf("n%d", i) == leader {
			first = i
		}
	}
	if first < 0 {
		t.Fatalf("stream leader %q is none of n0..n2", leader)
	}
	killed1 := time.Now()
	kill(first)
	if err := rec.await(ctx, 90*time.Second, "30 deliveries answered 202 after the leader died", func(as []answer) bool { return since(as, killed1, 202) >= 30 }); err != nil {
		t.Fatal(err)
	}
	// Unavailable answers during the election are allowed (GitHub
	// redelivers); what matters is that each 202 is stored (checked below).
	during := since(rec.snapshot(), killed1, 503)

	// 2. Kill a second node: no quorum, so no acknowledgement, so 503.
	second := (first + 1) % 3
	killed2 := time.Now()
	kill(second)
	// Three answers in a row that are 503: the unavailability is stable.
	if err := rec.await(ctx, 90*time.Second, "three 503s in a row without quorum", func(as []answer) bool {
		run := 0
		for _, x := range as {
			if !x.start.After(killed2) {
				continue
			}
			if x.status == 503 {
				run++
			} else {
				run = 0
			}
		}
		return run >= 3
	}); err != nil {
		t.Fatal(err)
	}
	var first503 time.Duration
	var slowest time.Duration
	for _, x := range rec.snapshot() {
		if !x.start.After(killed2) {
			continue
		}
		if x.status == 503 && first503 == 0 {
			first503 = x.end.Sub(killed2)
		}
		// The webhook bounds the wait for JetStream below GitHub's 10 s.
		if d := x.end.Sub(x.start); d > slowest {
			slowest = d
		}
		if x.err != nil {
			t.Errorf("delivery %s without quorum: %v, want an HTTP answer (503)", x.id, x.err)
		}
	}
	if slowest > 10*time.Second {
		t.Errorf("slowest answer without quorum took %v, want < 10 s (GitHub's delivery timeout)", slowest)
	}

	// 3. Restart both nodes on their data: promobot recovers by itself.
	restarted := time.Now()
	startNodes(first, second)
	if err := rec.await(ctx, 2*time.Minute, "a 202 after the nodes came back", func(as []answer) bool { return since(as, restarted, 202) >= 1 }); err != nil {
		t.Fatal(err)
	}
	var recovered time.Duration
	for _, x := range rec.snapshot() {
		if x.start.After(restarted) && x.status == 202 {
			recovered = x.end.Sub(restarted)
			break
		}
	}
	if err := rec.await(ctx, time.Minute, "20 more 202s after recovery", func(as []answer) bool { return since(as, restarted, 202) >= 20 }); err != nil {
		t.Fatal(err)
	}
	stopLoad()

	// Every delivery answered 202 is in the stream, once.
	all := rec.snapshot()
	var stored map[string]int
	if err := eventually(ctx, 200*time.Millisecond, func() (bool, error) {
		ids, _, err := streamIDs(ctx, js)
		stored = ids
		return err == nil, err
	}); err != nil {
		t.Fatalf("read back the stream: %v", err)
	}
	codes := map[int]int{}
	lost := 0
	for _, x := range all {
		codes[x.status]++
		if x.status != 202 {
			continue
		}
		switch n := stored[intentID(x.id)]; {
		case n == 0:
			lost++
			t.Errorf("delivery %s answered 202 at %v but is not in the stream", x.id, x.end.Sub(began).Round(time.Millisecond))
		case n > 1:
			t.Errorf("delivery %s stored %d times", x.id, n)
		}
	}
	t.Logf("cluster: %d deliveries (%v), %d stored, %d acknowledged-and-lost; leader %s killed: %d answered 503 during the election; "+
		"second node killed: first 503 after %v, slowest answer %v; nodes restarted: first 202 after %v; wall %v",
		len(all), codes, len(stored), lost, leader, during, first503.Round(time.Millisecond), slowest.Round(time.Millisecond),
		recovered.Round(time.Millisecond), time.Since(began).Round(time.Millisecond))
}
