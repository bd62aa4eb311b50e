package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"runtime"
	"time"

	"github.com/spf13/cobra"

	"github.com/promobot/promobot/deploy"
	"github.com/promobot/promobot/internal/app"
	"github.com/promobot/promobot/internal/appmanifest"
)

type appCreateFlags struct {
	org, githubURL, publicURL, out string
	noBrowser                      bool
	timeout                        time.Duration
}

func newApp() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "app",
		Short: "Manage promobot's GitHub App",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(newAppCreate())
	return cmd
}

func newAppCreate() *cobra.Command {
	var f appCreateFlags
	cmd := &cobra.Command{
		Use:   "create --org ORG",
		Short: "Create promobot's GitHub App from its manifest and write its credentials to files",
		Long: `Create promobot's GitHub App with GitHub's manifest flow.

A short-lived web server on 127.0.0.1 serves a page that posts the App
manifest (deploy/github-app-manifest.json, with the webhook URL under
--public-url) to GitHub. GitHub asks you to name the App and sends the browser
back with a one-time code, which is exchanged for the App's id, private key
and webhook secret. They are written to --out, each file readable by you
only; existing files are never overwritten.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runAppCreate(cmd.Context(), cmd, f) },
	}
	fs := cmd.Flags()
	stringFlag(fs, &f.org, "org", "PROMOBOT_ORG", "", "organization that will own the App")
	stringFlag(fs, &f.githubURL, "github-url", "PROMOBOT_GITHUB_URL", "https://github.com", "GitHub's web address (GitHub Enterprise Server: https://HOST)")
	stringFlag(fs, &f.publicURL, "public-url", "PROMOBOT_PUBLIC_URL", "", "where GitHub reaches promobot; the App's webhook is its /webhook (empty: the webhook is created inactive, set it in the App's settings later)")
	stringFlag(fs, &f.out, "out", "PROMOBOT_OUT", ".", "directory for the credential files (made with mode 0700 if missing)")
	err := errors.Join(
		boolFlag(fs, &f.noBrowser, "no-browser", "PROMOBOT_NO_BROWSER", "print the page's address instead of opening a browser"),
		durationFlag(fs, &f.timeout, "timeout", "PROMOBOT_TIMEOUT", 15*time.Minute, "how long to wait for GitHub's answer (GitHub's code is good for an hour)"),
	)
	if err != nil {
		cmd.RunE = func(*cobra.Command, []string) error { return err }
	}
	return cmd
}

func runAppCreate(ctx context.Context, cmd *cobra.Command, f appCreateFlags) error {
	out := cmd.OutOrStdout()
	if f.org == "" {
		return errors.New("--org is required: the organization that will own the App")
	}
	var hook string
	if f.publicURL != "" {
		var err error
		if hook, err = app.WebhookURL(f.publicURL); err != nil {
			return fmt.Errorf("--public-url: %w", err)
		}
	}
	dir, err := filepath.Abs(f.out)
	if err != nil {
		return fmt.Errorf("--out: %w", err)
	}
	if err := appmanifest.CheckOut(dir); err != nil {
		return err
	}
	flow, err := appmanifest.Start(appmanifest.Config{Org: f.org, GitHubURL: f.githubURL, Manifest: deploy.AppManifest, WebhookURL: hook})
	if err != nil {
		return err
	}
	defer func() {
		if err := flow.Close(); err != nil {
			fmt.Fprintln(cmd.ErrOrStderr(), "promobot:", err)
		}
	}()
	fmt.Fprintf(out, "Open %s in a browser signed in to GitHub as an owner of %s.\n", flow.URL(), f.org)
	fmt.Fprintf(out, "It posts promobot's App manifest to %s; name the App there and GitHub sends you back.\n", flow.NewAppPage())
	if hook == "" {
		fmt.Fprintln(out, "No --public-url: the App's webhook is created inactive; set its URL (https://HOST/webhook) in the App's settings before installing it.")
	}
	if !f.noBrowser {
		if err := openBrowser(flow.URL()); err != nil {
			fmt.Fprintf(out, "(could not open a browser: %v)\n", err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, f.timeout)
	defer cancel()
	creds, err := flow.Wait(wctx)
	if err != nil {
		return err
	}
	written, err := appmanifest.Write(dir, creds)
	if err != nil {
		return fmt.Errorf("the App %s (id %d) is created, but its credentials were not all written: %w", creds.Slug, creds.ID, err)
	}
	printCreated(out, f, flow.APIURL(), creds, written)
	return nil
}

func printCreated(out io.Writer, f appCreateFlags, api string, c appmanifest.Credentials, written map[string]string) {
	fmt.Fprintf(out, "\nCreated the GitHub App %s (id %d).\n", c.Slug, c.ID)
	fmt.Fprintln(out, "Wrote (mode 0600, never printed):")
	for _, n := range []string{appmanifest.FileAppID, appmanifest.FilePrivateKey, appmanifest.FileWebhookSecret, appmanifest.FileClientID, appmanifest.FileClientSecret} {
		if p, ok := written[n]; ok {
			fmt.Fprintln(out, "  "+p)
		}
	}
	fmt.Fprintln(out, "\nSet for promobot serve / worker / webhook:")
	fmt.Fprintf(out, "  PROMOBOT_APP_ID=%d\n", c.ID)
	fmt.Fprintf(out, "  PROMOBOT_PRIVATE_KEY_FILE=%s\n", written[appmanifest.FilePrivateKey])
	if p, ok := written[appmanifest.FileWebhookSecret]; ok {
		fmt.Fprintf(out, "  PROMOBOT_WEBHOOK_SECRET=\"$(cat %s)\"   (or --webhook-secret-file %s)\n", p, p)
	}
	if api != "https://api.github.com/" {
		fmt.Fprintf(out, "  PROMOBOT_GITHUB_API_URL=%s\n", api)
	}
	if f.publicURL != "" {
		fmt.Fprintf(out, "  PROMOBOT_PUBLIC_URL=%s\n", f.publicURL)
	}
	fmt.Fprintln(out, "\nOr, for the Helm chart:")
	fmt.Fprintf(out, "  kubectl create secret generic promobot-github --from-file=%s --from-file=%s --from-file=%s\n",
		written[appmanifest.FileAppID], written[appmanifest.FilePrivateKey], written[appmanifest.FileWebhookSecret])
	fmt.Fprintln(out, "  helm install promobot deploy/helm/promobot --set credentials.existingSecret=promobot-github")
	fmt.Fprintf(out, "\nInstall the App on %s's repositories: %s\n", f.org, c.InstallURL())
}

// openBrowser asks the desktop to open u.
func openBrowser(u string) error {
	var c *exec.Cmd
	switch runtime.GOOS {
	case "darwin":
		c = exec.Command("open", u)
	case "windows":
		c = exec.Command("rundll32", "url.dll,FileProtocolHandler", u)
	default:
		c = exec.Command("xdg-open", u)
	}
	if err := c.Start(); err != nil {
		return fmt.Errorf("start %s: %w", c.Path, err)
	}
	go func() { _ = c.Wait() }() // the browser outlives the opener; its exit says nothing
	return nil
}
