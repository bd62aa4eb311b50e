package queue

import (
	"context"
	"fmt"
	"net"
	"testing"
	"time"

	"github.com/rs/zerolog"
)

// A three-node JetStream cluster with replicas 3 keeps publishing and
// consuming when one node goes away.
func TestClusterSurvivesNodeLoss(t *testing.T) {
	if testing.Short() {
		t.Skip("cluster test skipped in -short mode")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*waitLong)
	defer cancel()
	// Every node must know its routes up front: reserve three ports.
	var ports []int
	for range 3 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var routes []string
	for _, p := range ports {
		routes = append(routes, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	nodes := make([]*Embedded, 3)
	errs := make(chan error, 3)
	for i := range 3 {
		go func() {
			e, err := StartEmbedded(ctx, EmbeddedConfig{Dir: t.TempDir(), ServerName: fmt.Sprintf("n%d", i),
				Cluster: &EmbeddedCluster{Name: "promobot-test", Port: ports[i], Routes: routes}})
			nodes[i] = e
			errs <- err
		}()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Fatalf("start node: %v", err)
		}
	}
	for _, e := range nodes {
		t.Cleanup(e.Shutdown)
	}
	if nodes[0].ClusterURL() != routes[0] {
		t.Errorf("ClusterURL = %q, want %q", nodes[0].ClusterURL(), routes[0])
	}
	// Connect to the last node: the first one is the one that goes away.
	nc := connect(t, nodes[2])
	q, err := Open(ctx, nc, Config{Replicas: 3, PublishTimeout: 10 * time.Second, Logger: zerolog.New(zerolog.NewTestWriter(t))})
	if err != nil {
		t.Fatalf("open on cluster: %v", err)
	}
	publish(t, q, msg(1))
	nodes[0].Shutdown()
	// Two of three nodes are a quorum; a new leader may need a moment.
	eventually(t, "publish after node loss", func() (bool, error) {
		err := q.Publish(ctx, []Message{msg(2)})
		return err == nil, err
	})
	got := make(chan string, 4)
	consume(t, q, 1, func(_ context.Context, d *Delivery) Outcome {
		got <- d.MsgID()
		return Outcome{Action: Ack}
	})
	seen := map[string]bool{}
	for len(seen) < 2 {
		select {
		case id := <-got:
			seen[id] = true
		case <-time.After(waitLong):
			t.Fatalf("consumed %v, want both messages", seen)
		}
	}

	// One node of three left: no quorum, so no acknowledgement, so an error.
	nodes[1].Shutdown()
	pctx, pcancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer pcancel()
	if err := q.Publish(pctx, []Message{msg(3)}); !isUnavailable(err) {
		t.Fatalf("Publish without quorum = %v, want ErrUnavailable", err)
	}
}
