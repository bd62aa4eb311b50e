package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/promobot/promobot/internal/status"
)

func newStatus() *cobra.Command {
	var rulesPath, repo, output string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the service × environment matrix of tags from a checkout",
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
			if output == "table" {
				return m.WriteTable(cmd.OutOrStdout())
			}
			enc := json.NewEncoder(cmd.OutOrStdout())
			enc.SetIndent("", "  ")
			return enc.Encode(m)
		},
	}
	fs := cmd.Flags()
	stringFlag(fs, &rulesPath, "rules", "PROMOBOT_RULES", "config/promotion-rules.yaml", "rules file")
	fs.StringVar(&repo, "repo", ".", "GitOps checkout")
	fs.StringVar(&output, "output", "table", "table or json")
	return cmd
}
