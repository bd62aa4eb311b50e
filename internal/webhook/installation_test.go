package webhook

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/promobot/promobot/internal/rules"
)

// hookRecorder is a Config.OnInstallation that records its calls.
type hookRecorder struct {
	mu    sync.Mutex
	calls []InstallationChange
	err   error
	// deadline records whether each call's context had a deadline.
	deadline []bool
}

func (h *hookRecorder) hook(ctx context.Context, ev InstallationChange) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	_, ok := ctx.Deadline()
	h.deadline = append(h.deadline, ok)
	h.calls = append(h.calls, ev)
	return h.err
}

func (h *hookRecorder) changes() []InstallationChange {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]InstallationChange(nil), h.calls...)
}

// TestInstallationChangesReachTheHook: every real installation and
// installation_repositories payload is verified, classified and handed to
// OnInstallation once; the answer is 202 and no intent is published.
func TestInstallationChangesReachTheHook(t *testing.T) {
	cases := []struct {
		event, file string
		want        InstallationChange
	}{
		{"installation", "installation/created.octokit.json",
			InstallationChange{Event: "installation", Action: "created", InstallationID: 957387, Account: "Codertocat", Repos: []string{"Codertocat/Hello-World"}}},
		{"installation", "installation/created.octokit-with-requester.json",
			InstallationChange{Event: "installation", Action: "created", InstallationID: 957387, Account: "Codertocat", Repos: []string{"Codertocat/Hello-World"}}},
		{"installation", "installation/deleted.octokit.json",
			InstallationChange{Event: "installation", Action: "deleted", InstallationID: 2, Account: "octocat", Repos: []string{"octocat/Hello-World"}}},
		{"installation", "installation/deleted.go-playground.json",
			InstallationChange{Event: "installation", Action: "deleted", InstallationID: 2, Account: "octocat", Repos: []string{"octocat/Hello-World"}}},
		{"installation", "installation/suspend.octokit.json",
			InstallationChange{Event: "installation", Action: "suspend", InstallationID: 16598467, Account: "Codertocat"}},
		{"installation", "installation/new_permissions_accepted.octokit.json",
			InstallationChange{Event: "installation", Action: "new_permissions_accepted", InstallationID: 957387, Account: "Codertocat", Repos: []string{"Codertocat/Hello-World"}}},
		{"installation_repositories", "installation_repositories/added.octokit.json",
			InstallationChange{Event: "installation_repositories", Action: "added", InstallationID: 957387, Account: "Codertocat", Repos: []string{"Codertocat/Space"}}},
		{"installation_repositories", "installation_repositories/removed.octokit.json",
			InstallationChange{Event: "installation_repositories", Action: "removed", InstallationID: 2, Account: "octocat", Repos: []string{"octocat/Hello-World"}}},
		{"installation_repositories", "installation_repositories/removed.go-playground.json",
			InstallationChange{Event: "installation_repositories", Action: "removed", InstallationID: 2, Account: "octocat", Repos: []string{"octocat/Hello-World"}}},
	}
	for _, tc := range cases {
		t.Run(tc.file, func(t *testing.T) {
			hr := &hookRecorder{}
			f := newFixture(t, func(c *Config) { c.OnInstallation = hr.hook })
			w := f.do(delivery{event: tc.event, id: deliveryID, body: payload(t, tc.file)})
			if w.Code != 202 {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if n := len(f.pub.messages()); n != 0 {
				t.Errorf("published %d intents for an installation change", n)
			}
			got := hr.changes()
			if len(got) != 1 || !reflect.DeepEqual(got[0], tc.want) {
				t.Fatalf("hook got %+v\nwant %+v", got, tc.want)
			}
			if !hr.deadline[0] {
				t.Error("the hook's context has no deadline")
			}
			if f.count(tc.event, OutcomeAccepted) != 1 {
				t.Errorf("not counted as accepted; log %s", f.log.String())
			}
			if !strings.Contains(w.Body.String(), `"intents":0`) {
				t.Errorf("body %s", w.Body)
			}
			lines := f.log.lines(t)
			if len(lines) != 1 || lines[0]["installation"] != float64(tc.want.InstallationID) || lines[0]["action"] != tc.want.Action {
				t.Errorf("log: %v", lines)
			}
		})
	}
}

// TestInstallationHookFailureAnswers503: a hook that fails is answered like
// a publish that fails, so GitHub records the delivery as failed.
func TestInstallationHookFailureAnswers503(t *testing.T) {
	hr := &hookRecorder{err: errors.New("nats: no responders")}
	f := newFixture(t, func(c *Config) { c.OnInstallation = hr.hook })
	w := f.do(delivery{event: "installation_repositories", id: deliveryID, body: payload(t, "installation_repositories/removed.octokit.json")})
	if w.Code != 503 || !strings.Contains(w.Body.String(), `"error"`) {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	if len(hr.changes()) != 1 || len(f.pub.messages()) != 0 {
		t.Errorf("hook calls %d, published %d", len(hr.changes()), len(f.pub.messages()))
	}
	if f.count("installation_repositories", OutcomeUnavailable) != 1 {
		t.Errorf("not counted as unavailable")
	}
	lines := f.log.lines(t)
	if len(lines) != 1 || lines[0]["level"] != "error" || !strings.Contains(lines[0]["error"].(string), "no responders") {
		t.Errorf("log: %v", lines)
	}
}

// TestInstallationHookTimeout: the hook runs within PublishTimeout.
func TestInstallationHookTimeout(t *testing.T) {
	f := newFixture(t, func(c *Config) {
		c.PublishTimeout = 20 * time.Millisecond
		c.OnInstallation = func(ctx context.Context, _ InstallationChange) error {
			<-ctx.Done()
			return ctx.Err()
		}
	})
	w := f.do(delivery{event: "installation", id: deliveryID, body: payload(t, "installation/deleted.octokit.json")})
	if w.Code != 503 {
		t.Fatalf("status %d", w.Code)
	}
}

// TestInstallationHookOnlyForVerifiedInstallationChanges: the hook is not
// called for a delivery that fails verification or classification, nor for
// any other event; those are answered as before.
func TestInstallationHookOnlyForVerifiedInstallationChanges(t *testing.T) {
	created := payload(t, "installation/created.octokit.json")
	added := payload(t, "installation_repositories/added.octokit.json")
	cases := []struct {
		name    string
		d       delivery
		status  int
		outcome string
	}{
		{"unsigned", delivery{event: "installation", id: deliveryID, body: created, sig: strp("")}, 401, OutcomeUnauthorized},
		{"signed with another secret", delivery{event: "installation", id: deliveryID, body: created, sig: strp(sign([]byte("guess"), created))}, 401, OutcomeUnauthorized},
		{"malformed", delivery{event: "installation", id: deliveryID, body: []byte(`{"action":"deleted","installation":{"id":2}`)}, 400, OutcomeInvalid},
		{"duplicate installation id", delivery{event: "installation", id: deliveryID, body: edit(t, created, `"id": 957387,`, `"id": 957387, "id": 1,`)}, 400, OutcomeInvalid},
		{"duplicate action differing in case", delivery{event: "installation_repositories", id: deliveryID, body: edit(t, added, `"action": "added",`, `"action": "added", "Action": "removed",`)}, 400, OutcomeInvalid},
		{"installation id a string", delivery{event: "installation", id: deliveryID, body: edit(t, created, `"id": 957387,`, `"id": "957387",`)}, 400, OutcomeInvalid},
		{"repositories not a list", delivery{event: "installation_repositories", id: deliveryID, body: []byte(`{"action":"added","installation":{"id":1},"repositories_added":{"full_name":"a/b"}}`)}, 400, OutcomeInvalid},
		{"repository names of the wrong type", delivery{event: "installation_repositories", id: deliveryID, body: []byte(`{"action":"added","installation":{"id":1},"repositories_added":[{"full_name":5}]}`)}, 400, OutcomeInvalid},
		{"no installation id", delivery{event: "installation", id: deliveryID, body: []byte(`{"action":"deleted","repositories":[]}`)}, 202, OutcomeInvalid},
		{"installation id 0", delivery{event: "installation_repositories", id: deliveryID, body: []byte(`{"action":"removed","installation":{"id":0}}`)}, 202, OutcomeInvalid},
		{"no action", delivery{event: "installation", id: deliveryID, body: []byte(`{"installation":{"id":7}}`)}, 202, OutcomeInvalid},
		{"over the size cap", delivery{event: "installation", id: deliveryID, body: append(append([]byte{}, created...), make([]byte, 64<<10)...)}, 413, OutcomeTooLarge},
		{"another installation event", delivery{event: "installation_target", id: deliveryID, body: []byte(`{"action":"renamed","installation":{"id":957387}}`)}, 200, OutcomeIgnored},
		{"ping", delivery{event: "ping", id: deliveryID, body: payload(t, "ping/app-hook.octokit-with-app_id.json")}, 200, OutcomeIgnored},
		{"push with an installation", delivery{event: "push", id: deliveryID, body: payload(t, "push/tag-delete.octokit-with-installation.json")}, 202, OutcomeIgnored},
		{"unknown event shaped like an installation", delivery{event: "made_up_event", id: deliveryID, body: created}, 202, OutcomeIgnored},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			hr := &hookRecorder{}
			f := newFixture(t, func(c *Config) {
				c.OnInstallation = hr.hook
				c.MaxBody = 64 << 10
			})
			w := f.do(tc.d)
			if w.Code != tc.status {
				t.Errorf("status %d, want %d: %s", w.Code, tc.status, w.Body)
			}
			if n := len(hr.changes()); n != 0 {
				t.Errorf("hook called %d times", n)
			}
			if n := len(f.pub.messages()); n != 0 {
				t.Errorf("published %d", n)
			}
			if got := f.count(eventLabel(tc.d.event), tc.outcome); got != 1 {
				t.Errorf("outcome %q not counted; log %s", tc.outcome, f.log.String())
			}
		})
	}
}

// TestInstallationReposAreChecked: repository names that are not owner/name
// are left out, duplicates are listed once, and the change still reaches
// the hook (dropping too much cached state is harmless, too little is not).
func TestInstallationReposAreChecked(t *testing.T) {
	hr := &hookRecorder{}
	f := newFixture(t, func(c *Config) { c.OnInstallation = hr.hook })
	body := edit(t, payload(t, "installation_repositories/added.octokit.json"), `"repositories_removed": [],`,
		`"repositories_removed": [{"full_name": "../../etc"}, {"full_name": "Codertocat/Space"}, {"full_name": "Codertocat/Old"}, {}],`)
	if w := f.do(delivery{event: "installation_repositories", id: deliveryID, body: body}); w.Code != 202 {
		t.Fatalf("status %d: %s", w.Code, w.Body)
	}
	got := hr.changes()
	if len(got) != 1 || !reflect.DeepEqual(got[0].Repos, []string{"Codertocat/Space", "Codertocat/Old"}) {
		t.Fatalf("hook got %+v", got)
	}
}

// TestInstallationChangeWithoutRules: installation changes need no rules,
// so they are handled while none are loaded; other events still get 503.
func TestInstallationChangeWithoutRules(t *testing.T) {
	hr := &hookRecorder{}
	f := newFixture(t, func(c *Config) {
		c.OnInstallation = hr.hook
		c.Rules = func() *rules.Rules { return nil }
	})
	if w := f.do(delivery{event: "installation", id: deliveryID, body: payload(t, "installation/deleted.octokit.json")}); w.Code != 202 || len(hr.changes()) != 1 {
		t.Fatalf("status %d, %d hook calls: %s", w.Code, len(hr.changes()), w.Body)
	}
	if w := f.do(delivery{event: "push", id: deliveryID, body: payload(t, "push/tag-create.drone.json")}); w.Code != 503 {
		t.Fatalf("push without rules: status %d", w.Code)
	}
}
