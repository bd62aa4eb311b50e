package integration

import (
	"testing"

	"github.com/promobot/promobot/internal/worker"
)

// TestReinstallWithoutRestart: the App is uninstalled and installed again
// (a new installation id). GitHub's installation webhooks reach promobot,
// every worker drops its cached installation, and the next build promotes
// with the new installation at once: not one request with the revoked
// token.
func TestReinstallWithoutRestart(t *testing.T) {
	h, ctx := start(t)
	build(t, ctx, h, "PAY-123: first build", 1)
	expect(t, ctx, h, 0, worker.Committed)
	expect(t, ctx, h, 1, worker.Opened)
	// The staging PR's policy check is done with the old installation.
	if _, err := h.AwaitPolicy(ctx, 0); err != nil {
		t.Fatal(err)
	}

	h.GitHub.SetInstallation(4242)
	if err := h.GitHub.WaitIdle(ctx); err != nil {
		t.Fatal(err)
	}
	h.GitHub.ResetCalls()

	// The build's delivery names the new installation; the push webhook
	// promobot's own commit causes does too.
	build(t, ctx, h, "PAY-124: second build", 2)
	expect(t, ctx, h, 2, worker.Committed)
	expect(t, ctx, h, 3, worker.Updated)
	for _, c := range h.GitHub.Calls() {
		if c.Status == 401 || c.Status == 404 {
			t.Errorf("%s %s answered %d after the reinstall", c.Method, c.Path, c.Status)
		}
	}
}
