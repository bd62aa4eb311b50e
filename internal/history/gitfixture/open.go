package gitfixture

import (
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"

	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
)

// Opened is GitOps with its rules parsed and main opened for a walk.
type Opened struct {
	*Repo
	Rules *rules.Rules
	Store storer.EncodedObjectStorer
	Head  plumbing.Hash
}

// OpenGitOps builds GitOps, parses GitOpsRules and opens main.
func OpenGitOps(t testing.TB) Opened {
	t.Helper()
	r := GitOps(t)
	rs, err := rules.Parse("rules.yaml", []byte(GitOpsRules))
	if err != nil {
		t.Fatal(err)
	}
	st, head, err := history.OpenDir(r.Dir, "main")
	if err != nil {
		t.Fatal(err)
	}
	return Opened{Repo: r, Rules: rs, Store: st, Head: head}
}
