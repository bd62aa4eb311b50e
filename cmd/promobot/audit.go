package main

import (
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/promobot/promobot/internal/audit"
	"github.com/promobot/promobot/internal/history"
)

func newAudit() *cobra.Command {
	var rulesPath, repo, ghRepo, env, since, output string
	var maxCommits int
	var gh githubFlags
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Print every change of every environment's tag on the base branch: how it came, who asked and approved, its ticket, and what to look at",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !slices.Contains(audit.Formats, output) {
				return fmt.Errorf("unknown --output %q (md, csv or json)", output)
			}
			if maxCommits < 1 || maxCommits > history.MaxCommits {
				return fmt.Errorf("--max-commits %d out of range (1 to %d)", maxCommits, history.MaxCommits)
			}
			from, err := audit.ParseSince(since, now())
			if err != nil {
				return err
			}
			if ghRepo != "" && cmd.Flags().Changed("repo") {
				return fmt.Errorf("give --repo or --github, not both")
			}
			ctx := cmd.Context()
			src, err := openSource(ctx, gh, rulesPath, repo, ghRepo)
			if err != nil {
				return err
			}
			defer src.close()
			if src.git != nil {
				return src.git
			}
			rs := src.rules
			if env != "" && !slices.Contains(rs.EnvNames(), env) {
				return fmt.Errorf("unknown --env %q (the rules have %v)", env, rs.EnvNames())
			}
			h, err := history.Walk(ctx, src.objects, src.head, rs, history.Options{Repo: ghRepo, MaxCommits: maxCommits})
			if err != nil {
				return err
			}
			rep, err := audit.Build(ctx, h, rs, audit.Options{Env: env, Since: from, Reviews: src.reviews, WebURL: src.webURL})
			if err != nil {
				return err
			}
			return rep.Write(cmd.OutOrStdout(), output)
		},
	}
	fs := cmd.Flags()
	stringFlag(fs, &rulesPath, "rules", "PROMOBOT_RULES", "config/promotion-rules.yaml", "rules file")
	fs.StringVar(&repo, "repo", ".", "GitOps checkout (its git history is read)")
	fs.StringVar(&ghRepo, "github", "", "read owner/repo through GitHub instead of a checkout (the GitHub App flags give access)")
	fs.StringVar(&env, "env", "", "only this environment")
	fs.StringVar(&since, "since", "", "only changes since: a duration back from now (30d, 36h) or a date (2026-01-31)")
	fs.StringVar(&output, "output", "md", "md, csv or json")
	fs.IntVar(&maxCommits, "max-commits", history.DefaultMaxCommits, "first-parent commits of history to read at most")
	gh.add(fs)
	return cmd
}
