package app

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/queue"
)

func get(t *testing.T, url string) (int, map[string]string, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]string
	_ = json.Unmarshal(b, &m) // /metrics is not JSON
	return resp.StatusCode, m, string(b)
}

// TestStartsBeforeNATS: a webhook+worker process started while NATS is not
// listening yet stays alive and unready, and becomes ready once NATS comes.
func TestStartsBeforeNATS(t *testing.T) {
	// The port NATS will come up on, free for now.
	probe, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	natsPort := probe.Addr().(*net.TCPAddr).Port
	probe.Close()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := config(t)
	cfg.Listener, cfg.NATSURL = ln, "nats://127.0.0.1:"+strconv.Itoa(natsPort)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	started := make(chan *App, 1)
	failed := make(chan error, 1)
	go func() {
		a, err := Start(ctx, cfg)
		if err != nil {
			failed <- err
			return
		}
		started <- a
	}()
	base := "http://" + ln.Addr().String()
	// The port is bound, so these wait for Start to serve them; NATS is not there.
	if code, _, _ := get(t, base+"/healthz"); code != http.StatusOK {
		t.Errorf("healthz while waiting for NATS = %d, want 200", code)
	}
	if code, body, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable || body["status"] != "starting" {
		t.Errorf("readyz while waiting for NATS = %d %v, want 503 starting", code, body)
	}
	if code, _, _ := get(t, base+"/webhook"); code != http.StatusServiceUnavailable {
		t.Errorf("webhook while waiting for NATS = %d, want 503 (GitHub retries)", code)
	}
	select {
	case err := <-failed:
		t.Fatalf("Start gave up without NATS: %v", err)
	default:
	}

	e, err := queue.StartEmbedded(ctx, queue.EmbeddedConfig{Dir: t.TempDir(), Port: natsPort})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Shutdown()
	var a *App
	select {
	case a = <-started:
	case err := <-failed:
		t.Fatalf("Start: %v", err)
	case <-ctx.Done():
		t.Fatal("promobot never came up after NATS did")
	}
	defer func() { _ = a.Shutdown(context.Background()) }()
	if code, body, _ := get(t, base+"/readyz"); code != http.StatusOK {
		t.Errorf("readyz with NATS up = %d %v", code, body)
	}
	if _, _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, "\npromobot_ready 1\n") || !strings.Contains(metrics, "promobot_queue_pending 0") {
		t.Errorf("metrics lack promobot_ready 1 / queue depth:\n%s", metrics)
	}
	// Readiness follows NATS away again.
	e.Shutdown()
	if code, _, _ := get(t, base+"/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("readyz with NATS gone = %d", code)
	}
	if _, _, metrics := get(t, base+"/metrics"); !strings.Contains(metrics, "\npromobot_ready 0\n") {
		t.Errorf("metrics lack promobot_ready 0")
	}
}
