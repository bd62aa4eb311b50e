package webhook

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/intent"
)

// seedPayloads adds every test payload with its event name.
func seedPayloads(f *testing.F, add func(event string, body []byte)) {
	files, err := filepath.Glob("testdata/payloads/*/*.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(filepath.Base(filepath.Dir(p)), b)
	}
	hostile := []string{`{}`, `null`, `{"a":[1,2,{"b":null}]}`, `{"ref":"refs/tags/v1","ref":"x"}`, `{"ref":"a","REF":"b"}`, "{\"a\":\"\xff\"}", `{"a":"\ud800"}`, `[[[[`, `{"a":-0.1e+5}`}
	for _, s := range hostile {
		for _, event := range []string{"push", "workflow_run", "installation", "installation_repositories", "status", "check_run", "check_suite", "pull_request_review", "pull_request"} {
			add(event, []byte(s))
		}
	}
	// Statuses and check runs in the shape GitHub documents (checks_test.go).
	add("status", statusPayload("failure", "continuous-delivery/web-staging", "https://argocd.example.com/x", "main", "promobot/staging/web"))
	add("check_run", checkRunPayload("completed", "test", "failure", "promobot/staging/web", 5))
	// Health reports with GitHub's times (healthreport_test.go).
	add("status", healthStatus("acme/gitops", "pending", "continuous-delivery/web-staging", "", "2026-11-25T10:00:00+01:00", "main"))
	add("check_run", healthCheckRun("created", "in_progress", "", "continuous-delivery/web-staging", "2026-11-25T09:58:00Z", "", "main"))
	// Installation changes: the shapes the classifier reads, and the ways
	// they can be wrong.
	for _, s := range []string{
		`{"action":"deleted","installation":{"id":2,"account":{"login":"octocat"}},"repositories":[{"full_name":"octocat/Hello-World"}]}`,
		`{"action":"added","installation":{"id":1},"repositories_added":[{"full_name":"a/b"},{"full_name":"a/b"}],"repositories_removed":[]}`,
		`{"action":"removed","installation":{"id":1},"repositories_removed":[{"full_name":"../x"},{"full_name":5}]}`,
		`{"action":"deleted","installation":{"id":2,"ID":3}}`,
		`{"action":"deleted","installation":{"id":"2"}}`,
		`{"action":"deleted","installation":{"id":-1}}`,
		`{"action":"","installation":{"id":9223372036854775807}}`,
		`{"action":"created","installation":{"id":1},"repositories":{"full_name":"a/b"}}`,
		`{"action":"created","installation":{"id":1},"repositories":[{"full_name":"a/b","Full_Name":"c/d"}]}`,
	} {
		add("installation", []byte(s))
		add("installation_repositories", []byte(s))
	}
	// An annotated tag push: "after" is the tag object.
	add("push", []byte(`{"ref":"refs/tags/v1.2.3","after":"5f1c3e0b9a7d2e4c6b8a0f1e3d5c7b9a1e3f5d7c","repository":{"full_name":"bradrydzewski/drone-test-go"},"head_commit":{"id":"d2b75aa7797ec26b088fa2dd527e9d2c052fcedd"}}`))
}

// FuzzClassify: random events and bodies never panic, an accepted body is
// valid JSON to encoding/json too, and every intent produced validates.
func FuzzClassify(f *testing.F) {
	seedPayloads(f, func(event string, body []byte) { f.Add(event, body) })
	rs := loadRules(f)
	f.Fuzz(func(t *testing.T, event string, body []byte) {
		c, err := classify(&ruleSets{server: rs}, Delivery{Event: event, ID: "fuzz-1", Payload: body, Received: fixedNow})
		ins := c.intents
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrInvalid) {
				t.Fatalf("unclassified error: %v", err)
			}
			if ins != nil || c.change != nil {
				t.Fatal("intents or an installation change with an error")
			}
			return
		}
		if ch := c.change; ch != nil {
			if event != "installation" && event != "installation_repositories" || ch.Event != event {
				t.Fatalf("installation change from a %q delivery", event)
			}
			if ch.InstallationID <= 0 || ch.Action == "" || len(ins) != 0 {
				t.Fatalf("installation change %+v with %d intents", ch, len(ins))
			}
			for _, r := range ch.Repos {
				if !intent.ValidRepo(r) {
					t.Fatalf("installation change names %q", r)
				}
			}
		}
		if !json.Valid(body) {
			t.Fatalf("checker accepted what encoding/json refuses: %q", body)
		}
		for _, in := range ins {
			if err := in.Validate(); err != nil {
				t.Fatalf("invalid intent: %v", err)
			}
			if in.DeliveryID != "fuzz-1" || !strings.HasPrefix(in.ID, "fuzz-1:") {
				t.Fatalf("intent ids: %+v", in)
			}
		}
	})
}

// FuzzServeHTTP: random headers and bodies never panic, the status is one
// the handler documents, and something is published only with a 202.
func FuzzServeHTTP(f *testing.F) {
	seedPayloads(f, func(event string, body []byte) {
		f.Add("POST", event, "d-1", "application/json", uint8(0), body)
	})
	f.Add("GET", "push", "d-1", "application/json", uint8(0), []byte(`{}`))
	f.Add("POST", "push", "", "text/plain", uint8(1), []byte(`{}`))
	f.Add("POST", "push", "d-1", "application/x-www-form-urlencoded", uint8(0), []byte(`payload=%7B%7D`))
	f.Add("POST", "push", "d-1", "application/json", uint8(2), []byte(`{}`))
	hook := &hookRecorder{}
	fx := newFixture(f, func(c *Config) { c.OnInstallation = hook.hook })
	allowed := map[int]bool{200: true, 202: true, 400: true, 401: true, 405: true, 413: true, 415: true}
	f.Fuzz(func(t *testing.T, method, event, id, contentType string, sigMode uint8, body []byte) {
		before := len(fx.pub.messages())
		hooked := len(hook.changes())
		d := delivery{method: method, event: event, id: id, body: body, contentType: &contentType}
		switch sigMode % 3 {
		case 1:
			d.sig = strp("")
		case 2:
			d.sig = strp(sign([]byte("wrong"), body))
		}
		if !validMethod(method) {
			return // httptest.NewRequest panics on these itself
		}
		w := httptest.NewRecorder()
		fx.h.ServeHTTP(w, d.request())
		if !allowed[w.Code] {
			t.Fatalf("status %d", w.Code)
		}
		published := len(fx.pub.messages()) - before
		if published > 0 && w.Code != 202 {
			t.Fatalf("published %d with status %d", published, w.Code)
		}
		if called := len(hook.changes()) - hooked; called > 0 {
			if called != 1 || w.Code != 202 || published != 0 || sigMode%3 != 0 ||
				event != "installation" && event != "installation_repositories" {
				t.Fatalf("installation hook called %d times for a %q delivery answered %d (published %d)", called, event, w.Code, published)
			}
		}
		if sigMode%3 != 0 && w.Code != 401 && w.Code != 405 && w.Code != 413 {
			t.Fatalf("unsigned delivery got %d", w.Code)
		}
	})
}

func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		c := m[i]
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z') {
			return false
		}
	}
	return true
}
