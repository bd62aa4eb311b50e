package ghapp

import (
	"context"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/githubtest"
)

const testRepo = "acme/gitops"

type appEnv struct {
	srv *githubtest.Server
	c   *Clients
	ctx context.Context
}

// newAppEnv is the App installed as installation 1234 on acme/gitops.
func newAppEnv(t *testing.T) *appEnv {
	t.Helper()
	key, pub, err := githubtest.GenerateAppKey()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := githubtest.New(githubtest.Config{Dir: t.TempDir(), AppID: 99, AppPublicKey: pub, InstallationID: 1234})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Close)
	if err := srv.CreateRepo(testRepo, "main", map[string]string{"a.txt": "a\n"}); err != nil {
		t.Fatal(err)
	}
	c, err := New(Config{APIURL: srv.APIURL(), AppID: 99, PrivateKey: key, Retry: ghretry.Config{ContentPace: -1}})
	if err != nil {
		t.Fatal(err)
	}
	return &appEnv{srv: srv, c: c, ctx: context.Background()}
}

// attempt is what one attempt of a worker does with GitHub: the
// repository's client (installationID from the delivery), a REST call and a
// token for git. Failures carry their fate as the call sites mark them.
func (e *appEnv) attempt(installationID int64) (int64, error) {
	in, err := e.c.For(e.ctx, testRepo, installationID)
	if err != nil {
		return 0, err
	}
	if _, _, err := in.Client.Repositories.Get(e.ctx, "acme", "gitops"); err != nil {
		return in.ID, ghretry.Fate(err, time.Now())
	}
	if _, err := in.Token(e.ctx); err != nil {
		return in.ID, err
	}
	return in.ID, nil
}

// eventually is the queue: a retryable failure is attempted again (up to
// three attempts); a terminal one is not. It returns the installation the
// successful attempt used.
func (e *appEnv) eventually(t *testing.T, installationID int64) int64 {
	t.Helper()
	for n := 1; ; n++ {
		id, err := e.attempt(installationID)
		if err == nil {
			return id
		}
		if k, _ := fate.Of(err); k != fate.Retryable || n == 3 {
			t.Fatalf("attempt %d: %v (%v)", n, err, k)
		}
	}
}

// TestReinstalledWithoutRestart: the App is used, uninstalled and installed
// again under a new id; promobot carries on, without a restart, whether the
// deliveries name no installation (looked up), the new one, or the old one
// (queued before the uninstall).
func TestReinstalledWithoutRestart(t *testing.T) {
	for _, tc := range []struct {
		name      string
		delivered func(old, new int64) int64
	}{
		{"looked up", func(old, new int64) int64 { return 0 }},
		{"queued before the uninstall", func(old, new int64) int64 { return old }},
		{"delivered after the reinstall", func(old, new int64) int64 { return new }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newAppEnv(t)
			if id := e.eventually(t, tc.delivered(1234, 1234)); id != 1234 {
				t.Fatalf("installation %d, want 1234", id)
			}
			held, err := e.c.For(e.ctx, testRepo, 1234) // a worker still holds the old client
			if err != nil {
				t.Fatal(err)
			}
			e.srv.SetInstallation(0)
			e.srv.SetInstallation(5678)
			if id := e.eventually(t, tc.delivered(1234, 5678)); id != 5678 {
				t.Errorf("after reinstalling: installation %d, want 5678", id)
			}
			// Once GitHub said the old installation is gone, its client
			// does not hand out the revoked token for git either. (A
			// delivery naming the new installation never asks the old one:
			// the installation webhook tells, see TestForget.)
			if tc.delivered(1, 2) == 2 {
				return
			}
			if _, err := held.Token(e.ctx); err == nil {
				t.Error("the uninstalled installation's client still hands out a token")
			} else if fate.IsTerminal(err) {
				t.Errorf("the old client's failure is terminal: %v", err)
			}
		})
	}
}

// TestForget: told by a webhook, promobot does not even try the uninstalled
// installation.
func TestForget(t *testing.T) {
	e := newAppEnv(t)
	if _, err := e.attempt(0); err != nil {
		t.Fatal(err)
	}
	held, err := e.c.For(e.ctx, testRepo, 0)
	if err != nil {
		t.Fatal(err)
	}
	e.srv.SetInstallation(5678)
	e.c.Forget(1234)
	if _, err := held.Token(e.ctx); err == nil || fate.IsTerminal(err) {
		t.Errorf("a forgotten installation's client hands out a token (%v), or fails for good", err)
	}
	if _, _, err := held.Client.Repositories.Get(e.ctx, "acme", "gitops"); err == nil || fate.IsTerminal(ghretry.Fate(err, time.Now())) {
		t.Errorf("a forgotten installation's client calls GitHub (%v), or fails for good", err)
	}
	e.srv.ResetCalls()
	if id, err := e.attempt(0); err != nil || id != 5678 {
		t.Fatalf("after Forget: installation %d, %v; want 5678 at once", id, err)
	}
	for _, c := range e.srv.Calls() {
		if c.Status >= 400 {
			t.Errorf("%s %s answered %d: the stale installation was tried", c.Method, c.Path, c.Status)
		}
	}
	// A delivery that still names the old installation goes to the new one too.
	if id, err := e.attempt(1234); err != nil || id != 5678 {
		t.Errorf("delivery naming the forgotten installation: %d, %v; want 5678", id, err)
	}
	// Forgetting repositories drops their installation and clone URL.
	in, err := e.c.For(e.ctx, testRepo, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.CloneURL(e.ctx, in, testRepo, ""); err != nil {
		t.Fatal(err)
	}
	e.c.Forget(0, "ACME/GitOps")
	e.srv.ResetCalls()
	if _, err := e.c.CloneURL(e.ctx, in, testRepo, ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.c.For(e.ctx, testRepo, 0); err != nil {
		t.Fatal(err)
	}
	counts := e.srv.CallCounts()
	if counts["GET /repos/{owner}/{repo}"] != 1 || counts["GET /repos/{owner}/{repo}/installation"] != 1 {
		t.Errorf("after forgetting the repository: %v, want it asked again", counts)
	}
}

// TestUninstalledForGood: once the App is gone, the failure is terminal,
// not an endless retry.
func TestUninstalledForGood(t *testing.T) {
	e := newAppEnv(t)
	if _, err := e.attempt(0); err != nil {
		t.Fatal(err)
	}
	e.srv.SetInstallation(0)
	var err error
	for range 3 {
		if _, err = e.attempt(0); fate.IsTerminal(err) {
			break
		}
	}
	if !fate.IsTerminal(err) || !ghretry.IsStatus(err, 404) {
		t.Errorf("uninstalled App: %v, want a terminal 404", err)
	}
}
