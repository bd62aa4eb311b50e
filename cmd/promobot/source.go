package main

import (
	"context"
	"fmt"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/spf13/cobra"

	"github.com/promobot/promobot/internal/audit"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/rules"
)

// source is a GitOps repository's history for the offline commands: a
// checkout's git repository, or (--github) a mirror fetched from GitHub.
type source struct {
	rules   *rules.Rules // expanded over the repository's tree
	objects storer.EncodedObjectStorer
	head    plumbing.Hash
	reviews audit.Reviews // nil without GitHub access
	webURL  string
	close   func()
}

// openSource opens the checkout at dir, or the GitHub repository ghRepo
// when it is set.
func openSource(ctx context.Context, cmd *cobra.Command, rulesPath, dir, ghRepo string) (*source, error) {
	if ghRepo != "" {
		return nil, fmt.Errorf("--github: reading a repository through GitHub is not available in this build; use --repo with a checkout")
	}
	rs, d, err := loadCheckout(ctx, rulesPath, dir)
	if err != nil {
		return nil, err
	}
	_ = d.Close() // the expansion has read what it needs; history reads git
	st, head, err := history.OpenDir(dir, rs.Defaults.BaseBranch)
	if err != nil {
		return nil, err
	}
	return &source{rules: rs, objects: st, head: head, close: func() {}}, nil
}
