package webhook

import (
	"encoding/json"
	"errors"
	"testing"

	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

const (
	// annotatedTagCommit is the commit drone's captured tag push points at.
	annotatedTagCommit = "d2b75aa7797ec26b088fa2dd527e9d2c052fcedd"
	// annotatedTagObject stands for the tag object an annotated tag adds.
	annotatedTagObject = "5f1c3e0b9a7d2e4c6b8a0f1e3d5c7b9a1e3f5d7c"
)

// annotatedTagPush is drone's captured tag push as GitHub sends it for an
// annotated tag: "after" is the new value of refs/tags/v0.0.1, the tag
// object, while head_commit is still the commit the tag points at.
func annotatedTagPush(t testing.TB) []byte {
	return edit(t, payload(t, "push/tag-create.drone.json"), `"after": "`+annotatedTagCommit+`"`, `"after": "`+annotatedTagObject+`"`)
}

// setMember replaces (or adds) one top-level member of a payload.
func setMember(t testing.TB, b []byte, key, value string) []byte {
	t.Helper()
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[key] = json.RawMessage(value)
	out, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestAnnotatedTagPushUsesTheCommit: the intent of an annotated tag push
// names the commit (head_commit.id), on which statuses can be set and which
// the Source: trailer records, not the tag object in "after".
func TestAnnotatedTagPushUsesTheCommit(t *testing.T) {
	f := newFixture(t, nil)
	w := f.do(delivery{event: "push", id: deliveryID, body: annotatedTagPush(t)})
	if w.Code != 202 || len(f.pub.messages()) != 1 {
		t.Fatalf("status %d, %d published; log %s", w.Code, len(f.pub.messages()), f.log.String())
	}
	in, err := intent.Unmarshal(f.pub.messages()[0].Data)
	if err != nil {
		t.Fatal(err)
	}
	src := in.Source
	if src.SHA != annotatedTagCommit || src.Ref != "v0.0.1" || in.Tag != "v0.0.1" ||
		src.CommitURL != "https://github.com/bradrydzewski/drone-test-go/commit/"+annotatedTagCommit {
		t.Errorf("source = %+v, want the commit %s", src, annotatedTagCommit)
	}
}

func TestTagPushSourceSHA(t *testing.T) {
	rs := loadRules(t)
	tag := payload(t, "push/tag-create.drone.json")
	cases := []struct {
		name    string
		body    []byte
		wantSHA string
		wantErr error
	}{
		{"lightweight tag", tag, annotatedTagCommit, nil},
		{"annotated tag", annotatedTagPush(t), annotatedTagCommit, nil},
		// Without a head commit only "after" is known: a lightweight tag's
		// commit.
		{"no head commit", setMember(t, tag, "head_commit", "null"), annotatedTagCommit, nil},
		{"head commit id not a sha", edit(t, tag, `"id": "`+annotatedTagCommit+`"`, `"id": "v0.0.1"`), "", ErrInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := Classify(rs, Delivery{Event: "push", ID: "d", Payload: tc.body})
			if !errors.Is(err, tc.wantErr) || (err != nil) != (tc.wantErr != nil) {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.wantErr != nil {
				return
			}
			if len(ins) != 1 || ins[0].Source.SHA != tc.wantSHA {
				t.Fatalf("intents %+v, want source sha %s", ins, tc.wantSHA)
			}
		})
	}
}

// TestSourceInstallation: a build's intent carries the installation of the
// delivery that reported it, also when the GitOps repository belongs to
// another organisation (whose installation the worker looks up).
func TestSourceInstallation(t *testing.T) {
	rs := loadRules(t)
	wr := payload(t, "workflow_run/completed.octokit.json")
	withInstallation := func(b []byte, id string) []byte { return setMember(t, b, "installation", `{"id":`+id+`}`) }
	cases := []struct {
		name, event     string
		body            []byte
		gitops, source  int64 // Intent.InstallationID, Source.InstallationID
		wantIntentCount int
	}{
		// octo-org builds, jessesuen owns the GitOps repository.
		{"cross-organisation build", "workflow_run", withInstallation(wr, "4242"), 0, 4242, 2},
		{"build by a repository webhook", "workflow_run", wr, 0, 0, 2},
		// Codertocat builds and deploys.
		{"tag push of the same owner", "push", payload(t, "push/tag-create.octokit-ghes-35.json"), 5, 5, 1},
		{"cross-organisation tag push", "push", withInstallation(payload(t, "push/tag-create.drone.json"), "99"), 0, 99, 1},
		{"annotated tag push", "push", withInstallation(annotatedTagPush(t), "99"), 0, 99, 1},
		{"push to the GitOps repository", "push", payload(t, "push/branch-create.octokit-with-installation.json"), 1, 1, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ins, err := Classify(rs, Delivery{Event: tc.event, ID: "d", Payload: tc.body})
			if err != nil || len(ins) != tc.wantIntentCount {
				t.Fatalf("%d intents, %v", len(ins), err)
			}
			for _, in := range ins {
				if in.InstallationID != tc.gitops || in.Source.InstallationID != tc.source {
					t.Errorf("%s: installation %d, source installation %d; want %d, %d",
						in.Services, in.InstallationID, in.Source.InstallationID, tc.gitops, tc.source)
				}
				b, err := in.Marshal()
				if err != nil {
					t.Fatal(err)
				}
				back, err := intent.Unmarshal(b)
				if err != nil || back.Source.InstallationID != tc.source {
					t.Errorf("source installation lost on the queue: %+v %v", back.Source, err)
				}
			}
		})
	}
	// A command's intent is about the GitOps repository only.
	p := edit(t, payload(t, "issue_comment/created-on-pr-slash-build.go-playground.json"), `"body": "/build"`, `"body": "/promote staging"`)
	p = setMember(t, p, "installation", `{"id":31}`)
	crs, err := rules.Parse("rules.yaml", []byte(commentRules))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := Classify(crs, Delivery{Event: "issue_comment", ID: "c", Payload: p})
	if err != nil || len(ins) != 1 || ins[0].InstallationID != 31 || ins[0].Source.InstallationID != 0 {
		t.Fatalf("comment intents %+v, %v", ins, err)
	}
}
