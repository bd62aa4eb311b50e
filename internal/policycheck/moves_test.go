package policycheck

import (
	"context"
	"testing"

	"github.com/promobot/promobot/internal/rules"
)

// TestMovesOutOf: only PRs that change a target of the environment after
// the one whose health changed are judged again; one too large to list is.
func TestMovesOutOf(t *testing.T) {
	rs, err := rules.Parse("rules.yaml", []byte(testRules))
	if err != nil {
		t.Fatal(err)
	}
	many := make([]PullFile, MaxFiles)
	for i := range many {
		many[i] = PullFile{Path: "docs/x.md", Status: "modified"}
	}
	for _, tc := range []struct {
		name  string
		from  string
		files []PullFile
		want  bool
	}{
		{"prod target, staging's health changed", "staging", []PullFile{{Path: "env/prod.yaml", Status: "modified"}}, true},
		{"prod target renamed away", "staging", []PullFile{{Path: "env/old.yaml", PreviousPath: "env/prod.yaml", Status: "renamed"}}, true},
		{"staging target only", "staging", []PullFile{{Path: "env/staging.yaml", Status: "modified"}}, false},
		{"no target", "staging", []PullFile{{Path: "README.md", Status: "modified"}}, false},
		{"prod has no next environment", "prod", []PullFile{{Path: "env/prod.yaml", Status: "modified"}}, false},
		{"unknown environment", "../x", []PullFile{{Path: "env/prod.yaml", Status: "modified"}}, false},
		{"too many files to tell", "staging", many, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			gh := &fakeGitHub{files: tc.files}
			got, err := MovesOutOf(context.Background(), gh, rs, "acme/gitops", 3, tc.from)
			if err != nil || got != tc.want {
				t.Fatalf("MovesOutOf = %v, %v; want %v", got, err, tc.want)
			}
		})
	}
}
