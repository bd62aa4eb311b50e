package webhook

import (
	"errors"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/intent"
)

// TestClassifyPullRequest covers the pull_request deliveries that must not
// ask for a policy check, and hostile ones.
func TestClassifyPullRequest(t *testing.T) {
	rs := loadRules(t)
	sync := func(t testing.TB) []byte { return payload(t, "pull_request/synchronize.octokit.json") }
	for _, tc := range []struct {
		name    string
		body    func(t testing.TB) []byte
		want    int   // intents
		wantErr error // nil: none
	}{
		{name: "synchronize", body: sync, want: 1},
		{name: "closed", body: file("pull_request/closed-merged-with-installation.create-issue-branch.json")},
		{name: "labeled", body: func(t testing.TB) []byte { return edit(t, sync(t), `"action": "synchronize"`, `"action": "labeled"`) }},
		{name: "not open", body: func(t testing.TB) []byte { return edit(t, sync(t), `"state": "open"`, `"state": "closed"`) }},
		{name: "not a GitOps repository", body: func(t testing.TB) []byte {
			return edit(t, sync(t), `"name": "Hello-World",
    "full_name": "Codertocat/Hello-World"`, `"name": "else",
    "full_name": "someone/else"`)
		}},
		{name: "head sha not hex", wantErr: ErrInvalid, body: func(t testing.TB) []byte {
			return edit(t, sync(t), `"sha": "ec26c3e57ca3a959ca5aad62de7213c562f8c821",
      "user"`, `"sha": "../../etc/passwd",
      "user"`)
		}},
		{name: "no number", wantErr: ErrMalformed, body: func(t testing.TB) []byte {
			return edit(t, sync(t), `"synchronize",
  "number": 2,`, `"synchronize",
  "number": 0,`)
		}},
		{name: "number of the wrong type", wantErr: ErrMalformed, body: func(t testing.TB) []byte {
			return edit(t, sync(t), `"synchronize",
  "number": 2,`, `"synchronize",
  "number": "2",`)
		}},
		{name: "huge number", wantErr: ErrMalformed, body: func(t testing.TB) []byte {
			return edit(t, sync(t), `"synchronize",
  "number": 2,`, `"synchronize",
  "number": 99999999999999,`)
		}},
		{name: "oversized head ref is cut", want: 1, body: func(t testing.TB) []byte {
			return edit(t, sync(t), `"ref": "changes"`, `"ref": "`+strings.Repeat("é", 5000)+`"`)
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Classify(rs, Delivery{Event: "pull_request", ID: "d-1", Payload: tc.body(t), Received: fixedNow})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got = onlyKind(got, intent.KindPolicy) // the configuration check has its own tests
			if len(got) != tc.want {
				t.Fatalf("got %d intents, want %d", len(got), tc.want)
			}
			for _, in := range got {
				if in.Kind != intent.KindPolicy || in.Source.Issue != 2 || len(in.Source.Ref) > 255 {
					t.Errorf("intent %+v", in)
				}
			}
		})
	}
}

func onlyKind(ins []intent.Intent, k intent.Kind) []intent.Intent {
	var out []intent.Intent
	for _, in := range ins {
		if in.Kind == k {
			out = append(out, in)
		}
	}
	return out
}
