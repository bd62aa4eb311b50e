package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/promobot/promobot/internal/demo"
)

func newDemo() *cobra.Command {
	var keep, stay bool
	var logLevel string
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run the whole promotion flow on this machine against a built-in GitHub test server",
		Long: `demo starts a GitHub test server holding a sample GitOps repository (real git),
starts promobot with embedded NATS JetStream, sends a signed workflow_run webhook,
merges the PRs as a reviewer would, comments "/promote prod" as a person would, and prints each
step: the PR, its diff, reviewers and ticket link, and ends with the URL of the status page
(served without sign-in on loopback). No GitHub account is needed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			dir, err := os.MkdirTemp("", "promobot-demo-")
			if err != nil {
				return fmt.Errorf("temp dir: %w", err)
			}
			if !keep {
				defer os.RemoveAll(dir)
			}
			log, err := newLogger(cmd.ErrOrStderr(), "console", logLevel)
			if err != nil {
				return err
			}
			if err := demo.Run(cmd.Context(), dir, cmd.OutOrStdout(), log, stay); err != nil {
				return err
			}
			if keep {
				fmt.Fprintln(cmd.OutOrStdout(), "kept the demo's repositories and JetStream data in", dir)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&keep, "keep", false, "keep the temporary directory")
	cmd.Flags().BoolVar(&stay, "stay", false, "keep serving the status page after the demo until Ctrl-C")
	cmd.Flags().StringVar(&logLevel, "log-level", "warn", "promobot's log level during the demo")
	return cmd
}
