package main

import (
	"context"
	"fmt"
	"io"
	"io/fs"

	"github.com/spf13/cobra"

	"github.com/promobot/promobot/internal/localrepo"
	"github.com/promobot/promobot/internal/rules"
	"github.com/promobot/promobot/internal/status"
)

func newValidate() *cobra.Command {
	var repo, policy string
	cmd := &cobra.Command{
		Use:   "validate FILE",
		Short: "Check a rules file or a repository configuration offline; exit 1 with every error",
		Long: `Check a rules file offline and print every error with file, line and column.

With --repo, generators are expanded against the checkout and every target is
checked there: the path must exist; helm and manifest targets must already set
the service's image (a kustomization without an images entry is fine: promobot
adds it).

FILE may also be a repository configuration (.github/promobot.yaml, or any
file named like --repo-config-path): with --policy SERVER_RULES it is checked
against the organisation policy of that rules file, and what the policy adds
is listed as "required by organisation policy".`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			stderr := cmd.ErrOrStderr()
			if policy != "" || isRepoConfig(args[0]) {
				return validateRepoConfig(cmd.Context(), cmd.OutOrStdout(), stderr, args[0], policy, repo)
			}
			rs, err := rules.Load(args[0])
			if err == nil && repo != "" {
				rs, err = checkRepo(cmd.Context(), rs, repo, stderr)
			}
			if err != nil {
				fmt.Fprintln(stderr, err)
				return exitError{1}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d environments, %d services)\n", args[0], len(rs.Environments), len(rs.Services))
			return nil
		},
	}
	cmd.Flags().StringVar(&repo, "repo", "", "GitOps checkout: also check that every target file exists and sets the image")
	cmd.Flags().StringVar(&policy, "policy", "", "server rules file whose organisation policy a repository configuration is checked against")
	return cmd
}

// checkRepo expands rs against the checkout and checks every target there.
// Problems are printed one a line; their count is the error.
func checkRepo(ctx context.Context, rs *rules.Rules, dir string, stderr io.Writer) (*rules.Rules, error) {
	rs, d, err := openCheckout(ctx, rs, dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	problems, err := rs.CheckTargets(ctx, d.FS(), status.CheckImage)
	if err != nil {
		return nil, err
	}
	for _, p := range problems {
		fmt.Fprintln(stderr, p)
	}
	if len(problems) > 0 {
		return nil, fmt.Errorf("%d problem(s) in %s", len(problems), dir)
	}
	return rs, nil
}

// loadCheckout loads the rules file (or the checkout's own configuration) and opens the checkout at dir with the
// rules' generators expanded over it.
func loadCheckout(ctx context.Context, rulesPath, dir string) (*rules.Rules, *localrepo.Dir, error) {
	// A checkout that configures itself is read with its configuration,
	// merged with the rules file's policy.
	if rs, d, ok, err := openRepoConfig(ctx, rulesPath, dir); ok {
		return rs, d, err
	}
	rs, err := rules.Load(rulesPath)
	if err != nil {
		return nil, nil, err
	}
	return openCheckout(ctx, rs, dir)
}

// openCheckout opens the checkout at dir and expands rs's generators against
// it. Every generator is listed against this one checkout, whatever
// repository it names: offline, the checkout is the only repository there is.
func openCheckout(ctx context.Context, rs *rules.Rules, dir string) (*rules.Rules, *localrepo.Dir, error) {
	d, err := localrepo.Open(dir)
	if err != nil {
		return nil, nil, err
	}
	x, err := rs.Expand(ctx, func(string) (fs.FS, error) { return d.FS(), nil })
	if err != nil {
		_ = d.Close() // the expansion error is the one worth reporting
		return nil, nil, err
	}
	return x, d, nil
}

// validateRepoConfig checks a repository configuration against the policy
// of the rules file at policyPath (none when empty) and, with dir, against
// the checkout; it prints what the policy raised.
func validateRepoConfig(ctx context.Context, stdout, stderr io.Writer, file, policyPath, dir string) error {
	pol, err := loadPolicy(policyPath, true)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError{1}
	}
	repoName := "local/checkout"
	if dir != "" {
		repoName = checkoutRepo(dir)
	}
	rs, err := parseRepoConfig(file, file, repoName, "", pol)
	if err == nil && dir != "" {
		rs, err = checkRepo(ctx, rs, dir, stderr)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitError{1}
	}
	fmt.Fprintf(stdout, "%s: ok (%d environments, %d services)\n", file, len(rs.Environments), len(rs.Services))
	writePolicyNotes(stdout, rs)
	return nil
}
