package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	if spec := os.Getenv(natsChildEnv); spec != "" {
		// The test binary re-executed as TestSpawned's nats-server.
		if err := natsChild(spec); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestDeliveryBody(t *testing.T) {
	for _, tc := range []struct{ size, want int }{{100, 7168}, {7168, 7168}, {7200, 7200}, {10000, 10000}} {
		b, err := deliveryBody(tc.size)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) != tc.want || !json.Valid(b) {
			t.Errorf("size %d: %d bytes, valid %v", tc.size, len(b), json.Valid(b))
		}
	}
}

// A short in-process run: every delivery is accepted, every 202 is a
// stored intent (run checks the stream), and both raw phases complete.
func TestRunInProcess(t *testing.T) {
	if testing.Short() {
		t.Skip("starts nats-server and drives HTTP load")
	}
	for _, client := range []string{"nethttp", "lean"} {
		o := options{secret: "s", conc: 4, dur: 300 * time.Millisecond, warmup: 100 * time.Millisecond,
			rawDur: 200 * time.Millisecond, size: 7 << 10, logLevel: "info", client: client}
		if err := run(o); err != nil {
			t.Fatalf("-client %s: %v", client, err)
		}
	}
}

// The lean client speaks enough HTTP/1.1 to a net/http server: keep-alive,
// statuses, a Content-Length body, and a server that closes.
func TestLeanSender(t *testing.T) {
	var seen []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		seen = append(seen, r.Header.Get("X-GitHub-Delivery")+" "+r.Header.Get("X-GitHub-Event")+" "+r.Header.Get("X-Hub-Signature-256")+" "+strconv.Itoa(len(b)))
		if r.Header.Get("X-GitHub-Delivery") == "close" {
			w.Header().Set("Connection", "close")
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = io.WriteString(w, `{"ok":true}`)
	}))
	defer srv.Close()
	s, err := newLeanSender(srv.URL+"/webhook", []byte(`{"a":1}`), "sha256=x")
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	for _, id := range []string{"d1", "close", "d2"} {
		status, err := s.send(context.Background(), id)
		if err != nil || status != http.StatusAccepted {
			t.Fatalf("%s: status %d, %v", id, status, err)
		}
	}
	want := []string{"d1 push sha256=x 7", "close push sha256=x 7", "d2 push sha256=x 7"}
	if !slices.Equal(seen, want) {
		t.Fatalf("server saw %q, want %q", seen, want)
	}
}

func TestProcCPU(t *testing.T) {
	if _, err := os.Stat("/proc/self/stat"); err != nil {
		t.Skip("no /proc")
	}
	// Burn a little CPU so the figure is above zero at 10 ms resolution.
	end := time.Now().Add(50 * time.Millisecond)
	for x := 0; time.Now().Before(end); x++ {
		_ = x * x
	}
	d, err := procCPU(os.Getpid())
	if err != nil || d <= 0 {
		t.Fatalf("procCPU = %v, %v", d, err)
	}
	if _, err := parseWatch("promobot=12,nats=34"); err != nil {
		t.Fatal(err)
	}
	if _, err := parseWatch("promobot"); err == nil {
		t.Fatal("-watch without a pid accepted")
	}
}

// Black-box mode: the real promobot binary, built here, in webhook mode
// against an external nats-server process (this test binary re-executed).
func TestSpawned(t *testing.T) {
	if testing.Short() {
		t.Skip("builds promobot, starts two processes and drives HTTP load")
	}
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build promobot")
	}
	bin := filepath.Join(t.TempDir(), "promobot")
	if out, err := exec.Command(goBin, "build", "-o", bin, "../../cmd/promobot").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	o := options{secret: "s", conc: 4, dur: 300 * time.Millisecond, warmup: 100 * time.Millisecond,
		rawDur: 200 * time.Millisecond, size: 7 << 10, logLevel: "info", client: "lean", promobot: bin}
	if err := run(o); err != nil {
		t.Fatal(err)
	}
}
