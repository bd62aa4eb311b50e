package automerge_test

import (
	"context"
	"flag"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/promobot/promobot/internal/automerge"
	"github.com/promobot/promobot/internal/automerge/automergetest"
)

func yes() *bool { b := true; return &b }
func no() *bool  { b := false; return &b }

func TestFinish(t *testing.T) {
	all := []string{"merge", "squash", "rebase"}
	tests := []struct {
		name      string
		settings  automerge.Settings
		mergeable *bool
		state     string
		enableErr error
		method    string
		native    bool
		want      automerge.Outcome
		calls     []string
		comment   string // substring of the one comment; "" none
	}{
		{"native auto-merge enabled with the rule's method", automerge.Settings{AllowAutoMerge: true, Methods: all}, nil, "unknown", nil, "squash", true,
			automerge.Enabled, []string{"settings", "pull 1", "enable PR_1 squash"}, ""},
		{"no rule method: the first the repository allows", automerge.Settings{AllowAutoMerge: true, Methods: []string{"squash", "rebase"}}, nil, "unknown", nil, "", true,
			automerge.Enabled, []string{"settings", "pull 1", "enable PR_1 squash"}, ""},
		{"clean status: merged at once", automerge.Settings{AllowAutoMerge: true, Methods: all}, yes(), "clean", &automerge.APIError{Message: "Pull request Pull request is in clean status"}, "rebase", true,
			automerge.Merged, []string{"settings", "pull 1", "enable PR_1 rebase", "merge 1 rebase"}, ""},
		{"GitHub refuses auto-merge: told once", automerge.Settings{AllowAutoMerge: true, Methods: all}, nil, "unknown", &automerge.APIError{Message: "Pull request is in unstable status"}, "", true,
			automerge.Refused, []string{"settings", "pull 1", "enable PR_1 merge", "comment 1"}, "unstable status"},
		{"method the repository forbids: told once", automerge.Settings{AllowAutoMerge: true, Methods: []string{"merge"}}, nil, "unknown", nil, "squash", true,
			automerge.Refused, []string{"settings", "pull 1", "comment 1"}, `"squash" merge method`},
		{"no native auto-merge: mergeable null waits", automerge.Settings{Methods: all}, nil, "unknown", nil, "", true,
			automerge.Waiting, []string{"settings", "pull 1"}, ""},
		{"no native auto-merge: pending checks wait", automerge.Settings{Methods: all}, yes(), "blocked", nil, "", false,
			automerge.Waiting, []string{"settings", "pull 1"}, ""},
		{"no native auto-merge: a failing check that is not required still waits", automerge.Settings{Methods: all}, yes(), "unstable", nil, "", false,
			automerge.Waiting, []string{"settings", "pull 1"}, ""},
		{"no native auto-merge: clean merges", automerge.Settings{Methods: all}, yes(), "clean", nil, "squash", false,
			automerge.Merged, []string{"settings", "pull 1", "merge 1 squash"}, ""},
		{"no native auto-merge: conflict told once", automerge.Settings{Methods: all}, no(), "dirty", nil, "", false,
			automerge.Refused, []string{"settings", "pull 1", "comment 1"}, "conflicts"},
		{"native on but turned off by people: an event leaves it", automerge.Settings{AllowAutoMerge: true, Methods: all}, yes(), "clean", nil, "", false,
			automerge.Waiting, []string{"settings", "pull 1"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := automergetest.New(tt.settings)
			f.Pulls[1].Mergeable, f.Pulls[1].MergeableState, f.EnableErr = tt.mergeable, tt.state, tt.enableErr
			res, err := automerge.Finish(context.Background(), f, "acme/gitops", 1, tt.method, tt.native)
			if err != nil {
				t.Fatal(err)
			}
			if res.Outcome != tt.want {
				t.Errorf("outcome %s (%s), want %s", res.Outcome, res.Reason, tt.want)
			}
			if !reflect.DeepEqual(f.Calls, tt.calls) {
				t.Errorf("calls %q, want %q", f.Calls, tt.calls)
			}
			cs := f.Commented(1)
			switch {
			case tt.comment == "" && len(cs) != 0:
				t.Errorf("unexpected comment %q", cs[0].Body)
			case tt.comment != "" && (len(cs) != 1 || !strings.Contains(cs[0].Body, tt.comment) || !strings.HasPrefix(cs[0].Body, "<!-- promobot:automerge:")):
				t.Errorf("comments %+v, want one marked naming %q", cs, tt.comment)
			}
			// Asked again (a redelivery, the next event): never a second comment.
			if _, err := automerge.Finish(context.Background(), f, "acme/gitops", 1, tt.method, tt.native); err != nil {
				t.Fatal(err)
			}
			if n := len(f.Commented(1)); n > 1 {
				t.Errorf("%d comments after a second look, want at most 1", n)
			}
		})
	}
}

func TestRefusedMergeToldOnce(t *testing.T) {
	f := automergetest.New(automerge.Settings{Methods: []string{"merge"}})
	f.Pulls[1].Mergeable, f.Pulls[1].MergeableState, f.MergeStatus = yes(), "clean", 405
	for range 3 {
		res, err := automerge.Finish(context.Background(), f, "acme/gitops", 1, "", false)
		if err != nil || res.Outcome != automerge.Refused {
			t.Fatalf("Finish = %+v, %v; want refused", res, err)
		}
	}
	cs := f.Commented(1)
	if len(cs) != 1 || !strings.Contains(cs[0].Body, "is failing") {
		t.Fatalf("comments %+v, want one naming GitHub's reason", cs)
	}
	golden(t, "refused-merge.golden", cs[0].Body)
}

func TestFailedCheckToldOncePerHead(t *testing.T) {
	f := automergetest.New(automerge.Settings{Methods: []string{"merge"}})
	for range 2 {
		if _, err := automerge.Failed(context.Background(), f, "acme/gitops", 1, "ci/test", "https://ci.example.com/1"); err != nil {
			t.Fatal(err)
		}
	}
	f.Pulls[1].HeadSHA = "h2"
	if _, err := automerge.Failed(context.Background(), f, "acme/gitops", 1, "ci/test", ""); err != nil {
		t.Fatal(err)
	}
	cs := f.Commented(1)
	if len(cs) != 2 || !strings.Contains(cs[0].Body, "[ci/test](https://ci.example.com/1)") {
		t.Errorf("comments %+v, want one per head naming the check with its link", cs)
	}
}

func TestGraphQLURL(t *testing.T) {
	for in, want := range map[string]string{
		"https://api.github.com/":          "https://api.github.com/graphql",
		"https://ghe.example.com/api/v3/":  "https://ghe.example.com/api/graphql",
		"https://api.ghe.example.com/":     "https://api.ghe.example.com/graphql",
		"http://127.0.0.1:8080/api/v3/":    "http://127.0.0.1:8080/api/graphql",
		"https://ghe.example.com/x/api/v3": "https://ghe.example.com/x/api/graphql",
	} {
		u, err := url.Parse(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := automerge.GraphQLURL(u); got != want {
			t.Errorf("GraphQLURL(%s) = %s, want %s", in, got, want)
		}
	}
}

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// golden compares got with testdata/name (rewritten with -update).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(p, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update to accept):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}
