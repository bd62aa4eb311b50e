// Package reliability holds promobot's reliability tests (issue #5): a
// duplicate storm, a NATS cluster losing nodes, GitHub faults and rate
// limits, secrets kept out of logs, and SIGTERM under load on the real
// binary. Each is bounded in time and asserts what a user relies on: a
// delivery answered 2xx is never lost and its effect happens once.
package reliability

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// binary is the promobot executable built by TestMain, or buildErr why not.
var (
	binary   string
	buildErr error
)

func TestMain(m *testing.M) {
	if _, err := exec.LookPath("git"); err != nil {
		fmt.Fprintln(os.Stderr, "reliability tests need the git CLI (the GitHub test server serves smart HTTP with git http-backend)")
		os.Exit(1)
	}
	dir, err := os.MkdirTemp("", "promobot-reliability-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "temp dir:", err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "promobot")
	// Only the SIGTERM test needs the binary; it reports a build failure
	// itself so the other tests still run.
	cmd := exec.Command("go", "build", "-o", binary, "github.com/promobot/promobot/cmd/promobot")
	if out, err := cmd.CombinedOutput(); err != nil {
		buildErr = fmt.Errorf("go build ./cmd/promobot: %w\n%s", err, out)
	}
	code := m.Run()
	if err := os.RemoveAll(dir); err != nil {
		fmt.Fprintln(os.Stderr, "remove temp dir:", err)
	}
	os.Exit(code)
}
