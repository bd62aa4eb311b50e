package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/rs/zerolog"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/queue"
	"github.com/promobot/promobot/internal/rules"
)

const deliveryID = "72d3162e-cc78-11e3-81ab-4c9367dc0958"

func TestNewRequiresSecret(t *testing.T) {
	rs := loadRules(t)
	cfg := Config{Rules: func() *rules.Rules { return rs }, Publisher: &recorder{}}
	if _, err := New(cfg); err == nil {
		t.Fatal("New without a secret and without Insecure succeeded")
	}
	var log syncBuffer
	cfg.Insecure = true
	cfg.Log = zerolog.New(&log)
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "INSECURE") || !strings.Contains(log.String(), `"level":"warn"`) {
		t.Errorf("insecure mode did not warn loudly: %s", log.String())
	}
}

func TestInsecureModeAcceptsUnsigned(t *testing.T) {
	f := newFixture(t, func(c *Config) { c.Secret = nil; c.Insecure = true })
	w := f.do(delivery{event: "push", id: deliveryID, body: payload(t, "push/tag-create.drone.json"), sig: strp("")})
	if w.Code != http.StatusAccepted || len(f.pub.messages()) != 1 {
		t.Fatalf("status %d, published %d", w.Code, len(f.pub.messages()))
	}
}

// TestServeHTTP covers every HTTP behaviour: status, what was published,
// the response body, and the metric.
func TestServeHTTP(t *testing.T) {
	wr := payload(t, "workflow_run/completed.octokit.json")
	form := []byte("payload=" + url.QueryEscape(string(wr)))
	cases := []struct {
		name      string
		d         delivery
		pubErr    error
		noRules   bool
		status    int
		published []string // subjects
		outcome   string
		event     string // metric label; default d.event
		intents   int    // in the response body; -1: an error body
	}{
		{name: "workflow_run enqueues one update per service",
			d:      delivery{event: "workflow_run", id: deliveryID, body: wr},
			status: 202, outcome: OutcomeAccepted, intents: 2,
			published: []string{"promobot.intents.jessesuen%2Ftest-repo.octo-app.dev", "promobot.intents.jessesuen%2Ftest-repo.octo-branch.dev"}},
		{name: "form encoded body is supported",
			d:      delivery{event: "workflow_run", id: deliveryID, body: form, contentType: strp("application/x-www-form-urlencoded")},
			status: 202, outcome: OutcomeAccepted, intents: 2,
			published: []string{"promobot.intents.jessesuen%2Ftest-repo.octo-app.dev", "promobot.intents.jessesuen%2Ftest-repo.octo-branch.dev"}},
		{name: "json with charset parameter",
			d:      delivery{event: "push", id: deliveryID, body: payload(t, "push/tag-create.drone.json"), contentType: strp("application/json; charset=utf-8")},
			status: 202, outcome: OutcomeAccepted, intents: 1, published: []string{"promobot.intents.acme%2Fgitops.drone-app.dev"}},
		{name: "missing content type is read as json",
			d:      delivery{event: "push", id: deliveryID, body: payload(t, "push/tag-create.drone.json"), contentType: strp("")},
			status: 202, outcome: OutcomeAccepted, intents: 1, published: []string{"promobot.intents.acme%2Fgitops.drone-app.dev"}},
		{name: "branch push to gitops promotes",
			d:      delivery{event: "push", id: deliveryID, body: payload(t, "push/branch-push-forced.argo-cd.json")},
			status: 202, outcome: OutcomeAccepted, intents: 1, published: []string{"promobot.intents.jessesuen%2Ftest-repo.octo-app.staging"}},
		{name: "GET is refused", d: delivery{method: "GET", event: "push", id: deliveryID},
			status: 405, outcome: OutcomeInvalid, intents: -1},
		{name: "PUT is refused", d: delivery{method: "PUT", event: "push", id: deliveryID, body: wr},
			status: 405, outcome: OutcomeInvalid, intents: -1},
		{name: "missing signature", d: delivery{event: "workflow_run", id: deliveryID, body: wr, sig: strp("")},
			status: 401, outcome: OutcomeUnauthorized, intents: -1},
		{name: "wrong signature", d: delivery{event: "workflow_run", id: deliveryID, body: wr, sig: strp(sign([]byte("other"), wr))},
			status: 401, outcome: OutcomeUnauthorized, intents: -1},
		{name: "sha1 X-Hub-Signature only", d: delivery{event: "workflow_run", id: deliveryID, body: wr, sig: strp(""),
			header: map[string]string{"X-Hub-Signature": "sha1=" + strings.Repeat("0", 40)}},
			status: 401, outcome: OutcomeUnauthorized, intents: -1},
		{name: "missing event header", d: delivery{id: deliveryID, body: wr},
			status: 400, outcome: OutcomeInvalid, event: "other", intents: -1},
		{name: "missing delivery header", d: delivery{event: "workflow_run", body: wr},
			status: 400, outcome: OutcomeInvalid, intents: -1},
		{name: "delivery id not a token", d: delivery{event: "workflow_run", id: "abc.def", body: wr},
			status: 400, outcome: OutcomeInvalid, intents: -1},
		{name: "delivery id too long", d: delivery{event: "workflow_run", id: strings.Repeat("a", 101), body: wr},
			status: 400, outcome: OutcomeInvalid, intents: -1},
		{name: "unsupported content type", d: delivery{event: "workflow_run", id: deliveryID, body: wr, contentType: strp("text/plain")},
			status: 415, outcome: OutcomeInvalid, intents: -1},
		{name: "form without payload field", d: delivery{event: "workflow_run", id: deliveryID, body: []byte("x=1"), contentType: strp("application/x-www-form-urlencoded")},
			status: 400, outcome: OutcomeInvalid, intents: -1},
		{name: "malformed json", d: delivery{event: "workflow_run", id: deliveryID, body: []byte(`{"action":`)},
			status: 400, outcome: OutcomeInvalid, intents: -1},
		{name: "unknown event", d: delivery{event: "made_up_event", id: deliveryID, body: []byte(`{"action":"x"}`)},
			status: 202, outcome: OutcomeIgnored, event: "other"},
		{name: "known event that asks for nothing", d: delivery{event: "check_suite", id: deliveryID, body: edit(t, payload(t, "check_suite/completed.octokit.json"), `"action": "completed"`, `"action": "requested"`)},
			status: 202, outcome: OutcomeIgnored},
		{name: "ping", d: delivery{event: "ping", id: deliveryID, body: payload(t, "ping/repo-hook.octokit.json")},
			status: 200, outcome: OutcomeIgnored},
		{name: "installation without a hook", d: delivery{event: "installation", id: deliveryID, body: payload(t, "installation/created.octokit.json")},
			status: 202, outcome: OutcomeIgnored},
		{name: "installation_repositories without a hook", d: delivery{event: "installation_repositories", id: deliveryID, body: payload(t, "installation_repositories/added.octokit.json")},
			status: 202, outcome: OutcomeIgnored},
		{name: "another installation event is answered as a ping", d: delivery{event: "installation_target", id: deliveryID, body: []byte(`{"action":"renamed","installation":{"id":957387}}`)},
			status: 200, outcome: OutcomeIgnored},
		{name: "issue_comment is not handled yet", d: delivery{event: "issue_comment", id: deliveryID, body: payload(t, "issue_comment/created-on-pr-slash-build.go-playground.json")},
			status: 202, outcome: OutcomeIgnored},
		{name: "a closed pull_request asks for nothing", d: delivery{event: "pull_request", id: deliveryID, body: payload(t, "pull_request/closed-merged-with-installation.create-issue-branch.json")},
			status: 202, outcome: OutcomeIgnored},
		{name: "workflow run not matching any service", d: delivery{event: "workflow_run", id: deliveryID, body: payload(t, "workflow_run/in_progress.drone.json")},
			status: 202, outcome: OutcomeIgnored},
		{name: "rendered tag invalid: accepted, nothing enqueued",
			d:      delivery{event: "workflow_run", id: deliveryID, body: edit(t, wr, `"head_branch": "master"`, `"head_branch": "feature/x"`)},
			status: 202, outcome: OutcomeInvalid},
		{name: "tag push with an invalid tag name: accepted, nothing enqueued",
			d:      delivery{event: "push", id: deliveryID, body: edit(t, payload(t, "push/tag-create.drone.json"), `"ref": "refs/tags/v0.0.1"`, `"ref": "refs/tags/v0.0.1 rc"`)},
			status: 202, outcome: OutcomeInvalid},
		{name: "publisher fails", d: delivery{event: "workflow_run", id: deliveryID, body: wr}, pubErr: fmt.Errorf("%w: down", queue.ErrUnavailable),
			status: 503, outcome: OutcomeUnavailable, intents: -1},
		{name: "no rules loaded", d: delivery{event: "workflow_run", id: deliveryID, body: wr}, noRules: true,
			status: 503, outcome: OutcomeUnavailable, intents: -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, func(c *Config) {
				if tc.noRules {
					c.Rules = func() *rules.Rules { return nil }
				}
			})
			f.pub.err = tc.pubErr
			w := f.do(tc.d)
			if w.Code != tc.status {
				t.Fatalf("status %d, want %d; body %s", w.Code, tc.status, w.Body)
			}
			var subjects []string
			for _, m := range f.pub.messages() {
				subjects = append(subjects, m.Subject)
			}
			if strings.Join(subjects, " ") != strings.Join(tc.published, " ") {
				t.Errorf("published %v, want %v", subjects, tc.published)
			}
			if tc.status == 405 && w.Header().Get("Allow") != "POST" {
				t.Errorf("Allow = %q", w.Header().Get("Allow"))
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type = %q", ct)
			}
			var body struct {
				Delivery string `json:"delivery"`
				Intents  *int   `json:"intents"`
				Error    string `json:"error"`
			}
			if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
				t.Fatalf("body %q: %v", w.Body, err)
			}
			if tc.intents < 0 {
				if body.Error == "" || body.Intents != nil {
					t.Errorf("want an error body, got %s", w.Body)
				}
			} else if body.Intents == nil || *body.Intents != tc.intents || body.Delivery != tc.d.id {
				t.Errorf("body %s, want %d intents for %s", w.Body, tc.intents, tc.d.id)
			}
			event := tc.event
			if event == "" {
				event = tc.d.event
			}
			if got := f.count(event, tc.outcome); got != 1 {
				t.Errorf("deliveries{event=%q,outcome=%q} = %v, want 1", event, tc.outcome, got)
			}
		})
	}
}

func TestPublishedMessages(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(delivery{event: "workflow_run", id: deliveryID, body: payload(t, "workflow_run/completed.octokit.json")})
	if w.Code != 202 {
		t.Fatal(w.Code, w.Body)
	}
	msgs := f.pub.messages()
	if len(f.pub.calls) != 1 || len(msgs) != 2 {
		t.Fatalf("want one Publish of 2 messages, got %d calls", len(f.pub.calls))
	}
	for i, m := range msgs {
		in, err := intent.Unmarshal(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if m.ID != intent.MsgID(deliveryID, i) || in.ID != m.ID || m.Subject != in.Subject() {
			t.Errorf("message %d: id %q subject %q, intent %q %q", i, m.ID, m.Subject, in.ID, in.Subject())
		}
		if !in.CreatedAt.Equal(fixedNow) {
			t.Errorf("CreatedAt = %v", in.CreatedAt)
		}
	}
}

// TestLogLines: one line per decision with the delivery's fields; neither
// the secret nor the signature ever appears.
func TestLogLines(t *testing.T) {
	f := newFixture(t, nil)
	wr := payload(t, "workflow_run/completed.octokit.json")
	ghes := payload(t, "push/tag-create.octokit-ghes-35.json")
	ds := []delivery{
		{event: "workflow_run", id: "d-1", body: wr},
		{event: "push", id: "d-2", body: ghes},
		{event: "workflow_run", id: "d-3", body: wr, sig: strp(sign([]byte("wrong"), wr))},
		{event: "workflow_run", id: "d-4", body: wr, sig: strp("sha256=zz" + strings.Repeat("0", 62))},
		{event: "ping", id: "d-5", body: payload(t, "ping/repo-hook.octokit.json")},
	}
	for _, d := range ds {
		f.do(d)
	}
	lines := f.log.lines(t)
	if len(lines) != len(ds) {
		t.Fatalf("%d log lines for %d deliveries:\n%s", len(lines), len(ds), f.log.String())
	}
	all := f.log.String()
	for _, secret := range []string{string(testSecret), sign(testSecret, wr), sign(testSecret, ghes), sign([]byte("wrong"), wr)[7:], "zz000"} {
		if strings.Contains(all, secret) {
			t.Errorf("log contains %q", secret)
		}
	}
	first := lines[0]
	if first["delivery"] != "d-1" || first["event"] != "workflow_run" || first["repo"] != "octo-org/octo-repo" ||
		first["installation"] != float64(0) || first["outcome"] != OutcomeAccepted {
		t.Errorf("first line: %v", first)
	}
	ins, _ := first["intents"].([]any)
	if len(ins) != 2 {
		t.Fatalf("intents in log: %v", first["intents"])
	}
	in0, _ := ins[0].(map[string]any)
	if in0["id"] != "d-1:0" || in0["env"] != "dev" || fmt.Sprint(in0["services"]) != "[octo-app]" || in0["tag"] != "sha-3484a3f" {
		t.Errorf("intent log: %v", in0)
	}
	if lines[1]["installation"] != float64(5) || lines[1]["repo"] != "Codertocat/Hello-World" {
		t.Errorf("ghes line: %v", lines[1])
	}
	for _, l := range lines[2:4] {
		if l["level"] != "warn" || l["outcome"] != OutcomeUnauthorized {
			t.Errorf("unauthorized line: %v", l)
		}
	}
	if lines[4]["outcome"] != OutcomeIgnored || lines[4]["level"] != "info" {
		t.Errorf("ping line: %v", lines[4])
	}
}

func TestPublisherErrorIsLogged(t *testing.T) {
	f := newFixture(t, nil)
	f.pub.err = errors.New("nats: connection closed")
	if w := f.do(delivery{event: "workflow_run", id: deliveryID, body: payload(t, "workflow_run/completed.octokit.json")}); w.Code != 503 {
		t.Fatal(w.Code)
	}
	lines := f.log.lines(t)
	if len(lines) != 1 || lines[0]["level"] != "error" || !strings.Contains(fmt.Sprint(lines[0]["error"]), "connection closed") {
		t.Errorf("log: %v", lines)
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	f := newFixture(t, nil)
	// A second handler on the same registry shares the counters.
	rs := loadRules(t)
	h2, err := New(Config{Secret: testSecret, Rules: func() *rules.Rules { return rs }, Publisher: f.pub, Registerer: f.reg})
	if err != nil {
		t.Fatal(err)
	}
	f2 := &fixture{h: h2, pub: f.pub, reg: f.reg, log: f.log}
	f2.do(delivery{event: "ping", id: "p", body: payload(t, "ping/repo-hook.octokit.json")})
	f.do(delivery{event: "ping", id: "p", body: payload(t, "ping/repo-hook.octokit.json")})
	if got := f.count("ping", OutcomeIgnored); got != 2 {
		t.Errorf("shared counter = %v", got)
	}
}
