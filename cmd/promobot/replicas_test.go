package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/budget"
	"github.com/promobot/promobot/internal/queue"
)

// TestStreamReplicasFlag: `promobot worker --stream-replicas=3` on a
// three-node JetStream cluster makes every stream and KV bucket it uses
// replicated three times.
func TestStreamReplicasFlag(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		l.Close()
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	nodes := make([]*queue.Embedded, 3)
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			e, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: t.TempDir(), ServerName: fmt.Sprintf("n%d", i),
				Cluster: &queue.EmbeddedCluster{Name: "promobot-test", Port: ports[i], Routes: routes}})
			nodes[i] = e
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("start node: %v", err)
		}
	}
	var urls []string
	for _, e := range nodes {
		t.Cleanup(e.Shutdown)
		urls = append(urls, e.ClientURL())
	}

	dir := t.TempDir()
	rules := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rules, []byte("version: 1\nenvironments: [{name: dev, auto: true}]\nservices: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PROMOBOT_GITHUB_TOKEN", "token-for-tests")
	logs := newLines()
	root := newRoot(io.Discard, logs.pw)
	root.SetArgs([]string{"worker", "--rules", rules, "--listen", "127.0.0.1:0", "--data-dir", dir, "--nats-url", strings.Join(urls, ","),
		"--stream-replicas", "3", "--redeliver-interval", "0s", "--github-api-url", "http://127.0.0.1:1/api/v3/"})
	wctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(wctx); _ = logs.pw.Close() }()
	logs.await(t, ctx, regexp.MustCompile(`"promobot started"`))

	nc, err := nats.Connect(urls[0])
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{queue.DefaultStream, queue.DeadLetterStream, "KV_" + queue.LeaseBucket, "KV_" + queue.StateBucket, "KV_" + budget.Bucket} {
		s, err := js.Stream(ctx, name)
		if err != nil {
			t.Errorf("stream %s: %v", name, err)
			continue
		}
		if r := s.CachedInfo().Config.Replicas; r != 3 {
			t.Errorf("stream %s: replicas %d, want 3", name, r)
		}
	}
	if c, err := js.Consumer(ctx, queue.DefaultStream, queue.DefaultConsumer); err != nil {
		t.Errorf("consumer: %v", err)
	} else if r := c.CachedInfo().Config.Replicas; r != 3 {
		t.Errorf("consumer: replicas %d, want 3", r)
	}
	stop()
	if err := <-done; err != nil {
		t.Errorf("worker: %v", err)
	}
}

func TestStreamReplicasRefused(t *testing.T) {
	for _, n := range []string{"0", "6", "three"} {
		code, _, stderr := run(t, "worker", "--nats-url", "nats://127.0.0.1:1", "--stream-replicas", n)
		if code == 0 || !strings.Contains(stderr, "stream-replicas") {
			t.Errorf("--stream-replicas %s: exit %d, %s", n, code, stderr)
		}
	}
}
