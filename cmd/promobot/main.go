// Command promobot promotes container image tags through environments in
// GitOps repositories. See README.md.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/rs/zerolog"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

// exitError carries an exit code out of a command without printing usage.
type exitError struct{ code int }

func (e exitError) Error() string { return "exit " + strconv.Itoa(e.code) }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := newRoot(os.Stdout, os.Stderr).ExecuteContext(ctx)
	stop()
	var ee exitError
	switch {
	case errors.As(err, &ee):
		os.Exit(ee.code)
	case err != nil:
		fmt.Fprintln(os.Stderr, "promobot:", err)
		os.Exit(1)
	}
}

func newRoot(stdout, stderr io.Writer) *cobra.Command {
	root := &cobra.Command{
		Use:           "promobot",
		Short:         "Promote container image tags through environments in GitOps repositories",
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.AddCommand(
		newServe(modeAll), newServe(modeWebhook), newServe(modeWorker),
		newDemo(), newValidate(), newPlan(), newStatus(), newAudit(), newVersion(),
	)
	root.AddCommand(newApp())
	return root
}

func newVersion() *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			v := version
			if bi, ok := debug.ReadBuildInfo(); ok && v == "dev" && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
				v = bi.Main.Version
			}
			fmt.Fprintf(cmd.OutOrStdout(), "promobot %s %s %s/%s\n", v, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// envDefault returns the PROMOBOT_* variable's value, or def when unset.
func envDefault(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

// stringFlag defines a flag whose default comes from its environment variable.
func stringFlag(fs *pflag.FlagSet, p *string, name, env, def, usage string) {
	fs.StringVar(p, name, envDefault(env, def), usage+" ($"+env+")")
}

func intFlag(fs *pflag.FlagSet, p *int, name, env string, def int, usage string) error {
	d := def
	if v, ok := os.LookupEnv(env); ok {
		n, err := strconv.Atoi(v)
		if err != nil {
			return fmt.Errorf("$%s: %q is not a number", env, v)
		}
		d = n
	}
	fs.IntVar(p, name, d, usage+" ($"+env+")")
	return nil
}

func durationFlag(fs *pflag.FlagSet, p *time.Duration, name, env string, def time.Duration, usage string) error {
	d := def
	if v, ok := os.LookupEnv(env); ok {
		parsed, err := time.ParseDuration(v)
		if err != nil || parsed < 0 {
			return fmt.Errorf("$%s: %q is not a duration", env, v)
		}
		d = parsed
	}
	fs.DurationVar(p, name, d, usage+" ($"+env+")")
	return nil
}

// newLogger builds the process logger from --log-format and --log-level.
func newLogger(w io.Writer, format, level string) (zerolog.Logger, error) {
	lvl, err := zerolog.ParseLevel(strings.ToLower(level))
	if err != nil || level == "" {
		return zerolog.Logger{}, fmt.Errorf("unknown log level %q", level)
	}
	switch format {
	case "json":
	case "console":
		w = zerolog.ConsoleWriter{Out: w, TimeFormat: time.Kitchen}
	default:
		return zerolog.Logger{}, fmt.Errorf("unknown log format %q (json or console)", format)
	}
	return zerolog.New(w).Level(lvl).With().Timestamp().Logger(), nil
}
