// Package queuetest starts a real embedded NATS server for tests of the
// packages that keep state in JetStream. Test code only.
package queuetest

import (
	"context"
	"testing"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/promobot/promobot/internal/queue"
)

// Connect starts an embedded NATS server with JetStream, stopped when the
// test ends, and returns a connect function: each call is one more
// process's connection, closed when the test ends.
func Connect(t testing.TB, ctx context.Context) func() *nats.Conn {
	t.Helper()
	e, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start nats: %v", err)
	}
	t.Cleanup(e.Shutdown)
	return func() *nats.Conn {
		t.Helper()
		nc, err := nats.Connect(e.ClientURL())
		if err != nil {
			t.Fatalf("connect: %v", err)
		}
		t.Cleanup(nc.Close)
		return nc
	}
}

// JetStream is Connect's connections as JetStream contexts.
func JetStream(t testing.TB, ctx context.Context) func() jetstream.JetStream {
	t.Helper()
	connect := Connect(t, ctx)
	return func() jetstream.JetStream {
		t.Helper()
		js, err := jetstream.New(connect())
		if err != nil {
			t.Fatal(err)
		}
		return js
	}
}
