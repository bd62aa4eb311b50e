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
	var rulesPath, repo, output string
	var check bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the service × environment matrix of tags from a checkout, with drift flags",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if output != "table" && output != "json" {
				return fmt.Errorf("unknown --output %q (table or json)", output)
			}
			ctx := cmd.Context()
			rs, d, err := loadCheckout(ctx, rulesPath, repo)
			if err != nil {
				return err
			}
			defer d.Close()
			m := status.Matrix(ctx, rs, d)
			// Drift needs the history: a checkout without git shows the matrix alone.
			st, head, herr := history.OpenDir(repo, rs.Defaults.BaseBranch)
			if herr == nil {
				h, err := history.Walk(ctx, st, head, rs, history.Options{})
				if err != nil {
					return err
				}
				m.AddDrift(drift.Check(h, rs, now()))
			} else if check {
				return fmt.Errorf("status --check reads drift from git history: %w", herr)
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
	fs.StringVar(&output, "output", "table", "table or json")
	fs.BoolVar(&check, "check", false, "exit 1 when a drift flag is raised (for CI)")
	return cmd
}
