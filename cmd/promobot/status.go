package main

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/promobot/promobot/internal/drift"
	"github.com/promobot/promobot/internal/history"
	"github.com/promobot/promobot/internal/status"
)

// now is the clock of the offline commands (tests set it).
var now = time.Now

func newStatus() *cobra.Command {
	var rulesPath, repo, ghRepo, output string
	var check bool
	var gh githubFlags
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the service × environment matrix of tags from a checkout, with drift flags",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown --output %q (table or json)", output)
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
			rs := src.rules
			m := status.Matrix(ctx, rs, src.files)
			// Drift needs the history: a checkout without git shows the matrix alone.
			if src.git == nil {
				h, err := history.Walk(ctx, src.objects, src.head, rs, history.Options{Repo: ghRepo})
				if err != nil {
					return err
				}
				m.AddHistory(h)
				m.AddDrift(drift.Check(h, rs, now()))
			} else if check {
				return fmt.Errorf("status --check reads drift from git history: %w", src.git)
			}
			if output == "table" {
				err = m.WriteTable(cmd.OutOrStdout())
			} else {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				err = enc.Encode(m)
			}
			if err != nil {
				return err
			}
			if check && len(m.Drift) > 0 {
				fmt.Fprintf(cmd.ErrOrStderr(), "promobot: %d drift flag(s) raised\n", len(m.Drift))
				return exitError{code: 1}
			}
			return nil
		},
	}
	fs := cmd.Flags()
	stringFlag(fs, &rulesPath, "rules", "PROMOBOT_RULES", "config/promotion-rules.yaml", "rules file")
	fs.StringVar(&repo, "repo", ".", "GitOps checkout")
	fs.StringVar(&ghRepo, "github", "", "read owner/repo's base branch through GitHub instead of a checkout (the GitHub App flags give access)")
	gh.add(fs)
	fs.StringVar(&output, "output", "table", "table or json")
	fs.BoolVar(&check, "check", false, "exit 1 when a drift flag is raised (for CI)")
	return cmd
}
